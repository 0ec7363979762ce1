#include "strategy/dns_strategy.h"

#include <gtest/gtest.h>

#include "fakes/fake_resolver.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

class DnsStrategyTest : public testing::Test {
protected:
  std::unique_ptr<DnsStrategy> make(DnsStrategy::Options options) {
    auto strategy = DnsStrategy::create(std::move(options), resolver_);
    EXPECT_TRUE(strategy) << strategy.error().message;
    return std::move(*strategy);
  }

  FakeResolver resolver_;
};

TEST_F(DnsStrategyTest, NamesEachAddressBasenameAtIp) {
  resolver_.answerAddresses("app.test",
                            std::vector<DnsAddress>{{"10.0.0.1", 5s}, {"10.0.0.2", 5s}});
  auto strategy = make({.query = "app.test", .nodeBasename = "node"});

  const auto peers = strategy->discoverPeers({});

  ASSERT_TRUE(peers);
  EXPECT_EQ(*peers, (PeerSet{"node@10.0.0.1", "node@10.0.0.2"}));
  EXPECT_EQ(resolver_.lastFamily(), AddressFamily::Any);
}

TEST_F(DnsStrategyTest, WritesIPv6AsLibclusterDoes) {
  resolver_.answerAddresses(
      "example.org",
      std::vector<DnsAddress>{{"10.0.0.1", 5s}, {"2a09:8280:1:a270:b8f5:b9f7:8891:f3", 5s}});
  auto strategy = make({.query = "example.org", .nodeBasename = "node"});

  const auto peers = strategy->discoverPeers({});

  ASSERT_TRUE(peers);
  EXPECT_EQ(*peers, (PeerSet{"node@10.0.0.1", "node@2a09:8280:1:a270:b8f5:b9f7:8891:f3"}));
}

TEST_F(DnsStrategyTest, AsksForTheConfiguredFamily) {
  resolver_.answerAddresses("app.test", std::vector<DnsAddress>{{"10.0.0.1", 5s}});
  auto strategy =
      make({.query = "app.test", .nodeBasename = "node", .family = AddressFamily::IPv4});

  (void)strategy->discoverPeers({});

  EXPECT_EQ(resolver_.lastFamily(), AddressFamily::IPv4);
}

const Error kNoData{Error::Code::NotFound,
                   "A lookup of 'app.test' failed: the name has no records of that type (NODATA) "
                   "[ARES_ENODATA]"};
const Error kNxDomain{Error::Code::NotFound,
                      "A lookup of 'app.test' failed: the name does not exist (NXDOMAIN) "
                      "[ARES_ENOTFOUND]"};

TEST_F(DnsStrategyTest, ANameWithoutRecordsIsNoPeers) {
  resolver_.answerAddresses("app.test", kNoData);
  auto strategy = make({.query = "app.test", .nodeBasename = "node"});

  const auto peers = strategy->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_TRUE(peers->empty());
}

TEST_F(DnsStrategyTest, NoSuchNameIsUnknownNotNoPeers) {
  // The controller's rule too: NXDOMAIN is more often a typo or an outage than an empty cluster.
  resolver_.answerAddresses("app.test", kNxDomain);
  auto strategy = make({.query = "app.test", .nodeBasename = "node"});

  const auto peers = strategy->discoverPeers({});

  ASSERT_FALSE(peers);
  EXPECT_EQ(peers.error().code, Error::Code::NotFound);
}

TEST_F(DnsStrategyTest, LookupFailureIsAnErrorNeverNoPeers) {
  auto strategy = make({.query = "app.test", .nodeBasename = "node"});
  for (Error::Code code : {Error::Code::Unavailable, Error::Code::Timeout, Error::Code::Invalid}) {
    resolver_.answerAddresses("app.test", Error{code, "SERVFAIL"});

    const auto peers = strategy->discoverPeers({});

    ASSERT_FALSE(peers);
    EXPECT_EQ(peers.error().code, code);
  }
}

