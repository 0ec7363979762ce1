#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent_config.h"
#include "agent/pod_reporter.h"
#include "agent/topology_runner.h"
#include "core/clock.h"
#include "core/result.h"
#include "dist/connector.h"
#include "dns/resolver.h"
#include "kube/kube_api.h"
#include "kube/url_fetcher.h"
#include "ops/http_probe_server.h"
#include "ops/metrics_registry.h"
#include "core/mfa.h"

namespace libcluster {

/// What one topology's connector is made from; nullopt calls are libcluster's defaults.
struct ConnectorSettings {
  std::string topology;
  std::optional<Mfa> connect;
  std::optional<Mfa> disconnect;
  std::optional<Mfa> listNodes;
};

/// Makes a topology's Connector (main: an EiConnector to the local node; tests: anything).
using ConnectorFactory =
    std::function<Result<std::unique_ptr<Connector>>(const ConnectorSettings& settings)>;
/// Makes the Resolver a topology thread owns (main: a CaresResolver).
using ResolverFactory = std::function<Result<std::unique_ptr<Resolver>>()>;

/// Everything libcluster-agent runs, wired together: per topology a strategy, a connector and a
/// TopologyRunner on its own std::jthread; the pod reporter; /metrics, /healthz and /readyz.
/// main builds the concrete KubeApi, resolvers and connectors through the factories; tests do the
/// same with fakes or real ones. start() and stop() are for one thread; reports() for any.
///
/// A ClusterTopology topology waits for its object before connecting: its spec's connect /
/// disconnect / listNodes and reconnectIntervalSeconds apply unless the configuration sets them,
/// and when they change the topology's runner is rebuilt with the new ones.
class AgentApp {
public:
  struct Options {
    /// The local node; must be "name@host".
    NodeName node{};
    std::string metricsBindAddress = ":9568";
    /// Reporting on the pod's status happens when both are set (POD_NAMESPACE, POD_NAME).
    std::string podNamespace{};
    std::string podName{};
    PodReporter::Options reporter{};
    /// Call timeouts, deadline and parallelism of every runner (topology, interval and onRemoval
    /// come from the configuration).
    TopologyRunnerOptions runner{};
  };

  /// `api` may be null when no topology needs it and there is no pod to report on.
  AgentApp(AgentConfig config, Options options, Clock& clock, KubeApi* api, FetchUrl fetch,
           ResolverFactory makeResolver, ConnectorFactory makeConnector);
  ~AgentApp();
  AgentApp(const AgentApp&) = delete;
  AgentApp& operator=(const AgentApp&) = delete;

  /// Builds every strategy and connector (ClusterTopology's connector once its spec is read),
  /// binds the metrics server, then starts the threads. An Error means the agent must not start:
  /// its message names the topology or setting ("topologies.web: ..."), and nothing is left
  /// running.
  Result<void> start();
  /// Stops every thread and joins it. Idempotent.
  void stop();

  /// Each topology's last snapshot and local-node health, in configuration order.
  std::vector<TopologyReport> reports() const;
  /// Every topology has discovered its peers at least once.
  bool isReady() const;
  MetricsRegistry& metrics() { return metrics_; }
  std::uint16_t metricsPort() const { return server_.port(); }

private:
  struct Unit;

  void runUnit(Unit& unit, std::stop_token stop);
  void runFollowingSpec(Unit& unit, std::stop_token stop);
  Result<std::unique_ptr<TopologyRunner>> buildRunner(Unit& unit, const ConnectorSettings& settings,
                                                      std::chrono::milliseconds pollInterval,
                                                      Strategy& strategy);

  AgentConfig config_;
  Options options_;
  Clock& clock_;
  KubeApi* api_;
  FetchUrl fetch_;
  ResolverFactory makeResolver_;
  ConnectorFactory makeConnector_;
  MetricsRegistry metrics_;
  HttpProbeServer server_;
  std::vector<std::unique_ptr<Unit>> units_;
  std::unique_ptr<PodReporter> reporter_;
  std::jthread reporterThread_;
  bool started_ = false;
};

} // namespace libcluster
