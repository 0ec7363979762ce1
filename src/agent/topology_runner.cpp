#include "agent/topology_runner.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "core/log_json.h"

namespace libcluster {
namespace {

using std::chrono::milliseconds;

PeerSet difference(const PeerSet& a, const PeerSet& b) {
  PeerSet out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
  return out;
}

bool intersects(const PeerSet& a, const PeerSet& b) {
  return std::any_of(a.begin(), a.end(), [&](const NodeName& peer) { return b.contains(peer); });
}

nlohmann::json errorFields(const Error& error) {
  return {{"code", codeName(error.code)}, {"error", error.message}};
}

} // namespace

TopologyRunner::TopologyRunner(TopologyRunnerOptions options, Strategy& strategy,
                               Connector& connector, Clock& clock, MetricsRegistry& metrics)
    : options_(std::move(options)), strategy_(strategy), connector_(connector), clock_(clock),
      connectAttempts_(metrics.counterFamily("libcluster_agent_connect_attempts_total",
                                             "Connect calls the agent made, by result.",
                                             {"topology", "result"})),
      disconnectAttempts_(metrics.counterFamily("libcluster_agent_disconnect_attempts_total",
                                                "Disconnect calls the agent made, by result.",
                                                {"topology", "result"})),
      membersGauge_(metrics
                        .gaugeFamily("libcluster_agent_members",
                                     "Peers the agent keeps connected, by topology.", {"topology"})
                        .withLabels({options_.topology})),
      discoveryErrors_(metrics
                           .counterFamily("libcluster_agent_discovery_errors_total",
                                          "Syncs whose peer discovery failed (nothing changed).",
                                          {"topology"})
                           .withLabels({options_.topology})) {
  snapshot_.topology = options_.topology;
}

void TopologyRunner::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    syncOnce(stop);
    milliseconds wait = jittered(options_.pollInterval);
    if (settleChecksLeft_ > 0) {
      --settleChecksLeft_;
      wait = std::min(wait, options_.settleInterval);
    }
    if (!strategy_.waitForChange(clock_.now() + wait, stop, clock_)) {
      return;
    }
  }
}

std::chrono::milliseconds TopologyRunner::jittered(std::chrono::milliseconds interval) {
  const double jitter = std::clamp(options_.pollJitter, 0.0, 1.0);
  std::uniform_real_distribution<double> factor(1.0 - jitter, 1.0 + jitter);
  return std::max(milliseconds(1), milliseconds(static_cast<std::int64_t>(
                                       static_cast<double>(interval.count()) * factor(random_))));
}

bool TopologyRunner::trackRemovals(const PeerSet& desired) {
  const Clock::MonotonicTime now = clock_.now();
  PeerSet before = lastDesired_;
  before.insert(members_.begin(), members_.end());
  bool left = false;
  for (const NodeName& peer : difference(before, desired)) {
    left = removed_.try_emplace(peer, now).second || left;
  }
  for (auto it = removed_.begin(); it != removed_.end();) {
    if (desired.contains(it->first) || now - it->second >= options_.removalHold) {
      it = removed_.erase(it);
    } else {
      ++it;
    }
  }
  lastDesired_ = desired;
  return left;
}

PeerSet TopologyRunner::heldRemovals() const {
  PeerSet out;
  for (const auto& [peer, since] : removed_) {
    out.insert(peer);
  }
  return out;
}

