#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "controller/cluster_topology.h"
#include "controller/event_recorder.h"
#include "controller/external_sources.h"
#include "controller/member_slices.h"
#include "controller/reference_grant.h"
#include "controller/topology_index.h"
#include "controller/topology_reconciler.h"
#include "core/clock.h"
#include "dns/resolver.h"
#include "election/leader_elector.h"
#include "informer/informer.h"
#include "kube/kube_api.h"
#include "membership/pod.h"
#include "ops/http_probe_server.h"
#include "ops/metrics_registry.h"
#include "reconcile/controller_loop.h"
#include "reconcile/work_queue.h"

namespace libcluster {

/// Everything libcluster-controller runs, wired together: informers on ClusterTopologies, Pods and
/// (optionally) EndpointSlices, the external-source resolver thread, the work queue and reconcile
/// worker, leader election, the metrics and probe servers, and Events. main() builds the concrete
/// KubeApi, Resolver and fetcher and hands them in; tests do the same against the test API server.
class ControllerApp {
public:
  struct Options {
    /// Watch one namespace; empty watches all.
    std::string namespaceName;
    bool leaderElect = false;
    std::string leaderElectionId = "libcluster-controller";
    std::string leaderElectionNamespace = "default";
    std::string identity;
    LeaderElector::Options election{};
    std::string metricsBindAddress = ":8080";
    std::string healthProbeBindAddress = ":8081";
    bool watchEndpointSlices = true;
    /// Events for one topology within this window become one reconcile (and one status write).
    std::chrono::milliseconds coalesce{20};
    std::chrono::seconds resyncPeriod{600};
    /// Hosts (or host:port) rancher sources may fetch from (--rancher-allowed-hosts).
    std::vector<std::string> rancherAllowedHosts{"rancher-metadata"};
    /// Lets every source read any namespace, without TopologyReferenceGrants (and without
    /// watching them).
    bool allowCrossNamespaceSources = false;
    /// The members one namespace's topologies may hold together (0: no bound): what one
    /// namespace user can make the controller keep in memory.
    std::size_t maxMembersPerNamespace = 100000;
  };

  ControllerApp(KubeApi& api, Resolver& resolver, UrlFetcher fetch, Clock& clock, Options options);
  ~ControllerApp();
  ControllerApp(const ControllerApp&) = delete;
  ControllerApp& operator=(const ControllerApp&) = delete;

  /// Starts serving probes and metrics, the informers and, when leading (or without leader
  /// election), the reconcile worker. Fails when a bind address is bad or taken, or the election
  /// configuration is invalid.
  Result<void> start();
  /// Graceful shutdown: the worker finishes its reconcile, the Lease is released, informers stop.
  void stop();

  /// Caches synced (what /readyz reports).
  bool isReady() const;
  bool isLeader() const;
  /// How many times this replica's reconcile worker started (with leader election: terms led).
  std::uint64_t workerStarts() const { return workerStarts_.load(); }
  std::uint16_t metricsPort() const { return metricsServer_.port(); }
  std::uint16_t healthPort() const { return healthServer_.port(); }
  MetricsRegistry& metrics() { return metrics_; }
  std::uint64_t statusWrites() const { return reconciler_.statusWrites(); }
  std::uint64_t memberSliceWrites() const { return memberSliceWriter_.writes(); }
  const std::string& identity() const { return options_.identity; }

private:
  void enqueuePodChange(const PodInfo* before, const PodInfo* after);
  void enqueueSliceChange(const nlohmann::json* before, const nlohmann::json* after);
  void runWorker(std::stop_token stop);
  /// The bounds of a status write started now; nullopt when this replica does not lead.
  std::optional<CallOptions> writeFence() const;

  KubeApi& api_;
  Clock& clock_;
  Options options_;
  MetricsRegistry metrics_;
  TopologyIndex index_;
  WorkQueue queue_;
  EventRecorder events_;
  ExternalSources external_;
  Informer<ClusterTopology> topologies_;
  Informer<PodInfo> pods_;
  std::unique_ptr<Informer<nlohmann::json>> slices_;
  /// Null when allowCrossNamespaceSources: then nothing needs a grant.
  std::unique_ptr<Informer<ReferenceGrant>> grants_;
  Informer<MemberSlice> memberSlices_;
  MemberSlices memberSliceWriter_;
  TopologyReconciler reconciler_;
  ControllerLoop loop_;
  HttpProbeServer metricsServer_;
  HttpProbeServer healthServer_;
  std::unique_ptr<LeaderElector> elector_;
  std::atomic<bool> leading_{false};
  std::atomic<std::uint64_t> workerStarts_{0};
  mutable std::mutex workerStopMutex_;
  std::stop_token workerStop_;
  std::jthread externalThread_;
  std::jthread workerThread_;
};

} // namespace libcluster
