#pragma once

// The resources the tests read and write, by namespace (all namespaces when empty).

#include <string>

#include "kube/kube_api.h"

namespace libcluster {

inline ResourcePath clusterTopologies(const std::string& namespaceName = "default") {
  return ResourcePath{.group = "libcluster.dev",
                      .version = "v1alpha1",
                      .resource = "clustertopologies",
                      .namespaceName = namespaceName};
}

inline ResourcePath clusterTopologyMemberSlices(const std::string& namespaceName = "default") {
  return ResourcePath{.group = "libcluster.dev",
                      .version = "v1alpha1",
                      .resource = "clustertopologymemberslices",
                      .namespaceName = namespaceName};
}

inline ResourcePath leases(const std::string& namespaceName) {
  return ResourcePath{
      .group = "coordination.k8s.io", .version = "v1", .resource = "leases", .namespaceName = namespaceName};
}

} // namespace libcluster
