#include "strategy/cluster_topology_strategy.h"

#include <gtest/gtest.h>

#include "fakes/builders.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_kube_api.h"
#include "support/resource_paths.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const ResourcePath kTopologies = clusterTopologies("prod");
const ResourcePath kSlices = clusterTopologyMemberSlices("prod");

json topology(const std::string& name, const std::vector<std::string>& members,
              const std::string& seed = "", const std::string& onRemoval = "Disconnect") {
  json object{
      {"apiVersion", "libcluster.dev/v1alpha1"},
      {"kind", "ClusterTopology"},
      {"metadata", {{"name", name}, {"namespace", "prod"}, {"uid", "uid-" + name},
                    {"generation", 1}}},
      {"spec",
       {{"nodeBasename", "app"},
        {"sources", {{{"epmd", {{"nodes", {"app@10.0.0.1"}}}}}}},
        {"onRemoval", onRemoval},
        {"reconnectIntervalSeconds", 7},
        {"connect", {{"module", "my_conn"}, {"function", "connect"}, {"args", {"fast"}}}}}}};
  if (!members.empty() || !seed.empty()) {
    json status{{"observedGeneration", 1}, {"memberCount", members.size()}, {"seed", seed}};
    status["members"] = json::array();
    for (const std::string& node : members) {
      status["members"].push_back({{"node", node}, {"source", "epmd"}, {"ready", true}});
    }
    object["status"] = status;
  }
  return object;
}

/// A topology whose status counts `slices` member slices and lists `listed` (at most 100).
json slicedTopology(int slices, const std::vector<std::string>& listed = {},
                    std::int64_t generation = 1) {
  json object = topology("web", listed.empty() ? std::vector<std::string>{"app@10.9.9.9"} : listed);
  object["metadata"]["generation"] = generation;
  object["status"]["memberSliceCount"] = slices;
  object["status"]["membersTruncated"] = true;
  return object;
}

json memberSlice(const std::string& name, const std::vector<std::string>& nodes,
                 const std::string& seed = "", std::int64_t generation = 1,
                 const std::string& ownerUid = "uid-web", const std::string& rv = "") {
  json members = json::array();
  for (const std::string& node : nodes) {
    json entry{{"node", node}, {"ready", true}};
    if (node == seed) {
      entry["seed"] = true;
    }
    members.push_back(entry);
  }
  json object{{"apiVersion", "libcluster.dev/v1alpha1"},
              {"kind", "ClusterTopologyMemberSlice"},
              {"metadata",
               {{"name", name},
                {"namespace", "prod"},
                {"labels", {{"libcluster.dev/topology", "web"}}},
                {"ownerReferences",
                 {{{"apiVersion", "libcluster.dev/v1alpha1"},
                   {"kind", "ClusterTopology"},
                   {"name", "web"},
                   {"uid", ownerUid},
                   {"controller", true}}}}}},
              {"topologyGeneration", generation},
              {"members", members}};
  if (!rv.empty()) {
    object["metadata"]["resourceVersion"] = rv;
  }
  return object;
}

std::vector<std::string> nodes(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) {
    out.push_back("app@10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  }
  return out;
}

PeerSet peers(int from, int to) {
  const std::vector<std::string> list = nodes(from, to);
  return PeerSet(list.begin(), list.end());
}

class ClusterTopologyStrategyTest : public testing::Test {
protected:
  std::unique_ptr<ClusterTopologyStrategy> start(const std::string& name = "web") {
    auto strategy =
        ClusterTopologyStrategy::create({.namespaceName = "prod", .name = name}, api_, clock_);
    EXPECT_TRUE(strategy) << strategy.error().message;
    EXPECT_TRUE(api_.waitUntilIdle());
    (void)(*strategy)->waitUntilReady({}, 1s);
    return std::move(*strategy);
  }

  std::size_t topologyGets() const {
    return api_.countCalls([](const FakeKubeApi::Call& call) {
      return call.verb == "get" && call.path.resource == "clustertopologies";
    });
  }

  FakeKubeApi api_;
  FakeClock clock_;
};

TEST_F(ClusterTopologyStrategyTest, MembersOfTheStatusAreTheDesiredPeers) {
  api_.put(kTopologies, topology("web", {"app@10.0.0.1", "app@10.0.0.2"}, "app@10.0.0.1"));

  auto strategy = start();
  const auto peers = strategy->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, (PeerSet{"app@10.0.0.1", "app@10.0.0.2"}));
  EXPECT_EQ(strategy->seed(), "app@10.0.0.1");
  EXPECT_TRUE(strategy->prunes());
}

