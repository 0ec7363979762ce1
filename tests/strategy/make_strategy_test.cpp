#include "strategy/make_strategy.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "fakes/fake_kube_api.h"
#include "fakes/fake_resolver.h"
#include "fakes/strategy_environment.h"
#include "support/loopback_port.h"

#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

Result<StrategyConfig> parse(std::string_view strategy, const std::string& config,
                             const StrategyEnvironment& env = testStrategyEnvironment()) {
  return parseStrategyConfig(strategy, config.empty() ? json() : json::parse(config),
                             "topologies.web.config", env);
}

std::string problem(std::string_view strategy, const std::string& config) {
  Result<StrategyConfig> parsed = parse(strategy, config);
  EXPECT_FALSE(parsed) << strategy << " " << config;
  return parsed ? "" : parsed.error().message;
}

TEST(ParseStrategyConfig, KnowsTheCanonicalNamesAndLibclustersModules) {
  EXPECT_EQ(canonicalStrategyName("DNS"), "DNS");
  EXPECT_EQ(canonicalStrategyName("Cluster.Strategy.Kubernetes.DNS"), "DNS");
  EXPECT_EQ(canonicalStrategyName("Cluster.Strategy.DNSPoll"), "DNS");
  EXPECT_EQ(canonicalStrategyName("Elixir.Cluster.Strategy.Kubernetes.DNSSRV"), "DNSSRV");
  EXPECT_EQ(canonicalStrategyName("Cluster.Strategy.Epmd"), "Epmd");
  EXPECT_FALSE(canonicalStrategyName("dns"));
  EXPECT_FALSE(canonicalStrategyName("Consul"));
  EXPECT_EQ(problem("Consul", "").substr(0, 25), "unknown strategy \"Consul\"");
}

TEST(ParseStrategyConfig, ClusterTopologyDefaultsToTheAgentsNamespace) {
  const auto config = parse("ClusterTopology", R"({"name": "web"})");

  ASSERT_TRUE(config) << config.error().message;
  const auto& options = std::get<ClusterTopologyStrategy::Options>(config->options);
  EXPECT_EQ(options.namespaceName, "prod");
  EXPECT_EQ(options.name, "web");
  EXPECT_EQ(problem("ClusterTopology", "{}"), "topologies.web.config.name: required");
  StrategyEnvironment nowhere = testStrategyEnvironment();
  nowhere.namespaceName.clear();
  EXPECT_FALSE(parse("ClusterTopology", R"({"name": "web"})", nowhere));
}

TEST(ParseStrategyConfig, EpmdHostsAndTimeout) {
  const auto config = parse("Epmd", R"({"hosts": ["a@127.0.0.1", "b@127.0.0.1"], "timeout": 500})");

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(std::get<EpmdStrategy::Options>(config->options).hosts,
            (std::vector<std::string>{"a@127.0.0.1", "b@127.0.0.1"}));
  EXPECT_EQ(config->pollInterval, 500ms);
  EXPECT_FALSE(parse("Epmd", R"({"hosts": ["a@h"], "timeout": "infinity"})")->pollInterval);
  EXPECT_EQ(problem("Epmd", R"({"hosts": []})"),
            "topologies.web.config.hosts: must list at least one node name");
  EXPECT_EQ(problem("Epmd", R"({"hosts": ["a@h", "oops"]})"),
            "topologies.web.config.hosts[1]: must be a node name like app@10.0.0.7, got \"oops\"");
  EXPECT_EQ(problem("Epmd", R"({"hosts": "a@h"})"),
            "topologies.web.config.hosts: must be a list of strings, got the string \"a@h\"");
  EXPECT_EQ(problem("Epmd", R"({"hosts": ["a@h"], "timeout": -1})"),
            "topologies.web.config.timeout: must be a positive integer (milliseconds, at most a "
            "day), got -1");
}

