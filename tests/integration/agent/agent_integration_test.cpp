// The agent's strategies and reporter against real servers on loopback: ClusterTopologyStrategy
// and the pod reporter against the test API server over TLS (objects written with kubectl and the
// API), DnsStrategy and DnsSrvStrategy against dnsmasq.
#include <chrono>
#include <functional>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "agent/pod_reporter.h"
#include "dns/cares_resolver.h"
#include "dns/dnsmasq_server.h"
#include "kube/http_kube_api.h"
#include "kube/kube_config.h"
#include "membership/pod.h"
#include "strategy/cluster_topology_strategy.h"
#include "strategy/dns_strategy.h"
#include "support/cluster_topology_yaml.h"
#include "support/eventually.h"
#include "support/resource_paths.h"
#include "support/test_api_server.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const ResourcePath kTopologies = clusterTopologies("default");
const ResourcePath kPods{.resource = "pods", .namespaceName = "default"};

class AgentApiServerTest : public testing::Test {
protected:
  void SetUp() override {
    ASSERT_TRUE(server_.started()) << server_.error();
    const auto crd = server_.kubectl(std::string("apply -f ") + LIBCLUSTER_SOURCE_DIR +
                                     "/crds/clustertopologies.libcluster.dev.yaml");
    ASSERT_EQ(crd.exitCode, 0) << crd.output;
    Result<KubeConfig> config = loadKubeconfig(server_.kubeconfigPath());
    ASSERT_TRUE(config) << config.error().message;
    HttpKubeApi::Options options;
    options.userAgent = "libcluster-agent-test";
    Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(*config, options);
    ASSERT_TRUE(api) << api.error().message;
    api_ = std::move(*api);
  }

  void applyTopology(const std::string& name, const std::string& onRemoval = "Disconnect") {
    const auto applied = server_.kubectl(
        "apply -f -", clusterTopologyYaml(name, "  nodeBasename: app\n  onRemoval: " + onRemoval +
                                                    R"(
  reconnectIntervalSeconds: 3
  connect: {module: my_cluster, function: join, args: [fast]}
  sources:
    - epmd: {nodes: [app@10.0.0.1]}
)"));
    ASSERT_EQ(applied.exitCode, 0) << applied.output;
  }

  void writeStatus(const std::string& name, const std::vector<std::string>& members,
                   const std::string& seed = "") {
    json status{
        {"observedGeneration", 1}, {"memberCount", members.size()}, {"members", json::array()}};
    for (const std::string& node : members) {
      status["members"].push_back({{"node", node}, {"source", "epmd"}, {"ready", true}});
    }
    if (!seed.empty()) {
      status["seed"] = seed;
    }
    ResourcePath path = kTopologies.object(name);
    path.subresource = "status";
    Result<json> patched = api_->mergePatch(path, {{"status", status}});
    ASSERT_TRUE(patched) << patched.error().message;
  }

  std::unique_ptr<ClusterTopologyStrategy> follow(const std::string& name) {
    auto strategy =
        ClusterTopologyStrategy::create({.namespaceName = "default", .name = name}, *api_, clock_);
    EXPECT_TRUE(strategy) << strategy.error().message;
    return strategy ? std::move(*strategy) : nullptr;
  }

  TestApiServer server_{TestApiServer::Options{.bookmarkIntervalSeconds = 1}};
  std::unique_ptr<HttpKubeApi> api_;
  SystemClock clock_;
};

TEST_F(AgentApiServerTest, ClusterTopologyStrategyFollowsTheStatusAndItsSeed) {
  applyTopology("web");
  auto strategy = follow("web");
  ASSERT_TRUE(strategy);
  EXPECT_TRUE(eventually([&] { return strategy->settings().has_value(); }));
  const auto before = strategy->discoverPeers({});

  writeStatus("web", {"app@10.0.0.1", "app@10.0.0.2"}, "app@10.0.0.1");

  ASSERT_TRUE(strategy->waitUntilReady({}, 10s));
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().code, Error::Code::Unavailable);
  EXPECT_EQ(*strategy->discoverPeers({}), (PeerSet{"app@10.0.0.1", "app@10.0.0.2"}));
  EXPECT_EQ(strategy->seed(), "app@10.0.0.1");
  const auto settings = strategy->settings();
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->connect, (Mfa{"my_cluster", "join", {"fast"}}));
  EXPECT_EQ(settings->reconnectInterval, 3s);
}

