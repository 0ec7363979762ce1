#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/topology_runner.h"
#include "core/mfa.h"
#include "core/result.h"
#include "strategy/make_strategy.h"

namespace libcluster {

/// One named topology of the agent configuration: libcluster's topology entry (strategy, config,
/// connect, disconnect, list_nodes) plus the agent's own keys.
struct TopologyConfig {
  std::string name;
  StrategyConfig strategy;
  /// The calls the local node makes; nullopt means libcluster's default (or, for ClusterTopology,
  /// the ClusterTopology's spec).
  std::optional<Mfa> connect;
  std::optional<Mfa> disconnect;
  std::optional<Mfa> listNodes;
  /// pollIntervalSeconds, or the strategy's own interval option (pollingInterval, timeout); nullopt
  /// means 5 s (ClusterTopology: the spec's reconnectIntervalSeconds).
  std::optional<std::chrono::milliseconds> pollInterval;
  OnRemoval onRemoval = OnRemoval::Disconnect;
  /// removalHoldSeconds: how long a peer that left the member list is kept disconnected
  /// (ClusterTopology); 0 cuts it once only, as libcluster does.
  std::chrono::milliseconds removalHold{300000};
  /// watchNodes: hear nodeup / nodedown from a watcher process in the local node and act at
  /// once; false leaves repair to the periodic sync.
  bool watchNodes = true;
};

/// The calls a ClusterTopology's spec may choose when `allowedCalls` is not configured:
/// libcluster's three defaults.
std::vector<Mfa> defaultAllowedCalls();

/// The agent's configuration file (or ConfigMap key): the local node, where its cookie is, the
/// calls a ClusterTopology may pick, and the topologies, sorted by name.
struct AgentConfig {
  std::string node;
  std::string cookieFile;
  /// allowedCalls: what a ClusterTopology's spec.connect / disconnect / listNodes may name (module,
  /// function and args, exactly). Whoever may edit a ClusterTopology must not get to run any
  /// function on the node: the node's owner lists what may run. Calls in this file's own
  /// topologies are the owner's and need no listing.
  std::vector<Mfa> allowedCalls = defaultAllowedCalls();
  std::vector<TopologyConfig> topologies;
};

/// The default poll interval, as libcluster's polling strategies.
inline constexpr std::chrono::milliseconds kDefaultPollInterval{5000};

/// Parses YAML into JSON with YAML 1.2's core schema: plain scalars become null, booleans,
/// integers or floats when they look like one, quoted scalars stay strings. Invalid (with line and
/// column) for a syntax error, a duplicate key, or an anchor/alias cycle.
Result<nlohmann::json> yamlToJson(std::string_view text);

/// Reads the agent configuration from YAML. Every problem is one Invalid Error whose message starts
/// with the key it is about ("topologies.web.config.pollingInterval: must be ..."); unknown keys
/// are problems too. `env` supplies defaults that depend on where the agent runs.
Result<AgentConfig> parseAgentConfig(std::string_view yaml, const StrategyEnvironment& env);

/// Reads and parses a file; the Error names the file.
Result<AgentConfig> loadAgentConfig(const std::string& path, const StrategyEnvironment& env);

/// Checks at start-up that the cookie file can be read and is not empty (the Error names the file,
/// never the content), warns when its mode lets group or others read it, and wipes what it read.
Result<void> checkCookieFile(const std::string& path);

/// Checks a call's module and function names and its arguments (Erlang term text) for `path`.
Result<Mfa> parseMfa(const nlohmann::json& value, const std::string& path);

} // namespace libcluster