TEST(ParseStrategyConfig, LocalEpmdTakesNoOptionsAndUsesErlEpmdPort) {
  const auto config = parse("LocalEpmd", "");

  ASSERT_TRUE(config);
  EXPECT_EQ(std::get<LocalEpmdStrategy::Options>(config->options).epmdPort, 4370);
  EXPECT_EQ(problem("LocalEpmd", R"({"hosts": ["a@b"]})"),
            "topologies.web.config.hosts: unknown option (this takes none)");
}

TEST(ParseStrategyConfig, ErlangHostsOptions) {
  const auto config = parse(
      "ErlangHosts", R"({"timeout": 1000, "hostsFile": "/etc/hosts.erlang", "epmdTimeout": 300})");

  ASSERT_TRUE(config) << config.error().message;
  const auto& options = std::get<ErlangHostsStrategy::Options>(config->options);
  EXPECT_EQ(options.hostsFile, "/etc/hosts.erlang");
  EXPECT_EQ(options.epmdTimeout, 300ms);
  EXPECT_EQ(options.epmdPort, 4370);
  EXPECT_EQ(config->pollInterval, 1000ms);
}

TEST(ParseStrategyConfig, DnsAcceptsDnsPollAndKubernetesDnsSpellings) {
  const auto poll =
      parse("DNS", R"({"query": "app.test", "nodeBasename": "app", "pollingInterval": 2000})");
  const auto k8s = parse("Cluster.Strategy.Kubernetes.DNS",
                         R"({"service": "app-headless", "applicationName": "app"})");

  ASSERT_TRUE(poll) << poll.error().message;
  EXPECT_EQ(std::get<DnsStrategy::Options>(poll->options).query, "app.test");
  EXPECT_EQ(poll->pollInterval, 2000ms);
  ASSERT_TRUE(k8s) << k8s.error().message;
  EXPECT_EQ(std::get<DnsStrategy::Options>(k8s->options).query, "app-headless");
  EXPECT_EQ(std::get<DnsStrategy::Options>(k8s->options).nodeBasename, "app");
  EXPECT_EQ(k8s->kind, "DNS");
}

TEST(ParseStrategyConfig, DnsProblemsNameTheKey) {
  EXPECT_EQ(
      problem("DNS", R"({"query": "a", "nodeBasename": "b", "pollingInterval": "5"})"),
      "topologies.web.config.pollingInterval: must be a positive integer (milliseconds, at most "
      "a day), got the string \"5\"");
  EXPECT_EQ(problem("DNS", R"({"query": "a", "nodeBasename": "b", "pollInterval": 5})"),
            "topologies.web.config.pollInterval: libcluster's DNSPoll ignores this spelling; use "
            "pollingInterval");
  EXPECT_EQ(problem("DNS", R"({"nodeBasename": "b"})"),
            "topologies.web.config.query: required (or service)");
  EXPECT_EQ(problem("DNS", R"({"query": "a", "service": "b", "nodeBasename": "c"})"),
            "topologies.web.config.service: give either query or service, not both");
  EXPECT_EQ(problem("DNS", R"({"query": "", "nodeBasename": "c"})"),
            "topologies.web.config.query: must not be empty");
  EXPECT_EQ(problem("DNS", R"({"query": "a", "nodeBasename": "c", "ipFamily": "v4"})"),
            "topologies.web.config.ipFamily: must be one of any, ipv4, ipv6, got \"v4\"");
  EXPECT_EQ(problem("DNS", R"({"query": "a", "nodeBasename": "c", "resolver": "x"})").substr(0, 45),
            "topologies.web.config.resolver: not supported");
  EXPECT_EQ(problem("DNS", R"({"query": "a", "nodeBasename": "c", "querry": "x"})"),
            "topologies.web.config.querry: unknown option (known: applicationName, ipFamily, "
            "nodeBasename, pollInterval, pollingInterval, query, resolver, service)");
  EXPECT_EQ(problem("DNS", R"(["a"])"),
            "topologies.web.config: must be a map of options, got a list");
}

