#include "core/log.h"

#include "core/log_json.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <ctime>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace libcluster {
namespace {

LogLevel initialLevel() {
  if (const char* env = std::getenv("LOG_LEVEL")) {
    if (auto level = parseLogLevel(env)) {
      return *level;
    }
  }
  return LogLevel::Info;
}

std::atomic<LogLevel>& currentLevel() {
  static std::atomic<LogLevel> level{initialLevel()};
  return level;
}

std::string_view levelName(LogLevel level) {
  switch (level) {
  case LogLevel::Debug:
    return "debug";
  case LogLevel::Info:
    return "info";
  case LogLevel::Warn:
    return "warn";
  case LogLevel::Error:
    return "error";
  }
  return "info";
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  const size_t written = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer + written, sizeof buffer - written, ".%03dZ", static_cast<int>(millis));
  return buffer;
}

} // namespace

std::optional<LogLevel> parseLogLevel(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (lower == "debug") {
    return LogLevel::Debug;
  }
  if (lower == "info") {
    return LogLevel::Info;
  }
  if (lower == "warn" || lower == "warning") {
    return LogLevel::Warn;
  }
  if (lower == "error") {
    return LogLevel::Error;
  }
  return std::nullopt;
}

void setLogLevel(LogLevel level) { currentLevel().store(level); }

LogLevel logLevel() { return currentLevel().load(); }

namespace {

nlohmann::ordered_json lineStart(LogLevel level, std::string_view message) {
  nlohmann::ordered_json line;
  line["ts"] = timestamp();
  line["level"] = levelName(level);
  line["msg"] = message;
  return line;
}

void write(const nlohmann::ordered_json& line) {
  // Invalid UTF-8 in a field (e.g. a peer's garbage) must not throw out of a log call.
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

nlohmann::ordered_json toJson(const LogValue& value) {
  return std::visit(
      [](const auto& v) -> nlohmann::ordered_json {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, LogValue::Json>) {
          // Made by jsonLogValue from a valid value, so it parses; a failure would be a bug here.
          return nlohmann::ordered_json::parse(v.serialized, nullptr, false);
        } else if constexpr (std::is_same_v<V, std::string_view>) {
          return std::string(v);
        } else {
          return v;
        }
      },
      value.value());
}

} // namespace

void logAt(LogLevel level, std::string_view message, LogFields fields) {
  if (level < logLevel()) {
    return;
  }
  nlohmann::ordered_json line = lineStart(level, message);
  for (const LogField& field : fields) {
    line[std::string(field.key)] = toJson(field.value);
  }
  write(line);
}

void logAt(LogLevel level, std::string_view message, const nlohmann::json& fields) {
  if (level < logLevel()) {
    return;
  }
  nlohmann::ordered_json line = lineStart(level, message);
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) {
      line[key] = value;
    }
  }
  write(line);
}

LogValue jsonLogValue(const nlohmann::json& value) {
  return LogValue::Json{value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

} // namespace libcluster
