#include "support/publish_members.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>

#include "api/member_slice.h"
#include "api/topology.h"
#include "support/resource_paths.h"

namespace libcluster {

Result<void> publishMembers(KubeApi& api, const std::string& namespaceName,
                            const std::string& topology, const std::vector<std::string>& members) {
  const ResourcePath topologies = clusterTopologies(namespaceName);
  const ResourcePath slices = clusterTopologyMemberSlices(namespaceName);
  Result<nlohmann::json> object = api.get(topologies.object(topology));
  if (!object) {
    return object.error();
  }
  const nlohmann::json& metadata = (*object)["metadata"];
  const std::string uid = metadata.value("uid", "");
  const std::int64_t generation = metadata.value("generation", std::int64_t{1});

  Result<nlohmann::json> existing = api.list(
      slices, ListOptions{.labelSelector = std::string(kMemberSliceTopologyLabel) + "=" +
                                           memberSliceLabelValue(topology)});
  if (!existing) {
    return existing.error();
  }
  std::set<std::string> stale;
  std::map<std::string, std::string> versions;
  for (const nlohmann::json& item : (*existing)["items"]) {
    const std::string name = item["metadata"].value("name", "");
    stale.insert(name);
    versions[name] = item["metadata"].value("resourceVersion", "");
  }

  std::vector<std::string> sorted = members;
  std::sort(sorted.begin(), sorted.end());
  const std::string seed = members.empty() ? "" : members.front();
  int count = 0;
  for (std::size_t first = 0; first < sorted.size(); first += kMaxSliceMembers, ++count) {
    MemberSlice slice{.namespaceName = namespaceName,
                      .name = topology + "-" + std::to_string(count),
                      .ownerName = topology,
                      .ownerUid = uid,
                      .label = memberSliceLabelValue(topology),
                      .topologyGeneration = generation};
    for (std::size_t i = first; i < std::min(sorted.size(), first + kMaxSliceMembers); ++i) {
      slice.members.push_back(SliceMember{.node = sorted[i], .seed = sorted[i] == seed});
    }
    stale.erase(slice.name);
    const auto version = versions.find(slice.name);
    if (version != versions.end()) {
      slice.resourceVersion = version->second;
    }
    Result<nlohmann::json> written = version == versions.end()
                                         ? api.create(slices, toJson(slice))
                                         : api.replace(slices.object(slice.name), toJson(slice));
    if (!written) {
      return written.error();
    }
  }
  for (const std::string& name : stale) {
    if (Result<void> removed = api.remove(slices.object(name)); !removed) {
      return removed.error();
    }
  }

  nlohmann::json status{{"members", nlohmann::json::array()},
                        {"memberCount", members.size()},
                        {"memberSliceCount", count}};
  if (!seed.empty()) {
    status["seed"] = seed;
  }
  // Status lists at most as many members as the CRD allows; the slices hold them all.
  for (std::size_t i = 0; i < std::min(members.size(), kMaxStatusMembers); ++i) {
    status["members"].push_back({{"node", members[i]}});
  }
  status["membersTruncated"] = members.size() > kMaxStatusMembers;
  ResourcePath path = topologies.object(topology);
  path.subresource = "status";
  Result<nlohmann::json> patched = api.mergePatch(path, {{"status", status}});
  if (!patched) {
    return patched.error();
  }
  return {};
}

} // namespace libcluster
