#pragma once

// Logging with fields built as a JSON object (a field list assembled step by step, or a value
// that is itself JSON). Kept out of core/log.h so that logging does not pull json.hpp into
// every translation unit.

#include <string_view>

#include <nlohmann/json.hpp>

#include "core/log.h"

namespace libcluster {

/// As logAt with a field list; `fields` is an object whose members follow ts, level and msg
/// (anything else is ignored).
void logAt(LogLevel level, std::string_view message, const nlohmann::json& fields);

/// A JSON value as a log field value: `{"peers", jsonLogValue(peers)}`.
LogValue jsonLogValue(const nlohmann::json& value);

inline void logDebug(std::string_view message, const nlohmann::json& fields) {
  logAt(LogLevel::Debug, message, fields);
}
inline void logInfo(std::string_view message, const nlohmann::json& fields) {
  logAt(LogLevel::Info, message, fields);
}
inline void logWarn(std::string_view message, const nlohmann::json& fields) {
  logAt(LogLevel::Warn, message, fields);
}
inline void logError(std::string_view message, const nlohmann::json& fields) {
  logAt(LogLevel::Error, message, fields);
}

} // namespace libcluster
