#pragma once

#include <string>

namespace libcluster {

/// A ClusterTopology manifest for `kubectl apply -f -`: `name` in namespace default, `spec` the
/// YAML below "spec:" (each line indented by two spaces).
inline std::string clusterTopologyYaml(const std::string& name, const std::string& spec) {
  return "apiVersion: libcluster.dev/v1alpha1\nkind: ClusterTopology\nmetadata: {name: " + name +
         ", namespace: default}\nspec:\n" + spec;
}

} // namespace libcluster
