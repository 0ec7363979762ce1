#include "controller/controller_app.h"

#include <random>
#include <set>

#include <unistd.h>

#include "core/log.h"

namespace libcluster {
namespace {

Watcher::Options watchOptions() {
  Watcher::Options options;
  // The first list may come from the apiserver's watch cache, as client-go's reflector does.
  options.initialResourceVersion = "0";
  // Pages of 100 instead of client-go's 500: a page of 500 pods is ~3 MB of JSON and ~30 MB as a
  // parsed tree, which dominated the controller's peak memory (bench/README.md).
  options.pageSize = 100;
  return options;
}

std::string defaultIdentity() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) {
    std::snprintf(host, sizeof host, "libcluster-controller");
  }
  std::random_device random;
  return std::string(host) + "_" + std::to_string(random() % 1000000);
}

std::map<std::string, std::string> labelsOf(const nlohmann::json& object) {
  std::map<std::string, std::string> labels;
  if (!object.contains("metadata") || !object["metadata"].is_object()) {
    return labels;
  }
  const nlohmann::json& metadata = object["metadata"];
  if (metadata.contains("labels") && metadata["labels"].is_object()) {
    for (const auto& [key, value] : metadata["labels"].items()) {
      if (value.is_string()) {
        labels[key] = value.get<std::string>();
      }
    }
  }
  return labels;
}

ControllerApp::Options withIdentity(ControllerApp::Options options) {
  if (options.identity.empty()) {
    options.identity = defaultIdentity();
  }
  return options;
}

} // namespace

