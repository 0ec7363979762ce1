#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace libcluster {

/// A TopologyReferenceGrant (crds/topologyreferencegrants.libcluster.dev.yaml): lets the
/// ClusterTopologies it lists read pods and EndpointSlices of the namespace it lives in.
struct ReferenceGrant {
  struct From {
    std::string namespaceName;
    /// One ClusterTopology; empty means every ClusterTopology in namespaceName.
    std::string name;

    bool operator==(const From&) const = default;
  };
  std::string namespaceName;
  std::string name;
  std::vector<From> from;

  bool operator==(const ReferenceGrant&) const = default;
};

/// Reads a grant object; entries without a namespace are dropped (they grant nothing), and an
/// object without metadata.namespace is nullopt.
std::optional<ReferenceGrant> referenceGrantFromJson(const nlohmann::json& object);

/// True when one of `grants` living in `targetNamespace` lets topology `fromNamespace/name` read it.
/// A topology always may read its own namespace.
bool isReferenceGranted(const std::vector<std::shared_ptr<const ReferenceGrant>>& grants,
                        const std::string& fromNamespace, const std::string& topologyName,
                        const std::string& targetNamespace);

} // namespace libcluster
