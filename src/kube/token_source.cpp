#include "kube/token_source.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/log.h"
#include "core/secret_file.h"

namespace libcluster {

TokenSource::TokenSource(std::string token, std::string tokenFile, const Clock& clock,
                         std::chrono::seconds recheckInterval)
    : tokenFile_(std::move(tokenFile)), clock_(clock), recheckInterval_(recheckInterval),
      token_(std::move(token)) {}

TokenSource::~TokenSource() { wipeSecret(token_); }

void TokenSource::replaceToken(std::string token) {
  wipeSecret(token_);
  token_ = std::move(token);
  wipeSecret(token);
}

Result<void> TokenSource::load() {
  if (tokenFile_.empty()) {
    return {};
  }
  warnIfSecretFileExposed(tokenFile_, "API token");
  Result<std::string> token = readTokenFile();
  if (!token) {
    return token.error();
  }
  std::lock_guard lock(mutex_);
  replaceToken(std::move(token).value());
  lastRead_ = clock_.now();
  return {};
}

std::string TokenSource::current() {
  std::lock_guard lock(mutex_);
  if (tokenFile_.empty()) {
    return token_;
  }
  const Clock::MonotonicTime now = clock_.now();
  if (lastRead_ && now - *lastRead_ < recheckInterval_) {
    return token_;
  }
  lastRead_ = now;
  if (Result<std::string> token = readTokenFile(); token) {
    replaceToken(std::move(token).value());
  } else {
    logWarn("token file re-read failed; keeping the last token",
            {{"file", tokenFile_}, {"error", token.error().message}});
  }
  return token_;
}

bool TokenSource::refreshAfterRejection(const std::string& used) {
  if (tokenFile_.empty()) {
    return false;
  }
  std::lock_guard lock(mutex_);
  lastRead_ = clock_.now();
  Result<std::string> token = readTokenFile();
  if (!token) {
    logWarn("token file re-read failed; keeping the last token",
            {{"file", tokenFile_}, {"error", token.error().message}});
    return token_ != used;
  }
  replaceToken(std::move(token).value());
  return token_ != used;
}

Result<std::string> TokenSource::readTokenFile() const {
  std::ifstream in(tokenFile_, std::ios::binary);
  if (!in) {
    return Error{Error::Code::Invalid, "token file " + tokenFile_ + ": " + std::strerror(errno)};
  }
  std::ostringstream content;
  content << in.rdbuf();
  std::string token = content.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  if (token.empty()) {
    return Error{Error::Code::Invalid, "token file " + tokenFile_ + " is empty"};
  }
  return token;
}

} // namespace libcluster
