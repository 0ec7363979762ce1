#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include <nlohmann/json.hpp>

#include "api/topology.h"
#include "core/clock.h"
#include "core/result.h"
#include "informer/informer.h"
#include "kube/kube_api.h"
#include "strategy/strategy.h"

namespace libcluster {

/// Follows one ClusterTopology (namespace + name) that libcluster-controller keeps current: the
/// desired peers are status.members[].node, the seed is status.seed. It watches the single object
/// (a field selector on metadata.name) on its own informer thread, so there is no polling, and
/// waitForChange returns as soon as the status changes.
///
/// Until the object and its status have been seen, and after it is deleted, discoverPeers is an
/// Error: unknown, not empty. prunes() follows spec.onRemoval (Disconnect prunes), and is false
/// while status.membersTruncated says the list is partial.
class ClusterTopologyStrategy final : public Strategy {
public:
  struct Options {
    std::string namespaceName;
    std::string name;
    /// For tests: backoff and watch timeouts of the informer.
    Watcher::Options watch{};
  };

  /// Validates the names and starts watching. Invalid when either name is empty or not a DNS
  /// subdomain name.
  static Result<std::unique_ptr<ClusterTopologyStrategy>> create(Options options, KubeApi& api,
                                                                 Clock& clock);

  ~ClusterTopologyStrategy() override;
  ClusterTopologyStrategy(const ClusterTopologyStrategy&) = delete;
  ClusterTopologyStrategy& operator=(const ClusterTopologyStrategy&) = delete;

  // Strategy
  Result<PeerSet> discoverPeers(std::stop_token stop) override;
  bool waitForChange(Clock::MonotonicTime deadline, std::stop_token stop, Clock& clock) override;
  std::optional<NodeName> seed() const override;
  bool prunes() const override;

  /// Blocks until the object's status has been seen, `stop` or `timeout`; returns whether it was.
  bool waitUntilReady(std::stop_token stop, std::chrono::milliseconds timeout) const;

  /// The spec as last seen: its connect / disconnect / listNodes MFAs and
  /// reconnectIntervalSeconds are for the agent. nullopt before the object arrives, after it is
  /// deleted, or while its spec does not parse (the controller reports that as Invalid).
  std::optional<TopologySpec> spec() const;
  /// spec.reconnectIntervalSeconds; `fallback` while the spec is unknown.
  std::chrono::seconds reconnectInterval(std::chrono::seconds fallback) const;

  /// "namespace/name".
  std::string key() const { return options_.namespaceName + "/" + options_.name; }

private:
  ClusterTopologyStrategy(Options options, KubeApi& api, Clock& clock);

  void observe(const nlohmann::json* object);

  Options options_;
  Informer<nlohmann::json> informer_;

  mutable std::mutex mutex_;
  mutable std::condition_variable_any changed_;
  bool synced_ = false;
  bool exists_ = false;
  std::optional<TopologyStatus> status_;
  std::optional<TopologySpec> spec_;
  /// Grows whenever the status or spec read from the object changes.
  std::uint64_t version_ = 0;
  /// The version discoverPeers last answered from; waitForChange wakes when they differ.
  std::uint64_t answeredVersion_ = 0;
  /// Requested by observe() to cut the current waitForChange short.
  std::optional<std::stop_source> wake_;
};

} // namespace libcluster
