#include "gossip/authenticated_cipher.h"

#include <gtest/gtest.h>

#include "gossip/gossip_test_support.h"

namespace libcluster {
namespace {

constexpr AuthenticatedCipher::Nonce kNonce{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
                                            0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};

// Computed independently with Python's cryptography (AESGCM): key 00..1f, nonce a0..ab, label
// "prod", plaintext = 0000019b76daa800 (2026-01-01T00:00:00Z in ms) + the plain myapp heartbeat,
// associated data = 4c434701 a0..ab "prod".
constexpr std::string_view kSealedVectorHex =
    "4c434701a0a1a2a3a4a5a6a7a8a9aaab"
    "e6187db63311aabf0a00e6a17318a5bf04966393e6b7426c9d6a268211c41164b6764992d643234d1fad34e63954"
    "b3d776c00c353c39a600a6e1c7e5bd1b110521";

std::vector<std::uint8_t> vectorPlaintext() {
  return concat(fromHex("0000019b76daa800"), fromHex(kPlainMyappHex));
}

GossipOutcome failureOf(const std::variant<AuthenticatedCipher::Opened, GossipOutcome>& opened) {
  const auto* outcome = std::get_if<GossipOutcome>(&opened);
  return outcome ? *outcome : GossipOutcome::Accepted;
}

TEST(AuthenticatedCipher, SealsTheIndependentlyComputedVector) {
  AuthenticatedCipher cipher({keyOf(0)}, "prod");

  std::vector<std::uint8_t> sealed = cipher.sealWithNonce(vectorPlaintext(), kNonce);

  EXPECT_EQ(toHex(sealed), toHex(fromHex(kSealedVectorHex)));
  EXPECT_EQ(sealed.size(), vectorPlaintext().size() + AuthenticatedCipher::kOverheadBytes);
}

TEST(AuthenticatedCipher, LaysOutMagicVersionNonceCiphertextTag) {
  AuthenticatedCipher cipher({keyOf(0)}, "prod");

  std::vector<std::uint8_t> sealed = cipher.sealWithNonce(bytesOf("abc"), kNonce);

  ASSERT_EQ(sealed.size(), 4u + 12u + 3u + 16u);
  EXPECT_EQ(toHex({sealed.begin(), sealed.begin() + 4}), "4c434701");
  EXPECT_EQ(toHex({sealed.begin() + 4, sealed.begin() + 16}), "a0a1a2a3a4a5a6a7a8a9aaab");
}

TEST(AuthenticatedCipher, OpensWhatItSealsAndReportsTheNonceAndKey) {
  AuthenticatedCipher cipher({keyOf(0)}, "prod");

  auto opened = cipher.open(fromHex(kSealedVectorHex));

  ASSERT_TRUE(std::holds_alternative<AuthenticatedCipher::Opened>(opened));
  const auto& packet = std::get<AuthenticatedCipher::Opened>(opened);
  EXPECT_EQ(packet.plaintext, vectorPlaintext());
  EXPECT_EQ(packet.nonce, kNonce);
  EXPECT_EQ(packet.keyIndex, 0u);
}

TEST(AuthenticatedCipher, FailsAuthenticationUnderAnotherLabel) {
  AuthenticatedCipher staging({keyOf(0)}, "staging");

  EXPECT_EQ(failureOf(staging.open(fromHex(kSealedVectorHex))), GossipOutcome::AuthFailed);
}

TEST(AuthenticatedCipher, FailsAuthenticationUnderAnotherKey) {
  AuthenticatedCipher other({keyOf(1)}, "prod");

  EXPECT_EQ(failureOf(other.open(fromHex(kSealedVectorHex))), GossipOutcome::AuthFailed);
}

TEST(AuthenticatedCipher, DetectsEveryFlippedBit) {
  AuthenticatedCipher cipher({keyOf(0)}, "prod");
  std::vector<std::uint8_t> sealed = fromHex(kSealedVectorHex);

  for (std::size_t at = 0; at < sealed.size(); ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<std::uint8_t> tampered = sealed;
      tampered[at] ^= static_cast<std::uint8_t>(1 << bit);
      GossipOutcome outcome = failureOf(cipher.open(tampered));
      EXPECT_EQ(outcome, at < 4 ? GossipOutcome::Foreign : GossipOutcome::AuthFailed) << at;
    }
  }
}

TEST(AuthenticatedCipher, TriesEveryKeyOfTheRing) {
  AuthenticatedCipher ring({keyOf(9), keyOf(0)}, "prod");

  auto opened = ring.open(fromHex(kSealedVectorHex));

  ASSERT_TRUE(std::holds_alternative<AuthenticatedCipher::Opened>(opened));
  EXPECT_EQ(std::get<AuthenticatedCipher::Opened>(opened).keyIndex, 1u);
}

TEST(AuthenticatedCipher, SealsWithTheFirstKey) {
  AuthenticatedCipher ring({keyOf(9), keyOf(0)}, "prod");
  AuthenticatedCipher newOnly({keyOf(9)}, "prod");
  AuthenticatedCipher oldOnly({keyOf(0)}, "prod");

  std::vector<std::uint8_t> sealed = ring.seal(bytesOf("x")).value();

  EXPECT_EQ(failureOf(newOnly.open(sealed)), GossipOutcome::Accepted);
  EXPECT_EQ(failureOf(oldOnly.open(sealed)), GossipOutcome::AuthFailed);
}

TEST(AuthenticatedCipher, SortsOutForeignAndShortDatagrams) {
  AuthenticatedCipher cipher({keyOf(0)}, "prod");

  EXPECT_EQ(failureOf(cipher.open(fromHex(kPlainMyappHex))), GossipOutcome::Foreign);
  EXPECT_EQ(failureOf(cipher.open(fromHex(kSecretMyappHex))), GossipOutcome::Foreign);
  EXPECT_EQ(failureOf(cipher.open(fromHex("4c434702"))), GossipOutcome::Foreign); // version 2
  EXPECT_EQ(failureOf(cipher.open(fromHex("4c43"))), GossipOutcome::TooShort);
  EXPECT_EQ(failureOf(cipher.open({})), GossipOutcome::TooShort);
  std::vector<std::uint8_t> cut = fromHex(kSealedVectorHex);
  cut.resize(AuthenticatedCipher::kOverheadBytes - 1);
  EXPECT_EQ(failureOf(cipher.open(cut)), GossipOutcome::TooShort);
}

} // namespace
} // namespace libcluster
