#include "reconcile/controller_loop.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

using namespace std::chrono_literals;

struct Widget {
  std::string key;
};

class CountingReconciler final : public Reconciler<Widget> {
public:
  std::atomic<int> calls{0};

  // Reconciler<Widget>
  Result<Action> reconcile(const Widget&) override {
    ++calls;
    return Action::requeueAfter(1h);
  }
};

bool waitFor(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(ControllerLoopThread, ReconcilesOnItsOwnThreadAndStopsPromptly) {
  SystemClock clock;
  MetricsRegistry metrics;
  WorkQueue queue({.name = "widget"}, clock, metrics);
  CountingReconciler reconciler;
  ControllerLoop loop(
      "widget", queue, [](const std::string& key) { return std::optional<Widget>(Widget{key}); },
      reconciler, clock, metrics);
  std::jthread worker([&](std::stop_token stop) { loop.run(stop); });

  queue.add("ns/a");
  queue.add("ns/b");
  ASSERT_TRUE(waitFor([&] { return reconciler.calls == 2; }));
  ASSERT_EQ(queue.waitingCount(), 2u) << "both requeued an hour from now";

  const auto started = std::chrono::steady_clock::now();
  worker.request_stop();
  worker.join();

  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

} // namespace
} // namespace libcluster
