#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "core/clock.h"
#include "gossip/gossip_outcome.h"

namespace libcluster {

/// Refuses authenticated heartbeats that are too old or already seen. A heartbeat whose sender
/// timestamp is more than `window` away from now (either way, which also bounds clock skew) is
/// Stale; one whose nonce was accepted from the same sender within the window is Replayed. Nonces
/// are remembered until their timestamp leaves the window, at most `maxPerSender` per sender; when
/// one is forgotten early, every timestamp up to its own is refused from then on, so forgetting
/// never reopens a replay. Senders silent for a whole window are forgotten. Not thread-safe.
class ReplayGuard {
public:
  using Nonce = std::array<std::uint8_t, 12>;

  explicit ReplayGuard(std::chrono::milliseconds window, std::size_t maxPerSender = 4096);

  /// Accepted (and remembered), Stale or Replayed.
  GossipOutcome admit(const std::string& sender, Clock::SystemTime sent, const Nonce& nonce,
                      Clock::SystemTime now);

  std::size_t rememberedSenders() const { return senders_.size(); }

private:
  struct Seen {
    Clock::SystemTime sent;
    Nonce nonce;
  };
  struct Sender {
    std::set<Nonce> nonces;
    std::deque<Seen> bySent;                // in arrival order, for expiry and eviction
    std::optional<Clock::SystemTime> floor; // refuse everything sent at or before this
  };

  void forget(Sender& sender, Clock::SystemTime now) const;
  void sweep(Clock::SystemTime now);

  std::chrono::milliseconds window_;
  std::size_t maxPerSender_;
  std::map<std::string, Sender> senders_;
  Clock::SystemTime nextSweep_{};
};

} // namespace libcluster
