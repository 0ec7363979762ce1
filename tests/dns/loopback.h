#pragma once

#include <chrono>
#include <functional>
#include <thread>
#include <vector>

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

/// A UDP DNS server on 127.0.0.1 that replies whatever `respond` makes of each query (an empty
/// reply sends nothing), for answers no real server gives: SERVFAIL, malformed records. Serves on
/// its own thread until destroyed; `respond` runs only on that thread.
class ScriptedUdpServer {
public:
  using Respond =
      std::function<std::vector<unsigned char>(const std::vector<unsigned char>& query)>;

  explicit ScriptedUdpServer(Respond respond);
  ~ScriptedUdpServer();
  ScriptedUdpServer(const ScriptedUdpServer&) = delete;
  ScriptedUdpServer& operator=(const ScriptedUdpServer&) = delete;

  int port() const { return port_; }

private:
  void serve(const std::stop_token& stop);

  int fd_;
  int port_;
  Respond respond_;
  std::jthread thread_;
};

} // namespace libcluster
