#include "api/member_slice.h"

#include <algorithm>
#include <cstdio>
#include <set>

namespace libcluster {
namespace {

const nlohmann::json& field(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) {
    return kNull;
  }
  const auto found = object.find(key);
  return found == object.end() ? kNull : *found;
}

std::string text(const nlohmann::json& object, const char* key) {
  const nlohmann::json& value = field(object, key);
  return value.is_string() ? value.get<std::string>() : std::string();
}

} // namespace

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
  const nlohmann::json& metadata = field(object, "metadata");
  MemberSlice slice;
  slice.name = text(metadata, "name");
  if (slice.name.empty()) {
    return std::nullopt;
  }
  slice.namespaceName = text(metadata, "namespace");
  slice.resourceVersion = text(metadata, "resourceVersion");
  slice.label = text(field(metadata, "labels"), kMemberSliceTopologyLabel);
  if (const nlohmann::json& owners = field(metadata, "ownerReferences"); owners.is_array()) {
    for (const nlohmann::json& owner : owners) {
      const nlohmann::json& controller = field(owner, "controller");
      if (controller.is_boolean() && controller.get<bool>() &&
          text(owner, "kind") == "ClusterTopology") {
        slice.ownerName = text(owner, "name");
        slice.ownerUid = text(owner, "uid");
        break;
      }
    }
  }
  if (const nlohmann::json& generation = field(object, "topologyGeneration");
      generation.is_number_integer()) {
    slice.topologyGeneration = generation.get<std::int64_t>();
  }
  std::set<std::string> seen;
  if (const nlohmann::json& members = field(object, "members"); members.is_array()) {
    for (const nlohmann::json& entry : members) {
      SliceMember member;
      member.node = text(entry, "node");
      if (member.node.empty() || !seen.insert(member.node).second) {
        continue;
      }
      member.pod = text(entry, "pod");
      if (const nlohmann::json& ips = field(entry, "ips"); ips.is_array()) {
        for (const nlohmann::json& ip : ips) {
          if (ip.is_string()) {
            member.ips.push_back(ip.get<std::string>());
          }
        }
      }
      const nlohmann::json& ready = field(entry, "ready");
      member.ready = !ready.is_boolean() || ready.get<bool>();
      const nlohmann::json& seed = field(entry, "seed");
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
      {"ownerReferences",
       nlohmann::json::array({{{"apiVersion", "libcluster.dev/v1alpha1"},
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
  return {{"apiVersion", "libcluster.dev/v1alpha1"},
          {"kind", "ClusterTopologyMemberSlice"},
          {"metadata", std::move(metadata)},
          {"topologyGeneration", slice.topologyGeneration},
          {"memberCount", slice.members.size()},
          {"members", std::move(members)}};
}

} // namespace libcluster
