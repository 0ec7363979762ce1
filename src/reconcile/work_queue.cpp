#include "reconcile/work_queue.h"

#include <algorithm>
#include <cmath>

namespace libcluster {
namespace {

/// controller-runtime's workqueue histograms: ExponentialBuckets(10e-9, 10, 12), 10 ns to 1000 s.
std::vector<double> durationBuckets() {
  return {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000};
}

double seconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(duration).count();
}

} // namespace

WorkQueue::WorkQueue(Options options, Clock& clock, MetricsRegistry& metrics)
    : options_(std::move(options)), clock_(clock),
      tokens_(static_cast<double>(options_.retryBurst)), tokensAt_(clock.now()),
      depth_(metrics.gaugeFamily("workqueue_depth", "Current depth of workqueue", {"name"})
                 .withLabels({options_.name})),
      adds_(metrics
                .counterFamily("workqueue_adds_total", "Total number of adds handled by workqueue",
                               {"name"})
                .withLabels({options_.name})),
      queueDuration_(metrics
                         .histogramFamily("workqueue_queue_duration_seconds",
                                          "How long in seconds an item stays in workqueue before "
                                          "being requested",
                                          {"name"}, durationBuckets())
                         .withLabels({options_.name})),
      workDuration_(metrics
                        .histogramFamily("workqueue_work_duration_seconds",
                                         "How long in seconds processing an item from workqueue "
                                         "takes.",
                                         {"name"}, durationBuckets())
                        .withLabels({options_.name})),
      retries_(metrics
                   .counterFamily("workqueue_retries_total",
                                  "Total number of retries handled by workqueue", {"name"})
                   .withLabels({options_.name})) {}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (shuttingDown_) {
    return;
  }
  const Time now = clock_.now();
  if (options_.coalesce.count() <= 0) {
    addLocked(key, now);
    return;
  }
  if (dirty_.contains(key)) {
    // Already due for a reconcile that has not started yet, which will see this change too.
    return;
  }
  // Leading edge: the first change after a quiet window is handed out at once; changes within
  // `coalesce` of the key's last hand-out wait for the end of that window, so a burst still
  // becomes one reconcile per window without delaying the lone change.
  Time due = now;
  if (const auto last = lastHandedOut_.find(key); last != lastHandedOut_.end()) {
    if (now - last->second < options_.coalesce) {
      due = last->second + options_.coalesce;
    } else {
      lastHandedOut_.erase(last);
    }
  }
  scheduleLocked(key, due);
}

void WorkQueue::addAfter(const std::string& key, std::chrono::nanoseconds delay) {
  std::lock_guard lock(mutex_);
  if (shuttingDown_) {
    return;
  }
  const Time now = clock_.now();
  if (delay.count() <= 0) {
    addLocked(key, now);
    return;
  }
  scheduleLocked(key, now + delay);
}

std::chrono::nanoseconds WorkQueue::addRateLimited(const std::string& key,
                                                   std::chrono::nanoseconds atLeast) {
  std::lock_guard lock(mutex_);
  if (shuttingDown_) {
    return {};
  }
  const Time now = clock_.now();
  const int exponent = failures_[key]++;
  // In double, as client-go does, so that many failures cannot overflow before the cap applies.
  const double backoffNs =
      std::chrono::duration<double, std::nano>(options_.baseRetryDelay).count() *
      std::pow(2.0, exponent);
  const std::chrono::nanoseconds maxDelay = options_.maxRetryDelay;
  std::chrono::nanoseconds delay =
      backoffNs >= static_cast<double>(maxDelay.count())
          ? maxDelay
          : std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(backoffNs));
  delay = std::max({delay, bucketDelayLocked(now), atLeast});
  retries_.Increment();
  if (delay.count() <= 0) {
    addLocked(key, now);
  } else {
    scheduleLocked(key, now + delay);
  }
  return delay;
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mutex_);
  failures_.erase(key);
}

int WorkQueue::numRequeues(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto found = failures_.find(key);
  return found == failures_.end() ? 0 : found->second;
}

std::optional<std::string> WorkQueue::get(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (true) {
    if (shuttingDown_ || stop.stop_requested()) {
      return std::nullopt;
    }
    const Time now = clock_.now();
    promoteDueLocked(now);
    if (!ready_.empty()) {
      return popLocked(now);
    }
    if (waitingOrder_.empty()) {
      const std::uint64_t seen = generation_;
      (void)changed_.wait(lock, stop, [&] { return generation_ != seen; });
      continue;
    }
    // Sleep on the Clock, not on the condition variable, so that tests with a FakeClock jump
    // straight to the due time; a change to the queue interrupts the sleep through `wake`.
    const Time due = waitingOrder_.begin()->first;
    std::stop_source wake;
    sleepers_.push_back(&wake);
    lock.unlock();
    {
      std::stop_callback forward(stop, [&wake] { wake.request_stop(); });
      (void)clock_.sleepUntil(due, wake.get_token());
    }
    lock.lock();
    std::erase(sleepers_, &wake);
  }
}

