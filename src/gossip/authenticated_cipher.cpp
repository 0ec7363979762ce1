#include "gossip/authenticated_cipher.h"

#include <algorithm>
#include <memory>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/check.h"
#include "gossip/cipher_context.h"

namespace libcluster {
namespace {

using gossip_detail::CipherContext;

std::vector<std::uint8_t> associatedData(std::span<const std::uint8_t> header,
                                         const std::string& label) {
  std::vector<std::uint8_t> data(header.size() + label.size());
  std::copy(header.begin(), header.end(), data.begin());
  std::copy(label.begin(), label.end(), data.begin() + static_cast<std::ptrdiff_t>(header.size()));
  return data;
}

bool tryOpen(const GossipKey& key, std::span<const std::uint8_t> nonce,
             std::span<const std::uint8_t> aad, std::span<const std::uint8_t> ciphertext,
             std::span<const std::uint8_t> tag, std::vector<std::uint8_t>& plaintext) {
  CipherContext context = gossip_detail::newCipherContext();
  int written = 0;
  int finalWritten = 0;
  plaintext.assign(ciphertext.size(), 0);
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer but only reads it.
  std::array<std::uint8_t, AuthenticatedCipher::kTagBytes> expectedTag{};
  std::copy(tag.begin(), tag.end(), expectedTag.begin());
  return EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
         EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                             nullptr) == 1 &&
         EVP_DecryptInit_ex(context.get(), nullptr, nullptr, key.data(), nonce.data()) == 1 &&
         EVP_DecryptUpdate(context.get(), nullptr, &written, aad.data(),
                           static_cast<int>(aad.size())) == 1 &&
         EVP_DecryptUpdate(context.get(), plaintext.data(), &written, ciphertext.data(),
                           static_cast<int>(ciphertext.size())) == 1 &&
         EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG,
                             static_cast<int>(expectedTag.size()), expectedTag.data()) == 1 &&
         EVP_DecryptFinal_ex(context.get(), plaintext.data() + written, &finalWritten) == 1;
}

} // namespace

AuthenticatedCipher::AuthenticatedCipher(std::vector<GossipKey> keys, std::string label)
    : keys_(std::move(keys)), label_(std::move(label)) {
  CHECK(!keys_.empty(), "the authenticated mode needs at least one key");
}

AuthenticatedCipher::~AuthenticatedCipher() {
  for (GossipKey& key : keys_) {
    OPENSSL_cleanse(key.data(), key.size());
  }
}

std::optional<std::vector<std::uint8_t>>
AuthenticatedCipher::seal(std::span<const std::uint8_t> plaintext) const {
  Nonce nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
    return std::nullopt;
  }
  return sealWithNonce(plaintext, nonce);
}

std::vector<std::uint8_t>
AuthenticatedCipher::sealWithNonce(std::span<const std::uint8_t> plaintext,
                                   const Nonce& nonce) const {
  std::array<std::uint8_t, kHeaderBytes> header{};
  std::copy(kMagic.begin(), kMagic.end(), header.begin());
  std::copy(nonce.begin(), nonce.end(), header.begin() + kMagic.size());
  std::vector<std::uint8_t> aad = associatedData(header, label_);
  std::vector<std::uint8_t> out(kHeaderBytes + plaintext.size() + kTagBytes);
  std::copy(header.begin(), header.end(), out.begin());

  CipherContext context = gossip_detail::newCipherContext();
  int written = 0;
  int finalWritten = 0;
  std::uint8_t* body = out.data() + kHeaderBytes;
  bool ok = EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_IVLEN,
                                static_cast<int>(kNonceBytes), nullptr) == 1 &&
            EVP_EncryptInit_ex(context.get(), nullptr, nullptr, keys_.front().data(),
                               nonce.data()) == 1 &&
            EVP_EncryptUpdate(context.get(), nullptr, &written, aad.data(),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_EncryptUpdate(context.get(), body, &written, plaintext.data(),
                              static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(context.get(), body + written, &finalWritten) == 1 &&
            EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                                body + plaintext.size()) == 1;
  CHECK(ok && static_cast<std::size_t>(written + finalWritten) == plaintext.size(),
        "AES-256-GCM sealing cannot fail");
  return out;
}

std::variant<AuthenticatedCipher::Opened, GossipOutcome>
AuthenticatedCipher::open(std::span<const std::uint8_t> datagram) const {
  std::size_t compared = std::min(datagram.size(), kMagic.size());
  if (!std::equal(datagram.begin(), datagram.begin() + static_cast<std::ptrdiff_t>(compared),
                  kMagic.begin())) {
    return GossipOutcome::Foreign;
  }
  if (datagram.size() < kOverheadBytes) {
    return GossipOutcome::TooShort;
  }
  std::span<const std::uint8_t> header = datagram.first(kHeaderBytes);
  std::span<const std::uint8_t> nonce = header.subspan(kMagic.size());
  std::span<const std::uint8_t> ciphertext =
      datagram.subspan(kHeaderBytes, datagram.size() - kOverheadBytes);
  std::span<const std::uint8_t> tag = datagram.last(kTagBytes);
  std::vector<std::uint8_t> aad = associatedData(header, label_);

  Opened opened{};
  std::copy(nonce.begin(), nonce.end(), opened.nonce.begin());
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (tryOpen(keys_[i], nonce, aad, ciphertext, tag, opened.plaintext)) {
      opened.keyIndex = i;
      return opened;
    }
  }
  return GossipOutcome::AuthFailed;
}

} // namespace libcluster
