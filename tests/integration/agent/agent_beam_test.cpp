// The agent with real OTP nodes: LocalEpmd and ErlangHosts against a real epmd with registered
// nodes; an in-process AgentApp with real EiConnectors; and the libcluster-agent binary, two of
// them on two nodes, on the Epmd strategy and following a ClusterTopology in the test API server
// while reporting on their pods. Connections are checked by asking the nodes (nodes()).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "agent/agent_app.h"
#include "beam/beam_node.h"
#include "dist/ei_connector.h"
#include "fakes/fake_resolver.h"
#include "integration/agent/agent_process.h"
#include "kube/http_kube_api.h"
#include "kube/kube_config.h"
#include "membership/pod.h"
#include "strategy/erlang_hosts_strategy.h"
#include "strategy/local_epmd_strategy.h"
#include "support/publish_members.h"
#include "support/test_api_server.h"
#include "support/eventually.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Nodes = std::set<std::string>;

bool sees(BeamNode& node, const std::string& peer) {
  const Result<Nodes> nodes = node.nodes();
  return nodes && nodes->contains(peer);
}

void writeFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Two nodes registered with an epmd of the test's own, on one host (127.0.0.1).
class AgentEpmdBeamTest : public testing::Test {
protected:
  static constexpr const char* kA = "a@127.0.0.1";
  static constexpr const char* kB = "b@127.0.0.1";

  static void SetUpTestSuite() {
    port_ = pickDistributionPort({});
    ASSERT_NE(port_, 0);
    ::setenv("ERL_EPMD_PORT", std::to_string(port_).c_str(), 1); // for ei, as for erl
    char pattern[] = "/tmp/libcluster-agent-epmd-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    epmd_ = new EpmdDaemon(port_);
    Result<void> up = epmd_->start();
    ASSERT_TRUE(up) << up.error().message;
    for (auto [slot, name] : {std::pair{&a_, kA}, std::pair{&b_, kB}}) {
      *slot = new BeamNode({.name = name,
                            .cookie = "agentepmd" + std::to_string(port_),
                            .port = 0,
                            .epmdPort = port_,
                            .isolated = true,
                            .extraArgs = {},
                            .logDir = dir_});
      ASSERT_TRUE((*slot)->spawn());
    }
    for (BeamNode* node : {a_, b_}) {
      Result<void> started = node->waitUntilUp();
      ASSERT_TRUE(started) << started.error().message;
    }
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
    delete epmd_;
    ::unsetenv("ERL_EPMD_PORT");
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  void SetUp() override {
    ASSERT_TRUE(a_ && b_);
    ASSERT_TRUE(a_->disconnectAll());
    ASSERT_TRUE(b_->disconnectAll());
  }

  static inline int port_ = 0;
  static inline std::string dir_;
  static inline EpmdDaemon* epmd_ = nullptr;
  static inline BeamNode* a_ = nullptr;
  static inline BeamNode* b_ = nullptr;
};

TEST_F(AgentEpmdBeamTest, LocalEpmdListsTheNodesOfTheRealEpmd) {
  auto strategy = LocalEpmdStrategy::create({.epmdPort = static_cast<std::uint16_t>(port_)}, kA);
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, (PeerSet{kA, kB}));
}

TEST_F(AgentEpmdBeamTest, ErlangHostsAsksEachHostsEpmdAndSkipsTheDeadOnes) {
  writeFile(dir_ + "/.hosts.erlang", "% test hosts\n'127.0.0.1'.\n'127.0.0.9'.\n");
  FakeResolver resolver;
  auto strategy = ErlangHostsStrategy::create({.hostsFile = {},
                                               .searchPath = {dir_},
                                               .epmdPort = static_cast<std::uint16_t>(port_),
                                               .epmdTimeout = 1s},
                                              resolver);
  ASSERT_TRUE(strategy) << strategy.error().message;

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, (PeerSet{kA, kB}));
}

TEST_F(AgentEpmdBeamTest, InProcessAgentOnLocalEpmdConnectsTheNodes) {
  StrategyEnvironment env;
  env.epmdPort = static_cast<std::uint16_t>(port_);
  Result<AgentConfig> config = parseAgentConfig("topologies:\n  host:\n    strategy: LocalEpmd\n"
                                                "    pollIntervalSeconds: 1\n",
                                                env);
  ASSERT_TRUE(config) << config.error().message;
  SystemClock clock;
  AgentApp agent(
      *config, {.node = kA, .metricsBindAddress = "0"}, clock, nullptr, nullptr,
      []() -> Result<std::unique_ptr<Resolver>> {
        return std::unique_ptr<Resolver>(new FakeResolver());
      },
      [&](const ConnectorSettings&) -> Result<std::unique_ptr<Connector>> {
        EiConnectorOptions options;
        options.localNode = kA;
        options.cookie = a_->cookie();
        Result<std::unique_ptr<EiConnector>> made = EiConnector::create(options);
        if (!made) {
          return made.error();
        }
        return std::unique_ptr<Connector>(std::move(*made));
      });

  ASSERT_TRUE(agent.start());

  EXPECT_TRUE(eventually([&] { return sees(*a_, kB) && sees(*b_, kA); })) << a_->logTail();
  EXPECT_TRUE(eventually([&] { return agent.isReady(); }));
  agent.stop();
}

