#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "core/result.h"

namespace libcluster {

/// A real dnsmasq (/usr/sbin/dnsmasq) serving DNS on 127.0.0.1:<free port>, for integration tests.
/// It reads no config, resolv.conf or hosts file: only the options given. Stopped by PID
/// (SIGTERM, then SIGKILL) and reaped when destroyed.
class DnsmasqServer {
public:
  /// Starts dnsmasq with `options` added to the fixed ones (e.g. "--host-record=app.test,10.0.0.1")
  /// and waits until it answers a query, at most `readyTimeout`. The Error says why it did not.
  static Result<std::unique_ptr<DnsmasqServer>>
  start(const std::vector<std::string>& options,
        std::chrono::milliseconds readyTimeout = std::chrono::seconds(5));

  ~DnsmasqServer();
  DnsmasqServer(const DnsmasqServer&) = delete;
  DnsmasqServer& operator=(const DnsmasqServer&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  /// "127.0.0.1:<port>", as CaresResolverOptions::servers takes it.
  std::string address() const;
  /// What dnsmasq wrote to stdout and stderr so far.
  std::string log() const;

private:
  DnsmasqServer(pid_t pid, int port, std::string logPath);

  pid_t pid_;
  int port_;
  std::string logPath_;
};

} // namespace libcluster
