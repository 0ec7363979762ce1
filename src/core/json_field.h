#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace libcluster {

/// The string at `object[key]`, or "" when `object` is not an object, has no such key, or the
/// value is not a string. Never throws (nlohmann's value() does on a type mismatch, which
/// untrusted API objects can cause on any thread). The project's one "string field or empty".
std::string stringField(const nlohmann::json& object, std::string_view key);

/// The member `object[key]`, or a null JSON when `object` is not an object or has no such key.
const nlohmann::json& fieldOrNull(const nlohmann::json& object, std::string_view key);

/// The strings of the array `object[key]`, in order; its other elements are left out. Empty when
/// there is no such array. Never throws.
std::vector<std::string> stringList(const nlohmann::json& object, std::string_view key);

/// The string members of the object `object[key]` (labels, annotations); members of other types
/// are left out. Empty when there is no such object. Never throws.
std::map<std::string, std::string> stringMap(const nlohmann::json& object, std::string_view key);

} // namespace libcluster
