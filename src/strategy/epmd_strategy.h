#pragma once

#include <memory>
#include <vector>

#include "core/result.h"
#include "strategy/strategy.h"

namespace libcluster {

/// libcluster's Cluster.Strategy.Epmd: a fixed list of node names. It never prunes (libcluster
/// never disconnects them); the runner reconnects lost ones every poll interval, which is
/// libcluster's `timeout`.
class EpmdStrategy final : public Strategy {
public:
  struct Options {
    std::vector<NodeName> hosts;
  };

  /// Invalid when `hosts` is empty or a name is not "name@host".
  static Result<std::unique_ptr<EpmdStrategy>> create(Options options);

  // Strategy
  Result<PeerSet> discoverPeers(std::stop_token stop) override;
  bool prunes() const override { return false; }

private:
  explicit EpmdStrategy(PeerSet hosts) : hosts_(std::move(hosts)) {}

  PeerSet hosts_;
};

} // namespace libcluster
