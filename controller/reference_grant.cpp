#include "controller/reference_grant.h"

#include <algorithm>

#include "core/json_field.h"

namespace libcluster {

std::optional<ReferenceGrant> referenceGrantFromJson(const nlohmann::json& object) {
  if (!object.is_object() || !object.contains("metadata")) {
    return std::nullopt;
  }
  ReferenceGrant grant;
  grant.namespaceName = stringField(object["metadata"], "namespace");
  grant.name = stringField(object["metadata"], "name");
  if (grant.namespaceName.empty()) {
    return std::nullopt;
  }
  auto spec = object.find("spec");
  if (spec != object.end() && spec->is_object()) {
    auto from = spec->find("from");
    if (from != spec->end() && from->is_array()) {
      for (const nlohmann::json& entry : *from) {
        ReferenceGrant::From item{stringField(entry, "namespace"), stringField(entry, "name")};
        if (!item.namespaceName.empty()) {
          grant.from.push_back(std::move(item));
        }
      }
    }
  }
  return grant;
}

bool isReferenceGranted(const std::vector<std::shared_ptr<const ReferenceGrant>>& grants,
                        const std::string& fromNamespace, const std::string& topologyName,
                        const std::string& targetNamespace) {
  if (fromNamespace == targetNamespace) {
    return true;
  }
  return std::any_of(grants.begin(), grants.end(), [&](const auto& grant) {
    return grant->namespaceName == targetNamespace &&
           std::any_of(grant->from.begin(), grant->from.end(), [&](const ReferenceGrant::From& f) {
             return f.namespaceName == fromNamespace && (f.name.empty() || f.name == topologyName);
           });
  });
}

} // namespace libcluster