// The topology's status is no longer watched (docs/membership-channel.md): its member slices are.
TEST_F(AgentApiServerTest, ClusterTopologySliceChangeWakesTheWaitAtOnce) {
  const auto crd = server_.kubectl(std::string("apply -f ") + LIBCLUSTER_SOURCE_DIR +
                                   "/crds/clustertopologymemberslices.libcluster.dev.yaml");
  ASSERT_EQ(crd.exitCode, 0) << crd.output;
  applyTopology("web");
  Result<json> object = api_->get(kTopologies.object("web"));
  ASSERT_TRUE(object) << object.error().message;
  const ResourcePath slices{.group = "libcluster.dev",
                            .version = "v1alpha1",
                            .resource = "clustertopologymemberslices",
                            .namespaceName = "default"};
  MemberSlice slice{.namespaceName = "default",
                    .name = "web-0",
                    .ownerName = "web",
                    .ownerUid = (*object)["metadata"].value("uid", ""),
                    .topologyGeneration = 1,
                    .members = {SliceMember{.node = "app@10.0.0.1"}}};
  Result<json> created = api_->create(slices, toJson(slice));
  ASSERT_TRUE(created) << created.error().message;
  writeStatus("web", {"app@10.0.0.1"});
  ResourcePath status = kTopologies.object("web");
  status.subresource = "status";
  ASSERT_TRUE(api_->mergePatch(status, {{"status", {{"memberSliceCount", 1}}}}));
  auto strategy = follow("web");
  ASSERT_TRUE(strategy && strategy->waitUntilReady({}, 10s));
  ASSERT_TRUE(eventually([&] { return strategy->followsSlices(); }));
  ASSERT_TRUE(strategy->discoverPeers({}));

  std::jthread writer([&] {
    std::this_thread::sleep_for(200ms);
    MemberSlice grown = slice;
    grown.resourceVersion = (*created)["metadata"].value("resourceVersion", "");
    grown.members.push_back(SliceMember{.node = "app@10.0.0.3"});
    EXPECT_TRUE(api_->replace(slices.object("web-0"), toJson(grown)));
  });
  const auto started = std::chrono::steady_clock::now();
  const bool running = strategy->waitForChange(clock_.now() + 30s, {}, clock_);
  const auto waited = std::chrono::steady_clock::now() - started;

  EXPECT_TRUE(running);
  EXPECT_LT(waited, 5s); // woken by the watch, not the 30 s deadline
  EXPECT_EQ(*strategy->discoverPeers({}), (PeerSet{"app@10.0.0.1", "app@10.0.0.3"}));
}

// The controller writes the slices, then the status that counts them; an agent waiting for its
// first members sees that status within moments of the slices, not at its next idle read (each
// second). Four rounds: a 1 s poll would be under 500 ms in all four 1 time in 16.
TEST_F(AgentApiServerTest, ClusterTopologyStatusRightAfterItsSlicesIsSeenAtOnce) {
  const auto crd = server_.kubectl(std::string("apply -f ") + LIBCLUSTER_SOURCE_DIR +
                                   "/crds/clustertopologymemberslices.libcluster.dev.yaml");
  ASSERT_EQ(crd.exitCode, 0) << crd.output;
  const ResourcePath slices{.group = "libcluster.dev",
                            .version = "v1alpha1",
                            .resource = "clustertopologymemberslices",
                            .namespaceName = "default"};
  for (int round = 0; round < 4; ++round) {
    const std::string name = "web" + std::to_string(round);
    applyTopology(name);
    Result<json> object = api_->get(kTopologies.object(name));
    ASSERT_TRUE(object) << object.error().message;
    auto strategy = follow(name);
    ASSERT_TRUE(strategy);
    std::optional<std::chrono::steady_clock::time_point> ready;
    std::jthread waiter([&] {
      if (strategy->waitUntilReady({}, 10s)) {
        ready = std::chrono::steady_clock::now();
      }
    });
    std::this_thread::sleep_for(300ms); // waiting, its first read done

    MemberSlice slice{.namespaceName = "default",
                      .name = name + "-0",
                      .ownerName = name,
                      .ownerUid = (*object)["metadata"].value("uid", ""),
                      .label = memberSliceLabelValue(name),
                      .topologyGeneration = 1,
                      .members = {SliceMember{.node = "app@10.0.0.1", .seed = true}}};
    ASSERT_TRUE(api_->create(slices, toJson(slice)));
    std::this_thread::sleep_for(30ms); // the controller's status write follows
    const auto published = std::chrono::steady_clock::now();
    ResourcePath status = kTopologies.object(name);
    status.subresource = "status";
    ASSERT_TRUE(api_->mergePatch(
        status, {{"status",
                  {{"memberCount", 1},
                   {"members", {{{"node", "app@10.0.0.1"}, {"source", "epmd"}, {"ready", true}}}},
                   {"memberSliceCount", 1}}}}));
    waiter.join();

    ASSERT_TRUE(ready) << "round " << round;
    EXPECT_LT(*ready - published, 500ms) << "round " << round;
    EXPECT_EQ(*strategy->discoverPeers({}), PeerSet{"app@10.0.0.1"});
  }
}

