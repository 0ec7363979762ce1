#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.h"
#include "strategy/epmd_client.h"
#include "strategy/strategy.h"

namespace libcluster {

/// libcluster's Cluster.Strategy.LocalEpmd: every node registered in this host's epmd, named
/// "<registered name>@<host part of the local node>". Unlike libcluster it asks again every poll,
/// so nodes started later join too. epmd not answering is an Error, never "no peers".
class LocalEpmdStrategy final : public Strategy {
public:
  struct Options {
    std::string epmdAddress = "127.0.0.1";
    std::uint16_t epmdPort = kDefaultEpmdPort;
    std::chrono::milliseconds timeout{5000};
  };

  /// Invalid when `self` has no host part ("name@host").
  static Result<std::unique_ptr<LocalEpmdStrategy>> create(Options options, const NodeName& self);

  // Strategy
  Result<PeerSet> discoverPeers(std::stop_token stop) override;

private:
  LocalEpmdStrategy(Options options, std::string host)
      : options_(std::move(options)), host_(std::move(host)) {}

  Options options_;
  std::string host_;
};

} // namespace libcluster
