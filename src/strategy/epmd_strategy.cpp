#include "strategy/epmd_strategy.h"

#include <algorithm>

#include "core/names.h"

namespace libcluster {

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
