#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/resource_paths.h"
#include "api/topology.h"
#include "kube/kube_api.h"

namespace libcluster {

/// A ClusterTopology as the controller caches it. The spec stays raw JSON so that an invalid
/// spec still reaches the reconciler, which reports it in the Invalid condition.
struct ClusterTopology {
  std::string namespaceName;
  std::string name;
  std::string uid;
  std::string resourceVersion;
  std::int64_t generation = 0;
  nlohmann::json spec;
  TopologyStatus status;

  std::string key() const { return namespaceName + "/" + name; }
  bool operator==(const ClusterTopology&) const = default;
};

/// Reads a ClusterTopology object; nullopt without metadata.name. Never throws.
std::optional<ClusterTopology> topologyFromJson(const nlohmann::json& object);

/// The label EndpointSlices carry naming their Service.
inline constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";

/// The endpointslices collection in `namespaceName` (all namespaces when empty).
ResourcePath endpointSlicesPath(const std::string& namespaceName = "");
/// The pods collection in `namespaceName` (all namespaces when empty).
ResourcePath podsPath(const std::string& namespaceName = "");

} // namespace libcluster
