#include "agent/agent_app.h"

#include <algorithm>
#include <mutex>
#include <string_view>

#include "agent/observed_connector.h"
#include "core/log.h"
#include "core/names.h"
#include "strategy/cluster_topology_strategy.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

/// Forwards to a ClusterTopologyStrategy, and ends the runner's loop (by requesting `restart`)
/// when the spec settings it was built with are no longer the current ones.
class SettingsGuard final : public Strategy {
public:
  SettingsGuard(ClusterTopologyStrategy& inner, TopologySettings builtWith,
                std::stop_source restart)
      : inner_(inner), builtWith_(std::move(builtWith)), restart_(std::move(restart)) {}

  // Strategy
  Result<PeerSet> discoverPeers(std::stop_token stop) override {
    if (inner_.settings() && *inner_.settings() != builtWith_) {
      restart_.request_stop();
      return Error{Error::Code::Cancelled, "the ClusterTopology's spec changed"};
    }
    return inner_.discoverPeers(std::move(stop));
  }
  bool waitForChange(Clock::MonotonicTime deadline, std::stop_token stop, Clock& clock) override {
    return inner_.waitForChange(deadline, std::move(stop), clock);
  }
  std::optional<NodeName> seed() const override { return inner_.seed(); }
  bool prunes() const override { return inner_.prunes(); }
  bool listsSelf() const override { return inner_.listsSelf(); }

private:
  ClusterTopologyStrategy& inner_;
  TopologySettings builtWith_;
  std::stop_source restart_;
};

/// The first of the spec's calls that `allowed` does not list, described for the pod condition.
std::optional<std::string> disallowedCall(const TopologySettings& spec,
                                          const std::vector<Mfa>& allowed) {
  const std::pair<const char*, const std::optional<Mfa>*> calls[] = {
      {"connect", &spec.connect}, {"disconnect", &spec.disconnect}, {"listNodes", &spec.listNodes}};
  for (const auto& [key, call] : calls) {
    if (*call && std::find(allowed.begin(), allowed.end(), **call) == allowed.end()) {
      const std::size_t arity =
          (*call)->args.size() + (std::string_view(key) == "listNodes" ? 0 : 1);
      return std::string("spec.") + key + " calls " + (*call)->module + ":" + (*call)->function +
             "/" + std::to_string(arity) +
             ", which the agent's allowedCalls does not list; nothing is run";
    }
  }
  return std::nullopt;
}

} // namespace

struct AgentApp::Unit {
  TopologyConfig config;
  std::unique_ptr<Resolver> resolver;
  std::unique_ptr<Strategy> strategy;
  ClusterTopologyStrategy* followed = nullptr; // when the strategy is a ClusterTopology

  mutable std::mutex mutex; // guards what ClusterTopology may replace: connector, guard, runner
  std::unique_ptr<ObservedConnector> connector;
  std::unique_ptr<Strategy> guard; // what a ClusterTopology's runner runs on
  std::unique_ptr<TopologyRunner> runner;
  std::optional<std::string> callNotAllowed; // why nothing runs

  std::jthread thread;
};

AgentApp::AgentApp(AgentConfig config, Options options, Clock& clock, KubeApi* api, FetchUrl fetch,
                   ResolverFactory makeResolver, ConnectorFactory makeConnector)
    : config_(std::move(config)), options_(std::move(options)), clock_(clock), api_(api),
      fetch_(std::move(fetch)), makeResolver_(std::move(makeResolver)),
      makeConnector_(std::move(makeConnector)),
      server_(HttpProbeServer::Options{.bindAddress = options_.metricsBindAddress}) {}

AgentApp::~AgentApp() { stop(); }

Result<std::unique_ptr<TopologyRunner>>
AgentApp::buildRunner(Unit& unit, const ConnectorSettings& settings,
                      std::chrono::milliseconds pollInterval, Strategy& strategy) {
  Result<std::unique_ptr<Connector>> connector = makeConnector_(settings);
  if (!connector) {
    return connector.error();
  }
  auto observed = std::make_unique<ObservedConnector>(std::move(*connector));
  TopologyRunnerOptions runnerOptions = options_.runner;
  runnerOptions.topology = unit.config.name;
  runnerOptions.pollInterval = pollInterval;
  runnerOptions.onRemoval = unit.config.onRemoval;
  runnerOptions.removalHold = unit.config.removalHold;
  runnerOptions.watchNodes = unit.config.watchNodes;
  auto runner =
      std::make_unique<TopologyRunner>(runnerOptions, strategy, *observed, clock_, metrics_);
  std::lock_guard lock(unit.mutex);
  unit.runner.reset(); // the old runner refers to the old connector
  unit.connector = std::move(observed);
  return runner;
}

