#include "core/json_field.h"

#include <nlohmann/json.hpp>

namespace libcluster {

const nlohmann::json& fieldOrNull(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) {
    return kNull;
  }
  const auto found = object.find(key);
  return found == object.end() ? kNull : *found;
}

std::string stringField(const nlohmann::json& object, std::string_view key) {
  const nlohmann::json& value = fieldOrNull(object, key);
  return value.is_string() ? value.get<std::string>() : std::string();
}

} // namespace libcluster
