#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace libcluster {

/// The label every ClusterTopologyMemberSlice carries: its topology's memberSliceLabelValue.
inline constexpr const char* kMemberSliceTopologyLabel = "libcluster.dev/topology";
/// The most members one slice holds (the CRD's maxItems).
inline constexpr std::size_t kMaxSliceMembers = 100;

/// One entry of a ClusterTopologyMemberSlice's members: what an agent needs of a member.
struct SliceMember {
  std::string node{};
  std::string pod{};
  std::vector<std::string> ips{};
  bool ready = true;
  /// The topology's seed (status.seed).
  bool seed = false;

  bool operator==(const SliceMember&) const = default;
};

/// A ClusterTopologyMemberSlice (crds/clustertopologymemberslices.libcluster.dev.yaml) as both
/// binaries read it. `ownerName`/`ownerUid` are its controller ownerReference (empty without one).
struct MemberSlice {
  std::string namespaceName{};
  std::string name{};
  std::string resourceVersion{};
  std::string ownerName{};
  std::string ownerUid{};
  /// Its kMemberSliceTopologyLabel value.
  std::string label{};
  std::int64_t topologyGeneration = 0;
  /// Sorted by node, no duplicates.
  std::vector<SliceMember> members{};

  bool operator==(const MemberSlice&) const = default;
};

/// The value of kMemberSliceTopologyLabel for topology `name`: the name itself when it fits a label
/// value (63 characters), else its first 52 characters, '-' and 10 hex digits of its FNV-1a hash.
std::string memberSliceLabelValue(const std::string& topologyName);

/// Reads a slice leniently (the API server validated it against the CRD): members without a node
/// name are dropped, duplicates keep their first entry, and the members end up sorted by node.
/// nullopt when the object has no metadata.name. Never throws.
std::optional<MemberSlice> memberSliceFromJson(const nlohmann::json& object);

/// The object to create or replace: apiVersion, kind, metadata (name, namespace, the label, a
/// controller ownerReference to ClusterTopology `ownerName`/`ownerUid`, and resourceVersion when
/// set), topologyGeneration, memberCount and members.
nlohmann::json toJson(const MemberSlice& slice);

} // namespace libcluster
