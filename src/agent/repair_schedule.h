#pragma once

#include <chrono>
#include <functional>
#include <map>

#include "core/backoff.h"
#include "core/clock.h"
#include "strategy/strategy.h"

namespace libcluster {

/// The event path's reconnect plan: per desired peer that went down, when to connect it again.
///
/// A peer that went down is first reconnected after `grace`, not at once: it may be leaving. When
/// a node is removed, its own agent cuts it from every member as soon as it hears of the removal,
/// and this agent may hear of the same removal a moment later; reconnecting in between would undo
/// the cut, and the leaver would cut again (a flap, and `global` may react by cutting members).
/// Within the grace, the sync that applies the removal stops wanting the peer and due() drops it.
/// After a failed reconnect the next one waits the peer's backoff.
class RepairSchedule {
public:
  RepairSchedule(const Clock& clock, Backoff::Options backoff, std::chrono::milliseconds grace);

  /// A desired peer went down: reconnect it after the grace (unless it is already planned).
  void wentDown(const NodeName& peer);
  /// A desired peer is found missing on a fresh look (the local node restarted, the watch was set
  /// up again): reconnect it at once.
  void missing(const NodeName& peer);
  /// The peer is up again, by our connect or another's: forget it (its backoff starts over).
  void cameUp(const NodeName& peer);
  /// Forgets the peers `wanted` rejects, then returns those whose reconnect is due.
  PeerSet due(const std::function<bool(const NodeName&)>& wanted);
  /// The outcome of a reconnect: a connected peer is forgotten, a failed one waits its backoff.
  void attempted(const NodeName& peer, bool connected);
  /// How long until the earliest planned reconnect, at most `longest` (zero when one is due).
  std::chrono::milliseconds waitFor(std::chrono::milliseconds longest) const;
  bool planned(const NodeName& peer) const { return plan_.contains(peer); }

private:
  struct Retry {
    Backoff backoff;
    Clock::MonotonicTime due;
  };
  void plan(const NodeName& peer, Clock::MonotonicTime due);

  const Clock& clock_;
  Backoff::Options backoff_;
  std::chrono::milliseconds grace_;
  std::map<NodeName, Retry> plan_;
};

} // namespace libcluster
