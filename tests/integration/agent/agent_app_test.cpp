// AgentApp in real time: its threads, a real HTTP server for /metrics, with FakeKubeApi,
// FakeResolver and a RecordingConnector behind the connector factory.
#include "agent/agent_app.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "fakes/builders.h"
#include "fakes/fake_kube_api.h"
#include "fakes/fake_resolver.h"
#include "fakes/recording_connector.h"
#include "support/eventually.h"
#include "support/resource_paths.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

/// Hands AgentApp a Connector that forwards to one the test keeps.
class ForwardingConnector final : public Connector {
public:
  explicit ForwardingConnector(Connector& target) : target_(target) {}
  Result<CallReply> connect(const NodeName& peer, std::chrono::milliseconds timeout) override {
    return target_.connect(peer, timeout);
  }
  Result<CallReply> disconnect(const NodeName& peer, std::chrono::milliseconds timeout) override {
    return target_.disconnect(peer, timeout);
  }
  Result<PeerSet> connectedPeers(std::chrono::milliseconds timeout) override {
    return target_.connectedPeers(timeout);
  }
  const NodeName& localNode() const override { return target_.localNode(); }

private:
  Connector& target_;
};

const ResourcePath kProdTopologies = clusterTopologies("prod");

json topology(const std::vector<std::string>& members, const std::string& connectFunction) {
  json status{{"members", json::array()}};
  for (const std::string& node : members) {
    status["members"].push_back({{"node", node}});
  }
  return {{"apiVersion", "libcluster.dev/v1alpha1"},
          {"kind", "ClusterTopology"},
          {"metadata", {{"name", "web"}, {"namespace", "prod"}}},
          {"spec",
           {{"nodeBasename", "app"},
            {"reconnectIntervalSeconds", 1},
            {"connect", {{"module", "my_cluster"}, {"function", connectFunction}}}}},
          {"status", status}};
}

class AgentAppTest : public testing::Test {
protected:
  AgentConfig config(const std::string& yaml) {
    StrategyEnvironment env;
    env.namespaceName = "prod";
    env.hostsSearchPath = {"/nonexistent"};
    Result<AgentConfig> parsed = parseAgentConfig(yaml, env);
    EXPECT_TRUE(parsed) << parsed.error().message;
    return parsed ? *parsed : AgentConfig{};
  }

  std::unique_ptr<AgentApp> app(const std::string& yaml, AgentApp::Options options = {}) {
    if (options.node.empty()) {
      options.node = "app@10.0.0.1";
    }
    options.metricsBindAddress = "127.0.0.1:0";
    options.reporter.checkInterval = 20ms;
    options.reporter.minInterval = 20ms;
    return std::make_unique<AgentApp>(
        config(yaml), options, clock_, &api_, nullptr,
        []() -> Result<std::unique_ptr<Resolver>> {
          return std::unique_ptr<Resolver>(new FakeResolver());
        },
        [this](const ConnectorSettings& settings) -> Result<std::unique_ptr<Connector>> {
          std::lock_guard lock(mutex_);
          settings_.push_back(settings);
          if (failConnector_) {
            return *failConnector_;
          }
          return std::unique_ptr<Connector>(new ForwardingConnector(node_));
        });
  }

  std::vector<ConnectorSettings> settings() {
    std::lock_guard lock(mutex_);
    return settings_;
  }

  SystemClock clock_;
  FakeKubeApi api_;
  RecordingConnector node_{"app@10.0.0.1"};
  std::mutex mutex_;
  std::vector<ConnectorSettings> settings_;
  std::optional<Error> failConnector_;
};

const char* kEpmd = R"(
topologies:
  static:
    strategy: Epmd
    config: {hosts: [app@10.0.0.1, app@10.0.0.2, app@10.0.0.3], timeout: 50}
)";

