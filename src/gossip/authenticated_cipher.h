#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "gossip/gossip_outcome.h"

namespace libcluster {

/// A 256-bit AES key of the authenticated mode's key ring.
using GossipKey = std::array<std::uint8_t, 32>;

/// Our authenticated gossip mode (not libcluster's; modelled on memberlist's keyring + label):
///
///   offset  size  field
///   0       3     magic "LCG" (4c 43 47)
///   3       1     version, 1
///   4       12    nonce, random per datagram
///   16      n     AES-256-GCM ciphertext of the plaintext
///   16+n    16    GCM tag
///   associated data = bytes 0..15 (magic, version, nonce) || label
///
/// The plaintext (GossipCodec's business) is an 8-byte big-endian sender timestamp in Unix
/// milliseconds followed by libcluster's plain heartbeat ("heartbeat::" + term_to_binary).
/// Overhead over the plain heartbeat: 40 bytes. The magic cannot start a plain libcluster packet
/// ("heartbeat::"); a libcluster secret-mode packet starts with a random IV and fails the tag.
/// The first key seals; every key of the ring is tried to open, so keys rotate by adding the new
/// key everywhere, then moving it first, then removing the old one. A datagram sealed under
/// another label fails authentication. Keys are wiped on destruction; members are const and
/// thread-safe.
class AuthenticatedCipher {
public:
  static constexpr std::array<std::uint8_t, 4> kMagic{0x4c, 0x43, 0x47, 0x01};
  static constexpr std::size_t kNonceBytes = 12;
  static constexpr std::size_t kTagBytes = 16;
  static constexpr std::size_t kHeaderBytes = kMagic.size() + kNonceBytes;
  static constexpr std::size_t kOverheadBytes = kHeaderBytes + kTagBytes;

  using Nonce = std::array<std::uint8_t, kNonceBytes>;

  /// `keys` must not be empty.
  AuthenticatedCipher(std::vector<GossipKey> keys, std::string label);
  ~AuthenticatedCipher();
  AuthenticatedCipher(const AuthenticatedCipher&) = delete;
  AuthenticatedCipher& operator=(const AuthenticatedCipher&) = delete;

  /// With a fresh random nonce; nullopt only when the system's random generator fails.
  std::optional<std::vector<std::uint8_t>> seal(std::span<const std::uint8_t> plaintext) const;
  /// With a given nonce: for test vectors only, a nonce must never repeat under one key.
  std::vector<std::uint8_t> sealWithNonce(std::span<const std::uint8_t> plaintext,
                                          const Nonce& nonce) const;

  struct Opened {
    std::vector<std::uint8_t> plaintext;
    Nonce nonce;
    std::size_t keyIndex; // which key of the ring opened it
  };

  /// The opened datagram, or Foreign (not our magic and version), TooShort, AuthFailed.
  std::variant<Opened, GossipOutcome> open(std::span<const std::uint8_t> datagram) const;

private:
  std::vector<GossipKey> keys_;
  std::string label_;
};

} // namespace libcluster
