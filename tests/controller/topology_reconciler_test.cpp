#include "controller/topology_reconciler.h"

#include <set>

#include <gtest/gtest.h>

#include "fakes/builders.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_kube_api.h"
#include "fakes/fake_resolver.h"

namespace libcluster {
namespace {

nlohmann::json podJson(const std::string& name, const std::string& ip) {
  return nlohmann::json{{"metadata", {{"name", name}, {"namespace", "prod"}, {"labels", {{"app", "web"}}},
                                      {"resourceVersion", "1"}}},
                        {"status", {{"phase", "Running"}, {"podIP", ip}}}};
}

class TopologyReconcilerTest : public testing::Test {
protected:
  void SetUp() override {
    pods_.addIndex(TopologyMembers::kLabelIndex, TopologyMembers::labelIndexValues);
    pods_.apply({WatchEvent::Type::InitStarted, {}});
    pods_.apply({WatchEvent::Type::InitApplied, podJson("web-0", "10.0.0.1")});
    pods_.apply({WatchEvent::Type::InitApplied, podJson("web-1", "10.0.0.2")});
    pods_.apply({WatchEvent::Type::InitDone, {}});
    topology_.namespaceName = "prod";
    topology_.name = "web";
    topology_.generation = 1;
    topology_.spec = nlohmann::json::parse(
        R"({"nodeBasename": "web", "sources": [{"kubernetes": {"selector": {"matchLabels": {"app": "web"}}}}]})");
    api_.put(topologiesPath("prod").object("web"),
             {{"metadata", {{"name", "web"}, {"namespace", "prod"}}}, {"spec", topology_.spec}});
  }

  /// What the API holds now, as the informer would hand it to the next reconcile.
  ClusterTopology stored() {
    Result<nlohmann::json> object = api_.get(topologiesPath("prod").object("web"));
    EXPECT_TRUE(object);
    ClusterTopology topology = topology_;
    topology.status = parseTopologyStatus((*object)["status"]);
    topology.resourceVersion = (*object)["metadata"].value("resourceVersion", "");
    return topology;
  }

  /// Applies a pod event as the pod informer does: to the cache, then each change to the
  /// reconcilers' member state. True when some reconciler asked for a reconcile.
  bool applyPod(const WatchEvent& event) {
    bool requeued = false;
    for (const ObjectStore<PodInfo>::Change& change : pods_.apply(event)) {
      for (TopologyReconciler* reconciler : reconcilers()) {
        requeued = !reconciler->podChanged(change.before.get(), change.after.get()).empty() ||
                   requeued;
      }
    }
    return requeued;
  }
  virtual std::vector<TopologyReconciler*> reconcilers() { return {&reconciler_}; }

  std::set<std::string> memberNodes() {
    std::set<std::string> nodes;
    for (const Member& member : stored().status.members) {
      nodes.insert(member.node);
    }
    return nodes;
  }

  std::size_t statusPatches() const {
    std::size_t count = 0;
    for (const FakeKubeApi::Call& call : api_.calls()) {
      count += call.verb == "mergePatch" && call.path.subresource == "status" ? 1 : 0;
    }
    return count;
  }

  FakeKubeApi api_;
  FakeClock clock_;
  FakeResolver resolver_;
  MetricsRegistry metrics_;
  ObjectStore<PodInfo> pods_{[](const nlohmann::json& o) { return podFromJson(o); }};
  TopologyIndex index_;
  ExternalSources external_{resolver_, nullptr, clock_, nullptr};
  EventRecorder events_{api_, clock_, {}};
  TopologyReconciler reconciler_{api_, pods_, nullptr, index_, external_, events_, clock_, metrics_, {}};
  ClusterTopology topology_;
};

TEST_F(TopologyReconcilerTest, WritesTheStatusOnceAndThenNothing) {
  ASSERT_TRUE(reconciler_.reconcile(topology_));
  const ClusterTopology afterFirst = stored();

  clock_.advance(std::chrono::minutes(5));
  ASSERT_TRUE(reconciler_.reconcile(afterFirst));

  EXPECT_EQ(statusPatches(), 1u);
  EXPECT_EQ(afterFirst.status.memberCount, 2);
  EXPECT_EQ(afterFirst.status.members[0].node, "web@10.0.0.1");
}

TEST_F(TopologyReconcilerTest, RefusesToReconcileFromAnUnsyncedCache) {
  ObjectStore<PodInfo> empty{[](const nlohmann::json& o) { return podFromJson(o); }};
  TopologyReconciler reconciler{api_, empty, nullptr, index_, external_, events_, clock_, metrics_, {}};

  Result<Action> result = reconciler.reconcile(topology_);

  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Error::Code::Unavailable);
  EXPECT_EQ(statusPatches(), 0u) << "an unsynced cache must never become an empty membership";
}

TEST_F(TopologyReconcilerTest, ReportsAnInvalidSpecWithoutDroppingMembers) {
  ASSERT_TRUE(reconciler_.reconcile(topology_));
  ClusterTopology broken = stored();
  broken.generation = 2;
  broken.spec["sources"][0]["kubernetes"]["selector"]["matchLabels"] = {{"bad key!", "x"}};

  ASSERT_TRUE(reconciler_.reconcile(broken));

  const TopologyStatus status = stored().status;
  EXPECT_EQ(status.memberCount, 2);
  ASSERT_NE(findCondition(status.conditions, "Invalid"), nullptr);
  EXPECT_EQ(findCondition(status.conditions, "Invalid")->status, "True");
  EXPECT_EQ(status.observedGeneration, 2);
}

TEST_F(TopologyReconcilerTest, ReturnsTheWriteErrorForRetry) {
  api_.failNext("mergePatch", Error{Error::Code::Conflict, "the object has been modified"});

  Result<Action> result = reconciler_.reconcile(topology_);

  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Error::Code::Conflict);
}

