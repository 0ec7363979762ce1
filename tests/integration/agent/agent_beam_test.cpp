// The agent with real OTP nodes: LocalEpmd and ErlangHosts against a real epmd with registered
// nodes; an in-process AgentApp with real EiConnectors; and the libcluster-agent binary, two of
// them on two nodes, on the Epmd strategy and following a ClusterTopology in the test API server
// while reporting on their pods. Connections are checked by asking the nodes (nodes()).
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "agent/agent_app.h"
#include "beam/beam_suite.h"
#include "dist/ei_connector.h"
#include "fakes/fake_resolver.h"
#include "integration/agent/beam_agent_fixture.h"
#include "membership/pod.h"
#include "strategy/erlang_hosts_strategy.h"
#include "strategy/local_epmd_strategy.h"
#include "support/eventually.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
// Two nodes registered with an epmd of the test's own, on one host (127.0.0.1).
class AgentEpmdBeamTest : public BeamSuite<AgentEpmdBeamTest> {
protected:
  static constexpr const char* kA = "a@127.0.0.1";
  static constexpr const char* kB = "b@127.0.0.1";

  static void SetUpTestSuite() { startNodesWithEpmd({kA, kB}); }

  static BeamNode& a() { return node(kA); }
  static BeamNode& b() { return node(kB); }
  static std::uint16_t port() { return static_cast<std::uint16_t>(testbed_->port()); }
};

TEST_F(AgentEpmdBeamTest, LocalEpmdListsTheNodesOfTheRealEpmd) {
  auto strategy = LocalEpmdStrategy::create({.epmdPort = port()}, kA);
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, (PeerSet{kA, kB}));
}

TEST_F(AgentEpmdBeamTest, ErlangHostsAsksEachHostsEpmdAndSkipsTheDeadOnes) {
  writeFile(testbed_->dir() + "/.hosts.erlang", "% test hosts\n'127.0.0.1'.\n'127.0.0.9'.\n");
  FakeResolver resolver;
  auto strategy = ErlangHostsStrategy::create(
      {.hostsFile = {}, .searchPath = {testbed_->dir()}, .epmdPort = port(), .epmdTimeout = 1s},
      resolver);
  ASSERT_TRUE(strategy) << strategy.error().message;

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, (PeerSet{kA, kB}));
}

TEST_F(AgentEpmdBeamTest, InProcessAgentOnLocalEpmdConnectsTheNodes) {
  StrategyEnvironment env;
  env.epmdPort = port();
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
        options.cookie = testbed_->cookie();
        Result<std::unique_ptr<EiConnector>> made = EiConnector::create(options);
        if (!made) {
          return made.error();
        }
        return std::unique_ptr<Connector>(std::move(*made));
      });

  ASSERT_TRUE(agent.start());

  EXPECT_TRUE(eventually([&] { return sees(a(), kB) && sees(b(), kA); })) << a().logTail();
  EXPECT_TRUE(eventually([&] { return agent.isReady(); }));
  agent.stop();
}

// Three nodes with one basename, without epmd (one shared port, one 127.0.0.N each), and the
// libcluster-agent binary beside them.
class AgentBinaryBeamTest : public BeamSuite<AgentBinaryBeamTest> {
protected:
  static constexpr const char* k2 = "app@127.0.0.2";
  static constexpr const char* k3 = "app@127.0.0.3";
  static constexpr const char* k4 = "app@127.0.0.4";

  static void SetUpTestSuite() { startNodes({k2, k3, k4}); }

  /// Runs libcluster-agent beside `local` with `config` (YAML) and extra environment.
  std::unique_ptr<AgentProcess> agent(const std::string& local, const std::string& config,
                                      std::map<std::string, std::string> env = {},
                                      std::vector<std::string> extraArgs = {}) {
    return startAgent(*testbed_, local,
                      {.config = config, .env = std::move(env), .extraArgs = std::move(extraArgs)});
  }
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
  TopologyApiServer kube;
  ASSERT_NO_FATAL_FAILURE(kube.setUp());
  ASSERT_NO_FATAL_FAILURE(kube.applyTopology("app", R"(  nodeBasename: app
  reconnectIntervalSeconds: 120
  sources:
    - epmd: {nodes: [app@127.0.0.2]}
)"));
  for (const char* pod : {"app-0", "app-1"}) {
    ASSERT_NO_FATAL_FAILURE(kube.createPod(pod));
  }
  auto connectedCondition = [&](const std::string& pod) -> std::optional<bool> {
    Result<json> object = kube.api().get(defaultPods().object(pod));
    if (!object) {
      return std::nullopt;
    }
    const std::optional<PodInfo> info = podFromJson(*object);
    return info ? info->connected : std::nullopt;
  };
  // The controller's part, as libcluster-controller writes it: member slices, then status.
  ASSERT_NO_FATAL_FAILURE(kube.writeMembers({k2, k3}));
  const std::string config = R"(
topologies:
  app:
    strategy: ClusterTopology
    config: {name: app}
)";
  auto first = agent(k2, config, {{"POD_NAME", "app-0"}, {"POD_NAMESPACE", "default"}},
                     {"--kubeconfig", kube.kubeconfigPath()});
  auto second = agent(k3, config, {{"POD_NAME", "app-1"}, {"POD_NAMESPACE", "default"}},
                      {"--kubeconfig", kube.kubeconfigPath()});

  ASSERT_TRUE(eventually([&] { return sees(node(k2), k3) && sees(node(k3), k2); }))
      << first->log() << second->log();
  EXPECT_TRUE(eventually([&] {
    return connectedCondition("app-0") == true && connectedCondition("app-1") == true;
  })) << first->log();

  // A new member reaches both agents through the watch, long before the 120 s reconnect poll.
  const auto added = std::chrono::steady_clock::now();
  ASSERT_NO_FATAL_FAILURE(kube.writeMembers({k2, k3, k4}));
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
