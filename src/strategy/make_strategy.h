#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "dns/resolver.h"
#include "kube/kube_api.h"
#include "kube/url_fetcher.h"
#include "ops/metrics_registry.h"
#include "strategy/strategy.h"
#include "strategy/strategy_config.h"

namespace libcluster {

/// What strategies are built with. One set per topology thread: `resolver` is used by that thread
/// only. `api` and `fetch` are shared and thread-safe. Unused members may be null.
struct StrategyDeps {
  Clock& clock;
  /// The local node's name (for LocalEpmd's host part).
  NodeName self;
  Resolver* resolver = nullptr;
  KubeApi* api = nullptr;
  FetchUrl fetch{};
  /// The topology's name (Gossip labels its metrics with it) and the registry they go to.
  std::string topology{};
  MetricsRegistry* metrics = nullptr;
};

/// Builds the strategy `config` describes: the only code that knows every strategy. Checks what
/// needs the outside world (.hosts.erlang exists and parses, a dependency is present) and starts
/// what the strategy runs on its own (ClusterTopology's watch). An Error means the agent must not
/// start; an Invalid one's message begins with the option it is about.
Result<std::unique_ptr<Strategy>> makeStrategy(const StrategyConfig& config, StrategyDeps& deps);

} // namespace libcluster
