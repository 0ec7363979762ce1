#include "gossip/gossip_strategy.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log_json.h"
#include "core/names.h"

namespace libcluster {
namespace {

// A UDP/IPv4 datagram is at most 65507 bytes; a heartbeat is about 40.
constexpr std::size_t kReceiveBufferBytes = 65536;
// Datagrams handled per wake-up before the heartbeat deadline is looked at again, so that a
// flood cannot starve our own heartbeats.
constexpr int kMaxDatagramsPerWake = 64;
// The I/O thread re-reads the clock at least this often.
constexpr std::chrono::milliseconds kMaxPollWait{1000};

std::size_t outcomeIndex(GossipOutcome outcome) {
  auto it = std::find(kGossipOutcomes.begin(), kGossipOutcomes.end(), outcome);
  return static_cast<std::size_t>(it - kGossipOutcomes.begin());
}

CounterFamily& packetFamily(MetricsRegistry& metrics) {
  return metrics.counterFamily("libcluster_gossip_packets_total",
                               "Gossip datagrams received, by what became of them.",
                               {"topology", "outcome"});
}

CounterFamily& heartbeatFamily(MetricsRegistry& metrics) {
  return metrics.counterFamily("libcluster_gossip_heartbeats_total",
                               "Gossip heartbeats sent, by result (sent or failed).",
                               {"topology", "result"});
}

} // namespace

Result<std::unique_ptr<GossipStrategy>> GossipStrategy::start(const GossipOptions& options,
                                                              NodeName self, std::string topology,
                                                              Clock& clock,
                                                              MetricsRegistry& metrics) {
  if (!isNodeName(self)) {
    return Error{Error::Code::Invalid,
                 "gossip: this node's name cannot be sent in a heartbeat: " + self,
                 {}};
  }
  Result<GossipSocket> socket = GossipSocket::open(options);
  if (!socket) {
    return socket.error();
  }
  int wakeFd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd < 0) {
    return Error{
        Error::Code::Unavailable, std::string("gossip: eventfd: ") + std::strerror(errno), {}};
  }
  const GossipMode mode = effectiveGossipMode(options);
  logInfo("gossip started", {{"topology", topology},
                             {"mode", gossipModeName(mode)},
                             {"port", options.port},
                             {"if_addr", options.ifAddr},
                             {"multicast_addr", options.multicastAddr},
                             {"broadcast_only", options.broadcastOnly}});
  if (mode == GossipMode::Plain) {
    logWarn("gossip heartbeats are not authenticated: anyone who can reach the group can add "
            "peers; use mode authenticated",
            {{"topology", topology}});
  } else if (mode == GossipMode::Secret) {
    logWarn("gossip secret mode has no integrity or replay protection; use mode authenticated "
            "unless libcluster nodes must be heard",
            {{"topology", topology}});
  }
  return std::unique_ptr<GossipStrategy>(new GossipStrategy(options, std::move(self),
                                                            std::move(topology), clock, metrics,
                                                            std::move(socket).value(), wakeFd));
}

GossipStrategy::GossipStrategy(const GossipOptions& options, NodeName self, std::string topology,
                               Clock& clock, MetricsRegistry& metrics, GossipSocket socket,
                               int wakeFd)
    : self_(std::move(self)), topology_(std::move(topology)), heartbeatMin_(options.heartbeatMin),
      heartbeatMax_(options.heartbeatMax), peerExpiry_(effectivePeerExpiry(options)),
      maxPeers_(options.maxPeers), maxPeersPerSource_(options.maxPeersPerSource),
      newPeersPerSecond_(options.newPeersPerSecond), clock_(clock), socket_(std::move(socket)),
      codec_(gossipSecurity(options)), wakeFd_(wakeFd),
      heartbeatsSent_(heartbeatFamily(metrics).withLabels({topology_, "sent"})),
      heartbeatsFailed_(heartbeatFamily(metrics).withLabels({topology_, "failed"})),
      random_(std::random_device{}()), tokensAt_(clock.now()) {
  // Every outcome exists from the start, so dashboards see zeros rather than gaps.
  CounterFamily& packets = packetFamily(metrics);
  for (std::size_t i = 0; i < kGossipOutcomes.size(); ++i) {
    packetCounters_[i] =
        &packets.withLabels({topology_, std::string(gossipOutcomeName(kGossipOutcomes[i]))});
  }
  thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

GossipStrategy::~GossipStrategy() {
  thread_.request_stop();
  if (thread_.joinable()) {
    thread_.join();
  }
  ::close(wakeFd_);
}

Result<PeerSet> GossipStrategy::discoverPeers(std::stop_token) {
  std::lock_guard lock(mutex_);
  changed_ = false;
  PeerSet peers;
  Clock::MonotonicTime now = clock_.now();
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->second.lastHeard + peerExpiry_ < now) {
      logInfo("forgot silent gossip peer", {{"topology", topology_}, {"peer", it->first}});
      it = forget(it);
    } else {
      peers.insert(it->first);
      ++it;
    }
  }
  return peers;
}

