#include "agent/pod_reporter.h"

#include <gtest/gtest.h>

#include "fakes/builders.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_kube_api.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

TopologyReport synced(const std::string& topology, PeerSet desired, PeerSet connected) {
  TopologyReport report;
  report.snapshot.topology = topology;
  report.snapshot.desired = std::move(desired);
  report.snapshot.connected = std::move(connected);
  report.snapshot.lastSuccessfulSync = Clock::SystemTime{};
  report.snapshot.lastSync = Clock::SystemTime{};
  report.snapshot.syncs = 1;
  return report;
}

TEST(ConnectedCondition, TrueWhenEveryDesiredPeerIsConnected) {
  const auto condition =
      connectedCondition({synced("web", {"a@1", "b@2"}, {"a@1", "b@2", "libcluster_agent_x@1"})});

  EXPECT_EQ(condition,
            (ConnectedCondition{"True", "AllPeersConnected", "connected to all 2 peers"}));
}

TEST(ConnectedCondition, AloneIsConnectedToEveryone) {
  EXPECT_EQ(connectedCondition({synced("web", {}, {})}).status, "True");
}

TEST(ConnectedCondition, ANodeThatLeftIsTrueWithNotAMember) {
  TopologyReport left = synced("web", {}, {});
  left.snapshot.member = false;

  const auto condition = connectedCondition({left});

  EXPECT_EQ(condition.status, "True"); // a readiness gate on it must not keep the pod out
  EXPECT_EQ(condition.reason, "NotAMember");
}

TEST(ConnectedCondition, MissingPeersOfAnotherTopologyComeBeforeNotAMember) {
  TopologyReport left = synced("web", {}, {});
  left.snapshot.member = false;

  const auto condition = connectedCondition({left, synced("jobs", {"c@3"}, {})});

  EXPECT_EQ(condition.reason, "PeersMissing");
}

TEST(ConnectedCondition, ListsMissingPeersAcrossTopologies) {
  const auto condition = connectedCondition(
      {synced("web", {"a@1", "b@2"}, {"a@1"}), synced("jobs", {"c@3", "b@2"}, {"c@3"})});

  EXPECT_EQ(condition,
            (ConnectedCondition{"False", "PeersMissing", "not connected to 1 of 3 peers: b@2"}));
}

TEST(ConnectedCondition, NamesAtMostTenMissingPeers) {
  PeerSet desired;
  for (int i = 10; i < 22; ++i) {
    desired.insert("app@10.0.0." + std::to_string(i));
  }

  const auto condition = connectedCondition({synced("web", desired, {})});

  EXPECT_EQ(condition.message,
            "not connected to 12 of 12 peers: app@10.0.0.10, app@10.0.0.11, app@10.0.0.12, "
            "app@10.0.0.13, app@10.0.0.14, app@10.0.0.15, app@10.0.0.16, app@10.0.0.17, "
            "app@10.0.0.18, app@10.0.0.19 and 2 more");
}

TEST(ConnectedCondition, LocalNodeDownComesFirst) {
  TopologyReport down = synced("web", {"a@1"}, {"a@1"});
  down.nodeError = Error{Error::Code::Unavailable, "connection refused"};

  const auto condition = connectedCondition({synced("jobs", {"b@2"}, {}), down});

  EXPECT_EQ(condition, (ConnectedCondition{"False", "NodeUnreachable",
                                           "cannot reach the local node: connection refused"}));
}

TEST(ConnectedCondition, NeverDiscoveredIsUnknownNotConnected) {
  TopologyReport failing;
  failing.snapshot.topology = "web";
  failing.snapshot.syncs = 3;
  failing.snapshot.lastError = Error{Error::Code::Forbidden, "pods is forbidden"};

  const auto condition = connectedCondition({failing});

  EXPECT_EQ(condition,
            (ConnectedCondition{"False", "PeersUnknown",
                                "topology web has not discovered its peers: pods is forbidden"}));
}

class PodReporterTest : public testing::Test {
protected:
  PodReporterTest() {
    api_.put(podsIn("prod"), pod("app-0").inNamespace("prod").ip("10.0.0.1").ready());
  }