ControllerApp::ControllerApp(KubeApi& api, Resolver& resolver, UrlFetcher fetch, Clock& clock,
                             Options options)
    : api_(api), clock_(clock), options_(withIdentity(std::move(options))),
      queue_(WorkQueue::Options{.name = "clustertopology", .coalesce = options_.coalesce}, clock,
             metrics_),
      events_(api, clock,
              EventRecorder::Options{.instance = options_.identity,
                                     .writeFence = [this] { return writeFence(); }}),
      external_(resolver, std::move(fetch), clock,
                [this](const std::string& key) { queue_.add(key); },
                ExternalSources::Options{
                    .allowedRancherHosts = options_.rancherAllowedHosts,
                    .onFetchFailure =
                        [failures = &metrics_.counterFamily(
                             "libcluster_external_fetch_failures_total",
                             "Failed rancher source fetches, by reason.", {"reason"})](
                            std::string_view reason) {
                          failures->withLabels({std::string(reason)}).Increment();
                        }}),
      topologies_(api, clock, topologiesPath(options_.namespaceName), watchOptions(),
                  [](const nlohmann::json& object) { return topologyFromJson(object); }),
      pods_(api, clock, podsPath(options_.namespaceName),
            [] {
              Watcher::Options options = watchOptions();
              // PodInfo reads a few fields; the rest of each pod is never built.
              options.onlyFields = podFields();
              return options;
            }(),
            [](const nlohmann::json& object) { return podFromJson(object); }),
      slices_(options_.watchEndpointSlices
                  ? std::make_unique<Informer<nlohmann::json>>(
                        api, clock, endpointSlicesPath(options_.namespaceName), watchOptions(),
                        [](const nlohmann::json& object) -> std::optional<nlohmann::json> {
                          return stripObject(object);
                        })
                  : nullptr),
      grants_(options_.allowCrossNamespaceSources
                  ? nullptr
                  : std::make_unique<Informer<ReferenceGrant>>(
                        api, clock, referenceGrantsPath(options_.namespaceName), watchOptions(),
                        [](const nlohmann::json& object) { return referenceGrantFromJson(object); })),
      memberSlices_(api, clock, memberSlicesPath(options_.namespaceName),
                    [] {
                      Watcher::Options options = watchOptions();
                      options.labelSelector = kMemberSliceTopologyLabel;
                      return options;
                    }(),
                    [](const nlohmann::json& object) { return memberSliceFromJson(object); }),
      memberSliceWriter_(api, memberSlices_.store(),
                         MemberSlices::Options{.writeFence = [this] { return writeFence(); }}),
      reconciler_(api, pods_.store(), slices_ ? &slices_->store() : nullptr, index_, external_,
                  events_, clock, metrics_,
                  TopologyReconciler::Options{
                      .resyncPeriod = options_.resyncPeriod,
                      .mayReadNamespace =
                          [this](const std::string& from, const std::string& name,
                                 const std::string& target) -> std::optional<bool> {
                            if (grants_ == nullptr) {
                              return true;
                            }
                            if (!grants_->hasSynced()) {
                              return std::nullopt;
                            }
                            return isReferenceGranted(grants_->store().list(), from, name, target);
                          },
                      .writeFence = [this] { return writeFence(); },
                      .memberSlices = &memberSliceWriter_,
                      .maxMembersPerNamespace = options_.maxMembersPerNamespace}),
      loop_("clustertopology", queue_,
            [this](const std::string& key) -> std::optional<ClusterTopology> {
              std::shared_ptr<const ClusterTopology> topology = topologies_.store().get(key);
              if (!topology) {
                // Deleted: on the worker thread, so no reconcile of it can race the clean-up.
                const std::size_t slash = key.find('/');
                const std::string name = slash == std::string::npos ? "" : key.substr(slash + 1);
                for (const std::string& refused : reconciler_.forget(key.substr(0, slash), name)) {
                  queue_.add(refused); // it may fit in the room this topology leaves
                }
                // Where no garbage collector follows ownerReferences, the slices would stay.
                if (Result<void> removed = memberSliceWriter_.removeAll(key.substr(0, slash), name);
                    !removed) {
                  logWarn("member slices of a deleted topology not removed",
                          {{"object", key}, {"error", removed.error().message}});
                }
                return std::nullopt;
              }
              return *topology;
            },
            reconciler_, clock, metrics_),
      metricsServer_(HttpProbeServer::Options{.bindAddress = options_.metricsBindAddress}),
      healthServer_(HttpProbeServer::Options{.bindAddress = options_.healthProbeBindAddress}) {
  topologies_.addHandlers({
      .onAdd =
          [this](const ClusterTopology& topology) {
            index_.update(topology);
            queue_.add(topology.key());
          },
      .onUpdate =
          [this](const ClusterTopology& old, const ClusterTopology& now) {
            index_.update(now);
            // Our own status write coming back changes nothing the reconciler has not seen.
            if (!reconciler_.isOwnWrite(old, now)) {
              queue_.add(now.key());
            }
          },
      .onDelete =
          [this](const ClusterTopology& topology) {
            index_.remove(topology.key());
            external_.untrack(topology.key());
            // The worker finds it gone and forgets its metrics and last write.
            queue_.add(topology.key());
          },
      .onSynced = nullptr,
  });
  // No label index on pods: it cost ~5 MB at 10 000 pods (one filed entry per label per pod, and
  // a bucket per pod for unique labels such as statefulset.kubernetes.io/pod-name), and it only
  // sped up TopologyMembers::sync, which runs once per topology spec generation and then scans
  // the topology's namespace instead (bench/README.md).
  pods_.addHandlers({
      .onAdd = [this](const PodInfo& pod) { enqueuePodChange(nullptr, &pod); },
      .onUpdate = [this](const PodInfo& old, const PodInfo& now) { enqueuePodChange(&old, &now); },
      .onDelete = [this](const PodInfo& pod) { enqueuePodChange(&pod, nullptr); },
      .onSynced = nullptr,
  });
  if (slices_) {
    slices_->addIndex(TopologyReconciler::kServiceIndex, TopologyReconciler::serviceIndexValues);
    slices_->addHandlers({
        .onAdd = [this](const nlohmann::json& slice) { enqueueSliceChange(nullptr, &slice); },
        .onUpdate = [this](const nlohmann::json& old,
                           const nlohmann::json& now) { enqueueSliceChange(&old, &now); },
        .onDelete = [this](const nlohmann::json& slice) { enqueueSliceChange(&slice, nullptr); },
        .onSynced = nullptr,
    });
  }
  const auto sliceChanged = [this](const MemberSlice& slice, bool deleted) {
    // Someone else's write (or a slice we lost track of): the reconcile rewrites it.
    if (!memberSliceWriter_.isOwnWrite(slice, deleted) && !slice.ownerName.empty()) {
      queue_.add(slice.namespaceName + "/" + slice.ownerName);
    }
  };
  memberSlices_.addHandlers({
      .onAdd = [sliceChanged](const MemberSlice& slice) { sliceChanged(slice, false); },
      .onUpdate = [sliceChanged](const MemberSlice&,
                                 const MemberSlice& now) { sliceChanged(now, false); },
      .onDelete = [sliceChanged](const MemberSlice& slice) { sliceChanged(slice, true); },
      // Topologies reconciled before the slices were known wrote no slices: write them now.
      .onSynced =
          [this] {
            for (const std::string& key : topologies_.store().keys()) {
              queue_.add(key);
            }
          },
  });
  if (grants_) {
    // Grants change rarely: re-reconcile every topology rather than work out which ones read there.
    const auto requeueAll = [this] {
      for (const std::string& key : topologies_.store().keys()) {
        queue_.add(key);
      }
    };
    grants_->addHandlers({
        .onAdd = [requeueAll](const ReferenceGrant&) { requeueAll(); },
        .onUpdate = [requeueAll](const ReferenceGrant&, const ReferenceGrant&) { requeueAll(); },
        .onDelete = [requeueAll](const ReferenceGrant&) { requeueAll(); },
        .onSynced = nullptr,
    });
  }
  metricsServer_.route("/metrics", [this] {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render()};
  });
  healthServer_.route("/healthz", [] { return HttpResponse{200, "text/plain", "ok"}; });
  healthServer_.route("/readyz", [this] {
    return isReady() ? HttpResponse{200, "text/plain", "ok"}
                     : HttpResponse{503, "text/plain", "caches have not synced"};
  });
}

