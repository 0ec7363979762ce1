#include "election/leader_elector.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <mutex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "fakes/fake_kube_api.h"
#include "support/resource_paths.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const ResourcePath kLeases = leases("ops");
constexpr const char* kLeaseName = "libcluster-controller";

json leaseHeldBy(const std::string& holder, int durationSeconds, int transitions,
                 const std::string& renewTime = "2026-01-01T00:00:00.000000Z") {
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata", {{"name", kLeaseName}, {"namespace", "ops"}}},
          {"spec",
           {{"holderIdentity", holder},
            {"leaseDurationSeconds", durationSeconds},
            {"acquireTime", "2025-06-01T00:00:00.000000Z"},
            {"renewTime", renewTime},
            {"leaseTransitions", transitions}}}};
}

/// What the callbacks saw, in order. The leader's work runs on its own thread: it records
/// "started", waits for its stop token like real work would, then records "work ended".
class Events {
public:
  LeaderElector::Callbacks callbacks(const std::string& who) {
    return {
        .onStartedLeading =
            [this, who](std::stop_token stop) {
              record(who + " started");
              std::mutex mutex;
              std::condition_variable_any never;
              std::unique_lock lock(mutex);
              (void)never.wait(lock, stop, [] { return false; });
              record(who + " work ended");
            },
        .onStoppedLeading = [this, who] { record(who + " stopped"); },
        .onNewLeader = [this, who](const std::string& leader) { record(who + " sees " + leader); }};
  }

  void record(std::string event) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
    changed_.notify_all();
  }
  std::vector<std::string> all() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  bool contains(const std::string& event) const {
    const std::vector<std::string> events = all();
    return std::find(events.begin(), events.end(), event) != events.end();
  }
  /// The leader's thread records asynchronously; bounded so a bug fails instead of hanging.
  bool waitFor(const std::string& event) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, [&] {
      return std::find(events_.begin(), events_.end(), event) != events_.end();
    });
  }

private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> events_;
};

class LeaderElectorTest : public testing::Test {
protected:
  std::unique_ptr<LeaderElector> elector(const std::string& identity, bool releaseOnCancel = true) {
    Result<std::unique_ptr<LeaderElector>> created =
        LeaderElector::create({.leaseName = kLeaseName,
                               .namespaceName = "ops",
                               .identity = identity,
                               .releaseOnCancel = releaseOnCancel},
                              events_.callbacks(identity), kube_, clock_, metrics_);
    EXPECT_TRUE(created.has_value()) << created.error().message;
    return std::move(created).value();
  }

  json spec() {
    Result<json> lease = kube_.get(kLeases.object(kLeaseName));
    EXPECT_TRUE(lease.has_value());
    return lease.has_value() ? (*lease)["spec"] : json();
  }

  std::string now() const { return formatMicroTime(clock_.systemNow()); }

  void failEveryCall(int times) {
    for (int i = 0; i < times; ++i) {
      kube_.failNext("get", Error{Error::Code::Unavailable, "apiserver down"});
      kube_.failNext("replace", Error{Error::Code::Unavailable, "apiserver down"});
      kube_.failNext("create", Error{Error::Code::Unavailable, "apiserver down"});
    }
  }

  FakeClock clock_;
  FakeKubeApi kube_;
  MetricsRegistry metrics_;
  Events events_;
};

TEST_F(LeaderElectorTest, AcquiresAFreeLeaseByCreatingIt) {
  auto a = elector("a");

  (void)a->step();

  EXPECT_TRUE(a->isLeader());
  EXPECT_EQ(spec(), (json{{"holderIdentity", "a"},
                          {"leaseDurationSeconds", 15},
                          {"acquireTime", "2026-01-01T00:00:00.000000Z"},
                          {"renewTime", "2026-01-01T00:00:00.000000Z"},
                          {"leaseTransitions", 0}}));
  EXPECT_EQ(a->observedLeader(), "a");
  EXPECT_TRUE(events_.waitFor("a started"));
  EXPECT_TRUE(events_.contains("a sees a"));
  EXPECT_NE(
      metrics_.render().find("leader_election_master_status{name=\"libcluster-controller\"} 1\n"),
      std::string::npos);
}

TEST_F(LeaderElectorTest, RenewsEveryRetryPeriodKeepingTheAcquireTime) {
  auto a = elector("a");
  (void)a->step();
  const std::string acquired = spec()["acquireTime"];
  clock_.advance(2s);

  const Clock::MonotonicTime next = a->step();

  EXPECT_TRUE(a->isLeader());
  EXPECT_EQ(next, clock_.now() + 2s);
  EXPECT_EQ(spec()["renewTime"], "2026-01-01T00:00:02.000000Z");
  EXPECT_EQ(spec()["acquireTime"], acquired);
  EXPECT_EQ(spec()["leaseTransitions"], 0);
}

