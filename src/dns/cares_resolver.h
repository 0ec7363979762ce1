#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/result.h"
#include "dns/resolver.h"

struct ares_channeldata;

namespace libcluster {

/// How a CaresResolver finds and asks its DNS servers.
struct CaresResolverOptions {
  /// "ip", "ip:port" or "[ipv6]:port". Empty means the nameservers of /etc/resolv.conf.
  std::vector<std::string> servers{};
  /// Deadline of one resolve call: every try, every search domain and both families included.
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};
  /// Rounds over the server list. c-ares doubles the wait on each round; the first wait is chosen
  /// so that all rounds fit in `timeout`.
  int tries = 2;
  /// Expand relative names with the search list and ndots of /etc/resolv.conf, as libc does.
  /// A name with a trailing dot is always absolute.
  bool useSearchDomains = true;
  /// Replaces the search list of /etc/resolv.conf when not empty.
  std::vector<std::string> searchDomains{};
  /// Replaces resolv.conf's ndots: a name with fewer dots is tried with the search domains first.
  std::optional<int> ndots{};
};

/// A Resolver that asks DNS servers through c-ares, on the calling thread. It owns one c-ares
/// channel, so one thread at a time may use it; give each thread its own. A stop request or the
/// deadline cancels the outstanding queries and returns Cancelled or Timeout.
class CaresResolver final : public Resolver {
public:
  /// Invalid for a malformed option, Internal if c-ares cannot start.
  static Result<std::unique_ptr<CaresResolver>> create(CaresResolverOptions options = {});

  ~CaresResolver() override;
  CaresResolver(const CaresResolver&) = delete;
  CaresResolver& operator=(const CaresResolver&) = delete;

  // Resolver
  Result<std::vector<DnsAddress>> resolveAddresses(const std::string& name, AddressFamily family,
                                                   std::stop_token stop) override;
  Result<std::vector<DnsService>> resolveServices(const std::string& name,
                                                  std::stop_token stop) override;

  /// The names a query for `name` tries, in order (search list and ndots applied).
  std::vector<std::string> candidateNames(const std::string& name) const;

private:
  struct Lookup;

  CaresResolver(ares_channeldata* channel, int wakeFd, CaresResolverOptions options,
                std::vector<std::string> searchDomains, int ndots);

  Result<void> run(Lookup& lookup, const std::stop_token& stop);

  ares_channeldata* channel_;
  int wakeFd_;
  CaresResolverOptions options_;
  std::vector<std::string> searchDomains_;
  int ndots_;
};

} // namespace libcluster
