#include "membership/pod.h"

#include <charconv>

namespace libcluster {
namespace {

using nlohmann::json;

std::string text(const json& object, const char* key) {
  if (!object.is_object()) {
    return {};
  }
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const json& child(const json& object, const char* key) {
  static const json empty = json::object();
  if (!object.is_object()) {
    return empty;
  }
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : empty;
}

std::optional<int> statefulSetOrdinal(const json& metadata, const std::string& name) {
  auto owners = metadata.find("ownerReferences");
  if (owners == metadata.end() || !owners->is_array()) {
    return std::nullopt;
  }
  for (const json& owner : *owners) {
    if (text(owner, "kind") != "StatefulSet") {
      continue;
    }
    const std::string set = text(owner, "name");
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

std::optional<PodInfo> podFromJson(const json& pod) {
  const json& metadata = child(pod, "metadata");
  PodInfo info;
  info.name = text(metadata, "name");
  if (info.name.empty()) {
    return std::nullopt;
  }
  info.namespaceName = text(metadata, "namespace");
  info.uid = text(metadata, "uid");
  info.resourceVersion = text(metadata, "resourceVersion");
  info.creationTimestamp = text(metadata, "creationTimestamp");
  info.terminating = metadata.contains("deletionTimestamp") && !metadata["deletionTimestamp"].is_null();
  for (const auto& [key, value] : child(metadata, "labels").items()) {
    if (value.is_string()) {
      info.labels[key] = value.get<std::string>();
    }
  }
  info.ordinal = statefulSetOrdinal(metadata, info.name);

  const json& spec = child(pod, "spec");
  info.hostname = text(spec, "hostname");
  info.subdomain = text(spec, "subdomain");

  const json& status = child(pod, "status");
  info.phase = text(status, "phase");
  info.podIP = text(status, "podIP");
  if (auto ips = status.find("podIPs"); ips != status.end() && ips->is_array()) {
    for (const json& ip : *ips) {
      const std::string address = text(ip, "ip");
      if (!address.empty()) {
        info.podIPs.push_back(address);
      }
    }
  }
  if (info.podIPs.empty() && !info.podIP.empty()) {
    info.podIPs.push_back(info.podIP);
  }
  if (auto conditions = status.find("conditions"); conditions != status.end() && conditions->is_array()) {
    for (const json& condition : *conditions) {
      const std::string type = text(condition, "type");
      const std::string value = text(condition, "status");
      if (type == "Ready") {
        info.ready = value == "True";
      } else if (type == kConnectedConditionType && (value == "True" || value == "False")) {
        info.connected = value == "True";
        info.connectedMessage = text(condition, "message");
      }
    }
  }
  return info;
}

} // namespace libcluster
