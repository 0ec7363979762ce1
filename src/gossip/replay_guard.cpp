#include "gossip/replay_guard.h"

#include <algorithm>

#include "core/check.h"

namespace libcluster {

ReplayGuard::ReplayGuard(std::chrono::milliseconds window, std::size_t maxPerSender)
    : window_(window), maxPerSender_(maxPerSender) {
  CHECK(window_ > std::chrono::milliseconds::zero() && maxPerSender_ > 0,
        "a replay window needs room for at least one heartbeat");
}

GossipOutcome ReplayGuard::admit(const std::string& sender, Clock::SystemTime sent,
                                 const Nonce& nonce, Clock::SystemTime now) {
  if (sent < now - window_ || sent > now + window_) {
    return GossipOutcome::Stale;
  }
  sweep(now);
  Sender& state = senders_[sender];
  forget(state, now);
  if ((state.floor && sent <= *state.floor) || state.nonces.contains(nonce)) {
    return GossipOutcome::Replayed;
  }
  if (state.bySent.size() >= maxPerSender_) {
    const Seen& oldest = state.bySent.front();
    state.floor = state.floor ? std::max(*state.floor, oldest.sent) : oldest.sent;
    state.nonces.erase(oldest.nonce);
    state.bySent.pop_front();
  }
  state.nonces.insert(nonce);
  state.bySent.push_back({sent, nonce});
  return GossipOutcome::Accepted;
}

void ReplayGuard::forget(Sender& sender, Clock::SystemTime now) const {
  // An entry can go once a replay of it would be Stale anyway.
  while (!sender.bySent.empty() && sender.bySent.front().sent + window_ < now) {
    sender.nonces.erase(sender.bySent.front().nonce);
    sender.bySent.pop_front();
  }
  if (sender.floor && *sender.floor + window_ < now) {
    sender.floor.reset();
  }
}

void ReplayGuard::sweep(Clock::SystemTime now) {
  if (now < nextSweep_) {
    return;
  }
  nextSweep_ = now + window_ / 2;
  for (auto it = senders_.begin(); it != senders_.end();) {
    forget(it->second, now);
    if (it->second.bySent.empty() && !it->second.floor) {
      it = senders_.erase(it);
    } else {
      ++it;
    }
  }
}

} // namespace libcluster
