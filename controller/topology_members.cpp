#include "controller/topology_members.h"

#include <algorithm>
#include <limits>
#include <optional>

namespace libcluster {
namespace {

bool byPodName(const Candidate& a, const Candidate& b) { return a.podName < b.podName; }
bool podNameBefore(const Candidate& candidate, const std::string& pod) {
  return candidate.podName < pod;
}

} // namespace

std::string TopologyMembers::labelIndexValue(const std::string& namespaceName,
                                             const std::string& key, const std::string& value) {
  // '/' cannot appear in a namespace, nor '=' in a label key or value (the API server and
  // LabelSelector both refuse them); and sync() matches every pod of a bucket against the whole
  // selector again, so even a collision could not admit a pod the selector rejects.
  return namespaceName + "/" + key + "=" + value;
}

std::vector<std::string> TopologyMembers::labelIndexValues(const PodInfo& pod) {
  std::vector<std::string> values;
  values.reserve(pod.labels.size());
  for (const Labels::Entry& label : pod.labels) {
    values.push_back(labelIndexValue(pod.namespaceName, *label.key, label.value));
  }
  return values;
}

Result<void> TopologyMembers::sync(const std::string& key, std::int64_t generation,
                           const TopologySpec& spec,
                           const std::vector<TopologyIndex::PodSelector>& selectors,
                           const ObjectStore<PodInfo>& pods) {
  // Held while reading the cache: a pod event applied to the cache after the read waits here
  // and lands on the new state, so no event falls between the read and the swap.
  std::lock_guard lock(mutex_);
  const auto existing = topologies_.find(key);
  if (existing != topologies_.end() && generation != 0) {
    if (existing->second.refusal && existing->second.refusedGeneration == generation) {
      return *existing->second.refusal; // no rescan of the cache at each reconcile
    }
    if (existing->second.generation == generation) {
      return {};
    }
  }
  TopologyState state;
  state.generation = generation;
  std::size_t kubernetesIndex = 0;
  for (std::size_t i = 0; i < spec.sources.size(); ++i) {
    const TopologySource& source = spec.sources[i];
    if (!source.kubernetes) {
      continue;
    }
    if (kubernetesIndex >= selectors.size()) {
      break;
    }
    const TopologyIndex::PodSelector& selector = selectors[kubernetesIndex++];
    if (source.kubernetes->resource != KubernetesSource::Resource::Pods) {
      continue;
    }
    SourceState sourceState{i,
                            selector.namespaceName,
                            selector.selector,
                            *source.kubernetes,
                            source.nodeBasename.empty() ? spec.nodeBasename : source.nodeBasename,
                            source.name,
                            std::make_shared<std::vector<Candidate>>()};
    // The smallest label bucket the selector requires, else the whole namespace.
    std::optional<std::string> bucket;
    std::size_t smallest = std::numeric_limits<std::size_t>::max();
    for (const auto& [label, value] : source.kubernetes->selector.matchLabels) {
      const std::string indexValue = labelIndexValue(selector.namespaceName, label, value);
      const std::size_t count = pods.indexedCount(kLabelIndex, indexValue);
      if (count < smallest) {
        smallest = count;
        bucket = indexValue;
      }
    }
    const std::vector<std::shared_ptr<const PodInfo>> scope =
        bucket && pods.hasIndex(kLabelIndex) ? pods.byIndex(kLabelIndex, *bucket)
                                             : pods.listNamespace(selector.namespaceName);
    for (const std::shared_ptr<const PodInfo>& pod : scope) {
      if (!sourceState.selector.matchesLabels(pod->labels)) {
        continue;
      }
      if (std::optional<Candidate> candidate = candidateFromPod(
              *pod, sourceState.source, sourceState.basename, sourceState.sourceName)) {
        sourceState.members->push_back(std::move(*candidate));
      }
    }
    std::sort(sourceState.members->begin(), sourceState.members->end(), byPodName);
    state.sources.push_back(std::move(sourceState));
  }

  const std::string owner = ownerNamespace(key);
  const std::size_t before = existing != topologies_.end() ? existing->second.size() : 0;
  const std::size_t after = state.size();
  std::size_t& used = usage_[owner];
  if (maxMembersPerNamespace_ > 0 && after > before &&
      used - before + after > maxMembersPerNamespace_) {
    Error refusal = overLimit(owner, used - before + after);
    // Kept as it was (unknown is not empty); a topology never built gets an empty state, which
    // pod events do not touch, so that they do not requeue it for another refused scan.
    TopologyState& kept = topologies_[key];
    kept.refusal = refusal;
    kept.refusedGeneration = generation;
    kept.wanted = after - before;
    kept.skipped.clear();
    if (used == 0) {
      usage_.erase(owner);
    }
    return refusal;
  }
  used = used - before + after;
  unlinkNamespaces(key);
  for (const SourceState& source : state.sources) {
    byNamespace_[source.namespaceName].insert(key);
  }
  topologies_.insert_or_assign(key, std::move(state));
  return {};
}

Error TopologyMembers::overLimit(const std::string& owner, std::size_t wouldHold) const {
  return {Error::Code::Forbidden,
          "namespace " + owner + " would hold " + std::to_string(wouldHold) +
              " members across its topologies, over the controller's limit of " +
              std::to_string(maxMembersPerNamespace_) + " (--max-members-per-namespace)"};
}

void TopologyMembers::retryRefusedThatFit(const std::string& owner,
                                          std::vector<std::string>& retry) {
  const auto used = usage_.find(owner);
  const std::size_t room =
      maxMembersPerNamespace_ == 0
          ? std::numeric_limits<std::size_t>::max()
          : maxMembersPerNamespace_ - std::min(maxMembersPerNamespace_,
                                               used == usage_.end() ? 0 : used->second);
  const std::string prefix = owner + "/";
  for (auto it = topologies_.lower_bound(prefix);
       it != topologies_.end() && it->first.starts_with(prefix); ++it) {
    TopologyState& state = it->second;
    if (!state.refusal || state.wanted > room) {
      continue;
    }
    state.refusal.reset();
    state.refusedGeneration = 0;
    state.wanted = 0;
    state.skipped.clear();
    state.generation = 0; // rebuilt from the cache by the next sync
    if (std::find(retry.begin(), retry.end(), it->first) == retry.end()) {
      retry.push_back(it->first);
    }
  }
}

std::size_t TopologyMembers::TopologyState::size() const {
  std::size_t total = 0;
  for (const SourceState& source : sources) {
    total += source.members->size();
  }
  return total;
}

std::string TopologyMembers::ownerNamespace(const std::string& key) {
  return key.substr(0, key.find('/'));
}

std::size_t TopologyMembers::membersIn(const std::string& namespaceName) const {
  std::lock_guard lock(mutex_);
  const auto used = usage_.find(namespaceName);
  return used == usage_.end() ? 0 : used->second;
}

std::vector<std::string> TopologyMembers::apply(const PodInfo* before, const PodInfo* after) {
  const PodInfo* any = after != nullptr ? after : before;
  if (any == nullptr) {
    return {};
  }
  std::vector<std::string> changed;
  std::lock_guard lock(mutex_);
  const auto readers = byNamespace_.find(any->namespaceName);
  if (readers == byNamespace_.end()) {
    return changed;
  }
  std::set<std::string> freedIn; // owner namespaces whose usage went down
  for (const std::string& key : readers->second) {
    TopologyState& state = topologies_.at(key);
    const std::string owner = ownerNamespace(key);
    const std::size_t sizeBefore = state.size();
    bool topologyChanged = false;
    for (SourceState& source : state.sources) {
      if (source.namespaceName != any->namespaceName) {
        continue;
      }
      const bool matchedBefore = before != nullptr && source.selector.matchesLabels(before->labels);
      const bool matchesNow = after != nullptr && source.selector.matchesLabels(after->labels);
      if (!matchedBefore && !matchesNow) {
        continue;
      }
      std::optional<Candidate> candidate;
      if (matchesNow) {
        candidate = candidateFromPod(*after, source.source, source.basename, source.sourceName);
      }
      const std::vector<Candidate>& members = *source.members;
      const auto at = std::lower_bound(members.begin(), members.end(), any->name, podNameBefore);
      const bool present = at != members.end() && at->podName == any->name;
      const auto index = static_cast<std::ptrdiff_t>(at - members.begin());
      if (!candidate) {
        state.skipped.erase(any->name);
        if (present) {
          std::vector<Candidate>& list = source.writable();
          list.erase(list.begin() + index);
          topologyChanged = true;
        }
      } else if (!present) {
        const std::size_t used =
            maxMembersPerNamespace_ > 0 ? usage_[owner] - sizeBefore + state.size() : 0;
        if (maxMembersPerNamespace_ > 0 && used + 1 > maxMembersPerNamespace_) {
          // Not applied: the namespace is at its bound. Kept as it is, and reported by sync().
          state.skipped.insert(any->name);
          if (!state.refusal || state.refusedGeneration == state.generation) {
            state.refusal = overLimit(owner, used + 1);
            state.refusedGeneration = state.generation;
            state.wanted = state.skipped.size();
          }
          topologyChanged = true;
          continue;
        }
        std::vector<Candidate>& list = source.writable();
        list.insert(list.begin() + index, std::move(*candidate));
        topologyChanged = true;
      } else if (*at != *candidate) {
        source.writable()[static_cast<std::size_t>(index)] = std::move(*candidate);
        topologyChanged = true;
      }
    }
    if (topologyChanged) {
      std::size_t& used = usage_[owner];
      used = used - sizeBefore + state.size();
      if (state.size() < sizeBefore) {
        freedIn.insert(owner);
      }
      changed.push_back(key);
    }
  }
  for (const std::string& owner : freedIn) {
    retryRefusedThatFit(owner, changed);
  }
  return changed;
}

CandidateList TopologyMembers::candidates(const std::string& key, std::size_t sourceIndex) const {
  std::lock_guard lock(mutex_);
  const auto state = topologies_.find(key);
  if (state == topologies_.end()) {
    return {};
  }
  for (const SourceState& source : state->second.sources) {
    if (source.sourceIndex == sourceIndex) {
      return CandidateList(std::shared_ptr<const std::vector<Candidate>>(source.members));
    }
  }
  return {};
}

std::vector<Candidate>& TopologyMembers::SourceState::writable() {
  // Under mutex_: a count of 1 means no reader holds the list, and none can take it meanwhile.
  if (members.use_count() > 1) {
    members = std::make_shared<std::vector<Candidate>>(*members);
  }
  return *members;
}

bool TopologyMembers::tracks(const std::string& key) const {
  std::lock_guard lock(mutex_);
  return topologies_.contains(key);
}

std::vector<std::string> TopologyMembers::forget(const std::string& key) {
  std::lock_guard lock(mutex_);
  const auto state = topologies_.find(key);
  if (state == topologies_.end()) {
    return {};
  }
  const std::string owner = ownerNamespace(key);
  if (const auto used = usage_.find(owner); used != usage_.end()) {
    used->second -= std::min(used->second, state->second.size());
    if (used->second == 0) {
      usage_.erase(used);
    }
  }
  unlinkNamespaces(key);
  topologies_.erase(state);
  // Room was made: the refused builds of that namespace that fit now are tried again.
  std::vector<std::string> retry;
  retryRefusedThatFit(owner, retry);
  return retry;
}

void TopologyMembers::unlinkNamespaces(const std::string& key) {
  const auto state = topologies_.find(key);
  if (state == topologies_.end()) {
    return;
  }
  for (const SourceState& source : state->second.sources) {
    const auto readers = byNamespace_.find(source.namespaceName);
    if (readers != byNamespace_.end()) {
      readers->second.erase(key);
      if (readers->second.empty()) {
        byNamespace_.erase(readers);
      }
    }
  }
}

} // namespace libcluster
