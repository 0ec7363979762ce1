#include "reconcile/work_queue.h"

#include <array>
#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

using namespace std::chrono_literals;

// Real threads and a real clock with short delays; every wait here is bounded.

std::future<std::optional<std::string>> getAsync(WorkQueue& queue, std::stop_token stop = {}) {
  return std::async(std::launch::async, [&queue, stop] { return queue.get(stop); });
}

class WorkQueueThreadTest : public testing::Test {
protected:
  SystemClock clock_;
  MetricsRegistry metrics_;
  WorkQueue queue_{{.name = "threads"}, clock_, metrics_};
};

TEST_F(WorkQueueThreadTest, BlockedGetWakesOnAdd) {
  auto got = getAsync(queue_);
  ASSERT_EQ(got.wait_for(20ms), std::future_status::timeout);

  queue_.add("ns/a");

  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(got.get(), "ns/a");
}

TEST_F(WorkQueueThreadTest, GetWaitingForADelayedKeyWakesForAnEarlierOne) {
  queue_.addAfter("ns/late", 1h);
  auto got = getAsync(queue_);
  ASSERT_EQ(got.wait_for(20ms), std::future_status::timeout);

  queue_.addAfter("ns/soon", 10ms);

  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(got.get(), "ns/soon");
}

TEST_F(WorkQueueThreadTest, DelayedKeyArrivesAfterItsDelay) {
  const auto started = std::chrono::steady_clock::now();
  queue_.addAfter("ns/a", 30ms);

  auto got = getAsync(queue_);

  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(got.get(), "ns/a");
  EXPECT_GE(std::chrono::steady_clock::now() - started, 30ms);
}

TEST_F(WorkQueueThreadTest, ShutDownWakesBlockedGets) {
  queue_.addAfter("ns/late", 1h);
  auto sleeping = getAsync(queue_);
  WorkQueue empty({.name = "empty"}, clock_, metrics_);
  auto waiting = getAsync(empty);
  ASSERT_EQ(sleeping.wait_for(20ms), std::future_status::timeout);

  queue_.shutDown();
  empty.shutDown();

  ASSERT_EQ(sleeping.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(sleeping.get(), std::nullopt);
  EXPECT_EQ(waiting.get(), std::nullopt);
}

TEST_F(WorkQueueThreadTest, StopWakesBlockedGets) {
  std::stop_source stop;
  queue_.addAfter("ns/late", 1h);
  auto sleeping = getAsync(queue_, stop.get_token());
  WorkQueue empty({.name = "empty"}, clock_, metrics_);
  auto waiting = getAsync(empty, stop.get_token());
  ASSERT_EQ(sleeping.wait_for(20ms), std::future_status::timeout);

  stop.request_stop();

  ASSERT_EQ(sleeping.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(sleeping.get(), std::nullopt);
  EXPECT_EQ(waiting.get(), std::nullopt);
}

TEST_F(WorkQueueThreadTest, WorkersNeverShareAKeyAndEveryChangeIsSeen) {
  constexpr int kKeys = 5;
  std::array<std::atomic<int>, kKeys> version{};
  std::array<std::atomic<int>, kKeys> seen{};
  std::array<std::atomic<bool>, kKeys> busy{};
  std::atomic<int> overlaps{0};

  std::vector<std::jthread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&](std::stop_token stop) {
      while (std::optional<std::string> key = queue_.get(stop)) {
        const int k = std::stoi(key->substr(3));
        if (busy[k].exchange(true)) {
          ++overlaps;
        }
        // Level-based: the worker sees the latest version at the time it starts.
        const int now = version[k].load();
        if (now > seen[k].load()) {
          seen[k] = now;
        }
        std::this_thread::yield();
        busy[k] = false;
        queue_.done(*key);
      }
    });
  }
  for (int i = 0; i < 5000; ++i) {
    const int k = i % kKeys;
    ++version[k];
    queue_.add("ns/" + std::to_string(k));
  }

  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto allSeen = [&] {
    for (int k = 0; k < kKeys; ++k) {
      if (seen[k].load() != version[k].load()) {
        return false;
      }
    }
    return true;
  };
  while (!allSeen() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  queue_.shutDown();
  workers.clear();

  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_TRUE(allSeen());
}

} // namespace
} // namespace libcluster
