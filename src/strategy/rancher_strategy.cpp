#include "strategy/rancher_strategy.h"

#include <nlohmann/json.hpp>

namespace libcluster {

Result<PeerSet> parseRancherService(std::string_view body, const std::string& nodeBasename) {
  const nlohmann::json service = nlohmann::json::parse(body, nullptr, false);
  if (service.is_discarded()) {
    return Error{Error::Code::Invalid, "Rancher metadata answer is not JSON"};
  }
  if (!service.is_object() || !service.contains("containers") ||
      !service["containers"].is_array()) {
    return Error{Error::Code::Invalid, "Rancher metadata answer has no containers list"};
  }
  PeerSet peers;
  for (const nlohmann::json& container : service["containers"]) {
    if (!container.is_object()) {
      continue;
    }
    const auto ips = container.find("ips");
    if (ips == container.end() || !ips->is_array() || ips->empty() || !ips->front().is_string() ||
        ips->front().get<std::string>().empty()) {
      continue; // a container that has no address yet cannot be a node
    }
    peers.insert(nodeBasename + "@" + ips->front().get<std::string>());
  }
  return peers;
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
