#pragma once

#include <chrono>
#include <optional>

#include "core/result.h"

namespace libcluster {

/// What the controller does after a successful reconcile.
class Action {
public:
  /// Look again after `delay` even if nothing changes; the safety net for missed events.
  static Action requeueAfter(std::chrono::seconds delay) { return Action(delay); }
  /// Look again only when a watched object changes.
  static Action awaitChange() { return Action(std::nullopt); }

  std::optional<std::chrono::seconds> requeueDelay() const { return delay_; }

private:
  explicit Action(std::optional<std::chrono::seconds> delay) : delay_(delay) {}
  std::optional<std::chrono::seconds> delay_;
};

/// Moves one object's world towards its spec. Level-based: it gets the object as it is now,
/// never the event that woke it, so running it twice in a row changes nothing the second time.
template <typename Object>
class Reconciler {
public:
  virtual ~Reconciler() = default;

  /// An Error requeues the object with backoff; an Action says when to look again.
  virtual Result<Action> reconcile(const Object& object) = 0;
};

} // namespace libcluster