TEST_F(ClusterTopologyStrategyTest, ReadsItsOwnObjectAndWatchesOnlyItsSlices) {
  api_.put(kTopologies, topology("other", {"app@10.9.9.9"}));
  api_.put(kTopologies, topology("web", {"app@10.0.0.1"}));

  auto strategy = start();

  EXPECT_EQ(*strategy->discoverPeers({}), PeerSet{"app@10.0.0.1"});
  ASSERT_FALSE(api_.listCalls().empty());
  EXPECT_EQ(api_.listCalls()[0].labelSelector, "libcluster.dev/topology=web");
  ASSERT_FALSE(api_.watchCalls().empty());
  EXPECT_EQ(api_.watchCalls()[0].labelSelector, "libcluster.dev/topology=web");
  for (const FakeKubeApi::Call& call : api_.calls()) {
    EXPECT_NE(call.verb == "watch" || call.verb == "list", call.path.resource == "clustertopologies")
        << call.verb << " " << call.path.url();
    if (call.verb == "get") {
      EXPECT_EQ(call.path.url(), "/apis/libcluster.dev/v1alpha1/namespaces/prod/clustertopologies/web");
    }
  }
}

TEST_F(ClusterTopologyStrategyTest, UnknownUntilTheStatusArrives) {
  api_.put(kTopologies, topology("web", {}));
  auto strategy = start();

  const auto before = strategy->discoverPeers({});
  api_.put(kTopologies, topology("web", {"app@10.0.0.1"}));
  const auto after = strategy->discoverPeers({});

  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().code, Error::Code::Unavailable);
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, PeerSet{"app@10.0.0.1"});
}

TEST_F(ClusterTopologyStrategyTest, AnEmptyMemberListIsNoPeers) {
  json empty = topology("web", {});
  empty["status"] = {{"observedGeneration", 1}, {"members", json::array()}};
  api_.put(kTopologies, empty);

  auto strategy = start();
  const auto peers = strategy->discoverPeers({});

  ASSERT_TRUE(peers);
  EXPECT_TRUE(peers->empty());
}

TEST_F(ClusterTopologyStrategyTest, MissingOrDeletedTopologyIsAnErrorNotEmpty) {
  auto strategy = start();
  const auto missing = strategy->discoverPeers({});
  api_.put(kTopologies, topology("web", {"app@10.0.0.1"}));
  ASSERT_TRUE(strategy->discoverPeers({}));
  api_.erase(kTopologies.object("web"));

  const auto deletedNow = strategy->discoverPeers({});

  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Error::Code::NotFound);
  ASSERT_FALSE(deletedNow);
  EXPECT_EQ(deletedNow.error().code, Error::Code::NotFound);
  EXPECT_FALSE(strategy->seed());
}

TEST_F(ClusterTopologyStrategyTest, ASliceChangeEndsTheWaitAtOnce) {
  api_.put(kTopologies, slicedTopology(1));
  api_.put(kSlices, memberSlice("web-0", {"app@10.0.0.1"}));
  auto strategy = start();
  ASSERT_TRUE(strategy->discoverPeers({}));
  api_.scriptWatch({modified(memberSlice("web-0", {"app@10.0.0.1", "app@10.0.0.2"}))});
  ASSERT_TRUE(api_.waitUntilIdle());

  const bool running = strategy->waitForChange(clock_.now() + 5s, {}, clock_);

  EXPECT_TRUE(running);
  EXPECT_TRUE(clock_.sleeps().empty()); // did not wait for the poll interval
  EXPECT_EQ(*strategy->discoverPeers({}), (PeerSet{"app@10.0.0.1", "app@10.0.0.2"}));
}

TEST_F(ClusterTopologyStrategyTest, WithoutNewsTheWaitLastsUntilTheDeadline) {
  api_.put(kTopologies, topology("web", {"app@10.0.0.1"}));
  auto strategy = start();
  ASSERT_TRUE(strategy->discoverPeers({}));

  const bool running = strategy->waitForChange(clock_.now() + 5s, {}, clock_);

  EXPECT_TRUE(running);
  EXPECT_EQ(clock_.sleeps(), std::vector<std::chrono::milliseconds>{5000ms});
}

