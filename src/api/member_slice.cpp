#include "api/member_slice.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "core/json_field.h"

namespace libcluster {

std::string memberSliceLabelValue(const std::string& topologyName) {
  constexpr std::size_t kMaxLabelValue = 63;
  if (topologyName.size() <= kMaxLabelValue) {
    return topologyName;
  }
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : topologyName) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  char digits[17];
  std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(hash));
  // 52 + 1 + 10 = 63; the hash digits end the value with an alphanumeric, as a label value must.
  std::string prefix = topologyName.substr(0, 52);
  return prefix + "-" + std::string(digits, 10);
}

std::optional<MemberSlice> memberSliceFromJson(const nlohmann::json& object) {
  const nlohmann::json& metadata = fieldOrNull(object, "metadata");
  MemberSlice slice;
  slice.name = stringField(metadata, "name");
  if (slice.name.empty()) {
    return std::nullopt;
  }
  slice.namespaceName = stringField(metadata, "namespace");
  slice.resourceVersion = stringField(metadata, "resourceVersion");
  slice.label = stringField(fieldOrNull(metadata, "labels"), kMemberSliceTopologyLabel);
  if (const nlohmann::json& owners = fieldOrNull(metadata, "ownerReferences"); owners.is_array()) {
    for (const nlohmann::json& owner : owners) {
      const nlohmann::json& controller = fieldOrNull(owner, "controller");
      if (controller.is_boolean() && controller.get<bool>() &&
          stringField(owner, "kind") == "ClusterTopology") {
        slice.ownerName = stringField(owner, "name");
        slice.ownerUid = stringField(owner, "uid");
        break;
      }
    }
  }
  if (const nlohmann::json& generation = fieldOrNull(object, "topologyGeneration");
      generation.is_number_integer()) {
    slice.topologyGeneration = generation.get<std::int64_t>();
  }
  std::set<std::string> seen;
  if (const nlohmann::json& members = fieldOrNull(object, "members"); members.is_array()) {
    for (const nlohmann::json& entry : members) {
      SliceMember member;
      member.node = stringField(entry, "node");
      if (member.node.empty() || !seen.insert(member.node).second) {
        continue;
      }
      member.pod = stringField(entry, "pod");
      member.ips = stringList(entry, "ips");
      const nlohmann::json& ready = fieldOrNull(entry, "ready");
      member.ready = !ready.is_boolean() || ready.get<bool>();
      const nlohmann::json& seed = fieldOrNull(entry, "seed");
      member.seed = seed.is_boolean() && seed.get<bool>();
      slice.members.push_back(std::move(member));
    }
  }
  std::sort(slice.members.begin(), slice.members.end(),
            [](const SliceMember& a, const SliceMember& b) { return a.node < b.node; });
  return slice;
}

nlohmann::json toJson(const MemberSlice& slice) {
  nlohmann::json metadata{
      {"name", slice.name},
      {"namespace", slice.namespaceName},
      {"labels", {{kMemberSliceTopologyLabel, memberSliceLabelValue(slice.ownerName)}}},
      {"ownerReferences", nlohmann::json::array({{{"apiVersion", "libcluster.dev/v1alpha1"},
                                                  {"kind", "ClusterTopology"},
                                                  {"name", slice.ownerName},
                                                  {"uid", slice.ownerUid},
                                                  {"controller", true},
                                                  {"blockOwnerDeletion", true}}})}};
  if (!slice.resourceVersion.empty()) {
    metadata["resourceVersion"] = slice.resourceVersion;
  }
  nlohmann::json members = nlohmann::json::array();
  for (const SliceMember& member : slice.members) {
    nlohmann::json entry{{"node", member.node}};
    if (!member.pod.empty()) {
      entry["pod"] = member.pod;
    }
    if (!member.ips.empty()) {
      entry["ips"] = member.ips;
    }
    entry["ready"] = member.ready;
    if (member.seed) {
      entry["seed"] = true;
    }
    members.push_back(std::move(entry));
  }
  return {
      {"apiVersion", "libcluster.dev/v1alpha1"}, {"kind", "ClusterTopologyMemberSlice"},
      {"metadata", std::move(metadata)},         {"topologyGeneration", slice.topologyGeneration},
      {"memberCount", slice.members.size()},     {"members", std::move(members)}};
}

} // namespace libcluster
