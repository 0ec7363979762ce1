#include "core/clock.h"

#include <condition_variable>
#include <ctime>
#include <mutex>

namespace libcluster {

Clock::MonotonicTime SystemClock::now() const { return std::chrono::steady_clock::now(); }

Clock::SystemTime SystemClock::systemNow() const { return std::chrono::system_clock::now(); }

bool SystemClock::sleepUntil(MonotonicTime deadline, std::stop_token stop) {
  std::mutex mutex;
  std::condition_variable_any wake;
  std::unique_lock lock(mutex);
  // Nothing notifies `wake`: it only wakes at the deadline or when the stop token is requested.
  (void)wake.wait_until(lock, stop, deadline, [] { return false; });
  return !stop.stop_requested();
}

std::string formatRfc3339(Clock::SystemTime time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

} // namespace libcluster
