#pragma once

#include <chrono>
#include <optional>
#include <random>

#include "core/clock.h"

namespace libcluster {

/// Exponential backoff with jitter, as client-go's and kube-rs's watchers use it: each delay is
/// the previous times `factor`, capped at `max`, plus up to `jitter` × itself of random extra.
/// After `resetAfter` without a failure the next delay starts from `initial` again.
class Backoff {
public:
  struct Options {
    std::chrono::milliseconds initial{800};
    std::chrono::milliseconds max{30'000};
    double factor = 2.0;
    double jitter = 1.0;
    std::chrono::milliseconds resetAfter{120'000};
  };

  Backoff(const Clock& clock, Options options, unsigned seed = std::random_device{}());

  /// The delay to wait before the next attempt; advances the sequence.
  std::chrono::milliseconds next();
  /// Forgets all failures (e.g. after an explicit success).
  void reset();

  const Options& options() const { return options_; }

private:
  const Clock& clock_;
  Options options_;
  std::mt19937 random_;
  std::chrono::milliseconds current_{0};
  std::optional<Clock::MonotonicTime> lastFailure_;
};

} // namespace libcluster