void TopologyRunner::syncOnce(std::stop_token stop) {
  Result<PeerSet> discovered = strategy_.discoverPeers(stop);
  if (!discovered) {
    // Not knowing the peers is not the same as having none: change nothing this round.
    discoveryErrors_.inc();
    nlohmann::json fields = errorFields(discovered.error());
    fields["topology"] = options_.topology;
    logWarn("peer discovery failed", fields);
    failSync(discovered.error());
    return;
  }
  PeerSet desired = std::move(discovered).value();
  const bool listsSelf = strategy_.listsSelf();
  const bool member = !listsSelf || desired.contains(connector_.localNode());
  desired.erase(connector_.localNode());
  const bool prune = strategy_.prunes() && options_.onRemoval == OnRemoval::Disconnect;
  // A removed node usually leaves by itself first, so this sync may find nothing to disconnect;
  // `global` can still cut survivors in reaction, hence the settle checks either way.
  bool settle = listsSelf && trackRemovals(desired);

  Result<PeerSet> listed = connector_.connectedPeers(options_.callTimeout);
  if (!listed) {
    nlohmann::json fields = errorFields(listed.error());
    fields["topology"] = options_.topology;
    logWarn("listing connected nodes failed", fields);
    failSync(listed.error());
    return;
  }
  const PeerSet& connected = *listed;

  if (!member && !leftLogged_) {
    logInfo("this node is not a member, leaving the topology",
            {{"topology", options_.topology}, {"node", connector_.localNode()}});
  } else if (member && leftLogged_) {
    logInfo("this node is a member again", {{"topology", options_.topology}});
  }
  leftLogged_ = !member;

  // Who must not stay connected: members that left the desired set, peers held as removed (a
  // terminating node, `global`, may have reconnected them), and, when this node is not a member
  // itself, every node of the topology. Leaving first, at once, is what keeps `global` from
  // cutting the survivors apart to prevent overlapping partitions.
  PeerSet drop;
  if (prune) {
    drop = difference(members_, desired);
    if (listsSelf) {
      const PeerSet held = heldRemovals();
      drop.insert(held.begin(), held.end());
      if (!member) {
        drop.insert(desired.begin(), desired.end());
      }
    }
  }
  PeerSet next = member ? desired : PeerSet{};
  PeerSet disconnected;
  // Disconnects are quick; one call timeout bounds them all, even with a hung local node.
  const Clock::MonotonicTime disconnectDeadline = clock_.now() + options_.callTimeout;
  for (const NodeName& peer : drop) {
    if (!connected.contains(peer)) {
      continue; // already gone; it simply stops being a member
    }
    if (disconnectPeer(peer, disconnectDeadline)) {
      disconnected.insert(peer);
    } else if (members_.contains(peer) || (member && desired.contains(peer))) {
      next.insert(peer); // still a member until a disconnect succeeds
    }
  }

  if (settle || !disconnected.empty()) {
    settleChecksLeft_ = options_.settleChecks;
  }

  std::map<NodeName, ConnectResult> results;
  if (member) {
    const Clock::MonotonicTime deadline = clock_.now() + options_.connectDeadline;
    PeerSet need = difference(desired, connected);
    const std::optional<NodeName> seed = strategy_.seed();
    if (seed && need.contains(*seed) && !intersects(desired, connected) && !stop.stop_requested()) {
      // Forming a new cluster: join the seed alone first, so every node grows the same cluster
      // instead of several islands that later have to merge.
      results[*seed] = connectPeer(*seed, deadline);
      need.erase(*seed);
    }
    results.merge(connectAll(need, deadline, stop));
  }

  std::map<NodeName, std::string> failed;
  PeerSet joined;
  for (const auto& [peer, result] : results) {
    if (result.member) {
      joined.insert(peer);
    } else {
      next.erase(peer); // not a member until a connect succeeds
      failed[peer] = result.reason;
    }
  }
  members_ = std::move(next);
  membersGauge_.set(static_cast<double>(members_.size()));

  PeerSet seen;
  if (Result<PeerSet> after = connector_.connectedPeers(options_.callTimeout); after) {
    seen = std::move(after).value();
  } else {
    // Our best knowledge: what was connected, plus what we joined, minus what we dropped.
    seen = difference(connected, disconnected);
    seen.insert(joined.begin(), joined.end());
  }

  const Clock::SystemTime now = clock_.systemNow();
  std::lock_guard lock(snapshotMutex_);
  snapshot_.desired = member ? std::move(desired) : PeerSet{};
  snapshot_.connected = std::move(seen);
  snapshot_.members = members_;
  snapshot_.failed = std::move(failed);
  snapshot_.member = member;
  snapshot_.removed = heldRemovals();
  snapshot_.lastError.reset();
  snapshot_.lastSync = now;
  snapshot_.lastSuccessfulSync = now;
  ++snapshot_.syncs;
}

std::chrono::milliseconds TopologyRunner::callTimeoutUntil(Clock::MonotonicTime deadline,
                                                           Clock::MonotonicTime now) const {
  return std::max(
      milliseconds(1),
      std::min(options_.callTimeout, std::chrono::duration_cast<milliseconds>(deadline - now)));
}

TopologySnapshot TopologyRunner::snapshot() const {
  std::lock_guard lock(snapshotMutex_);
  return snapshot_;
}

void TopologyRunner::failSync(const Error& error) {
  const Clock::SystemTime now = clock_.systemNow();
  std::lock_guard lock(snapshotMutex_);
  snapshot_.lastError = error;
  snapshot_.lastSync = now;
  ++snapshot_.syncs;
}

