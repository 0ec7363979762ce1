// libFuzzer target for everything that reads a gossip datagram: the plain heartbeat decoder (ETF
// through ei, behind the bounded walk), secret mode (AES-256-CBC + unpadding), authenticated mode
// (magic, GCM, timestamp, replay guard). Raw input goes to every mode; the same input is also
// sealed under each mode's key so that the fuzzer reaches the code behind decryption and
// authentication, which random bytes never pass. Built by tests/fuzz/run (clang++ only).
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/check.h"
#include "core/names.h"
#include "gossip/gossip_codec.h"
#include "gossip/heartbeat_codec.h"

namespace {

using libcluster::Clock;
using libcluster::GossipCodec;
using libcluster::GossipMode;
using libcluster::GossipOutcome;
using libcluster::GossipSecurity;
using libcluster::HeartbeatDecoding;

const Clock::SystemTime kNow{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

GossipSecurity security(GossipMode mode) {
  GossipSecurity result;
  result.mode = mode;
  result.secret = "somepassword";
  result.keys = {libcluster::GossipKey{1, 2, 3}, libcluster::GossipKey{4, 5, 6}};
  result.label = "fuzz";
  return result;
}

void check(const HeartbeatDecoding& decoded) {
  if (decoded.outcome == GossipOutcome::Accepted) {
    CHECK(libcluster::isNodeName(decoded.node), "only valid node names are accepted");
  } else {
    CHECK(decoded.node.empty(), "a dropped datagram names no node");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> input(data, size);

  check(libcluster::decodeNodeTerm(input));
  check(libcluster::decodeHeartbeat(input));

  GossipCodec plain(security(GossipMode::Plain));
  GossipCodec secret(security(GossipMode::Secret));
  GossipCodec authenticated(security(GossipMode::Authenticated));
  check(plain.decode(input, kNow));
  check(secret.decode(input, kNow));
  check(authenticated.decode(input, kNow));

  // Behind the ciphers: the input as the plaintext of a well-formed datagram. A replay of the
  // same datagram must never be accepted twice.
  libcluster::SecretCipher secretCipher("somepassword");
  std::array<std::uint8_t, 16> iv{};
  check(secret.decode(secretCipher.sealWithIv(input, iv), kNow));
  libcluster::AuthenticatedCipher gcm({libcluster::GossipKey{4, 5, 6}}, "fuzz");
  std::vector<std::uint8_t> sealed = gcm.sealWithNonce(input, {});
  HeartbeatDecoding first = authenticated.decode(sealed, kNow);
  check(first);
  HeartbeatDecoding again = authenticated.decode(sealed, kNow);
  CHECK(again.outcome != GossipOutcome::Accepted, "a replay is never accepted");
  return 0;
}
