#include "gossip/gossip_strategy.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"

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
  if (!isValidNodeName(self)) {
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
  logInfo("gossip started", {{"topology", topology},
                             {"mode", gossipModeName(effectiveGossipMode(options))},
                             {"port", options.port},
                             {"multicast_addr", options.multicastAddr},
                             {"broadcast_only", options.broadcastOnly}});
  return std::unique_ptr<GossipStrategy>(new GossipStrategy(options, std::move(self),
                                                            std::move(topology), clock, metrics,
                                                            std::move(socket).value(), wakeFd));
}

GossipStrategy::GossipStrategy(const GossipOptions& options, NodeName self, std::string topology,
                               Clock& clock, MetricsRegistry& metrics, GossipSocket socket,
                               int wakeFd)
    : self_(std::move(self)), topology_(std::move(topology)), heartbeatMin_(options.heartbeatMin),
      heartbeatMax_(options.heartbeatMax), peerExpiry_(options.peerExpiry),
      maxPeers_(options.maxPeers), clock_(clock), socket_(std::move(socket)),
      codec_(gossipSecurity(options)), wakeFd_(wakeFd),
      heartbeatsSent_(heartbeatFamily(metrics).withLabels({topology_, "sent"})),
      heartbeatsFailed_(heartbeatFamily(metrics).withLabels({topology_, "failed"})),
      random_(std::random_device{}()) {
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
    if (peerExpiry_ && it->second + *peerExpiry_ < now) {
      logInfo("forgot silent gossip peer", {{"topology", topology_}, {"peer", it->first}});
      it = peers_.erase(it);
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
      changed_ = false;
      return true;
    }
  }
  return clock.sleepUntil(deadline, std::move(stop));
}

std::uint64_t GossipStrategy::packets(GossipOutcome outcome) const {
  return static_cast<std::uint64_t>(packetCounters_[outcomeIndex(outcome)]->value());
}

std::uint64_t GossipStrategy::heartbeatsSent() const {
  return static_cast<std::uint64_t>(heartbeatsSent_.value());
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
    heartbeatsSent_.inc();
    lastSendFailed_ = false;
    return;
  }
  heartbeatsFailed_.inc();
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
    std::optional<std::size_t> size = socket_.receive(buffer);
    if (!size) {
      return;
    }
    HeartbeatDecoding heartbeat = codec_.decode(std::span(buffer).first(*size), clock_.systemNow());
    GossipOutcome outcome = heartbeat.outcome;
    if (outcome == GossipOutcome::Accepted) {
      outcome = heartbeat.node == self_ ? GossipOutcome::Self : remember(heartbeat.node);
    }
    packetCounters_[outcomeIndex(outcome)]->inc();
    if (outcome != GossipOutcome::Accepted && outcome != GossipOutcome::Self) {
      logDebug(
          "gossip datagram dropped",
          {{"topology", topology_}, {"outcome", gossipOutcomeName(outcome)}, {"bytes", *size}});
    }
  }
}

GossipOutcome GossipStrategy::remember(const NodeName& node) {
  Clock::MonotonicTime now = clock_.now();
  std::lock_guard lock(mutex_);
  auto isExpired = [&](Clock::MonotonicTime lastHeard) {
    return peerExpiry_ && lastHeard + *peerExpiry_ < now;
  };
  auto found = peers_.find(node);
  if (found != peers_.end()) {
    bool wasExpired = isExpired(found->second);
    found->second = now;
    if (!wasExpired) {
      logDebug("received heartbeat", {{"topology", topology_}, {"peer", node}});
      return GossipOutcome::Accepted;
    }
  } else {
    if (peers_.size() >= maxPeers_) {
      std::erase_if(peers_, [&](const auto& peer) { return isExpired(peer.second); });
    }
    if (peers_.size() >= maxPeers_) {
      return GossipOutcome::PeerLimit;
    }
    peers_.emplace(node, now);
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
