#include "strategy/kubernetes_strategy.h"

#include <optional>
#include <vector>

#include "informer/label_selector.h"
#include "membership/node_name.h"

namespace libcluster {
namespace {

using nlohmann::json;

/// One address a list answer names, before it becomes a node name.
struct Address {
  std::string ip;
  std::string namespaceName;
  std::string hostname;
};

std::string text(const json& object, const char* key) {
  if (!object.is_object()) {
    return {};
  }
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

const json& child(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) {
    return kNull;
  }
  const auto found = object.find(key);
  return found != object.end() ? *found : kNull;
}

/// Endpoints: the ready `addresses` of every subset (notReadyAddresses are left out, as in
/// libcluster). An address without targetRef takes the queried namespace instead of crashing.
void endpointsAddresses(const json& item, const std::string& queried, std::vector<Address>& out) {
  const json& subsets = child(item, "subsets");
  if (!subsets.is_array()) {
    return;
  }
  for (const json& subset : subsets) {
    const json& addresses = child(subset, "addresses");
    if (!addresses.is_array()) {
      continue;
    }
    for (const json& address : addresses) {
      const json& target = child(address, "targetRef");
      std::string namespaceName = text(target, "namespace");
      if (namespaceName.empty()) {
        namespaceName = text(child(item, "metadata"), "namespace");
      }
      std::string hostname = text(address, "hostname");
      if (hostname.empty() && text(target, "kind") == "Pod") {
        hostname = text(target, "name");
      }
      out.push_back({text(address, "ip"), namespaceName.empty() ? queried : namespaceName,
                     std::move(hostname)});
    }
  }
}

/// EndpointSlices: the first address of every ready endpoint (a missing `ready` counts as ready,
/// as the API documents); FQDN slices carry no IP and are skipped.
void sliceAddresses(const json& item, const std::string& queried, std::vector<Address>& out) {
  if (text(item, "addressType") == "FQDN") {
    return;
  }
  const json& endpoints = child(item, "endpoints");
  if (!endpoints.is_array()) {
    return;
  }
  std::string sliceNamespace = text(child(item, "metadata"), "namespace");
  for (const json& endpoint : endpoints) {
    const json& ready = child(child(endpoint, "conditions"), "ready");
    if (ready.is_boolean() && !ready.get<bool>()) {
      continue;
    }
    const json& addresses = child(endpoint, "addresses");
    if (!addresses.is_array() || addresses.empty() || !addresses.front().is_string()) {
      continue;
    }
    const json& target = child(endpoint, "targetRef");
    std::string namespaceName = text(target, "namespace");
    if (namespaceName.empty()) {
      namespaceName = sliceNamespace.empty() ? queried : sliceNamespace;
    }
    std::string hostname = text(endpoint, "hostname");
    if (hostname.empty() && text(target, "kind") == "Pod") {
      hostname = text(target, "name");
    }
    out.push_back({addresses.front().get<std::string>(), namespaceName, std::move(hostname)});
  }
}

/// Pods: every pod with status.podIP that is neither finished (Succeeded/Failed, which libcluster
/// still named) nor terminating. Not-ready pods stay, so nodes can cluster before readiness.
void podAddresses(const json& item, const std::string& queried, std::vector<Address>& out) {
  const json& metadata = child(item, "metadata");
  const json& status = child(item, "status");
  const std::string ip = text(status, "podIP");
  const std::string phase = text(status, "phase");
  const json& deletion = child(metadata, "deletionTimestamp");
  if (ip.empty() || phase == "Succeeded" || phase == "Failed" || !deletion.is_null()) {
    return;
  }
  std::string namespaceName = text(metadata, "namespace");
  std::string hostname = text(child(item, "spec"), "hostname");
  if (hostname.empty()) {
    hostname = text(metadata, "name"); // a pod's host name defaults to its name
  }
  out.push_back({ip, namespaceName.empty() ? queried : namespaceName, std::move(hostname)});
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
  return list;
}

Result<PeerSet> KubernetesStrategy::parseList(const json& list, const Options& options) {
  const json& items = child(list, "items");
  if (!items.is_array()) {
    if (list.is_object() && list.contains("items") && items.is_null()) {
      return PeerSet{}; // Go encodes an empty list's items as null
    }
    return Error{Error::Code::Invalid, "the LIST answer has no items"};
  }
  std::vector<Address> addresses;
  for (const json& item : items) {
    switch (options.lookup) {
    case Lookup::Endpoints:
      endpointsAddresses(item, options.namespaceName, addresses);
      break;
    case Lookup::EndpointSlices:
      sliceAddresses(item, options.namespaceName, addresses);
      break;
    case Lookup::Pods:
      podAddresses(item, options.namespaceName, addresses);
      break;
    }
  }
  PeerSet peers;
  for (const Address& address : addresses) {
    if (std::optional<std::string> node = nodeName(address, options)) {
      peers.insert(std::move(*node));
    }
  }
  return peers;
}

Result<PeerSet> KubernetesStrategy::discoverPeers(std::stop_token) {
  Result<nlohmann::json> list = api_.list(collection(), listOptions());
  if (!list) {
    return list.error();
  }
  return parseList(*list, options_);
}

} // namespace libcluster