TEST_F(ClusterTopologyStrategyTest, MetadataOnlyChangesAreNotNews) {
  api_.put(kTopologies, slicedTopology(1));
  api_.put(kSlices, memberSlice("web-0", {"app@10.0.0.1"}));
  auto strategy = start();
  ASSERT_TRUE(strategy->discoverPeers({}));
  json relabelled = memberSlice("web-0", {"app@10.0.0.1"});
  relabelled["metadata"]["annotations"] = {{"team", "x"}};
  relabelled["metadata"]["resourceVersion"] = "99";
  api_.scriptWatch({modified(relabelled)});
  ASSERT_TRUE(api_.waitUntilIdle());

  (void)strategy->waitForChange(clock_.now() + 5s, {}, clock_);

  EXPECT_EQ(clock_.sleeps().size(), 1U);
}

TEST_F(ClusterTopologyStrategyTest, StopEndsTheWait) {
  api_.put(kTopologies, topology("web", {"app@10.0.0.1"}));
  auto strategy = start();
  ASSERT_TRUE(strategy->discoverPeers({}));
  std::stop_source stop;
  stop.request_stop();

  EXPECT_FALSE(strategy->waitForChange(clock_.now() + 5s, stop.get_token(), clock_));
}

TEST_F(ClusterTopologyStrategyTest, ExposesTheSpecForTheAgent) {
  api_.put(kTopologies, topology("web", {"app@10.0.0.1"}));
  auto strategy = start();

  const std::optional<TopologySettings> settings = strategy->settings();

  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->connect, (Mfa{"my_conn", "connect", {"fast"}}));
  EXPECT_FALSE(settings->disconnect);
  EXPECT_EQ(settings->reconnectInterval, 7s);
  EXPECT_TRUE(settings->disconnectOnRemoval);
}

TEST_F(ClusterTopologyStrategyTest, ReadsOddStatusLeniently) {
  json odd = topology("web", {});
  odd["status"] = {{"members", {{{"node", "app@10.0.0.1"}}, {{"node", 5}}, "x", {{"pod", "p"}}}},
                   {"seed", 7},
                   {"membersTruncated", "yes"}};
  odd["spec"]["connect"] = {{"module", 1}};
  odd["spec"]["reconnectIntervalSeconds"] = -3;
  api_.put(kTopologies, odd);

  auto strategy = start();

  EXPECT_EQ(*strategy->discoverPeers({}), PeerSet{"app@10.0.0.1"});
  EXPECT_FALSE(strategy->seed());
  EXPECT_TRUE(strategy->prunes());
  EXPECT_FALSE(strategy->settings()->connect);
  EXPECT_EQ(strategy->settings()->reconnectInterval, 5s);
}

TEST_F(ClusterTopologyStrategyTest, OnRemovalIgnoreDoesNotPrune) {
  api_.put(kTopologies, topology("web", {"app@10.0.0.1"}, "", "Ignore"));

  auto strategy = start();

  EXPECT_FALSE(strategy->prunes());
}

TEST_F(ClusterTopologyStrategyTest, TruncatedMemberListDoesNotPrune) {
  json truncated = topology("web", {"app@10.0.0.1"});
  truncated["status"]["membersTruncated"] = true;
  api_.put(kTopologies, truncated);

  auto strategy = start();

  EXPECT_FALSE(strategy->prunes());
}

TEST_F(ClusterTopologyStrategyTest, WaitsUntilReady) {
  api_.put(kTopologies, topology("web", {"app@10.0.0.1"}));

  auto strategy = start();

  EXPECT_TRUE(strategy->waitUntilReady({}, 1s));
}

TEST_F(ClusterTopologyStrategyTest, RejectsNamesThatCannotBeObjects) {
  EXPECT_FALSE(ClusterTopologyStrategy::create({.namespaceName = "", .name = "web"}, api_, clock_));
  EXPECT_FALSE(
      ClusterTopologyStrategy::create({.namespaceName = "prod", .name = ""}, api_, clock_));
  EXPECT_FALSE(
      ClusterTopologyStrategy::create({.namespaceName = "prod", .name = "Web_1"}, api_, clock_));
}

