#include "gossip/gossip_options.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

using namespace std::chrono_literals;

constexpr const char* kKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

GossipOptions withSecret(std::string text) {
  GossipOptions options;
  options.secret = std::move(text);
  return options;
}

std::string messageOf(const GossipOptions& options) {
  Result<void> valid = validateGossipOptions(options);
  return valid ? "" : valid.error().message;
}

TEST(GossipOptions, DefaultsAreLibclustersWhereThatIsSafe) {
  GossipOptions options;

  EXPECT_EQ(options.port, 45892);
  EXPECT_EQ(options.ifAddr, ""); // the group (libcluster: 0.0.0.0, which hears unicast)
  EXPECT_FALSE(options.multicastIf);
  EXPECT_EQ(options.multicastAddr, "233.252.1.32");
  EXPECT_EQ(options.multicastTtl, 1);
  EXPECT_FALSE(options.broadcastOnly);
  EXPECT_FALSE(options.secret);
  EXPECT_EQ(options.heartbeatMin, 1ms);
  EXPECT_EQ(options.heartbeatMax, 5000ms);
  EXPECT_FALSE(options.peerExpiry);
  EXPECT_EQ(effectivePeerExpiry(options), 60s);
  EXPECT_EQ(options.maxPeers, 4096U);
  EXPECT_EQ(options.maxPeersPerSource, 16U);
  EXPECT_EQ(options.newPeersPerSecond, 20);
}

TEST(GossipOptions, NoKeysAndNoExplicitPlainModeIsAnErrorThatNamesTheKeys) {
  GossipOptions implicit;
  GossipOptions plain;
  plain.mode = GossipMode::Plain;

  EXPECT_EQ(messageOf(implicit).rfind("keys: gossip needs keys", 0), 0U) << messageOf(implicit);
  EXPECT_EQ(messageOf(plain), "");
  EXPECT_EQ(effectiveGossipMode(plain), GossipMode::Plain);
}

TEST(GossipOptions, PeersExpireByDefaultAndLongHeartbeatsStretchTheDefault) {
  GossipOptions slow;
  slow.heartbeatMax = 30s;
  GossipOptions explicitExpiry;
  explicitExpiry.peerExpiry = 10s;

  EXPECT_EQ(effectivePeerExpiry(slow), 120s);
  EXPECT_EQ(effectivePeerExpiry(explicitExpiry), 10s);
}

TEST(GossipOptions, ASecretImpliesSecretModeAndKeysAuthenticated) {
  GossipOptions secret = withSecret("somepassword");
  GossipOptions keys;
  keys.keys = {kKey};

  EXPECT_EQ(effectiveGossipMode(secret), GossipMode::Secret);
  EXPECT_EQ(effectiveGossipMode(keys), GossipMode::Authenticated);
  EXPECT_EQ(messageOf(secret), "");
  EXPECT_EQ(messageOf(keys), "");
}

TEST(GossipOptions, ParsesModeNames) {
  EXPECT_EQ(parseGossipMode("plain"), GossipMode::Plain);
  EXPECT_EQ(parseGossipMode("secret"), GossipMode::Secret);
  EXPECT_EQ(parseGossipMode("authenticated"), GossipMode::Authenticated);
  EXPECT_FALSE(parseGossipMode("gcm"));
  EXPECT_EQ(gossipModeName(GossipMode::Authenticated), "authenticated");
}

TEST(GossipOptions, NamesTheBadOption) {
  auto with = [](auto change) {
    GossipOptions options;
    change(options);
    return messageOf(options);
  };

  EXPECT_EQ(with([](GossipOptions& o) { o.port = 0; }).rfind("port:", 0), 0u);
  EXPECT_EQ(with([](GossipOptions& o) { o.ifAddr = "::"; }).rfind("if_addr:", 0), 0u);
  EXPECT_EQ(with([](GossipOptions& o) { o.multicastIf = "eth0"; }).rfind("multicast_if:", 0), 0u);
  EXPECT_EQ(
      with([](GossipOptions& o) { o.multicastAddr = "10.0.0.255"; }).rfind("multicast_addr:", 0),
      0u);
  EXPECT_EQ(with([](GossipOptions& o) { o.multicastTtl = 256; }).rfind("multicast_ttl:", 0), 0u);
  EXPECT_EQ(with([](GossipOptions& o) { o.maxPeersPerSource = 0; }).rfind("max_peers_per_source:", 0),
            0u);
  EXPECT_EQ(with([](GossipOptions& o) { o.newPeersPerSecond = 0; }).rfind("new_peers_per_second:", 0),
            0u);
  EXPECT_EQ(with([](GossipOptions& o) { o.heartbeatMax = 0ms; }).rfind("heartbeat_min_ms", 0), 0u);
  EXPECT_EQ(with([](GossipOptions& o) { o.peerExpiry = 1s; }).rfind("peer_expiry_seconds:", 0), 0u);
  EXPECT_EQ(with([](GossipOptions& o) { o.mode = GossipMode::Secret; }).rfind("secret:", 0), 0u);
  EXPECT_EQ(with([](GossipOptions& o) { o.mode = GossipMode::Authenticated; }).rfind("keys:", 0),
            0u);
  EXPECT_EQ(with([](GossipOptions& o) { o.keys = {"c2hvcnQ="}; }).rfind("keys[0]:", 0), 0u);
  EXPECT_EQ(with([](GossipOptions& o) {
              o.secret = "s";
              o.keys = {kKey};
            }).rfind("keys:", 0),
            0u);
}

TEST(GossipOptions, BroadcastOnlyTakesABroadcastAddress) {
  GossipOptions options;
  options.mode = GossipMode::Plain;
  options.broadcastOnly = true;
  options.multicastAddr = "10.0.0.255";

  EXPECT_EQ(messageOf(options), "");
}

TEST(GossipOptions, DecodesKeysStrictlyWithoutEchoingThem) {
  Result<GossipKey> key = decodeGossipKey(kKey);
  ASSERT_TRUE(key);
  EXPECT_EQ((*key)[0], 0);
  EXPECT_EQ((*key)[31], 31);

  for (std::string_view bad : {"", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
                               "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",
                               "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH-8=",
                               "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=="}) {
    Result<GossipKey> decoded = decodeGossipKey(bad);
    ASSERT_FALSE(decoded) << bad;
    EXPECT_EQ(decoded.error().message.find("AAEC"), std::string::npos);
  }
}

} // namespace
} // namespace libcluster
