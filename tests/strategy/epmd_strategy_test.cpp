#include "strategy/epmd_strategy.h"

#include <gtest/gtest.h>

#include "strategy/fake_epmd_server.h"
#include "strategy/local_epmd_strategy.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

TEST(EpmdStrategy, DesiresItsHostsAndNeverPrunes) {
  auto strategy = EpmdStrategy::create({{"a@127.0.0.1", "b@127.0.0.1", "a@127.0.0.1"}});
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers);
  EXPECT_EQ(*peers, (PeerSet{"a@127.0.0.1", "b@127.0.0.1"}));
  EXPECT_FALSE((*strategy)->prunes());
}

TEST(EpmdStrategy, RejectsNoHostsAndBadNames) {
  EXPECT_FALSE(EpmdStrategy::create({}));
  const auto bad = EpmdStrategy::create({{"a@h", "not a node"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.substr(0, 8), "hosts[1]");
  EXPECT_FALSE(EpmdStrategy::create({{"@host"}}));
  EXPECT_FALSE(EpmdStrategy::create({{"name@"}}));
  EXPECT_FALSE(EpmdStrategy::create({{"a@b@c"}}));
}

TEST(LocalEpmdStrategy, NamesEveryRegisteredNodeWithTheLocalHost) {
  FakeEpmdServer epmd;
  epmd.answerNames({{"app", 9100}, {"worker", 9101}});
  auto strategy = LocalEpmdStrategy::create({.epmdPort = epmd.port()}, "app@10.0.0.7");
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, (PeerSet{"app@10.0.0.7", "worker@10.0.0.7"}));
}

TEST(LocalEpmdStrategy, EpmdDownIsAnErrorNotNoPeers) {
  auto strategy = LocalEpmdStrategy::create({.epmdPort = closedLoopbackPort()}, "app@10.0.0.7");
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_FALSE(peers);
  EXPECT_EQ(peers.error().code, Error::Code::Unavailable);
}

TEST(LocalEpmdStrategy, NeedsAFullLocalNodeName) {
  EXPECT_FALSE(LocalEpmdStrategy::create({}, "app"));
  EXPECT_FALSE(LocalEpmdStrategy::create({}, ""));
}

} // namespace
} // namespace libcluster
