#include "gossip/gossip_options.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include <openssl/crypto.h>

namespace libcluster {
namespace {

Error invalid(std::string message) { return Error{Error::Code::Invalid, std::move(message), {}}; }

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

} // namespace

std::optional<in_addr> parseIPv4(const std::string& text) {
  in_addr address{};
  if (inet_pton(AF_INET, text.c_str(), &address) != 1) {
    return std::nullopt;
  }
  return address;
}

std::optional<GossipMode> parseGossipMode(std::string_view text) {
  if (text == "plain") {
    return GossipMode::Plain;
  }
  if (text == "secret") {
    return GossipMode::Secret;
  }
  if (text == "authenticated") {
    return GossipMode::Authenticated;
  }
  return std::nullopt;
}

std::string_view gossipModeName(GossipMode mode) {
  switch (mode) {
  case GossipMode::Plain:
    return "plain";
  case GossipMode::Secret:
    return "secret";
  case GossipMode::Authenticated:
    return "authenticated";
  }
  return "unknown";
}

GossipMode effectiveGossipMode(const GossipOptions& options) {
  if (options.mode) {
    return *options.mode;
  }
  if (options.secret) {
    return GossipMode::Secret;
  }
  if (!options.keys.empty()) {
    return GossipMode::Authenticated;
  }
  return GossipMode::Plain;
}

std::chrono::milliseconds effectivePeerExpiry(const GossipOptions& options) {
  if (options.peerExpiry) {
    return *options.peerExpiry;
  }
  return std::max(kDefaultPeerExpiry, 4 * options.heartbeatMax);
}

void wipeGossipKey(Result<GossipKey>& key) {
  if (key) {
    // The Result owns a non-const key; value() only hands out a const view of it.
    auto& bytes = const_cast<GossipKey&>(key.value());
    OPENSSL_cleanse(bytes.data(), bytes.size());
  }
}

Result<GossipKey> decodeGossipKey(std::string_view base64) {
  // 32 bytes are 43 base64 digits and one '=' of padding.
  constexpr std::size_t kDigits = 43;
  if (base64.size() != kDigits + 1 || base64.back() != '=') {
    return invalid("a key must be the base64 of exactly 32 bytes (44 characters ending in '=')");
  }
  GossipKey key{};
  std::uint32_t bits = 0;
  int pending = 0;
  std::size_t out = 0;
  for (std::size_t i = 0; i < kDigits; ++i) {
    int value = base64Value(base64[i]);
    if (value < 0) {
      return invalid("a key holds a character that is not base64");
    }
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    pending += 6;
    if (pending >= 8) {
      pending -= 8;
      key[out++] = static_cast<std::uint8_t>(bits >> pending);
      bits &= (1u << pending) - 1;
    }
  }
  // The two bits left over must be zero in canonical base64.
  if (out != key.size() || bits != 0) {
    return invalid("a key is not canonical base64 of 32 bytes");
  }
  return key;
}

Result<void> validateGossipOptions(const GossipOptions& options) {
  if (options.port < 1 || options.port > 65535) {
    return invalid("port: must be 1..65535, got " + std::to_string(options.port));
  }
  if (!options.ifAddr.empty() && !parseIPv4(options.ifAddr)) {
    return invalid("if_addr: not an IPv4 address: " + options.ifAddr);
  }
  if (options.multicastIf && !parseIPv4(*options.multicastIf)) {
    return invalid("multicast_if: not an IPv4 address: " + *options.multicastIf);
  }
  std::optional<in_addr> group = parseIPv4(options.multicastAddr);
  if (!group) {
    return invalid("multicast_addr: not an IPv4 address: " + options.multicastAddr);
  }
  if (!options.broadcastOnly && !IN_MULTICAST(ntohl(group->s_addr))) {
    return invalid("multicast_addr: " + options.multicastAddr +
                   " is not a multicast address (224.0.0.0/4); set broadcast_only to send to a "
                   "broadcast address");
  }
  if (options.multicastTtl < 0 || options.multicastTtl > 255) {
    return invalid("multicast_ttl: must be 0..255, got " + std::to_string(options.multicastTtl));
  }
  if (options.heartbeatMin < std::chrono::milliseconds(1) ||
      options.heartbeatMax < options.heartbeatMin) {
    return invalid("heartbeat_min_ms / heartbeat_max_ms: need 1 <= min <= max");
  }
  if (options.peerExpiry && *options.peerExpiry <= options.heartbeatMax) {
    return invalid("peer_expiry_seconds: must be longer than heartbeat_max_ms, or every peer "
                   "would be forgotten between two of its heartbeats");
  }
  if (options.maxPeers == 0) {
    return invalid("max_peers: must be at least 1");
  }
  if (options.maxPeersPerSource == 0) {
    return invalid("max_peers_per_source: must be at least 1");
  }
  if (!(options.newPeersPerSecond > 0)) {
    return invalid("new_peers_per_second: must be more than 0");
  }
  if (!options.mode && !options.secret && options.keys.empty()) {
    return invalid("keys: gossip needs keys (or keys_file) to authenticate heartbeats; set mode "
                   "plain to accept unauthenticated heartbeats from anyone on the network");
  }

  switch (effectiveGossipMode(options)) {
  case GossipMode::Plain:
    if (options.secret || !options.keys.empty()) {
      return invalid("mode: plain sends in clear, but secret or keys are set");
    }
    break;
  case GossipMode::Secret:
    if (!options.secret || options.secret->empty()) {
      return invalid("secret: mode secret needs a non-empty secret");
    }
    if (!options.keys.empty()) {
      return invalid("keys: only used in mode authenticated");
    }
    break;
  case GossipMode::Authenticated:
    if (options.secret) {
      return invalid("secret: only used in mode secret (authenticated uses keys)");
    }
    if (options.keys.empty()) {
      return invalid("keys: mode authenticated needs at least one key");
    }
    for (std::size_t i = 0; i < options.keys.size(); ++i) {
      Result<GossipKey> key = decodeGossipKey(options.keys[i]);
      if (!key) {
        return invalid("keys[" + std::to_string(i) + "]: " + key.error().message);
      }
      wipeGossipKey(key);
    }
    if (options.replayWindow < std::chrono::seconds(1)) {
      return invalid("replay_window_seconds: must be at least 1");
    }
    break;
  }
  return {};
}

} // namespace libcluster
