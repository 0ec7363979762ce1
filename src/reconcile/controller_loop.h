#pragma once

#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>

#include "core/clock.h"
#include "core/result.h"
#include "ops/metrics_registry.h"
#include "reconcile/reconciler.h"
#include "reconcile/work_queue.h"

namespace libcluster {

/// Finds the current object for a key ("namespace/name"), usually in an informer's store.
/// nullopt means the object no longer exists.
template <typename Object>
using ObjectLookup = std::function<std::optional<Object>(const std::string& key)>;

/// The reconcile worker: takes keys from a WorkQueue one at a time (controller-runtime's default
/// MaxConcurrentReconciles = 1), looks the object up and reconciles it. A missing object was
/// deleted and is forgotten without a reconcile. An Error requeues the key with backoff (at least
/// the Error's retryAfter); a success forgets the backoff and requeues after the Action's delay.
/// Records controller_runtime_reconcile_* metrics labelled with the controller's name.
class ControllerLoop {
public:
  /// The object type comes from the reconciler; `lookup` and `reconciler` must outlive the loop.
  template <typename Object>
  ControllerLoop(std::string name, WorkQueue& queue,
                 std::type_identity_t<ObjectLookup<Object>> lookup, Reconciler<Object>& reconciler,
                 Clock& clock, MetricsRegistry& metrics)
      : ControllerLoop(
            std::move(name), queue,
            [lookup = std::move(lookup),
             &reconciler](const std::string& key) -> std::optional<Result<Action>> {
              std::optional<Object> object = lookup(key);
              if (!object) {
                return std::nullopt;
              }
              return reconciler.reconcile(*object);
            },
            clock, metrics) {}

  ControllerLoop(const ControllerLoop&) = delete;
  ControllerLoop& operator=(const ControllerLoop&) = delete;

  /// Reconciles keys until `stop` is requested or the queue shuts down. A reconcile in progress
  /// finishes first; waiting for the next key ends at once.
  void run(std::stop_token stop);

  /// Waits for one key and handles it. False when stopped or shut down, without handling a key.
  bool processNextItem(std::stop_token stop);

  const std::string& name() const { return name_; }

private:
  /// Reconciles the object of a key; nullopt when the object does not exist.
  using KeyReconcile = std::function<std::optional<Result<Action>>(const std::string& key)>;

  ControllerLoop(std::string name, WorkQueue& queue, KeyReconcile reconcile, Clock& clock,
                 MetricsRegistry& metrics);

  void handle(const std::string& key);

  const std::string name_;
  WorkQueue& queue_;
  KeyReconcile reconcile_;
  Clock& clock_;

  Counter& succeeded_;
  Counter& failed_;
  Counter& requeuedAfter_;
  Counter& errors_;
  Histogram& reconcileTime_;
  Gauge& activeWorkers_;
};

} // namespace libcluster