TEST_F(LeaderElectorTest, DoesNotTakeALiveLeaseHeldByAnother) {
  kube_.put(kLeases, leaseHeldBy("b", 15, 3));
  auto a = elector("a");

  (void)a->step();
  clock_.advance(14s);
  (void)a->step();

  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(a->observedLeader(), "b");
  EXPECT_EQ(spec()["holderIdentity"], "b");
  EXPECT_TRUE(events_.contains("a sees b"));
}

TEST_F(LeaderElectorTest, TakesOverALeaseNotRenewedForItsDuration) {
  kube_.put(kLeases, leaseHeldBy("b", 15, 3));
  auto a = elector("a");
  (void)a->step();
  clock_.advance(15s);

  (void)a->step();

  EXPECT_TRUE(a->isLeader());
  EXPECT_EQ(spec()["holderIdentity"], "a");
  EXPECT_EQ(spec()["leaseTransitions"], 4);
  EXPECT_EQ(spec()["acquireTime"], now());
}

TEST_F(LeaderElectorTest, ExpiryCountsFromItsOwnObservationNotTheLeaseTimestamps) {
  // The holder's clock is far behind ours: its renewTime alone would say "expired long ago".
  kube_.put(kLeases, leaseHeldBy("b", 15, 0, "2020-01-01T00:00:00.000000Z"));
  auto a = elector("a");
  (void)a->step();
  EXPECT_FALSE(a->isLeader()) << "first seen just now";
  clock_.advance(10s);
  kube_.put(kLeases, leaseHeldBy("b", 15, 0, "2020-01-01T00:00:10.000000Z")); // b renews
  (void)a->step();
  clock_.advance(10s);

  (void)a->step();
  EXPECT_FALSE(a->isLeader()) << "10 s since the change it saw";
  clock_.advance(5s);
  (void)a->step();
  EXPECT_TRUE(a->isLeader());
}

TEST_F(LeaderElectorTest, UsesTheHoldersLeaseDuration) {
  kube_.put(kLeases, leaseHeldBy("b", 60, 0));
  auto a = elector("a");
  (void)a->step();
  clock_.advance(59s);

  (void)a->step();
  EXPECT_FALSE(a->isLeader());
  clock_.advance(1s);
  (void)a->step();
  EXPECT_TRUE(a->isLeader());
}

TEST_F(LeaderElectorTest, TakesAReleasedLeaseAtOnce) {
  kube_.put(kLeases, leaseHeldBy("", 1, 5));
  auto a = elector("a");

  (void)a->step();

  EXPECT_TRUE(a->isLeader());
  EXPECT_EQ(spec()["leaseTransitions"], 6);
}

TEST_F(LeaderElectorTest, ConflictMeansAnotherReplicaWonAndIsRetried) {
  kube_.put(kLeases, leaseHeldBy("", 1, 0));
  kube_.failNext("replace", Error{Error::Code::Conflict, "the object has been modified"});
  auto a = elector("a");

  (void)a->step();
  EXPECT_FALSE(a->isLeader());
  (void)a->step();
  EXPECT_TRUE(a->isLeader());
}

TEST_F(LeaderElectorTest, StepsDownWhenRenewalsFailPastTheRenewDeadline) {
  auto a = elector("a");
  (void)a->step();
  ASSERT_TRUE(events_.waitFor("a started"));
  failEveryCall(10);

  for (int second = 2; second < 10; second += 2) {
    clock_.advance(2s);
    (void)a->step();
    EXPECT_TRUE(a->isLeader()) << "renewal failing for " << second << " s";
  }
  clock_.advance(2s);
  EXPECT_FALSE(a->isLeader()) << "at the deadline, even before the elector notices";
  (void)a->step();

  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(events_.all(),
            (std::vector<std::string>{"a sees a", "a started", "a work ended", "a stopped"}));
  EXPECT_NE(
      metrics_.render().find("leader_election_master_status{name=\"libcluster-controller\"} 0\n"),
      std::string::npos);
}

