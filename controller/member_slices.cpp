#include "controller/member_slices.h"

#include <algorithm>
#include <set>
#include <string_view>

#include "core/log.h"

namespace libcluster {
namespace {

bool byNode(const SliceMember& a, const SliceMember& b) { return a.node < b.node; }

} // namespace

SlicePlan planMemberSlices(const std::vector<MemberSlice>& current,
                           const std::vector<SliceMember>& desiredList, const SliceOwner& owner,
                           std::size_t maxPerSlice) {
  SlicePlan plan;
  // Views of desiredList's node names, which outlive the plan's making: no copy of 5 000 names at
  // each reconcile of a big topology (nor in `placed` below).
  std::map<std::string_view, const SliceMember*> desired;
  for (const SliceMember& member : desiredList) {
    desired.emplace(member.node, &member);
  }
  struct Working {
    MemberSlice slice;
    bool changed = false;
    bool exists = true;
  };
  std::vector<Working> work;
  std::vector<const MemberSlice*> ordered;
  ordered.reserve(current.size());
  for (const MemberSlice& slice : current) {
    ordered.push_back(&slice);
  }
  // By name, so the same inputs always give the same plan.
  std::sort(ordered.begin(), ordered.end(),
            [](const MemberSlice* a, const MemberSlice* b) { return a->name < b->name; });

  std::set<std::string_view> placed;
  std::size_t changes = 0;
  for (const MemberSlice* slice : ordered) {
    if (slice->ownerUid != owner.uid || slice->ownerName != owner.name) {
      plan.deletes.push_back(*slice);
      continue;
    }
    // Everything but the members, which are re-placed from `desired` below.
    Working entry{MemberSlice{.namespaceName = slice->namespaceName,
                              .name = slice->name,
                              .resourceVersion = slice->resourceVersion,
                              .ownerName = slice->ownerName,
                              .ownerUid = slice->ownerUid,
                              .label = slice->label,
                              .topologyGeneration = slice->topologyGeneration},
                  false, true};
    entry.slice.members.reserve(slice->members.size());
    for (const SliceMember& member : slice->members) {
      const auto wanted = desired.find(member.node);
      // Gone, listed twice, or beyond what a slice may hold (not written by us): drop it here.
      if (wanted == desired.end() || placed.contains(member.node) ||
          entry.slice.members.size() >= maxPerSlice) {
        entry.changed = true;
        changes += wanted == desired.end() ? 1 : 0;
        continue;
      }
      placed.insert(wanted->first);
      if (!(*wanted->second == member)) {
        entry.changed = true;
        ++changes;
      }
      entry.slice.members.push_back(*wanted->second);
    }
    work.push_back(std::move(entry));
  }

  const auto room = [maxPerSlice](const Working& w) {
    return maxPerSlice - std::min(maxPerSlice, w.slice.members.size());
  };
  for (const auto& [node, member] : desired) {
    if (placed.contains(node)) {
      continue;
    }
    ++changes;
    // The slice with the most room among those written anyway, else among all; else a new one.
    std::optional<std::size_t> best;
    for (int pass = 0; pass < 2 && !best; ++pass) {
      for (std::size_t i = 0; i < work.size(); ++i) {
        if (room(work[i]) > 0 && (pass == 1 || work[i].changed) &&
            (!best || room(work[i]) > room(work[*best]))) {
          best = i;
        }
      }
    }
    if (!best) {
      work.push_back(Working{MemberSlice{.namespaceName = owner.namespaceName,
                                         .ownerName = owner.name,
                                         .ownerUid = owner.uid},
                             true, false});
      best = work.size() - 1;
    }
    work[*best].slice.members.push_back(*member);
    work[*best].changed = true;
  }

  if (changes > 1) {
    // Merge slices under a quarter full: the smallest moves into the fullest small one it fits.
    const std::size_t small = std::max<std::size_t>(1, maxPerSlice / 4);
    while (true) {
      std::vector<std::size_t> candidates;
      for (std::size_t i = 0; i < work.size(); ++i) {
        const std::size_t size = work[i].slice.members.size();
        if (size > 0 && size < small) {
          candidates.push_back(i);
        }
      }
      std::sort(candidates.begin(), candidates.end(), [&](std::size_t a, std::size_t b) {
        return work[a].slice.members.size() < work[b].slice.members.size();
      });
      bool merged = false;
      for (std::size_t c = 0; c < candidates.size() && !merged; ++c) {
        Working& from = work[candidates[c]];
        for (std::size_t t = candidates.size(); t-- > 0 && !merged;) {
          Working& into = work[candidates[t]];
          if (t != c && room(into) >= from.slice.members.size()) {
            for (SliceMember& member : from.slice.members) {
              into.slice.members.push_back(std::move(member));
            }
            from.slice.members.clear();
            from.changed = into.changed = true;
            merged = true;
          }
        }
      }
      if (!merged) {
        break;
      }
    }
  }

  bool generationListed = false;
  for (Working& entry : work) {
    if (entry.changed) {
      entry.slice.topologyGeneration = owner.generation;
    }
    if (!entry.slice.members.empty() && entry.slice.topologyGeneration == owner.generation) {
      generationListed = true;
    }
  }
  if (!generationListed) {
    for (Working& entry : work) {
      if (!entry.slice.members.empty()) {
        entry.slice.topologyGeneration = owner.generation;
        entry.changed = true;
        break;
      }
    }
  }
  for (Working& entry : work) {
    if (entry.slice.members.empty()) {
      if (entry.exists) {
        plan.deletes.push_back(std::move(entry.slice));
      }
      continue;
    }
    ++plan.sliceCount;
    if (!entry.changed) {
      continue;
    }
    std::sort(entry.slice.members.begin(), entry.slice.members.end(), byNode);
    (entry.exists ? plan.updates : plan.creates).push_back(std::move(entry.slice));
  }
  return plan;
}

std::vector<SliceMember> sliceMembers(const std::vector<SourceSnapshot>& sources,
                                      const std::string& seed) {
  // Pointers sorted by node, the first source's first candidate kept per node: no copy of the
  // node names as map keys (5 000 of them at every reconcile of a big topology).
  std::vector<const Member*> unique;
  for (const SourceSnapshot& source : sources) {
    for (const Candidate& candidate : source.candidates) {
      unique.push_back(&candidate.member);
    }
  }
  std::stable_sort(unique.begin(), unique.end(),
                   [](const Member* a, const Member* b) { return a->node < b->node; });
  unique.erase(std::unique(unique.begin(), unique.end(),
                           [](const Member* a, const Member* b) { return a->node == b->node; }),
               unique.end());
  std::vector<SliceMember> out;
  out.reserve(unique.size());
  for (const Member* member : unique) {
    out.push_back(
        SliceMember{member->node, member->pod, member->ips, member->ready, member->node == seed});
  }
  return out;
}

ResourcePath memberSlicesPath(const std::string& namespaceName) {
  return ResourcePath{.group = "libcluster.dev",
                      .version = "v1alpha1",
                      .resource = "clustertopologymemberslices",
                      .namespaceName = namespaceName};
}

MemberSlices::MemberSlices(KubeApi& api, const ObjectStore<MemberSlice>& cache, Options options)
    : api_(api), cache_(cache), options_(std::move(options)) {}

std::vector<MemberSlice> MemberSlices::current(const std::string& namespaceName,
                                               const std::string& topologyName) {
  const std::string label = memberSliceLabelValue(topologyName);
  std::map<std::string, MemberSlice> slices;
  for (const auto& slice : cache_.listNamespace(namespaceName)) {
    if (slice->label == label) {
      slices.emplace(slice->name, *slice);
    }
  }
  std::lock_guard lock(mutex_);
  if (auto mine = written_.find(namespaceName + "/" + topologyName); mine != written_.end()) {
    for (auto it = mine->second.begin(); it != mine->second.end();) {
      const auto cached = slices.find(it->first);
      const Written& written = it->second;
      bool stale = false;
      if (cached == slices.end()) {
        // Our create not cached yet: ours stands in. Anything else: deleted, and the cache knows.
        stale = written.slice && written.basedOn.empty();
      } else {
        stale = cached->second.resourceVersion == written.basedOn;
      }
      if (!stale) {
        it = mine->second.erase(it);
        continue;
      }
      if (written.slice) {
        slices[it->first] = *written.slice;
      } else {
        slices.erase(it->first);
      }
      ++it;
    }
  }
  std::vector<MemberSlice> out;
  out.reserve(slices.size());
  for (auto& [name, slice] : slices) {
    out.push_back(std::move(slice));
  }
  return out;
}

std::string MemberSlices::freeName(const std::string& namespaceName, const std::string& prefix) {
  std::set<std::string> taken;
  for (const auto& slice : cache_.listNamespace(namespaceName)) {
    taken.insert(slice->name);
  }
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, slices] : written_) {
      if (key.starts_with(namespaceName + "/")) {
        for (const auto& [name, written] : slices) {
          taken.insert(name);
        }
      }
    }
  }
  // "<label>-<n>": the suffix is digits only, so two topologies' names never collide.
  for (std::size_t n = 0;; ++n) {
    std::string name = prefix + "-" + std::to_string(n);
    if (!taken.contains(name)) {
      return name;
    }
  }
}

