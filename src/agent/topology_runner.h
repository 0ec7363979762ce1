#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/result.h"
#include "dist/connector.h"
#include "ops/metrics_registry.h"
#include "strategy/strategy.h"

namespace libcluster {

/// What happens to a member that leaves the desired set (when the strategy prunes at all).
enum class OnRemoval {
  Disconnect, // libcluster's polling strategies
  Ignore,     // keep the connection; it just stops being a member
};

struct TopologyRunnerOptions {
  std::string topology;
  /// The longest wait between two syncs; an event-driven strategy wakes the runner earlier.
  std::chrono::milliseconds pollInterval{5000};
  /// One connect, disconnect or list-nodes call. connect_node itself gives up on a peer after
  /// net_setuptime (7 s by default), so the default lets it report that.
  std::chrono::milliseconds callTimeout{8000};
  /// All connects of one sync; peers not started by then wait for the next sync.
  std::chrono::milliseconds connectDeadline{10000};
  /// Connect calls in flight at once.
  std::size_t parallelism = 8;
  /// Peers per connect call when the connector connects many at once (Connector::connectAtOnce):
  /// a sync that finds 19 peers to connect makes ONE call, and the local node runs the connect
  /// call for all 19 at the same time.
  std::size_t connectBatch = 64;
  OnRemoval onRemoval = OnRemoval::Disconnect;
  /// How long a peer that left the member list is kept disconnected (when the strategy lists
  /// members, prunes, and onRemoval is Disconnect): a removed node whose pod is still terminating,
  /// or NotReady, is cut again whenever it, or OTP's `global`, reconnects it.
  std::chrono::milliseconds removalHold{300000};
  /// Each wait between two syncs is the poll interval times a random factor in
  /// [1 - pollJitter, 1 + pollJitter], so agents that woke together do not sync together again.
  double pollJitter = 0.2;
  /// After a sync that saw a member leave or disconnected a peer, the next `settleChecks` syncs
  /// come every `settleInterval` instead of the poll interval: OTP's `global`
  /// (prevent_overlapping_partitions) may cut links among the remaining members in reaction to a
  /// disconnect, and they are repaired then, not one poll interval later. (Until the agent hears
  /// nodedown itself.)
  std::chrono::milliseconds settleInterval{200};
  int settleChecks = 5;
  /// How long a member leaves a peer that just left the member list to leave by itself before
  /// cutting it: the removed node's agent disconnects from every member at once, which `global`
  /// takes calmly; members each cutting it at slightly different instants make `global`
  /// (prevent_overlapping_partitions) cut links among the members. A settle sync after the grace
  /// cuts a removed node that did not leave (its agent is down).
  std::chrono::milliseconds leaveGrace{150};
  /// Hear the local node's nodeup / nodedown (when the connector reports them) and act at once:
  /// a desired peer that went down is reconnected, a node that must stay cut (held as removed, or
  /// any node of the topology while this node is not a member) is disconnected as soon as it
  /// comes up. The periodic sync stays as the safety net.
  bool watchNodes = true;
  /// How long the event path waits before reconnecting a desired peer that went down: the peer
  /// may be leaving. A removed node's own agent cuts it from every member as soon as it hears of
  /// the removal; this agent may hear of it a moment later, and a reconnect in between undoes the
  /// cut (the removed node flaps). A link `global` or someone else cut among members is repaired
  /// after this grace (the sync that applies a removal drops the planned reconnect).
  std::chrono::milliseconds repairGrace{250};
  /// Per peer, the waits between reconnects of a desired peer that stays down (event path only;
  /// reset when it comes up), so a dead peer is not hammered.
  Backoff::Options reconnectBackoff{.initial = std::chrono::milliseconds{100},
                                    .max = std::chrono::milliseconds{10000},
                                    .factor = 2.0,
                                    .jitter = 0.5,
                                    .resetAfter = std::chrono::milliseconds{60000}};
};

/// What the runner saw at its last sync, for reports (the pod condition) and /metrics.
struct TopologySnapshot {
  std::string topology;
  /// The last successfully discovered peers, without this node.
  PeerSet desired;
  /// The local node's list-nodes answer at the end of the last sync (hidden nodes included).
  PeerSet connected;
  /// Peers this runner connected (or found connected) and still keeps; libcluster's `meta`.
  PeerSet members;
  /// Desired peers the last sync could not connect, with the reason ("unreachable", ...).
  std::map<NodeName, std::string> failed;
  /// Why the last sync changed nothing (discovery or list-nodes failed); empty when it worked.
  std::optional<Error> lastError;
  std::optional<Clock::SystemTime> lastSync;
  std::optional<Clock::SystemTime> lastSuccessfulSync;
  std::uint64_t syncs = 0;
  /// False when the strategy lists every member and this node is not one (removed, not admitted
  /// yet, NotReady under ReadyOnly): the node left, and desired is empty.
  bool member = true;
  /// Peers that left the member list within removalHold and are kept disconnected.
  PeerSet removed;
};

/// libcluster's poll / diff / connect / disconnect loop, written once for every strategy.
///
/// Each sync asks the strategy for the whole desired set. An Error changes nothing. Otherwise it
/// disconnects the members that are no longer desired (only when the strategy prunes and
/// onRemoval is Disconnect; a connection to a peer this topology never wanted is left alone),
/// then connects every desired peer that is not connected, in parallel, on every sync, which is
/// how netsplits heal. While no desired peer is connected yet, the strategy's seed is joined
/// alone first. This node is never a peer. run() owns the calling thread; snapshot() may be
/// called from any thread.
///
/// When the strategy lists every member (listsSelf), membership is enforced both ways: a node
/// that is not in the list leaves (disconnects from every node of the topology, connects to
/// none), and a peer that left the list is disconnected again on every sync for removalHold,
/// whoever reconnected it. Nodes that were never members of the topology are never touched.
class TopologyRunner {
public:
  TopologyRunner(TopologyRunnerOptions options, Strategy& strategy, Connector& connector,
                 Clock& clock, MetricsRegistry& metrics);

