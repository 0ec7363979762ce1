#include "agent/repair_schedule.h"

#include <algorithm>

namespace libcluster {

RepairSchedule::RepairSchedule(const Clock& clock, Backoff::Options backoff,
                               std::chrono::milliseconds grace)
    : clock_(clock), backoff_(backoff), grace_(grace) {}

void RepairSchedule::plan(const NodeName& peer, Clock::MonotonicTime due) {
  plan_.try_emplace(peer, Retry{Backoff(clock_, backoff_), due});
}

void RepairSchedule::wentDown(const NodeName& peer) { plan(peer, clock_.now() + grace_); }

void RepairSchedule::missing(const NodeName& peer) { plan(peer, clock_.now()); }

void RepairSchedule::cameUp(const NodeName& peer) { plan_.erase(peer); }

PeerSet RepairSchedule::due(const std::function<bool(const NodeName&)>& wanted) {
  const Clock::MonotonicTime now = clock_.now();
  PeerSet out;
  for (auto it = plan_.begin(); it != plan_.end();) {
    if (!wanted(it->first)) {
      it = plan_.erase(it); // no longer desired (it left): the sync decides about it
      continue;
    }
    if (it->second.due <= now) {
      out.insert(it->first);
    }
    ++it;
  }
  return out;
}

void RepairSchedule::attempted(const NodeName& peer, bool connected) {
  const auto it = plan_.find(peer);
  if (it == plan_.end()) {
    return;
  }
  if (connected) {
    plan_.erase(it);
  } else {
    it->second.due = clock_.now() + it->second.backoff.next();
  }
}

std::chrono::milliseconds RepairSchedule::waitFor(std::chrono::milliseconds longest) const {
  const Clock::MonotonicTime now = clock_.now();
  std::chrono::milliseconds wait = longest;
  for (const auto& [peer, retry] : plan_) {
    wait = std::min(wait, std::max(std::chrono::milliseconds(0),
                                   std::chrono::ceil<std::chrono::milliseconds>(retry.due - now)));
  }
  return wait;
}

} // namespace libcluster
