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

std::vector<std::string> stringList(const nlohmann::json& object, std::string_view key) {
  std::vector<std::string> strings;
  const nlohmann::json& values = fieldOrNull(object, key);
  if (!values.is_array()) {
    return strings;
  }
  for (const nlohmann::json& value : values) {
    if (value.is_string()) {
      strings.push_back(value.get<std::string>());
    }
  }
  return strings;
}

std::map<std::string, std::string> stringMap(const nlohmann::json& object, std::string_view key) {
  std::map<std::string, std::string> strings;
  const nlohmann::json& members = fieldOrNull(object, key);
  if (!members.is_object()) {
    return strings;
  }
  for (const auto& [name, value] : members.items()) {
    if (value.is_string()) {
      strings.emplace(name, value.get<std::string>());
    }
  }
  return strings;
}

} // namespace libcluster