  /// Syncs, then waits for the strategy's news or the poll interval, until `stop`. Beside it, on a
  /// second thread, reacts to the local node's nodeup / nodedown (watchNodes).
  void run(std::stop_token stop);
  /// One sync. Blocks for at most about connectDeadline + 3 × callTimeout (list nodes, all
  /// disconnects, all connects, list nodes).
  void syncOnce(std::stop_token stop = {});

  TopologySnapshot snapshot() const;
  const std::string& topology() const { return options_.topology; }

private:
  /// What the event path acts on, as the last sync left it.
  struct Enforcement {
    bool known = false;   // a sync has discovered the peers
    bool member = true;   // this node is a member
    bool enforce = false; // listsSelf, prunes and onRemoval is Disconnect
    PeerSet desired;      // without this node; every member when this node is not one
    PeerSet held;         // removed peers kept disconnected

    bool mustCut(const NodeName& node) const {
      return enforce && (held.contains(node) || (!member && desired.contains(node)));
    }
    bool wants(const NodeName& node) const { return member && desired.contains(node); }
  };

  struct ConnectResult {
    bool attempted = false;
    bool member = false;
    std::string reason; // when not a member
  };

  void failSync(const Error& error);
  /// True when the peer stops being a member: disconnected, or libcluster's false / ignored.
  bool disconnectPeer(const NodeName& peer, Clock::MonotonicTime deadline);
  /// The call timeout, shortened to what is left until `deadline`.
  std::chrono::milliseconds callTimeoutUntil(Clock::MonotonicTime deadline,
                                             Clock::MonotonicTime now) const;
  /// `repair`: a reconnect after nodedown; its failures are retried with backoff and logged at
  /// debug.
  ConnectResult connectPeer(const NodeName& peer, Clock::MonotonicTime deadline,
                            bool repair = false);
  /// Counts, logs and reads one connect's reply.
  ConnectResult readConnectReply(const NodeName& peer, const Result<CallReply>& reply, bool repair);
  ConnectResult skipConnect(const NodeName& peer);
  /// The event path: waits for node events and reconnects / cuts at once (see watchNodes).
  void watchNodes(std::stop_token stop);
  void publishEnforcement(Enforcement enforcement);
  Enforcement enforcement() const;
  /// Remembers the peers that left `desired` since the last sync and forgets expired ones; true
  /// when a peer left since the last sync.
  bool trackRemovals(const PeerSet& desired);
  PeerSet heldRemovals() const;
  std::chrono::milliseconds jittered(std::chrono::milliseconds interval);
  /// Connects every peer of `peers` until `deadline`: in batches of connectBatch per call when the
  /// connector can, else one per call; `parallelism` calls at a time.
  std::map<NodeName, ConnectResult> connectAll(const PeerSet& peers, Clock::MonotonicTime deadline,
                                               std::stop_token stop, bool repair = false);

  const TopologyRunnerOptions options_;
  Strategy& strategy_;
  Connector& connector_;
  Clock& clock_;
  CounterFamily& connectAttempts_;
  CounterFamily& disconnectAttempts_;
  Gauge& membersGauge_;
  Counter& discoveryErrors_;

  // Only the run()/syncOnce() thread touches these.
  PeerSet members_;
  PeerSet lastDesired_;
  std::map<NodeName, Clock::MonotonicTime> removed_; // when each left the member list
  bool leftLogged_ = false;
  int settleChecksLeft_ = 0;
  std::mt19937 random_{std::random_device{}()};

  mutable std::mutex enforcementMutex_;
  Enforcement enforcement_;

  mutable std::mutex snapshotMutex_;
  TopologySnapshot snapshot_;
};

} // namespace libcluster
