#include "agent/agent_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/secret_file.h"
#include "fakes/strategy_environment.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string problem(const std::string& yaml) {
  Result<AgentConfig> config = parseAgentConfig(yaml, testStrategyEnvironment());
  EXPECT_FALSE(config) << yaml;
  return config ? "" : config.error().message;
}

TEST(YamlToJson, TypesPlainScalarsAndKeepsQuotedOnesAsStrings) {
  const auto document = yamlToJson(R"(
a: 5
b: "5"
c: true
d: 'true'
e: ~
f: 1.5
g: 0x1f
h: app@10.0.0.7
i: [connected, "[visible]"]
j:
)");

  ASSERT_TRUE(document) << document.error().message;
  EXPECT_EQ(*document, json::parse(R"({"a":5,"b":"5","c":true,"d":"true","e":null,"f":1.5,"g":31,
      "h":"app@10.0.0.7","i":["connected","[visible]"],"j":null})"));
}

TEST(YamlToJson, SyntaxErrorsAndDuplicateKeysNameTheLine) {
  const auto broken = yamlToJson("a: [1, 2\nb: 3\n");
  const auto duplicate = yamlToJson("a: 1\nb: 2\na: 3\n");

  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().message.substr(0, 5), "line ");
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().message, "line 3, column 1: duplicate key \"a\"");
}

TEST(ParseAgentConfig, ReadsTheDocumentedShape) {
  const auto config = parseAgentConfig(R"(
node: app@10.0.0.7
cookieFile: /etc/libcluster/cookie
topologies:
  web:
    strategy: ClusterTopology
    config: {namespace: prod, name: web}
    connect: {module: net_kernel, function: connect_node, args: []}
    listNodes: {module: erlang, function: nodes, args: [connected]}
    pollIntervalSeconds: 5
    removalHoldSeconds: 60
    watchNodes: false
  dns:
    strategy: Cluster.Strategy.DNSPoll
    config:
      query: app.internal
      nodeBasename: app
      pollingInterval: 2000
    onRemoval: Ignore
)",
                                       testStrategyEnvironment());

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->node, "app@10.0.0.7");
  EXPECT_EQ(config->cookieFile, "/etc/libcluster/cookie");
  ASSERT_EQ(config->topologies.size(), 2U);
  const TopologyConfig& dns = config->topologies[0]; // sorted by name
  const TopologyConfig& web = config->topologies[1];
  EXPECT_EQ(dns.name, "dns");
  EXPECT_EQ(dns.strategy.kind, "DNS");
  EXPECT_EQ(dns.pollInterval, 2000ms);
  EXPECT_EQ(dns.onRemoval, OnRemoval::Ignore);
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.strategy.kind, "ClusterTopology");
  EXPECT_EQ(web.connect, (Mfa{"net_kernel", "connect_node", {}}));
  EXPECT_FALSE(web.disconnect);
  EXPECT_EQ(web.listNodes, (Mfa{"erlang", "nodes", {"connected"}}));
  EXPECT_EQ(web.pollInterval, 5000ms);
  EXPECT_EQ(web.onRemoval, OnRemoval::Disconnect);
  EXPECT_EQ(web.removalHold, 60000ms);
  EXPECT_FALSE(web.watchNodes);
  EXPECT_EQ(dns.removalHold, 300000ms); // the default: 5 minutes
  EXPECT_TRUE(dns.watchNodes);
}

TEST(ParseAgentConfig, RemovalHoldAndWatchNodesAreValidated) {
  const auto problem = [](const std::string& keys) {
    const auto config = parseAgentConfig(
        "topologies:\n  web:\n    strategy: ClusterTopology\n    config: {name: web}\n" + keys,
        testStrategyEnvironment());
    return config ? std::string("accepted") : config.error().message;
  };

  EXPECT_EQ(problem("    removalHoldSeconds: 0\n"), "accepted");
  EXPECT_NE(problem("    removalHoldSeconds: -1\n").find("topologies.web.removalHoldSeconds"),
            std::string::npos);
  EXPECT_NE(problem("    removalHoldSeconds: 86401\n").find("topologies.web.removalHoldSeconds"),
            std::string::npos);
  EXPECT_NE(problem("    removalHoldSeconds: soon\n").find("topologies.web.removalHoldSeconds"),
            std::string::npos);
  EXPECT_NE(problem("    watchNodes: maybe\n").find("topologies.web.watchNodes"),
            std::string::npos);
}

