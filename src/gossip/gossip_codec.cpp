#include "gossip/gossip_codec.h"

#include <algorithm>
#include <variant>

#include <openssl/crypto.h>

#include "core/check.h"

namespace libcluster {
namespace {

constexpr std::size_t kTimestampBytes = 8;

void appendTimestamp(std::vector<std::uint8_t>& out, Clock::SystemTime time) {
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  auto value = static_cast<std::uint64_t>(millis.count());
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

Clock::SystemTime readTimestamp(std::span<const std::uint8_t> bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < kTimestampBytes; ++i) {
    value = (value << 8) | bytes[i];
  }
  // Far-future values must not overflow the clock's nanoseconds: 2^42 ms is the year 2109, and a
  // clamped value is Stale anyway.
  constexpr std::uint64_t kMaxMillis = std::uint64_t{1} << 42;
  value = std::min(value, kMaxMillis);
  return Clock::SystemTime(std::chrono::duration_cast<Clock::SystemTime::duration>(
      std::chrono::milliseconds(static_cast<std::int64_t>(value))));
}

} // namespace

GossipSecurity::~GossipSecurity() {
  OPENSSL_cleanse(secret.data(), secret.size());
  for (GossipKey& key : keys) {
    OPENSSL_cleanse(key.data(), key.size());
  }
}

GossipSecurity gossipSecurity(const GossipOptions& options) {
  GossipSecurity security;
  security.mode = effectiveGossipMode(options);
  security.secret = options.secret.value_or("");
  for (const std::string& text : options.keys) {
    Result<GossipKey> key = decodeGossipKey(text);
    CHECK(key.has_value(), "keys are validated before use");
    security.keys.push_back(*key);
    wipeGossipKey(key);
  }
  security.label = options.label;
  security.replayWindow = options.replayWindow;
  return security;
}

GossipCodec::GossipCodec(GossipSecurity security) : mode_(security.mode) {
  switch (mode_) {
  case GossipMode::Plain:
    break;
  case GossipMode::Secret:
    secret_.emplace(security.secret);
    break;
  case GossipMode::Authenticated:
    authenticated_.emplace(std::move(security.keys), std::move(security.label));
    replayGuard_.emplace(security.replayWindow);
    break;
  }
}

std::optional<std::vector<std::uint8_t>> GossipCodec::encode(std::string_view node,
                                                             Clock::SystemTime now) const {
  std::vector<std::uint8_t> heartbeat = encodeHeartbeat(node);
  switch (mode_) {
  case GossipMode::Plain:
    return heartbeat;
  case GossipMode::Secret:
    return secret_->seal(heartbeat);
  case GossipMode::Authenticated: {
    std::vector<std::uint8_t> plaintext;
    plaintext.reserve(kTimestampBytes + heartbeat.size());
    appendTimestamp(plaintext, now);
    plaintext.insert(plaintext.end(), heartbeat.begin(), heartbeat.end());
    return authenticated_->seal(plaintext);
  }
  }
  return std::nullopt;
}

HeartbeatDecoding GossipCodec::decode(std::span<const std::uint8_t> datagram,
                                      Clock::SystemTime now) {
  switch (mode_) {
  case GossipMode::Plain:
    return decodeHeartbeat(datagram);
  case GossipMode::Secret: {
    auto opened = secret_->open(datagram);
    if (const GossipOutcome* failure = std::get_if<GossipOutcome>(&opened)) {
      return {*failure, {}};
    }
    return decodeHeartbeat(std::get<std::vector<std::uint8_t>>(opened));
  }
  case GossipMode::Authenticated:
    return decodeAuthenticated(datagram, now);
  }
  return {GossipOutcome::Malformed, {}};
}

HeartbeatDecoding GossipCodec::decodeAuthenticated(std::span<const std::uint8_t> datagram,
                                                   Clock::SystemTime now) {
  auto opened = authenticated_->open(datagram);
  if (const GossipOutcome* failure = std::get_if<GossipOutcome>(&opened)) {
    return {*failure, {}};
  }
  const AuthenticatedCipher::Opened& packet = std::get<AuthenticatedCipher::Opened>(opened);
  // Authentic but too short to hold a timestamp: only a key holder could have sent it.
  if (packet.plaintext.size() < kTimestampBytes) {
    return {GossipOutcome::Malformed, {}};
  }
  std::span<const std::uint8_t> plaintext(packet.plaintext);
  HeartbeatDecoding heartbeat = decodeHeartbeat(plaintext.subspan(kTimestampBytes));
  if (heartbeat.outcome != GossipOutcome::Accepted) {
    return heartbeat;
  }
  GossipOutcome admitted =
      replayGuard_->admit(heartbeat.node, readTimestamp(plaintext), packet.nonce, now);
  if (admitted != GossipOutcome::Accepted) {
    return {admitted, {}};
  }
  return heartbeat;
}

} // namespace libcluster
