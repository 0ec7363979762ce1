#pragma once

#include <chrono>
#include <stop_token>
#include <string>

namespace libcluster {

/// Time as the code sees it: a monotonic clock for deadlines and a system clock for timestamps
/// written into objects. Tests use FakeClock, whose sleeps return at once.
class Clock {
public:
  using MonotonicTime = std::chrono::steady_clock::time_point;
  using SystemTime = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;

  virtual MonotonicTime now() const = 0;
  virtual SystemTime systemNow() const = 0;
  /// Blocks until `deadline` or until `stop` is requested. Returns false if stopped.
  virtual bool sleepUntil(MonotonicTime deadline, std::stop_token stop) = 0;

  bool sleepFor(std::chrono::nanoseconds duration, std::stop_token stop) {
    return sleepUntil(now() + duration, std::move(stop));
  }
};

/// The real clock. sleepUntil wakes early when the stop token is requested.
class SystemClock final : public Clock {
public:
  // Clock
  MonotonicTime now() const override;
  SystemTime systemNow() const override;
  bool sleepUntil(MonotonicTime deadline, std::stop_token stop) override;
};

/// RFC 3339 in UTC with second precision, as Kubernetes writes metav1.Time ("2024-01-02T03:04:05Z").
std::string formatRfc3339(Clock::SystemTime time);

} // namespace libcluster
