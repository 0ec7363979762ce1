#include "reconcile/work_queue.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

class WorkQueueTest : public testing::Test {
protected:
  std::vector<std::string> drain() {
    std::vector<std::string> keys;
    while (std::optional<std::string> key = queue_.tryGet()) {
      keys.push_back(*key);
      queue_.done(*key);
    }
    return keys;
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  WorkQueue queue_{{.name = "test", .retryQps = 0}, clock_, metrics_};
};

TEST_F(WorkQueueTest, HandsOutKeysInOrderOfAdding) {
  queue_.add("ns/a");
  queue_.add("ns/b");

  EXPECT_EQ(drain(), (std::vector<std::string>{"ns/a", "ns/b"}));
}

TEST_F(WorkQueueTest, KeyAddedManyTimesWhileWaitingIsHandedOutOnce) {
  queue_.add("ns/a");
  queue_.add("ns/b");
  queue_.add("ns/a");
  queue_.add("ns/a");

  EXPECT_EQ(queue_.len(), 2u);
  EXPECT_EQ(drain(), (std::vector<std::string>{"ns/a", "ns/b"}));
}

TEST_F(WorkQueueTest, KeyBeingProcessedIsNotHandedOutAgainUntilDone) {
  queue_.add("ns/a");
  const std::optional<std::string> first = queue_.tryGet();
  ASSERT_EQ(first, "ns/a");

  queue_.add("ns/a");
  queue_.add("ns/a");

  EXPECT_EQ(queue_.tryGet(), std::nullopt) << "still processing";
  queue_.done("ns/a");
  EXPECT_EQ(drain(), (std::vector<std::string>{"ns/a"})) << "re-queued once";
}

TEST_F(WorkQueueTest, DoneWithoutAddIsNotRequeued) {
  queue_.add("ns/a");
  ASSERT_EQ(queue_.tryGet(), "ns/a");

  queue_.done("ns/a");

  EXPECT_EQ(queue_.tryGet(), std::nullopt);
}

TEST_F(WorkQueueTest, DoneForAKeyNotHandedOutChangesNothing) {
  queue_.add("ns/a");

  queue_.done("ns/a");

  EXPECT_EQ(drain(), (std::vector<std::string>{"ns/a"})) << "not duplicated";
}

TEST_F(WorkQueueTest, AddAfterWaitsForTheDelay) {
  queue_.addAfter("ns/a", 10s);

  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  EXPECT_EQ(queue_.waitingCount(), 1u);
  clock_.advance(9s);
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  clock_.advance(1s);
  EXPECT_EQ(drain(), (std::vector<std::string>{"ns/a"}));
  EXPECT_EQ(queue_.waitingCount(), 0u);
}

TEST_F(WorkQueueTest, EarlierDueTimeWins) {
  queue_.addAfter("ns/a", 10s);
  queue_.addAfter("ns/a", 1s);
  queue_.addAfter("ns/a", 5s);

  clock_.advance(1s);
  EXPECT_EQ(drain(), (std::vector<std::string>{"ns/a"}));
  clock_.advance(20s);
  EXPECT_EQ(drain(), (std::vector<std::string>{})) << "one entry per key";
}

TEST_F(WorkQueueTest, AddAfterZeroAddsAtOnce) {
  queue_.addAfter("ns/a", 0s);

  EXPECT_EQ(queue_.len(), 1u);
}

TEST_F(WorkQueueTest, GetSleepsOnTheClockUntilTheNextDueKey) {
  queue_.addAfter("ns/late", 30s);
  queue_.addAfter("ns/soon", 5s);

  EXPECT_EQ(queue_.get(std::stop_token()), "ns/soon");
  EXPECT_EQ(clock_.sleeps(), (std::vector<std::chrono::milliseconds>{5s}));
  EXPECT_EQ(queue_.get(std::stop_token()), "ns/late");
  EXPECT_EQ(clock_.sleeps(), (std::vector<std::chrono::milliseconds>{5s, 25s}));
}

TEST_F(WorkQueueTest, GetReturnsNulloptWhenStopped) {
  std::stop_source stop;
  stop.request_stop();
  queue_.add("ns/a");

  EXPECT_EQ(queue_.get(stop.get_token()), std::nullopt);
}

TEST_F(WorkQueueTest, ShutDownEndsGetAndIgnoresAdds) {
  queue_.add("ns/a");

  queue_.shutDown();
  queue_.add("ns/b");

  EXPECT_TRUE(queue_.isShuttingDown());
  EXPECT_EQ(queue_.get(std::stop_token()), std::nullopt);
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
}

TEST_F(WorkQueueTest, RateLimitedBackoffDoublesFrom5msUpTo1000s) {
  std::vector<std::chrono::nanoseconds> delays;
  for (int i = 0; i < 30; ++i) {
    delays.push_back(queue_.addRateLimited("ns/a"));
  }

  EXPECT_EQ(delays[0], 5ms);
  EXPECT_EQ(delays[1], 10ms);
  EXPECT_EQ(delays[2], 20ms);
  EXPECT_EQ(delays[10], 5120ms);
  EXPECT_EQ(delays[17], 655360ms);
  EXPECT_EQ(delays[18], 1000s);
  EXPECT_EQ(delays[29], 1000s);
  EXPECT_EQ(queue_.numRequeues("ns/a"), 30);
}

TEST_F(WorkQueueTest, BackoffIsPerKeyAndForgetResetsIt) {
  (void)queue_.addRateLimited("ns/a");
  (void)queue_.addRateLimited("ns/a");
  (void)queue_.addRateLimited("ns/a");

  EXPECT_EQ(queue_.addRateLimited("ns/b"), 5ms);
  queue_.forget("ns/a");
  EXPECT_EQ(queue_.numRequeues("ns/a"), 0);
  EXPECT_EQ(queue_.addRateLimited("ns/a"), 5ms);
}

TEST_F(WorkQueueTest, RateLimitedKeyComesBackAfterItsDelay) {
  const std::chrono::nanoseconds delay = queue_.addRateLimited("ns/a");

  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  clock_.advance(delay);
  EXPECT_EQ(queue_.tryGet(), "ns/a");
}

TEST_F(WorkQueueTest, AtLeastRaisesTheRateLimitedDelay) {
  EXPECT_EQ(queue_.addRateLimited("ns/a", 30s), 30s);
  EXPECT_EQ(queue_.addRateLimited("ns/b", 1ms), 5ms) << "backoff is larger";
}

/// A queue made by each test from its own options, on a fake clock.
class WorkQueueWithOptions : public testing::Test {
protected:
  WorkQueue& make(WorkQueue::Options options) {
    return queue_.emplace(std::move(options), clock_, metrics_);
  }

