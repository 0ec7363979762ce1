#pragma once

#include <array>
#include <string_view>

namespace libcluster {

/// What became of one received gossip datagram. Every datagram gets exactly one outcome, which
/// is counted in `libcluster_gossip_packets_total{outcome}` under `gossipOutcomeName`.
enum class GossipOutcome {
  Accepted,       // a heartbeat from another node
  Self,           // our own heartbeat (multicast loop is on, as in libcluster)
  NotHeartbeat,   // no "heartbeat::" prefix (plain text, or the decrypted text in secret mode)
  Malformed,      // the external term format is truncated, corrupt or uses an unsupported tag
  UnexpectedTerm, // a well-formed term, but not a map with an atom under the `node` key
  InvalidNode,    // the atom is not a node name (name@host, at most 255 bytes)
  TooShort,       // shorter than the IV (secret) or the header and tag (authenticated)
  DecryptFailed,  // secret mode: ciphertext not whole blocks, or bad PKCS#7 padding
  Foreign,        // authenticated mode: not our magic and version (e.g. a libcluster packet)
  AuthFailed,     // authenticated mode: no key in the ring opens it under our label
  Replayed,       // authenticated mode: this nonce was already accepted from this sender
  Stale,          // authenticated mode: the timestamp is outside the replay window
  PeerLimit,      // a new peer beyond the configured maximum number of remembered peers
  SourceLimit,    // a new peer from a sender that already introduced max_peers_per_source
  RateLimited,    // a new peer beyond new_peers_per_second
};

inline constexpr std::array kGossipOutcomes{
    GossipOutcome::Accepted,   GossipOutcome::Self,           GossipOutcome::NotHeartbeat,
    GossipOutcome::Malformed,  GossipOutcome::UnexpectedTerm, GossipOutcome::InvalidNode,
    GossipOutcome::TooShort,   GossipOutcome::DecryptFailed,  GossipOutcome::Foreign,
    GossipOutcome::AuthFailed, GossipOutcome::Replayed,       GossipOutcome::Stale,
    GossipOutcome::PeerLimit,  GossipOutcome::SourceLimit,    GossipOutcome::RateLimited,
};

/// The metric label value, snake_case ("not_heartbeat").
constexpr std::string_view gossipOutcomeName(GossipOutcome outcome) {
  switch (outcome) {
  case GossipOutcome::Accepted:
    return "accepted";
  case GossipOutcome::Self:
    return "self";
  case GossipOutcome::NotHeartbeat:
    return "not_heartbeat";
  case GossipOutcome::Malformed:
    return "malformed";
  case GossipOutcome::UnexpectedTerm:
    return "unexpected_term";
  case GossipOutcome::InvalidNode:
    return "invalid_node";
  case GossipOutcome::TooShort:
    return "too_short";
  case GossipOutcome::DecryptFailed:
    return "decrypt_failed";
  case GossipOutcome::Foreign:
    return "foreign";
  case GossipOutcome::AuthFailed:
    return "auth_failed";
  case GossipOutcome::Replayed:
    return "replayed";
  case GossipOutcome::Stale:
    return "stale";
  case GossipOutcome::PeerLimit:
    return "peer_limit";
  case GossipOutcome::SourceLimit:
    return "source_limit";
  case GossipOutcome::RateLimited:
    return "rate_limited";
  }
  return "unknown";
}

} // namespace libcluster
