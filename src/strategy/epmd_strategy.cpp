#include "strategy/epmd_strategy.h"

#include <algorithm>

namespace libcluster {

bool isNodeName(std::string_view node) {
  const std::size_t at = node.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == node.size() ||
      node.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  return std::none_of(node.begin(), node.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\'' || c == '"';
  });
}

Result<std::unique_ptr<EpmdStrategy>> EpmdStrategy::create(Options options) {
  if (options.hosts.empty()) {
    return Error{Error::Code::Invalid, "hosts: must list at least one node name"};
  }
  PeerSet hosts;
  for (std::size_t i = 0; i < options.hosts.size(); ++i) {
    if (!isNodeName(options.hosts[i])) {
      return Error{Error::Code::Invalid, "hosts[" + std::to_string(i) +
                                             "]: must be a node name like app@10.0.0.7, got \"" +
                                             options.hosts[i] + "\""};
    }
    hosts.insert(options.hosts[i]);
  }
  return std::unique_ptr<EpmdStrategy>(new EpmdStrategy(std::move(hosts)));
}

Result<PeerSet> EpmdStrategy::discoverPeers(std::stop_token) { return hosts_; }

} // namespace libcluster
