#pragma once

#include "strategy/strategy_config.h"

namespace libcluster {

/// The environment the strategy-config tests parse in: namespace "prod", ERL_EPMD_PORT 4370 (not
/// the default, so a test sees it used) and a .hosts.erlang search path that finds nothing.
inline StrategyEnvironment testStrategyEnvironment() {
  StrategyEnvironment env;
  env.namespaceName = "prod";
  env.epmdPort = 4370;
  env.hostsSearchPath = {"/nonexistent/cwd"};
  return env;
}

} // namespace libcluster
