#include "core/clock.h"

#include <thread>

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

TEST(SystemClock, SleepUntilReturnsFalseAtOnceWhenStopped) {
  SystemClock clock;
  std::stop_source stop;
  stop.request_stop();
  const auto started = std::chrono::steady_clock::now();

  const bool completed = clock.sleepFor(10s, stop.get_token());

  EXPECT_FALSE(completed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

TEST(SystemClock, SleepUntilWakesWhenStopIsRequestedFromAnotherThread) {
  SystemClock clock;
  std::stop_source stop;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(20ms);
    stop.request_stop();
  });
  const auto started = std::chrono::steady_clock::now();

  const bool completed = clock.sleepFor(30s, stop.get_token());

  EXPECT_FALSE(completed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(SystemClock, SleepUntilReturnsTrueAfterTheDeadline) {
  SystemClock clock;
  const auto started = clock.now();

  const bool completed = clock.sleepFor(15ms, std::stop_token{});

  EXPECT_TRUE(completed);
  EXPECT_GE(clock.now() - started, 15ms);
}

TEST(FakeClock, SleepJumpsToTheDeadlineAndRecordsIt) {
  FakeClock clock;
  const auto started = clock.now();
  const auto startedSystem = clock.systemNow();

  EXPECT_TRUE(clock.sleepFor(5s, std::stop_token{}));

  EXPECT_EQ(clock.now() - started, 5s);
  EXPECT_EQ(clock.systemNow() - startedSystem, 5s);
  EXPECT_EQ(clock.sleeps(), std::vector<std::chrono::milliseconds>{5s});
}

TEST(FormatRfc3339, WritesUtcWithSecondPrecision) {
  const Clock::SystemTime time = std::chrono::sys_days{std::chrono::year{2024} / 1 / 2} + 3h +
                                 4min + 5s + 678ms;

  EXPECT_EQ(formatRfc3339(time), "2024-01-02T03:04:05Z");
}

} // namespace
} // namespace libcluster