Result<void> AgentApp::start() {
  if (started_) {
    return {};
  }
  if (!isNodeName(options_.node)) {
    return Error{Error::Code::Invalid,
                 "node: the local node's name must be like app@10.0.0.7, got \"" + options_.node +
                     "\""};
  }
  std::vector<std::unique_ptr<Unit>> units;
  for (const TopologyConfig& topology : config_.topologies) {
    auto unit = std::make_unique<Unit>();
    unit->config = topology;
    const std::string where = "topologies." + topology.name;
    Result<std::unique_ptr<Resolver>> resolver = makeResolver_();
    if (!resolver) {
      return Error{resolver.error().code, where + ": " + resolver.error().message};
    }
    unit->resolver = std::move(*resolver);
    StrategyDeps deps{.clock = clock_,
                      .self = options_.node,
                      .resolver = unit->resolver.get(),
                      .api = api_,
                      .fetch = fetch_,
                      .topology = topology.name,
                      .metrics = &metrics_};
    Result<std::unique_ptr<Strategy>> strategy = makeStrategy(topology.strategy, deps);
    if (!strategy) {
      // Invalid errors start with the option they are about.
      const bool namesOption = strategy.error().code == Error::Code::Invalid;
      return Error{strategy.error().code,
                   where + (namesOption ? ".config." : ": ") + strategy.error().message};
    }
    unit->strategy = std::move(*strategy);
    unit->followed = dynamic_cast<ClusterTopologyStrategy*>(unit->strategy.get());
    if (unit->followed == nullptr) {
      ConnectorSettings settings{topology.name, topology.connect, topology.disconnect,
                                 topology.listNodes};
      Result<std::unique_ptr<TopologyRunner>> runner = buildRunner(
          *unit, settings, topology.pollInterval.value_or(kDefaultPollInterval), *unit->strategy);
      if (!runner) {
        return Error{runner.error().code, where + ": " + runner.error().message};
      }
      unit->runner = std::move(*runner);
    }
    units.push_back(std::move(unit));
  }

  server_.route("/metrics", [this] {
    for (const TopologyReport& report : reports()) {
      const auto& snapshot = report.snapshot;
      std::size_t missing = 0;
      for (const NodeName& peer : snapshot.desired) {
        missing += snapshot.connected.contains(peer) ? 0 : 1;
      }
      metrics_
          .gaugeFamily("libcluster_agent_desired_peers",
                       "Peers the last discovery found, by topology.", {"topology"})
          .withLabels({snapshot.topology})
          .Set(static_cast<double>(snapshot.desired.size()));
      metrics_
          .gaugeFamily("libcluster_agent_missing_peers",
                       "Desired peers the local node is not connected to, by topology.",
                       {"topology"})
          .withLabels({snapshot.topology})
          .Set(static_cast<double>(missing));
      metrics_
          .gaugeFamily("libcluster_agent_local_node_up",
                       "1 when the local node answered the agent's last call, by topology.",
                       {"topology"})
          .withLabels({snapshot.topology})
          .Set(report.nodeError ? 0.0 : 1.0);
    }
    return HttpResponse{200, std::string(MetricsRegistry::kContentType), metrics_.render()};
  });
  server_.route("/healthz", [] { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; });
  server_.route("/readyz", [this] {
    return isReady() ? HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}
                     : HttpResponse{503, "text/plain; charset=utf-8", "peers not discovered yet\n"};
  });
  // Assigned before the server starts: its handlers read units_ from the server's thread.
  units_ = std::move(units);
  if (Result<void> serving = server_.start(); !serving) {
    units_.clear();
    return Error{serving.error().code, "metrics-bind-address: " + serving.error().message};
  }

  for (const std::unique_ptr<Unit>& unit : units_) {
    Unit* raw = unit.get();
    unit->thread = std::jthread([this, raw](std::stop_token stop) { runUnit(*raw, stop); });
  }
  if (!options_.podName.empty() && !options_.podNamespace.empty()) {
    if (api_ == nullptr) {
      stop();
      return Error{Error::Code::Invalid, "pod-name: reporting on the pod needs the Kubernetes API"};
    }
    PodReporter::Options reporterOptions = options_.reporter;
    reporterOptions.namespaceName = options_.podNamespace;
    reporterOptions.podName = options_.podName;
    reporter_ =
        std::make_unique<PodReporter>(*api_, clock_, reporterOptions, [this] { return reports(); });
    reporterThread_ = std::jthread([this](std::stop_token stop) { reporter_->run(stop); });
  }
  started_ = true;
  logInfo("agent started", {{"node", options_.node},
                            {"topologies", config_.topologies.size()},
                            {"metricsPort", server_.port()}});
  return {};
}

void AgentApp::runUnit(Unit& unit, std::stop_token stop) {
  if (unit.followed != nullptr) {
    runFollowingSpec(unit, stop);
    return;
  }
  unit.runner->run(stop);
}

