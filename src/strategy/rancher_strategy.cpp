#include "strategy/rancher_strategy.h"

#include "membership/sources.h"

namespace libcluster {

Result<PeerSet> parseRancherService(std::string_view body, const std::string& nodeBasename) {
  Result<std::vector<Candidate>> members = parseRancherMembers(body, nodeBasename, "rancher");
  if (!members) {
    return members.error();
  }
  const std::vector<std::string> nodes = nodeNamesOf(*members);
  return PeerSet(nodes.begin(), nodes.end());
}

Result<std::unique_ptr<RancherStrategy>> RancherStrategy::create(Options options, FetchUrl fetch) {
  if (options.nodeBasename.empty()) {
    return Error{Error::Code::Invalid, "nodeBasename: required (the part of node names before @)"};
  }
  if (!options.url.starts_with("http://") && !options.url.starts_with("https://")) {
    return Error{Error::Code::Invalid,
                 "url: must be an http:// or https:// URL, got \"" + options.url + "\""};
  }
  if (!fetch) {
    return Error{Error::Code::Invalid, "Rancher needs an HTTP client"};
  }
  return std::unique_ptr<RancherStrategy>(
      new RancherStrategy(std::move(options), std::move(fetch)));
}

Result<PeerSet> RancherStrategy::discoverPeers(std::stop_token stop) {
  Result<std::string> body = fetch_(options_.url, std::move(stop));
  if (!body) {
    return body.error();
  }
  return parseRancherService(*body, options_.nodeBasename);
}

} // namespace libcluster