TEST_F(LeaderElectorTest, BoundsEveryLeaseRequestWellUnderTheRenewDeadline) {
  auto a = elector("a");
  const Clock::MonotonicTime start = clock_.now();
  (void)a->step();
  ASSERT_TRUE(a->isLeader());
  EXPECT_EQ(kube_.calls().back().verb, "create");
  EXPECT_EQ(kube_.calls().back().callOptions.deadline, start + 5s) << "renewDeadline / 2";
  clock_.advance(2s);
  (void)a->step();
  EXPECT_EQ(kube_.calls().back().callOptions.deadline, start + 2s + 5s);
  ASSERT_EQ(a->leadingUntil(), start + 2s + 10s);
  failEveryCall(1);

  clock_.advance(8s);
  (void)a->step();

  // Renewing at 10 s, 2 s before the renew deadline: no request may outlive it.
  for (const FakeKubeApi::Call& call : kube_.calls()) {
    ASSERT_TRUE(call.callOptions.deadline.has_value()) << call.verb;
  }
  EXPECT_EQ(kube_.calls().back().callOptions.deadline, start + 12s);
}

TEST_F(LeaderElectorTest, StopCancelsTheLeaseRequestInFlight) {
  auto a = elector("a");
  std::stop_source stop;

  (void)a->step(stop.get_token());

  const CallOptions sent = kube_.calls().back().callOptions;
  EXPECT_FALSE(sent.stop.stop_requested());
  stop.request_stop();
  EXPECT_TRUE(sent.stop.stop_requested());
  a->resign();
}

TEST_F(LeaderElectorTest, LeadingUntilIsEmptyWhenNotLeading) {
  kube_.put(kLeases, leaseHeldBy("b", 15, 3));
  auto a = elector("a");

  (void)a->step();

  EXPECT_FALSE(a->leadingUntil().has_value());
}

TEST_F(LeaderElectorTest, SurvivesATransientRenewalFailure) {
  auto a = elector("a");
  (void)a->step();
  failEveryCall(1);
  clock_.advance(2s);

  const Clock::MonotonicTime retry = a->step();
  EXPECT_EQ(retry, clock_.now() + 2s);
  clock_.advance(2s);
  (void)a->step();
  clock_.advance(9s);

  EXPECT_TRUE(a->isLeader()) << "deadline counts from the renewal at 4 s";
  EXPECT_EQ(spec()["renewTime"], "2026-01-01T00:00:04.000000Z");
}

TEST_F(LeaderElectorTest, StepsDownAtOnceWhenTheLeaseWasTakenOver) {
  auto a = elector("a");
  (void)a->step();
  kube_.put(kLeases, leaseHeldBy("b", 15, 1));
  clock_.advance(2s);

  (void)a->step();

  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(a->observedLeader(), "b");
  EXPECT_TRUE(events_.contains("a stopped"));
  EXPECT_EQ(spec()["holderIdentity"], "b") << "not overwritten";
}

TEST_F(LeaderElectorTest, ResignReleasesTheLeaseForAnotherReplica) {
  auto a = elector("a");
  auto b = elector("b");
  (void)a->step();
  (void)b->step();
  clock_.advance(1s);

  a->resign();

  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(spec()["holderIdentity"], "");
  EXPECT_EQ(spec()["leaseDurationSeconds"], 1);
  EXPECT_EQ(spec()["leaseTransitions"], 0);
  EXPECT_TRUE(events_.contains("a stopped"));
  (void)b->step();
  EXPECT_TRUE(b->isLeader()) << "no need to wait 15 s";
  EXPECT_EQ(spec()["leaseTransitions"], 1);
}

TEST_F(LeaderElectorTest, ResignWithoutReleaseOnCancelKeepsTheLease) {
  auto a = elector("a", /*releaseOnCancel=*/false);
  (void)a->step();

  a->resign();

  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(spec()["holderIdentity"], "a");
}

TEST_F(LeaderElectorTest, ResignDoesNotReleaseALeaseHeldByAnother) {
  kube_.put(kLeases, leaseHeldBy("b", 15, 2));
  auto a = elector("a");
  (void)a->step();

  a->resign();

  EXPECT_EQ(spec()["holderIdentity"], "b");
  EXPECT_EQ(kube_.writeCount(), 0u);
}

TEST_F(LeaderElectorTest, RunReleasesTheLeaseWhenStopped) {
  std::stop_source stop;
  Result<std::unique_ptr<LeaderElector>> a =
      LeaderElector::create({.leaseName = kLeaseName, .namespaceName = "ops", .identity = "a"},
                            {.onStartedLeading = [&stop](std::stop_token) { stop.request_stop(); },
                             .onStoppedLeading = [this] { events_.record("a stopped"); },
                             .onNewLeader = {}},
                            kube_, clock_, metrics_);
  ASSERT_TRUE(a.has_value());

  (*a)->run(stop.get_token());

  EXPECT_FALSE((*a)->isLeader());
  EXPECT_EQ(spec()["holderIdentity"], "");
  EXPECT_EQ(events_.all(), (std::vector<std::string>{"a stopped"}));
}

