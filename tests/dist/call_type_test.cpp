// One program that links the CRD types (libcluster_api) and the connector (libcluster_dist): the
// call type is one type, defined once. Two `Mfa` structs whose defaults were defined in both
// libraries made such a program fail to link ("multiple definition of defaultConnectMfa").
#include <type_traits>

#include <gtest/gtest.h>

#include "api/topology.h"
#include "dist/ei_connector.h"

namespace libcluster {
namespace {

static_assert(
    std::is_same_v<decltype(TopologySpec::connect), decltype(EiConnectorOptions::connect)>,
    "the CRD's and the connector's calls are one type");

TEST(CallType, TheSpecsCallsGoToTheConnectorAsTheyAre) {
  Result<TopologySpec> spec = parseTopologySpec(nlohmann::json{
      {"nodeBasename", "app"},
      {"sources", {{{"epmd", {{"nodes", {"app@127.0.0.2"}}}}}}},
      {"listNodes", {{"module", "erlang"}, {"function", "nodes"}, {"args", {"visible"}}}}});
  ASSERT_TRUE(spec) << spec.error().message;
  EiConnectorOptions options;
  options.localNode = "app@127.0.0.1";
  options.cookie = "secret";
  options.connect = spec->connect;
  options.listNodes = spec->listNodes;

  Result<std::unique_ptr<EiConnector>> connector = EiConnector::create(options);

  ASSERT_TRUE(connector) << connector.error().message;
  EXPECT_EQ(spec->connect, defaultConnectMfa());
  EXPECT_EQ(spec->listNodes, (Mfa{"erlang", "nodes", {"visible"}}));
}

TEST(CallType, AnArgumentTheConnectorCannotEncodeIsRefused) {
  EiConnectorOptions options;
  options.localNode = "app@127.0.0.1";
  options.cookie = "secret";
  options.listNodes = Mfa{"erlang", "nodes", {"[unclosed"}};

  EXPECT_FALSE(EiConnector::create(options));
}

} // namespace
} // namespace libcluster
