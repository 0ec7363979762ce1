#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/topology.h"
#include "core/result.h"
#include "membership/pod.h"

namespace libcluster {

/// A member with what seed selection needs to know about it.
struct Candidate {
  Member member;
  std::optional<int> ordinal;       // StatefulSet ordinal, if a StatefulSet pod
  std::string creationTimestamp;    // RFC 3339, pods only
  std::string podName;

  bool operator==(const Candidate&) const = default;
};

/// A source's candidates, immutable and shared rather than copied: the pod state the controller
/// keeps current hands each reconcile its 5 000 members of a big topology without a copy (and
/// copies on write only when a reconcile still holds the list). Reads like a const vector.
class CandidateList {
public:
  CandidateList() = default;
  CandidateList(std::vector<Candidate> list) // NOLINT(google-explicit-constructor): a value
      : list_(std::make_shared<const std::vector<Candidate>>(std::move(list))) {}
  explicit CandidateList(std::shared_ptr<const std::vector<Candidate>> list)
      : list_(std::move(list)) {}

  const std::vector<Candidate>& list() const { return list_ ? *list_ : none(); }
  std::vector<Candidate>::const_iterator begin() const { return list().begin(); }
  std::vector<Candidate>::const_iterator end() const { return list().end(); }
  std::size_t size() const { return list().size(); }
  bool empty() const { return list().empty(); }
  const Candidate& operator[](std::size_t i) const { return list()[i]; }

  bool operator==(const CandidateList& other) const { return list() == other.list(); }

private:
  static const std::vector<Candidate>& none();
  std::shared_ptr<const std::vector<Candidate>> list_;
};

/// What one source currently says. `candidates` is its last good answer; `error` is set when the
/// latest attempt failed (the last good answer is then kept: unknown is not empty). `answered` is
/// false until the source has answered once.
struct SourceSnapshot {
  std::string name;
  std::string kind;
  CandidateList candidates;
  std::optional<Error> error;
  bool answered = false;
};

/// The member one pod makes for a kubernetes source (already matched by namespace and selector),
/// or nullopt when it is not eligible (phase, readiness, terminating) or cannot be named yet.
std::optional<Candidate> candidateFromPod(const PodInfo& pod, const KubernetesSource& source,
                                          const std::string& basename,
                                          const std::string& sourceName);

/// The members a kubernetes source contributes: the eligible pods among `pods` (already filtered
/// by namespace and selector), named by the source's mode. Pods that cannot be named yet are skipped.
std::vector<Candidate> membersFromPods(const std::vector<PodInfo>& pods, const KubernetesSource& source,
                                       const std::string& basename, const std::string& sourceName);
/// The same over pods shared with a cache, which are read in place rather than copied.
std::vector<Candidate> membersFromPods(const std::vector<std::shared_ptr<const PodInfo>>& pods,
                                       const KubernetesSource& source, const std::string& basename,
                                       const std::string& sourceName);

/// The members a kubernetes source with resource endpointSlices contributes, from the
/// EndpointSlices of its service (already filtered by namespace and service). Readiness uses the
/// endpoint conditions: ReadyOnly admits `serving` endpoints, and terminating ones leave unless
/// includeTerminating. hostname mode uses the endpoint's hostname, else its target pod's name.
std::vector<Candidate> membersFromEndpointSlices(const std::vector<nlohmann::json>& slices,
                                                 const KubernetesSource& source,
                                                 const std::string& basename,
                                                 const std::string& sourceName);

/// Static members (epmd source, or any list of node names).
std::vector<Candidate> membersFromNodes(const std::vector<std::string>& nodes, const std::string& sourceName);

/// Members named base@<ip> for each address (dns Address records, Rancher containers).
std::vector<Candidate> membersFromAddresses(const std::vector<std::string>& addresses,
                                            const std::string& basename, const std::string& sourceName);

/// The union of the sources' candidates, one per node (the first source's first candidate wins),
/// sorted by node: pointers into `sources`, nothing copied.
std::vector<const Candidate*> membersByNode(const std::vector<SourceSnapshot>& sources);

/// The node new members join first: the lowest StatefulSet ordinal, else the oldest pod, ties by
/// name; without pods, the lowest node name. Empty when there are no candidates.
std::string chooseSeed(const std::vector<Candidate>& candidates);

/// Builds the whole status from the sources, level-based: members are the union of every source
/// (first source wins on a duplicate node name), sorted by node, at most kMaxStatusMembers listed;
/// counts, seed, source summary and the Ready / Converged / Degraded / Invalid conditions.
/// `previous` supplies lastTransitionTime for unchanged conditions; `now` is RFC 3339.
TopologyStatus buildStatus(const TopologyStatus& previous, std::int64_t generation,
                           const std::vector<SourceSnapshot>& sources, const std::string& now);

/// The status of a topology whose spec is invalid: Invalid=True naming the field, Ready=False; the
/// last members are kept so agents do not disconnect anyone because of a typo.
TopologyStatus invalidStatus(const TopologyStatus& previous, std::int64_t generation,
                             const Error& error, const std::string& now);

} // namespace libcluster
