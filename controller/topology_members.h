#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/topology.h"
#include "controller/topology_index.h"
#include "informer/object_store.h"
#include "membership/membership.h"
#include "membership/pod.h"

namespace libcluster {

/// The members each topology's pods sources contribute, kept current by pod events instead of
/// being recomputed from the cache on every reconcile. A pod change visits only the topologies
/// with a pods source in the pod's namespace, and changes a source's members in O(log n) when
/// its selector matched the pod before or matches it now. A topology's state is built from the
/// cache once per spec generation (sync), through the pod store's label index when its selector
/// has matchLabels, else its namespace range. EndpointSlice sources are not kept here.
/// Thread-safe: pod events arrive on the pod informer's thread, reads on the reconcile worker.
///
/// Memory is bounded per namespace: the topologies of one namespace together hold at most
/// `maxMembersPerNamespace` members (0: no bound), so that a namespace user who creates many
/// topologies over many pods cannot exhaust the controller. A build that would go over is
/// refused: the topology keeps the state it had (if any), and sync() answers why until its next
/// generation. A pod event that would add a member over the bound is not applied either: the
/// topology keeps its members (removals and changes still apply) and sync() answers why. A
/// refused topology is tried again from the cache once there is room for what it was refused:
/// when pod events or forget() free that much in its namespace (apply() and forget() name it),
/// not on every event, so that a namespace at its bound does not rescan the cache per pod change.
class TopologyMembers {
public:
  explicit TopologyMembers(std::size_t maxMembersPerNamespace = 0)
      : maxMembersPerNamespace_(maxMembersPerNamespace) {}

  /// The pod store index sync() reads: one value "namespace/key=value" per label of a pod.
  static constexpr const char* kLabelIndex = "namespace-label";
  static std::vector<std::string> labelIndexValues(const PodInfo& pod);
  static std::string labelIndexValue(const std::string& namespaceName, const std::string& key,
                                     const std::string& value);

  /// Builds the state of topology `key` ("namespace/name") from `pods` unless it was already
  /// built for `generation` (0, an object never stored, always rebuilds). `selectors` are
  /// TopologyIndex::selectors(key), one per kubernetes source of `spec`, in order. Forbidden when
  /// the namespace's bound refuses the build (the earlier state, if any, stays).
  Result<void> sync(const std::string& key, std::int64_t generation, const TopologySpec& spec,
            const std::vector<TopologyIndex::PodSelector>& selectors,
            const ObjectStore<PodInfo>& pods);
  /// Applies one pod change (`before` null: added; `after` null: deleted). Returns the keys of
  /// the topologies whose members changed or were refused a member, and of the refused ones the
  /// change made room for (sync rebuilds them), each once.
  std::vector<std::string> apply(const PodInfo* before, const PodInfo* after);
  /// The members of the pods source spec.sources[sourceIndex] of topology `key`, ordered by pod
  /// name; empty when there is none (call sync first). Shared, not copied: a later pod change
  /// copies the list first while the caller still holds it (copy on write).
  CandidateList candidates(const std::string& key, std::size_t sourceIndex) const;
  /// Whether sync() built a state for `key`.
  bool tracks(const std::string& key) const;
  /// Drops a topology's state; returns the refused topologies of its namespace, which may fit now.
  std::vector<std::string> forget(const std::string& key);
  /// Members held by the topologies of `namespaceName`.
  std::size_t membersIn(const std::string& namespaceName) const;

private:
  struct SourceState {
    std::size_t sourceIndex = 0;
    std::string namespaceName;
    LabelSelector selector;
    KubernetesSource source;
    std::string basename;
    std::string sourceName;
    /// Sorted by pod name (one source reads one namespace). Handed out as it is; copied before a
    /// change while anyone else holds it.
    std::shared_ptr<std::vector<Candidate>> members = std::make_shared<std::vector<Candidate>>();
    /// The members, copied first when a reader still holds them.
    std::vector<Candidate>& writable();
  };
  struct TopologyState {
    std::int64_t generation = 0;
    std::vector<SourceState> sources;
    /// Why the build for refusedGeneration was refused, or a pod event's member (refusedGeneration
    /// is then `generation`); the state above is the earlier one.
    std::optional<Error> refusal;
    std::int64_t refusedGeneration = 0;
    /// How many more members the refused build would have held; for pod events, the pods
    /// refused (skipped). Tried again once the namespace has room for that many.
    std::size_t wanted = 0;
    std::set<std::string> skipped;
    std::size_t size() const;
  };

  void unlinkNamespaces(const std::string& key);
  Error overLimit(const std::string& owner, std::size_t wouldHold) const;
  /// Clears the refusals of `owner`'s topologies that now fit, marks them for a rebuild, and
  /// appends their keys to `retry` (once each).
  void retryRefusedThatFit(const std::string& owner, std::vector<std::string>& retry);
  static std::string ownerNamespace(const std::string& key);

  const std::size_t maxMembersPerNamespace_;
  mutable std::mutex mutex_;
  std::map<std::string, TopologyState> topologies_;
  /// namespace -> keys of the topologies with a pods source reading it.
  std::map<std::string, std::set<std::string>> byNamespace_;
  /// Owner namespace (of the topology, not of the pods read) -> members its topologies hold.
  std::map<std::string, std::size_t> usage_;
};

} // namespace libcluster
