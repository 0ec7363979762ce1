#include "strategy/local_epmd_strategy.h"

#include "core/names.h"
#include "strategy/epmd_strategy.h"

namespace libcluster {

Result<std::unique_ptr<LocalEpmdStrategy>> LocalEpmdStrategy::create(Options options,
                                                                     const NodeName& self) {
  if (!isNodeName(self)) {
    return Error{Error::Code::Invalid,
                 "LocalEpmd needs the local node's full name (name@host), got \"" + self + "\""};
  }
  std::string host = self.substr(self.find('@') + 1);
  return std::unique_ptr<LocalEpmdStrategy>(
      new LocalEpmdStrategy(std::move(options), std::move(host)));
}

Result<PeerSet> LocalEpmdStrategy::discoverPeers(std::stop_token stop) {
  Result<std::vector<EpmdName>> names =
      queryEpmdNames(options_.epmdAddress, options_.epmdPort, options_.timeout, std::move(stop));
  if (!names) {
    return names.error();
  }
  PeerSet peers;
  for (const EpmdName& name : *names) {
    peers.insert(name.name + "@" + host_);
  }
  return peers;
}

} // namespace libcluster
