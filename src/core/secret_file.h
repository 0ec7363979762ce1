#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace libcluster {

/// Why a file holding a secret (cookie, gossip secret or keys, token) is exposed to others: its
/// permission bits let the group or others read it ("mode 0644 lets group and others read it"),
/// or nullopt when only the owner can (or the file cannot be stat'ed: reading it will say so).
/// Kubernetes mounts Secrets 0644 unless defaultMode says otherwise, hence a warning, not an error.
std::optional<std::string> secretFileExposure(const std::string& path);

/// Logs a warning naming `what` and `path` (never the content) when secretFileExposure says so.
void warnIfSecretFileExposed(const std::string& path, std::string_view what);

/// Overwrites the characters of `secret` with zeros in a way the compiler cannot drop, then
/// clears it. For buffers that held a cookie, key or token once they are no longer needed.
void wipeSecret(std::string& secret);

/// Wipes a string when it goes out of scope.
class SecretWiper {
public:
  explicit SecretWiper(std::string& secret) : secret_(secret) {}
  ~SecretWiper() { wipeSecret(secret_); }
  SecretWiper(const SecretWiper&) = delete;
  SecretWiper& operator=(const SecretWiper&) = delete;

private:
  std::string& secret_;
};

} // namespace libcluster