bool GossipStrategy::waitForChange(Clock::MonotonicTime deadline, std::stop_token stop,
                                   Clock& clock) {
  {
    std::unique_lock lock(mutex_);
    auto remaining = deadline - clock.now();
    // Heartbeats arrive in real time whatever clock the caller runs on, so the wait for news is
    // in real time; whatever is left of `deadline` is then slept on the caller's clock.
    if (remaining > decltype(remaining)::zero()) {
      changedCondition_.wait_for(lock, stop, remaining, [this] { return changed_; });
    }
    if (stop.stop_requested()) {
      return false;
    }
    if (changed_) {
      // A flood of new names would otherwise be a flood of syncs: news waits out the rest of
      // kMinWakeInterval (within the deadline) and is then reported once.
      auto realDeadline = std::chrono::steady_clock::now() + (deadline - clock.now());
      if (lastWake_) {
        auto notBefore = std::min(*lastWake_ + kMinWakeInterval, realDeadline);
        changedCondition_.wait_until(lock, stop, notBefore, [] { return false; });
        if (stop.stop_requested()) {
          return false;
        }
      }
      changed_ = false;
      lastWake_ = std::chrono::steady_clock::now();
      return true;
    }
  }
  return clock.sleepUntil(deadline, std::move(stop));
}

std::uint64_t GossipStrategy::packets(GossipOutcome outcome) const {
  return static_cast<std::uint64_t>(packetCounters_[outcomeIndex(outcome)]->Value());
}

std::uint64_t GossipStrategy::heartbeatsSent() const {
  return static_cast<std::uint64_t>(heartbeatsSent_.Value());
}

