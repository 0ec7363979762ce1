#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "gossip/gossip_codec.h"
#include "gossip/gossip_options.h"
#include "gossip/gossip_outcome.h"
#include "gossip/gossip_socket.h"
#include "ops/metrics_registry.h"
#include "strategy/strategy.h"

namespace libcluster {

/// libcluster's Cluster.Strategy.Gossip, wire-compatible with libcluster 3.5: heartbeats over UDP
/// multicast (or broadcast) at once and then every uniform [heartbeat_min, heartbeat_max] ms; every
/// other node heard becomes a peer. Owns its socket and one I/O thread, started by start() and
/// stopped and joined by the destructor; the Strategy methods may be called from any thread.
/// Peers not heard for peer_expiry are forgotten, but never pruned (libcluster's Gossip never
/// disconnects). New names are bounded (max_peers, max_peers_per_source per sender address,
/// new_peers_per_second) and never evict a peer still heard, so forged heartbeats cannot lock real
/// peers out; news wakes waitForChange at most once per kMinWakeInterval. Every received datagram
/// is counted by outcome in `libcluster_gossip_packets_total{topology,outcome}`.
class GossipStrategy final : public Strategy {
public:
  /// Opens the socket and starts heartbeating. An Error (Invalid: bad options or a node name that
  /// cannot be sent; Unavailable: the port or interface) where libcluster crashed at start.
  static Result<std::unique_ptr<GossipStrategy>> start(const GossipOptions& options, NodeName self,
                                                       std::string topology, Clock& clock,
                                                       MetricsRegistry& metrics);
  ~GossipStrategy() override;
  GossipStrategy(const GossipStrategy&) = delete;
  GossipStrategy& operator=(const GossipStrategy&) = delete;

  // Strategy
  Result<PeerSet> discoverPeers(std::stop_token stop) override;
  /// Returns true as soon as a node not yet a peer is heard (or at `deadline`). Heartbeats arrive
  /// in real time, so the wait for news is in real time whatever `clock` is; what is left of the
  /// deadline is then slept on `clock` (at once on a FakeClock).
  bool waitForChange(Clock::MonotonicTime deadline, std::stop_token stop, Clock& clock) override;
  bool prunes() const override { return false; }

  /// Received datagrams with this outcome so far.
  std::uint64_t packets(GossipOutcome outcome) const;
  /// Heartbeats handed to the socket so far (failed sends are not counted here).
  std::uint64_t heartbeatsSent() const;

  /// After waitForChange reported news, further news waits this long, so that a stream of new
  /// names does not become a stream of syncs (each a round of connect attempts).
  static constexpr std::chrono::milliseconds kMinWakeInterval{1000};

private:
  GossipStrategy(const GossipOptions& options, NodeName self, std::string topology, Clock& clock,
                 MetricsRegistry& metrics, GossipSocket socket, int wakeFd);

  void run(std::stop_token stop);
  void sendHeartbeat();
  void receiveWaiting(std::vector<std::uint8_t>& buffer);
  struct Peer {
    Clock::MonotonicTime lastHeard;
    std::uint32_t source; // the address (network byte order) that introduced the name
  };

  GossipOutcome remember(const NodeName& node, std::uint32_t source);
  /// Erases a peer and its count against its source; mutex_ held.
  std::map<NodeName, Peer>::iterator forget(std::map<NodeName, Peer>::iterator peer);
  std::chrono::milliseconds nextInterval();

  const NodeName self_;
  const std::string topology_;
  const std::chrono::milliseconds heartbeatMin_;
  const std::chrono::milliseconds heartbeatMax_;
  const std::chrono::milliseconds peerExpiry_;
  const std::size_t maxPeers_;
  const std::size_t maxPeersPerSource_;
  const double newPeersPerSecond_;
  Clock& clock_;
  GossipSocket socket_;
  GossipCodec codec_; // I/O thread only
  const int wakeFd_;
  std::array<Counter*, kGossipOutcomes.size()> packetCounters_{};
  Counter& heartbeatsSent_;
  Counter& heartbeatsFailed_;
  bool lastSendFailed_ = false; // I/O thread only
  std::mt19937_64 random_;      // I/O thread only

  mutable std::mutex mutex_;
  std::condition_variable_any changedCondition_;
  std::map<NodeName, Peer> peers_;
  std::map<std::uint32_t, std::size_t> namesBySource_; // peers_ entries each source introduced
  double newPeerTokens_ = kNewPeerBurst;
  Clock::MonotonicTime tokensAt_;
  bool changed_ = false;
  std::optional<std::chrono::steady_clock::time_point> lastWake_; // waitForChange's thread

  std::jthread thread_; // last: started after everything it uses exists
};

} // namespace libcluster