TEST_F(DnsStrategyTest, PollsOnceEachTime) {
  resolver_.answerAddresses("app.test", std::vector<DnsAddress>{{"10.0.0.1", 5s}});
  auto strategy = make({.query = "app.test", .nodeBasename = "node"});

  (void)strategy->discoverPeers({});

  EXPECT_EQ(resolver_.calls("app.test"), 1); // libcluster's DNS strategies looked up twice
}

TEST_F(DnsStrategyTest, RequiresQueryAndBasename) {
  EXPECT_FALSE(DnsStrategy::create({.query = "", .nodeBasename = "node"}, resolver_));
  EXPECT_FALSE(DnsStrategy::create({.query = "app.test", .nodeBasename = ""}, resolver_));
}

class DnsSrvStrategyTest : public DnsStrategyTest {};

TEST_F(DnsSrvStrategyTest, QueriesTheServiceNameWithLibclustersDefaultDomain) {
  auto strategy = DnsSrvStrategy::create(
      {.service = "elixir-plug-poc", .namespaceName = "default", .applicationName = "node"},
      resolver_);
  ASSERT_TRUE(strategy);

  EXPECT_EQ((*strategy)->query(), "elixir-plug-poc.default.svc.cluster.local.");
}

TEST_F(DnsSrvStrategyTest, NamesEachTargetBasenameAtTarget) {
  resolver_.answerServices(
      "elixir-plug-poc.default.svc.cluster.local.",
      std::vector<DnsService>{
          {"elixir-plug-poc-0.elixir-plug-poc.default.svc.cluster.local", 0, 10, 50, 5s},
          {"elixir-plug-poc-1.elixir-plug-poc.default.svc.cluster.local.", 0, 10, 50, 5s}});
  auto strategy = DnsSrvStrategy::create(
      {.service = "elixir-plug-poc", .namespaceName = "default", .applicationName = "node"},
      resolver_);
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers);
  EXPECT_EQ(*peers, (PeerSet{"node@elixir-plug-poc-0.elixir-plug-poc.default.svc.cluster.local",
                             "node@elixir-plug-poc-1.elixir-plug-poc.default.svc.cluster.local"}));
}

TEST_F(DnsSrvStrategyTest, UsesTheConfiguredClusterDomain) {
  auto strategy = DnsSrvStrategy::create({.service = "app",
                                          .namespaceName = "prod",
                                          .applicationName = "node",
                                          .clusterDomain = "corp.example"},
                                         resolver_);
  ASSERT_TRUE(strategy);

  EXPECT_EQ((*strategy)->query(), "app.prod.svc.corp.example");
}

TEST_F(DnsSrvStrategyTest, FailureAndNoSuchNameAreErrorsAndNoRecordsIsEmpty) {
  auto strategy = DnsSrvStrategy::create(
      {.service = "app", .namespaceName = "default", .applicationName = "node"}, resolver_);
  ASSERT_TRUE(strategy);
  resolver_.answerServices("app.default.svc.cluster.local.",
                           Error{Error::Code::Timeout, "timeout"});
  EXPECT_FALSE((*strategy)->discoverPeers({}));

  resolver_.answerServices("app.default.svc.cluster.local.", kNxDomain);
  const auto unknown = (*strategy)->discoverPeers({});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Error::Code::NotFound);

  resolver_.answerServices("app.default.svc.cluster.local.", kNoData);
  const auto peers = (*strategy)->discoverPeers({});
  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_TRUE(peers->empty());
}

TEST_F(DnsSrvStrategyTest, RequiresEveryName) {
  EXPECT_FALSE(DnsSrvStrategy::create({.service = "", .namespaceName = "d", .applicationName = "n"},
                                      resolver_));
  EXPECT_FALSE(DnsSrvStrategy::create({.service = "s", .namespaceName = "", .applicationName = "n"},
                                      resolver_));
  EXPECT_FALSE(DnsSrvStrategy::create({.service = "s", .namespaceName = "d", .applicationName = ""},
                                      resolver_));
}

} // namespace
} // namespace libcluster
