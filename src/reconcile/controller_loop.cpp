#include "reconcile/controller_loop.h"

#include <chrono>

#include "core/log.h"

namespace libcluster {
namespace {

/// controller-runtime's controller_runtime_reconcile_time_seconds buckets.
std::vector<double> reconcileTimeBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1,  0.15, 0.2,  0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
          0.7,   0.8,  0.9,   1.0,  1.25, 1.5,  1.75, 2.0,  2.5, 3.0,  3.5, 4.0,  4.5, 5,
          6,     7,    8,     9,    10,   15,   20,   25,   30,  40,   50,  60};
}

CounterFamily& reconcileTotal(MetricsRegistry& metrics) {
  return metrics.counterFamily("controller_runtime_reconcile_total",
                               "Total number of reconciliations per controller",
                               {"controller", "result"});
}

long long milliseconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
}

} // namespace

ControllerLoop::ControllerLoop(std::string name, WorkQueue& queue, KeyReconcile reconcile,
                               Clock& clock, MetricsRegistry& metrics)
    : name_(std::move(name)), queue_(queue), reconcile_(std::move(reconcile)), clock_(clock),
      succeeded_(reconcileTotal(metrics).withLabels({name_, "success"})),
      failed_(reconcileTotal(metrics).withLabels({name_, "error"})),
      requeuedAfter_(reconcileTotal(metrics).withLabels({name_, "requeue_after"})),
      errors_(metrics
                  .counterFamily("controller_runtime_reconcile_errors_total",
                                 "Total number of reconciliation errors per controller",
                                 {"controller"})
                  .withLabels({name_})),
      reconcileTime_(metrics
                         .histogramFamily("controller_runtime_reconcile_time_seconds",
                                          "Length of time per reconciliation per controller",
                                          {"controller"}, reconcileTimeBuckets())
                         .withLabels({name_})),
      activeWorkers_(metrics
                         .gaugeFamily("controller_runtime_active_workers",
                                      "Number of currently used workers per controller",
                                      {"controller"})
                         .withLabels({name_})) {
  metrics
      .gaugeFamily("controller_runtime_max_concurrent_reconciles",
                   "Maximum number of concurrent reconciles per controller", {"controller"})
      .withLabels({name_})
      .Set(1);
}

void ControllerLoop::run(std::stop_token stop) {
  logInfo("controller started", {{"controller", name_}});
  while (processNextItem(stop)) {
  }
  logInfo("controller stopped", {{"controller", name_}});
}

bool ControllerLoop::processNextItem(std::stop_token stop) {
  const std::optional<std::string> key = queue_.get(stop);
  if (!key) {
    return false;
  }
  handle(*key);
  queue_.done(*key);
  return true;
}

void ControllerLoop::handle(const std::string& key) {
  const Clock::MonotonicTime started = clock_.now();
  activeWorkers_.Increment();
  const std::optional<Result<Action>> outcome = reconcile_(key);
  activeWorkers_.Decrement();

  if (!outcome) {
    // Deleted: nothing to converge, and no backoff to remember (controller-runtime's
    // IgnoreNotFound).
    queue_.forget(key);
    logDebug("object no longer exists", {{"controller", name_}, {"object", key}});
    return;
  }
  reconcileTime_.Observe(std::chrono::duration<double>(clock_.now() - started).count());

  if (!outcome->has_value()) {
    const Error& error = outcome->error();
    const std::chrono::nanoseconds retryAfter =
        error.retryAfter.value_or(std::chrono::milliseconds{0});
    const std::chrono::nanoseconds delay = queue_.addRateLimited(key, retryAfter);
    failed_.Increment();
    errors_.Increment();
    logWarn("reconcile failed", {{"controller", name_},
                                 {"object", key},
                                 {"code", codeName(error.code)},
                                 {"error", error.message},
                                 {"retryInMs", milliseconds(delay)}});
    return;
  }

  queue_.forget(key);
  if (const std::optional<std::chrono::seconds> delay = outcome->value().requeueDelay()) {
    queue_.addAfter(key, *delay);
    requeuedAfter_.Increment();
    logDebug("reconciled",
             {{"controller", name_}, {"object", key}, {"requeueAfterSeconds", delay->count()}});
    return;
  }
  succeeded_.Increment();
  logDebug("reconciled", {{"controller", name_}, {"object", key}});
}

} // namespace libcluster