ControllerApp::~ControllerApp() { stop(); }

void ControllerApp::enqueuePodChange(const PodInfo* before, const PodInfo* after) {
  // Only the topologies whose members this change moved (or that have no member state yet).
  for (const std::string& key : reconciler_.podChanged(before, after)) {
    queue_.add(key);
  }
}

void ControllerApp::enqueueSliceChange(const nlohmann::json* before, const nlohmann::json* after) {
  std::set<std::string> keys;
  for (const nlohmann::json* slice : {before, after}) {
    if (slice != nullptr) {
      for (std::string& key :
           index_.topologiesForEndpointSlice(metadataString(*slice, "namespace"), labelsOf(*slice))) {
        keys.insert(std::move(key));
      }
    }
  }
  for (const std::string& key : keys) {
    queue_.add(key);
  }
}

Result<void> ControllerApp::start() {
  if (Result<void> started = metricsServer_.start(); !started) {
    return Error{started.error().code, "--metrics-bind-address: " + started.error().message};
  }
  if (Result<void> started = healthServer_.start(); !started) {
    return Error{started.error().code, "--health-probe-bind-address: " + started.error().message};
  }
  if (options_.leaderElect) {
    LeaderElector::Options election = options_.election;
    election.leaseName = options_.leaderElectionId;
    election.namespaceName = options_.leaderElectionNamespace;
    election.identity = options_.identity;
    LeaderElector::Callbacks callbacks{
        .onStartedLeading = [this](std::stop_token stop) { runWorker(stop); },
        .onStoppedLeading = [] { logInfo("stopped leading"); },
        .onNewLeader = [this](const std::string& leader) {
          logInfo("new leader observed", {{"leader", leader}, {"self", options_.identity}});
        }};
    Result<std::unique_ptr<LeaderElector>> elector =
        LeaderElector::create(election, std::move(callbacks), api_, clock_, metrics_);
    if (!elector) {
      return Error{elector.error().code, "leader election: " + elector.error().message};
    }
    elector_ = std::move(*elector);
  }

  topologies_.start();
  pods_.start();
  if (slices_) {
    slices_->start();
  }
  if (grants_) {
    grants_->start();
  }
  memberSlices_.start();
  externalThread_ = std::jthread([this](std::stop_token stop) { external_.run(stop); });
  if (elector_) {
    // Informers run on every replica so a new leader starts with warm caches; only the leader
    // reconciles. After losing the Lease, campaign again.
    workerThread_ = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        elector_->run(stop);
      }
    });
  } else {
    workerThread_ = std::jthread([this](std::stop_token stop) { runWorker(stop); });
  }
  logInfo("controller started", {{"namespace", options_.namespaceName.empty() ? "(all)" : options_.namespaceName},
                                 {"identity", options_.identity},
                                 {"leaderElect", options_.leaderElect}});
  return {};
}

std::optional<CallOptions> ControllerApp::writeFence() const {
  std::optional<Clock::MonotonicTime> until;
  if (elector_) {
    until = elector_->leadingUntil();
    if (!until) {
      return std::nullopt;
    }
  }
  std::lock_guard lock(workerStopMutex_);
  return CallOptions{.deadline = until, .stop = workerStop_};
}

void ControllerApp::runWorker(std::stop_token stop) {
  {
    std::lock_guard lock(workerStopMutex_);
    workerStop_ = stop;
  }
  ++workerStarts_;
  leading_ = true;
  // Like controller-runtime, reconcile only once the caches have synced.
  while (!stop.stop_requested() && !isReady()) {
    (void)clock_.sleepFor(std::chrono::milliseconds(20), stop);
  }
  if (!stop.stop_requested()) {
    // Everything known so far, in case it was queued while another replica led.
    for (const std::string& key : topologies_.store().keys()) {
      queue_.add(key);
    }
    loop_.run(stop);
  }
  leading_ = false;
}

void ControllerApp::stop() {
  if (workerThread_.joinable()) {
    workerThread_.request_stop();
    workerThread_.join();
  }
  if (externalThread_.joinable()) {
    externalThread_.request_stop();
    externalThread_.join();
  }
  topologies_.stop();
  pods_.stop();
  if (slices_) {
    slices_->stop();
  }
  if (grants_) {
    grants_->stop();
  }
  memberSlices_.stop();
  events_.flush();
  metricsServer_.stop();
  healthServer_.stop();
}

bool ControllerApp::isReady() const {
  // Grants are not waited for: only topologies with cross-namespace sources need them, and those
  // wait in their reconcile, so a missing TopologyReferenceGrant CRD (a Helm upgrade does not
  // add CRDs) holds back no one else.
  return topologies_.hasSynced() && pods_.hasSynced() && (!slices_ || slices_->hasSynced());
}

bool ControllerApp::isLeader() const { return elector_ ? elector_->isLeader() : leading_.load(); }

} // namespace libcluster
