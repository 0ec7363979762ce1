#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gossip/gossip_outcome.h"
#include "strategy/strategy.h"

namespace libcluster {

/// libcluster's plain heartbeat is these bytes followed by term_to_binary(%{node: node()}).
inline constexpr std::string_view kHeartbeatPrefix = "heartbeat::";

/// How the atoms of an emitted heartbeat are tagged. Latin1 is ATOM_EXT (100), what OTP ≤ 25
/// emits and what libcluster-reference §3.4 records; Utf8 is SMALL_ATOM_UTF8_EXT (119), OTP 26's
/// default. Every OTP since R16 decodes both.
enum class AtomEncoding { Latin1, Utf8 };

/// term_to_binary(%{node: :'<node>'}) byte for byte. `node` must satisfy isNodeName
/// (core/names.h: stricter than OTP's host rule on purpose, as names from the network end up in
/// logs and RPCs).
std::vector<std::uint8_t> encodeNodeTerm(std::string_view node,
                                         AtomEncoding encoding = AtomEncoding::Latin1);

/// kHeartbeatPrefix followed by encodeNodeTerm(node).
std::vector<std::uint8_t> encodeHeartbeat(std::string_view node,
                                          AtomEncoding encoding = AtomEncoding::Latin1);

/// A decoded heartbeat: `node` is set only when `outcome` is Accepted.
struct HeartbeatDecoding {
  GossipOutcome outcome;
  NodeName node;
};

/// Decodes the external term format of libcluster's `%{node: n} when is_atom(n)`, as
/// binary_to_term followed by that match would, from untrusted bytes: any of the four atom tags
/// (ATOM_EXT, SMALL_ATOM_EXT, ATOM_UTF8_EXT, SMALL_ATOM_UTF8_EXT) for key and value; other map
/// keys are ignored (the match ignores them too); bytes after the term are ignored (so does
/// binary_to_term). Never reads outside `term`, never allocates in proportion to claimed sizes,
/// creates nothing; the outcome is Malformed, UnexpectedTerm, InvalidNode or Accepted.
HeartbeatDecoding decodeNodeTerm(std::span<const std::uint8_t> term);

/// decodeNodeTerm after the prefix; NotHeartbeat when the prefix is missing.
HeartbeatDecoding decodeHeartbeat(std::span<const std::uint8_t> packet);

} // namespace libcluster