TEST(ParseStrategyConfig, DnsSrvDomainComesFromClusterDomainThenEnvironment) {
  StrategyEnvironment env = testStrategyEnvironment();
  const auto plain = parse("DNSSRV", R"({"service": "app", "applicationName": "app"})", env);
  env.clusterDomain = "corp.example.";
  const auto fromEnv =
      parse("DNSSRV", R"({"service": "app", "applicationName": "app", "namespace": "ns"})", env);
  const auto explicitDomain = parse(
      "DNSSRV", R"({"service": "app", "applicationName": "app", "clusterDomain": "x.y"})", env);

  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(std::get<DnsSrvStrategy::Options>(plain->options).clusterDomain, "cluster.local.");
  EXPECT_EQ(std::get<DnsSrvStrategy::Options>(plain->options).namespaceName, "prod");
  EXPECT_EQ(std::get<DnsSrvStrategy::Options>(fromEnv->options).clusterDomain, "corp.example.");
  EXPECT_EQ(std::get<DnsSrvStrategy::Options>(fromEnv->options).namespaceName, "ns");
  EXPECT_EQ(std::get<DnsSrvStrategy::Options>(explicitDomain->options).clusterDomain, "x.y");
  EXPECT_EQ(problem("DNSSRV", R"({"applicationName": "app"})"),
            "topologies.web.config.service: required");
}

TEST(ParseStrategyConfig, RancherOptions) {
  const auto config = parse("Rancher", R"({"nodeBasename": "app", "pollingInterval": 1000})");

  ASSERT_TRUE(config);
  EXPECT_EQ(std::get<RancherStrategy::Options>(config->options).url,
            "http://rancher-metadata/latest/self/service");
  EXPECT_EQ(problem("Rancher", R"({})"), "topologies.web.config.nodeBasename: required");
  EXPECT_EQ(
      problem("Rancher", R"({"nodeBasename": "a", "url": "rancher-metadata"})"),
      "topologies.web.config.url: must be an http:// or https:// URL, got \"rancher-metadata\"");
}

/// One Kubernetes strategy config and the options it must parse into.
struct KubernetesOptionsCase {
  const char* name;
  const char* config;
  std::string namespaceName;
  KubernetesStrategy::Mode mode;
  KubernetesStrategy::Lookup lookup;
  bool useCachedResources;
  std::string clusterDomain;
  std::optional<std::chrono::milliseconds> pollInterval;
};

class ParseKubernetesOptions : public testing::TestWithParam<KubernetesOptionsCase> {};

TEST_P(ParseKubernetesOptions, ParsesEveryField) {
  const KubernetesOptionsCase& expected = GetParam();

  const auto config = parse("Kubernetes", expected.config);

  ASSERT_TRUE(config) << config.error().message;
  const auto& options = std::get<KubernetesStrategy::Options>(config->options);
  EXPECT_EQ(options.namespaceName, expected.namespaceName);
  EXPECT_EQ(options.mode, expected.mode);
  EXPECT_EQ(options.lookup, expected.lookup);
  EXPECT_EQ(options.useCachedResources, expected.useCachedResources);
  EXPECT_EQ(options.clusterDomain, expected.clusterDomain);
  EXPECT_EQ(config->pollInterval, expected.pollInterval);
}

INSTANTIATE_TEST_SUITE_P(
    ParseStrategyConfig, ParseKubernetesOptions,
    testing::Values(
        KubernetesOptionsCase{"LibclustersDefaults",
                              R"({"kubernetesSelector": "app=myapp",
                                  "kubernetesNodeBasename": "myapp"})",
                              "prod", KubernetesStrategy::Mode::Ip,
                              KubernetesStrategy::Lookup::Endpoints, false, "cluster.local",
                              std::nullopt},
        KubernetesOptionsCase{"EveryOption",
                              R"json({"kubernetesSelector": "app=myapp,tier in (web)",
      "kubernetesNodeBasename": "myapp", "kubernetesNamespace": "other", "mode": ":hostname",
      "kubernetesServiceName": "myapp-headless", "kubernetesIpLookupMode": "pods",
      "kubernetesUseCachedResources": true, "kubernetesClusterName": "my_cluster",
      "pollingInterval": 10000})json",
                              "other", KubernetesStrategy::Mode::Hostname,
                              KubernetesStrategy::Lookup::Pods, true, "my_cluster.local", 10000ms},
        KubernetesOptionsCase{"CachedResourcesHasAShortSpellingToo",
                              R"({"kubernetesSelector": "app=x",
                                  "kubernetesNodeBasename": "x", "useCachedResources": true})",
                              "prod", KubernetesStrategy::Mode::Ip,
                              KubernetesStrategy::Lookup::Endpoints, true, "cluster.local",
                              std::nullopt}),
    [](const testing::TestParamInfo<KubernetesOptionsCase>& info) {
      return std::string(info.param.name);
    });

