#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/labels.h"

namespace libcluster {

/// The pod condition an agent patches on its own pod to report what it sees; the controller folds
/// it into status.members[].connected. True: connected to every other member.
inline constexpr const char* kConnectedConditionType = "libcluster.dev/Connected";

/// The parts of a Pod that membership needs; everything else is dropped before caching.
struct PodInfo {
  std::string name;
  std::string namespaceName;
  std::string uid;
  std::string resourceVersion;
  Labels labels;
  std::string podIP;
  std::vector<std::string> podIPs;
  std::string hostname;
  std::string subdomain;
  std::string phase;
  bool ready = false;
  bool terminating = false;
  std::string creationTimestamp;
  /// The StatefulSet ordinal when a StatefulSet owns the pod (name "<set>-<n>").
  std::optional<int> ordinal;
  /// The agent's report (condition libcluster.dev/Connected), if any.
  std::optional<bool> connected;
  std::string connectedMessage;

  std::string key() const { return namespaceName + "/" + name; }
  bool operator==(const PodInfo&) const = default;
};

/// Reads a Pod object; nullopt if it lacks a name. Never throws.
std::optional<PodInfo> podFromJson(const nlohmann::json& pod);

/// The fields of a Pod podFromJson reads, as dotted paths (ListOptions::onlyFields): a cache of
/// PodInfo lists and watches only these, and leaves out the containers, volumes and statuses
/// that make up most of a pod.
const std::vector<std::string>& podFields();

} // namespace libcluster
