#include "informer/object_store.h"

#include "core/json_field.h"

namespace libcluster {
namespace {

constexpr const char* kLastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

} // namespace

std::string metadataString(const nlohmann::json& object, std::string_view field) {
  return stringField(fieldOrNull(object, "metadata"), field);
}

std::string objectKey(const nlohmann::json& object) {
  const std::string name = metadataString(object, "name");
  if (name.empty()) {
    return "";
  }
  const std::string namespaceName = metadataString(object, "namespace");
  return namespaceName.empty() ? name : namespaceName + "/" + name;
}

std::string objectResourceVersion(const nlohmann::json& object) {
  return metadataString(object, "resourceVersion");
}

nlohmann::json stripObject(const nlohmann::json& object) {
  nlohmann::json stripped = object;
  if (!stripped.is_object()) {
    return stripped;
  }
  const auto metadata = stripped.find("metadata");
  if (metadata == stripped.end() || !metadata->is_object()) {
    return stripped;
  }
  metadata->erase("managedFields");
  metadata->erase("selfLink");
  if (auto annotations = metadata->find("annotations");
      annotations != metadata->end() && annotations->is_object()) {
    annotations->erase(kLastAppliedAnnotation);
    if (annotations->empty()) {
      metadata->erase(annotations);
    }
  }
  return stripped;
}

} // namespace libcluster
