#include "core/version.h"

#include "version_info.h"

namespace libcluster {

std::string_view version() { return LIBCLUSTER_VERSION; }

std::string_view gitCommit() { return LIBCLUSTER_GIT_COMMIT; }

std::string versionLine(std::string_view program) {
  std::string line(program);
  line.append(" ").append(version()).append(" (commit ").append(gitCommit()).append(")");
  return line;
}

} // namespace libcluster
