#include "strategy/dns_strategy.h"

#include "membership/sources.h"

namespace libcluster {
namespace {

Result<PeerSet> peersOf(const Result<DnsMembers>& members) {
  if (!members) {
    return members.error();
  }
  const std::vector<std::string> nodes = nodeNamesOf(members->candidates);
  return PeerSet(nodes.begin(), nodes.end());
}

} // namespace

Result<std::unique_ptr<DnsStrategy>> DnsStrategy::create(Options options, Resolver& resolver) {
  if (options.query.empty()) {
    return Error{Error::Code::Invalid, "query: required (the name to resolve)"};
  }
  if (options.nodeBasename.empty()) {
    return Error{Error::Code::Invalid, "nodeBasename: required (the part of node names before @)"};
  }
  return std::unique_ptr<DnsStrategy>(new DnsStrategy(std::move(options), resolver));
}

Result<PeerSet> DnsStrategy::discoverPeers(std::stop_token stop) {
  // The rule both binaries share (membership/sources.h): NODATA is no peers, NXDOMAIN unknown.
  return peersOf(membersFromAddressAnswer(
      resolver_.resolveAddresses(options_.query, options_.family, std::move(stop)),
      options_.nodeBasename, "dns"));
}

Result<std::unique_ptr<DnsSrvStrategy>> DnsSrvStrategy::create(Options options,
                                                               Resolver& resolver) {
  if (options.service.empty()) {
    return Error{Error::Code::Invalid, "service: required (the headless Service's name)"};
  }
  if (options.namespaceName.empty()) {
    return Error{Error::Code::Invalid, "namespace: required"};
  }
  if (options.applicationName.empty()) {
    return Error{Error::Code::Invalid,
                 "applicationName: required (the part of node names before @)"};
  }
  if (options.clusterDomain.empty() || options.clusterDomain == ".") {
    return Error{Error::Code::Invalid, "clusterDomain: must not be empty"};
  }
  std::string query =
      options.service + "." + options.namespaceName + ".svc." + options.clusterDomain;
  return std::unique_ptr<DnsSrvStrategy>(
      new DnsSrvStrategy(std::move(options), resolver, std::move(query)));
}

Result<PeerSet> DnsSrvStrategy::discoverPeers(std::stop_token stop) {
  return peersOf(membersFromServiceAnswer(resolver_.resolveServices(query_, std::move(stop)),
                                          options_.applicationName, "dns_srv"));
}

} // namespace libcluster
