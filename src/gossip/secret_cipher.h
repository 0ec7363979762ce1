#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "gossip/gossip_outcome.h"

namespace libcluster {

/// libcluster's `secret` mode, byte for byte (lib/strategy/gossip.ex):
///
///   datagram = iv (16 random bytes) || AES-256-CBC(key, iv, pkcs7(plaintext))
///   key      = SHA-256(secret)        (raw digest: no salt, no KDF iterations)
///   pkcs7    = append p bytes of value p, p = 16 - size % 16 (1..16)
///
/// There is no MAC: anyone can forge, replay or flip bits; the mode only keeps clusters that use
/// different secrets apart. Unpadding is strict PKCS#7: libcluster also accepts a last byte of 0 as
/// "no padding", but no libcluster sender can produce one (its pad is 1..16), so refusing it loses
/// no peer. The key is wiped on destruction. All members are const and thread-safe.
class SecretCipher {
public:
  static constexpr std::size_t kIvBytes = 16;
  static constexpr std::size_t kBlockBytes = 16;

  explicit SecretCipher(std::string_view secret);
  ~SecretCipher();
  SecretCipher(const SecretCipher&) = delete;
  SecretCipher& operator=(const SecretCipher&) = delete;

  /// With a fresh random IV; nullopt only when the system's random generator fails.
  std::optional<std::vector<std::uint8_t>> seal(std::span<const std::uint8_t> plaintext) const;
  /// With a given IV: for test vectors only, an IV must never repeat under one key.
  std::vector<std::uint8_t> sealWithIv(std::span<const std::uint8_t> plaintext,
                                       std::span<const std::uint8_t, kIvBytes> iv) const;

  /// The plaintext, or TooShort (under 16 bytes) / DecryptFailed (no whole blocks after the IV,
  /// or bad padding).
  std::variant<std::vector<std::uint8_t>, GossipOutcome>
  open(std::span<const std::uint8_t> datagram) const;

private:
  std::array<std::uint8_t, 32> key_;
};

} // namespace libcluster