TEST_F(LeaderElectorTest, RunReturnsWhenLeadershipIsLost) {
  Result<std::unique_ptr<LeaderElector>> a = LeaderElector::create(
      {.leaseName = kLeaseName, .namespaceName = "ops", .identity = "a"},
      {.onStartedLeading = [this](std::stop_token) { kube_.put(kLeases, leaseHeldBy("b", 15, 1)); },
       .onStoppedLeading = [this] { events_.record("a stopped"); },
       .onNewLeader = {}},
      kube_, clock_, metrics_);
  ASSERT_TRUE(a.has_value());

  (*a)->run(std::stop_token());

  EXPECT_FALSE((*a)->isLeader());
  EXPECT_EQ(spec()["holderIdentity"], "b");
  EXPECT_EQ(events_.all(), (std::vector<std::string>{"a stopped"}));
}

TEST_F(LeaderElectorTest, AcquireRetriesAfterAFailureAreJitteredWithinClientGoBounds) {
  auto a = elector("a");

  for (int i = 0; i < 20; ++i) {
    kube_.failNext("get", Error{Error::Code::Unavailable, "apiserver down"});
    const Clock::MonotonicTime next = a->step();
    EXPECT_FALSE(a->isLeader());
    EXPECT_GE(next - clock_.now(), 2s);
    EXPECT_LT(next - clock_.now(), 4400ms);
  }
}

TEST_F(LeaderElectorTest, AFollowerLooksAtTheHoldersLeaseEveryHalfRetryPeriod) {
  kube_.put(kLeases, leaseHeldBy("b", 15, 0));
  auto a = elector("a");

  for (int i = 0; i < 20; ++i) {
    kube_.put(kLeases, leaseHeldBy("b", 15, 0, "2026-01-01T00:01:" + std::to_string(10 + i) +
                                                   ".0Z")); // b keeps renewing
    const Clock::MonotonicTime next = a->step();
    EXPECT_FALSE(a->isLeader());
    EXPECT_GE(next - clock_.now(), 1s);
    EXPECT_LT(next - clock_.now(), 1200ms);
    clock_.advance(next - clock_.now());
  }
}

// The holder renews every retryPeriod (2 s) and dies at a different moment of its cycle in each
// trial. The follower sees the last renewal at most 1.2 s late, so it takes over within
// leaseDuration + retryPeriod (17 s) of the death; looking every 2-4.4 s (client-go) it could be
// 19.4 s. Never before leaseDuration has passed since that last renewal.
TEST(LeaderElectorTakeover, ADeadHolderIsReplacedWithinLeaseDurationPlusRetryPeriod) {
  std::chrono::nanoseconds longest{0};
  for (int trial = 0; trial < 100; ++trial) {
    FakeClock clock;
    FakeKubeApi kube;
    MetricsRegistry metrics;
    Result<std::unique_ptr<LeaderElector>> created = LeaderElector::create(
        {.leaseName = kLeaseName, .namespaceName = "ops", .identity = "a"}, {}, kube, clock,
        metrics);
    ASSERT_TRUE(created.has_value());
    LeaderElector& a = **created;
    const Clock::MonotonicTime start = clock.now();
    const Clock::MonotonicTime dies = start + 20s + std::chrono::milliseconds(trial * 20);
    Clock::MonotonicTime nextRenewal = start;
    Clock::MonotonicTime lastRenewal = start;
    int renewals = 0;
    Clock::MonotonicTime nextStep = start + 100ms;
    while (!a.isLeader() && clock.now() - start < 60s) {
      if (nextRenewal < dies && nextRenewal <= nextStep) {
        clock.advance(nextRenewal - clock.now());
        kube.put(kLeases, leaseHeldBy("b", 15, 0, "2026-01-01T00:00:" +
                                                      std::to_string(10 + renewals++) + ".0Z"));
        lastRenewal = nextRenewal;
        nextRenewal += 2s;
        continue;
      }
      clock.advance(std::max(nextStep - clock.now(), std::chrono::nanoseconds{0}));
      nextStep = a.step();
    }
    ASSERT_TRUE(a.isLeader()) << "trial " << trial;
    EXPECT_GE(clock.now() - lastRenewal, 15s) << "trial " << trial << ": taken before expiry";
    longest = std::max(longest, clock.now() - dies);
  }
  EXPECT_LE(longest, 17s) << "the slowest takeover after the holder died, ns";
}

