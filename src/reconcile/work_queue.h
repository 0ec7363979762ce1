#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "ops/metrics_registry.h"

namespace libcluster {

/// Keys ("namespace/name") waiting to be reconciled, with client-go's workqueue semantics:
/// - a key added many times before a worker takes it is handed out once;
/// - a key being processed is never handed to a second worker; if it is added meanwhile it is
///   handed out again after done();
/// - addAfter() delays a key (an earlier due time wins), addRateLimited() delays it with per-key
///   exponential backoff and an overall token bucket, forget() clears the backoff;
/// - with `coalesce`, a key is handed out by add() at most once per `coalesce` window: at once
///   when its last hand-out is older than that, else at the end of the window, so a burst of
///   events for one key becomes one reconcile per window and a lone event waits for nothing.
/// Thread-safe. Time comes from the Clock; get() waits for due keys with Clock::sleepUntil.
/// Reports controller-runtime's workqueue_* metrics labelled with the queue's name.
class WorkQueue {
public:
  struct Options {
    /// The `name` label of the metrics.
    std::string name{};
    /// The minimum time between two hand-outs of a key caused by add(); 0 hands every add out
    /// at once.
    std::chrono::milliseconds coalesce{0};
    /// Per-key backoff of addRateLimited: base × 2^failures, capped (client-go: 5 ms → 1000 s).
    std::chrono::milliseconds baseRetryDelay{5};
    std::chrono::milliseconds maxRetryDelay{1'000'000};
    /// Overall token bucket of addRateLimited (client-go: 10 qps, burst 100); qps 0 disables it.
    double retryQps = 10.0;
    int retryBurst = 100;
  };

  WorkQueue(Options options, Clock& clock, MetricsRegistry& metrics);
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  /// Marks `key` as needing a reconcile (after the coalescing delay, if configured).
  void add(const std::string& key);
  /// Adds `key` once `delay` has passed; a delay <= 0 adds it now, without coalescing.
  void addAfter(const std::string& key, std::chrono::nanoseconds delay);
  /// Adds `key` after its backoff (and a token of the bucket), but not before `atLeast`;
  /// returns the delay chosen. Counts a retry.
  std::chrono::nanoseconds addRateLimited(const std::string& key,
                                          std::chrono::nanoseconds atLeast = {});
  /// Clears the key's backoff (after a success, or when its object is gone).
  void forget(const std::string& key);
  /// How many times addRateLimited was called for `key` since it was last forgotten.
  int numRequeues(const std::string& key) const;

  /// Blocks until a key is ready and hands it to the caller, who must call done() with it.
  /// nullopt once the queue is shut down or `stop` is requested.
  std::optional<std::string> get(std::stop_token stop);
  /// The next ready key without blocking, or nullopt.
  std::optional<std::string> tryGet();
  /// Ends processing of a key from get(); re-queues it if it was added meanwhile.
  void done(const std::string& key);

  /// Makes get() return nullopt from now on and ignores further adds.
  void shutDown();
  bool isShuttingDown() const;

  /// Keys ready for a worker.
  std::size_t len() const;
  /// Keys waiting for a due time (delayed, backing off or coalescing).
  std::size_t waitingCount() const;

private:
  using Time = Clock::MonotonicTime;

  void addLocked(const std::string& key, Time now);
  void scheduleLocked(const std::string& key, Time due);
  void promoteDueLocked(Time now);
  std::string popLocked(Time now);
  std::chrono::nanoseconds bucketDelayLocked(Time now);
  void wakeLocked();
  void updateDepthLocked();

  const Options options_;
  Clock& clock_;

  mutable std::mutex mutex_;
  std::condition_variable_any changed_;
  std::uint64_t generation_ = 0;
  /// Stop sources of get() calls sleeping on the clock until the next due time; requested when
  /// the queue changes, so they recompute.
  std::vector<std::stop_source*> sleepers_;
  bool shuttingDown_ = false;

  std::deque<std::string> ready_;
  std::unordered_set<std::string> dirty_;
  std::unordered_set<std::string> processing_;
  std::unordered_map<std::string, Time> waitingDue_;
  std::set<std::pair<Time, std::string>> waitingOrder_;

  std::unordered_map<std::string, int> failures_;
  double tokens_;
  Time tokensAt_;

  std::unordered_map<std::string, Time> addedAt_;
  std::unordered_map<std::string, Time> startedAt_;
  /// When each key was last handed out, while its coalescing window may still be open.
  std::unordered_map<std::string, Time> lastHandedOut_;
  static constexpr std::size_t kMaxRememberedHandOuts = 1024;

  Gauge& depth_;
  Counter& adds_;
  Histogram& queueDuration_;
  Histogram& workDuration_;
  Counter& retries_;
};

} // namespace libcluster
