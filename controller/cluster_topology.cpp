#include "controller/cluster_topology.h"

namespace libcluster {

std::optional<ClusterTopology> topologyFromJson(const nlohmann::json& object) {
  if (!object.is_object()) {
    return std::nullopt;
  }
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) {
    return std::nullopt;
  }
  auto text = [&](const char* key) {
    auto it = metadata->find(key);
    return it != metadata->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  ClusterTopology topology;
  topology.name = text("name");
  if (topology.name.empty()) {
    return std::nullopt;
  }
  topology.namespaceName = text("namespace");
  topology.uid = text("uid");
  topology.resourceVersion = text("resourceVersion");
  if (auto it = metadata->find("generation"); it != metadata->end() && it->is_number_integer()) {
    topology.generation = it->get<std::int64_t>();
  }
  if (auto it = object.find("spec"); it != object.end()) {
    topology.spec = *it;
  }
  if (auto it = object.find("status"); it != object.end()) {
    topology.status = parseTopologyStatus(*it);
  }
  return topology;
}

ResourcePath endpointSlicesPath(const std::string& namespaceName) {
  return ResourcePath{"discovery.k8s.io", "v1", "endpointslices", namespaceName, "", ""};
}

ResourcePath podsPath(const std::string& namespaceName) {
  return ResourcePath{"", "v1", "pods", namespaceName, "", ""};
}

} // namespace libcluster
