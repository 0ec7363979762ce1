#include "strategy/kubernetes_strategy.h"

#include <optional>
#include <vector>

#include "core/json_field.h"
#include "informer/label_selector.h"
#include "membership/membership.h"
#include "membership/node_name.h"
#include "membership/pod.h"

namespace libcluster {
namespace {

using nlohmann::json;

/// One address a list answer names, before it becomes a node name.
struct Address {
  std::string ip;
  std::string namespaceName;
  std::string hostname;
};

/// Endpoints: the ready `addresses` of every subset (notReadyAddresses are left out, as in
/// libcluster). An address without targetRef takes the queried namespace instead of crashing.
void endpointsAddresses(const json& item, const std::string& queried, std::vector<Address>& out) {
  const json& subsets = fieldOrNull(item, "subsets");
  if (!subsets.is_array()) {
    return;
  }
  for (const json& subset : subsets) {
    const json& addresses = fieldOrNull(subset, "addresses");
    if (!addresses.is_array()) {
      continue;
    }
    for (const json& address : addresses) {
      const json& target = fieldOrNull(address, "targetRef");
      std::string namespaceName = stringField(target, "namespace");
      if (namespaceName.empty()) {
        namespaceName = stringField(fieldOrNull(item, "metadata"), "namespace");
      }
      std::string hostname = stringField(address, "hostname");
      if (hostname.empty() && stringField(target, "kind") == "Pod") {
        hostname = stringField(target, "name");
      }
      out.push_back({stringField(address, "ip"), namespaceName.empty() ? queried : namespaceName,
                     std::move(hostname)});
    }
  }
}

/// The controller's model of this strategy's source, so Pods and EndpointSlices are read by the
/// one implementation both binaries share (membership/membership.h). Readiness: Pods keep
/// not-ready pods (nodes may cluster before readiness, as libcluster did); EndpointSlices admit
/// serving endpoints only (the Endpoints `addresses` rule). Terminating pods and endpoints leave.
KubernetesSource sourceModel(const KubernetesStrategy::Options& options) {
  KubernetesSource source;
  source.resource = options.lookup == KubernetesStrategy::Lookup::EndpointSlices
                        ? KubernetesSource::Resource::EndpointSlices
                        : KubernetesSource::Resource::Pods;
  switch (options.mode) {
  case KubernetesStrategy::Mode::Ip:
    source.mode = KubernetesSource::Mode::Ip;
    break;
  case KubernetesStrategy::Mode::Dns:
    source.mode = KubernetesSource::Mode::Dns;
    break;
  case KubernetesStrategy::Mode::Hostname:
    source.mode = KubernetesSource::Mode::Hostname;
    break;
  }
  source.namespaceName = options.namespaceName;
  source.serviceName = options.serviceName;
  source.clusterDomain = options.clusterDomain;
  source.ipFamily = KubernetesSource::IpFamily::Primary;
  source.readiness = options.lookup == KubernetesStrategy::Lookup::EndpointSlices
                         ? KubernetesSource::Readiness::ReadyOnly
                         : KubernetesSource::Readiness::IncludeNotReady;
  source.includeTerminating = false;
  return source;
}

constexpr const char* kSourceName = "kubernetes";

/// Pods, by the controller's rule: Running (not Pending, Succeeded or Failed), not terminating,
/// with an address in the family; a pod without a namespace takes the queried one.
void podPeers(const json& items, const KubernetesStrategy::Options& options, PeerSet& peers) {
  std::vector<PodInfo> pods;
  for (const json& item : items) {
    std::optional<PodInfo> pod = podFromJson(item);
    if (!pod) {
      continue;
    }
    if (pod->namespaceName.empty()) {
      pod->namespaceName = options.namespaceName;
    }
    pods.push_back(std::move(*pod));
  }
  for (const Candidate& candidate :
       membersFromPods(pods, sourceModel(options), options.nodeBasename, kSourceName)) {
    peers.insert(candidate.member.node);
  }
}

/// EndpointSlices, by the controller's rule (serving, not terminating; FQDN slices skipped); a
/// slice without a namespace takes the queried one.
void slicePeers(const json& items, const KubernetesStrategy::Options& options, PeerSet& peers) {
  std::vector<json> slices;
  for (const json& item : items) {
    if (!item.is_object()) {
      continue;
    }
    json slice = item;
    if (stringField(fieldOrNull(slice, "metadata"), "namespace").empty()) {
      if (!slice["metadata"].is_object()) {
        slice["metadata"] = json::object();
      }
      slice["metadata"]["namespace"] = options.namespaceName;
    }
    slices.push_back(std::move(slice));
  }
  for (const Candidate& candidate : membersFromEndpointSlices(
           slices, sourceModel(options), options.nodeBasename, kSourceName)) {
    peers.insert(candidate.member.node);
  }
}

std::optional<std::string> nodeName(const Address& address,
                                    const KubernetesStrategy::Options& options) {
  if (address.ip.empty()) {
    return std::nullopt;
  }
  switch (options.mode) {
  case KubernetesStrategy::Mode::Ip:
    return ipNodeName(options.nodeBasename, address.ip);
  case KubernetesStrategy::Mode::Dns:
    return dnsNodeName(options.nodeBasename, address.ip, address.namespaceName,
                       options.clusterDomain);
  case KubernetesStrategy::Mode::Hostname:
    if (address.hostname.empty()) {
      return std::nullopt;
    }
    return hostnameNodeName(options.nodeBasename, address.hostname, options.serviceName,
                            address.namespaceName, options.clusterDomain);
  }
  return std::nullopt;
}

} // namespace

Result<std::unique_ptr<KubernetesStrategy>> KubernetesStrategy::create(Options options,
                                                                       KubeApi& api) {
  if (options.selector.empty()) {
    return Error{Error::Code::Invalid,
                 "kubernetesSelector: required (a label selector such as app=myapp)"};
  }
  if (Result<LabelSelector> selector = LabelSelector::parse(options.selector); !selector) {
    return Error{Error::Code::Invalid, "kubernetesSelector: " + selector.error().message};
  }
  if (options.nodeBasename.empty()) {
    return Error{Error::Code::Invalid,
                 "kubernetesNodeBasename: required (the part of node names before @)"};
  }
  if (options.namespaceName.empty()) {
    return Error{Error::Code::Invalid,
                 "kubernetesNamespace: required when the agent's own namespace is unknown "
                 "(set POD_NAMESPACE or --namespace)"};
  }
  if (options.mode == Mode::Hostname && options.serviceName.empty()) {
    return Error{Error::Code::Invalid, "kubernetesServiceName: required when mode is hostname"};
  }
  if (options.clusterDomain.empty()) {
    return Error{Error::Code::Invalid, "clusterDomain: must not be empty"};
  }
  return std::unique_ptr<KubernetesStrategy>(new KubernetesStrategy(std::move(options), api));
}

ResourcePath KubernetesStrategy::collection() const {
  switch (options_.lookup) {
  case Lookup::Endpoints:
    return ResourcePath{.resource = "endpoints", .namespaceName = options_.namespaceName};
  case Lookup::EndpointSlices:
    return ResourcePath{.group = "discovery.k8s.io",
                        .resource = "endpointslices",
                        .namespaceName = options_.namespaceName};
  case Lookup::Pods:
    break;
  }
  return ResourcePath{.resource = "pods", .namespaceName = options_.namespaceName};
}

ListOptions KubernetesStrategy::listOptions() const {
  ListOptions list;
  list.labelSelector = options_.selector;
  if (options_.useCachedResources) {
    list.resourceVersion = std::string(1, '0'); // assigning "0" trips g++ 12's -Wrestrict
  }
  list.omitManagedFields = true;
  if (options_.lookup == Lookup::Pods) {
    list.onlyFields = podFields(); // what podFromJson reads: no containers, volumes or statuses
  }
  return list;
}

Result<PeerSet> KubernetesStrategy::parseList(const json& list, const Options& options) {
  const json& items = fieldOrNull(list, "items");
  if (!items.is_array()) {
    if (list.is_object() && list.contains("items") && items.is_null()) {
      return PeerSet{}; // Go encodes an empty list's items as null
    }
    return Error{Error::Code::Invalid, "the LIST answer has no items"};
  }
  PeerSet peers;
  switch (options.lookup) {
  case Lookup::Endpoints: {
    // The legacy Endpoints API has no counterpart in the controller; read here only.
    std::vector<Address> addresses;
    for (const json& item : items) {
      endpointsAddresses(item, options.namespaceName, addresses);
    }
    for (const Address& address : addresses) {
      if (std::optional<std::string> node = nodeName(address, options)) {
        peers.insert(std::move(*node));
      }
    }
    break;
  }
  case Lookup::EndpointSlices:
    slicePeers(items, options, peers);
    break;
  case Lookup::Pods:
    podPeers(items, options, peers);
    break;
  }
  return peers;
}

Result<PeerSet> KubernetesStrategy::discoverPeers(std::stop_token stop) {
  // The agent's shutdown (or a spec change) stops the list at once instead of waiting out the
  // client's retries.
  Result<nlohmann::json> list = api_.list(collection(), listOptions(), {.stop = stop});
  if (!list) {
    return list.error();
  }
  return parseList(*list, options_);
}

} // namespace libcluster