TEST(ParseStrategyConfig, KubernetesProblems) {
  const std::string base = R"("kubernetesSelector": "app=x", "kubernetesNodeBasename": "x")";
  EXPECT_EQ(problem("Kubernetes", R"({"kubernetesNodeBasename": "x"})"),
            "topologies.web.config.kubernetesSelector: required");
  EXPECT_EQ(problem("Kubernetes", "{" + base + R"(, "mode": "hostname"})"),
            "topologies.web.config.kubernetesServiceName: required when mode is hostname");
  EXPECT_EQ(
      problem("Kubernetes", "{" + base + R"(, "kubernetesMaster": "k8s.local"})").substr(0, 54),
      "topologies.web.config.kubernetesMaster: not supported:");
  EXPECT_EQ(problem("Kubernetes", "{" + base + R"(, "kubernetesUseCachedResources": "yes"})"),
            "topologies.web.config.kubernetesUseCachedResources: must be true or false, got the "
            "string \"yes\"");
  EXPECT_EQ(problem("Kubernetes",
                    R"json({"kubernetesSelector": "app in (", "kubernetesNodeBasename": "x"})json")
                .substr(0, 41),
            "topologies.web.config.kubernetesSelector:");
  EXPECT_EQ(
      problem("Kubernetes", "{" + base + R"(, "kubernetesIpLookupMode": "endpointslices"})"),
      "topologies.web.config.kubernetesIpLookupMode: must be one of endpoints, endpointSlices, "
      "pods, got \"endpointslices\"");
}

TEST(ParseStrategyConfig, GossipDefaultsAreLibclusters) {
  const auto config = parse("Gossip", R"({"mode": "plain"})");

  ASSERT_TRUE(config) << config.error().message;
  const GossipOptions& options = std::get<GossipConfig>(config->options).options;
  EXPECT_EQ(options.port, 45892);
  EXPECT_EQ(options.ifAddr, ""); // the group: unicast is not heard
  EXPECT_EQ(options.multicastAddr, "233.252.1.32");
  EXPECT_EQ(options.multicastTtl, 1);
  EXPECT_FALSE(options.broadcastOnly);
  EXPECT_FALSE(options.secret);
}

TEST(ParseStrategyConfig, GossipEveryOption) {
  const auto config = parse("Cluster.Strategy.Gossip", R"({"port": 45999, "ifAddr": "127.0.0.1",
      "multicastIf": "127.0.0.1", "multicastAddr": "233.252.1.33", "multicastTtl": 2,
      "broadcastOnly": false, "secretFile": "/run/gossip/secret", "heartbeatMinMs": 10,
      "heartbeatMaxMs": 20, "peerExpirySeconds": 60, "maxPeers": 100, "maxPeersPerSource": 3,
      "newPeersPerSecond": 7})");

  ASSERT_TRUE(config) << config.error().message;
  const GossipOptions& options = std::get<GossipConfig>(config->options).options;
  EXPECT_EQ(std::get<GossipConfig>(config->options).secretFile, "/run/gossip/secret");
  EXPECT_EQ(options.maxPeersPerSource, 3U);
  EXPECT_EQ(options.newPeersPerSecond, 7);
  EXPECT_EQ(options.port, 45999);
  EXPECT_EQ(options.multicastIf, "127.0.0.1");
  EXPECT_EQ(options.multicastAddr, "233.252.1.33");
  EXPECT_EQ(options.multicastTtl, 2);
  EXPECT_FALSE(options.secret);
  EXPECT_EQ(options.heartbeatMax, 20ms);
  EXPECT_EQ(options.peerExpiry, 60s);
  EXPECT_EQ(options.maxPeers, 100U);
}

