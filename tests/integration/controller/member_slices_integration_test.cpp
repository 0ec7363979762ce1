// The membership channel end to end (docs/membership-channel.md), in-process against the test API
// server over TLS: libcluster-controller writes ClusterTopologyMemberSlices for 250 pods, one pod
// flip rewrites exactly one slice (counted in the server's request log), and the agent's
// ClusterTopologyStrategy, with its own client, follows the slices; kubectl reads them.
#include "controller/controller_app.h"
#include "controller/member_slices.h"

#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "informer/object_store.h"
#include "strategy/cluster_topology_strategy.h"
#include "support/controller_fixture.h"
#include "support/eventually.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const ResourcePath kPods{.resource = "pods", .namespaceName = "default"};
const ResourcePath kTopologies = clusterTopologies("default");
const ResourcePath kSlices{"libcluster.dev", "v1alpha1", "clustertopologymemberslices", "default",
                           "", ""};
constexpr const char* kControllerAgent = "libcluster-controller";

std::string ipOf(int i) { return "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1); }

class MemberSlicesIntegrationTest : public ControllerFixture {
protected:
  MemberSlicesIntegrationTest() : ControllerFixture(/*serverHistory=*/5000) {}

  void SetUp() override {
    ControllerFixture::SetUp();
    agentApi_ = makeApi("libcluster-agent");
  }

  void runController() { controller_ = &startController({}, "", kControllerAgent); }

  void applyTopology(const std::string& name = "web") {
    kubectlApply(R"(apiVersion: libcluster.dev/v1alpha1
kind: ClusterTopology
metadata: {name: )" +
                 name + R"(, namespace: default}
spec:
  nodeBasename: app
  sources:
    - kubernetes: {selector: {matchLabels: {app: )" +
                 name + R"(}}, readiness: ReadyOnly}
)");
  }

  void setPod(const std::string& name, const std::string& ip, bool ready) {
    ResourcePath status = kPods.object(name);
    status.subresource = "status";
    json body{{"phase", "Running"},
              {"podIP", ip},
              {"podIPs", {{{"ip", ip}}}},
              {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}};
    Result<json> patched = api_->mergePatch(status, {{"status", body}});
    ASSERT_TRUE(patched) << patched.error().message;
  }

  void createPods(int count, const std::string& app = "web") {
    for (int i = 0; i < count; ++i) {
      const std::string name = app + "-" + std::to_string(i);
      ASSERT_TRUE(api_->create(kPods, {{"apiVersion", "v1"},
                                       {"kind", "Pod"},
                                       {"metadata", {{"name", name}, {"labels", {{"app", app}}}}},
                                       {"spec", {{"containers", {{{"name", "a"}, {"image", "x"}}}}}}}));
      setPod(name, ipOf(i), true);
    }
  }

  json status(const std::string& name = "web") {
    Result<json> object = api_->get(kTopologies.object(name));
    return object && object->contains("status") ? (*object)["status"] : json::object();
  }

  std::vector<json> slices(const std::string& topology = "web") {
    Result<json> list =
        api_->list(kSlices, ListOptions{.labelSelector = "libcluster.dev/topology=" + topology});
    std::vector<json> out;
    if (list) {
      for (const json& item : (*list)["items"]) {
        out.push_back(item);
      }
    }
    return out;
  }

  std::set<std::string> sliceNodes(const std::vector<json>& list) {
    std::set<std::string> nodes;
    for (const json& slice : list) {
      for (const json& member : slice["members"]) {
        nodes.insert(member.value("node", ""));
      }
    }
    return nodes;
  }

  /// The controller's slice writes so far, by HTTP method.
  std::map<std::string, int> sliceWrites() {
    std::map<std::string, int> writes;
    for (const json& request : requestsFrom(kControllerAgent)) {
      const std::string method = request.value("method", "");
      if (request.value("path", "").find("/clustertopologymemberslices") != std::string::npos &&
          method != "GET") {
        ++writes[method];
      }
    }
    return writes;
  }

  std::unique_ptr<ClusterTopologyStrategy> follow(const std::string& name = "web") {
    auto strategy = ClusterTopologyStrategy::create({.namespaceName = "default", .name = name},
                                                    *agentApi_, clock_);
    EXPECT_TRUE(strategy) << strategy.error().message;
    return strategy ? std::move(*strategy) : nullptr;
  }

  std::unique_ptr<HttpKubeApi> agentApi_;
  ControllerApp* controller_ = nullptr;
};

TEST_F(MemberSlicesIntegrationTest, TwoHundredFiftyPodsThreeSlicesAndOneFlipRewritesOneSlice) {
  applyTopology();
  createPods(250);
  runController();

  ASSERT_TRUE(eventually([&] { return status().value("memberSliceCount", 0) == 3; }, 60s))
      << status().dump();
  const json summary = status();
  EXPECT_EQ(summary.value("memberCount", 0), 250);
  EXPECT_EQ(summary["members"].size(), 100u);
  EXPECT_TRUE(summary.value("membersTruncated", false));
  std::vector<json> before = slices();
  ASSERT_EQ(before.size(), 3u);
  std::multiset<std::size_t> sizes;
  for (const json& slice : before) {
    sizes.insert(slice["members"].size());
    EXPECT_EQ(slice["metadata"]["ownerReferences"][0].value("name", ""), "web");
  }
  EXPECT_EQ(sizes, (std::multiset<std::size_t>{50, 100, 100}));
  ASSERT_EQ(sliceNodes(before).size(), 250u);

  // The agent's view: every member, though status lists 100.
  auto agent = follow();
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->waitUntilReady({}, 30s));
  ASSERT_TRUE(eventually([&] { return agent->followsSlices(); }, 30s));
  Result<PeerSet> all = agent->discoverPeers({});
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->size(), 250u);
  EXPECT_TRUE(agent->prunes());

  // One pod turns unready, so leaves (ReadyOnly): one slice rewritten, nothing created or deleted.
  const auto writesBefore = sliceWrites();
  const std::uint64_t apiWritesBefore = controller_->memberSliceWrites();
  setPod("web-17", ipOf(17), false);
  ASSERT_TRUE(eventually([&] { return status().value("memberCount", 0) == 249; }, 30s));
  ASSERT_TRUE(eventually([&] {
    Result<PeerSet> now = agent->discoverPeers({});
    return now && now->size() == 249 && !now->contains("app@" + ipOf(17));
  }, 30s));
  // The server logs a request once answered: let the log catch up with the controller's count.
  ASSERT_TRUE(eventually([&] {
    int total = 0;
    for (const auto& [method, count] : sliceWrites()) {
      total += count;
    }
    int totalBefore = 0;
    for (const auto& [method, count] : writesBefore) {
      totalBefore += count;
    }
    return total - totalBefore >= 1;
  }));
  std::map<std::string, int> writesAfter = sliceWrites();
  std::map<std::string, int> previous = writesBefore;
  EXPECT_EQ(writesAfter["PUT"] - previous["PUT"], 1);
  EXPECT_EQ(writesAfter["POST"] - previous["POST"], 0);
  EXPECT_EQ(writesAfter["DELETE"] - previous["DELETE"], 0);
  EXPECT_EQ(controller_->memberSliceWrites() - apiWritesBefore, 1u);
  EXPECT_EQ(sliceNodes(slices()).size(), 249u);

  // kubectl reads them (the CRD's printer columns).
  const auto listed = server_.kubectl("get ctopms -l libcluster.dev/topology=web");
  EXPECT_EQ(listed.exitCode, 0) << listed.output;
  EXPECT_NE(listed.output.find("TOPOLOGY"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find(" 100 "), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find(" 99 "), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("web-0   web "), std::string::npos) << listed.output;
  const auto wide = server_.kubectl("get ctop web -o wide");
  EXPECT_EQ(wide.exitCode, 0) << wide.output;
  EXPECT_NE(wide.output.find("SLICES"), std::string::npos) << wide.output;
}

TEST_F(MemberSlicesIntegrationTest, WhileSlicesAreRewrittenTheAgentNeverSeesTheMembershipShrink) {
  applyTopology();
  createPods(120);
  runController();
  ASSERT_TRUE(eventually([&] { return status().value("memberSliceCount", 0) == 2; }, 60s));
  auto agent = follow();
  ASSERT_TRUE(agent && agent->waitUntilReady({}, 30s));
  ASSERT_TRUE(eventually([&] { return agent->followsSlices(); }, 30s));

  // Only joins from here on, in bursts the controller coalesces (new slices, fills): every answer
  // must hold every member of the answer before it.
  std::atomic<bool> done{false};
  std::vector<std::string> problems;
  std::size_t answers = 0;
  std::jthread observer([&] {
    PeerSet last;
    while (!done) {
      Result<PeerSet> now = agent->discoverPeers({});
      if (!now) {
        problems.push_back("an error: " + now.error().message);
      } else {
        ++answers;
        for (const NodeName& node : last) {
          if (!now->contains(node)) {
            problems.push_back("lost " + node + " at " + std::to_string(now->size()));
          }
        }
        last = *now;
      }
      std::this_thread::sleep_for(2ms);
    }
  });
  for (int i = 120; i < 330; ++i) {
    const std::string name = "web-" + std::to_string(i);
    ASSERT_TRUE(api_->create(kPods, {{"apiVersion", "v1"},
                                     {"kind", "Pod"},
                                     {"metadata", {{"name", name}, {"labels", {{"app", "web"}}}}},
                                     {"spec", {{"containers", {{{"name", "a"}, {"image", "x"}}}}}}}));
    setPod(name, ipOf(i), true);
  }
  ASSERT_TRUE(eventually([&] {
    Result<PeerSet> now = agent->discoverPeers({});
    return now && now->size() == 330;
  }, 60s));
  done = true;
  observer.join();

  EXPECT_TRUE(problems.empty()) << problems.size() << " problems, first: " << problems.front();
  EXPECT_GT(answers, 10u);
  EXPECT_EQ(status().value("memberSliceCount", 0), 4);
}

TEST_F(MemberSlicesIntegrationTest, AnEditedSliceIsRepairedAndADeletedTopologysSlicesGo) {
  applyTopology();
  createPods(3);
  runController();
  ASSERT_TRUE(eventually([&] { return status().value("memberSliceCount", 0) == 1; }, 60s));
  std::vector<json> current = slices();
  ASSERT_EQ(current.size(), 1u);

  // Someone who may write slices adds a node of theirs: the controller takes it out again.
  json forged = current[0];
  forged["members"].push_back({{"node", "evil@10.6.6.6"}, {"ready", true}});
  forged["memberCount"] = forged["members"].size();
  ASSERT_TRUE(api_->replace(kSlices.object(forged["metadata"]["name"].get<std::string>()), forged));
  ASSERT_TRUE(eventually([&] {
    const std::vector<json> now = slices();
    return now.size() == 1 && sliceNodes(now).size() == 3 && !sliceNodes(now).contains("evil@10.6.6.6");
  })) << slices()[0].dump();

  ASSERT_TRUE(api_->remove(kTopologies.object("web")));
  EXPECT_TRUE(eventually([&] { return slices().empty(); })) << slices().size();
}

// A writer with a stale view (a deposed leader, or a cache behind a rewrite) must not delete a
// slice someone rewrote since: the DELETE carries the resourceVersion it planned against.
TEST_F(MemberSlicesIntegrationTest, ADeleteOnAStaleViewConflictsAndTheRewrittenSliceSurvives) {
  applyTopology();
  const Result<json> topology = api_->get(kTopologies.object("web"));
  ASSERT_TRUE(topology) << topology.error().message;
  const SliceOwner owner{.namespaceName = "default",
                         .name = "web",
                         .uid = (*topology)["metadata"].value("uid", ""),
                         .generation = 1};
  ObjectStore<MemberSlice> cache([](const json& object) { return memberSliceFromJson(object); });
  (void)cache.apply(WatchEvent{WatchEvent::Type::InitStarted, {}});
  (void)cache.apply(WatchEvent{WatchEvent::Type::InitDone, {}});
  std::unique_ptr<HttpKubeApi> writerApi = makeApi(kControllerAgent);
  MemberSlices writer(*writerApi, cache, {});
  const Result<std::optional<int>> created = writer.sync(
      owner, {SliceMember{.node = "app@10.0.0.1"}, SliceMember{.node = "app@10.0.0.2"}});
  ASSERT_TRUE(created) << created.error().message;
  ASSERT_EQ(slices().size(), 1u);
  // Someone else rewrites the slice; this writer's view (its cache never saw it) is now stale.
  json rewritten = slices()[0];
  rewritten["members"] = json::array({{{"node", "app@10.0.0.9"}, {"ready", true}}});
  rewritten["memberCount"] = 1;
  const std::string name = rewritten["metadata"]["name"];
  ASSERT_TRUE(api_->replace(kSlices.object(name), rewritten));

  const Result<std::optional<int>> emptied = writer.sync(owner, std::vector<SliceMember>{});

  ASSERT_FALSE(emptied) << "the stale delete went through";
  EXPECT_EQ(emptied.error().code, Error::Code::Conflict) << emptied.error().message;
  const Result<json> survivor = api_->get(kSlices.object(name));
  ASSERT_TRUE(survivor) << "the rewritten slice was deleted on a stale view";
  EXPECT_EQ(sliceNodes({*survivor}), std::set<std::string>{"app@10.0.0.9"});

  // Once the view catches up with the rewrite, the same sync deletes it.
  (void)cache.apply(WatchEvent{WatchEvent::Type::Applied, *survivor});
  const Result<std::optional<int>> caughtUp = writer.sync(owner, std::vector<SliceMember>{});
  ASSERT_TRUE(caughtUp) << caughtUp.error().message;
  EXPECT_TRUE(slices().empty());
}

TEST_F(MemberSlicesIntegrationTest, WithoutTheSliceCrdStatusStillListsMembersAndAgentsUseIt) {
  const auto removed =
      server_.kubectl("delete crd clustertopologymemberslices.libcluster.dev");
  ASSERT_EQ(removed.exitCode, 0) << removed.output;
  applyTopology();
  createPods(3);
  runController();

  ASSERT_TRUE(eventually([&] { return status().value("memberCount", 0) == 3; }, 60s));
  auto agent = follow();
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->waitUntilReady({}, 30s));
  Result<PeerSet> peers = agent->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(peers->size(), 3u);
  EXPECT_FALSE(agent->followsSlices());
}

} // namespace
} // namespace libcluster
