#include "controller/member_slices.h"

#include <algorithm>
#include <set>
#include <string_view>

#include "core/log.h"

namespace libcluster {
namespace {

bool nodeBefore(const SliceMemberView* a, const SliceMemberView* b) { return *a->node < *b->node; }

/// One slice as the plan goes: its members are pointers into the desired list, and a slice is
/// copied into the plan only when it is written (a reconcile of a big topology after one member
/// changed copies one slice, not all of them).
struct Working {
  const MemberSlice* existing = nullptr; // null: a slice to create
  std::vector<const SliceMemberView*> members;
  std::int64_t generation = 0;
  bool changed = false;
};

MemberSlice writtenSlice(const Working& work, const SliceOwner& owner) {
  MemberSlice slice;
  if (work.existing != nullptr) {
    slice.namespaceName = work.existing->namespaceName;
    slice.name = work.existing->name;
    slice.resourceVersion = work.existing->resourceVersion;
    slice.ownerName = work.existing->ownerName;
    slice.ownerUid = work.existing->ownerUid;
    slice.label = work.existing->label;
  } else {
    slice.namespaceName = owner.namespaceName;
    slice.ownerName = owner.name;
    slice.ownerUid = owner.uid;
  }
  slice.topologyGeneration = work.generation;
  std::vector<const SliceMemberView*> members = work.members;
  std::sort(members.begin(), members.end(), nodeBefore);
  slice.members.reserve(members.size());
  for (const SliceMemberView* member : members) {
    slice.members.push_back(member->copy());
  }
  return slice;
}

} // namespace

SlicePlan planMemberSlices(const std::vector<const MemberSlice*>& current,
                           const std::vector<SliceMemberView>& desiredList,
                           const SliceOwner& owner, std::size_t maxPerSlice) {
  SlicePlan plan;
  // The desired members by node (the first of a node listed twice).
  std::vector<const SliceMemberView*> desired;
  desired.reserve(desiredList.size());
  for (const SliceMemberView& member : desiredList) {
    desired.push_back(&member);
  }
  if (!std::is_sorted(desired.begin(), desired.end(), nodeBefore)) {
    std::stable_sort(desired.begin(), desired.end(), nodeBefore);
  }
  desired.erase(std::unique(desired.begin(), desired.end(),
                            [](const SliceMemberView* a, const SliceMemberView* b) {
                              return *a->node == *b->node;
                            }),
                desired.end());
  constexpr std::size_t kAbsent = static_cast<std::size_t>(-1);
  const auto find = [&desired](const std::string& node) {
    const auto at = std::lower_bound(desired.begin(), desired.end(), node,
                                     [](const SliceMemberView* member, const std::string& name) {
                                       return *member->node < name;
                                     });
    return at != desired.end() && *(*at)->node == node
               ? static_cast<std::size_t>(at - desired.begin())
               : kAbsent;
  };

  std::vector<const MemberSlice*> ordered = current;
  // By name, so the same inputs always give the same plan.
  std::sort(ordered.begin(), ordered.end(),
            [](const MemberSlice* a, const MemberSlice* b) { return a->name < b->name; });

  std::vector<Working> work;
  std::vector<char> placed(desired.size(), 0);
  std::size_t changes = 0;
  for (const MemberSlice* slice : ordered) {
    if (slice->ownerUid != owner.uid || slice->ownerName != owner.name) {
      plan.deletes.push_back(*slice);
      continue;
    }
    Working entry{slice, {}, slice->topologyGeneration, false};
    entry.members.reserve(slice->members.size());
    for (const SliceMember& member : slice->members) {
      const std::size_t wanted = find(member.node);
      // Gone, listed twice, or beyond what a slice may hold (not written by us): drop it here.
      if (wanted == kAbsent || placed[wanted] != 0 || entry.members.size() >= maxPerSlice) {
        entry.changed = true;
        changes += wanted == kAbsent ? 1 : 0;
        continue;
      }
      placed[wanted] = 1;
      if (!(*desired[wanted] == member)) {
        entry.changed = true;
        ++changes;
      }
      entry.members.push_back(desired[wanted]);
    }
    work.push_back(std::move(entry));
  }

  const auto room = [maxPerSlice](const Working& w) {
    return maxPerSlice - std::min(maxPerSlice, w.members.size());
  };
  for (std::size_t d = 0; d < desired.size(); ++d) {
    if (placed[d] != 0) {
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
      work.push_back(Working{nullptr, {}, 0, true});
      best = work.size() - 1;
    }
    work[*best].members.push_back(desired[d]);
    work[*best].changed = true;
  }

  if (changes > 1) {
    // Merge slices under a quarter full: the smallest moves into the fullest small one it fits.
    const std::size_t small = std::max<std::size_t>(1, maxPerSlice / 4);
    while (true) {
      std::vector<std::size_t> candidates;
      for (std::size_t i = 0; i < work.size(); ++i) {
        const std::size_t size = work[i].members.size();
        if (size > 0 && size < small) {
          candidates.push_back(i);
        }
      }
      std::sort(candidates.begin(), candidates.end(), [&](std::size_t a, std::size_t b) {
        return work[a].members.size() < work[b].members.size();
      });
      bool merged = false;
      for (std::size_t c = 0; c < candidates.size() && !merged; ++c) {
        Working& from = work[candidates[c]];
        for (std::size_t t = candidates.size(); t-- > 0 && !merged;) {
          Working& into = work[candidates[t]];
          if (t != c && room(into) >= from.members.size()) {
            into.members.insert(into.members.end(), from.members.begin(), from.members.end());
            from.members.clear();
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
      entry.generation = owner.generation;
    }
    if (!entry.members.empty() && entry.generation == owner.generation) {
      generationListed = true;
    }
  }
  if (!generationListed) {
    for (Working& entry : work) {
      if (!entry.members.empty()) {
        entry.generation = owner.generation;
        entry.changed = true;
        break;
      }
    }
  }
  for (const Working& entry : work) {
    if (entry.members.empty()) {
      if (entry.existing != nullptr) {
        plan.deletes.push_back(*entry.existing);
      }
      continue;
    }
    ++plan.sliceCount;
    if (entry.changed) {
      (entry.existing != nullptr ? plan.updates : plan.creates)
          .push_back(writtenSlice(entry, owner));
    }
  }
  return plan;
}

SlicePlan planMemberSlices(const std::vector<MemberSlice>& current,
                           const std::vector<SliceMember>& desired, const SliceOwner& owner,
                           std::size_t maxPerSlice) {
  std::vector<const MemberSlice*> slices;
  slices.reserve(current.size());
  for (const MemberSlice& slice : current) {
    slices.push_back(&slice);
  }
  return planMemberSlices(slices, viewsOf(desired), owner, maxPerSlice);
}

SliceMemberView SliceMemberView::of(const SliceMember& member) {
  return {&member.node, &member.pod, &member.ips, member.ready, member.seed};
}

SliceMemberView SliceMemberView::of(const Member& member, bool seed) {
  return {&member.node, &member.pod, &member.ips, member.ready, seed};
}

SliceMember SliceMemberView::copy() const { return SliceMember{*node, *pod, *ips, ready, seed}; }

bool SliceMemberView::operator==(const SliceMember& member) const {
  return *node == member.node && *pod == member.pod && *ips == member.ips &&
         ready == member.ready && seed == member.seed;
}

std::vector<SliceMemberView> viewsOf(const std::vector<SliceMember>& members) {
  std::vector<SliceMemberView> views;
  views.reserve(members.size());
  for (const SliceMember& member : members) {
    views.push_back(SliceMemberView::of(member));
  }
  return views;
}

std::vector<SliceMemberView> sliceMembers(const std::vector<SourceSnapshot>& sources,
                                          const std::string& seed) {
  const std::vector<const Candidate*> unique = membersByNode(sources);
  std::vector<SliceMemberView> out;
  out.reserve(unique.size());
  for (const Candidate* candidate : unique) {
    out.push_back(SliceMemberView::of(candidate->member, candidate->member.node == seed));
  }
  return out;
}

MemberSlices::MemberSlices(KubeApi& api, const ObjectStore<MemberSlice>& cache, Options options)
    : api_(api), cache_(cache), options_(std::move(options)) {}

std::vector<std::shared_ptr<const MemberSlice>>
MemberSlices::current(const std::string& namespaceName, const std::string& topologyName) {
  const std::string label = memberSliceLabelValue(topologyName);
  std::map<std::string, std::shared_ptr<const MemberSlice>> slices;
  for (std::shared_ptr<const MemberSlice>& slice : cache_.listNamespace(namespaceName)) {
    if (slice->label == label) {
      std::string name = slice->name;
      slices.emplace(std::move(name), std::move(slice));
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
        stale = cached->second->resourceVersion == written.basedOn;
      }
      if (!stale) {
        it = mine->second.erase(it);
        continue;
      }
      if (written.slice) {
        slices[it->first] = written.slice;
      } else {
        slices.erase(it->first);
      }
      ++it;
    }
  }
  std::vector<std::shared_ptr<const MemberSlice>> out;
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
      auto sent = std::make_shared<MemberSlice>(slice);
      sent->resourceVersion.clear();
      pending.slice = std::move(sent);
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
    auto stored = std::make_shared<MemberSlice>(slice);
    stored->resourceVersion = entry.produced;
    entry.slice = std::move(stored);
  }
  return {};
}

Result<std::optional<int>> MemberSlices::sync(const SliceOwner& owner,
                                              const std::vector<SliceMember>& members) {
  return sync(owner, viewsOf(members));
}

Result<std::optional<int>> MemberSlices::sync(const SliceOwner& owner,
                                              const std::vector<SliceMemberView>& members) {
  if (!cache_.isReady()) {
    return std::optional<int>();
  }
  const std::string key = owner.namespaceName + "/" + owner.name;
  const std::string label = memberSliceLabelValue(owner.name);
  const std::vector<std::shared_ptr<const MemberSlice>> slices =
      current(owner.namespaceName, owner.name);
  std::vector<const MemberSlice*> planned;
  planned.reserve(slices.size());
  for (const std::shared_ptr<const MemberSlice>& slice : slices) {
    planned.push_back(slice.get());
  }
  SlicePlan plan = planMemberSlices(planned, members, owner);
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
  for (const std::shared_ptr<const MemberSlice>& slice : current(namespaceName, name)) {
    if (Result<void> done = write(key, *slice, false, true); !done) {
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
