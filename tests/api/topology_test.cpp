#include "api/topology.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

using nlohmann::json;

json minimalSpec() {
  return json::parse(R"({"nodeBasename": "app",
                          "sources": [{"kubernetes": {"selector": {"matchLabels": {"app": "x"}}}}]})");
}

std::string errorOf(const json& spec) {
  Result<TopologySpec> parsed = parseTopologySpec(spec);
  return parsed ? std::string("(parsed)") : parsed.error().message;
}

TEST(ParseTopologySpec, AppliesTheCrdDefaults) {
  Result<TopologySpec> spec = parseTopologySpec(minimalSpec());

  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->nodeBasename, "app");
  ASSERT_EQ(spec->sources.size(), 1u);
  const TopologySource& source = spec->sources[0];
  EXPECT_EQ(source.name, "kubernetes");
  ASSERT_TRUE(source.kubernetes);
  EXPECT_EQ(source.kubernetes->mode, KubernetesSource::Mode::Ip);
  EXPECT_EQ(source.kubernetes->resource, KubernetesSource::Resource::Pods);
  EXPECT_EQ(source.kubernetes->clusterDomain, "cluster.local");
  EXPECT_EQ(source.kubernetes->readiness, KubernetesSource::Readiness::IncludeNotReady);
  EXPECT_FALSE(source.kubernetes->includeTerminating);
  EXPECT_EQ(spec->connect, (Mfa{"net_kernel", "connect_node", {}}));
  EXPECT_EQ(spec->disconnect, (Mfa{"erlang", "disconnect_node", {}}));
  EXPECT_EQ(spec->listNodes, (Mfa{"erlang", "nodes", {"connected"}}));
  EXPECT_EQ(spec->reconnectIntervalSeconds, 5);
  EXPECT_EQ(spec->onRemoval, TopologySpec::OnRemoval::Disconnect);
  EXPECT_EQ(spec->formation, TopologySpec::Formation::SeedFirst);
}

TEST(ParseTopologySpec, ReadsEverySourceKind) {
  const json spec = json::parse(R"({
    "nodeBasename": "app",
    "sources": [
      {"name": "pods", "kubernetes": {"selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]},
                        "mode": "hostname", "serviceName": "app-headless", "clusterDomain": "example.internal",
                        "readiness": "ReadyOnly", "ipFamily": "IPv6"}},
      {"dns": {"name": "app.example.com", "recordType": "SRV", "minRefreshSeconds": 2}},
      {"epmd": {"nodes": ["app@vm1.example.com", "app@192.0.2.10"]}, "nodeBasename": "other"},
      {"rancher": {"pollIntervalSeconds": 10}}
    ],
    "connect": {"module": "Elixir.MyApp.Cluster", "function": "connect", "args": ["[visible]"]},
    "onRemoval": "Ignore", "formation": "Immediate", "reconnectIntervalSeconds": 30})");

  Result<TopologySpec> parsed = parseTopologySpec(spec);

  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->sources.size(), 4u);
  EXPECT_EQ(parsed->sources[0].name, "pods");
  EXPECT_EQ(parsed->sources[0].kubernetes->mode, KubernetesSource::Mode::Hostname);
  EXPECT_EQ(parsed->sources[0].kubernetes->selector.matchExpressions[0].values,
            std::vector<std::string>{"web"});
  EXPECT_EQ(parsed->sources[0].kubernetes->ipFamily, KubernetesSource::IpFamily::IPv6);
  EXPECT_EQ(parsed->sources[1].dns->recordType, DnsSource::RecordType::Srv);
  EXPECT_EQ(parsed->sources[1].dns->minRefreshSeconds, 2);
  EXPECT_EQ(parsed->sources[2].nodeBasename, "other");
  EXPECT_EQ(parsed->sources[2].epmd->nodes.size(), 2u);
  EXPECT_EQ(parsed->sources[3].rancher->url, "http://rancher-metadata/latest/self/service");
  EXPECT_EQ(parsed->connect.module, "Elixir.MyApp.Cluster");
  EXPECT_EQ(parsed->onRemoval, TopologySpec::OnRemoval::Ignore);
  EXPECT_EQ(parsed->reconnectIntervalSeconds, 30);
}

TEST(ParseTopologySpec, RoundTripsThroughJson) {
  Result<TopologySpec> first = parseTopologySpec(minimalSpec());
  ASSERT_TRUE(first);

  Result<TopologySpec> second = parseTopologySpec(toJson(*first));

  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(*first, *second);
}