bool TopologyRunner::disconnectPeer(const NodeName& peer, Clock::MonotonicTime deadline) {
  const auto count = [&](const char* result) {
    disconnectAttempts_.withLabels({options_.topology, result}).inc();
  };
  const Clock::MonotonicTime now = clock_.now();
  if (now >= deadline) {
    count("skipped"); // still a member; the next sync tries again
    return false;
  }
  Result<CallReply> reply = connector_.disconnect(peer, callTimeoutUntil(deadline, now));
  if (!reply) {
    count(reply.error().code == Error::Code::Timeout ? "timeout" : "error");
    nlohmann::json fields = errorFields(reply.error());
    fields["topology"] = options_.topology;
    fields["node"] = peer;
    fields["reason"] = "error";
    logWarn("disconnect from peer failed", fields);
    return false;
  }
  // libcluster's reading: false and ignored are logged, yet the peer stops being a member.
  switch (reply->outcome) {
  case CallOutcome::True:
    count("ok");
    logInfo("disconnected from peer", {{"topology", options_.topology}, {"node", peer}});
    return true;
  case CallOutcome::False:
    // Expected: the peer went away (or was cut by `global`) between listing and disconnecting.
    count("already_disconnected");
    logDebug("peer was already disconnected", {{"topology", options_.topology}, {"node", peer}});
    return true;
  case CallOutcome::Ignored:
    count("not_part_of_network");
    logWarn("disconnect from peer failed",
            {{"topology", options_.topology}, {"node", peer}, {"reason", "not_part_of_network"}});
    return true;
  case CallOutcome::Other:
    break;
  }
  count("other");
  logWarn("disconnect from peer failed", {{"topology", options_.topology},
                                          {"node", peer},
                                          {"reason", "other"},
                                          {"reply", reply->term}});
  return false;
}

TopologyRunner::ConnectResult TopologyRunner::connectPeer(const NodeName& peer,
                                                          Clock::MonotonicTime deadline) {
  const auto count = [&](const char* result) {
    connectAttempts_.withLabels({options_.topology, result}).inc();
  };
  const Clock::MonotonicTime now = clock_.now();
  if (now >= deadline) {
    count("skipped");
    logWarn("unable to connect to peer",
            {{"topology", options_.topology}, {"node", peer}, {"reason", "deadline_exceeded"}});
    return {false, false, "deadline_exceeded"};
  }
  const milliseconds timeout =
      std::max(milliseconds(1), std::min(options_.callTimeout,
                                         std::chrono::duration_cast<milliseconds>(deadline - now)));
  Result<CallReply> reply = connector_.connect(peer, timeout);
  if (!reply) {
    const char* reason = reply.error().code == Error::Code::Timeout ? "timeout" : "error";
    count(reason);
    nlohmann::json fields = errorFields(reply.error());
    fields["topology"] = options_.topology;
    fields["node"] = peer;
    fields["reason"] = reason;
    logWarn("unable to connect to peer", fields);
    return {true, false, reason};
  }
  const auto fail = [&](const char* reason) -> ConnectResult {
    count(reason);
    nlohmann::json fields = {{"topology", options_.topology}, {"node", peer}, {"reason", reason}};
    if (reply->outcome == CallOutcome::Other) {
      fields["reply"] = reply->term;
    }
    logWarn("unable to connect to peer", fields);
    return {true, false, reason};
  };
  switch (reply->outcome) {
  case CallOutcome::True:
    count("ok");
    logInfo("connected to peer", {{"topology", options_.topology}, {"node", peer}});
    return {true, true, ""};
  case CallOutcome::False:
    return fail("unreachable");
  case CallOutcome::Ignored:
    return fail("not_part_of_network");
  case CallOutcome::Other:
    break;
  }
  // libcluster crashes on any other answer; we count it as a failed connect.
  return fail("other");
}

std::map<NodeName, TopologyRunner::ConnectResult>
TopologyRunner::connectAll(const PeerSet& peers, Clock::MonotonicTime deadline,
                           std::stop_token stop) {
  const std::vector<NodeName> queue(peers.begin(), peers.end());
  std::vector<ConnectResult> results(queue.size());
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t i = next.fetch_add(1); i < queue.size(); i = next.fetch_add(1)) {
      if (stop.stop_requested()) {
        results[i] = {false, false, "stopped"};
      } else {
        results[i] = connectPeer(queue[i], deadline);
      }
    }
  };
  // connect_node blocks for net_setuptime on an unreachable peer; in parallel, one dead peer
  // costs the others nothing.
  const std::size_t workers =
      std::min(std::max<std::size_t>(options_.parallelism, 1), queue.size());
  {
    std::vector<std::jthread> helpers;
    for (std::size_t i = 1; i < workers; ++i) {
      helpers.emplace_back(work);
    }
    if (workers > 0) {
      work();
    }
  }
  std::map<NodeName, ConnectResult> byPeer;
  for (std::size_t i = 0; i < queue.size(); ++i) {
    byPeer[queue[i]] = results[i];
  }
  return byPeer;
}

} // namespace libcluster