// Three nodes with one basename, without epmd (one shared port, one 127.0.0.N each), and the
// libcluster-agent binary beside them.
class AgentBinaryBeamTest : public testing::Test {
protected:
  static constexpr const char* k2 = "app@127.0.0.2";
  static constexpr const char* k3 = "app@127.0.0.3";
  static constexpr const char* k4 = "app@127.0.0.4";

  static void SetUpTestSuite() {
    testbed_ = new BeamTestbed();
    for (const char* name : {k2, k3, k4}) {
      testbed_->add(name);
    }
    Result<void> started = testbed_->startAll();
    ASSERT_TRUE(started) << started.error().message;
    writeFile(testbed_->dir() + "/cookie", testbed_->cookie() + "\n");
  }
  static void TearDownTestSuite() {
    delete testbed_;
    testbed_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(testbed_, nullptr);
    for (const char* name : {k2, k3, k4}) {
      ASSERT_TRUE(testbed_->node(name).start());
      ASSERT_TRUE(testbed_->node(name).disconnectAll());
    }
  }

  BeamNode& node(const char* name) { return testbed_->node(name); }

  /// Runs libcluster-agent beside `local` with `config` (YAML) and extra environment.
  std::unique_ptr<AgentProcess> agent(const std::string& local, const std::string& config,
                                      std::map<std::string, std::string> env = {},
                                      std::vector<std::string> extraArgs = {}) {
    const std::string tag = local.substr(local.find('@') + 1);
    const std::string configPath = testbed_->dir() + "/agent-" + tag + ".yaml";
    writeFile(configPath, config);
    env["LOG_LEVEL"] = "debug";
    std::vector<std::string> args{"--config",
                                  configPath,
                                  "--node",
                                  local,
                                  "--node-port",
                                  std::to_string(testbed_->port()),
                                  "--cookie-file",
                                  testbed_->dir() + "/cookie",
                                  "--metrics-bind-address",
                                  "0"};
    args.insert(args.end(), extraArgs.begin(), extraArgs.end());
    auto process = std::make_unique<AgentProcess>(LIBCLUSTER_AGENT_BINARY, args, env,
                                                  testbed_->dir() + "/agent-" + tag + ".log");
    EXPECT_TRUE(process->started());
    return process;
  }

  static inline BeamTestbed* testbed_ = nullptr;
};

TEST_F(AgentBinaryBeamTest, TwoAgentsOnTheEpmdStrategyConnectTheirNodes) {
  const std::string config = R"(
topologies:
  static:
    strategy: Epmd
    config:
      hosts: [app@127.0.0.2, app@127.0.0.3]
      timeout: 500
)";
  auto first = agent(k2, config);
  auto second = agent(k3, config);

  EXPECT_TRUE(eventually([&] { return sees(node(k2), k3) && sees(node(k3), k2); }))
      << first->log() << second->log();
  EXPECT_EQ(first->stop(), 0) << first->log();
  EXPECT_EQ(second->stop(), 0) << second->log();
  EXPECT_NE(first->log().find("\"msg\":\"shutting down\""), std::string::npos);
}

