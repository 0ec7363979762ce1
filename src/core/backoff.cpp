#include "core/backoff.h"

#include <algorithm>

namespace libcluster {

Backoff::Backoff(const Clock& clock, Options options, unsigned seed)
    : clock_(clock), options_(options), random_(seed) {}

std::chrono::milliseconds Backoff::next() {
  const Clock::MonotonicTime now = clock_.now();
  if (lastFailure_ && now - *lastFailure_ >= options_.resetAfter) {
    current_ = std::chrono::milliseconds{0};
  }
  lastFailure_ = now;

  if (current_.count() == 0) {
    current_ = options_.initial;
  } else {
    const auto grown = std::chrono::milliseconds(
        static_cast<std::chrono::milliseconds::rep>(static_cast<double>(current_.count()) *
                                                    options_.factor));
    current_ = std::min(grown, options_.max);
  }

  std::uniform_real_distribution<double> extra(0.0, options_.jitter);
  const auto jittered = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(
      static_cast<double>(current_.count()) * (1.0 + extra(random_))));
  return jittered;
}

void Backoff::reset() {
  current_ = std::chrono::milliseconds{0};
  lastFailure_.reset();
}

} // namespace libcluster
