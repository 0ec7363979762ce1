#pragma once

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace libcluster {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

/// Parses "debug" / "info" / "warn" / "error" (case-insensitive); nullopt for anything else.
std::optional<LogLevel> parseLogLevel(std::string_view text);

/// Sets the process-wide level. The initial level comes from LOG_LEVEL, else info.
void setLogLevel(LogLevel level);
LogLevel logLevel();

/// One JSON object per line on stderr: {"ts","level","msg", ...fields}. Thread-safe.
/// Messages are short constant strings; variables go in `fields`. Never put secrets in either.
void logAt(LogLevel level, std::string_view message, const nlohmann::json& fields);

inline void logDebug(std::string_view message, const nlohmann::json& fields = nlohmann::json::object()) {
  logAt(LogLevel::Debug, message, fields);
}
inline void logInfo(std::string_view message, const nlohmann::json& fields = nlohmann::json::object()) {
  logAt(LogLevel::Info, message, fields);
}
inline void logWarn(std::string_view message, const nlohmann::json& fields = nlohmann::json::object()) {
  logAt(LogLevel::Warn, message, fields);
}
inline void logError(std::string_view message, const nlohmann::json& fields = nlohmann::json::object()) {
  logAt(LogLevel::Error, message, fields);
}

} // namespace libcluster
