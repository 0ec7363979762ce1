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
#include "api/member_slice.h"
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

/// Follows one ClusterTopology (namespace + name) that libcluster-controller keeps current, through
/// its ClusterTopologyMemberSlices (docs/membership-channel.md): the union of the slices labelled
/// libcluster.dev/topology=<name> and owned by the topology's uid is the membership, the member
/// marked seed is the seed. The slices are listed and watched on the informer's own thread, so
/// waitForChange returns as soon as one changes. The ClusterTopology itself is not watched: it is
/// read by GET at start (waitUntilReady) and again, on the caller's thread in discoverPeers, when a
/// slice carries a newer topologyGeneration than the spec held, so its status changes reach no
/// agent.
///
/// Slices are followed once the topology's status.memberSliceCount slices are all seen (the
/// controller writes slices before the status that counts them); until then, when a topology has
/// no slices (an older controller) and while slices cannot be listed (no CRD), the members are
/// status.members, read by GET on every discoverPeers. Until the object and its members have been seen, and after it is deleted,
/// discoverPeers is an Error: unknown, not empty; a failed slice watch keeps the last slices.
/// prunes() follows spec.onRemoval (Disconnect prunes), and is false while the members come from a
/// status whose list is partial (membersTruncated). Fields are read leniently (the API server has
/// validated them), so a newer controller's fields do not matter.
class ClusterTopologyStrategy final : public Strategy {
public:
  struct Options {
    std::string namespaceName;
    std::string name;
    /// For tests: backoff and watch timeouts of the slice informer.
    Watcher::Options watch{};
    /// Bounds each GET of the ClusterTopology.
    std::chrono::milliseconds getTimeout{10'000};
  };

  /// Validates the names, starts watching the slices and reads the ClusterTopology once (bounded
  /// by getTimeout; a failed read is retried by the next call). Invalid when either name is empty
  /// or not a DNS subdomain name.
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
  /// True unless the members come from a status whose list is partial (membersTruncated).
  bool listsSelf() const override;

  /// Reads the ClusterTopology when it has not been read yet, then blocks until its members are
  /// known (slices or status), `stop` or `timeout`; returns whether they are.
  bool waitUntilReady(std::stop_token stop, std::chrono::milliseconds timeout);

  /// The spec's connect / disconnect / listNodes calls, reconnect interval and removal policy as
  /// last read; nullopt before the object is read and after it is deleted.
  std::optional<TopologySettings> settings() const;

  /// Whether the members currently come from member slices (rather than status.members).
  bool followsSlices() const;

  /// "namespace/name".
  std::string key() const { return options_.namespaceName + "/" + options_.name; }

private:
  ClusterTopologyStrategy(Options options, KubeApi& api, Clock& clock);

  /// GETs the ClusterTopology and takes its uid, generation, spec and status.
  void readTopology(std::stop_token stop);
  enum class Cause { Read, Synced, SliceChanged, SliceDeleted };
  /// Recomputes the membership from the slices and the last read topology; under mutex_.
  void recomputeLocked(Cause cause);
  /// Members known, from a topology read since the last reason to read it again.
  bool readyLocked() const;
  void notifyLocked();

  Options options_;
  KubeApi& api_;
  Informer<MemberSlice> slices_;

  mutable std::mutex mutex_;
  mutable std::condition_variable_any changed_;
  bool synced_ = false;
  /// The ClusterTopology as last read by GET.
  struct Topology {
    std::string uid;
    std::int64_t generation = 0;
    TopologySettings settings;
    /// status.members etc., when the object has a status.
    struct Status {
      PeerSet members;
      std::string seed;
      bool truncated = false;
      int sliceCount = 0;
    };
    std::optional<Status> status;
  };
  bool read_ = false;
  /// nullopt: not found (deleted) at the last read.
  std::optional<Topology> topology_;
  /// Set when the topology should be read again before answering.
  bool reread_ = false;
  bool followsSlices_ = false;
  /// What discoverPeers answers; nullopt while unknown.
  struct View {
    PeerSet members;
    std::string seed;
    bool truncated = false;
    bool operator==(const View&) const = default;
  };
  std::optional<View> view_;
  std::optional<TopologySettings> settings_;
  /// Grows whenever the view or settings change.
  std::uint64_t version_ = 0;
  /// The version discoverPeers last answered from; waitForChange wakes when they differ.
  std::uint64_t answeredVersion_ = 0;
  /// Requested to cut the current waitForChange short.
  std::optional<std::stop_source> wake_;
};

} // namespace libcluster
