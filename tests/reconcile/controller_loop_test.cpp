#include "reconcile/controller_loop.h"

#include <deque>
#include <map>

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

struct Widget {
  std::string key;
  int generation = 0;
};

/// Answers with scripted results (success with awaitChange when none is left), remembers what it
/// reconciled, and lets the fake clock run for `took` per reconcile.
class RecordingReconciler final : public Reconciler<Widget> {
public:
  explicit RecordingReconciler(FakeClock& clock) : clock_(clock) {}

  void answer(Result<Action> result) { answers_.push_back(std::move(result)); }
  void takes(std::chrono::milliseconds took) { took_ = took; }
  const std::vector<std::string>& reconciled() const { return reconciled_; }

  // Reconciler<Widget>
  Result<Action> reconcile(const Widget& widget) override {
    reconciled_.push_back(widget.key + "@" + std::to_string(widget.generation));
    clock_.advance(took_);
    if (answers_.empty()) {
      return Action::awaitChange();
    }
    Result<Action> result = std::move(answers_.front());
    answers_.pop_front();
    return result;
  }

private:
  FakeClock& clock_;
  std::deque<Result<Action>> answers_;
  std::chrono::milliseconds took_{0};
  std::vector<std::string> reconciled_;
};

class ControllerLoopTest : public testing::Test {
protected:
  std::optional<Widget> lookup(const std::string& key) {
    const auto found = store_.find(key);
    if (found == store_.end()) {
      return std::nullopt;
    }
    return found->second;
  }

  bool processOne() { return loop_.processNextItem(std::stop_token()); }

  std::string metricsText() const { return metrics_.render(); }

  FakeClock clock_;
  MetricsRegistry metrics_;
  WorkQueue queue_{{.name = "widget", .retryQps = 0}, clock_, metrics_};
  std::map<std::string, Widget> store_{{"ns/a", Widget{"ns/a", 1}}, {"ns/b", Widget{"ns/b", 7}}};
  RecordingReconciler reconciler_{clock_};
  ControllerLoop loop_{"widget",    queue_, [this](const std::string& key) { return lookup(key); },
                       reconciler_, clock_, metrics_};
};

TEST_F(ControllerLoopTest, ReconcilesTheObjectAsItIsNow) {
  queue_.add("ns/a");
  store_["ns/a"].generation = 2;

  ASSERT_TRUE(processOne());

  EXPECT_EQ(reconciler_.reconciled(), (std::vector<std::string>{"ns/a@2"}));
  EXPECT_EQ(queue_.len() + queue_.waitingCount(), 0u) << "awaitChange queues nothing";
  EXPECT_NE(metricsText().find(
                "controller_runtime_reconcile_total{controller=\"widget\",result=\"success\"} 1\n"),
            std::string::npos)
      << metricsText();
}

TEST_F(ControllerLoopTest, MissingObjectIsNotReconciledAndItsBackoffIsForgotten) {
  queue_.add("ns/gone");
  (void)queue_.addRateLimited("ns/gone");
  clock_.advance(1s);

  ASSERT_TRUE(processOne());

  EXPECT_TRUE(reconciler_.reconciled().empty());
  EXPECT_EQ(queue_.numRequeues("ns/gone"), 0);
}

