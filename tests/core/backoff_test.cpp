#include "core/backoff.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

TEST(Backoff, GrowsByFactorWithinJitterUpToTheCap) {
  FakeClock clock;
  Backoff backoff(clock, {.initial = 800ms, .max = 30s, .factor = 2.0, .jitter = 1.0}, 42);

  std::chrono::milliseconds base = 800ms;
  for (int attempt = 0; attempt < 12; ++attempt) {
    const std::chrono::milliseconds delay = backoff.next();
    EXPECT_GE(delay, base) << "attempt " << attempt;
    EXPECT_LE(delay, 2 * base) << "attempt " << attempt;
    base = std::min<std::chrono::milliseconds>(2 * base, 30s);
  }
}

TEST(Backoff, WithoutJitterIsExactlyExponential) {
  FakeClock clock;
  Backoff backoff(clock, {.initial = 100ms, .max = 1s, .factor = 2.0, .jitter = 0.0});

  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 6; ++i) {
    delays.push_back(backoff.next());
  }

  EXPECT_EQ(delays, (std::vector<std::chrono::milliseconds>{100ms, 200ms, 400ms, 800ms, 1s, 1s}));
}

TEST(Backoff, StartsOverAfterAHealthyPeriod) {
  FakeClock clock;
  Backoff backoff(clock, {.initial = 100ms, .max = 10s, .factor = 2.0, .jitter = 0.0,
                          .resetAfter = 120s});
  (void)backoff.next();
  (void)backoff.next();
  (void)backoff.next();

  clock.advance(121s);

  EXPECT_EQ(backoff.next(), 100ms);
}

TEST(Backoff, KeepsGrowingWhenFailuresComeQuickly) {
  FakeClock clock;
  Backoff backoff(clock, {.initial = 100ms, .max = 10s, .factor = 2.0, .jitter = 0.0,
                          .resetAfter = 120s});
  (void)backoff.next();

  clock.advance(119s);

  EXPECT_EQ(backoff.next(), 200ms);
}

TEST(Backoff, ResetStartsFromInitial) {
  FakeClock clock;
  Backoff backoff(clock, {.initial = 100ms, .max = 10s, .factor = 3.0, .jitter = 0.0});
  (void)backoff.next();
  (void)backoff.next();

  backoff.reset();

  EXPECT_EQ(backoff.next(), 100ms);
}

} // namespace
} // namespace libcluster