TEST_F(ClusterTopologyStrategyTest, FollowsTheUnionOfItsSlicesBeyondWhatStatusLists) {
  api_.put(kTopologies, slicedTopology(30, nodes(0, 100)));
  for (int i = 0; i < 30; ++i) {
    api_.put(kSlices, memberSlice("web-" + std::to_string(i), nodes(i * 100, i * 100 + 100),
                                  i == 7 ? nodes(700, 701)[0] : ""));
  }

  auto strategy = start();
  const auto peers = strategy->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(peers->size(), 3000u);
  EXPECT_TRUE(strategy->followsSlices());
  EXPECT_TRUE(strategy->prunes()); // the whole membership, though status is truncated
  EXPECT_TRUE(strategy->listsSelf());
  EXPECT_EQ(strategy->seed(), nodes(700, 701)[0]);
}

TEST_F(ClusterTopologyStrategyTest, FollowingSlicesReadsTheTopologyOnlyAtStart) {
  api_.put(kTopologies, slicedTopology(1));
  api_.put(kSlices, memberSlice("web-0", {"app@10.0.0.1"}));
  auto strategy = start();
  const std::size_t gets = topologyGets();

  for (int i = 0; i < 5; ++i) {
    api_.scriptWatch({modified(memberSlice("web-0", nodes(0, i + 1)))});
    ASSERT_TRUE(api_.waitUntilIdle());
    ASSERT_TRUE(strategy->discoverPeers({}));
  }

  EXPECT_EQ(topologyGets(), gets);
  EXPECT_EQ(*strategy->discoverPeers({}), peers(0, 5));
}

TEST_F(ClusterTopologyStrategyTest, ASliceOfANewerGenerationRereadsTheSpec) {
  api_.put(kTopologies, slicedTopology(1));
  api_.put(kSlices, memberSlice("web-0", {"app@10.0.0.1"}));
  auto strategy = start();
  json changed = slicedTopology(1, {}, 2);
  changed["spec"]["connect"] = {{"module", "other"}, {"function", "connect"}};
  api_.put(kTopologies, changed);
  api_.scriptWatch({modified(memberSlice("web-0", {"app@10.0.0.1"}, "", 2))});
  ASSERT_TRUE(api_.waitUntilIdle());

  ASSERT_TRUE(strategy->discoverPeers({}));

  EXPECT_EQ(strategy->settings()->connect, (Mfa{"other", "connect", {}}));
}

TEST_F(ClusterTopologyStrategyTest, SlicesOfAnEarlierTopologyOfTheSameNameAreIgnored) {
  api_.put(kTopologies, slicedTopology(1));
  api_.put(kSlices, memberSlice("web-0", {"app@10.0.0.1"}));
  api_.put(kSlices, memberSlice("web-1", {"app@10.6.6.6"}, "", 1, "uid-old"));

  auto strategy = start();

  EXPECT_EQ(*strategy->discoverPeers({}), PeerSet{"app@10.0.0.1"});
}

TEST_F(ClusterTopologyStrategyTest, UntilEverySliceTheStatusCountsIsSeenTheStatusIsTheMembership) {
  // The controller writes slices one by one, then the status: a first slice of three must not
  // read as the whole membership.
  api_.put(kTopologies, topology("web", nodes(0, 250)));
  api_.put(kSlices, memberSlice("web-0", nodes(0, 100)));

  auto strategy = start();
  const auto partial = strategy->discoverPeers({});
  api_.put(kSlices, memberSlice("web-1", nodes(100, 200)));
  api_.put(kSlices, memberSlice("web-2", nodes(200, 250)));
  json counted = slicedTopology(3, nodes(0, 100));
  api_.put(kTopologies, counted);
  api_.scriptWatch({added(memberSlice("web-1", nodes(100, 200))),
                    added(memberSlice("web-2", nodes(200, 250)))});
  ASSERT_TRUE(api_.waitUntilIdle());
  const auto whole = strategy->discoverPeers({});
  const auto after = strategy->discoverPeers({});

  ASSERT_TRUE(partial);
  EXPECT_EQ(partial->size(), 250u);
  EXPECT_FALSE(strategy->followsSlices() && partial->size() < 250u);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->size(), 250u);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->size(), 250u);
  EXPECT_TRUE(strategy->followsSlices());
}

