#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace libcluster {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

/// Parses "debug" / "info" / "warn" / "error" (case-insensitive); nullopt for anything else.
std::optional<LogLevel> parseLogLevel(std::string_view text);

/// Sets the process-wide level. The initial level comes from LOG_LEVEL, else info.
void setLogLevel(LogLevel level);
LogLevel logLevel();

/// One field value of a log line: text, a number or a boolean. Text is viewed, not copied, so a
/// LogValue lives only as long as the log call that takes it (a braced field list does).
/// A value that is already JSON goes through core/log_json.h.
class LogValue {
public:
  struct Json {
    std::string serialized;
  };

  LogValue(std::string_view text) : value_(text) {}
  LogValue(const std::string& text) : value_(std::string_view(text)) {}
  LogValue(const char* text) : value_(std::string_view(text == nullptr ? "" : text)) {}
  template <std::same_as<bool> B>
  LogValue(B flag) : value_(static_cast<bool>(flag)) {}
  template <std::signed_integral I>
    requires(!std::same_as<I, bool> && !std::same_as<I, char>)
  LogValue(I number) : value_(static_cast<std::int64_t>(number)) {}
  template <std::unsigned_integral U>
    requires(!std::same_as<U, bool> && !std::same_as<U, char>)
  LogValue(U number) : value_(static_cast<std::uint64_t>(number)) {}
  LogValue(double number) : value_(number) {}
  LogValue(Json json) : value_(std::move(json)) {}

  using Variant = std::variant<std::string_view, bool, std::int64_t, std::uint64_t, double, Json>;
  const Variant& value() const { return value_; }

private:
  Variant value_;
};

/// `{"topology", topology_}`: one key and its value.
struct LogField {
  std::string_view key;
  LogValue value;
};

/// The fields of one line, written in this order after ts, level and msg.
using LogFields = std::initializer_list<LogField>;

/// One JSON object per line on stderr: {"ts","level","msg", ...fields}. Thread-safe.
/// Messages are short constant strings; variables go in `fields`. Never put secrets in either.
void logAt(LogLevel level, std::string_view message, LogFields fields);

inline void logDebug(std::string_view message, LogFields fields = {}) {
  logAt(LogLevel::Debug, message, fields);
}
inline void logInfo(std::string_view message, LogFields fields = {}) {
  logAt(LogLevel::Info, message, fields);
}
inline void logWarn(std::string_view message, LogFields fields = {}) {
  logAt(LogLevel::Warn, message, fields);
}
inline void logError(std::string_view message, LogFields fields = {}) {
  logAt(LogLevel::Error, message, fields);
}

} // namespace libcluster
