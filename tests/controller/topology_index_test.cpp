#include "controller/topology_index.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

ClusterTopology topology(const std::string& name, const nlohmann::json& spec, std::int64_t generation = 1) {
  ClusterTopology t;
  t.namespaceName = "prod";
  t.name = name;
  t.generation = generation;
  t.spec = spec;
  return t;
}

PodInfo podIn(const std::string& ns, std::map<std::string, std::string> labels) {
  PodInfo p;
  p.name = "p";
  p.namespaceName = ns;
  p.labels = std::move(labels);
  return p;
}

TEST(TopologyIndex, MapsPodsToTheTopologiesWhoseSelectorsMatch) {
  TopologyIndex index;
  index.update(topology("web", nlohmann::json::parse(
                                   R"({"nodeBasename": "web", "sources": [{"kubernetes": {"selector": {"matchLabels": {"app": "web"}}}}]})")));
  index.update(topology("all", nlohmann::json::parse(
                                   R"({"nodeBasename": "x", "sources": [{"kubernetes": {"selector": {}, "namespace": "other"}}]})")));

  EXPECT_EQ(index.topologiesForPod(podIn("prod", {{"app", "web"}})), std::vector<std::string>{"prod/web"});
  EXPECT_TRUE(index.topologiesForPod(podIn("prod", {{"app", "db"}})).empty());
  EXPECT_EQ(index.topologiesForPod(podIn("other", {{"app", "db"}})), std::vector<std::string>{"prod/all"});
}

TEST(TopologyIndex, ReportsAnInvalidSelectorAsAnInvalidSpec) {
  TopologyIndex index;
  index.update(topology("bad", nlohmann::json::parse(
                                   R"({"nodeBasename": "x", "sources": [{"kubernetes": {"selector": {"matchLabels": {"bad key!": "v"}}}}]})")));

  const auto spec = index.spec("prod/bad");

  ASSERT_TRUE(spec);
  ASSERT_FALSE(*spec);
  EXPECT_NE(spec->error().message.find("spec.sources[0].kubernetes.selector"), std::string::npos);
  EXPECT_TRUE(index.topologiesForPod(podIn("prod", {})).empty());
}

TEST(TopologyIndex, MapsEndpointSlicesByServiceAndSelector) {
  TopologyIndex index;
  index.update(topology("web", nlohmann::json::parse(
                                   R"({"nodeBasename": "web", "sources": [{"kubernetes": {"selector": {}, "resource": "endpointSlices", "serviceName": "web-headless"}}]})")));

  EXPECT_EQ(index.topologiesForEndpointSlice("prod", {{kServiceNameLabel, "web-headless"}}),
            std::vector<std::string>{"prod/web"});
  EXPECT_TRUE(index.topologiesForEndpointSlice("prod", {{kServiceNameLabel, "db"}}).empty());
  EXPECT_TRUE(index.topologiesForPod(podIn("prod", {})).empty()) << "an endpointSlices source ignores pods";
}

TEST(TopologyIndex, ForgetsRemovedTopologies) {
  TopologyIndex index;
  index.update(topology("web", nlohmann::json::parse(
                                   R"({"nodeBasename": "web", "sources": [{"kubernetes": {"selector": {}}}]})")));

  index.remove("prod/web");

  EXPECT_FALSE(index.spec("prod/web"));
  EXPECT_TRUE(index.topologiesForPod(podIn("prod", {})).empty());
}

TEST(TopologyIndex, ASourceMovedToAnotherNamespaceNoLongerMapsTheOldOne) {
  TopologyIndex index;
  index.update(topology("web", nlohmann::json::parse(
                                   R"({"nodeBasename": "web", "sources": [{"kubernetes": {"selector": {}, "namespace": "a"}}]})"),
                        1));
  index.update(topology("other", nlohmann::json::parse(
                                     R"({"nodeBasename": "o", "sources": [{"kubernetes": {"selector": {}, "namespace": "a"}}]})")));
  ASSERT_EQ(index.topologiesForPod(podIn("a", {})),
            (std::vector<std::string>{"prod/other", "prod/web"}));

  index.update(topology("web", nlohmann::json::parse(
                                   R"({"nodeBasename": "web", "sources": [{"kubernetes": {"selector": {}, "namespace": "b"}}]})"),
                        2));

  EXPECT_EQ(index.topologiesForPod(podIn("a", {})), std::vector<std::string>{"prod/other"});
  EXPECT_EQ(index.topologiesForPod(podIn("b", {})), std::vector<std::string>{"prod/web"});
  index.remove("prod/other");
  EXPECT_TRUE(index.topologiesForPod(podIn("a", {})).empty());
}

} // namespace
} // namespace libcluster