TEST_F(AgentAppTest, ConnectsTheLocalNodeToEveryTopologysPeers) {
  auto agent = app(kEpmd);

  ASSERT_TRUE(agent->start());

  EXPECT_TRUE(eventually([&] {
    return node_.connected() == PeerSet{"app@10.0.0.2", "app@10.0.0.3"};
  }));
  EXPECT_TRUE(eventually([&] { return agent->isReady(); }));
  const auto reports = agent->reports();
  ASSERT_EQ(reports.size(), 1U);
  EXPECT_EQ(reports[0].snapshot.topology, "static");
  EXPECT_EQ(reports[0].snapshot.desired, (PeerSet{"app@10.0.0.2", "app@10.0.0.3"}));
  EXPECT_FALSE(reports[0].nodeError);
}

TEST_F(AgentAppTest, ReportsTheLocalNodeDown) {
  node_.failListNodes(Error{Error::Code::Unavailable, "node down"});
  auto agent = app(kEpmd);

  ASSERT_TRUE(agent->start());

  EXPECT_TRUE(eventually([&] { return agent->reports()[0].nodeError.has_value(); }));
  EXPECT_FALSE(agent->isReady());
}

TEST_F(AgentAppTest, InvalidNodeDoesNotStart) {
  auto agent = app(kEpmd, {.node = "app"});

  const auto started = agent->start();

  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().message.substr(0, 5), "node:");
}

TEST_F(AgentAppTest, StrategyThatCannotStartStopsTheAgentNamingTheTopology) {
  auto agent = app("topologies:\n  hosts:\n    strategy: ErlangHosts\n");

  const auto started = agent->start();

  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().message,
            "topologies.hosts: couldn't find .hosts.erlang (looked in /nonexistent)");
}

TEST_F(AgentAppTest, ConnectorThatCannotBeMadeStopsTheAgent) {
  failConnector_ = Error{Error::Code::Invalid, "cookieFile: cannot read /nope"};
  auto agent = app(kEpmd);

  const auto started = agent->start();

  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().message, "topologies.static: cookieFile: cannot read /nope");
}

TEST_F(AgentAppTest, ConfiguredCallsReachTheConnector) {
  auto agent = app(R"(
topologies:
  static:
    strategy: Epmd
    config: {hosts: [app@10.0.0.2]}
    disconnect: {module: my_cluster, function: leave, args: [now]}
)");

  ASSERT_TRUE(agent->start());

  ASSERT_EQ(settings().size(), 1U);
  EXPECT_EQ(settings()[0].topology, "static");
  EXPECT_FALSE(settings()[0].connect);
  EXPECT_EQ(settings()[0].disconnect, (Mfa{"my_cluster", "leave", {"now"}}));
}

TEST_F(AgentAppTest, ClusterTopologyUsesItsSpecAndRestartsWhenItChanges) {
  api_.put(kProdTopologies, topology({"app@10.0.0.1", "app@10.0.0.2"}, "join"));
  auto agent = app(R"(
allowedCalls:
  - {module: my_cluster, function: join}
  - {module: my_cluster, function: join_fast}
topologies:
  web:
    strategy: ClusterTopology
    config: {name: web}
    listNodes: {module: erlang, function: nodes, args: [visible]}
)");
  ASSERT_TRUE(agent->start());
  ASSERT_TRUE(eventually([&] { return node_.connected() == PeerSet{"app@10.0.0.2"}; }));

  // Without member slices the strategy reads the object on each sync (it is not watched).
  api_.put(kProdTopologies, topology({"app@10.0.0.1", "app@10.0.0.2", "app@10.0.0.3"}, "join_fast"));

  EXPECT_TRUE(eventually([&] {
    return node_.connected() == PeerSet{"app@10.0.0.2", "app@10.0.0.3"};
  }));
  // The new spec is read by a sync, and the runner restarts right after it.
  EXPECT_TRUE(eventually([&] { return settings().size() == 2U; }));
  const auto made = settings();
  ASSERT_EQ(made.size(), 2U);
  EXPECT_EQ(made[0].connect, (Mfa{"my_cluster", "join", {}}));
  EXPECT_EQ(made[0].listNodes, (Mfa{"erlang", "nodes", {"visible"}})); // the file wins
  EXPECT_EQ(made[1].connect, (Mfa{"my_cluster", "join_fast", {}}));
}

