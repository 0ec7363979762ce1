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

#include "core/clock.h"
#include "core/result.h"
#include "informer/informer.h"
#include "kube/kube_api.h"
#include "core/mfa.h"
#include "strategy/strategy.h"

namespace libcluster {

/// What the agent takes from a ClusterTopology's spec. A call the spec does not set is nullopt
/// (libcluster's default applies).
struct TopologySettings {
  std::optional<Mfa> connect;
  std::optional<Mfa> disconnect;
  std::optional<Mfa> listNodes;
  /// spec.reconnectIntervalSeconds (the CRD's default 5).
  std::chrono::seconds reconnectInterval{5};
  /// spec.onRemoval: Disconnect (the default) or Ignore.
  bool disconnectOnRemoval = true;

  bool operator==(const TopologySettings&) const = default;
};

/// Follows one ClusterTopology (namespace + name) that libcluster-controller keeps current: the
/// desired peers are status.members[].node, the seed is status.seed. It watches the single object
/// (a field selector on metadata.name) on its own informer thread, so there is no polling, and
/// waitForChange returns as soon as the status changes.
///
/// Until the object and its status have been seen, and after it is deleted, discoverPeers is an
/// Error: unknown, not empty. prunes() follows spec.onRemoval (Disconnect prunes), and is false
/// while status.membersTruncated says the list is partial. It reads only the fields it needs, and
/// leniently (the API server has validated them), so a newer controller's fields do not matter.
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
  /// True unless status.membersTruncated: a partial list says nothing about this node.
  bool listsSelf() const override;

  /// Blocks until the object's status has been seen, `stop` or `timeout`; returns whether it was.
  bool waitUntilReady(std::stop_token stop, std::chrono::milliseconds timeout) const;

  /// The spec's connect / disconnect / listNodes calls, reconnect interval and removal policy as
  /// last seen; nullopt before the object arrives and after it is deleted.
  std::optional<TopologySettings> settings() const;

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
  /// Read from status, when the object has one.
  struct Status {
    PeerSet members;
    std::string seed;
    bool truncated = false;
    bool operator==(const Status&) const = default;
  };
  std::optional<Status> status_;
  std::optional<TopologySettings> settings_;
  /// Grows whenever the status or spec read from the object changes.
  std::uint64_t version_ = 0;
  /// The version discoverPeers last answered from; waitForChange wakes when they differ.
  std::uint64_t answeredVersion_ = 0;
  /// Requested by observe() to cut the current waitForChange short.
  std::optional<std::stop_source> wake_;
};

} // namespace libcluster