TEST_F(AgentApiServerTest, ClusterTopologyOnlyItsOwnObjectIsWatched) {
  applyTopology("web");
  applyTopology("other", "Ignore");
  writeStatus("web", {"app@10.0.0.1"});
  writeStatus("other", {"app@10.9.9.9"});
  server_.clearRequests();

  auto strategy = follow("web");

  ASSERT_TRUE(strategy && strategy->waitUntilReady({}, 10s));
  EXPECT_EQ(*strategy->discoverPeers({}), PeerSet{"app@10.0.0.1"});
  EXPECT_TRUE(strategy->prunes());
  // The server logs a request once it has answered it, so the log may trail the strategy.
  bool sawSelector = false;
  bool sawOther = false;
  EXPECT_TRUE(eventually([&] {
    for (const json& request : server_.requests()) {
      if (request.value("method", "") == "GET" &&
          request.value("path", "").find("clustertopologies") != std::string::npos) {
        sawSelector = true;
        // Its own object by GET (member slices carry the membership), or a name-selected list.
        sawOther = sawOther ||
                   (request.value("path", "").find("/clustertopologies/web") == std::string::npos &&
                    request.dump().find("metadata.name") == std::string::npos);
      }
    }
    return sawSelector;
  }));
  EXPECT_FALSE(sawOther) << "a request for clustertopologies without the name selector";
}

TEST_F(AgentApiServerTest, ClusterTopologyDeletedIsUnknownNotEmpty) {
  applyTopology("web");
  writeStatus("web", {"app@10.0.0.1"});
  auto strategy = follow("web");
  ASSERT_TRUE(strategy && strategy->waitUntilReady({}, 10s));

  const auto deleted = server_.kubectl("delete clustertopology web");
  ASSERT_EQ(deleted.exitCode, 0) << deleted.output;

  EXPECT_TRUE(eventually([&] {
    const auto peers = strategy->discoverPeers({});
    return !peers && peers.error().code == Error::Code::NotFound;
  }));
}

