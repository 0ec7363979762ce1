#include "strategy/dns_strategy.h"

namespace libcluster {

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
  Result<std::vector<DnsAddress>> addresses =
      resolver_.resolveAddresses(options_.query, options_.family, std::move(stop));
  if (!addresses) {
    if (addresses.error().code == Error::Code::NotFound) {
      // The DNS answered that nobody is there; anything else means we do not know.
      return PeerSet{};
    }
    return addresses.error();
  }
  PeerSet peers;
  for (const DnsAddress& address : *addresses) {
    peers.insert(options_.nodeBasename + "@" + address.address);
  }
  return peers;
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
  Result<std::vector<DnsService>> services = resolver_.resolveServices(query_, std::move(stop));
  if (!services) {
    if (services.error().code == Error::Code::NotFound) {
      return PeerSet{};
    }
    return services.error();
  }
  PeerSet peers;
  for (const DnsService& service : *services) {
    std::string target = service.target;
    if (!target.empty() && target.back() == '.') {
      target.pop_back();
    }
    if (!target.empty()) {
      peers.insert(options_.applicationName + "@" + target);
    }
  }
  return peers;
}

} // namespace libcluster