std::optional<CallOptions> MemberSlices::fence() const {
  if (!options_.writeFence) {
    return CallOptions{};
  }
  return options_.writeFence();
}

Result<void> MemberSlices::write(const std::string& topologyKey, const MemberSlice& slice,
                                 bool create, bool remove) {
  // Asked last thing before sending, as for status: leadership may have ended meanwhile.
  std::optional<CallOptions> call = fence();
  if (!call) {
    return Error{Error::Code::Cancelled, "not leading: member slices not written"};
  }
  {
    // Recorded before sending: the watch may bring the write back before its response does
    // (produced stays "" until the response names the version).
    std::lock_guard lock(mutex_);
    Written& pending = written_[topologyKey][slice.name];
    pending.basedOn = create ? std::string() : slice.resourceVersion;
    pending.produced.clear();
    pending.slice.reset();
    if (!remove) {
      pending.slice = slice;
      pending.slice->resourceVersion.clear();
    }
  }
  const ResourcePath collection = memberSlicesPath(slice.namespaceName);
  Result<nlohmann::json> written = nlohmann::json();
  if (remove) {
    // Preconditioned on the version planned against: a slice rewritten meanwhile (by another
    // leader, or by anyone) is not deleted on a stale view; Conflict makes the retry replan.
    const DeleteOptions planned{.preconditions = {.resourceVersion = slice.resourceVersion}};
    if (Result<void> removed = api_.remove(collection.object(slice.name), planned, *call);
        !removed && removed.error().code != Error::Code::NotFound) {
      written = removed.error();
    }
  } else if (create) {
    written = api_.create(collection, toJson(slice), *call);
  } else {
    written = api_.replace(collection.object(slice.name), toJson(slice), *call);
  }
  std::lock_guard lock(mutex_);
  if (!written) {
    written_.erase(topologyKey);
    return Error{written.error().code,
                 "member slice " + slice.name + ": " + written.error().message};
  }
  ++writes_;
  Written& entry = written_[topologyKey][slice.name];
  entry.basedOn = create ? std::string() : slice.resourceVersion;
  if (remove) {
    entry.produced.clear();
    entry.slice.reset();
  } else {
    entry.produced = metadataString(*written, "resourceVersion");
    entry.slice = slice;
    entry.slice->resourceVersion = entry.produced;
  }
  return {};
}

