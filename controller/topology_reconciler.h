#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/cluster_topology.h"
#include "controller/event_recorder.h"
#include "controller/external_sources.h"
#include "controller/member_slices.h"
#include "controller/topology_index.h"
#include "controller/topology_members.h"
#include "core/clock.h"
#include "informer/object_store.h"
#include "kube/kube_api.h"
#include "membership/pod.h"
#include "ops/metrics_registry.h"
#include "reconcile/reconciler.h"

namespace libcluster {

/// Turns a ClusterTopology's sources into its status: reads the world as it is (pods or
/// EndpointSlices from the caches, dns and rancher answers from ExternalSources, static names),
/// builds the whole status, and writes it once with a merge patch on /status — and not at all
/// when nothing changed. Level-based: reconciling twice in a row writes once at most.
///
/// Writes are fenced: `writeFence` is asked right before each status PATCH and bounds it (no
/// write at all when it answers nullopt, i.e. this replica does not lead), and the PATCH carries
/// the resourceVersion the status was computed from, so a write based on anything but the
/// latest object, a deposed leader's included, fails with Conflict instead of landing.
class TopologyReconciler final : public Reconciler<ClusterTopology> {
public:
  struct Options {
    /// The safety-net requeue after a successful reconcile.
    std::chrono::seconds resyncPeriod{600};
    /// Whether topology (namespace, name) may read pods and EndpointSlices of another namespace
    /// (TopologyReferenceGrant or --allow-cross-namespace-sources); nullopt while that is not
    /// known yet (grants not synced), and the reconcile is then retried without a write. Unset
    /// refuses every such read.
    std::function<std::optional<bool>(const std::string& fromNamespace,
                                      const std::string& topologyName,
                                      const std::string& targetNamespace)>
        mayReadNamespace{};
    /// Asked right before each write: the bounds of a write started now, or nullopt when this
    /// replica must not write (it does not lead). Empty: always write, with default bounds.
    std::function<std::optional<CallOptions>()> writeFence{};
    /// Writes the ClusterTopologyMemberSlices agents follow, before each status write; null
    /// writes none.
    MemberSlices* memberSlices = nullptr;
    /// The members the pods sources of one namespace's topologies may hold together
    /// (--max-members-per-namespace; 0: no bound). A topology whose build would go over keeps
    /// its last members and reports Degraded.
    std::size_t maxMembersPerNamespace = 0;
  };

  /// The EndpointSlice store index endpointSlices sources read: "namespace/service" per slice,
  /// from its kubernetes.io/service-name label. Without it the reconciler scans every slice.
  static constexpr const char* kServiceIndex = "namespace-service";
  static std::vector<std::string> serviceIndexValues(const nlohmann::json& slice);
  static std::string serviceIndexValue(const std::string& namespaceName,
                                       const std::string& serviceName);

  /// `endpointSlices` may be null when EndpointSlices are not watched.
  TopologyReconciler(KubeApi& api, const ObjectStore<PodInfo>& pods,
                     const ObjectStore<nlohmann::json>* endpointSlices, TopologyIndex& index,
                     ExternalSources& external, EventRecorder& events, Clock& clock,
                     MetricsRegistry& metrics, Options options);

  // Reconciler<ClusterTopology>
  Result<Action> reconcile(const ClusterTopology& topology) override;

  std::uint64_t statusWrites() const { return statusWrites_.load(); }

  /// Folds one pod change into the member state of the topologies that select the pod (before
  /// or after) and returns the keys to reconcile: those whose members changed, and those that
  /// select the pod but have no member state yet. A change that moves no member (an annotation,
  /// a relabel between two selected values) returns nothing. Pod informer thread.
  std::vector<std::string> podChanged(const PodInfo* before, const PodInfo* after);

  /// Whether `topology` is exactly what this reconciler's last status write produced, so that
  /// the watch event bringing it back needs no reconcile. Any thread.
  bool isOwnWrite(const ClusterTopology& topology) const;
  /// The same for the update `old` → `now` the informer saw, and also while our PATCH is still
  /// in flight (its watch event can arrive before its response): ours when only the
  /// resourceVersion and the status changed and the status is exactly what we are writing.
  bool isOwnWrite(const ClusterTopology& old, const ClusterTopology& now) const;
  /// Drops what is kept per topology (metric children, last write) once it is deleted. Returns
  /// the keys of topologies of that namespace refused for lack of room, to reconcile again.
  std::vector<std::string> forget(const std::string& namespaceName, const std::string& name);

private:
  /// `podsRefused`: why the pods sources' members could not be rebuilt (they keep the last ones).
  std::vector<SourceSnapshot> snapshots(const ClusterTopology& topology, const TopologySpec& spec,
                                        const std::optional<Error>& podsRefused);
  /// nullopt when a cross-namespace source's permission is not known yet.
  std::optional<bool> mayRead(const ClusterTopology& topology, const std::string& target) const;
  /// Writes `status` over the object at `resourceVersion` (a precondition).
  Result<void> writeStatus(const ClusterTopology& topology, const std::string& resourceVersion,
                           const TopologyStatus& status);
  void recordChanges(const ClusterTopology& topology, const TopologyStatus& before,
                     const TopologyStatus& after);

  KubeApi& api_;
  const ObjectStore<PodInfo>& pods_;
  const ObjectStore<nlohmann::json>* endpointSlices_;
  TopologyIndex& index_;
  TopologyMembers podMembers_;
  ExternalSources& external_;
  EventRecorder& events_;
  Clock& clock_;
  Options options_;
  GaugeFamily& members_;
  Counter& writes_;
  std::atomic<std::uint64_t> statusWrites_{0};

  /// Our last write per topology key: the resourceVersion it was based on, the one it produced
  /// ("" while the PATCH is in flight) and the status written. The cache lags our own writes; until
  /// it catches up, the reconciler compares with (and preconditions on) what it wrote rather than
  /// with the older object.
  struct LastWrite {
    std::string basedOn;
    std::string produced;
    TopologyStatus status;
    /// Versions older than this write (what earlier writes of ours were based on and produced):
    /// a late echo of an earlier write of ours must not be taken for what the server holds.
    std::vector<std::string> superseded;
    bool supersedes(const std::string& resourceVersion) const;
  };
  /// At most this many superseded versions are remembered per topology.
  static constexpr std::size_t kMaxSuperseded = 32;
  mutable std::mutex writtenMutex_;
  std::map<std::string, LastWrite> written_;
};

} // namespace libcluster
