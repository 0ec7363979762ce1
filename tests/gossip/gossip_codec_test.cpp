#include "gossip/gossip_codec.h"

#include <chrono>

#include <gtest/gtest.h>

#include "gossip/gossip_test_support.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

const Clock::SystemTime kNow{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

GossipSecurity authenticated(std::vector<GossipKey> keys, std::string label = "prod") {
  GossipSecurity security;
  security.mode = GossipMode::Authenticated;
  security.keys = std::move(keys);
  security.label = std::move(label);
  security.replayWindow = 30s;
  return security;
}

GossipSecurity secretSecurity(std::string secret) {
  GossipSecurity security;
  security.mode = GossipMode::Secret;
  security.secret = std::move(secret);
  return security;
}

TEST(GossipCodec, PlainModeSendsTheLibclusterBytes) {
  GossipCodec codec(GossipSecurity{});

  EXPECT_EQ(codec.encode("myapp@10.0.0.1", kNow).value(), fromHex(kPlainMyappHex));
  EXPECT_EQ(codec.decode(fromHex(kPlainMyappHex), kNow).node, "myapp@10.0.0.1");
}

TEST(GossipCodec, SecretModeOpensTheLibclusterVectorAndItsOwnDatagrams) {
  GossipCodec codec(secretSecurity("somepassword"));

  std::vector<std::uint8_t> sealed = codec.encode("app@10.0.0.2", kNow).value();

  EXPECT_EQ(codec.decode(fromHex(kSecretMyappHex), kNow).node, "myapp@10.0.0.1");
  EXPECT_EQ(codec.decode(sealed, kNow).node, "app@10.0.0.2");
  EXPECT_EQ(sealed.size(), 16u + 48u);
}

TEST(GossipCodec, SecretModeWithAnotherSecretDropsTheVector) {
  GossipCodec codec(secretSecurity("other"));

  EXPECT_NE(codec.decode(fromHex(kSecretMyappHex), kNow).outcome, GossipOutcome::Accepted);
}

TEST(GossipCodec, AuthenticatedModeRoundTrips) {
  GossipCodec sender(authenticated({keyOf(1)}));
  GossipCodec receiver(authenticated({keyOf(1)}));

  std::vector<std::uint8_t> sealed = sender.encode("app@10.0.0.2", kNow).value();
  HeartbeatDecoding decoded = receiver.decode(sealed, kNow + 2s);

  EXPECT_EQ(decoded.outcome, GossipOutcome::Accepted);
  EXPECT_EQ(decoded.node, "app@10.0.0.2");
  EXPECT_EQ(sealed.size(), fromHex(kPlainMyappHex).size() - 2 + 40u); // 12-byte name vs 14
}

TEST(GossipCodec, AuthenticatedModeDropsAnotherLabel) {
  GossipCodec sender(authenticated({keyOf(1)}, "staging"));
  GossipCodec receiver(authenticated({keyOf(1)}, "prod"));

  EXPECT_EQ(receiver.decode(sender.encode("a@b", kNow).value(), kNow).outcome,
            GossipOutcome::AuthFailed);
}

TEST(GossipCodec, AuthenticatedModeDropsAnotherKey) {
  GossipCodec sender(authenticated({keyOf(2)}));
  GossipCodec receiver(authenticated({keyOf(1)}));

  EXPECT_EQ(receiver.decode(sender.encode("a@b", kNow).value(), kNow).outcome,
            GossipOutcome::AuthFailed);
}

TEST(GossipCodec, AuthenticatedModeDropsTamperedDatagrams) {
  GossipCodec sender(authenticated({keyOf(1)}));
  GossipCodec receiver(authenticated({keyOf(1)}));
  std::vector<std::uint8_t> sealed = sender.encode("a@b", kNow).value();

  sealed[20] ^= 0x01;

  EXPECT_EQ(receiver.decode(sealed, kNow).outcome, GossipOutcome::AuthFailed);
}

TEST(GossipCodec, AuthenticatedModeDropsReplays) {
  GossipCodec sender(authenticated({keyOf(1)}));
  GossipCodec receiver(authenticated({keyOf(1)}));
  std::vector<std::uint8_t> sealed = sender.encode("a@b", kNow).value();

  EXPECT_EQ(receiver.decode(sealed, kNow).outcome, GossipOutcome::Accepted);
  EXPECT_EQ(receiver.decode(sealed, kNow + 1s).outcome, GossipOutcome::Replayed);
  EXPECT_EQ(receiver.decode(sealed, kNow + 31s).outcome, GossipOutcome::Stale);
}

TEST(GossipCodec, AuthenticatedModeDropsHeartbeatsOutsideTheWindow) {
  GossipCodec sender(authenticated({keyOf(1)}));
  GossipCodec receiver(authenticated({keyOf(1)}));

  EXPECT_EQ(receiver.decode(sender.encode("a@b", kNow - 31s).value(), kNow).outcome,
            GossipOutcome::Stale);
  EXPECT_EQ(receiver.decode(sender.encode("a@b", kNow + 31s).value(), kNow).outcome,
            GossipOutcome::Stale);
  EXPECT_EQ(receiver.decode(sender.encode("a@b", kNow - 29s).value(), kNow).outcome,
            GossipOutcome::Accepted);
}

TEST(GossipCodec, KeyRotationKeepsTheOldKeyWorkingWhileItIsInTheRing) {
  GossipCodec oldSender(authenticated({keyOf(1)}));
  GossipCodec rotated(authenticated({keyOf(2), keyOf(1)})); // new key first, old one kept
  GossipCodec oldReceiver(authenticated({keyOf(1)}));
  GossipCodec retired(authenticated({keyOf(2)})); // old key removed at last

  EXPECT_EQ(rotated.decode(oldSender.encode("old@h", kNow).value(), kNow).outcome,
            GossipOutcome::Accepted);
  EXPECT_EQ(oldReceiver.decode(rotated.encode("new@h", kNow).value(), kNow).outcome,
            GossipOutcome::AuthFailed);
  EXPECT_EQ(retired.decode(rotated.encode("new@h", kNow).value(), kNow).outcome,
            GossipOutcome::Accepted);
  EXPECT_EQ(retired.decode(oldSender.encode("old@h", kNow).value(), kNow).outcome,
            GossipOutcome::AuthFailed);
}

TEST(GossipCodec, ModesNeverAcceptEachOthersDatagrams) {
  GossipCodec plain(GossipSecurity{});
  GossipCodec secret(secretSecurity("s"));
  GossipCodec sealed(authenticated({keyOf(1)}));
  std::vector<GossipCodec*> codecs{&plain, &secret, &sealed};

  for (GossipCodec* from : codecs) {
    for (GossipCodec* to : codecs) {
      if (from == to) {
        continue;
      }
      for (int i = 0; i < 50; ++i) {
        GossipOutcome outcome = to->decode(from->encode("a@b", kNow).value(), kNow).outcome;
        EXPECT_NE(outcome, GossipOutcome::Accepted)
            << gossipModeName(from->mode()) << " -> " << gossipModeName(to->mode());
      }
    }
  }
  EXPECT_EQ(sealed.decode(fromHex(kPlainMyappHex), kNow).outcome, GossipOutcome::Foreign);
  EXPECT_EQ(plain.decode(sealed.encode("a@b", kNow).value(), kNow).outcome,
            GossipOutcome::NotHeartbeat);
}

TEST(GossipCodec, SecurityComesFromOptions) {
  GossipOptions options;
  options.keys = {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="};
  options.label = "prod";
  options.replayWindow = 10s;

  GossipSecurity security = gossipSecurity(options);

  EXPECT_EQ(security.mode, GossipMode::Authenticated);
  ASSERT_EQ(security.keys.size(), 1u);
  EXPECT_EQ(security.keys[0], keyOf(0));
  EXPECT_EQ(security.label, "prod");
  EXPECT_EQ(security.replayWindow, 10s);
}

} // namespace
} // namespace libcluster