Result<std::optional<int>> MemberSlices::sync(const SliceOwner& owner,
                                              const std::vector<SliceMember>& members) {
  if (!cache_.isReady()) {
    return std::optional<int>();
  }
  const std::string key = owner.namespaceName + "/" + owner.name;
  const std::string label = memberSliceLabelValue(owner.name);
  SlicePlan plan = planMemberSlices(current(owner.namespaceName, owner.name), members, owner);
  // Creates and updates first: a member moving between slices is never absent from all of them.
  for (MemberSlice& slice : plan.creates) {
    slice.name = freeName(owner.namespaceName, label);
    slice.label = label;
    if (Result<void> done = write(key, slice, true, false); !done) {
      return done.error();
    }
  }
  for (MemberSlice& slice : plan.updates) {
    slice.label = label;
    if (Result<void> done = write(key, slice, false, false); !done) {
      return done.error();
    }
  }
  for (const MemberSlice& slice : plan.deletes) {
    // A slice labelled for this topology by another owner is keyed under its own topology.
    if (Result<void> done = write(key, slice, false, true); !done) {
      return done.error();
    }
  }
  if (!plan.empty()) {
    logDebug("member slices written", {{"object", key},
                                       {"created", plan.creates.size()},
                                       {"updated", plan.updates.size()},
                                       {"deleted", plan.deletes.size()},
                                       {"slices", plan.sliceCount}});
  }
  return std::optional<int>(plan.sliceCount);
}

Result<void> MemberSlices::removeAll(const std::string& namespaceName, const std::string& name) {
  const std::string key = namespaceName + "/" + name;
  for (const MemberSlice& slice : current(namespaceName, name)) {
    if (Result<void> done = write(key, slice, false, true); !done) {
      return done.error();
    }
  }
  return {};
}

bool MemberSlices::isOwnWrite(const MemberSlice& slice, bool deleted) const {
  std::lock_guard lock(mutex_);
  const auto mine = written_.find(slice.namespaceName + "/" + slice.ownerName);
  if (mine == written_.end()) {
    return false;
  }
  const auto entry = mine->second.find(slice.name);
  if (deleted) {
    return entry != mine->second.end() && !entry->second.slice;
  }
  if (entry == mine->second.end() || !entry->second.slice) {
    return false;
  }
  if (entry->second.produced.empty()) {
    // In flight: the echo can beat the response; ours when it holds exactly what we sent.
    MemberSlice sent = slice;
    sent.resourceVersion.clear();
    return *entry->second.slice == sent;
  }
  return *entry->second.slice == slice;
}

} // namespace libcluster
