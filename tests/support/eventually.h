#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace libcluster {

/// The one polling helper of the tests: asks `condition` every `interval` until it holds or
/// `timeout` has passed, and returns whether it held (asked one last time at the deadline). The
/// timeout only bounds a failing test: a passing one returns as soon as the condition holds, so
/// it is generous for a loaded 2-core machine.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30),
                       std::chrono::milliseconds interval = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(interval);
  }
  return condition();
}

} // namespace libcluster