TEST_F(AgentBinaryBeamTest, AgentsFollowTheirClusterTopologyAndReportOnTheirPods) {
  TestApiServer server(TestApiServer::Options{.bookmarkIntervalSeconds = 1});
  ASSERT_TRUE(server.started()) << server.error();
  const auto crd = server.kubectl(std::string("apply -f ") + LIBCLUSTER_SOURCE_DIR +
                                  "/crds/clustertopologies.libcluster.dev.yaml -f " +
                                  LIBCLUSTER_SOURCE_DIR +
                                  "/crds/clustertopologymemberslices.libcluster.dev.yaml");
  ASSERT_EQ(crd.exitCode, 0) << crd.output;
  const auto topology = server.kubectl("apply -f -", R"(apiVersion: libcluster.dev/v1alpha1
kind: ClusterTopology
metadata: {name: app, namespace: default}
spec:
  nodeBasename: app
  reconnectIntervalSeconds: 120
  sources:
    - epmd: {nodes: [app@127.0.0.2]}
)");
  ASSERT_EQ(topology.exitCode, 0) << topology.output;
  Result<KubeConfig> kube = loadKubeconfig(server.kubeconfigPath());
  ASSERT_TRUE(kube) << kube.error().message;
  Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(*kube);
  ASSERT_TRUE(api) << api.error().message;
  const ResourcePath pods{.resource = "pods", .namespaceName = "default"};
  for (const char* pod : {"app-0", "app-1"}) {
    ASSERT_TRUE((*api)->create(
        pods, {{"apiVersion", "v1"},
               {"kind", "Pod"},
               {"metadata", {{"name", pod}}},
               {"spec", {{"containers", {{{"name", "app"}, {"image", "erlang"}}}}}}}));
  }
  // The controller's part, as libcluster-controller writes it: member slices, then status.
  auto writeMembers = [&](const std::vector<std::string>& members) {
    Result<void> published = publishMembers(**api, "default", "app", members);
    ASSERT_TRUE(published) << published.error().message;
  };
  auto connectedCondition = [&](const std::string& pod) -> std::optional<bool> {
    Result<json> object = (*api)->get(pods.object(pod));
    if (!object) {
      return std::nullopt;
    }
    const std::optional<PodInfo> info = podFromJson(*object);
    return info ? info->connected : std::nullopt;
  };
  writeMembers({k2, k3});
  const std::string config = R"(
topologies:
  app:
    strategy: ClusterTopology
    config: {name: app}
)";
  auto first = agent(k2, config, {{"POD_NAME", "app-0"}, {"POD_NAMESPACE", "default"}},
                     {"--kubeconfig", server.kubeconfigPath()});
  auto second = agent(k3, config, {{"POD_NAME", "app-1"}, {"POD_NAMESPACE", "default"}},
                      {"--kubeconfig", server.kubeconfigPath()});

  ASSERT_TRUE(eventually([&] { return sees(node(k2), k3) && sees(node(k3), k2); }))
      << first->log() << second->log();
  EXPECT_TRUE(eventually([&] {
    return connectedCondition("app-0") == true && connectedCondition("app-1") == true;
  })) << first->log();

  // A new member reaches both agents through the watch, long before the 120 s reconnect poll.
  const auto added = std::chrono::steady_clock::now();
  writeMembers({k2, k3, k4});
  ASSERT_TRUE(eventually([&] { return sees(node(k4), k2) && sees(node(k4), k3); }, 10s))
      << first->log() << second->log();
  EXPECT_LT(std::chrono::steady_clock::now() - added, 10s);
  EXPECT_TRUE(eventually([&] { return connectedCondition("app-0") == true; }));
  EXPECT_EQ(first->stop(), 0) << first->log();
  EXPECT_EQ(second->stop(), 0) << second->log();
}

TEST(AgentBinary, InvalidConfigurationIsOneLineAndExitCodeTwo) {
  char pattern[] = "/tmp/libcluster-agent-config-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  writeFile(dir + "/agent.yaml", "topologies:\n  web:\n    strategy: DNS\n    config: {query: a, "
                                 "nodeBasename: b, pollingInterval: fast}\n");
  AgentProcess process(LIBCLUSTER_AGENT_BINARY,
                       {"--config", dir + "/agent.yaml", "--node", "app@127.0.0.2"},
                       {{"RELEASE_COOKIE", "secret"}}, dir + "/agent.log");

  ASSERT_TRUE(eventually([&] { return !process.isRunning(); }, 10s));
  EXPECT_EQ(process.exitCode(), 2);
  const std::string log = process.log();
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  EXPECT_NE(log.find("topologies.web.config.pollingInterval: must be a positive integer"),
            std::string::npos)
      << log;
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

TEST(AgentBinary, UnreadableCookieFileStopsTheAgentAtStart) {
  char pattern[] = "/tmp/libcluster-agent-cookie-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  writeFile(dir + "/agent.yaml", "topologies:\n  web:\n    strategy: LocalEpmd\n");
  AgentProcess process(LIBCLUSTER_AGENT_BINARY,
                       {"--config", dir + "/agent.yaml", "--node", "app@127.0.0.2", "--cookie-file",
                        dir + "/missing-cookie", "--metrics-bind-address", "0"},
                       {}, dir + "/agent.log");

  ASSERT_TRUE(eventually([&] { return !process.isRunning(); }, 10s));
  EXPECT_EQ(process.exitCode(), 2);
  EXPECT_NE(process.log().find("\"error\":\"cookie: "), std::string::npos) << process.log();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

} // namespace
} // namespace libcluster
