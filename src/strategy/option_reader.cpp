#include "strategy/option_reader.h"

namespace libcluster {
namespace {

const nlohmann::json kNull;

std::string typeName(const nlohmann::json& value) {
  if (value.is_string()) {
    return "the string \"" + value.get<std::string>() + "\"";
  }
  if (value.is_boolean()) {
    return value.get<bool>() ? "true" : "false";
  }
  if (value.is_number()) {
    return value.dump();
  }
  if (value.is_array()) {
    return "a list";
  }
  if (value.is_object()) {
    return "a map";
  }
  return "nothing";
}

} // namespace

OptionReader::OptionReader(const nlohmann::json& object, std::string path)
    : object_(object), path_(std::move(path)) {
  if (!object_.is_null() && !object_.is_object()) {
    error_ =
        Error{Error::Code::Invalid, path_ + ": must be a map of options, got " + typeName(object_)};
  }
}

std::string OptionReader::field(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

bool OptionReader::has(std::string_view key) const {
  return object_.is_object() && object_.contains(std::string(key));
}

const nlohmann::json* OptionReader::find(std::string_view key) {
  known_.emplace(key);
  if (error_ || !object_.is_object()) {
    return nullptr;
  }
  const auto found = object_.find(std::string(key));
  if (found == object_.end() || found->is_null()) {
    return nullptr;
  }
  return &*found;
}

void OptionReader::fail(std::string_view key, const std::string& why) {
  if (!error_) {
    error_ = Error{Error::Code::Invalid, field(key) + ": " + why};
  }
}

std::optional<std::string> OptionReader::string(std::string_view key, bool required) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) {
    if (required) {
      fail(key, "required");
    }
    return std::nullopt;
  }
  if (!value->is_string()) {
    fail(key, "must be a string, got " + typeName(*value));
    return std::nullopt;
  }
  return value->get<std::string>();
}

std::optional<std::string> OptionReader::nonEmpty(std::string_view key, bool required) {
  std::optional<std::string> value = string(key, required);
  if (value && value->empty()) {
    fail(key, "must not be empty");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> OptionReader::boolean(std::string_view key) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!value->is_boolean()) {
    fail(key, "must be true or false, got " + typeName(*value));
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<long long> OptionReader::integer(std::string_view key, long long min, long long max) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) {
    return std::nullopt;
  }
  const bool isInteger = value->is_number_integer() || value->is_number_unsigned();
  if (!isInteger ||
      (value->is_number_unsigned() &&
       value->get<unsigned long long>() > static_cast<unsigned long long>(max)) ||
      value->get<long long>() < min || value->get<long long>() > max) {
    fail(key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                  ", got " + typeName(*value));
    return std::nullopt;
  }
  return value->get<long long>();
}

std::optional<std::chrono::milliseconds> OptionReader::milliseconds(std::string_view key) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!(value->is_number_integer() || value->is_number_unsigned()) ||
      value->get<long long>() <= 0 || value->get<long long>() > 86'400'000) {
    fail(key, "must be a positive integer (milliseconds, at most a day), got " + typeName(*value));
    return std::nullopt;
  }
  return std::chrono::milliseconds(value->get<long long>());
}

std::optional<std::string> OptionReader::oneOf(std::string_view key,
                                               std::initializer_list<std::string_view> choices) {
  std::optional<std::string> value = string(key);
  if (!value) {
    return std::nullopt;
  }
  std::string word = value->starts_with(':') ? value->substr(1) : *value;
  std::string listed;
  for (std::string_view choice : choices) {
    if (word == choice) {
      return word;
    }
    listed += (listed.empty() ? "" : ", ") + std::string(choice);
  }
  fail(key, "must be one of " + listed + ", got \"" + *value + "\"");
  return std::nullopt;
}

std::optional<std::vector<std::string>> OptionReader::strings(std::string_view key, bool required) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) {
    if (required) {
      fail(key, "required");
    }
    return std::nullopt;
  }
  if (!value->is_array()) {
    fail(key, "must be a list of strings, got " + typeName(*value));
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < value->size(); ++i) {
    const nlohmann::json& item = (*value)[i];
    if (!item.is_string() || item.get<std::string>().empty()) {
      fail(std::string(key) + "[" + std::to_string(i) + "]",
           "must be a non-empty string, got " + typeName(item));
      return std::nullopt;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

const nlohmann::json& OptionReader::raw(std::string_view key) {
  const nlohmann::json* value = find(key);
  return value == nullptr ? kNull : *value;
}

void OptionReader::reject(std::string_view key, const std::string& why) {
  known_.emplace(key);
  if (has(key)) {
    fail(key, why);
  }
}

Result<void> OptionReader::finish() {
  if (error_) {
    return *error_;
  }
  if (object_.is_object()) {
    for (const auto& [key, value] : object_.items()) {
      if (!known_.contains(key)) {
        std::string listed;
        for (const std::string& name : known_) {
          listed += (listed.empty() ? "" : ", ") + name;
        }
        return Error{Error::Code::Invalid,
                     field(key) + ": unknown option" +
                         (listed.empty() ? " (this takes none)" : " (known: " + listed + ")")};
      }
    }
  }
  return {};
}

} // namespace libcluster
