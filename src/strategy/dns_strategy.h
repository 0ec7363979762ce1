#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "dns/resolver.h"
#include "strategy/strategy.h"

namespace libcluster {

/// libcluster's DNSPoll and Kubernetes.DNS: the A and AAAA records of a name, each address
/// becoming "<nodeBasename>@<address>" (IPv6 written as the resolver gives it, e.g.
/// node@2a09:8280:1:a270:b8f5:b9f7:8891:f3). The controller's rule (membership/sources.h): an
/// answer saying the name exists with no such records (NODATA) is an empty set; NXDOMAIN and
/// every other failure is an Error, never "no peers". Polls once per interval.
class DnsStrategy final : public Strategy {
public:
  struct Options {
    std::string query;
    std::string nodeBasename;
    AddressFamily family = AddressFamily::Any;
  };

  /// Invalid when query or nodeBasename is empty.
  static Result<std::unique_ptr<DnsStrategy>> create(Options options, Resolver& resolver);

  // Strategy
  Result<PeerSet> discoverPeers(std::stop_token stop) override;

private:
  DnsStrategy(Options options, Resolver& resolver)
      : options_(std::move(options)), resolver_(resolver) {}

  Options options_;
  Resolver& resolver_;
};

/// libcluster's Kubernetes.DNSSRV: the SRV records of
/// "<service>.<namespace>.svc.<clusterDomain>", each target becoming "<applicationName>@<target>"
/// (e.g. node@elixir-plug-poc-0.elixir-plug-poc.default.svc.cluster.local). NODATA is an empty
/// set; NXDOMAIN and every other failure an Error (membership/sources.h).
class DnsSrvStrategy final : public Strategy {
public:
  struct Options {
    std::string service;
    std::string namespaceName;
    std::string applicationName;
    /// libcluster's CLUSTER_DOMAIN default, with its trailing dot (an absolute name).
    std::string clusterDomain = "cluster.local.";
  };

  /// Invalid when service, namespace, applicationName or clusterDomain is empty.
  static Result<std::unique_ptr<DnsSrvStrategy>> create(Options options, Resolver& resolver);

  /// The name asked for, e.g. "myapp-headless.default.svc.cluster.local.".
  const std::string& query() const { return query_; }

  // Strategy
  Result<PeerSet> discoverPeers(std::stop_token stop) override;

private:
  DnsSrvStrategy(Options options, Resolver& resolver, std::string query)
      : options_(std::move(options)), resolver_(resolver), query_(std::move(query)) {}

  Options options_;
  Resolver& resolver_;
  std::string query_;
};

} // namespace libcluster
