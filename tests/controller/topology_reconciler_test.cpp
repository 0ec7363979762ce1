#include "controller/topology_reconciler.h"

#include <functional>
#include <set>

#include <gtest/gtest.h>

#include "fakes/builders.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_kube_api.h"
#include "fakes/fake_resolver.h"

namespace libcluster {
namespace {

nlohmann::json podJson(const std::string& name, const std::string& ip) {
  return nlohmann::json{{"metadata",
                         {{"name", name},
                          {"namespace", "prod"},
                          {"labels", {{"app", "web"}}},
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

  /// The status the API holds now for topology prod/`name`.
  TopologyStatus statusOf(const std::string& name) {
    Result<nlohmann::json> object = api_.get(topologiesPath("prod").object(name));
    EXPECT_TRUE(object);
    return object ? parseTopologyStatus((*object)["status"]) : TopologyStatus{};
  }

  /// A reconciler over the fixture's parts whose namespaces hold at most `limit` members.
  TopologyReconciler boundedReconciler(std::size_t limit) {
    return TopologyReconciler{api_,      pods_,   nullptr, index_,
                              external_, events_, clock_,  metrics_,
                              TopologyReconciler::Options{.maxMembersPerNamespace = limit}};
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
        requeued =
            !reconciler->podChanged(change.before.get(), change.after.get()).empty() || requeued;
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
    return api_.countCalls([](const FakeKubeApi::Call& call) {
      return call.verb == "mergePatch" && call.path.subresource == "status";
    });
  }

  FakeKubeApi api_;
  FakeClock clock_;
  FakeResolver resolver_;
  MetricsRegistry metrics_;
  ObjectStore<PodInfo> pods_{[](const nlohmann::json& o) { return podFromJson(o); }};
  TopologyIndex index_;
  ExternalSources external_{resolver_, nullptr, clock_, nullptr};
  EventRecorder events_{api_, clock_, {}};
  TopologyReconciler reconciler_{api_,    pods_,  nullptr,  index_, external_,
                                 events_, clock_, metrics_, {}};
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
  TopologyReconciler reconciler{api_,    empty,  nullptr,  index_, external_,
                                events_, clock_, metrics_, {}};

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
  std::optional<CallOptions> fence() {
    return leading_ ? std::optional<CallOptions>(call_) : std::nullopt;
  }
  std::vector<TopologyReconciler*> reconcilers() override { return {&reconciler_, &fenced_}; }

  bool leading_ = true;
  std::stop_source stop_;
  CallOptions call_{.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(7),
                    .stop = stop_.get_token()};
  TopologyReconciler fenced_{
      api_,   pods_,     nullptr,
      index_, external_, events_,
      clock_, metrics_,  TopologyReconciler::Options{.writeFence = [this] { return fence(); }}};
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
  ASSERT_TRUE(
      api_.mergePatch(topologiesPath("prod").object("web"), {{"status", {{"memberCount", 9}}}}));

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

TEST_F(FencedTopologyReconcilerTest, ALateEchoOfAnOlderOwnWriteDoesNotHideAChangeBack) {
  // Found by bench/run-controller-bench: a flip that restores an older status was never written.
  const ClusterTopology read = stored();
  ASSERT_TRUE(fenced_.reconcile(read));
  const ClusterTopology firstEcho = stored(); // our first write (2 members), not delivered yet
  applyPod({WatchEvent::Type::Applied, podJson("web-2", "10.0.0.3")});
  ASSERT_TRUE(fenced_.reconcile(read)); // the cache still holds `read`: 3 members written
  ASSERT_EQ(stored().status.memberCount, 3);

  // The first write's echo arrives late, and the pod that joined goes again: 2 members wanted,
  // which is what that stale echo says, but the server holds 3.
  applyPod({WatchEvent::Type::Deleted, podJson("web-2", "10.0.0.3")});
  ASSERT_TRUE(fenced_.reconcile(firstEcho));

  EXPECT_EQ(stored().status.memberCount, 2);
  EXPECT_EQ(statusPatches(), 3u);
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
  ASSERT_NE(metrics_.render().find("libcluster_topology_members{name=\"web\",namespace=\"prod\"}"),
            std::string::npos)
      << metrics_.render();
  ASSERT_EQ(events_.trackedObjects(), 1u);

  reconciler_.forget("prod", "web");

  EXPECT_EQ(metrics_.render().find("name=\"web\""), std::string::npos) << metrics_.render();
  EXPECT_EQ(events_.trackedObjects(), 0u);
  EXPECT_FALSE(reconciler_.isOwnWrite(stored()));
}

/// The Degraded condition the member limit sets: true, naming the flag.
void expectDegradedByTheMemberLimit(const TopologyStatus& status) {
  const Condition* degraded = findCondition(status.conditions, "Degraded");
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->status, "True");
  EXPECT_NE(degraded->message.find("--max-members-per-namespace"), std::string::npos)
      << degraded->message;
}

TEST_F(TopologyReconcilerTest, ATopologyOverItsNamespacesMemberLimitIsDegradedUntilThereIsRoom) {
  TopologyReconciler bounded = boundedReconciler(3);
  ASSERT_TRUE(bounded.reconcile(topology_));
  ClusterTopology second = topology_;
  second.name = "web2";
  api_.put(topologiesPath("prod").object("web2"),
           {{"metadata", {{"name", "web2"}, {"namespace", "prod"}}}, {"spec", second.spec}});

  ASSERT_TRUE(bounded.reconcile(second));

  const TopologyStatus refused = statusOf("web2");
  EXPECT_EQ(refused.memberCount, 0) << "its 2 members would make 4 in prod, over 3";
  expectDegradedByTheMemberLimit(refused);
  for (const ObjectStore<PodInfo>::Change& change :
       pods_.apply({WatchEvent::Type::Applied, podJson("web-2", "10.0.0.3")})) {
    EXPECT_EQ(bounded.podChanged(change.before.get(), change.after.get()),
              std::vector<std::string>{"prod/web"})
        << "web follows its pods; the refused web2 is not rescanned at each pod event";
  }

  EXPECT_EQ(bounded.forget("prod", "web"), std::vector<std::string>{"prod/web2"})
      << "the room web leaves is offered to the refused topology";
  ASSERT_TRUE(bounded.reconcile(second));
  EXPECT_EQ(statusOf("web2").memberCount, 3);
}

TEST_F(TopologyReconcilerTest, APodOverItsNamespacesMemberLimitLeavesTheTopologyDegradedNotShrunk) {
  TopologyReconciler bounded = boundedReconciler(2);
  ASSERT_TRUE(bounded.reconcile(topology_));
  ASSERT_EQ(statusOf("web").memberCount, 2);
  const auto change = [&](WatchEvent event) {
    std::vector<std::string> keys;
    for (const ObjectStore<PodInfo>::Change& applied : pods_.apply(std::move(event))) {
      keys = bounded.podChanged(applied.before.get(), applied.after.get());
    }
    return keys;
  };

  EXPECT_EQ(change({WatchEvent::Type::Applied, podJson("web-2", "10.0.0.3")}),
            std::vector<std::string>{"prod/web"});
  ASSERT_TRUE(bounded.reconcile(topology_));

  const TopologyStatus over = statusOf("web");
  EXPECT_EQ(over.memberCount, 2) << "web-2 is not admitted, and nobody is dropped for it";
  expectDegradedByTheMemberLimit(over);

  EXPECT_EQ(change({WatchEvent::Type::Deleted, podJson("web-0", "10.0.0.1")}),
            std::vector<std::string>{"prod/web"});
  ASSERT_TRUE(bounded.reconcile(topology_));
  const TopologyStatus room = statusOf("web");
  EXPECT_EQ(room.memberCount, 2) << "rebuilt from the cache: web-1 and web-2";
  const Condition* healed = findCondition(room.conditions, "Degraded");
  EXPECT_TRUE(healed == nullptr || healed->status == "False") << healed->message;
}

// ---- Tables: membership changes through pod events, invalid specs, errors. ----

/// The pods of every membership row before its change: web-0 ready, web-1 not ready, db-0 of
/// another app, and web-x of the same app in another namespace.
std::vector<nlohmann::json> startingPods() {
  return {pod("web-0").inNamespace("prod").labels({{"app", "web"}}).ip("10.0.0.1").ready(),
          pod("web-1").inNamespace("prod").labels({{"app", "web"}}).ip("10.0.0.2"),
          pod("db-0").inNamespace("prod").labels({{"app", "db"}}).ip("10.0.0.9").ready(),
          pod("web-x").inNamespace("staging").labels({{"app", "web"}}).ip("10.0.9.1").ready()};
}

WatchEvent appliedPod(nlohmann::json object) {
  return {WatchEvent::Type::Applied, std::move(object)};
}
WatchEvent deletedPod(nlohmann::json object) {
  return {WatchEvent::Type::Deleted, std::move(object)};
}
PodBuilder web(const std::string& name, const std::string& ip) {
  return pod(name).inNamespace("prod").labels({{"app", "web"}}).ip(ip);
}

struct MembershipCase {
  std::string name;
  /// The kubernetes source (selector app=web unless set).
  nlohmann::json source;
  std::vector<WatchEvent> events;
  std::set<std::string> members;
  int readyCount;
  /// Whether the events must requeue the topology (false: they moved no member).
  bool requeued;
};
void PrintTo(const MembershipCase& row, std::ostream* out) { *out << row.name; }

class TopologyReconcilerMembership : public TopologyReconcilerTest,
                                     public testing::WithParamInterface<MembershipCase> {};

TEST_P(TopologyReconcilerMembership, FollowsPodEvents) {
  const MembershipCase& row = GetParam();
  nlohmann::json source = row.source;
  if (!source.contains("selector")) {
    source["selector"] = {{"matchLabels", {{"app", "web"}}}};
  }
  topology_.spec = {{"nodeBasename", "web"}, {"sources", {{{"kubernetes", source}}}}};
  (void)pods_.apply({WatchEvent::Type::InitStarted, {}});
  for (const nlohmann::json& object : startingPods()) {
    (void)pods_.apply({WatchEvent::Type::InitApplied, object});
  }
  for (const auto& change : pods_.apply({WatchEvent::Type::InitDone, {}})) {
    (void)reconciler_.podChanged(change.before.get(), change.after.get());
  }
  ASSERT_TRUE(reconciler_.reconcile(topology_));

  bool requeued = false;
  for (const WatchEvent& event : row.events) {
    requeued = applyPod(event) || requeued;
  }
  ASSERT_TRUE(reconciler_.reconcile(stored()));

  EXPECT_EQ(memberNodes(), row.members);
  EXPECT_EQ(stored().status.readyCount, row.readyCount);
  EXPECT_EQ(requeued, row.requeued);
}

const nlohmann::json kDefaults = nlohmann::json::object();
const nlohmann::json kReadyOnly = {{"readiness", "ReadyOnly"}};
const nlohmann::json kWithTerminating = {{"includeTerminating", true}};

INSTANTIATE_TEST_SUITE_P(
    Table, TopologyReconcilerMembership,
    testing::Values(
        MembershipCase{"NothingHappens", kDefaults, {}, {"web@10.0.0.1", "web@10.0.0.2"}, 1, false},
        MembershipCase{"APodJoins",
                       kDefaults,
                       {appliedPod(web("web-2", "10.0.0.3"))},
                       {"web@10.0.0.1", "web@10.0.0.2", "web@10.0.0.3"},
                       1,
                       true},
        MembershipCase{"APodIsDeleted",
                       kDefaults,
                       {deletedPod(web("web-0", "10.0.0.1"))},
                       {"web@10.0.0.2"},
                       0,
                       true},
        MembershipCase{"NotReadyCountsUnderIncludeNotReady",
                       kDefaults,
                       {appliedPod(web("web-0", "10.0.0.1"))},
                       {"web@10.0.0.1", "web@10.0.0.2"},
                       0,
                       true},
        MembershipCase{
            "ReadyOnlyStartsWithTheReadyPod", kReadyOnly, {}, {"web@10.0.0.1"}, 1, false},
        MembershipCase{"ReadyOnlyAdmitsAPodTurningReady",
                       kReadyOnly,
                       {appliedPod(web("web-1", "10.0.0.2").ready())},
                       {"web@10.0.0.1", "web@10.0.0.2"},
                       2,
                       true},
        MembershipCase{"ReadyOnlyDropsAPodTurningNotReady",
                       kReadyOnly,
                       {appliedPod(web("web-0", "10.0.0.1"))},
                       {},
                       0,
                       true},
        MembershipCase{"ReadyOnlyIgnoresANotReadyPodStayingNotReady",
                       kReadyOnly,
                       {appliedPod(web("web-1", "10.0.0.2").annotation("note", "x"))},
                       {"web@10.0.0.1"},
                       1,
                       false},
        MembershipCase{"ATerminatingPodLeaves",
                       kDefaults,
                       {appliedPod(web("web-0", "10.0.0.1").ready().deleting())},
                       {"web@10.0.0.2"},
                       0,
                       true},
        MembershipCase{"ATerminatingPodStaysWithIncludeTerminating",
                       kWithTerminating,
                       {appliedPod(web("web-0", "10.0.0.1").ready().deleting())},
                       {"web@10.0.0.1", "web@10.0.0.2"},
                       1,
                       false},
        MembershipCase{"APendingPodIsNotAMember",
                       kDefaults,
                       {appliedPod(web("web-2", "10.0.0.3").phase("Pending"))},
                       {"web@10.0.0.1", "web@10.0.0.2"},
                       1,
                       false},
        MembershipCase{"APodWithoutAnAddressWaits",
                       kDefaults,
                       {appliedPod(pod("web-2").inNamespace("prod").labels({{"app", "web"}}))},
                       {"web@10.0.0.1", "web@10.0.0.2"},
                       1,
                       false},
        MembershipCase{"APodGettingItsAddressJoins",
                       kDefaults,
                       {appliedPod(pod("web-2").inNamespace("prod").labels({{"app", "web"}})),
                        appliedPod(web("web-2", "10.0.0.3"))},
                       {"web@10.0.0.1", "web@10.0.0.2", "web@10.0.0.3"},
                       1,
                       true},
        MembershipCase{
            "RelabelledOutOfTheSelectorLeaves",
            kDefaults,
            {appliedPod(
                pod("web-0").inNamespace("prod").labels({{"app", "old"}}).ip("10.0.0.1").ready())},
            {"web@10.0.0.2"},
            0,
            true},
        MembershipCase{
            "RelabelledIntoTheSelectorJoins",
            kDefaults,
            {appliedPod(
                pod("db-0").inNamespace("prod").labels({{"app", "web"}}).ip("10.0.0.9").ready())},
            {"web@10.0.0.1", "web@10.0.0.2", "web@10.0.0.9"},
            2,
            true},
        MembershipCase{"AnExtraLabelMovesNothing",
                       kDefaults,
                       {appliedPod(web("web-0", "10.0.0.1").ready().label("tier", "front"))},
                       {"web@10.0.0.1", "web@10.0.0.2"},
                       1,
                       false},
        MembershipCase{
            "AnotherAppsPodIsIgnored",
            kDefaults,
            {appliedPod(pod("db-1").inNamespace("prod").labels({{"app", "db"}}).ip("10.0.0.8"))},
            {"web@10.0.0.1", "web@10.0.0.2"},
            1,
            false},
        MembershipCase{
            "TheSameAppInAnotherNamespaceIsIgnored",
            kDefaults,
            {appliedPod(
                pod("web-y").inNamespace("staging").labels({{"app", "web"}}).ip("10.0.9.2"))},
            {"web@10.0.0.1", "web@10.0.0.2"},
            1,
            false},
        MembershipCase{
            "MatchExpressionsFollowARelabel",
            {{"selector",
              {{"matchExpressions",
                {{{"key", "app"}, {"operator", "In"}, {"values", {"web", "db"}}}}}}}},
            {appliedPod(
                pod("db-0").inNamespace("prod").labels({{"app", "cache"}}).ip("10.0.0.9").ready())},
            {"web@10.0.0.1", "web@10.0.0.2"},
            1,
            true},
        MembershipCase{"AnAddressChangeRenamesTheMember",
                       kDefaults,
                       {appliedPod(web("web-1", "10.0.0.7"))},
                       {"web@10.0.0.1", "web@10.0.0.7"},
                       1,
                       true}),
    [](const testing::TestParamInfo<MembershipCase>& info) { return info.param.name; });

TEST_F(TopologyReconcilerTest, TheSeedMovesOnWhenTheSeedPodLeaves) {
  (void)applyPod(appliedPod(web("web-0", "10.0.0.1").ready()));
  ASSERT_TRUE(reconciler_.reconcile(topology_));
  const std::string first = stored().status.seed;
  ASSERT_FALSE(first.empty());
  const std::string leaving = first == "web@10.0.0.1" ? "web-0" : "web-1";

  ASSERT_TRUE(applyPod(deletedPod(web(leaving, first.substr(4)))));
  ASSERT_TRUE(reconciler_.reconcile(stored()));

  EXPECT_NE(stored().status.seed, first);
  EXPECT_FALSE(stored().status.seed.empty());
}

TEST_F(TopologyReconcilerTest, ASelectorEditRebuildsTheMembersFromTheCache) {
  ASSERT_TRUE(reconciler_.reconcile(topology_));
  (void)applyPod(
      appliedPod(pod("db-0").inNamespace("prod").labels({{"app", "db"}}).ip("10.0.0.9")));
  ClusterTopology edited = stored();
  edited.generation = 2;
  edited.spec["sources"][0]["kubernetes"]["selector"]["matchLabels"] = {{"app", "db"}};

  ASSERT_TRUE(reconciler_.reconcile(edited));

  EXPECT_EQ(memberNodes(), std::set<std::string>{"web@10.0.0.9"});
  EXPECT_EQ(stored().status.observedGeneration, 2);
}

TEST_F(TopologyReconcilerTest, APodChangeRequeuesOnlyTheTopologiesSelectingIt) {
  ASSERT_TRUE(reconciler_.reconcile(topology_));

  const std::vector<ObjectStore<PodInfo>::Change> changes = pods_.apply(
      appliedPod(pod("db-0").inNamespace("prod").labels({{"app", "db"}}).ip("10.0.0.9")));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(reconciler_.podChanged(nullptr, changes[0].after.get()).empty());

  const auto joined = pods_.apply(appliedPod(web("web-5", "10.0.0.5")));
  EXPECT_EQ(reconciler_.podChanged(nullptr, joined[0].after.get()),
            std::vector<std::string>{"prod/web"});
}

TEST_F(TopologyReconcilerTest, ATopologyNotYetReconciledIsRequeuedByItsPods) {
  index_.update(topology_);

  const auto joined = pods_.apply(appliedPod(web("web-5", "10.0.0.5")));

  EXPECT_EQ(reconciler_.podChanged(nullptr, joined[0].after.get()),
            std::vector<std::string>{"prod/web"});
}

struct InvalidSpecCase {
  std::string name;
  nlohmann::json spec;
  std::string field;
};
void PrintTo(const InvalidSpecCase& row, std::ostream* out) { *out << row.name; }

class TopologyReconcilerInvalidSpec : public TopologyReconcilerTest,
                                      public testing::WithParamInterface<InvalidSpecCase> {};

TEST_P(TopologyReconcilerInvalidSpec, SetsInvalidAndKeepsTheMembers) {
  ASSERT_TRUE(reconciler_.reconcile(topology_));
  ClusterTopology broken = stored();
  broken.generation = 2;
  broken.spec = GetParam().spec;

  Result<Action> result = reconciler_.reconcile(broken);

  ASSERT_TRUE(result) << "a bad spec is a condition, not a retry";
  const TopologyStatus status = stored().status;
  const Condition* invalid = findCondition(status.conditions, "Invalid");
  ASSERT_NE(invalid, nullptr);
  EXPECT_EQ(invalid->status, "True");
  EXPECT_EQ(invalid->reason, "InvalidSpec");
  EXPECT_NE(invalid->message.find(GetParam().field), std::string::npos) << invalid->message;
  EXPECT_EQ(findCondition(status.conditions, "Ready")->status, "False");
  EXPECT_EQ(status.memberCount, 2) << "a typo must not disconnect anyone";
  EXPECT_EQ(status.observedGeneration, 2);
}

nlohmann::json withKubernetes(nlohmann::json kubernetes) {
  if (!kubernetes.contains("selector")) {
    kubernetes["selector"] = {{"matchLabels", {{"app", "web"}}}};
  }
  return {{"nodeBasename", "web"}, {"sources", {{{"kubernetes", std::move(kubernetes)}}}}};
}

INSTANTIATE_TEST_SUITE_P(
    Table, TopologyReconcilerInvalidSpec,
    testing::Values(
        InvalidSpecCase{"NoSources", {{"nodeBasename", "web"}}, "sources"},
        InvalidSpecCase{"NotAnObject", nlohmann::json::array({1, 2}), "spec"},
        InvalidSpecCase{"ABadLabelKey",
                        withKubernetes({{"selector", {{"matchLabels", {{"bad key!", "x"}}}}}}),
                        "selector"},
        InvalidSpecCase{"AnUnknownReadiness", withKubernetes({{"readiness", "Sometimes"}}),
                        "readiness"},
        InvalidSpecCase{"AnUnknownMode", withKubernetes({{"mode", "carrier-pigeon"}}), "mode"},
        InvalidSpecCase{"HostnameModeWithoutAService", withKubernetes({{"mode", "hostname"}}),
                        "serviceName"},
        InvalidSpecCase{
            "ABadNodeBasename",
            {{"nodeBasename", "web@evil"},
             {"sources", {{{"kubernetes", {{"selector", {{"matchLabels", {{"app", "web"}}}}}}}}}}},
            "nodeBasename"},
        InvalidSpecCase{"TwoKindsInOneSource",
                        {{"nodeBasename", "web"},
                         {"sources",
                          {{{"kubernetes", {{"selector", {{"matchLabels", {{"app", "web"}}}}}}},
                            {"epmd", {{"nodes", {"a@b"}}}}}}}},
                        "exactly one"}),
    [](const testing::TestParamInfo<InvalidSpecCase>& info) { return info.param.name; });

struct WriteFailureCase {
  std::string name;
  Error::Code code;
};
void PrintTo(const WriteFailureCase& row, std::ostream* out) { *out << row.name; }

class TopologyReconcilerWriteFailure : public TopologyReconcilerTest,
                                       public testing::WithParamInterface<WriteFailureCase> {};

TEST_P(TopologyReconcilerWriteFailure, IsReturnedForRetryAndTheRetryLosesNothing) {
  ASSERT_TRUE(reconciler_.reconcile(topology_));
  (void)applyPod(appliedPod(web("web-2", "10.0.0.3")));
  api_.failNext("mergePatch", Error{GetParam().code, "injected"});

  Result<Action> failed = reconciler_.reconcile(stored());
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, GetParam().code) << "the loop retries errors with backoff";
  (void)applyPod(appliedPod(web("web-3", "10.0.0.4")));
  ASSERT_TRUE(reconciler_.reconcile(stored()));

  EXPECT_EQ(memberNodes(), (std::set<std::string>{"web@10.0.0.1", "web@10.0.0.2", "web@10.0.0.3",
                                                  "web@10.0.0.4"}));
}

INSTANTIATE_TEST_SUITE_P(Table, TopologyReconcilerWriteFailure,
                         testing::Values(WriteFailureCase{"Conflict", Error::Code::Conflict},
                                         WriteFailureCase{"Unavailable", Error::Code::Unavailable},
                                         WriteFailureCase{"Timeout", Error::Code::Timeout},
                                         WriteFailureCase{"Forbidden", Error::Code::Forbidden}),
                         [](const testing::TestParamInfo<WriteFailureCase>& info) {
                           return info.param.name;
                         });

TEST_F(TopologyReconcilerTest, AFailingSourceKeepsItsLastMembers) {
  topology_.spec = nlohmann::json::parse(R"({"nodeBasename": "web", "sources": [
      {"name": "pods", "kubernetes": {"selector": {"matchLabels": {"app": "web"}}}},
      {"name": "dns", "dns": {"name": "app.test"}}]})");
  resolver_.answerAddresses("app.test",
                            std::vector<DnsAddress>{{"10.0.5.1", std::chrono::seconds(1)}});
  ASSERT_TRUE(reconciler_.reconcile(topology_));
  external_.refreshDue({});
  ASSERT_TRUE(reconciler_.reconcile(stored()));
  ASSERT_EQ(stored().status.memberCount, 3);

  resolver_.answerAddresses("app.test", Error{Error::Code::Unavailable, "SERVFAIL"});
  clock_.advance(std::chrono::minutes(5));
  external_.refreshDue({});
  ASSERT_TRUE(reconciler_.reconcile(stored()));

  const TopologyStatus status = stored().status;
  EXPECT_EQ(status.memberCount, 3) << "unknown is not empty";
  EXPECT_TRUE(memberNodes().contains("web@10.0.5.1"));
  EXPECT_EQ(findCondition(status.conditions, "Degraded")->status, "True");
}

struct EchoCase {
  std::string name;
  /// Turns the echo of our write into the update the informer delivers.
  std::function<void(ClusterTopology&)> change;
  bool ours;
};
void PrintTo(const EchoCase& row, std::ostream* out) { *out << row.name; }

class TopologyReconcilerEcho : public TopologyReconcilerTest,
                               public testing::WithParamInterface<EchoCase> {};

TEST_P(TopologyReconcilerEcho, SkipsOnlyItsOwnStatusComingBack) {
  const ClusterTopology before = stored();
  ASSERT_TRUE(reconciler_.reconcile(before));
  ClusterTopology echo = stored();
  // The watch event may carry a resourceVersion the PATCH response has not told us yet.
  echo.resourceVersion = "echo-" + echo.resourceVersion;

  GetParam().change(echo);

  EXPECT_EQ(reconciler_.isOwnWrite(before, echo), GetParam().ours);
}

INSTANTIATE_TEST_SUITE_P(
    Table, TopologyReconcilerEcho,
    testing::Values(
        EchoCase{"OurStatusOnly", [](ClusterTopology&) {}, true},
        EchoCase{"AnotherStatus", [](ClusterTopology& t) { t.status.memberCount = 7; }, false},
        EchoCase{"ASpecEdit", [](ClusterTopology& t) { t.spec["nodeBasename"] = "x"; }, false},
        EchoCase{"ANewGeneration", [](ClusterTopology& t) { ++t.generation; }, false},
        EchoCase{"ARecreatedObject", [](ClusterTopology& t) { t.uid = "other"; }, false}),
    [](const testing::TestParamInfo<EchoCase>& info) { return info.param.name; });

TEST_F(TopologyReconcilerTest, NothingIsOursAfterAFailedWrite) {
  const ClusterTopology before = stored();
  api_.failNext("mergePatch", Error{Error::Code::Unavailable, "injected"});
  ASSERT_FALSE(reconciler_.reconcile(before));
  ClusterTopology other = before;
  other.resourceVersion = "later";
  other.status.memberCount = 2;

  EXPECT_FALSE(reconciler_.isOwnWrite(before, other));
}

nlohmann::json endpointSlice(const std::string& name, const std::string& namespaceName,
                             const std::string& service, const std::string& address) {
  return {{"metadata",
           {{"name", name},
            {"namespace", namespaceName},
            {"resourceVersion", "1"},
            {"labels", {{kServiceNameLabel, service}}}}},
          {"addressType", "IPv4"},
          {"endpoints", {{{"addresses", {address}}, {"conditions", {{"ready", true}}}}}}};
}

TEST_F(TopologyReconcilerTest, ReadsTheSlicesOfItsServiceThroughTheIndex) {
  ObjectStore<nlohmann::json> slices{
      [](const nlohmann::json& o) -> std::optional<nlohmann::json> { return o; }};
  slices.addIndex(TopologyReconciler::kServiceIndex, TopologyReconciler::serviceIndexValues);
  slices.apply({WatchEvent::Type::InitStarted, {}});
  slices.apply({WatchEvent::Type::InitApplied, endpointSlice("web-a", "prod", "web", "10.0.1.1")});
  slices.apply({WatchEvent::Type::InitApplied, endpointSlice("web-b", "prod", "web", "10.0.1.2")});
  slices.apply({WatchEvent::Type::InitApplied, endpointSlice("db-a", "prod", "db", "10.0.2.1")});
  slices.apply({WatchEvent::Type::InitApplied, endpointSlice("web-x", "other", "web", "10.0.3.1")});
  slices.apply({WatchEvent::Type::InitDone, {}});
  TopologyReconciler reconciler{api_,    pods_,  &slices,  index_, external_,
                                events_, clock_, metrics_, {}};
  topology_.spec = nlohmann::json::parse(
      R"({"nodeBasename": "web", "sources": [{"kubernetes": {"selector": {}, "resource": "endpointSlices", "serviceName": "web"}}]})");

  ASSERT_TRUE(reconciler.reconcile(topology_));

  EXPECT_EQ(memberNodes(), (std::set<std::string>{"web@10.0.1.1", "web@10.0.1.2"}));
  EXPECT_EQ(TopologyReconciler::serviceIndexValues(endpointSlice("s", "prod", "web", "10.0.0.1")),
            std::vector<std::string>{"prod/web"});
  EXPECT_TRUE(TopologyReconciler::serviceIndexValues({{"metadata", {{"name", "s"}}}}).empty());
}

} // namespace
} // namespace libcluster
