#include "agent/topology_runner.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "agent/repair_schedule.h"
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
  std::jthread watcher;
  if (options_.watchNodes && connector_.reportsNodeEvents()) {
    // Stopped and joined when run() returns (the jthread's own token).
    watcher = std::jthread([this](std::stop_token watching) { watchNodes(watching); });
  }
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
    discoveryErrors_.Increment();
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
  publishEnforcement(Enforcement{.known = true,
                                 .member = member,
                                 .enforce = prune && listsSelf,
                                 .desired = desired,
                                 .held = listsSelf ? heldRemovals() : PeerSet{}});

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
  PeerSet leaving; // this node leaves: every connected node of the topology, at once
  if (!member) {
    for (const NodeName& peer : drop) {
      if (connected.contains(peer)) {
        leaving.insert(peer);
      }
    }
  }
  if (leaving.size() > 1) {
    std::optional<Result<void>> left = connector_.disconnectAtOnce(leaving, options_.callTimeout);
    if (left && *left) {
      disconnectAttempts_.withLabels({options_.topology, "ok"})
          .Increment(static_cast<double>(leaving.size()));
      logInfo("left the topology: disconnected from every member at once",
              {{"topology", options_.topology}, {"nodes", leaving.size()}});
      disconnected = leaving;
    } else if (left) {
      nlohmann::json fields = errorFields(left->error());
      fields["topology"] = options_.topology;
      logWarn("disconnecting from every member at once failed, one by one now", fields);
    }
  }
  const Clock::MonotonicTime graceNow = clock_.now();
  for (const NodeName& peer : drop) {
    if (!connected.contains(peer) || disconnected.contains(peer)) {
      continue; // already gone; it simply stops being a member
    }
    if (member && listsSelf) {
      const auto since = removed_.find(peer);
      if (since != removed_.end() && graceNow - since->second < options_.leaveGrace) {
        settle = true; // its own agent is cutting it now; a settle sync checks after the grace
        continue;
      }
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
  membersGauge_.Set(static_cast<double>(members_.size()));

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
    disconnectAttempts_.withLabels({options_.topology, result}).Increment();
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

void TopologyRunner::publishEnforcement(Enforcement enforcement) {
  std::lock_guard lock(enforcementMutex_);
  enforcement_ = std::move(enforcement);
}

TopologyRunner::Enforcement TopologyRunner::enforcement() const {
  std::lock_guard lock(enforcementMutex_);
  return enforcement_;
}

void TopologyRunner::watchNodes(std::stop_token stop) {
  RepairSchedule repairs(clock_, options_.reconnectBackoff, options_.repairGrace);
  Backoff watchFailures(clock_, Backoff::Options{.initial = milliseconds(500),
                                                 .max = milliseconds(10000),
                                                 .factor = 2.0,
                                                 .jitter = 0.5,
                                                 .resetAfter = milliseconds(60000)});
  // Longest wait for events before looking again; bounds how late a due reconnect can be.
  constexpr milliseconds kLongestWait{1000};
  bool firstLook = true;
  while (!stop.stop_requested()) {
    const milliseconds wait = repairs.waitFor(kLongestWait);
    Result<NodeEvents> got = NodeEvents{};
    if (wait.count() > 0) {
      got = connector_.waitForNodeEvents(wait, stop);
    }
    if (stop.stop_requested()) {
      return;
    }
    if (!got) {
      // The sync reports a local node that does not answer; here, only try again later.
      logDebug("watching the local node failed",
               {{"topology", options_.topology}, {"error", got.error().message}});
      if (!clock_.sleepFor(watchFailures.next(), stop)) {
        return;
      }
      continue;
    }
    const Enforcement view = enforcement();
    if (!view.known) {
      continue; // nothing is known to enforce before the first sync, which looks at everything
    }
    PeerSet cut;
    if (got->rearmed) {
      // Whatever happened before the watch was set up was not heard: look at the whole state.
      if (Result<PeerSet> connected = connector_.connectedPeers(options_.callTimeout); connected) {
        for (const NodeName& node : *connected) {
          if (view.mustCut(node)) {
            cut.insert(node);
          }
        }
        // The first look comes while the first sync is connecting every desired peer: connecting
        // them here too would only double the calls. Later looks (the local node restarted, the
        // watcher died) repair at once.
        for (const NodeName& peer : view.desired) {
          if (!firstLook && view.wants(peer) && !connected->contains(peer)) {
            repairs.missing(peer);
          }
        }
        firstLook = false;
      }
    }
    for (const NodeEvent& event : got->events) {
      if (event.kind == NodeEvent::Kind::Up) {
        repairs.cameUp(event.node);
        if (view.mustCut(event.node)) {
          cut.insert(event.node);
        }
      } else {
        cut.erase(event.node);
        if (view.wants(event.node)) {
          logDebug(
              "desired peer went down",
              {{"topology", options_.topology}, {"node", event.node}, {"reason", event.reason}});
          repairs.wentDown(event.node);
        }
      }
    }
    // Cut first: a removed node reconnected by `global` or by its own agent goes at once, before
    // it can pull the survivors into a partition `global` would then resolve by cutting them.
    const Clock::MonotonicTime disconnectDeadline = clock_.now() + options_.callTimeout;
    for (const NodeName& node : cut) {
      (void)disconnectPeer(node, disconnectDeadline);
    }

    // The view as the latest sync left it: a removal applied during the grace drops its peer.
    const Enforcement latest = enforcement();
    const PeerSet due = repairs.due([&](const NodeName& peer) { return latest.wants(peer); });
    if (due.empty()) {
      continue;
    }
    for (const auto& [peer, result] :
         connectAll(due, clock_.now() + options_.callTimeout, stop, /*repair=*/true)) {
      repairs.attempted(peer, result.member);
    }
  }
}

TopologyRunner::ConnectResult
TopologyRunner::connectPeer(const NodeName& peer, Clock::MonotonicTime deadline, bool repair) {
  const Clock::MonotonicTime now = clock_.now();
  if (now >= deadline) {
    return skipConnect(peer);
  }
  return readConnectReply(peer, connector_.connect(peer, callTimeoutUntil(deadline, now)), repair);
}

TopologyRunner::ConnectResult TopologyRunner::skipConnect(const NodeName& peer) {
  connectAttempts_.withLabels({options_.topology, "skipped"}).Increment();
  logWarn("unable to connect to peer",
          {{"topology", options_.topology}, {"node", peer}, {"reason", "deadline_exceeded"}});
  return {false, false, "deadline_exceeded"};
}

TopologyRunner::ConnectResult TopologyRunner::readConnectReply(const NodeName& peer,
                                                               const Result<CallReply>& reply,
                                                               bool repair) {
  const auto count = [&](const char* result) {
    connectAttempts_.withLabels({options_.topology, result}).Increment();
  };
  if (!reply) {
    const char* reason = reply.error().code == Error::Code::Timeout ? "timeout" : "error";
    count(reason);
    nlohmann::json fields = errorFields(reply.error());
    fields["topology"] = options_.topology;
    fields["node"] = peer;
    fields["reason"] = reason;
    if (repair) {
      logDebug("unable to reconnect to peer", fields);
    } else {
      logWarn("unable to connect to peer", fields);
    }
    return {true, false, reason};
  }
  const auto fail = [&](const char* reason) -> ConnectResult {
    count(reason);
    nlohmann::json fields = {{"topology", options_.topology}, {"node", peer}, {"reason", reason}};
    if (reply->outcome == CallOutcome::Other) {
      fields["reply"] = reply->term;
    }
    if (repair) {
      // Retried with backoff; the periodic sync warns about a peer that stays unreachable.
      logDebug("unable to reconnect to peer", fields);
    } else {
      logWarn("unable to connect to peer", fields);
    }
    return {true, false, reason};
  };
  switch (reply->outcome) {
  case CallOutcome::True:
    count("ok");
    if (repair) {
      logInfo("reconnected to peer", {{"topology", options_.topology}, {"node", peer}});
    } else {
      logInfo("connected to peer", {{"topology", options_.topology}, {"node", peer}});
    }
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
                           std::stop_token stop, bool repair) {
  // Work units: peers in batches of connectBatch, each batch one call that connects its peers all
  // at once inside the local node, when the connector can; else one peer per call.
  std::vector<std::vector<NodeName>> units;
  const std::size_t batch =
      connector_.connectsAtOnce() ? std::max<std::size_t>(options_.connectBatch, 1) : 1;
  for (const NodeName& peer : peers) {
    if (units.empty() || units.back().size() >= batch) {
      units.emplace_back();
    }
    units.back().push_back(peer);
  }
  std::vector<std::map<NodeName, ConnectResult>> results(units.size());
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t i = next.fetch_add(1); i < units.size(); i = next.fetch_add(1)) {
      const std::vector<NodeName>& unit = units[i];
      const Clock::MonotonicTime now = clock_.now();
      if (stop.stop_requested()) {
        for (const NodeName& peer : unit) {
          results[i][peer] = {false, false, "stopped"};
        }
      } else if (unit.size() == 1 || now >= deadline) {
        for (const NodeName& peer : unit) {
          results[i][peer] = connectPeer(peer, deadline, repair);
        }
      } else {
        const Result<ConnectReplies> replies = connector_.connectAtOnce(
            PeerSet(unit.begin(), unit.end()), callTimeoutUntil(deadline, now));
        for (const NodeName& peer : unit) {
          Result<CallReply> reply = Error{Error::Code::Invalid, "no reply for this peer"};
          if (!replies) {
            reply = replies.error();
          } else if (auto found = replies->find(peer); found != replies->end()) {
            reply = found->second;
          }
          results[i][peer] = readConnectReply(peer, reply, repair);
        }
      }
    }
  };
  // connect_node blocks for net_setuptime on an unreachable peer; in parallel, one dead peer
  // costs the others nothing.
  const std::size_t workers =
      std::min(std::max<std::size_t>(options_.parallelism, 1), units.size());
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
  for (std::map<NodeName, ConnectResult>& unit : results) {
    byPeer.merge(unit);
  }
  return byPeer;
}

} // namespace libcluster