TEST(ParseTopologySpec, NamesTheFieldOfEveryProblem) {
  json spec = minimalSpec();
  spec["nodeBasename"] = "not a name";
  EXPECT_NE(errorOf(spec).find("spec.nodeBasename"), std::string::npos);

  spec = minimalSpec();
  spec["sources"][0]["kubernetes"]["mode"] = "hostname";
  EXPECT_EQ(errorOf(spec),
            "spec.sources[0].kubernetes.serviceName: required when mode is hostname");

  spec = minimalSpec();
  spec["sources"][0]["epmd"] = {{"nodes", {"a@b"}}};
  EXPECT_EQ(errorOf(spec),
            "spec.sources[0]: must set exactly one of kubernetes, dns, epmd or rancher");

  spec = minimalSpec();
  spec["sources"] = json::array();
  EXPECT_EQ(errorOf(spec), "spec.sources: required: at least one source");

  spec = minimalSpec();
  spec["sources"].push_back({{"epmd", {{"nodes", {"no-at-sign"}}}}});
  EXPECT_NE(errorOf(spec).find("spec.sources[1].epmd.nodes[0]"), std::string::npos);

  spec = minimalSpec();
  spec["sources"][0]["kubernetes"]["selector"]["matchExpressions"] =
      json::parse(R"([{"key": "a", "operator": "In"}])");
  EXPECT_EQ(errorOf(spec), "spec.sources[0].kubernetes.selector.matchExpressions[0].values: "
                           "required for operator In");

  spec = minimalSpec();
  spec["reconnectIntervalSeconds"] = 0;
  EXPECT_NE(errorOf(spec).find("spec.reconnectIntervalSeconds"), std::string::npos);

  spec = minimalSpec();
  spec["connect"] = {{"module", "Bad Module"}, {"function", "f"}};
  EXPECT_NE(errorOf(spec).find("spec.connect.module"), std::string::npos);

  spec = minimalSpec();
  spec["sources"].push_back(spec["sources"][0]);
  EXPECT_NE(errorOf(spec).find("duplicate source name"), std::string::npos);
}

TEST(ParseTopologySpec, NeverThrowsOnWrongTypes) {
  for (const char* text : {R"(null)", R"([])", R"({"nodeBasename": 5, "sources": "x"})",
                           R"({"nodeBasename": "a", "sources": [null, 3, {"kubernetes": []}]})",
                           R"({"nodeBasename": "a", "sources": [{"kubernetes": {"selector": 7}}]})",
                           R"({"nodeBasename": "a", "sources": [{"dns": {"name": "x", "minRefreshSeconds": "5"}}]})"}) {
    EXPECT_FALSE(parseTopologySpec(json::parse(text))) << text;
  }
}

TEST(TopologyStatus, RoundTripsThroughJson) {
  TopologyStatus status;
  status.observedGeneration = 3;
  status.memberCount = 1;
  status.seed = "app@10.0.0.1";
  status.members.push_back(Member{"app@10.0.0.1", "app-0", {"10.0.0.1"}, "pods", true, true});
  status.conditions.push_back(Condition{"Ready", "True", "MembersResolved", "1 member", 3,
                                        "2026-01-01T00:00:00Z"});

  EXPECT_EQ(parseTopologyStatus(toJson(status)), status);
}

TEST(TopologyStatus, DropsMalformedEntriesInsteadOfFailing) {
  const TopologyStatus status = parseTopologyStatus(json::parse(
      R"({"memberCount": "x", "members": [1, {"pod": "no-node"}, {"node": "a@b", "ips": [1, "10.0.0.1"]}],
          "conditions": [{"status": "True"}]})"));

  ASSERT_EQ(status.members.size(), 1u);
  EXPECT_EQ(status.members[0].ips, std::vector<std::string>{"10.0.0.1"});
  EXPECT_TRUE(status.conditions.empty());
  EXPECT_EQ(status.memberCount, 0);
}

TEST(SetCondition, KeepsTransitionTimeWhenStatusIsUnchanged) {
  std::vector<Condition> conditions{{"Ready", "True", "A", "old", 1, "2026-01-01T00:00:00Z"}};

  const bool changed =
      setCondition(conditions, {"Ready", "True", "B", "new", 2, "2026-02-02T00:00:00Z"});

  EXPECT_TRUE(changed);
  EXPECT_EQ(conditions[0].lastTransitionTime, "2026-01-01T00:00:00Z");
  EXPECT_EQ(conditions[0].message, "new");
}

TEST(SetCondition, ReportsNoChangeForAnIdenticalCondition) {
  std::vector<Condition> conditions{{"Ready", "True", "A", "same", 1, "2026-01-01T00:00:00Z"}};

  EXPECT_FALSE(setCondition(conditions, {"Ready", "True", "A", "same", 1, "2026-03-03T00:00:00Z"}));
}

TEST(SetCondition, MovesTransitionTimeWhenStatusFlips) {
  std::vector<Condition> conditions{{"Ready", "True", "A", "", 1, "2026-01-01T00:00:00Z"}};

  EXPECT_TRUE(setCondition(conditions, {"Ready", "False", "B", "", 1, "2026-02-02T00:00:00Z"}));

  EXPECT_EQ(conditions[0].lastTransitionTime, "2026-02-02T00:00:00Z");
  EXPECT_EQ(findCondition(conditions, "Ready")->status, "False");
}

} // namespace
} // namespace libcluster
