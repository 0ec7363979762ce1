#pragma once

#include <chrono>

namespace libcluster {

/// A UDP and TCP port on 127.0.0.1 that nothing listened on a moment ago (the kernel chose it).
/// Another process may take it before the caller does; callers that bind it retry.
int freeLoopbackPort();

/// A UDP socket on 127.0.0.1 that receives queries and never answers: a DNS server that has
/// gone silent. Closed when destroyed.
class SilentUdpServer {
public:
  SilentUdpServer();
  ~SilentUdpServer();
  SilentUdpServer(const SilentUdpServer&) = delete;
  SilentUdpServer& operator=(const SilentUdpServer&) = delete;

  int port() const { return port_; }
  /// Blocks until a datagram arrives (true) or `timeout` passes (false), and discards it.
  bool waitForDatagram(std::chrono::milliseconds timeout);

private:
  int fd_;
  int port_;
};

} // namespace libcluster