TEST_F(LeaderElectorTest, TriesAgainWhenTheObservedLeaseExpiresNotATickLater) {
  kube_.put(kLeases, leaseHeldBy("b", 15, 0));
  auto a = elector("a");
  (void)a->step(); // observes b's Lease now: it expires 15 s from here
  clock_.advance(14s);

  const Clock::MonotonicTime next = a->step();

  EXPECT_GE(next - clock_.now(), 1s) << "not before the Lease expires";
  EXPECT_LE(next - clock_.now(), 1s + 200ms) << "a jittered 2-4.4 s retry would overshoot";
  clock_.advance(next - clock_.now());
  (void)a->step();
  EXPECT_TRUE(a->isLeader());
}

TEST_F(LeaderElectorTest, TwoElectorsNeverLeadAtTheSameTime) {
  auto a = elector("a");
  auto b = elector("b");
  std::mt19937 random(20260101);
  int handovers = 0;
  std::string last;

  for (int i = 0; i < 20000; ++i) {
    switch (random() % 20) {
    case 0:
      kube_.failNext(random() % 2 == 0 ? "get" : "replace",
                     Error{Error::Code::Unavailable, "flaky apiserver"});
      break;
    case 1:
      (random() % 2 == 0 ? a : b)->resign();
      break;
    default:
      (random() % 2 == 0 ? a : b)->step();
    }
    ASSERT_FALSE(a->isLeader() && b->isLeader()) << "iteration " << i;
    clock_.advance(std::chrono::milliseconds(random() % 3000));
    ASSERT_FALSE(a->isLeader() && b->isLeader()) << "iteration " << i;

    const std::string leader = a->isLeader() ? "a" : b->isLeader() ? "b" : last;
    handovers += leader != last && !last.empty() ? 1 : 0;
    last = leader;
  }
  EXPECT_GT(handovers, 10) << "the run exercised takeovers";
}

TEST(LeaderElectorConfig, RejectsInvalidTimings) {
  FakeClock clock;
  FakeKubeApi kube;
  MetricsRegistry metrics;
  auto make = [&](LeaderElector::Options options) {
    return LeaderElector::create(std::move(options), {}, kube, clock, metrics);
  };
  const LeaderElector::Options valid{.leaseName = "l", .namespaceName = "ns", .identity = "a"};
  ASSERT_TRUE(make(valid).has_value());

  LeaderElector::Options options = valid;
  options.renewDeadline = 15s;
  EXPECT_EQ(make(options).error().code, Error::Code::Invalid) << "lease must outlast renewing";
  options = valid;
  options.renewDeadline = 2400ms;
  EXPECT_EQ(make(options).error().code, Error::Code::Invalid) << "renew deadline <= 1.2 × retry";
  options.renewDeadline = 2401ms;
  EXPECT_TRUE(make(options).has_value());
  options = valid;
  options.retryPeriod = 0ms;
  EXPECT_EQ(make(options).error().code, Error::Code::Invalid);
  options = valid;
  options.leaseName = "";
  EXPECT_EQ(make(options).error().code, Error::Code::Invalid);
  options = valid;
  options.namespaceName = "";
  EXPECT_EQ(make(options).error().code, Error::Code::Invalid);
}

TEST(LeaderElectorConfig, DefaultIdentityIsTheHostNameAndAUuid) {
  FakeClock clock;
  FakeKubeApi kube;
  MetricsRegistry metrics;
  char host[HOST_NAME_MAX + 1] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);

  auto first =
      LeaderElector::create({.leaseName = "l", .namespaceName = "ns"}, {}, kube, clock, metrics);
  auto second =
      LeaderElector::create({.leaseName = "l", .namespaceName = "ns"}, {}, kube, clock, metrics);

  ASSERT_TRUE(first.has_value() && second.has_value());
  // gmock's regex (POSIX ERE here), not std::regex, which g++ 12 cannot build under ASan -Werror.
  EXPECT_THAT((*first)->identity(),
              testing::MatchesRegex(std::string(host) + "_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                                                        "[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  EXPECT_NE((*first)->identity(), (*second)->identity());
}

TEST(LeaseTime, IsRfc3339MicroTimeInUtc) {
  const Clock::SystemTime time = std::chrono::sys_days{std::chrono::year{2024} / 2 / 29} + 23h +
                                 59min + 58s + 123456us + 789ns;

  EXPECT_EQ(formatMicroTime(time), "2024-02-29T23:59:58.123456Z");
}

} // namespace
} // namespace libcluster
