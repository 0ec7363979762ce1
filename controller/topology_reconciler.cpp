#include "controller/topology_reconciler.h"

#include <algorithm>
#include <set>
#include <utility>

#include "core/json_field.h"
#include "core/log.h"
#include "membership/membership.h"

namespace libcluster {

TopologyReconciler::TopologyReconciler(KubeApi& api, const ObjectStore<PodInfo>& pods,
                                       const ObjectStore<nlohmann::json>* endpointSlices,
                                       TopologyIndex& index, ExternalSources& external,
                                       EventRecorder& events, Clock& clock,
                                       MetricsRegistry& metrics, Options options)
    : api_(api), pods_(pods), endpointSlices_(endpointSlices), index_(index),
      podMembers_(options.maxMembersPerNamespace), external_(external),
      events_(events), clock_(clock), options_(std::move(options)),
      members_(metrics.gaugeFamily("libcluster_topology_members",
                                   "Members in a ClusterTopology's desired membership.",
                                   {"namespace", "name"})),
      writes_(metrics.counter("libcluster_status_writes_total",
                              "ClusterTopology status writes by the controller.")) {}

std::string TopologyReconciler::serviceIndexValue(const std::string& namespaceName,
                                                  const std::string& serviceName) {
  // '/' cannot appear in a namespace; the reconciler matches namespace and service again anyway.
  return namespaceName + "/" + serviceName;
}

std::vector<std::string> TopologyReconciler::serviceIndexValues(const nlohmann::json& slice) {
  const std::string service =
      stringField(fieldOrNull(fieldOrNull(slice, "metadata"), "labels"), kServiceNameLabel);
  if (service.empty()) {
    return {};
  }
  return {serviceIndexValue(metadataString(slice, "namespace"), service)};
}

Result<Action> TopologyReconciler::reconcile(const ClusterTopology& topology) {
  if (!pods_.isReady() || (endpointSlices_ != nullptr && !endpointSlices_->isReady())) {
    // Building a status from a cache that has not synced would drop members.
    return Error{Error::Code::Unavailable, "caches have not synced yet"};
  }
  index_.update(topology);
  // What is on the server, as far as we know: our own last write when the cache has not seen it.
  std::string resourceVersion = topology.resourceVersion;
  const TopologyStatus* current = &topology.status;
  std::optional<TopologyStatus> ownStatus;
  {
    std::lock_guard lock(writtenMutex_);
    const auto last = written_.find(topology.key());
    if (last != written_.end() && last->second.supersedes(topology.resourceVersion)) {
      resourceVersion = last->second.produced;
      ownStatus = last->second.status;
      current = &*ownStatus;
    }
  }
  const std::string now = formatRfc3339(clock_.systemNow());
  std::optional<Result<TopologySpec>> spec = index_.spec(topology.key());
  if (!spec || !*spec) {
    const Error error = spec ? spec->error() : Error{Error::Code::Invalid, "spec: not readable"};
    external_.untrack(topology.key());
    const TopologyStatus status = invalidStatus(*current, topology.generation, error, now);
    if (status != *current) {
      if (Result<void> written = writeStatus(topology, resourceVersion, status); !written) {
        return written.error();
      }
      events_.record({"libcluster.dev/v1alpha1", "ClusterTopology", topology.namespaceName,
                      topology.name, topology.uid},
                     "Warning", "InvalidSpec", error.message);
    }
    return Action::awaitChange();
  }

  for (const TopologyIndex::PodSelector& selector : index_.selectors(topology.key())) {
    if (!mayRead(topology, selector.namespaceName)) {
      // Whether the grants allow it is unknown (not synced yet): unknown is not "no", so write
      // nothing rather than drop that namespace's members for a moment.
      return Action::requeueAfter(std::chrono::seconds(1));
    }
  }
  external_.track(topology.key(), **spec);
  // Once per spec generation; afterwards pod events keep it current (podChanged).
  const Result<void> built = podMembers_.sync(topology.key(), topology.generation, **spec,
                                              index_.selectors(topology.key()), pods_);
  const std::vector<SourceSnapshot> sources =
      snapshots(topology, **spec, built ? std::nullopt : std::optional<Error>(built.error()));
  TopologyStatus status = buildStatus(*current, topology.generation, sources, now);
  if (options_.memberSlices != nullptr) {
    // Slices first: agents follow them, and the status written next counts them.
    Result<std::optional<int>> slices = options_.memberSlices->sync(
        {topology.namespaceName, topology.name, topology.uid, topology.generation},
        sliceMembers(sources, status.seed));
    if (!slices) {
      return slices.error();
    }
    status.memberSliceCount = slices->value_or(current->memberSliceCount);
  }
  members_.withLabels({topology.namespaceName, topology.name}).Set(status.memberCount);
  if (status != *current) {
    if (Result<void> written = writeStatus(topology, resourceVersion, status); !written) {
      return written.error();
    }
    recordChanges(topology, *current, status);
  }
  return Action::requeueAfter(options_.resyncPeriod);
}

std::vector<SourceSnapshot> TopologyReconciler::snapshots(const ClusterTopology& topology,
                                                          const TopologySpec& spec,
                                                          const std::optional<Error>& podsRefused) {
  std::vector<SourceSnapshot> out;
  const std::vector<TopologyIndex::PodSelector> selectors = index_.selectors(topology.key());
  std::size_t kubernetesIndex = 0;
  for (std::size_t sourceIndex = 0; sourceIndex < spec.sources.size(); ++sourceIndex) {
    const TopologySource& source = spec.sources[sourceIndex];
    const std::string basename =
        source.nodeBasename.empty() ? spec.nodeBasename : source.nodeBasename;
    if (source.kubernetes) {
      const TopologyIndex::PodSelector& selector = selectors.at(kubernetesIndex++);
      SourceSnapshot snapshot{source.name, source.kind(), {}, std::nullopt, true};
      if (mayRead(topology, selector.namespaceName) != true) {
        // A decision, not a failure to learn: no members from there, not even the last ones.
        snapshot.error =
            Error{Error::Code::Invalid, "namespace " + selector.namespaceName +
                                            " does not grant this topology access (no "
                                            "TopologyReferenceGrant there lists namespace " +
                                            topology.namespaceName + ")"};
      } else if (source.kubernetes->resource == KubernetesSource::Resource::EndpointSlices) {
        if (endpointSlices_ == nullptr) {
          snapshot.error = Error{Error::Code::Unavailable,
                                 "EndpointSlices are not watched (--watch-endpointslices=false)"};
        } else {
          std::vector<nlohmann::json> slices;
          // The service's slices through the index, not a scan of every slice in the cluster.
          const std::vector<std::shared_ptr<const nlohmann::json>> scope =
              endpointSlices_->hasIndex(kServiceIndex)
                  ? endpointSlices_->byIndex(
                        kServiceIndex,
                        serviceIndexValue(selector.namespaceName, selector.serviceName))
                  : endpointSlices_->list();
          for (const std::shared_ptr<const nlohmann::json>& slice : scope) {
            const std::map<std::string, std::string> labels =
                stringMap(fieldOrNull(*slice, "metadata"), "labels");
            const auto service = labels.find(kServiceNameLabel);
            if (metadataString(*slice, "namespace") == selector.namespaceName &&
                service != labels.end() && service->second == selector.serviceName &&
                selector.selector.matches(labels)) {
              slices.push_back(*slice);
            }
          }
          snapshot.candidates =
              membersFromEndpointSlices(slices, *source.kubernetes, basename, source.name);
        }
      } else {
        // The state pod events keep current: no scan or copy of the pod cache.
        snapshot.candidates = podMembers_.candidates(topology.key(), sourceIndex);
        snapshot.error = podsRefused;
      }
      out.push_back(std::move(snapshot));
    } else if (source.epmd) {
      out.push_back(SourceSnapshot{source.name, source.kind(),
                                   membersFromNodes(source.epmd->nodes, source.name), std::nullopt,
                                   true});
    } else {
      out.push_back(external_.snapshot(topology.key(), source, basename));
    }
  }
  return out;
}

std::optional<bool> TopologyReconciler::mayRead(const ClusterTopology& topology,
                                                const std::string& target) const {
  if (target == topology.namespaceName) {
    return true;
  }
  if (!options_.mayReadNamespace) {
    return false;
  }
  return options_.mayReadNamespace(topology.namespaceName, topology.name, target);
}

Result<void> TopologyReconciler::writeStatus(const ClusterTopology& topology,
                                             const std::string& resourceVersion,
                                             const TopologyStatus& status) {
  ResourcePath path = topologiesPath(topology.namespaceName).object(topology.name);
  path.subresource = "status";
  // Merge patch replaces lists wholesale, which is right: the controller owns all of status.
  nlohmann::json patch{{"status", toJson(status)}};
  if (!resourceVersion.empty()) {
    patch["metadata"] = {{"resourceVersion", resourceVersion}};
  }
  CallOptions call;
  if (options_.writeFence) {
    // Asked last thing before sending: leadership may have ended during the reconcile.
    std::optional<CallOptions> fence = options_.writeFence();
    if (!fence) {
      return Error{Error::Code::Cancelled, "not leading: status not written"};
    }
    call = std::move(*fence);
  }
  std::vector<std::string> superseded;
  {
    // Recorded before sending: the watch may bring the write back before its response does.
    std::lock_guard lock(writtenMutex_);
    LastWrite& last = written_[topology.key()];
    superseded = std::move(last.superseded);
    for (const std::string* version : std::initializer_list<const std::string*>{
             &last.basedOn, &last.produced, &resourceVersion}) {
      if (!version->empty() && version->compare(topology.resourceVersion) != 0 &&
          std::find(superseded.begin(), superseded.end(), *version) == superseded.end()) {
        superseded.push_back(*version);
      }
    }
    if (superseded.size() > kMaxSuperseded) {
      superseded.erase(superseded.begin(),
                       superseded.begin() +
                           static_cast<std::ptrdiff_t>(superseded.size() - kMaxSuperseded));
    }
    last = LastWrite{topology.resourceVersion, "", status, superseded};
  }
  Result<nlohmann::json> written = api_.mergePatch(path, patch, call);
  if (!written) {
    std::lock_guard lock(writtenMutex_);
    written_.erase(topology.key());
    return written.error();
  }
  {
    std::lock_guard lock(writtenMutex_);
    written_[topology.key()] =
        LastWrite{topology.resourceVersion, metadataString(*written, "resourceVersion"), status,
                  std::move(superseded)};
  }
  ++statusWrites_;
  writes_.Increment();
  return {};
}

bool TopologyReconciler::LastWrite::supersedes(const std::string& resourceVersion) const {
  return resourceVersion == basedOn ||
         std::find(superseded.begin(), superseded.end(), resourceVersion) != superseded.end();
}

bool TopologyReconciler::isOwnWrite(const ClusterTopology& topology) const {
  std::lock_guard lock(writtenMutex_);
  const auto last = written_.find(topology.key());
  return last != written_.end() && !last->second.produced.empty() &&
         last->second.produced == topology.resourceVersion &&
         last->second.status == topology.status;
}

std::vector<std::string> TopologyReconciler::podChanged(const PodInfo* before,
                                                        const PodInfo* after) {
  std::vector<std::string> keys = podMembers_.apply(before, after);
  for (const PodInfo* pod : {before, after}) {
    if (pod == nullptr) {
      continue;
    }
    for (std::string& key : index_.topologiesForPod(*pod)) {
      // Not reconciled yet (or its spec was never valid): only a reconcile builds its state.
      if (!podMembers_.tracks(key) && std::find(keys.begin(), keys.end(), key) == keys.end()) {
        keys.push_back(std::move(key));
      }
    }
  }
  return keys;
}

bool TopologyReconciler::isOwnWrite(const ClusterTopology& old, const ClusterTopology& now) const {
  if (isOwnWrite(now)) {
    return true;
  }
  std::lock_guard lock(writtenMutex_);
  const auto last = written_.find(now.key());
  // Our status, or a late echo of an earlier write of ours (a version our last write superseded).
  return last != written_.end() &&
         (last->second.status == now.status || last->second.supersedes(now.resourceVersion)) &&
         old.uid == now.uid && old.generation == now.generation && old.spec == now.spec;
}

std::vector<std::string> TopologyReconciler::forget(const std::string& namespaceName,
                                                    const std::string& name) {
  {
    std::lock_guard lock(writtenMutex_);
    written_.erase(namespaceName + "/" + name);
  }
  std::vector<std::string> retry = podMembers_.forget(namespaceName + "/" + name);
  (void)members_.remove({namespaceName, name});
  events_.forget(namespaceName, name);
  return retry;
}

void TopologyReconciler::recordChanges(const ClusterTopology& topology,
                                       const TopologyStatus& before, const TopologyStatus& after) {
  std::set<std::string> old;
  std::set<std::string> now;
  for (const Member& m : before.members) {
    old.insert(m.node);
  }
  for (const Member& m : after.members) {
    now.insert(m.node);
  }
  std::vector<std::string> joined;
  std::vector<std::string> left;
  std::set_difference(now.begin(), now.end(), old.begin(), old.end(), std::back_inserter(joined));
  std::set_difference(old.begin(), old.end(), now.begin(), now.end(), std::back_inserter(left));
  const EventTarget target{"libcluster.dev/v1alpha1", "ClusterTopology", topology.namespaceName,
                           topology.name, topology.uid};
  auto list = [](const std::vector<std::string>& nodes) {
    std::string text;
    for (std::size_t i = 0; i < nodes.size() && i < 10; ++i) {
      text += (i == 0 ? "" : ", ") + nodes[i];
    }
    if (nodes.size() > 10) {
      text += " and " + std::to_string(nodes.size() - 10) + " more";
    }
    return text;
  };
  if (!joined.empty() || !left.empty()) {
    std::string message;
    if (!joined.empty()) {
      message += "joined: " + list(joined);
    }
    if (!left.empty()) {
      message += std::string(message.empty() ? "" : "; ") + "left: " + list(left);
    }
    events_.record(target, "Normal", "MembershipChanged", message);
    logInfo("membership changed", {{"object", topology.key()},
                                   {"members", after.memberCount},
                                   {"joined", joined.size()},
                                   {"left", left.size()}});
  }
  const Condition* degradedBefore = findCondition(before.conditions, "Degraded");
  const Condition* degradedAfter = findCondition(after.conditions, "Degraded");
  if (degradedAfter != nullptr && degradedAfter->status == "True" &&
      (degradedBefore == nullptr || degradedBefore->status != "True")) {
    events_.record(target, "Warning", "SourceFailed", degradedAfter->message);
  }
}

} // namespace libcluster