TEST(ParseAgentConfig, DefaultsAreLibclusters) {
  const auto config =
      parseAgentConfig("topologies:\n  local:\n    strategy: LocalEpmd\n", testStrategyEnvironment());

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->node.empty());
  const TopologyConfig& local = config->topologies.at(0);
  EXPECT_FALSE(local.connect);
  EXPECT_FALSE(local.pollInterval);
}

TEST(ParseAgentConfig, ProblemsAreOneLineNamingTheKey) {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const std::vector<Case> cases{
      {"", "topologies: required (a map of named topologies)"},
      {"topologies: {}", "topologies: must name at least one topology"},
      {"topologies: [a]", "topologies: must be a map of named topologies"},
      {"toplogies: {}\n", "topologies: required (a map of named topologies)"},
      {"topologies:\n  web:\n    strategy: Epmd\n    config: {hosts: [a@b]}\nextra: 1\n",
       "extra: unknown option (known: allowedCalls, cookie, cookieFile, node, topologies)"},
      {"cookie: secret\ntopologies: {}\n",
       "cookie: not read from the configuration (it may be logged or mounted widely): use "
       "cookieFile or RELEASE_COOKIE"},
      {"node: app\ntopologies: {}\n", "node: must be a node name like app@10.0.0.7, got \"app\""},
      {"topologies:\n  web: {}\n", "topologies.web.strategy: required"},
      {"topologies:\n  web:\n", "topologies.web.strategy: required"},
      {"topologies:\n  web:\n    strategy: Consul\n",
       "topologies.web.strategy: unknown strategy \"Consul\" (known: ClusterTopology, Epmd, "
       "LocalEpmd, ErlangHosts, Gossip, DNS, DNSSRV, Rancher, Kubernetes)"},
      {"topologies:\n  web:\n    strategy: DNS\n    config: {query: a, nodeBasename: b, "
       "pollingInterval: 0}\n",
       "topologies.web.config.pollingInterval: must be a positive integer (milliseconds, at most a "
       "day), got 0"},
      {"topologies:\n  web:\n    strategy: DNS\n    config: {query: a, nodeBasename: b, "
       "pollingInterval: 5}\n"
       "    pollIntervalSeconds: 5\n",
       "topologies.web.pollIntervalSeconds: the strategy's own interval option is set too; give "
       "only one"},
      {"topologies:\n  web:\n    strategy: LocalEpmd\n    pollIntervalSeconds: 0\n",
       "topologies.web.pollIntervalSeconds: must be an integer from 1 to 3600, got 0"},
      {"topologies:\n  web:\n    strategy: LocalEpmd\n    connect: {module: Net_kernel, function: "
       "c}\n",
       "topologies.web.connect.module: must be an Erlang module name, got \"Net_kernel\""},
      {"topologies:\n  web:\n    strategy: LocalEpmd\n    connect: {module: m}\n",
       "topologies.web.connect.function: required"},
      {"topologies:\n  web:\n    strategy: LocalEpmd\n    listNodes: {module: erlang, function: "
       "nodes, args: [[visible]]}\n",
       "topologies.web.listNodes.args[0]: must be an Erlang term written as text (quote lists and "
       "tuples: \"[visible]\")"},
      {"topologies:\n  web:\n    strategy: LocalEpmd\n    list_nodes: {module: erlang, function: "
       "nodes}\n",
       "topologies.web.list_nodes: spelled listNodes here"},
      {"topologies:\n  web:\n    strategy: LocalEpmd\n    onRemoval: disconnect\n",
       "topologies.web.onRemoval: must be one of Disconnect, Ignore, got \"disconnect\""},
      {"topologies:\n  web:\n    strategy: LocalEpmd\n    polling_interval: 5\n",
       "topologies.web.polling_interval: unknown option (known: config, connect, disconnect, "
       "listNodes, list_nodes, onRemoval, pollIntervalSeconds, removalHoldSeconds, strategy, "
       "watchNodes)"},
      {"topologies:\n  \"we b\":\n    strategy: LocalEpmd\n",
       "topologies.we b: a topology name is letters, digits, '_', '-' and '.', at most 63"},
      {"topologies:\n  web:\n    strategy: Kubernetes\n    config: {kubernetesSelector: app=x}\n",
       "topologies.web.config.kubernetesNodeBasename: required"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(problem(c.yaml), c.message) << c.yaml;
  }
}

TEST(ParseAgentConfig, MfaArgumentsKeepTheirErlangText) {
  const auto config = parseAgentConfig(R"(
topologies:
  web:
    strategy: LocalEpmd
    connect: {module: Elixir.MyApp.Cluster, function: connect, args: [5000, true, "{a, 1}"]}
)",
                                       testStrategyEnvironment());

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->topologies[0].connect,
            (Mfa{"Elixir.MyApp.Cluster", "connect", {"5000", "true", "{a, 1}"}}));
}

