#include "gossip/secret_cipher.h"

#include <memory>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/check.h"
#include "gossip/cipher_context.h"

namespace libcluster {

using gossip_detail::CipherContext;

SecretCipher::SecretCipher(std::string_view secret) {
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), key_.data());
}

SecretCipher::~SecretCipher() { OPENSSL_cleanse(key_.data(), key_.size()); }

std::optional<std::vector<std::uint8_t>>
SecretCipher::seal(std::span<const std::uint8_t> plaintext) const {
  std::array<std::uint8_t, kIvBytes> iv{};
  if (RAND_bytes(iv.data(), static_cast<int>(iv.size())) != 1) {
    return std::nullopt;
  }
  return sealWithIv(plaintext, iv);
}

std::vector<std::uint8_t>
SecretCipher::sealWithIv(std::span<const std::uint8_t> plaintext,
                         std::span<const std::uint8_t, kIvBytes> iv) const {
  std::size_t pad = kBlockBytes - plaintext.size() % kBlockBytes;
  std::vector<std::uint8_t> padded(plaintext.begin(), plaintext.end());
  padded.insert(padded.end(), pad, static_cast<std::uint8_t>(pad));

  std::vector<std::uint8_t> out(iv.begin(), iv.end());
  out.resize(kIvBytes + padded.size());
  CipherContext context = gossip_detail::newCipherContext();
  int written = 0;
  int finalWritten = 0;
  bool ok =
      EVP_EncryptInit_ex(context.get(), EVP_aes_256_cbc(), nullptr, key_.data(), iv.data()) == 1 &&
      EVP_CIPHER_CTX_set_padding(context.get(), 0) == 1 &&
      EVP_EncryptUpdate(context.get(), out.data() + kIvBytes, &written, padded.data(),
                        static_cast<int>(padded.size())) == 1 &&
      EVP_EncryptFinal_ex(context.get(), out.data() + kIvBytes + written, &finalWritten) == 1;
  CHECK(ok && static_cast<std::size_t>(written + finalWritten) == padded.size(),
        "AES-256-CBC over whole blocks cannot fail");
  return out;
}

std::variant<std::vector<std::uint8_t>, GossipOutcome>
SecretCipher::open(std::span<const std::uint8_t> datagram) const {
  if (datagram.size() < kIvBytes) {
    return GossipOutcome::TooShort;
  }
  std::span<const std::uint8_t> iv = datagram.first(kIvBytes);
  std::span<const std::uint8_t> ciphertext = datagram.subspan(kIvBytes);
  if (ciphertext.empty() || ciphertext.size() % kBlockBytes != 0) {
    return GossipOutcome::DecryptFailed;
  }

  std::vector<std::uint8_t> plaintext(ciphertext.size());
  CipherContext context = gossip_detail::newCipherContext();
  int written = 0;
  int finalWritten = 0;
  // Padding is checked below rather than by OpenSSL, so that a bad pad is an outcome and the
  // rule is visible.
  if (EVP_DecryptInit_ex(context.get(), EVP_aes_256_cbc(), nullptr, key_.data(), iv.data()) != 1 ||
      EVP_CIPHER_CTX_set_padding(context.get(), 0) != 1 ||
      EVP_DecryptUpdate(context.get(), plaintext.data(), &written, ciphertext.data(),
                        static_cast<int>(ciphertext.size())) != 1 ||
      EVP_DecryptFinal_ex(context.get(), plaintext.data() + written, &finalWritten) != 1) {
    return GossipOutcome::DecryptFailed;
  }

  std::uint8_t pad = plaintext.back();
  if (pad == 0 || pad > kBlockBytes) {
    return GossipOutcome::DecryptFailed;
  }
  for (std::size_t i = plaintext.size() - pad; i < plaintext.size(); ++i) {
    if (plaintext[i] != pad) {
      return GossipOutcome::DecryptFailed;
    }
  }
  plaintext.resize(plaintext.size() - pad);
  return plaintext;
}

} // namespace libcluster
