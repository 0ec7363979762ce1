#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/result.h"

namespace libcluster {

/// The bearer token for each request: a fixed token, or the content of a token file that is
/// re-read at most every `recheckInterval` and on demand after a 401, because bound
/// service-account tokens rotate. Thread-safe. The token is never logged.
class TokenSource {
public:
  /// `tokenFile` wins over `token` when both are set. Neither: requests carry no Authorization.
  TokenSource(std::string token, std::string tokenFile, const Clock& clock,
              std::chrono::seconds recheckInterval);
  /// Wipes the token.
  ~TokenSource();
  TokenSource(const TokenSource&) = delete;
  TokenSource& operator=(const TokenSource&) = delete;

  /// Reads the token file for the first time; an Error if it is unreadable or empty. Warns when
  /// its mode lets group or others read it.
  Result<void> load();

  /// The token to send now ("" for none); re-reads the file when the interval has passed. When a
  /// re-read fails the last good token is kept.
  std::string current();

  /// Re-reads the file now (after a 401). True if the token differs from `used`.
  bool refreshAfterRejection(const std::string& used);

  bool isFileBased() const { return !tokenFile_.empty(); }

private:
  Result<std::string> readTokenFile() const;
  /// Replaces token_ (mutex_ held), wiping the old one.
  void replaceToken(std::string token);

  const std::string tokenFile_;
  const Clock& clock_;
  const std::chrono::seconds recheckInterval_;
  std::mutex mutex_;
  std::string token_;
  std::optional<Clock::MonotonicTime> lastRead_;
};

} // namespace libcluster