TEST_F(AgentAppTest, ClusterTopologyCallNotAllowedRunsNothingAndSaysWhy) {
  api_.put(kProdTopologies, topology({"app@10.0.0.1", "app@10.0.0.2"}, "join"));
  api_.put(podsIn("prod"), pod("app-0").inNamespace("prod").ip("10.0.0.1"));
  auto agent = app(R"(
topologies:
  web:
    strategy: ClusterTopology
    config: {name: web}
)",
                   {.node = "app@10.0.0.1", .podNamespace = "prod", .podName = "app-0"});

  ASSERT_TRUE(agent->start());

  ASSERT_TRUE(eventually([&] {
    const auto reports = agent->reports();
    return reports.size() == 1 && reports[0].callNotAllowed.has_value();
  }));
  EXPECT_NE(agent->reports()[0].callNotAllowed->find("my_cluster:join/1"), std::string::npos);
  EXPECT_TRUE(eventually([&] {
    Result<json> written = api_.get(podsIn("prod").object("app-0"));
    if (!written || !written->contains("status")) {
      return false;
    }
    for (const json& condition : (*written)["status"].value("conditions", json::array())) {
      if (condition.value("reason", "") == "CallNotAllowed") {
        return condition.value("status", "") == "False";
      }
    }
    return false;
  }));
  EXPECT_TRUE(settings().empty()); // no connector was even made
  EXPECT_TRUE(node_.connects().empty());
  EXPECT_EQ(node_.listCalls(), 0);

  // The owner allows it after all? No: the editor switches back to an allowed call.
  json allowed = topology({"app@10.0.0.1", "app@10.0.0.2"}, "join");
  allowed["spec"].erase("connect");
  api_.put(kProdTopologies, allowed);

  EXPECT_TRUE(eventually([&] { return node_.connected() == PeerSet{"app@10.0.0.2"}; }));
  EXPECT_FALSE(agent->reports()[0].callNotAllowed.has_value());
}

TEST_F(AgentAppTest, ReportsOnItsPod) {
  api_.put(podsIn("prod"), pod("app-0").inNamespace("prod").ip("10.0.0.1"));
  auto agent = app(kEpmd, {.node = "app@10.0.0.1", .podNamespace = "prod", .podName = "app-0"});

  ASSERT_TRUE(agent->start());

  EXPECT_TRUE(eventually([&] {
    const auto stored = api_.get(podsIn("prod").object("app-0"));
    for (const json& condition : (*stored)["status"]["conditions"]) {
      if (condition["type"] == "libcluster.dev/Connected" && condition["status"] == "True") {
        return true;
      }
    }
    return false;
  }));
}

std::string httpGet(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)::send(fd, request.data(), request.size(), 0);
  std::string response;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
    response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return response;
}

TEST_F(AgentAppTest, ServesMetricsHealthAndReadiness) {
  auto agent = app(kEpmd);
  ASSERT_TRUE(agent->start());
  ASSERT_TRUE(eventually([&] { return agent->isReady(); }));

  const std::string metrics = httpGet(agent->metricsPort(), "/metrics");
  const std::string health = httpGet(agent->metricsPort(), "/healthz");
  const std::string ready = httpGet(agent->metricsPort(), "/readyz");

  EXPECT_NE(metrics.find("libcluster_agent_desired_peers{topology=\"static\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("libcluster_agent_missing_peers{topology=\"static\"} 0"),
            std::string::npos);
  EXPECT_NE(metrics.find("libcluster_agent_local_node_up{topology=\"static\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("libcluster_agent_connect_attempts_total"), std::string::npos);
  EXPECT_EQ(health.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_EQ(ready.substr(0, 15), "HTTP/1.1 200 OK");
}

TEST_F(AgentAppTest, StopsAndCanBeDestroyedWithoutStarting) {
  auto started = app(kEpmd);
  ASSERT_TRUE(started->start());
  started->stop();
  started->stop();

  auto never = app(kEpmd);
  never.reset();
}

} // namespace
} // namespace libcluster
