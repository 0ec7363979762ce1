#pragma once

#include <string>

#include "kube/kube_api.h"

namespace libcluster {

/// The API group and version of libcluster's own resources (crds/).
inline constexpr const char* kLibclusterGroup = "libcluster.dev";
inline constexpr const char* kLibclusterVersion = "v1alpha1";

/// The clustertopologies collection in `namespaceName` (all namespaces when empty).
inline ResourcePath topologiesPath(const std::string& namespaceName = "") {
  return ResourcePath{.group = kLibclusterGroup,
                      .version = kLibclusterVersion,
                      .resource = "clustertopologies",
                      .namespaceName = namespaceName};
}

/// The clustertopologymemberslices collection in `namespaceName` (all namespaces when empty).
inline ResourcePath memberSlicesPath(const std::string& namespaceName = "") {
  return ResourcePath{.group = kLibclusterGroup,
                      .version = kLibclusterVersion,
                      .resource = "clustertopologymemberslices",
                      .namespaceName = namespaceName};
}

/// TopologyReferenceGrants, in one namespace or (empty) all.
inline ResourcePath referenceGrantsPath(const std::string& namespaceName = "") {
  return ResourcePath{.group = kLibclusterGroup,
                      .version = kLibclusterVersion,
                      .resource = "topologyreferencegrants",
                      .namespaceName = namespaceName};
}

} // namespace libcluster
