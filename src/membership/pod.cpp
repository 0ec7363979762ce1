#include "membership/pod.h"

#include <charconv>

#include "core/json_field.h"

namespace libcluster {
namespace {

using nlohmann::json;

std::optional<int> statefulSetOrdinal(const json& metadata, const std::string& name) {
  const json& owners = fieldOrNull(metadata, "ownerReferences");
  if (!owners.is_array()) {
    return std::nullopt;
  }
  for (const json& owner : owners) {
    if (stringField(owner, "kind") != "StatefulSet") {
      continue;
    }
    const std::string set = stringField(owner, "name");
    if (name.size() <= set.size() + 1 || name.compare(0, set.size(), set) != 0 ||
        name[set.size()] != '-') {
      return std::nullopt;
    }
    int ordinal = 0;
    const char* first = name.data() + set.size() + 1;
    const char* last = name.data() + name.size();
    auto [end, error] = std::from_chars(first, last, ordinal);
    if (error != std::errc() || end != last || ordinal < 0) {
      return std::nullopt;
    }
    return ordinal;
  }
  return std::nullopt;
}

} // namespace

const std::vector<std::string>& podFields() {
  static const std::vector<std::string> kFields = {
      "metadata.name",          "metadata.namespace",         "metadata.uid",
      "metadata.resourceVersion", "metadata.creationTimestamp", "metadata.deletionTimestamp",
      "metadata.labels",        "metadata.ownerReferences.kind", "metadata.ownerReferences.name",
      "spec.hostname",          "spec.subdomain",             "status.phase",
      "status.podIP",           "status.podIPs.ip",           "status.conditions.type",
      "status.conditions.status", "status.conditions.message",
  };
  return kFields;
}

std::optional<PodInfo> podFromJson(const json& pod) {
  const json& metadata = fieldOrNull(pod, "metadata");
  PodInfo info;
  info.name = stringField(metadata, "name");
  if (info.name.empty()) {
    return std::nullopt;
  }
  info.namespaceName = stringField(metadata, "namespace");
  info.uid = stringField(metadata, "uid");
  info.resourceVersion = stringField(metadata, "resourceVersion");
  info.creationTimestamp = stringField(metadata, "creationTimestamp");
  const json& deletion = fieldOrNull(metadata, "deletionTimestamp");
  info.terminating = !deletion.is_null();
  if (const json& labels = fieldOrNull(metadata, "labels"); labels.is_object()) {
    std::vector<std::pair<std::string, std::string>> pairs;
    pairs.reserve(labels.size());
    for (const auto& [key, value] : labels.items()) {
      if (value.is_string()) {
        pairs.emplace_back(key, value.get<std::string>());
      }
    }
    info.labels = Labels::fromPairs(std::move(pairs));
  }
  info.ordinal = statefulSetOrdinal(metadata, info.name);

  const json& spec = fieldOrNull(pod, "spec");
  info.hostname = stringField(spec, "hostname");
  info.subdomain = stringField(spec, "subdomain");

  const json& status = fieldOrNull(pod, "status");
  info.phase = stringField(status, "phase");
  info.podIP = stringField(status, "podIP");
  if (const json& ips = fieldOrNull(status, "podIPs"); ips.is_array()) {
    for (const json& ip : ips) {
      std::string address = stringField(ip, "ip");
      if (!address.empty()) {
        info.podIPs.push_back(std::move(address));
      }
    }
  }
  if (info.podIPs.empty() && !info.podIP.empty()) {
    info.podIPs.push_back(info.podIP);
  }
  if (const json& conditions = fieldOrNull(status, "conditions"); conditions.is_array()) {
    for (const json& condition : conditions) {
      const std::string type = stringField(condition, "type");
      const std::string value = stringField(condition, "status");
      if (type == "Ready") {
        info.ready = value == "True";
      } else if (type == kConnectedConditionType && (value == "True" || value == "False")) {
        info.connected = value == "True";
        info.connectedMessage = stringField(condition, "message");
      }
    }
  }
  return info;
}

} // namespace libcluster
