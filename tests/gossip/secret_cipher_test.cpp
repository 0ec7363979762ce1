#include "gossip/secret_cipher.h"

#include <array>
#include <random>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "gossip/gossip_codec.h"
#include "gossip/gossip_test_support.h"

namespace libcluster {
namespace {

constexpr std::array<std::uint8_t, 16> kVectorIv{0, 1, 2,  3,  4,  5,  6,  7,
                                                 8, 9, 10, 11, 12, 13, 14, 15};

std::vector<std::uint8_t>
plaintextOf(const std::variant<std::vector<std::uint8_t>, GossipOutcome>& opened) {
  const auto* bytes = std::get_if<std::vector<std::uint8_t>>(&opened);
  return bytes ? *bytes : std::vector<std::uint8_t>{};
}

GossipOutcome failureOf(const std::variant<std::vector<std::uint8_t>, GossipOutcome>& opened) {
  const auto* outcome = std::get_if<GossipOutcome>(&opened);
  return outcome ? *outcome : GossipOutcome::Accepted;
}

// AES-256-CBC without any padding, to build datagrams a libcluster sender could not.
std::vector<std::uint8_t> rawCbc(std::string_view secret, const std::vector<std::uint8_t>& blocks) {
  std::array<std::uint8_t, 32> key{};
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), key.data());
  std::vector<std::uint8_t> out(kVectorIv.begin(), kVectorIv.end());
  out.resize(16 + blocks.size());
  EVP_CIPHER_CTX* context = EVP_CIPHER_CTX_new();
  int written = 0;
  EVP_EncryptInit_ex(context, EVP_aes_256_cbc(), nullptr, key.data(), kVectorIv.data());
  EVP_CIPHER_CTX_set_padding(context, 0);
  EVP_EncryptUpdate(context, out.data() + 16, &written, blocks.data(),
                    static_cast<int>(blocks.size()));
  EVP_EncryptFinal_ex(context, out.data() + 16 + written, &written);
  EVP_CIPHER_CTX_free(context);
  return out;
}

TEST(SecretCipher, ReproducesTheLibclusterVectorWithItsIv) {
  SecretCipher cipher("somepassword");

  std::vector<std::uint8_t> sealed = cipher.sealWithIv(fromHex(kPlainMyappHex), kVectorIv);

  EXPECT_EQ(toHex(sealed), toHex(fromHex(kSecretMyappHex)));
  EXPECT_EQ(sealed.size(), 64u);
}

TEST(SecretCipher, OpensTheLibclusterVector) {
  SecretCipher cipher("somepassword");

  EXPECT_EQ(plaintextOf(cipher.open(fromHex(kSecretMyappHex))), fromHex(kPlainMyappHex));
}

TEST(SecretCipher, PadsAWholeBlockWhenThePlaintextIsAligned) {
  SecretCipher cipher("s");
  std::vector<std::uint8_t> aligned(32, 'x');

  std::vector<std::uint8_t> sealed = cipher.sealWithIv(aligned, kVectorIv);

  EXPECT_EQ(sealed.size(), 16u + 48u);
  EXPECT_EQ(plaintextOf(cipher.open(sealed)), aligned);
}

TEST(SecretCipher, UsesAFreshIvEveryTime) {
  SecretCipher cipher("somepassword");
  std::vector<std::uint8_t> heartbeat = fromHex(kPlainMyappHex);

  std::vector<std::uint8_t> first = cipher.seal(heartbeat).value();
  std::vector<std::uint8_t> second = cipher.seal(heartbeat).value();

  EXPECT_NE(first, second);
  EXPECT_EQ(plaintextOf(cipher.open(first)), heartbeat);
  EXPECT_EQ(plaintextOf(cipher.open(second)), heartbeat);
}

TEST(SecretCipher, DropsDatagramsShorterThanTheIv) {
  SecretCipher cipher("somepassword");

  EXPECT_EQ(failureOf(cipher.open(std::vector<std::uint8_t>(15, 1))), GossipOutcome::TooShort);
}

TEST(SecretCipher, DropsDatagramsWithoutWholeBlocksAfterTheIv) {
  SecretCipher cipher("somepassword");

  EXPECT_EQ(failureOf(cipher.open(std::vector<std::uint8_t>(16, 1))), GossipOutcome::DecryptFailed);
  EXPECT_EQ(failureOf(cipher.open(fromHex(kPlainMyappHex))), GossipOutcome::DecryptFailed);
  EXPECT_EQ(failureOf(cipher.open(std::vector<std::uint8_t>(16 + 17, 1))),
            GossipOutcome::DecryptFailed);
}

TEST(SecretCipher, DropsTheWrongSecret) {
  SecretCipher cipher("anotherpassword");

  auto opened = cipher.open(fromHex(kSecretMyappHex));

  EXPECT_NE(plaintextOf(opened), fromHex(kPlainMyappHex));
}

TEST(SecretCipher, RefusesAZeroPadByteThatLibclusterWouldTakeAsNoPadding) {
  std::vector<std::uint8_t> blocks = bytesOf("heartbeat::xxxx");
  blocks.push_back(0);

  EXPECT_EQ(failureOf(SecretCipher("s").open(rawCbc("s", blocks))), GossipOutcome::DecryptFailed);
}

TEST(SecretCipher, RefusesInconsistentPadding) {
  std::vector<std::uint8_t> blocks = bytesOf("heartbeat::xx");
  blocks.insert(blocks.end(), {3, 2, 3}); // claims 3 bytes of 3

  EXPECT_EQ(failureOf(SecretCipher("s").open(rawCbc("s", blocks))), GossipOutcome::DecryptFailed);
  blocks.back() = 17;
  EXPECT_EQ(failureOf(SecretCipher("s").open(rawCbc("s", blocks))), GossipOutcome::DecryptFailed);
}

TEST(SecretCipher, NeverAcceptsPlaintextOrRandomDatagramsInSecretMode) {
  GossipSecurity security;
  security.mode = GossipMode::Secret;
  security.secret = "somepassword";
  GossipCodec codec(security);
  std::mt19937 random(7);
  auto now = Clock::SystemTime{};

  EXPECT_EQ(codec.decode(fromHex(kPlainMyappHex), now).outcome, GossipOutcome::DecryptFailed);
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::uint8_t> datagram(16 + 16 * (1 + i % 4));
    for (std::uint8_t& byte : datagram) {
      byte = static_cast<std::uint8_t>(random());
    }
    GossipOutcome outcome = codec.decode(datagram, now).outcome;
    EXPECT_TRUE(outcome == GossipOutcome::DecryptFailed || outcome == GossipOutcome::NotHeartbeat)
        << gossipOutcomeName(outcome);
  }
}

} // namespace
} // namespace libcluster
