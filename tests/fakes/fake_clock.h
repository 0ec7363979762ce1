#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>

#include "core/clock.h"

namespace libcluster {

/// A clock that only moves when told to. sleepUntil jumps straight to the deadline (unless
/// stopped), so poll and backoff loops run instantly; `sleeps()` records every requested wait.
class FakeClock final : public Clock {
public:
  // Clock
  MonotonicTime now() const override {
    std::lock_guard lock(mutex_);
    return monotonic_;
  }
  SystemTime systemNow() const override {
    std::lock_guard lock(mutex_);
    return system_;
  }
  bool sleepUntil(MonotonicTime deadline, std::stop_token stop) override {
    if (stop.stop_requested()) {
      return false;
    }
    std::lock_guard lock(mutex_);
    if (deadline > monotonic_) {
      sleeps_.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - monotonic_));
      system_ += deadline - monotonic_;
      monotonic_ = deadline;
    }
    return true;
  }

  void advance(std::chrono::nanoseconds by) {
    std::lock_guard lock(mutex_);
    monotonic_ += by;
    system_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
  }
  std::vector<std::chrono::milliseconds> sleeps() const {
    std::lock_guard lock(mutex_);
    return sleeps_;
  }

private:
  mutable std::mutex mutex_;
  MonotonicTime monotonic_{std::chrono::hours(1000)};
  SystemTime system_{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
  std::vector<std::chrono::milliseconds> sleeps_;
};

} // namespace libcluster