TEST(ParseStrategyConfig, GossipWithoutKeysOrAnExplicitPlainModeIsAnErrorNamingTheKey) {
  EXPECT_EQ(problem("Gossip", ""),
            "topologies.web.config.keys: gossip needs keys (or keysFile) to authenticate "
            "heartbeats; set mode plain to accept unauthenticated heartbeats from anyone on the "
            "network");
  EXPECT_TRUE(parse("Gossip", R"({"keysFile": "/run/gossip/keys"})"));
  EXPECT_TRUE(parse("Gossip", R"({"secretFile": "/run/gossip/secret"})"));
}

TEST(ParseStrategyConfig, GossipRefusesInlineSecretsAsTheCookieIs) {
  const std::string secret = problem("Gossip", R"({"secret": "hunter2hunter2"})");
  const std::string keys =
      problem("Gossip", R"({"keys": ["AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]})");

  EXPECT_EQ(secret.rfind("topologies.web.config.secret: not read from the configuration", 0), 0U)
      << secret;
  EXPECT_EQ(keys.rfind("topologies.web.config.keys: not read from the configuration", 0), 0U)
      << keys;
  EXPECT_EQ(secret.find("hunter2"), std::string::npos);
  EXPECT_EQ(keys.find("AAEC"), std::string::npos);
}

TEST(ParseStrategyConfig, GossipProblemsNameTheKeyInCamelCase) {
  EXPECT_EQ(problem("Gossip", R"({"mode": "plain", "multicastAddr": "10.0.0.1"})").substr(0, 45),
            "topologies.web.config.multicastAddr: 10.0.0.1");
  EXPECT_EQ(problem("Gossip", R"({"port": 0})"),
            "topologies.web.config.port: must be an integer from 1 to 65535, got 0");
  EXPECT_EQ(problem("Gossip", R"({"mode": "plain", "port": 0})"),
            "topologies.web.config.port: must be an integer from 1 to 65535, got 0");
  EXPECT_EQ(problem("Gossip", R"({"mode": "authenticated"})"),
            "topologies.web.config.keys: mode authenticated needs at least one key");
  EXPECT_EQ(problem("Gossip", R"({"mode": "plain", "heartbeatMinMs": 50, "heartbeatMaxMs": 10})"),
            "topologies.web.config.heartbeatMinMs / heartbeatMaxMs: need 1 <= min <= max");
  EXPECT_EQ(problem("Gossip", R"({"multicast_addr": "233.252.1.32"})").substr(0, 52),
            "topologies.web.config.multicast_addr: unknown option");
}

TEST(MakeStrategy, GossipReadsItsSecretFileAndStarts) {
  const std::filesystem::path secret =
      std::filesystem::temp_directory_path() / ("gossip-secret-" + std::to_string(::getpid()));
  std::ofstream(secret) << "  password \n";
  FakeClock clock;
  MetricsRegistry metrics;
  StrategyDeps deps{
      .clock = clock, .self = "app@127.0.0.1", .topology = "web", .metrics = &metrics};
  const auto parsed = parse("Gossip", R"({"broadcastOnly": true, "multicastAddr": "127.255.255.255",
      "ifAddr": "127.0.0.1", "port": )" + std::to_string(closedLoopbackPort(SOCK_DGRAM)) +
                                          R"(, "secretFile": ")" + secret.string() + R"("})");
  ASSERT_TRUE(parsed) << parsed.error().message;

  const auto strategy = makeStrategy(*parsed, deps);

  std::filesystem::remove(secret);
  ASSERT_TRUE(strategy) << strategy.error().message;
  EXPECT_FALSE((*strategy)->prunes());
}