  FakeClock clock_;
  MetricsRegistry metrics_;
  std::optional<WorkQueue> queue_;
};

class WorkQueueTokenBucket : public WorkQueueWithOptions {};
class WorkQueueCoalescing : public WorkQueueWithOptions {};

TEST_F(WorkQueueTokenBucket, LimitsRetriesAcrossKeysAfterTheBurst) {
  WorkQueue& queue = make({.name = "bucket", .retryQps = 10, .retryBurst = 2});

  EXPECT_EQ(queue.addRateLimited("ns/a"), 5ms);
  EXPECT_EQ(queue.addRateLimited("ns/b"), 5ms);
  EXPECT_EQ(queue.addRateLimited("ns/c"), 100ms) << "burst used up: one token per 100 ms";
  EXPECT_EQ(queue.addRateLimited("ns/d"), 200ms);
  clock_.advance(1s);
  EXPECT_EQ(queue.addRateLimited("ns/e"), 5ms) << "refilled";
}

TEST_F(WorkQueueCoalescing, ALoneAddIsHandedOutAtOnce) {
  WorkQueue& queue = make({.name = "coalesce", .coalesce = 50ms});

  queue.add("ns/a");

  EXPECT_EQ(queue.tryGet(), "ns/a") << "nothing to coalesce with: no wait";
}

TEST_F(WorkQueueCoalescing, BurstAfterAHandOutBecomesOneKeyAtTheEndOfTheWindow) {
  WorkQueue& queue = make({.name = "coalesce", .coalesce = 50ms});
  queue.add("ns/a");
  ASSERT_EQ(queue.tryGet(), "ns/a");
  queue.done("ns/a");

  for (int i = 0; i < 100; ++i) {
    queue.add("ns/a");
    clock_.advance(400us);
  }
  EXPECT_EQ(queue.tryGet(), std::nullopt) << "40 ms after the last hand-out";
  clock_.advance(10ms);

  EXPECT_EQ(queue.tryGet(), "ns/a");
  queue.done("ns/a");
  clock_.advance(1h);
  EXPECT_EQ(queue.tryGet(), std::nullopt) << "one reconcile for the whole burst";
  queue.add("ns/a");
  EXPECT_EQ(queue.tryGet(), "ns/a") << "the window has long ended";
}

TEST_F(WorkQueueCoalescing, AddDuringProcessingStartsANewWindowAfterDone) {
  WorkQueue& queue = make({.name = "coalesce", .coalesce = 20ms});
  queue.add("ns/a");
  clock_.advance(20ms);
  ASSERT_EQ(queue.tryGet(), "ns/a");

  queue.add("ns/a");
  clock_.advance(20ms);
  EXPECT_EQ(queue.tryGet(), std::nullopt) << "still processing";
  queue.done("ns/a");

  EXPECT_EQ(queue.tryGet(), "ns/a");
}

TEST_F(WorkQueueCoalescing, DelayedAndRetriedKeysAreNotDelayedFurther) {
  WorkQueue& queue = make({.name = "coalesce", .coalesce = 50ms, .retryQps = 0});

  queue.addAfter("ns/a", 0s);
  EXPECT_EQ(queue.len(), 1u);
  EXPECT_EQ(queue.addRateLimited("ns/b"), 5ms);
  clock_.advance(5ms);
  EXPECT_EQ(queue.tryGet(), "ns/a");
  EXPECT_EQ(queue.tryGet(), "ns/b");
}

TEST_F(WorkQueueTest, ReportsWorkqueueMetrics) {
  queue_.add("ns/a");
  queue_.add("ns/a");
  queue_.add("ns/b");
  clock_.advance(2s);
  ASSERT_EQ(queue_.tryGet(), "ns/a");
  clock_.advance(3s);
  queue_.done("ns/a");
  (void)queue_.addRateLimited("ns/a");

  const std::string text = metrics_.render();

  EXPECT_NE(text.find("workqueue_adds_total{name=\"test\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("workqueue_depth{name=\"test\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("workqueue_retries_total{name=\"test\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("workqueue_queue_duration_seconds_sum{name=\"test\"} 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("workqueue_work_duration_seconds_bucket{name=\"test\",le=\"10\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("workqueue_work_duration_seconds_sum{name=\"test\"} 3\n"), std::string::npos)
      << text;
}

} // namespace
} // namespace libcluster
