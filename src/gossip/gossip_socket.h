#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/result.h"
#include "gossip/gossip_options.h"

namespace libcluster {

/// The heartbeat socket, set up as libcluster's :gen_udp.open: UDP/IPv4 bound to if_addr:port (when
/// if_addr is empty: the multicast group, or 0.0.0.0 with broadcast_only) with
/// SO_REUSEADDR (so this agent and Elixir nodes share the port on one host; libcluster's
/// SO_REUSEPORT attempt is a no-op on Linux and is not copied) and SO_BROADCAST; unless
/// broadcast_only, multicast TTL, loop on, and membership of multicast_addr on multicast_if (or
/// the default interface). Non-blocking; one owner thread at a time. Closes on destruction.
class GossipSocket {
public:
  /// An Error, never a crash, where libcluster's hard match crashed (:einval, :eaddrinuse):
  /// Invalid for a setting this host cannot honour, Unavailable for a busy or missing resource.
  static Result<GossipSocket> open(const GossipOptions& options);

  GossipSocket(GossipSocket&& other) noexcept;
  GossipSocket& operator=(GossipSocket&& other) noexcept;
  GossipSocket(const GossipSocket&) = delete;
  GossipSocket& operator=(const GossipSocket&) = delete;
  ~GossipSocket();

  /// For poll(2).
  int fd() const { return fd_; }

  /// One datagram to multicast_addr:port (the broadcast address when broadcast_only).
  Result<void> send(std::span<const std::uint8_t> datagram);

  struct Received {
    std::size_t size;
    std::uint32_t source; // the sender's IPv4 address, network byte order
  };

  /// The next waiting datagram, copied into `buffer` (cut to its size), or nullopt when none is
  /// waiting.
  std::optional<Received> receive(std::span<std::uint8_t> buffer);

private:
  GossipSocket(int fd, std::uint32_t destination, std::uint16_t port)
      : fd_(fd), destination_(destination), port_(port) {}

  int fd_ = -1;
  std::uint32_t destination_; // network byte order
  std::uint16_t port_;        // host byte order
};

} // namespace libcluster
