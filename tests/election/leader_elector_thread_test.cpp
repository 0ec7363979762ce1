#include "election/leader_elector.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "fakes/fake_kube_api.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

// Two electors on real threads and the real clock, with short timings (lease 1 s, renew 500 ms,
// retry 100 ms); every wait is bounded.

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

struct Replica {
  std::unique_ptr<LeaderElector> elector;
  std::jthread thread;
};

TEST(LeaderElectorThread, OneLeaderAtATimeAndAFastHandoverOnStop) {
  SystemClock clock;
  FakeKubeApi kube;
  MetricsRegistry metrics;
  std::atomic<int> working{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> terms{0};

  auto makeReplica = [&](const std::string& identity) {
    LeaderElector::Callbacks callbacks{.onStartedLeading =
                                           [&](std::stop_token stop) {
                                             if (++working > 1) {
                                               ++overlaps;
                                             }
                                             ++terms;
                                             while (!stop.stop_requested()) {
                                               std::this_thread::sleep_for(1ms);
                                             }
                                             --working;
                                           },
                                       .onStoppedLeading = {},
                                       .onNewLeader = {}};
    Result<std::unique_ptr<LeaderElector>> elector =
        LeaderElector::create({.leaseName = "libcluster-controller",
                               .namespaceName = "ops",
                               .identity = identity,
                               .leaseDuration = 1s,
                               .renewDeadline = 500ms,
                               .retryPeriod = 100ms},
                              std::move(callbacks), kube, clock, metrics);
    EXPECT_TRUE(elector.has_value());
    Replica replica{std::move(elector).value(), {}};
    replica.thread =
        std::jthread([raw = replica.elector.get()](std::stop_token stop) { raw->run(stop); });
    return replica;
  };

  Replica a = makeReplica("a");
  Replica b = makeReplica("b");
  ASSERT_TRUE(waitFor([&] { return a.elector->isLeader() || b.elector->isLeader(); }));
  std::this_thread::sleep_for(300ms); // several renewals
  Replica& leader = a.elector->isLeader() ? a : b;
  Replica& follower = a.elector->isLeader() ? b : a;
  EXPECT_FALSE(follower.elector->isLeader());

  const auto stopped = std::chrono::steady_clock::now();
  leader.thread.request_stop();
  leader.thread.join();

  ASSERT_TRUE(waitFor([&] { return follower.elector->isLeader(); }));
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 900ms)
      << "released, so no need to wait out the 1 s lease";
  follower.thread.request_stop();
  follower.thread.join();

  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(terms.load(), 2);
  EXPECT_EQ(working.load(), 0);
}

} // namespace
} // namespace libcluster