TEST_F(ControllerLoopTest, ErrorRequeuesWithGrowingBackoff) {
  reconciler_.answer(Error{Error::Code::Unavailable, "apiserver down"});
  reconciler_.answer(Error{Error::Code::Unavailable, "apiserver down"});
  queue_.add("ns/a");

  ASSERT_TRUE(processOne());
  EXPECT_EQ(queue_.numRequeues("ns/a"), 1);
  ASSERT_TRUE(processOne()); // sleeps the first backoff
  ASSERT_TRUE(processOne()); // sleeps the second, then succeeds

  EXPECT_EQ(reconciler_.reconciled(), (std::vector<std::string>{"ns/a@1", "ns/a@1", "ns/a@1"}));
  EXPECT_EQ(clock_.sleeps(), (std::vector<std::chrono::milliseconds>{5ms, 10ms}));
  EXPECT_EQ(queue_.numRequeues("ns/a"), 0) << "success forgets the backoff";
  const std::string text = metricsText();
  EXPECT_NE(
      text.find("controller_runtime_reconcile_total{controller=\"widget\",result=\"error\"} 2\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("controller_runtime_reconcile_errors_total{controller=\"widget\"} 2\n"),
            std::string::npos)
      << text;
}

TEST_F(ControllerLoopTest, ErrorRetryAfterIsHonouredWhenLongerThanTheBackoff) {
  reconciler_.answer(Error{Error::Code::TooManyRequests, "slow down", 30s});
  queue_.add("ns/a");

  ASSERT_TRUE(processOne());
  ASSERT_TRUE(processOne());

  EXPECT_EQ(clock_.sleeps(), (std::vector<std::chrono::milliseconds>{30s}));
}

TEST_F(ControllerLoopTest, RequeueAfterLooksAgainAfterTheDelay) {
  reconciler_.answer(Action::requeueAfter(60s));
  queue_.add("ns/a");

  ASSERT_TRUE(processOne());
  EXPECT_EQ(queue_.tryGet(), std::nullopt);
  EXPECT_EQ(queue_.waitingCount(), 1u);
  ASSERT_TRUE(processOne());

  EXPECT_EQ(clock_.sleeps(), (std::vector<std::chrono::milliseconds>{60s}));
  EXPECT_EQ(reconciler_.reconciled().size(), 2u);
  EXPECT_NE(metricsText().find("controller_runtime_reconcile_total{controller=\"widget\",result="
                               "\"requeue_after\"} 1\n"),
            std::string::npos)
      << metricsText();
}

TEST_F(ControllerLoopTest, SuccessAfterErrorsResetsTheBackoff) {
  reconciler_.answer(Error{Error::Code::Conflict, "stale"});
  reconciler_.answer(Error{Error::Code::Conflict, "stale"});
  queue_.add("ns/a");
  ASSERT_TRUE(processOne());
  ASSERT_TRUE(processOne());
  ASSERT_TRUE(processOne()); // success
  reconciler_.answer(Error{Error::Code::Conflict, "stale"});
  queue_.add("ns/a");

  ASSERT_TRUE(processOne());

  EXPECT_EQ(queue_.numRequeues("ns/a"), 1);
  EXPECT_EQ(queue_.addRateLimited("ns/a"), 10ms) << "starts over at 5 ms, so the next is 10";
}

TEST_F(ControllerLoopTest, EventDuringReconcileLeadsToOneMoreReconcile) {
  queue_.add("ns/a");
  const std::optional<std::string> key = queue_.tryGet();
  ASSERT_EQ(key, "ns/a");
  queue_.add("ns/a"); // the object changed while "another" reconcile ran
  queue_.add("ns/a");
  queue_.done(*key);

  ASSERT_TRUE(processOne());

  EXPECT_EQ(reconciler_.reconciled().size(), 1u);
  EXPECT_EQ(queue_.len(), 0u);
}

TEST_F(ControllerLoopTest, RecordsReconcileTime) {
  reconciler_.takes(2000ms);
  queue_.add("ns/a");

  ASSERT_TRUE(processOne());

  const std::string text = metricsText();
  EXPECT_NE(text.find("controller_runtime_reconcile_time_seconds_bucket{controller=\"widget\","
                      "le=\"1.75\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("controller_runtime_reconcile_time_seconds_bucket{controller=\"widget\","
                      "le=\"2\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("controller_runtime_reconcile_time_seconds_sum{controller=\"widget\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("controller_runtime_max_concurrent_reconciles{controller=\"widget\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("controller_runtime_active_workers{controller=\"widget\"} 0\n"),
            std::string::npos)
      << text;
}

TEST_F(ControllerLoopTest, ProcessNextItemIsFalseWhenStoppedOrShutDown) {
  std::stop_source stop;
  stop.request_stop();
  queue_.add("ns/a");
  EXPECT_FALSE(loop_.processNextItem(stop.get_token()));

  queue_.shutDown();
  EXPECT_FALSE(processOne());
  EXPECT_TRUE(reconciler_.reconciled().empty());
}

TEST_F(ControllerLoopTest, RunReturnsWhenTheQueueShutsDown) {
  queue_.add("ns/a");
  queue_.add("ns/b");

  // With nothing left to do, get() would wait for an add; shutting down from the reconciler
  // makes run() return on this thread without a second one.
  class ShuttingDown final : public Reconciler<Widget> {
  public:
    ShuttingDown(WorkQueue& queue, int after) : queue_(queue), after_(after) {}
    Result<Action> reconcile(const Widget&) override {
      if (--after_ == 0) {
        queue_.shutDown();
      }
      return Action::awaitChange();
    }

  private:
    WorkQueue& queue_;
    int after_;
  } reconciler(queue_, 2);
  ControllerLoop loop(
      "widget", queue_, [this](const std::string& key) { return lookup(key); }, reconciler, clock_,
      metrics_);

  loop.run(std::stop_token());

  EXPECT_TRUE(queue_.isShuttingDown());
}

} // namespace
} // namespace libcluster
