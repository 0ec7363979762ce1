#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <vector>

#include "core/result.h"

namespace libcluster {

/// One A or AAAA record: the address in text form ("10.0.0.1", "fd00::1") and its TTL.
struct DnsAddress {
  std::string address;
  std::chrono::seconds ttl;

  bool operator==(const DnsAddress&) const = default;
};

/// One SRV record, as the answer gave it (the target keeps no trailing dot).
struct DnsService {
  std::string target;
  int port;
  int priority;
  int weight;
  std::chrono::seconds ttl;

  bool operator==(const DnsService&) const = default;
};

/// Which address records resolveAddresses asks for: A, AAAA, or both.
enum class AddressFamily { Any, IPv4, IPv6 };

/// Resolves names. Calls block the calling thread until an answer, the deadline or `stop`; an
/// instance is used by one thread at a time (c-ares 1.18 channels are not thread-safe).
///
/// Success is never empty. NotFound means the DNS answered and there is nothing there: the name
/// does not exist (NXDOMAIN) or has no records of the kind asked for (NODATA). Any other failure
/// (Unavailable for SERVFAIL, REFUSED or an unreachable server; Timeout; Cancelled; Invalid) means
/// the answer is unknown, and callers must not read it as "no peers".
class Resolver {
public:
  virtual ~Resolver() = default;

  /// A and/or AAAA records of `name`, A records first. With AddressFamily::Any, a family that is
  /// NotFound is skipped, but a family that failed otherwise fails the call: returning only the
  /// other family would silently drop peers.
  virtual Result<std::vector<DnsAddress>>
  resolveAddresses(const std::string& name, AddressFamily family, std::stop_token stop) = 0;

  /// SRV records of `name`, in answer order.
  virtual Result<std::vector<DnsService>> resolveServices(const std::string& name,
                                                          std::stop_token stop) = 0;
};

} // namespace libcluster
