// One program linking every production library (libcluster_*), each linked whole (every object
// file, not only those a call needs), with one trivial call into each. A symbol defined in two
// libraries ("multiple definition of ...", an ODR break such as two libcluster::Mfa helpers)
// fails this target's link, and so the build.
#include "link/link_all.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/topology.h"
#include "controller/cluster_topology.h"
#include "core/result.h"
#include "dns/cares_resolver.h"
#include "election/leader_elector.h"
#include "fakes/fake_clock.h"
#include "gossip/gossip_options.h"
#include "informer/label_selector.h"
#include "kube/http_protocol.h"
#include "membership/node_name.h"
#include "membership/sources.h"
#include "ops/bind_address.h"
#include "ops/metrics_registry.h"
#include "reconcile/work_queue.h"
#include "strategy/make_strategy.h"
#include "strategy/rancher_strategy.h"

namespace libcluster {
namespace {

using testing::HasSubstr;

TEST(LinkAll, EveryLibraryAnswersOneCall) {
  EXPECT_EQ(codeName(Error::Code::NotFound), "NotFound"); // core
  EXPECT_FALSE(parseTopologySpec(nlohmann::json::array()));  // api
  EXPECT_EQ(percentEncode("a b"), "a%20b");                  // kube
  EXPECT_FALSE(labelKeyProblem("-bad").empty());             // informer
  EXPECT_FALSE(defaultLeaderIdentity().empty());             // election
  EXPECT_EQ(gossipModeName(GossipMode::Secret), "secret");   // gossip
  EXPECT_EQ(ipNodeName("app", "10.0.0.1"), "app@10.0.0.1");  // membership
  EXPECT_EQ(camelCaseOptionNames("multicast_addr"), "multicastAddr"); // strategy_factory
  EXPECT_EQ(topologiesPath("ns").namespaceName, "ns");       // controller
  EXPECT_THAT(link::fromDist(), HasSubstr("libcluster-link-test"));  // dist
  EXPECT_THAT(link::fromAgent(), HasSubstr("topologies"));          // agent

  const Result<PeerSet> rancher = parseRancherService(R"({"containers":[{"ips":["10.0.0.2"]}]})", "app");
  ASSERT_TRUE(rancher);                                       // strategy
  EXPECT_EQ(*rancher, PeerSet{"app@10.0.0.2"});

  const Result<std::optional<BindAddress>> bind = parseBindAddress("127.0.0.1:9090"); // ops
  ASSERT_TRUE(bind) << bind.error().message;
  ASSERT_TRUE(bind->has_value());
  EXPECT_EQ((*bind)->port, 9090);

  FakeClock clock;
  MetricsRegistry metrics;
  WorkQueue queue(WorkQueue::Options{}, clock, metrics);      // reconcile
  EXPECT_EQ(queue.len(), 0U);

  // dns: creating a resolver sends nothing.
  const Result<std::unique_ptr<CaresResolver>> resolver =
      CaresResolver::create({.servers = {"127.0.0.1:53"}, .useSearchDomains = false});
  EXPECT_TRUE(resolver) << resolver.error().message;
}

} // namespace
} // namespace libcluster
