#pragma once

// The flags both binaries take, for their main.cpp only (CLI11 and the version library stay out
// of every other translation unit).

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/version.h"
#include "ops/startup.h"

namespace libcluster {

/// --log-level (env LOG_LEVEL, into `logLevel`; apply it with applyLogLevel) and --version.
inline void addStartupOptions(CLI::App& cli, std::string& logLevel, const std::string& binary) {
  cli.add_option("--log-level", logLevel, "debug, info, warn or error")
      ->envname("LOG_LEVEL")
      ->capture_default_str();
  cli.set_version_flag("--version", versionLine(binary),
                       "Print the version and the git commit it was built from, then exit");
}

/// What both mains do first: adds --log-level and --version (addStartupOptions) to the flags
/// already on `cli`, parses the command line and applies the log level. Returns main's exit status
/// when it ends here (--help, --version or a refused flag: CLI11's; an unknown level:
/// startupFailed's), nullopt when it goes on.
inline std::optional<int> parseCommandLine(CLI::App& cli, int argc, const char* const* argv,
                                           const std::string& binary) {
  std::string logLevel = "info";
  addStartupOptions(cli, logLevel, binary);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return cli.exit(error);
  }
  if (Result<void> applied = applyLogLevel(logLevel); !applied) {
    return startupFailed(applied.error().message);
  }
  return std::nullopt;
}

/// --kubeconfig (into `path`; empty: in-cluster, else $KUBECONFIG, else ~/.kube/config, which is
/// what loadDefaultConfig does with it).
inline void addKubeconfigOption(CLI::App& cli, std::string& path) {
  cli.add_option(
      "--kubeconfig", path,
      "Path to a kubeconfig. Default: in-cluster config, else $KUBECONFIG, else ~/.kube/config");
}

/// --metrics-bind-address (env METRICS_BIND_ADDRESS, into `address`, "0" disables it); `serves`
/// names what is served there, for --help.
inline void addMetricsBindAddressOption(CLI::App& cli, std::string& address,
                                        const std::string& serves) {
  cli.add_option("--metrics-bind-address", address,
                 "Address of " + serves + "; \"0\" disables it")
      ->envname("METRICS_BIND_ADDRESS")
      ->capture_default_str();
}

} // namespace libcluster
