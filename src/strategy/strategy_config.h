#pragma once

// Reading a strategy's configuration: names, options, defaults from the environment. Building the
// strategy it describes is make_strategy.h's.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "gossip/gossip_options.h"
#include "strategy/cluster_topology_strategy.h"
#include "strategy/dns_strategy.h"
#include "strategy/epmd_strategy.h"
#include "strategy/erlang_hosts_strategy.h"
#include "strategy/kubernetes_strategy.h"
#include "strategy/local_epmd_strategy.h"
#include "strategy/rancher_strategy.h"

namespace libcluster {

/// What option defaults depend on outside the configuration file: the agent's namespace and a
/// few environment variables libcluster reads. main fills it from the process; tests by hand.
struct StrategyEnvironment {
  /// The agent's namespace (POD_NAMESPACE, --namespace, or the kubeconfig's); the default of
  /// Kubernetes' kubernetesNamespace and ClusterTopology's namespace. May be empty.
  std::string namespaceName;
  /// CLUSTER_DOMAIN: DNSSRV's domain (libcluster's default "cluster.local." when unset).
  std::optional<std::string> clusterDomain;
  /// ERL_EPMD_PORT (4369 when unset).
  std::uint16_t epmdPort = kDefaultEpmdPort;
  /// Where ErlangHosts looks for .hosts.erlang: the working directory, $HOME, the OTP root.
  std::vector<std::filesystem::path> hostsSearchPath;

  /// Reads CLUSTER_DOMAIN, ERL_EPMD_PORT, HOME and OTP_ROOT (default /usr/lib/erlang). Invalid
  /// when ERL_EPMD_PORT is not a port.
  static Result<StrategyEnvironment> fromProcess(std::string namespaceName);
};

/// Gossip's options (src/gossip) plus where its secrets live when they are not inline. The files
/// are read by makeStrategy; their content is never logged nor put in an Error.
struct GossipConfig {
  GossipOptions options;
  /// A file whose first line is libcluster's `secret`.
  std::string secretFile;
  /// A file with one authenticated-mode key (base64 of 32 bytes) per line; the first one seals.
  std::string keysFile;
};

/// One topology's strategy and its validated options. `kind` is the canonical strategy name
/// ("DNS", "Kubernetes", ...); `pollInterval` is libcluster's own interval option when given
/// (pollingInterval, or Epmd / ErlangHosts `timeout`).
struct StrategyConfig {
  using Options = std::variant<ClusterTopologyStrategy::Options, EpmdStrategy::Options,
                               LocalEpmdStrategy::Options, ErlangHostsStrategy::Options,
                               DnsStrategy::Options, DnsSrvStrategy::Options,
                               RancherStrategy::Options, KubernetesStrategy::Options, GossipConfig>;

  std::string kind;
  Options options;
  std::optional<std::chrono::milliseconds> pollInterval;
};

/// Every strategy name the configuration accepts, canonical spelling.
const std::vector<std::string_view>& strategyNames();

/// The canonical name of `name`: itself, or the libcluster module it stands for
/// ("Cluster.Strategy.Kubernetes.DNS" → "DNS", "Elixir.Cluster.Strategy.Epmd" → "Epmd").
/// nullopt for an unknown strategy.
std::optional<std::string> canonicalStrategyName(std::string_view name);

/// Reads a strategy's `config` map (null means none given) for strategy `name`. `path` is where
/// the map sits in the file ("topologies.web.config"); a problem is one Invalid Error naming the
/// key under it. Unknown keys are problems too. Does not touch files, DNS or the network.
Result<StrategyConfig> parseStrategyConfig(std::string_view name, const nlohmann::json& config,
                                           const std::string& path, const StrategyEnvironment& env);

/// Rewrites the snake_case option names in an error message (the gossip module names options as
/// libcluster does, multicast_addr) as the agent's file spells them (multicastAddr). A word is
/// rewritten only when all of it is lowercase words joined by single underscores; other words
/// (snake_Case, a_1, _x, x__y, __init__) and every other byte are kept as they are.
std::string camelCaseOptionNames(std::string_view message);

} // namespace libcluster