std::optional<std::string> WorkQueue::tryGet() {
  std::lock_guard lock(mutex_);
  if (shuttingDown_) {
    return std::nullopt;
  }
  const Time now = clock_.now();
  promoteDueLocked(now);
  if (ready_.empty()) {
    return std::nullopt;
  }
  return popLocked(now);
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (processing_.erase(key) == 0) {
    // Not handed out by get(): re-queuing it here could hand one key to two workers.
    return;
  }
  if (const auto started = startedAt_.find(key); started != startedAt_.end()) {
    workDuration_.Observe(seconds(clock_.now() - started->second));
    startedAt_.erase(started);
  }
  if (dirty_.contains(key) && !shuttingDown_) {
    ready_.push_back(key);
    wakeLocked();
  }
}

void WorkQueue::shutDown() {
  std::lock_guard lock(mutex_);
  shuttingDown_ = true;
  wakeLocked();
}

bool WorkQueue::isShuttingDown() const {
  std::lock_guard lock(mutex_);
  return shuttingDown_;
}

std::size_t WorkQueue::len() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

std::size_t WorkQueue::waitingCount() const {
  std::lock_guard lock(mutex_);
  return waitingDue_.size();
}

void WorkQueue::addLocked(const std::string& key, Time now) {
  if (shuttingDown_ || dirty_.contains(key)) {
    return;
  }
  adds_.Increment();
  dirty_.insert(key);
  addedAt_.try_emplace(key, now);
  updateDepthLocked();
  if (processing_.contains(key)) {
    return; // done() re-queues it
  }
  ready_.push_back(key);
  wakeLocked();
}

void WorkQueue::scheduleLocked(const std::string& key, Time due) {
  const auto found = waitingDue_.find(key);
  if (found != waitingDue_.end()) {
    if (found->second <= due) {
      return;
    }
    waitingOrder_.erase({found->second, key});
    found->second = due;
  } else {
    waitingDue_.emplace(key, due);
  }
  waitingOrder_.emplace(due, key);
  wakeLocked();
}

void WorkQueue::promoteDueLocked(Time now) {
  while (!waitingOrder_.empty() && waitingOrder_.begin()->first <= now) {
    const std::string key = waitingOrder_.begin()->second;
    waitingOrder_.erase(waitingOrder_.begin());
    waitingDue_.erase(key);
    addLocked(key, now);
  }
}

std::string WorkQueue::popLocked(Time now) {
  std::string key = std::move(ready_.front());
  ready_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  updateDepthLocked();
  if (const auto added = addedAt_.find(key); added != addedAt_.end()) {
    queueDuration_.Observe(seconds(now - added->second));
    addedAt_.erase(added);
  }
  startedAt_[key] = now;
  if (options_.coalesce.count() > 0) {
    if (lastHandedOut_.size() >= kMaxRememberedHandOuts) {
      // Keys of deleted objects are never added again: drop every window that has ended.
      std::erase_if(lastHandedOut_,
                    [&](const auto& entry) { return now - entry.second >= options_.coalesce; });
    }
    lastHandedOut_[key] = now;
  }
  return key;
}

std::chrono::nanoseconds WorkQueue::bucketDelayLocked(Time now) {
  if (options_.retryQps <= 0.0) {
    return {};
  }
  // golang.org/x/time/rate's reservation: take a token now, possibly going into debt, and wait
  // until the debt is paid back.
  tokens_ = std::min(static_cast<double>(options_.retryBurst),
                     tokens_ + seconds(now - tokensAt_) * options_.retryQps);
  tokensAt_ = now;
  tokens_ -= 1.0;
  if (tokens_ >= 0.0) {
    return {};
  }
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(-tokens_ / options_.retryQps));
}

void WorkQueue::wakeLocked() {
  ++generation_;
  changed_.notify_all();
  for (std::stop_source* sleeper : sleepers_) {
    sleeper->request_stop();
  }
}

void WorkQueue::updateDepthLocked() { depth_.Set(static_cast<double>(dirty_.size())); }

} // namespace libcluster
