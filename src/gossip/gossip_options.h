#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "gossip/authenticated_cipher.h"

namespace libcluster {

/// How heartbeats are protected. Plain and Secret are libcluster's and interoperate with it;
/// Authenticated is ours (see AuthenticatedCipher) and talks only to itself.
enum class GossipMode { Plain, Secret, Authenticated };

/// "plain" | "secret" | "authenticated"; nullopt for anything else.
std::optional<GossipMode> parseGossipMode(std::string_view text);
std::string_view gossipModeName(GossipMode mode);

/// The Gossip strategy's options. The first block carries libcluster's option names (in the
/// comments, as configuration spells them) and defaults; the second block is ours.
struct GossipOptions {
  int port = 45892; // port: bind and destination port
  /// if_addr: IPv4 address to bind. Empty (our default; libcluster's is 0.0.0.0) binds the
  /// multicast group itself, so that only datagrams sent to the group arrive and unicast from
  /// anywhere is not heard; with broadcast_only, empty binds 0.0.0.0.
  std::string ifAddr;
  std::optional<std::string> multicastIf;     // multicast_if: IPv4 of the interface
  std::string multicastAddr = "233.252.1.32"; // multicast_addr (or broadcast address)
  int multicastTtl = 1;                       // multicast_ttl
  bool broadcastOnly = false;                 // broadcast_only
  std::optional<std::string> secret;          // secret: enables the Secret mode

  /// mode: unset means Secret when `secret` is given, Authenticated when `keys` are; with neither,
  /// the options are invalid (unauthenticated heartbeats must be chosen: mode plain).
  std::optional<GossipMode> mode;
  /// keys: base64 of 32 random bytes each (`openssl rand -base64 32`); the first one seals.
  std::vector<std::string> keys;
  /// label: separates clusters sharing a group and keys (GCM associated data).
  std::string label;
  /// replay_window_seconds: authenticated heartbeats older or newer than this are dropped.
  std::chrono::seconds replayWindow{30};
  /// heartbeat_min_ms / heartbeat_max_ms: each interval is uniform in [min, max], as
  /// libcluster's :rand.uniform(5_000).
  std::chrono::milliseconds heartbeatMin{1};
  std::chrono::milliseconds heartbeatMax{5000};
  /// peer_expiry_seconds: forget a peer not heard for this long. Unset means
  /// defaultPeerExpiry (libcluster never forgets, which lets forged names stay for ever).
  /// Forgetting only stops re-dialling: Gossip never disconnects.
  std::optional<std::chrono::milliseconds> peerExpiry;
  /// max_peers: peers remembered at most; heartbeats from further new nodes are dropped, and a
  /// new name never evicts a peer that is still heard.
  std::size_t maxPeers = 4096;
  /// max_peers_per_source: new names one sender address may introduce while they are
  /// remembered, so that one host cannot fill the table and lock real peers out.
  std::size_t maxPeersPerSource = 16;
  /// new_peers_per_second: new names admitted per second (bursts of kNewPeerBurst), which bounds
  /// the connect attempts (and atoms) forged names can push into the local node.
  double newPeersPerSecond = 20;
};

/// The peer expiry when none is configured: a minute, or four of the longest heartbeat
/// intervals when those are longer.
inline constexpr std::chrono::milliseconds kDefaultPeerExpiry{60'000};
/// New names admitted at once before new_peers_per_second applies.
inline constexpr double kNewPeerBurst = 256;

/// The peer expiry `options` select (peer_expiry_seconds, or the default above).
std::chrono::milliseconds effectivePeerExpiry(const GossipOptions& options);

/// The mode `options` select (the explicit mode, or the one implied by secret / keys; Plain when
/// neither, which validateGossipOptions refuses unless the mode is explicit).
GossipMode effectiveGossipMode(const GossipOptions& options);

/// Checks everything that can be checked without a socket. The Error is Invalid and its message
/// names the option ("multicast_addr: 10.0.0.1 is not a multicast address").
Result<void> validateGossipOptions(const GossipOptions& options);

/// A dotted IPv4 address (inet_pton's rules); nullopt when `text` is not one.
std::optional<in_addr> parseIPv4(const std::string& text);

/// Overwrites a decoded key (e.g. one only decoded to check it) with zeros.
void wipeGossipKey(Result<GossipKey>& key);

/// Strict base64 (standard alphabet, padded) of exactly 32 bytes. The message never contains the
/// text, which is a secret.
Result<GossipKey> decodeGossipKey(std::string_view base64);

} // namespace libcluster
