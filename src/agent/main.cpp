// libcluster-agent: the composition root. Reads flags and the configuration, builds the concrete
// KubeApi, CaresResolvers and EiConnectors, runs AgentApp until SIGTERM/SIGINT.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "agent/agent_app.h"
#include "agent/agent_config.h"
#include "core/log.h"
#include "dist/ei_connector.h"
#include "dns/cares_resolver.h"
#include "kube/http_kube_api.h"
#include "kube/kube_config.h"
#include "kube/url_fetcher.h"
#include "ops/startup.h"
#include "ops/startup_cli.h"

namespace {

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

bool needsKubernetes(const libcluster::AgentConfig& config) {
  for (const libcluster::TopologyConfig& topology : config.topologies) {
    if (topology.strategy.kind == "ClusterTopology" || topology.strategy.kind == "Kubernetes") {
      return true;
    }
  }
  return false;
}

// As the controller's (controller/main.cpp).
constexpr std::size_t kIoThreads = 2;

} // namespace

int main(int argc, char** argv) {
  using namespace libcluster;

  CLI::App cli{"libcluster-agent: keeps the BEAM node beside it connected to the members of its "
               "topologies (libcluster's strategies), and reports what it sees on its pod."};
  std::string configPath = "/etc/libcluster/agent.yaml";
  std::string node;
  int nodePort = 0;
  std::string cookieFile;
  std::string kubeconfig;
  AgentApp::Options options;
  cli.add_option("--config", configPath, "The agent configuration (YAML; a mounted ConfigMap key)")
      ->envname("LIBCLUSTER_CONFIG")
      ->capture_default_str();
  cli.add_option("--node", node,
                 "The local node's name, e.g. app@10.0.0.7 (default: the configuration's node)")
      ->envname("RELEASE_NODE");
  cli.add_option("--node-port", nodePort,
                 "The local node's distribution port when it runs without epmd (-erl_epmd_port); 0 "
                 "asks epmd")
      ->envname("LIBCLUSTER_NODE_PORT")
      ->check(CLI::Range(0, 65535));
  cli.add_option("--cookie-file", cookieFile,
                 "A file holding the distribution cookie (default: $RELEASE_COOKIE, else the "
                 "configuration's cookieFile)")
      ->envname("LIBCLUSTER_COOKIE_FILE");
  addKubeconfigOption(cli, kubeconfig);
  addMetricsBindAddressOption(cli, options.metricsBindAddress, "/metrics, /healthz and /readyz");
  cli.add_option("--namespace", options.podNamespace,
                 "The agent's namespace: the default of namespace options, and where its pod is")
      ->envname("POD_NAMESPACE");
  cli.add_option("--pod-name", options.podName,
                 "The agent's pod; when set (with the namespace) the agent reports on its status")
      ->envname("POD_NAME");
  if (std::optional<int> status = parseCommandLine(cli, argc, argv, "libcluster-agent")) {
    return *status;
  }

  // Not fatal yet: only some strategies, and reporting, need the API.
  Result<KubeConfig> kube = loadDefaultConfig(kubeconfig, "");
  std::string namespaceName = options.podNamespace;
  if (namespaceName.empty() && kube) {
    namespaceName = kube->namespaceName;
  }
  Result<StrategyEnvironment> env = StrategyEnvironment::fromProcess(namespaceName);
  if (!env) {
    return startupFailed(env.error().message);
  }
  Result<AgentConfig> config = loadAgentConfig(configPath, *env);
  if (!config) {
    return startupFailed(config.error().message);
  }

  options.node = node.empty() ? config->node : node;
  if (options.node.empty()) {
    return startupFailed("node: set --node, RELEASE_NODE or the configuration's node");
  }
  const std::string cookie = environment("RELEASE_COOKIE");
  if (cookieFile.empty() && cookie.empty()) {
    cookieFile = config->cookieFile;
  }
  if (cookieFile.empty() && cookie.empty() && !environment("HOME").empty()) {
    cookieFile = environment("HOME") + "/.erlang.cookie"; // as erl does without a cookie
  }
  if (cookieFile.empty() && cookie.empty()) {
    return startupFailed("cookie: set --cookie-file, RELEASE_COOKIE or the configuration's cookieFile");
  }
  if (!cookieFile.empty()) {
    // Checked now: a ClusterTopology's connector is only made once its object is read.
    if (Result<void> readable = checkCookieFile(cookieFile); !readable) {
      return startupFailed("cookie: " + readable.error().message);
    }
  }

  std::unique_ptr<HttpKubeApi> api;
  const bool reporting = !options.podName.empty() && !options.podNamespace.empty();
  if (needsKubernetes(*config) || reporting) {
    if (!kube) {
      return startupFailed(kube.error().message);
    }
    // One agent beside every node: cpprestsdk's default of 40 I/O threads would be ~38 idle ones
    // in each. An open watch is a socket, not a held thread (HttpKubeApiPoolTest serves 6 watches
    // and 4 writers on one thread).
    if (Result<void> sized = HttpKubeApi::setIoThreads(kIoThreads); !sized) {
      return startupFailed(sized.error().message);
    }
    HttpKubeApi::Options apiOptions;
    apiOptions.userAgent = "libcluster-agent/0.1";
    Result<std::unique_ptr<HttpKubeApi>> made = HttpKubeApi::create(*kube, apiOptions);
    if (!made) {
      return startupFailed(made.error().message);
    }
    api = std::move(*made);
  }

  ConnectorFactory makeConnector =
      [&](const ConnectorSettings& settings) -> Result<std::unique_ptr<Connector>> {
    EiConnectorOptions connector;
    connector.localNode = options.node;
    connector.localNodePort = nodePort;
    // An explicit cookie file wins over RELEASE_COOKIE; the configuration's file comes last.
    if (!cookieFile.empty()) {
      connector.cookieFile = cookieFile;
    } else {
      connector.cookie = cookie;
    }
    if (settings.connect) {
      connector.connect = *settings.connect;
    }
    if (settings.disconnect) {
      connector.disconnect = *settings.disconnect;
    }
    if (settings.listNodes) {
      connector.listNodes = *settings.listNodes;
    }
    Result<std::unique_ptr<EiConnector>> made = EiConnector::create(std::move(connector));
    if (!made) {
      return made.error();
    }
    return std::unique_ptr<Connector>(std::move(*made));
  };
  ResolverFactory makeResolver = []() -> Result<std::unique_ptr<Resolver>> {
    Result<std::unique_ptr<CaresResolver>> made = CaresResolver::create();
    if (!made) {
      return made.error();
    }
    return std::unique_ptr<Resolver>(std::move(*made));
  };

  SystemClock clock;
  AgentApp app(std::move(*config), options, clock, api.get(), makeUrlFetcher(), makeResolver,
               makeConnector);
  return runUntilStopSignal(app, clock);
}