  PodReporter reporter(PodReporter::Options options = {}) {
    options.namespaceName = "prod";
    options.podName = "app-0";
    return PodReporter(api_, clock_, options, [this] { return reports_; });
  }

  json conditions() {
    const auto stored = api_.get(podsIn("prod").object("app-0"));
    return stored ? (*stored)["status"]["conditions"] : json();
  }
  json connected() {
    for (const json& condition : conditions()) {
      if (condition["type"] == "libcluster.dev/Connected") {
        return condition;
      }
    }
    return json();
  }
  std::size_t patches() {
    std::size_t count = 0;
    for (const auto& call : api_.calls()) {
      count += call.verb == "mergePatch" ? 1 : 0;
    }
    return count;
  }

  FakeKubeApi api_;
  FakeClock clock_;
  std::vector<TopologyReport> reports_;
};

TEST_F(PodReporterTest, WritesTheConditionAndKeepsTheOthers) {
  reports_ = {synced("web", {"a@1"}, {"a@1"})};
  PodReporter podReporter = reporter();

  const auto written = podReporter.reportOnce();
  const auto call = api_.calls().back();

  ASSERT_TRUE(written) << written.error().message;
  EXPECT_TRUE(*written);
  EXPECT_EQ(connected()["status"], "True");
  EXPECT_EQ(connected()["reason"], "AllPeersConnected");
  EXPECT_EQ(connected()["lastTransitionTime"], "2026-01-01T00:00:00Z");
  ASSERT_EQ(conditions().size(), 2U);
  EXPECT_EQ(conditions()[0]["type"], "Ready"); // the kubelet's condition is still there
  EXPECT_EQ(call.verb, "mergePatch");
  EXPECT_EQ(call.path.url(), "/api/v1/namespaces/prod/pods/app-0/status");
  EXPECT_TRUE(call.body["metadata"].contains("resourceVersion"));
}

TEST_F(PodReporterTest, AWriteIsBoundedByItsTimeoutAndCancelledByStop) {
  reports_ = {synced("web", {"a@1"}, {"a@1"})};
  PodReporter podReporter = reporter();
  std::stop_source shutdown;

  ASSERT_TRUE(podReporter.reportOnce(shutdown.get_token()));

  const auto calls = api_.calls();
  ASSERT_EQ(calls.size(), 2U); // get, then mergePatch
  for (const auto& call : calls) {
    SCOPED_TRACE(call.verb);
    ASSERT_TRUE(call.callOptions.deadline.has_value());
    EXPECT_EQ(*call.callOptions.deadline, clock_.now() + PodReporter::Options{}.writeTimeout);
    EXPECT_TRUE(call.callOptions.stop.stop_possible());
  }
  shutdown.request_stop();
  EXPECT_TRUE(calls.back().callOptions.stop.stop_requested());
}

TEST_F(PodReporterTest, WritesNothingWhenNothingChanged) {
  reports_ = {synced("web", {"a@1"}, {"a@1"})};
  PodReporter podReporter = reporter();
  ASSERT_TRUE(podReporter.reportOnce());
  clock_.advance(10s);

  const auto again = podReporter.reportOnce();

  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(patches(), 1U);
}

TEST_F(PodReporterTest, SaysNothingBeforeTheFirstSync) {
  reports_ = {TopologyReport{}};
  PodReporter podReporter = reporter();

  const auto written = podReporter.reportOnce();

  ASSERT_TRUE(written);
  EXPECT_FALSE(*written);
  EXPECT_EQ(api_.writeCount(), 0U);
}

TEST_F(PodReporterTest, WritesAtMostOncePerMinInterval) {
  reports_ = {synced("web", {"a@1"}, {"a@1"})};
  PodReporter podReporter = reporter({.minInterval = 3s});
  ASSERT_TRUE(podReporter.reportOnce());
  reports_ = {synced("web", {"a@1", "b@2"}, {"a@1"})};

  const auto tooSoon = podReporter.reportOnce();
  clock_.advance(3s);
  const auto later = podReporter.reportOnce();

  EXPECT_FALSE(*tooSoon);
  EXPECT_TRUE(*later);
  EXPECT_EQ(connected()["status"], "False");
  EXPECT_EQ(connected()["message"], "not connected to 1 of 2 peers: b@2");
}

