#include "strategy/rancher_strategy.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

TEST(ParseRancherService, FirstIpOfEachContainer) {
  const auto peers = parseRancherService(
      R"({"name":"app","containers":[{"name":"a","ips":["10.42.1.5","10.42.9.9"]},
                                     {"name":"b","ips":["10.42.1.6"],"primary_ip":"10.42.1.6"}]})",
      "app");

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, (PeerSet{"app@10.42.1.5", "app@10.42.1.6"}));
}

TEST(ParseRancherService, SkipsContainersWithoutUsableIps) {
  const auto peers = parseRancherService(R"({"containers":[
      {"name":"no-ips"}, {"ips":[]}, {"ips":null}, {"ips":"10.0.0.1"}, {"ips":[42]}, {"ips":[""]},
      "not-an-object", {"ips":["10.42.1.7"]}]})",
                                         "app");

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, PeerSet{"app@10.42.1.7"});
}

TEST(ParseRancherService, NoContainersIsEmptyOnlyWhenTheListIsEmpty) {
  EXPECT_EQ(*parseRancherService(R"({"containers":[]})", "app"), PeerSet{});
  EXPECT_FALSE(parseRancherService(R"({"name":"app"})", "app"));
  EXPECT_FALSE(parseRancherService(R"({"containers":{}})", "app"));
  EXPECT_FALSE(parseRancherService(R"([1,2])", "app"));
  EXPECT_FALSE(parseRancherService("<html>502 Bad Gateway</html>", "app"));
  EXPECT_FALSE(parseRancherService("", "app"));
}

TEST(RancherStrategy, FetchesTheDefaultMetadataUrl) {
  std::string asked;
  auto strategy = RancherStrategy::create(
      {.nodeBasename = "app"}, [&](const std::string& url, std::stop_token) -> Result<std::string> {
        asked = url;
        return std::string(R"({"containers":[{"ips":["10.42.1.5"]}]})");
      });
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers);
  EXPECT_EQ(*peers, PeerSet{"app@10.42.1.5"});
  EXPECT_EQ(asked, "http://rancher-metadata/latest/self/service");
}

TEST(RancherStrategy, AContainerWithAnEmptyAddressIsNotAMember) {
  // The controller's rule too (parseRancherMembers): "app@" is never a member.
  auto strategy = RancherStrategy::create(
      {.nodeBasename = "app"}, [](const std::string&, std::stop_token) -> Result<std::string> {
        return std::string(R"({"containers":[{"ips":[""]},{"ips":["10.42.1.8"]}]})");
      });
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, PeerSet{"app@10.42.1.8"});
}

TEST(RancherStrategy, HttpFailureIsAnErrorNeverNoPeers) {
  auto strategy = RancherStrategy::create(
      {.nodeBasename = "app"}, [](const std::string&, std::stop_token) -> Result<std::string> {
        return Error{Error::Code::Unavailable, "HTTP 503"};
      });
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_FALSE(peers);
  EXPECT_EQ(peers.error().code, Error::Code::Unavailable);
}

TEST(RancherStrategy, ValidatesItsOptions) {
  FetchUrl fetch = [](const std::string&, std::stop_token) -> Result<std::string> {
    return std::string();
  };
  EXPECT_FALSE(RancherStrategy::create({.nodeBasename = ""}, fetch));
  EXPECT_FALSE(RancherStrategy::create({.nodeBasename = "app", .url = "ftp://x"}, fetch));
  EXPECT_FALSE(RancherStrategy::create({.nodeBasename = "app"}, nullptr));
}

} // namespace
} // namespace libcluster