TEST(MakeStrategy, GossipMissingSecretFileDoesNotStart) {
  FakeClock clock;
  MetricsRegistry metrics;
  StrategyDeps deps{
      .clock = clock, .self = "app@127.0.0.1", .topology = "web", .metrics = &metrics};
  const auto parsed = parse("Gossip", R"({"secretFile": "/nonexistent/secret"})");
  ASSERT_TRUE(parsed) << parsed.error().message;

  const auto strategy = makeStrategy(*parsed, deps);

  ASSERT_FALSE(strategy);
  EXPECT_EQ(strategy.error().message, "secretFile: cannot read /nonexistent/secret");
}

TEST(MakeStrategy, BuildsEachKind) {
  FakeClock clock;
  FakeResolver resolver;
  FakeKubeApi api;
  StrategyDeps deps{.clock = clock,
                    .self = "app@10.0.0.7",
                    .resolver = &resolver,
                    .api = &api,
                    .fetch = [](const std::string&, std::stop_token) -> Result<std::string> {
                      return std::string("{}");
                    }};
  for (const auto& [kind, config] : std::vector<std::pair<std::string, std::string>>{
           {"ClusterTopology", R"({"name": "web"})"},
           {"Epmd", R"({"hosts": ["a@b"]})"},
           {"LocalEpmd", ""},
           {"DNS", R"({"query": "a", "nodeBasename": "b"})"},
           {"DNSSRV", R"({"service": "a", "applicationName": "b"})"},
           {"Rancher", R"({"nodeBasename": "b"})"},
           {"Kubernetes", R"({"kubernetesSelector": "app=x", "kubernetesNodeBasename": "x"})"},
       }) {
    const auto parsed = parse(kind, config);
    ASSERT_TRUE(parsed) << kind << ": " << parsed.error().message;

    const auto strategy = makeStrategy(*parsed, deps);

    EXPECT_TRUE(strategy) << kind << ": " << strategy.error().message;
  }
}

TEST(MakeStrategy, ErlangHostsWithoutAFileDoesNotStart) {
  FakeClock clock;
  FakeResolver resolver;
  StrategyDeps deps{.clock = clock, .self = "app@h", .resolver = &resolver};
  const auto parsed = parse("ErlangHosts", "");
  ASSERT_TRUE(parsed);

  const auto strategy = makeStrategy(*parsed, deps);

  ASSERT_FALSE(strategy);
  EXPECT_EQ(strategy.error().code, Error::Code::NotFound);
}

TEST(MakeStrategy, MissingDependencyIsAnError) {
  FakeClock clock;
  StrategyDeps deps{.clock = clock, .self = "app@h"};

  EXPECT_FALSE(makeStrategy(*parse("DNS", R"({"query": "a", "nodeBasename": "b"})"), deps));
  EXPECT_FALSE(makeStrategy(*parse("ClusterTopology", R"({"name": "web"})"), deps));
  EXPECT_FALSE(makeStrategy(*parse("Rancher", R"({"nodeBasename": "b"})"), deps));
}

TEST(StrategyEnvironment, ReadsTheProcessEnvironment) {
  ::setenv("CLUSTER_DOMAIN", "corp.example.", 1);
  ::setenv("ERL_EPMD_PORT", "4999", 1);
  ::setenv("HOME", "/home/test", 1);
  ::setenv("OTP_ROOT", "/opt/otp", 1);

  const auto env = StrategyEnvironment::fromProcess("ns");

  ::unsetenv("CLUSTER_DOMAIN");
  ::unsetenv("ERL_EPMD_PORT");
  ::unsetenv("OTP_ROOT");
  ASSERT_TRUE(env);
  EXPECT_EQ(env->namespaceName, "ns");
  EXPECT_EQ(env->clusterDomain, "corp.example.");
  EXPECT_EQ(env->epmdPort, 4999);
  ASSERT_EQ(env->hostsSearchPath.size(), 3U);
  EXPECT_EQ(env->hostsSearchPath[1], "/home/test");
  EXPECT_EQ(env->hostsSearchPath[2], "/opt/otp");
  ::setenv("ERL_EPMD_PORT", "x", 1);
  EXPECT_FALSE(StrategyEnvironment::fromProcess("ns"));
  ::unsetenv("ERL_EPMD_PORT");
}