TEST(ParseAgentConfig, AllowedCallsDefaultToLibclustersThree) {
  const auto config = parseAgentConfig("topologies: {web: {strategy: LocalEpmd}}", testStrategyEnvironment());

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->allowedCalls, (std::vector<Mfa>{{"net_kernel", "connect_node", {}},
                                                    {"erlang", "disconnect_node", {}},
                                                    {"erlang", "nodes", {"connected"}}}));
}

TEST(ParseAgentConfig, AllowedCallsReplaceTheDefaults) {
  const auto config = parseAgentConfig(R"(
allowedCalls:
  - {module: Elixir.MyApp.Cluster, function: connect}
topologies: {web: {strategy: LocalEpmd}}
)",
                                       testStrategyEnvironment());

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->allowedCalls, (std::vector<Mfa>{{"Elixir.MyApp.Cluster", "connect", {}}}));
}

TEST(ParseAgentConfig, AllowedCallsAreCheckedLikeCalls) {
  EXPECT_EQ(problem("allowedCalls: {module: os}\ntopologies: {web: {strategy: LocalEpmd}}"),
            "allowedCalls: must be a list of calls ({module, function, args})");
  EXPECT_NE(problem("allowedCalls: [{module: os, function: \"cmd;\"}]\n"
                    "topologies: {web: {strategy: LocalEpmd}}")
                .find("allowedCalls[0].function"),
            std::string::npos);
}

TEST(LoadAgentConfig, NamesTheFile) {
  const auto config = loadAgentConfig("/nonexistent/agent.yaml", testStrategyEnvironment());

  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message, "/nonexistent/agent.yaml: cannot read the configuration file");
}

TEST(CheckCookieFile, ReadsTheFileWithoutEchoingItAndFlagsAWorldReadableOne) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("cookie-" + std::to_string(::getpid()))).string();
  std::ofstream(path) << "supersecretcookie\n";
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);

  const Result<void> worldReadable = checkCookieFile(path);
  const std::optional<std::string> exposure = secretFileExposure(path);
  std::ofstream(path, std::ios::trunc) << "\n";
  const Result<void> empty = checkCookieFile(path);
  std::filesystem::remove(path);

  EXPECT_TRUE(worldReadable); // a warning, not an error: Kubernetes mounts 0644 by default
  EXPECT_TRUE(exposure);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find(path), std::string::npos);
  EXPECT_EQ(empty.error().message.find("supersecretcookie"), std::string::npos);
  EXPECT_FALSE(checkCookieFile("/nonexistent/cookie"));
}

} // namespace
} // namespace libcluster