void GossipStrategy::run(std::stop_token stop) {
  std::stop_callback wake(stop, [this] {
    std::uint64_t one = 1;
    // A full counter still wakes poll, so a failed write changes nothing.
    [[maybe_unused]] ssize_t written = ::write(wakeFd_, &one, sizeof one);
  });
  std::vector<std::uint8_t> buffer(kReceiveBufferBytes);
  Clock::MonotonicTime nextHeartbeat = clock_.now(); // the first one at once, as libcluster
  while (!stop.stop_requested()) {
    Clock::MonotonicTime now = clock_.now();
    if (now >= nextHeartbeat) {
      sendHeartbeat();
      nextHeartbeat = now + nextInterval();
    }
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(nextHeartbeat - clock_.now());
    wait = std::clamp(wait, std::chrono::milliseconds::zero(), kMaxPollWait);
    pollfd fds[2] = {{socket_.fd(), POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    int ready = ::poll(fds, 2, static_cast<int>(wait.count()));
    if (ready < 0 && errno != EINTR) {
      logError("gossip poll failed", {{"topology", topology_}, {"error", std::strerror(errno)}});
      clock_.sleepFor(kMaxPollWait, stop);
      continue;
    }
    if (ready > 0 && (fds[0].revents & (POLLIN | POLLERR)) != 0) {
      receiveWaiting(buffer);
    }
  }
}

void GossipStrategy::sendHeartbeat() {
  logDebug("heartbeat", {{"topology", topology_}});
  std::optional<std::vector<std::uint8_t>> datagram = codec_.encode(self_, clock_.systemNow());
  Result<void> sent =
      datagram
          ? socket_.send(*datagram)
          : Result<void>(Error{Error::Code::Internal, "gossip: the random generator failed", {}});
  if (sent) {
    heartbeatsSent_.Increment();
    lastSendFailed_ = false;
    return;
  }
  heartbeatsFailed_.Increment();
  // libcluster ignores send errors (PR #25: the network may come up after the node); warn once
  // per run of failures rather than every heartbeat.
  nlohmann::json fields{{"topology", topology_}, {"error", sent.error().message}};
  if (lastSendFailed_) {
    logDebug("gossip heartbeat not sent", fields);
  } else {
    logWarn("gossip heartbeat not sent", fields);
  }
  lastSendFailed_ = true;
}

void GossipStrategy::receiveWaiting(std::vector<std::uint8_t>& buffer) {
  for (int i = 0; i < kMaxDatagramsPerWake; ++i) {
    std::optional<GossipSocket::Received> received = socket_.receive(buffer);
    if (!received) {
      return;
    }
    HeartbeatDecoding heartbeat = codec_.decode(std::span(buffer).first(received->size), clock_.systemNow());
    GossipOutcome outcome = heartbeat.outcome;
    if (outcome == GossipOutcome::Accepted) {
      outcome = heartbeat.node == self_ ? GossipOutcome::Self
                                        : remember(heartbeat.node, received->source);
    }
    packetCounters_[outcomeIndex(outcome)]->Increment();
    if (outcome != GossipOutcome::Accepted && outcome != GossipOutcome::Self) {
      logDebug(
          "gossip datagram dropped",
          {{"topology", topology_}, {"outcome", gossipOutcomeName(outcome)}, {"bytes", received->size}});
    }
  }
}

std::map<NodeName, GossipStrategy::Peer>::iterator
GossipStrategy::forget(std::map<NodeName, Peer>::iterator peer) {
  auto source = namesBySource_.find(peer->second.source);
  if (source != namesBySource_.end() && --source->second == 0) {
    namesBySource_.erase(source);
  }
  return peers_.erase(peer);
}

GossipOutcome GossipStrategy::remember(const NodeName& node, std::uint32_t source) {
  Clock::MonotonicTime now = clock_.now();
  std::lock_guard lock(mutex_);
  auto isExpired = [&](const Peer& peer) { return peer.lastHeard + peerExpiry_ < now; };
  auto found = peers_.find(node);
  if (found != peers_.end()) {
    bool wasExpired = isExpired(found->second);
    found->second.lastHeard = now;
    if (!wasExpired) {
      logDebug("received heartbeat", {{"topology", topology_}, {"peer", node}});
      return GossipOutcome::Accepted;
    }
  } else {
    // Only names nobody hears any more make room: a new name never evicts a live peer.
    auto introduced = [&] {
      auto count = namesBySource_.find(source);
      return count == namesBySource_.end() ? std::size_t{0} : count->second;
    };
    if (peers_.size() >= maxPeers_ || introduced() >= maxPeersPerSource_) {
      for (auto it = peers_.begin(); it != peers_.end();) {
        it = isExpired(it->second) ? forget(it) : std::next(it);
      }
    }
    if (peers_.size() >= maxPeers_) {
      return GossipOutcome::PeerLimit;
    }
    if (introduced() >= maxPeersPerSource_) {
      return GossipOutcome::SourceLimit;
    }
    std::chrono::duration<double> elapsed = now - tokensAt_;
    tokensAt_ = now;
    newPeerTokens_ = std::min(kNewPeerBurst, newPeerTokens_ + elapsed.count() * newPeersPerSecond_);
    if (newPeerTokens_ < 1) {
      return GossipOutcome::RateLimited;
    }
    newPeerTokens_ -= 1;
    peers_.emplace(node, Peer{now, source});
    ++namesBySource_[source];
  }
  logInfo("heard new gossip peer", {{"topology", topology_}, {"peer", node}});
  changed_ = true;
  changedCondition_.notify_all();
  return GossipOutcome::Accepted;
}

std::chrono::milliseconds GossipStrategy::nextInterval() {
  std::uniform_int_distribution<std::int64_t> pick(heartbeatMin_.count(), heartbeatMax_.count());
  return std::chrono::milliseconds(pick(random_));
}

} // namespace libcluster
