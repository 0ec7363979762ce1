#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/topology.h"
#include "controller/cluster_topology.h"
#include "informer/label_selector.h"
#include "membership/pod.h"

namespace libcluster {

/// The parsed form of every known topology, so that a pod or EndpointSlice event can be mapped to
/// the topologies it concerns without re-parsing specs (controller-runtime's "map to a root
/// object"). Updated from the topology informer's thread, read from the others; thread-safe.
class TopologyIndex {
public:
  /// One kubernetes source as the index needs it.
  struct PodSelector {
    std::string namespaceName;
    LabelSelector selector;
    std::string serviceName; // set for resource endpointSlices
    bool endpointSlices = false;
  };
  struct Entry {
    std::int64_t generation = 0;
    Result<TopologySpec> spec = Error{Error::Code::Invalid, "not parsed"};
    std::vector<PodSelector> selectors;
  };

  /// Parses and remembers a topology's spec (only when its generation changed).
  void update(const ClusterTopology& topology);
  void remove(const std::string& key);

  /// The parsed spec of a topology, or the Error that makes it invalid.
  std::optional<Result<TopologySpec>> spec(const std::string& key) const;
  /// The label selectors of a topology's kubernetes sources (parsed once).
  std::vector<PodSelector> selectors(const std::string& key) const;

  /// Keys of the topologies with a pods source matching this pod (namespace and labels). Visits
  /// only the topologies with a source in the pod's namespace, not every topology.
  std::vector<std::string> topologiesForPod(const PodInfo& pod) const;
  /// Keys of the topologies with an endpointSlices source for this slice: its service
  /// (label kubernetes.io/service-name) and namespace match and its labels match the selector,
  /// as libcluster's selector applied to Endpoints objects.
  std::vector<std::string> topologiesForEndpointSlice(
      const std::string& namespaceName, const std::map<std::string, std::string>& labels) const;

  /// Builds the selector of one kubernetes source; Invalid when a label or operator is not valid.
  static Result<LabelSelector> selectorOf(const KubernetesSource& source);

private:
  void link(const std::string& key, const Entry& entry);
  void unlink(const std::string& key);

  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  /// namespace -> keys of the topologies with a kubernetes source reading it.
  std::map<std::string, std::set<std::string>> byNamespace_;
};

} // namespace libcluster
