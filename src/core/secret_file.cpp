#include "core/secret_file.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include "core/log.h"

namespace libcluster {

std::optional<std::string> secretFileExposure(const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) {
    return std::nullopt;
  }
  const bool group = (status.st_mode & S_IRGRP) != 0;
  const bool others = (status.st_mode & S_IROTH) != 0;
  if (!group && !others) {
    return std::nullopt;
  }
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(status.st_mode & 07777));
  return std::string("mode ") + mode + " lets " +
         (group && others ? "group and others" : group ? "the group" : "others") + " read it";
}

void warnIfSecretFileExposed(const std::string& path, std::string_view what) {
  if (std::optional<std::string> exposure = secretFileExposure(path)) {
    logWarn("secret file readable by others; make it 0600 or 0400 (defaultMode in Kubernetes)",
            {{"file", path}, {"holds", what}, {"problem", *exposure}});
  }
}

void wipeSecret(std::string& secret) {
  // explicit_bzero (glibc) is OPENSSL_cleanse's contract without making core depend on OpenSSL:
  // the store is not removed as dead.
  // Up to the capacity: a trimmed or shortened string keeps old bytes past its size.
  secret.resize(secret.capacity());
  ::explicit_bzero(secret.data(), secret.size());
  secret.clear();
}

} // namespace libcluster
