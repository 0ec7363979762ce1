#pragma once

#include <string>
#include <string_view>

namespace libcluster {

/// The release this binary was built from: CMake's project version, e.g. "0.1.0". The chart's
/// appVersion and the image tag are the same string (tests/version checks it).
std::string_view version();

/// The git commit it was built from: 12 hex digits, with "+dirty" when tracked files had changes,
/// or "unknown" when the build had neither a .git nor LIBCLUSTER_GIT_COMMIT.
std::string_view gitCommit();

/// What --version prints: "<program> <version> (commit <commit>)".
std::string versionLine(std::string_view program);

} // namespace libcluster