TEST_F(AgentApiServerTest, PodReporterWritesTheConditionTheControllerReads) {
  ASSERT_TRUE(
      api_->create(kPods, {{"apiVersion", "v1"},
                           {"kind", "Pod"},
                           {"metadata", {{"name", "app-0"}, {"labels", {{"app", "demo"}}}}},
                           {"spec", {{"containers", {{{"name", "app"}, {"image", "erlang"}}}}}}}));
  ResourcePath status = kPods.object("app-0");
  status.subresource = "status";
  ASSERT_TRUE(api_->mergePatch(
      status,
      {{"status",
        {{"phase", "Running"},
         {"podIP", "10.0.0.1"},
         {"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "Kubelet"}}}}}}}));
  TopologyReport report;
  report.snapshot.topology = "web";
  report.snapshot.desired = {"app@10.0.0.2", "app@10.0.0.3"};
  report.snapshot.connected = {"app@10.0.0.2"};
  report.snapshot.lastSuccessfulSync = clock_.systemNow();
  report.snapshot.syncs = 1;
  std::vector<TopologyReport> reports{report};
  PodReporter reporter(*api_, clock_,
                       {.namespaceName = "default", .podName = "app-0", .minInterval = 0ms},
                       [&] { return reports; });

  const auto missing = reporter.reportOnce();
  const std::optional<PodInfo> first = podFromJson(*api_->get(kPods.object("app-0")));
  reports[0].snapshot.connected.insert("app@10.0.0.3");
  const auto complete = reporter.reportOnce();
  const auto pod = api_->get(kPods.object("app-0"));
  const std::optional<PodInfo> second = podFromJson(*pod);

  ASSERT_TRUE(missing) << missing.error().message;
  ASSERT_TRUE(complete) << complete.error().message;
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->connected, false);
  EXPECT_EQ(first->connectedMessage, "not connected to 1 of 2 peers: app@10.0.0.3");
  EXPECT_EQ(second->connected, true);
  EXPECT_TRUE(second->ready); // the kubelet's Ready condition survived both writes
  const auto shown = server_.kubectl(
      "get pod app-0 -o "
      "'jsonpath={.status.conditions[?(@.type==\"libcluster.dev/Connected\")].reason}'");
  EXPECT_EQ(shown.output, "AllPeersConnected");
}

class AgentDnsTest : public testing::Test {
protected:
  void SetUp() override {
    Result<std::unique_ptr<DnsmasqServer>> dns = DnsmasqServer::start({
        "--local=/test/",
        "--local=/cluster.test/",
        "--host-record=app.test,10.0.5.1",
        "--host-record=app.test,10.0.5.2",
        "--host-record=app.test,fd00::5",
        "--srv-host=app-headless.default.svc.cluster.test,app-0.app-headless.default.svc.cluster."
        "test,4369,10,50",
        "--srv-host=app-headless.default.svc.cluster.test,app-1.app-headless.default.svc.cluster."
        "test,4369,10,50",
    });
    ASSERT_TRUE(dns) << dns.error().message;
    dns_ = std::move(*dns);
    CaresResolverOptions options;
    options.servers = {dns_->address()};
    options.timeout = 2s;
    Result<std::unique_ptr<CaresResolver>> resolver = CaresResolver::create(options);
    ASSERT_TRUE(resolver) << resolver.error().message;
    resolver_ = std::move(*resolver);
  }

  std::unique_ptr<DnsmasqServer> dns_;
  std::unique_ptr<CaresResolver> resolver_;
};

TEST_F(AgentDnsTest, DnsStrategyNamesEveryAddressOfBothFamilies) {
  auto strategy = DnsStrategy::create({.query = "app.test", .nodeBasename = "app"}, *resolver_);
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, (PeerSet{"app@10.0.5.1", "app@10.0.5.2", "app@fd00::5"}));
}

TEST_F(AgentDnsTest, DnsStrategyUnknownNameIsUnknownNotNoPeers) {
  // NXDOMAIN is unknown in both binaries (membership/sources.h); only NODATA is "no peers".
  auto strategy = DnsStrategy::create({.query = "nobody.test", .nodeBasename = "app"}, *resolver_);
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_FALSE(peers);
  EXPECT_EQ(peers.error().code, Error::Code::NotFound);
}

TEST_F(AgentDnsTest, DnsSrvStrategyNamesEveryTarget) {
  auto strategy = DnsSrvStrategy::create({.service = "app-headless",
                                          .namespaceName = "default",
                                          .applicationName = "app",
                                          .clusterDomain = "cluster.test."},
                                         *resolver_);
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, (PeerSet{"app@app-0.app-headless.default.svc.cluster.test",
                             "app@app-1.app-headless.default.svc.cluster.test"}));
}

TEST_F(AgentDnsTest, DnsServerDownIsAnErrorNotNoPeers) {
  auto strategy = DnsStrategy::create({.query = "app.test", .nodeBasename = "app"}, *resolver_);
  ASSERT_TRUE(strategy);
  dns_.reset(); // stopped by PID

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_FALSE(peers);
  EXPECT_NE(peers.error().code, Error::Code::NotFound);
}

} // namespace
} // namespace libcluster
