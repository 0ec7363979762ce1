#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <chrono>
#include <memory>

#include <nlohmann/json.hpp>

#include "controller/cluster_topology.h"
#include "controller/event_recorder.h"
#include "controller/external_sources.h"
#include "controller/topology_index.h"
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
        mayReadNamespace;
  };

  /// `endpointSlices` may be null when EndpointSlices are not watched.
  TopologyReconciler(KubeApi& api, const ObjectStore<PodInfo>& pods,
                     const ObjectStore<nlohmann::json>* endpointSlices, TopologyIndex& index,
                     ExternalSources& external, EventRecorder& events, Clock& clock,
                     MetricsRegistry& metrics, Options options);

  // Reconciler<ClusterTopology>
  Result<Action> reconcile(const ClusterTopology& topology) override;

  std::uint64_t statusWrites() const { return statusWrites_.load(); }

private:
  std::vector<SourceSnapshot> snapshots(const ClusterTopology& topology, const TopologySpec& spec);
  /// nullopt when a cross-namespace source's permission is not known yet.
  std::optional<bool> mayRead(const ClusterTopology& topology, const std::string& target) const;
  Result<void> writeStatus(const ClusterTopology& topology, const TopologyStatus& status);
  void recordChanges(const ClusterTopology& topology, const TopologyStatus& before,
                     const TopologyStatus& after);

  KubeApi& api_;
  const ObjectStore<PodInfo>& pods_;
  const ObjectStore<nlohmann::json>* endpointSlices_;
  TopologyIndex& index_;
  ExternalSources& external_;
  EventRecorder& events_;
  Clock& clock_;
  Options options_;
  GaugeFamily& members_;
  Counter& writes_;
  std::atomic<std::uint64_t> statusWrites_{0};
};

} // namespace libcluster
