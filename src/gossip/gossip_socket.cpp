#include "gossip/gossip_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace libcluster {
namespace {

// The options were validated (validateGossipOptions): an address that does not parse is a bug,
// and reads as 0.0.0.0, as inet_pton leaves it.
in_addr ipv4(const std::string& text) { return parseIPv4(text).value_or(in_addr{}); }

Error socketError(int error, const std::string& what) {
  Error::Code code = (error == EADDRINUSE || error == ENOBUFS || error == ENOMEM ||
                      error == EMFILE || error == ENFILE)
                         ? Error::Code::Unavailable
                         : Error::Code::Invalid;
  return Error{code, "gossip socket: " + what + ": " + std::strerror(error), {}};
}

template <typename Value>
bool setOption(int fd, int level, int name, const Value& value) {
  return setsockopt(fd, level, name, &value, sizeof value) == 0;
}

} // namespace

Result<GossipSocket> GossipSocket::open(const GossipOptions& options) {
  Result<void> valid = validateGossipOptions(options);
  if (!valid) {
    return valid.error();
  }
  in_addr group = ipv4(options.multicastAddr);
  // Bound to the group, the socket gets only datagrams sent to the group: a unicast heartbeat
  // from anywhere that can route to this host is not heard.
  in_addr bindAddress{};
  bindAddress.s_addr = htonl(INADDR_ANY);
  if (!options.ifAddr.empty()) {
    bindAddress = ipv4(options.ifAddr);
  } else if (!options.broadcastOnly) {
    bindAddress = group;
  }
  const std::string bindText = options.ifAddr.empty()
                                   ? (options.broadcastOnly ? "0.0.0.0" : options.multicastAddr)
                                   : options.ifAddr;
  in_addr interface {};
  interface.s_addr = htonl(INADDR_ANY);
  if (options.multicastIf) {
    interface = ipv4(*options.multicastIf);
  }
  auto port = static_cast<std::uint16_t>(options.port);

  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return socketError(errno, "socket");
  }
  GossipSocket socket(fd, group.s_addr, port);

  int on = 1;
  if (!setOption(fd, SOL_SOCKET, SO_REUSEADDR, on)) {
    return socketError(errno, "SO_REUSEADDR");
  }
  // libcluster passes broadcast: true in every mode.
  if (!setOption(fd, SOL_SOCKET, SO_BROADCAST, on)) {
    return socketError(errno, "SO_BROADCAST");
  }
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(port);
  local.sin_addr = bindAddress;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    int error = errno;
    return socketError(error, "bind if_addr " + bindText + " port " +
                                  std::to_string(options.port) +
                                  (error == EADDRNOTAVAIL ? " (not an address of this host)" : ""));
  }
  if (options.broadcastOnly) {
    return socket;
  }

  auto ttl = static_cast<unsigned char>(options.multicastTtl);
  unsigned char loop = 1;
  if (!setOption(fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl)) {
    return socketError(errno, "multicast_ttl");
  }
  if (!setOption(fd, IPPROTO_IP, IP_MULTICAST_LOOP, loop)) {
    return socketError(errno, "IP_MULTICAST_LOOP");
  }
  if (options.multicastIf && !setOption(fd, IPPROTO_IP, IP_MULTICAST_IF, interface)) {
    return socketError(errno, "multicast_if " + *options.multicastIf);
  }
  ip_mreq membership{};
  membership.imr_multiaddr = group;
  membership.imr_interface = interface;
  if (!setOption(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, membership)) {
    int error = errno;
    std::string on = options.multicastIf ? "multicast_if " + *options.multicastIf
                                         : std::string("the default interface");
    std::string hint = error == ENODEV || error == EADDRNOTAVAIL
                           ? " (no such interface address, or no route for 224.0.0.0/4)"
                           : "";
    return socketError(error, "join " + options.multicastAddr + " on " + on + hint);
  }
  return socket;
}

GossipSocket::GossipSocket(GossipSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), destination_(other.destination_), port_(other.port_) {}

GossipSocket& GossipSocket::operator=(GossipSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
    destination_ = other.destination_;
    port_ = other.port_;
  }
  return *this;
}

GossipSocket::~GossipSocket() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

Result<void> GossipSocket::send(std::span<const std::uint8_t> datagram) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port_);
  to.sin_addr.s_addr = destination_;
  ssize_t sent = ::sendto(fd_, datagram.data(), datagram.size(), MSG_NOSIGNAL,
                          reinterpret_cast<const sockaddr*>(&to), sizeof to);
  if (sent < 0) {
    int error = errno;
    return Error{Error::Code::Unavailable, std::string("gossip send: ") + std::strerror(error), {}};
  }
  return {};
}

std::optional<GossipSocket::Received> GossipSocket::receive(std::span<std::uint8_t> buffer) {
  while (true) {
    sockaddr_in from{};
    socklen_t fromSize = sizeof from;
    ssize_t received = ::recvfrom(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                  reinterpret_cast<sockaddr*>(&from), &fromSize);
    if (received >= 0) {
      return Received{static_cast<std::size_t>(received), from.sin_addr.s_addr};
    }
    if (errno != EINTR) {
      return std::nullopt;
    }
  }
}

} // namespace libcluster
