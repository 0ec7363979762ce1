#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/kube_api.h"

namespace libcluster {

/// Builds a v1 Pod as the apiserver returns it:
/// `nlohmann::json p = pod("app-0").ip("10.0.0.1").labels({{"app", "x"}}).ready();`
/// Defaults: namespace "default", phase Running, not ready, no IP, uid "uid-<name>".
class PodBuilder {
public:
  explicit PodBuilder(std::string name) : name_(std::move(name)) {}

  PodBuilder& inNamespace(std::string namespaceName) {
    namespace_ = std::move(namespaceName);
    return *this;
  }
  PodBuilder& ip(std::string address) {
    ip_ = std::move(address);
    return *this;
  }
  PodBuilder& labels(std::map<std::string, std::string> labels) {
    labels_ = std::move(labels);
    return *this;
  }
  PodBuilder& label(std::string key, std::string value) {
    labels_[std::move(key)] = std::move(value);
    return *this;
  }
  PodBuilder& annotation(std::string key, std::string value) {
    annotations_[std::move(key)] = std::move(value);
    return *this;
  }
  PodBuilder& ready(bool isReady = true) {
    ready_ = isReady;
    return *this;
  }
  PodBuilder& phase(std::string phase) {
    phase_ = std::move(phase);
    return *this;
  }
  PodBuilder& resourceVersion(std::string version) {
    resourceVersion_ = std::move(version);
    return *this;
  }
  PodBuilder& node(std::string nodeName) {
    node_ = std::move(nodeName);
    return *this;
  }
  PodBuilder& hostname(std::string hostname, std::string subdomain = "") {
    hostname_ = std::move(hostname);
    subdomain_ = std::move(subdomain);
    return *this;
  }
  /// Marks the pod as terminating (metadata.deletionTimestamp set).
  PodBuilder& deleting() {
    deleting_ = true;
    return *this;
  }

  nlohmann::json json() const {
    nlohmann::json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name_}, {"namespace", namespace_}, {"uid", "uid-" + name_}}},
        {"spec", {{"containers", {{{"name", "app"}, {"image", "app:latest"}}}}}},
        {"status",
         {{"phase", phase_},
          {"conditions", {{{"type", "Ready"}, {"status", ready_ ? "True" : "False"}}}}}},
    };
    nlohmann::json& metadata = pod["metadata"];
    if (!labels_.empty()) {
      metadata["labels"] = labels_;
    }
    if (!annotations_.empty()) {
      metadata["annotations"] = annotations_;
    }
    if (!resourceVersion_.empty()) {
      metadata["resourceVersion"] = resourceVersion_;
    }
    if (deleting_) {
      metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z";
    }
    if (!ip_.empty()) {
      pod["status"]["podIP"] = ip_;
      pod["status"]["podIPs"] = {{{"ip", ip_}}};
    }
    if (!node_.empty()) {
      pod["spec"]["nodeName"] = node_;
    }
    if (!hostname_.empty()) {
      pod["spec"]["hostname"] = hostname_;
    }
    if (!subdomain_.empty()) {
      pod["spec"]["subdomain"] = subdomain_;
    }
    return pod;
  }

  operator nlohmann::json() const { return json(); }

private:
  std::string name_;
  std::string namespace_ = "default";
  std::string ip_;
  std::map<std::string, std::string> labels_;
  std::map<std::string, std::string> annotations_;
  bool ready_ = false;
  std::string phase_ = "Running";
  std::string resourceVersion_;
  std::string node_;
  std::string hostname_;
  std::string subdomain_;
  bool deleting_ = false;
};

inline PodBuilder pod(std::string name) { return PodBuilder(std::move(name)); }

/// The `core/v1` pods collection, in one namespace or ("") all.
inline ResourcePath podsIn(std::string namespaceName = "") {
  return ResourcePath{.group = "",
                      .version = "v1",
                      .resource = "pods",
                      .namespaceName = std::move(namespaceName),
                      .name = "",
                      .subresource = ""};
}

/// One page of a LIST answer; `continueToken` "" marks the last page.
inline nlohmann::json listPage(std::vector<nlohmann::json> items, std::string resourceVersion,
                               std::string continueToken = "", std::string kind = "PodList") {
  nlohmann::json page = {{"apiVersion", "v1"},
                         {"kind", std::move(kind)},
                         {"metadata", {{"resourceVersion", std::move(resourceVersion)}}},
                         {"items", std::move(items)}};
  if (!continueToken.empty()) {
    page["metadata"]["continue"] = std::move(continueToken);
  }
  return page;
}

inline RawWatchEvent added(nlohmann::json object) {
  return RawWatchEvent{"ADDED", std::move(object)};
}
inline RawWatchEvent modified(nlohmann::json object) {
  return RawWatchEvent{"MODIFIED", std::move(object)};
}
inline RawWatchEvent deleted(nlohmann::json object) {
  return RawWatchEvent{"DELETED", std::move(object)};
}
/// A BOOKMARK carries only kind, apiVersion and metadata.resourceVersion.
inline RawWatchEvent bookmark(std::string resourceVersion) {
  return RawWatchEvent{"BOOKMARK",
                       {{"kind", "Pod"},
                        {"apiVersion", "v1"},
                        {"metadata", {{"resourceVersion", std::move(resourceVersion)}}}}};
}
/// An ERROR line: a metav1.Status.
inline RawWatchEvent watchError(int code, std::string reason, std::string message) {
  return RawWatchEvent{"ERROR",
                       {{"kind", "Status"},
                        {"apiVersion", "v1"},
                        {"metadata", nlohmann::json::object()},
                        {"status", "Failure"},
                        {"message", std::move(message)},
                        {"reason", std::move(reason)},
                        {"code", code}}};
}

} // namespace libcluster
