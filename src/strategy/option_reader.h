#pragma once

#include <chrono>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace libcluster {

/// Reads one configuration object key by key, remembering the first problem as an Invalid Error
/// that names the key by its full path ("topologies.web.config.pollingInterval: must be a
/// positive integer"). Every getter returns nullopt for a missing key or after a problem;
/// finish() then reports keys nobody asked for. Values come from YAML converted to JSON, so
/// numbers and booleans are typed and a quoted "5" stays a string.
class OptionReader {
public:
  /// `object` may be null (no options given); anything else but an object is a problem.
  OptionReader(const nlohmann::json& object, std::string path);

  /// The full path of `key`.
  std::string field(std::string_view key) const;
  bool has(std::string_view key) const;

  std::optional<std::string> string(std::string_view key, bool required = false);
  /// A non-empty string.
  std::optional<std::string> nonEmpty(std::string_view key, bool required = false);
  std::optional<bool> boolean(std::string_view key);
  /// An integer in [min, max].
  std::optional<long long> integer(std::string_view key, long long min, long long max);
  /// A positive integer number of milliseconds (libcluster's intervals and timeouts).
  std::optional<std::chrono::milliseconds> milliseconds(std::string_view key);
  /// One of `choices`; a leading ':' is dropped so Elixir atoms (":ip") read as written.
  std::optional<std::string> oneOf(std::string_view key,
                                   std::initializer_list<std::string_view> choices);
  /// A list of non-empty strings.
  std::optional<std::vector<std::string>> strings(std::string_view key, bool required = false);
  /// The raw value (null when missing); marks the key as known.
  const nlohmann::json& raw(std::string_view key);

  /// Rejects `key` if present, with `why` (e.g. an option the agent replaces with a flag).
  void reject(std::string_view key, const std::string& why);
  /// Records a problem with `key`, unless one was recorded already.
  void fail(std::string_view key, const std::string& why);
  /// The first problem, or an unknown key; success otherwise.
  Result<void> finish();

  bool ok() const { return !error_.has_value(); }

private:
  const nlohmann::json* find(std::string_view key);

  const nlohmann::json& object_;
  std::string path_;
  std::set<std::string, std::less<>> known_;
  std::optional<Error> error_;
};

} // namespace libcluster
