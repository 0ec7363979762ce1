#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/member_slice.h"
#include "api/resource_paths.h"
#include "informer/object_store.h"
#include "kube/kube_api.h"
#include "membership/membership.h"

namespace libcluster {

/// The ClusterTopology whose membership the slices hold.
struct SliceOwner {
  std::string namespaceName;
  std::string name;
  std::string uid;
  std::int64_t generation = 0;
};

/// The writes that bring a topology's slices to a membership. Creates have no name yet (the writer
/// names them); updates and deletes carry the resourceVersion they were planned against.
struct SlicePlan {
  std::vector<MemberSlice> creates;
  std::vector<MemberSlice> updates;
  std::vector<MemberSlice> deletes;
  /// The topology's slices once the plan is carried out.
  int sliceCount = 0;

  bool empty() const { return creates.empty() && updates.empty() && deletes.empty(); }
};

/// A member as a slice lists it, read in place from where it is kept (a SliceMember, or a
/// candidate's Member and whether it is the seed): a plan copies only the members it writes.
/// What it points to must outlive the plan.
struct SliceMemberView {
  const std::string* node = nullptr;
  const std::string* pod = nullptr;
  const std::vector<std::string>* ips = nullptr;
  bool ready = true;
  bool seed = false;

  static SliceMemberView of(const SliceMember& member);
  static SliceMemberView of(const Member& member, bool seed);
  SliceMember copy() const;
  bool operator==(const SliceMember& member) const;
};

std::vector<SliceMemberView> viewsOf(const std::vector<SliceMember>& members);

/// Plans the fewest slice writes that make the union of `current` (every slice labelled with the
/// topology, whoever owns it) equal `desired`, packing as the EndpointSlice controller does: a
/// member that changes is rewritten in its slice, one that leaves is removed from its slice, one
/// that joins goes into the slice with the most room (slices written anyway first), and a new
/// slice is made only when every slice is full. When more than one member changed, slices under a
/// quarter full are merged. Slices owned by another uid (an earlier topology of the same name) are
/// deleted; emptied slices are deleted. Every written slice carries owner.generation, and one slice
/// is rewritten for it when none does (so agents learn of a new spec). Pure.
SlicePlan planMemberSlices(const std::vector<const MemberSlice*>& current,
                           const std::vector<SliceMemberView>& desired, const SliceOwner& owner,
                           std::size_t maxPerSlice = kMaxSliceMembers);
SlicePlan planMemberSlices(const std::vector<MemberSlice>& current,
                           const std::vector<SliceMember>& desired, const SliceOwner& owner,
                           std::size_t maxPerSlice = kMaxSliceMembers);

/// The members slices list, from the same union status is built from (first source's candidate
/// wins per node; sorted by node), `seed` marked: views into `sources`.
std::vector<SliceMemberView> sliceMembers(const std::vector<SourceSnapshot>& sources,
                                          const std::string& seed);


/// Writes ClusterTopologyMemberSlices (docs/membership-channel.md) for the reconcile worker: plans
/// against the informer cache of slices, overlaid with its own writes the cache has not caught up
/// with yet, then creates and updates before it deletes, so an agent watching the slices never
/// sees a member missing that stays a member. Updates are preconditioned on resourceVersion; every
/// write is fenced like status writes (`writeFence` asked right before each; nullopt = not
/// leading, nothing written). One thread writes; isOwnWrite may be called from any.
class MemberSlices {
public:
  struct Options {
    std::function<std::optional<CallOptions>()> writeFence{};
  };

  MemberSlices(KubeApi& api, const ObjectStore<MemberSlice>& cache, Options options);

  /// Brings `owner`'s slices to `members`. The topology's slice count, or nullopt when the slice
  /// cache has not synced (nothing is written: planning against an unknown set would duplicate).
  /// A failed write is an Error and forgets the overlay, so the retry plans from the cache.
  Result<std::optional<int>> sync(const SliceOwner& owner,
                                  const std::vector<SliceMemberView>& members);
  Result<std::optional<int>> sync(const SliceOwner& owner, const std::vector<SliceMember>& members);

  /// Deletes every slice labelled with topology (namespace, name): for a topology seen deleted,
  /// where no garbage collector does it. Fenced like the other writes.
  Result<void> removeAll(const std::string& namespaceName, const std::string& name);

  /// Whether `slice` is exactly what one of our writes produced, or (`deleted`) a slice we deleted:
  /// its watch event needs no reconcile.
  bool isOwnWrite(const MemberSlice& slice, bool deleted = false) const;
  std::uint64_t writes() const { return writes_.load(); }

private:
  /// The topology's labelled slices: the cache, with our writes it has not seen yet in place.
  /// Shared with the cache and the overlay, not copied.
  std::vector<std::shared_ptr<const MemberSlice>> current(const std::string& namespaceName,
                                                          const std::string& label);
  Result<void> write(const std::string& topologyKey, const MemberSlice& slice, bool create,
                     bool remove);
  std::string freeName(const std::string& namespaceName, const std::string& prefix);
  std::optional<CallOptions> fence() const;

  KubeApi& api_;
  const ObjectStore<MemberSlice>& cache_;
  Options options_;
  std::atomic<std::uint64_t> writes_{0};

  /// Our writes the cache may lag: per topology key, per slice name.
  struct Written {
    std::string basedOn;  // "" for a create
    std::string produced; // "" for a delete
    std::shared_ptr<const MemberSlice> slice; // null: deleted
  };
  mutable std::mutex mutex_;
  std::map<std::string, std::map<std::string, Written>> written_;
};

} // namespace libcluster