TEST_F(ClusterTopologyStrategyTest, AMemberMovingBetweenSlicesIsNeverMissing) {
  api_.put(kTopologies, slicedTopology(2));
  api_.put(kSlices, memberSlice("web-0", nodes(0, 10)));
  api_.put(kSlices, memberSlice("web-1", nodes(10, 20)));
  auto strategy = start();
  const PeerSet all = peers(0, 20);
  ASSERT_EQ(*strategy->discoverPeers({}), all);

  // A merge, as the controller writes it: the receiving slice first, then the delete.
  api_.scriptWatch({modified(memberSlice("web-1", nodes(0, 20)))});
  ASSERT_TRUE(api_.waitUntilIdle());
  const auto merged = strategy->discoverPeers({});
  api_.scriptWatch({deleted(memberSlice("web-0", nodes(0, 10)))});
  ASSERT_TRUE(api_.waitUntilIdle());
  const auto deletedOne = strategy->discoverPeers({});

  EXPECT_EQ(*merged, all);
  EXPECT_EQ(*deletedOne, all);
}

TEST_F(ClusterTopologyStrategyTest, SlicesGoingAwayWithTheirTopologyIsNotFoundNotAShrinkingList) {
  api_.put(kTopologies, slicedTopology(2));
  api_.put(kSlices, memberSlice("web-0", nodes(0, 10)));
  api_.put(kSlices, memberSlice("web-1", nodes(10, 20)));
  auto strategy = start();
  ASSERT_TRUE(strategy->discoverPeers({}));
  api_.erase(kTopologies.object("web"));
  api_.scriptWatch({deleted(memberSlice("web-0", nodes(0, 10)))});
  ASSERT_TRUE(api_.waitUntilIdle());

  const auto peers = strategy->discoverPeers({});

  ASSERT_FALSE(peers);
  EXPECT_EQ(peers.error().code, Error::Code::NotFound);
}

TEST_F(ClusterTopologyStrategyTest, ABrokenSliceWatchKeepsTheLastMembers) {
  api_.put(kTopologies, slicedTopology(1));
  api_.put(kSlices, memberSlice("web-0", nodes(0, 5)));
  auto strategy = start();
  ASSERT_TRUE(strategy->discoverPeers({}));
  api_.failNext("list", Error{Error::Code::Unavailable, "apiserver gone"});
  api_.failNext("list", Error{Error::Code::Forbidden, "no"});
  api_.scriptWatch({}, Error{Error::Code::Unavailable, "stream broke"});
  ASSERT_TRUE(api_.waitUntilIdle());

  const auto found = strategy->discoverPeers({});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(*found, peers(0, 5));
}

TEST_F(ClusterTopologyStrategyTest, ReadsOddSlicesLeniently) {
  api_.put(kTopologies, slicedTopology(1));
  json odd = memberSlice("web-0", {});
  odd["members"] = {{{"node", "app@10.0.0.1"}, {"seed", "yes"}}, {{"node", 5}}, "x", 7,
                    {{"node", "app@10.0.0.1"}}, {{"pod", "p"}}};
  odd["topologyGeneration"] = "lots";
  api_.put(kSlices, odd);

  auto strategy = start();

  EXPECT_EQ(*strategy->discoverPeers({}), PeerSet{"app@10.0.0.1"});
  EXPECT_FALSE(strategy->seed());
}

TEST_F(ClusterTopologyStrategyTest, ASliceClaimingAFutureGenerationCostsOneReadPerEvent) {
  api_.put(kTopologies, slicedTopology(1));
  api_.put(kSlices, memberSlice("web-0", {"app@10.0.0.1"}));
  auto strategy = start();
  const std::size_t gets = topologyGets();
  api_.scriptWatch({modified(memberSlice("web-0", {"app@10.0.0.1"}, "", 99))});
  ASSERT_TRUE(api_.waitUntilIdle());

  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(strategy->discoverPeers({}));
    (void)strategy->waitForChange(clock_.now() + 1s, {}, clock_);
  }

  EXPECT_EQ(topologyGets(), gets + 1);
}

} // namespace
} // namespace libcluster