struct CamelCase {
  const char* in;
  const char* out;
};

// How gtest shows a row: the input with bytes outside printable ASCII as \xNN.
void PrintTo(const CamelCase& row, std::ostream* out) {
  *out << '"';
  for (const char c : std::string_view(row.in)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      *out << c;
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      *out << "\\x" << kHex[byte >> 4] << kHex[byte & 0xf];
    }
  }
  *out << '"';
}

class CamelCaseOptionNamesTest : public testing::TestWithParam<CamelCase> {};

TEST_P(CamelCaseOptionNamesTest, RewritesOnlyWholeSnakeCaseWords) {
  EXPECT_EQ(camelCaseOptionNames(GetParam().in), GetParam().out);
}

INSTANTIATE_TEST_SUITE_P(
    Table, CamelCaseOptionNamesTest,
    testing::Values(
        CamelCase{"", ""}, CamelCase{"port", "port"},
        CamelCase{"multicast_addr: not a multicast address",
                  "multicastAddr: not a multicast address"},
        CamelCase{"multicast_addr and multicast_ttl", "multicastAddr and multicastTtl"},
        CamelCase{"a_b_c_d", "aBCD"}, CamelCase{"x.broadcast_only=1", "x.broadcastOnly=1"},
        CamelCase{"(secret_file)", "(secretFile)"}, CamelCase{"end with_it", "end withIt"},
        // Not wholly lowercase words joined by single underscores: kept.
        CamelCase{"snake_Case", "snake_Case"}, CamelCase{"a_1", "a_1"}, CamelCase{"_x", "_x"},
        CamelCase{"x_", "x_"}, CamelCase{"x__y", "x__y"}, CamelCase{"__init__", "__init__"},
        CamelCase{"1multicast_addr", "1multicast_addr"},
        CamelCase{"Multicast_addr", "Multicast_addr"}, CamelCase{"ARES_ENODATA", "ARES_ENODATA"},
        CamelCase{"multicast_addr2", "multicast_addr2"},
        // Bytes that are not word characters end a word, as \b did.
        CamelCase{"caf\xc3\xa9_x multicast_if\xe2\x80\x94",
                  "caf\xc3\xa9_x multicastIf\xe2\x80\x94"}),
    [](const testing::TestParamInfo<CamelCase>& info) {
      // gtest names must be [A-Za-z0-9_]: the row number, then the input's letters and digits.
      std::string name = "row" + std::to_string(info.index) + "_";
      for (const char c : std::string_view(info.param.in)) {
        if (std::isalnum(static_cast<unsigned char>(c)) != 0 &&
            static_cast<unsigned char>(c) < 0x80) {
          name += c;
        }
      }
      return name;
    });

TEST(CamelCaseOptionNames, KeepsEmbeddedNulBytes) {
  const std::string in("multicast_addr\0multicast_ttl", 28);
  const std::string out = camelCaseOptionNames(in);
  EXPECT_EQ(out, std::string("multicastAddr\0multicastTtl", 26));
}

TEST(CamelCaseOptionNames, ALongMessageIsRewrittenWhole) {
  // Bounded input; the std::regex it replaces recursed per character matched.
  std::string in;
  for (int i = 0; i < 20000; ++i) {
    in += "some_option_name ";
  }
  const std::string out = camelCaseOptionNames(in);
  EXPECT_EQ(out.size(), in.size() - 2 * 20000);
  EXPECT_EQ(out.substr(0, 15), "someOptionName ");
}

} // namespace
} // namespace libcluster
