#include "strategy/cluster_topology_strategy.h"

#include <gtest/gtest.h>

#include "fakes/builders.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_kube_api.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const ResourcePath kTopologies{.group = "libcluster.dev",
                               .version = "v1alpha1",
                               .resource = "clustertopologies",
                               .namespaceName = "prod"};

json topology(const std::string& name, const std::vector<std::string>& members,
              const std::string& seed = "", const std::string& onRemoval = "Disconnect") {
  json object{
      {"apiVersion", "libcluster.dev/v1alpha1"},
      {"kind", "ClusterTopology"},
      {"metadata", {{"name", name}, {"namespace", "prod"}}},
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

class ClusterTopologyStrategyTest : public testing::Test {
protected:
  std::unique_ptr<ClusterTopologyStrategy> start(const std::string& name = "web") {
    auto strategy =
        ClusterTopologyStrategy::create({.namespaceName = "prod", .name = name}, api_, clock_);
    EXPECT_TRUE(strategy) << strategy.error().message;
    EXPECT_TRUE(api_.waitUntilIdle());
    return std::move(*strategy);
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

TEST_F(ClusterTopologyStrategyTest, WatchesOnlyItsOwnObjectInItsNamespace) {
  api_.put(kTopologies, topology("other", {"app@10.9.9.9"}));
  api_.put(kTopologies, topology("web", {"app@10.0.0.1"}));

  auto strategy = start();

  EXPECT_EQ(*strategy->discoverPeers({}), PeerSet{"app@10.0.0.1"});
  ASSERT_FALSE(api_.listCalls().empty());
  EXPECT_EQ(api_.listCalls()[0].fieldSelector, "metadata.name=web");
  ASSERT_FALSE(api_.watchCalls().empty());
  EXPECT_EQ(api_.watchCalls()[0].fieldSelector, "metadata.name=web");
  EXPECT_EQ(api_.calls()[0].path.url(),
            "/apis/libcluster.dev/v1alpha1/namespaces/prod/clustertopologies");
}

TEST_F(ClusterTopologyStrategyTest, UnknownUntilTheStatusArrives) {
  api_.put(kTopologies, topology("web", {}));
  auto strategy = start();

  const auto before = strategy->discoverPeers({});
  api_.scriptWatch({modified(topology("web", {"app@10.0.0.1"}))});
  ASSERT_TRUE(api_.waitUntilIdle());
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
  api_.scriptWatch({added(topology("web", {"app@10.0.0.1"}))});
  ASSERT_TRUE(api_.waitUntilIdle());
  ASSERT_TRUE(strategy->discoverPeers({}));
  api_.scriptWatch({deleted(topology("web", {"app@10.0.0.1"}))});
  ASSERT_TRUE(api_.waitUntilIdle());

  const auto deletedNow = strategy->discoverPeers({});

  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Error::Code::NotFound);
  ASSERT_FALSE(deletedNow);
  EXPECT_EQ(deletedNow.error().code, Error::Code::NotFound);
  EXPECT_FALSE(strategy->seed());
}

TEST_F(ClusterTopologyStrategyTest, StatusChangeEndsTheWaitAtOnce) {
  api_.put(kTopologies, topology("web", {"app@10.0.0.1"}));
  auto strategy = start();
  ASSERT_TRUE(strategy->discoverPeers({}));
  api_.scriptWatch({modified(topology("web", {"app@10.0.0.1", "app@10.0.0.2"}))});
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
  api_.put(kTopologies, topology("web", {"app@10.0.0.1"}));
  auto strategy = start();
  ASSERT_TRUE(strategy->discoverPeers({}));
  json relabelled = topology("web", {"app@10.0.0.1"});
  relabelled["metadata"]["labels"] = {{"team", "x"}};
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

} // namespace
} // namespace libcluster