void AgentApp::runFollowingSpec(Unit& unit, std::stop_token stop) {
  ClusterTopologyStrategy& followed = *unit.followed;
  bool waitingLogged = false;
  while (!stop.stop_requested()) {
    if (!followed.waitUntilReady(stop, 10s)) {
      if (!waitingLogged && !stop.stop_requested()) {
        logWarn("waiting for the ClusterTopology's status",
                {{"topology", unit.config.name}, {"object", followed.key()}});
        waitingLogged = true;
      }
      continue;
    }
    const std::optional<TopologySettings> spec = followed.settings();
    if (!spec) {
      continue; // deleted again meanwhile
    }
    // The calls are the node owner's, not the ClusterTopology editor's: a spec may only pick
    // among the agent's allowedCalls (a call the file itself sets is not taken from the spec).
    TopologySettings picked = *spec;
    picked.connect = unit.config.connect ? std::nullopt : spec->connect;
    picked.disconnect = unit.config.disconnect ? std::nullopt : spec->disconnect;
    picked.listNodes = unit.config.listNodes ? std::nullopt : spec->listNodes;
    if (std::optional<std::string> refused = disallowedCall(picked, config_.allowedCalls)) {
      {
        std::lock_guard lock(unit.mutex);
        unit.runner.reset();
        unit.guard.reset();
        unit.connector.reset();
        if (unit.callNotAllowed != refused) {
          logError("ClusterTopology asks for a call the agent does not allow",
                   {{"topology", unit.config.name}, {"object", followed.key()}, {"why", *refused}});
        }
        unit.callNotAllowed = refused;
      }
      // Wait for the spec to change: discoverPeers marks the current version as seen.
      while (!stop.stop_requested() && followed.settings() == spec) {
        (void)followed.discoverPeers(stop);
        (void)followed.waitForChange(clock_.now() + kDefaultPollInterval, stop, clock_);
      }
      continue;
    }
    {
      std::lock_guard lock(unit.mutex);
      unit.callNotAllowed.reset();
    }
    logInfo("following the ClusterTopology's members",
            {{"topology", unit.config.name}, {"object", followed.key()}});
    // The agent's own configuration wins over the spec; the spec over libcluster's defaults.
    ConnectorSettings settings{unit.config.name,
                               unit.config.connect ? unit.config.connect : spec->connect,
                               unit.config.disconnect ? unit.config.disconnect : spec->disconnect,
                               unit.config.listNodes ? unit.config.listNodes : spec->listNodes};
    std::stop_source restart;
    std::stop_callback forward(stop, [&restart] { restart.request_stop(); });
    auto guard = std::make_unique<SettingsGuard>(followed, *spec, restart);
    Result<std::unique_ptr<TopologyRunner>> runner = buildRunner(
        unit, settings,
        unit.config.pollInterval.value_or(
            std::chrono::duration_cast<std::chrono::milliseconds>(spec->reconnectInterval)),
        *guard);
    if (!runner) {
      logError("cannot make the connector the ClusterTopology asks for",
               {{"topology", unit.config.name}, {"error", runner.error().message}});
      (void)clock_.sleepFor(kDefaultPollInterval, stop);
      continue;
    }
    TopologyRunner* running = runner->get();
    {
      std::lock_guard lock(unit.mutex);
      unit.guard = std::move(guard);
      unit.runner = std::move(*runner);
    }
    running->run(restart.get_token());
    if (!stop.stop_requested()) {
      logInfo("ClusterTopology spec changed, restarting the topology",
              {{"topology", unit.config.name}});
    }
  }
}

void AgentApp::stop() {
  reporterThread_ = std::jthread();
  for (const std::unique_ptr<Unit>& unit : units_) {
    unit->thread = std::jthread(); // requests stop and joins
  }
  server_.stop();
  if (started_) {
    logInfo("agent stopped", {{"node", options_.node}});
  }
  started_ = false;
}

std::vector<TopologyReport> AgentApp::reports() const {
  std::vector<TopologyReport> out;
  for (const std::unique_ptr<Unit>& unit : units_) {
    std::lock_guard lock(unit->mutex);
    TopologyReport report;
    if (unit->runner) {
      report.snapshot = unit->runner->snapshot();
    } else {
      report.snapshot.topology = unit->config.name;
    }
    if (unit->connector) {
      report.nodeError = unit->connector->lastNodeError();
    }
    report.callNotAllowed = unit->callNotAllowed;
    out.push_back(std::move(report));
  }
  return out;
}

bool AgentApp::isReady() const {
  for (const TopologyReport& report : reports()) {
    if (!report.snapshot.lastSuccessfulSync) {
      return false;
    }
  }
  return true;
}

} // namespace libcluster
