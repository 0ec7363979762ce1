#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "gossip/authenticated_cipher.h"
#include "gossip/gossip_options.h"
#include "gossip/heartbeat_codec.h"
#include "gossip/replay_guard.h"
#include "gossip/secret_cipher.h"

namespace libcluster {

/// What GossipCodec needs to know about protection; built from GossipOptions by
/// gossipSecurity(). Keys are raw bytes here.
struct GossipSecurity {
  GossipMode mode = GossipMode::Plain;
  std::string secret;          // Secret
  std::vector<GossipKey> keys; // Authenticated: the first seals, all open
  std::string label;           // Authenticated
  std::chrono::milliseconds replayWindow{std::chrono::seconds(30)};

  /// Wipes the secret and the keys (every copy is wiped when it goes).
  ~GossipSecurity();
};

/// The security part of validated options (validateGossipOptions must have passed).
GossipSecurity gossipSecurity(const GossipOptions& options);

/// Turns a node name into a heartbeat datagram and datagrams back into node names, in one mode:
///   Plain:         "heartbeat::" + term_to_binary(%{node: n})             (libcluster)
///   Secret:        SecretCipher over the plain heartbeat                  (libcluster `secret`)
///   Authenticated: AuthenticatedCipher over timestamp(8, BE ms) + the plain heartbeat
/// A datagram of another mode is dropped with an outcome, never misread. encode() is const and
/// thread-safe; decode() updates the replay state and must not run on two threads at once.
class GossipCodec {
public:
  explicit GossipCodec(GossipSecurity security);

  GossipMode mode() const { return mode_; }

  /// nullopt only when the system's random generator fails (Secret and Authenticated).
  std::optional<std::vector<std::uint8_t>> encode(std::string_view node,
                                                  Clock::SystemTime now) const;

  /// The sender's node name (outcome Accepted) or why the datagram was dropped. Does not know
  /// who "self" is: that is the caller's check.
  HeartbeatDecoding decode(std::span<const std::uint8_t> datagram, Clock::SystemTime now);

private:
  HeartbeatDecoding decodeAuthenticated(std::span<const std::uint8_t> datagram,
                                        Clock::SystemTime now);

  GossipMode mode_;
  std::optional<SecretCipher> secret_;
  std::optional<AuthenticatedCipher> authenticated_;
  std::optional<ReplayGuard> replayGuard_;
};

} // namespace libcluster