TEST_F(PodReporterTest, KeepsTransitionTimeWhileTheStatusStays) {
  reports_ = {synced("web", {"a@1"}, {})};
  PodReporter podReporter = reporter({.minInterval = 1s});
  ASSERT_TRUE(podReporter.reportOnce());
  const json first = connected();
  clock_.advance(5s);
  reports_ = {synced("web", {"a@1", "b@2"}, {})};

  ASSERT_TRUE(*podReporter.reportOnce());
  const json second = connected();
  clock_.advance(5s);
  reports_ = {synced("web", {"a@1", "b@2"}, {"a@1", "b@2"})};
  ASSERT_TRUE(*podReporter.reportOnce());
  const json third = connected();

  EXPECT_NE(first["message"], second["message"]);
  EXPECT_EQ(second["lastTransitionTime"], first["lastTransitionTime"]);
  EXPECT_EQ(third["status"], "True");
  EXPECT_EQ(third["lastTransitionTime"], "2026-01-01T00:00:10Z");
}

TEST_F(PodReporterTest, ConditionAlreadyInPlaceIsNotWrittenAgain) {
  reports_ = {synced("web", {"a@1"}, {"a@1"})};
  ASSERT_TRUE(reporter().reportOnce());
  const std::size_t before = patches();

  PodReporter restarted = reporter();
  const auto written = restarted.reportOnce();

  ASSERT_TRUE(written);
  EXPECT_EQ(patches(), before);
  EXPECT_EQ(restarted.lastWritten()->status, "True");
}

TEST_F(PodReporterTest, RetriesAConflictWithTheFreshPod) {
  reports_ = {synced("web", {"a@1"}, {"a@1"})};
  api_.failNext("mergePatch", Error{Error::Code::Conflict, "the object has been modified"});
  PodReporter podReporter = reporter();

  const auto written = podReporter.reportOnce();

  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(patches(), 2U);
  EXPECT_EQ(connected()["status"], "True");
}

TEST_F(PodReporterTest, FailedWriteIsRetriedAfterABackoff) {
  reports_ = {synced("web", {"a@1"}, {"a@1"})};
  api_.failNext("mergePatch", Error{Error::Code::Forbidden, "cannot patch pods/status"});
  PodReporter podReporter = reporter();

  const auto failed = podReporter.reportOnce();
  const auto tooSoon = podReporter.reportOnce();
  clock_.advance(2s);
  const auto retried = podReporter.reportOnce();

  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, Error::Code::Forbidden);
  ASSERT_TRUE(tooSoon);
  EXPECT_FALSE(*tooSoon); // backing off
  ASSERT_TRUE(retried);
  EXPECT_TRUE(*retried);
}

TEST_F(PodReporterTest, APodThatAppearsGetsItsConditionAtTheNextCheckHoweverLongItWasMissing) {
  reports_ = {synced("web", {}, {})};
  PodReporter podReporter(api_, clock_,
                          {.namespaceName = "prod", .podName = "app-1", .checkInterval = 1s},
                          [this] { return reports_; });
  for (int i = 0; i < 30; ++i) {
    const auto missing = podReporter.reportOnce();
    ASSERT_TRUE(!missing || !*missing);
    clock_.advance(1s);
  }
  api_.put(podsIn("prod"), pod("app-1").inNamespace("prod").ip("10.0.0.2"));

  const auto written = podReporter.reportOnce();

  ASSERT_TRUE(written) << written.error().message;
  EXPECT_TRUE(*written);
}

TEST_F(PodReporterTest, MissingPodIsAnError) {
  reports_ = {synced("web", {}, {})};
  PodReporter podReporter(api_, clock_, {.namespaceName = "prod", .podName = "gone"},
                          [this] { return reports_; });

  const auto written = podReporter.reportOnce();

  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, Error::Code::NotFound);
}

} // namespace
} // namespace libcluster
