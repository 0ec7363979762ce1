#pragma once

// The flags both binaries take, for their main.cpp only (CLI11 and the version library stay out
// of every other translation unit).

#include <string>

#include <CLI/CLI.hpp>

#include "core/version.h"

namespace libcluster {

/// --log-level (env LOG_LEVEL, into `logLevel`; apply it with applyLogLevel) and --version.
inline void addStartupOptions(CLI::App& cli, std::string& logLevel, const std::string& binary) {
  cli.add_option("--log-level", logLevel, "debug, info, warn or error")
      ->envname("LOG_LEVEL")
      ->capture_default_str();
  cli.set_version_flag("--version", versionLine(binary),
                       "Print the version and the git commit it was built from, then exit");
}

/// --kubeconfig (into `path`; empty: in-cluster, else $KUBECONFIG, else ~/.kube/config, which is
/// what loadDefaultConfig does with it).
inline void addKubeconfigOption(CLI::App& cli, std::string& path) {
  cli.add_option(
      "--kubeconfig", path,
      "Path to a kubeconfig. Default: in-cluster config, else $KUBECONFIG, else ~/.kube/config");
}

} // namespace libcluster
