// libcluster-controller: the composition root. Reads flags, builds the concrete KubeApi, Resolver
// and fetcher, runs ControllerApp until SIGTERM/SIGINT.
#include <atomic>
#include <cstdlib>
#include <iostream>

#include <malloc.h>

#include <CLI/CLI.hpp>

#include "controller/controller_app.h"
#include "core/log.h"
#include "dns/cares_resolver.h"
#include "kube/http_kube_api.h"
#include "kube/kube_config.h"
#include "kube/url_fetcher.h"
#include "ops/startup.h"
#include "ops/startup_cli.h"

namespace {

constexpr std::size_t kIoThreads = 2;

} // namespace

int main(int argc, char** argv) {
  using namespace libcluster;
  // glibc gives every thread that allocates its own arena; with cpprestsdk's thread pool that
  // tripled the peak RSS for no speed we could measure (bench/README.md). One arena: with the
  // pool at 2 threads there is little contention, and it saved 0.3 MiB of peak RSS over 2.
  mallopt(M_ARENA_MAX, 1);

  CLI::App cli{"libcluster-controller: writes the membership of ClusterTopology resources into "
               "their status, from pods, EndpointSlices, DNS, static node names and Rancher."};
  std::string kubeconfig;
  std::string context;
  ControllerApp::Options options;
  bool noEndpointSlices = false;
  addKubeconfigOption(cli, kubeconfig);
  cli.add_option("--context", context, "kubeconfig context to use (default: current-context)");
  cli.add_option("--namespace", options.namespaceName,
                 "Watch ClusterTopologies and pods in this namespace only (default: all namespaces)")
      ->envname("WATCH_NAMESPACE");
  cli.add_flag("--leader-elect", options.leaderElect,
               "Enable leader election with a coordination.k8s.io Lease, so only one replica writes")
      ->envname("LEADER_ELECT");
  cli.add_option("--leader-election-id", options.leaderElectionId, "Name of the Lease")
      ->envname("LEADER_ELECTION_ID")
      ->capture_default_str();
  cli.add_option("--leader-election-namespace", options.leaderElectionNamespace,
                 "Namespace of the Lease (default: the pod's namespace in-cluster, else default)")
      ->envname("LEADER_ELECTION_NAMESPACE");
  addMetricsBindAddressOption(cli, options.metricsBindAddress, "the Prometheus /metrics endpoint");
  cli.add_option("--health-probe-bind-address", options.healthProbeBindAddress,
                 "Address of /healthz and /readyz; \"0\" disables them")
      ->envname("HEALTH_PROBE_BIND_ADDRESS")
      ->capture_default_str();
  cli.add_option("--rancher-allowed-hosts", options.rancherAllowedHosts,
                 "Hosts rancher sources may fetch from, comma-separated: host or host:port, "
                 "matched exactly; an empty value allows none")
      ->envname("RANCHER_ALLOWED_HOSTS")
      ->delimiter(',')
      ->capture_default_str();
  cli.add_flag("--allow-cross-namespace-sources", options.allowCrossNamespaceSources,
               "Let kubernetes sources read any namespace without a TopologyReferenceGrant there")
      ->envname("ALLOW_CROSS_NAMESPACE_SOURCES");
  cli.add_option("--max-members-per-namespace", options.maxMembersPerNamespace,
                 "Members the topologies of one namespace may hold together (0: no limit); a "
                 "topology over it keeps its last members and reports Degraded")
      ->envname("MAX_MEMBERS_PER_NAMESPACE")
      ->capture_default_str();
  cli.add_flag("--no-endpointslices", noEndpointSlices,
               "Do not watch EndpointSlices (sources with resource endpointSlices then report Degraded)")
      ->envname("NO_ENDPOINTSLICES");
  if (std::optional<int> status = parseCommandLine(cli, argc, argv, "libcluster-controller")) {
    return *status;
  }
  options.watchEndpointSlices = !noEndpointSlices;
  std::erase(options.rancherAllowedHosts, std::string());
  if (Result<UrlAllowList> hosts = UrlAllowList::parse(options.rancherAllowedHosts); !hosts) {
    return startupFailed("--rancher-allowed-hosts: " + hosts.error().message);
  }

  Result<KubeConfig> config = loadDefaultConfig(kubeconfig, context);
  if (!config) {
    return startupFailed(config.error().message);
  }
  if (options.leaderElectionNamespace.empty() || options.leaderElectionNamespace == "default") {
    if (const char* podNamespace = std::getenv("POD_NAMESPACE"); podNamespace != nullptr && *podNamespace) {
      options.leaderElectionNamespace = podNamespace;
    } else if (config->source == "in-cluster") {
      options.leaderElectionNamespace = config->namespaceName;
    }
  }

  // The registry lives in the app, which needs the client first: the observer finds the counter
  // through this pointer once the app exists.
  std::atomic<CounterFamily*> requests{nullptr};
  HttpKubeApi::Options apiOptions;
  apiOptions.observer = [&requests](std::string_view method, int code, std::chrono::nanoseconds) {
    if (CounterFamily* family = requests.load()) {
      family->withLabels({std::to_string(code), std::string(method)}).Increment();
    }
  };
  // cpprestsdk's default of 40 I/O threads for five watches and one writer: 38 idle threads
  // (bench/README.md).
  if (Result<void> sized = HttpKubeApi::setIoThreads(kIoThreads); !sized) {
    return startupFailed(sized.error().message);
  }
  Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(*config, apiOptions);
  if (!api) {
    return startupFailed(api.error().message);
  }
  Result<std::unique_ptr<CaresResolver>> resolver = CaresResolver::create();
  if (!resolver) {
    return startupFailed(resolver.error().message);
  }
  SystemClock clock;
  ControllerApp app(**api, **resolver, makeUrlFetcher(), clock, options);
  requests = &app.metrics().counterFamily("rest_client_requests_total",
                                     "Number of HTTP requests, partitioned by status code and method.",
                                     {"code", "method"});

  return runUntilStopSignal(app, clock, [&] {
    logInfo("serving", {{"server", (*api)->server()},
                        {"config", config->source},
                        {"metricsPort", app.metricsPort()},
                        {"healthPort", app.healthPort()}});
  });
}