class FencedTopologyReconcilerTest : public TopologyReconcilerTest {
protected:
  std::optional<CallOptions> fence() { return leading_ ? std::optional<CallOptions>(call_) : std::nullopt; }
  std::vector<TopologyReconciler*> reconcilers() override { return {&reconciler_, &fenced_}; }

  bool leading_ = true;
  std::stop_source stop_;
  CallOptions call_{.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(7),
                    .stop = stop_.get_token()};
  TopologyReconciler fenced_{api_,     pods_,  nullptr,  index_,
                             external_, events_, clock_, metrics_,
                             TopologyReconciler::Options{.writeFence = [this] { return fence(); }}};
};

TEST_F(FencedTopologyReconcilerTest, WritesNothingWhenNoLongerLeading) {
  leading_ = false;

  Result<Action> result = fenced_.reconcile(stored());

  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Error::Code::Cancelled);
  EXPECT_EQ(statusPatches(), 0u);
}

TEST_F(FencedTopologyReconcilerTest, BoundsTheWriteByTheLeadershipDeadlineAndStop) {
  ASSERT_TRUE(fenced_.reconcile(stored()));

  std::optional<FakeKubeApi::Call> patch;
  for (const FakeKubeApi::Call& call : api_.calls()) {
    if (call.verb == "mergePatch") {
      patch = call;
    }
  }
  ASSERT_TRUE(patch);
  EXPECT_EQ(patch->callOptions.deadline, call_.deadline);
  stop_.request_stop();
  EXPECT_TRUE(patch->callOptions.stop.stop_requested()) << "the worker's stop cancels it";
}

TEST_F(FencedTopologyReconcilerTest, PreconditionsTheWriteOnTheResourceVersionItRead) {
  const ClusterTopology read = stored();
  // Someone else (a new leader) writes after our read.
  ASSERT_TRUE(api_.mergePatch(topologiesPath("prod").object("web"),
                              {{"status", {{"memberCount", 9}}}}));

  Result<Action> result = fenced_.reconcile(read);

  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Error::Code::Conflict);
  std::string precondition;
  for (const FakeKubeApi::Call& call : api_.calls()) {
    if (call.verb == "mergePatch" && call.path.subresource == "status") {
      precondition =
          call.body.value("metadata", nlohmann::json::object()).value("resourceVersion", "");
    }
  }
  EXPECT_EQ(precondition, read.resourceVersion);
  EXPECT_EQ(stored().status.memberCount, 9) << "the stale write must not land";
}

TEST_F(FencedTopologyReconcilerTest, BuildsOnItsOwnWriteUntilTheCacheCatchesUp) {
  const ClusterTopology read = stored();
  ASSERT_TRUE(fenced_.reconcile(read));
  // A pod joins before the cache has seen our write: the next reconcile still gets `read`.
  applyPod({WatchEvent::Type::Applied, podJson("web-2", "10.0.0.3")});

  ASSERT_TRUE(fenced_.reconcile(read)) << "preconditioned on our own write, not the stale read";

  EXPECT_EQ(statusPatches(), 2u);
  EXPECT_EQ(stored().status.memberCount, 3);
}

TEST_F(FencedTopologyReconcilerTest, RecognisesItsOwnWriteComingBackThroughTheWatch) {
  ASSERT_TRUE(fenced_.reconcile(stored()));
  const ClusterTopology echoed = stored();
  EXPECT_TRUE(fenced_.isOwnWrite(echoed));

  ASSERT_TRUE(api_.mergePatch(topologiesPath("prod").object("web"), {{"spec", {{"x", 1}}}}));

  EXPECT_FALSE(fenced_.isOwnWrite(stored())) << "a later change by someone else is not ours";
}

TEST_F(TopologyReconcilerTest, ForgetsTheMetricsAndEventStateOfADeletedTopology) {
  ASSERT_TRUE(reconciler_.reconcile(topology_));
  ASSERT_NE(metrics_.render().find("libcluster_topology_members{namespace=\"prod\",name=\"web\"}"),
            std::string::npos)
      << metrics_.render();
  ASSERT_EQ(events_.trackedObjects(), 1u);

  reconciler_.forget("prod", "web");

  EXPECT_EQ(metrics_.render().find("name=\"web\""), std::string::npos) << metrics_.render();
  EXPECT_EQ(events_.trackedObjects(), 0u);
  EXPECT_FALSE(reconciler_.isOwnWrite(stored()));
}

} // namespace
} // namespace libcluster
