// Measures a running libcluster-controller from outside, through the API server:
//   controller_bench topologies --kubeconfig K --count 100
//       creates ClusterTopology bench-<i> selecting the pods of group i (100 pods each) and "big"
//       selecting groups 0–49 (5 000 pods), all with readiness IncludeNotReady.
//   controller_bench latency --kubeconfig K --changes 200
//       flips one pod's Ready condition at a time and times how long until status.readyCount of
//       "big" shows it (pod change → controller → status write → watch): p50/p99.
//   controller_bench burst --kubeconfig K --changes 100 --metrics URL
//       changes 100 pods as fast as possible and reports how many status writes the controller
//       made for them (libcluster_status_writes_total before/after, from its /metrics).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>

#include "api/resource_paths.h"
#include "informer/informer.h"
#include "kube/http_kube_api.h"
#include "kube/kube_config.h"
#include "kube/url_fetcher.h"

namespace {

using namespace libcluster;
using Steady = std::chrono::steady_clock;

const ResourcePath kPods{.resource = "pods", .namespaceName = "default"};
const ResourcePath kTopologies = topologiesPath("default");

nlohmann::json topology(const std::string& name, const nlohmann::json& selector) {
  return {{"apiVersion", "libcluster.dev/v1alpha1"},
          {"kind", "ClusterTopology"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec",
           {{"nodeBasename", "bench"}, {"sources", {{{"kubernetes", {{"selector", selector}}}}}}}}};
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5))];
}

Result<void> setReady(KubeApi& api, const std::string& pod, bool ready) {
  ResourcePath status = kPods.object(pod);
  status.subresource = "status";
  nlohmann::json conditions = nlohmann::json::array(
      {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}, {{"type", "PodScheduled"}, {"status", "True"}}});
  Result<nlohmann::json> patched = api.mergePatch(status, {{"status", {{"conditions", conditions}}}});
  if (!patched) {
    return patched.error();
  }
  return {};
}

double scrape(const std::string& metricsUrl, const std::string& metric) {
  Result<std::string> body = makeUrlFetcher()(metricsUrl, {});
  if (!body) {
    return -1;
  }
  std::size_t at = body->find("\n" + metric + " ");
  if (at == std::string::npos) {
    return 0;
  }
  return std::stod(body->substr(at + metric.size() + 2));
}

} // namespace

int main(int argc, char** argv) {
  CLI::App cli{"controller benchmark"};
  cli.require_subcommand(1);
  std::string kubeconfig;
  int count = 100;
  int changes = 200;
  std::string metricsUrl;
  auto* topologies = cli.add_subcommand("topologies", "create the bench topologies");
  topologies->add_option("--kubeconfig", kubeconfig)->required();
  topologies->add_option("--count", count);
  auto* latency = cli.add_subcommand("latency", "pod Ready change → status write latency");
  latency->add_option("--kubeconfig", kubeconfig)->required();
  latency->add_option("--changes", changes);
  auto* burst = cli.add_subcommand("burst", "status writes for a burst of pod changes");
  burst->add_option("--kubeconfig", kubeconfig)->required();
  burst->add_option("--changes", changes);
  burst->add_option("--metrics", metricsUrl)->required();
  CLI11_PARSE(cli, argc, argv);

  Result<KubeConfig> config = loadKubeconfig(kubeconfig);
  Result<std::unique_ptr<HttpKubeApi>> created = config ? HttpKubeApi::create(*config)
                                                        : Result<std::unique_ptr<HttpKubeApi>>(config.error());
  if (!created) {
    std::cerr << created.error().message << "\n";
    return 2;
  }
  HttpKubeApi& api = **created;

  if (*topologies) {
    for (int i = 0; i < count; ++i) {
      (void)api.create(kTopologies, topology("bench-" + std::to_string(i),
                                             {{"matchLabels", {{"app", "bench"}, {"group", std::to_string(i)}}}}));
    }
    Result<nlohmann::json> big =
        api.create(kTopologies, topology("big", {{"matchLabels", {{"app", "bench"}, {"half", "first"}}}}));
    std::cout << nlohmann::json{{"topologies", count + 1}, {"big", static_cast<bool>(big)}}.dump() << std::endl;
    return big ? 0 : 1;
  }

  // Follow "big" through a watch, as a user's kubectl get -w would.
  SystemClock clock;
  Watcher::Options options;
  options.fieldSelector = "metadata.name=big";
  std::mutex mutex;
  std::condition_variable changed;
  long readyCount = -1;
  Informer<nlohmann::json> informer(api, clock, kTopologies, options,
                                    [](const nlohmann::json& o) -> std::optional<nlohmann::json> { return o; });
  auto observe = [&](const nlohmann::json& o) {
    std::lock_guard lock(mutex);
    readyCount = o.contains("status") ? o["status"].value("readyCount", -1L) : -1L;
    changed.notify_all();
  };
  informer.addHandlers({.onAdd = observe,
                        .onUpdate = [&](const nlohmann::json&, const nlohmann::json& o) { observe(o); },
                        .onDelete = nullptr,
                        .onSynced = nullptr});
  informer.start();
  {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, std::chrono::seconds(60), [&] { return readyCount >= 0; })) {
      std::cerr << "topology big has no status: is the controller running?\n";
      return 1;
    }
  }

  if (*latency) {
    std::vector<double> latenciesMs;
    for (int i = 0; i < changes; ++i) {
      // Each pod is flipped twice (not Ready, then Ready again), so every change moves readyCount.
      // Groups 0–49 belong to "big": pod k has group k % 100.
      const int pair = i / 2;
      const int index = (pair / 50) * 100 + pair % 50;
      const std::string pod = "bench-" + std::to_string(index);
      long before;
      {
        std::lock_guard lock(mutex);
        before = readyCount;
      }
      const bool ready = i % 2 == 1;
      const auto started = Steady::now();
      if (!setReady(api, pod, ready)) {
        continue;
      }
      std::unique_lock lock(mutex);
      if (changed.wait_for(lock, std::chrono::seconds(10), [&] { return readyCount != before; })) {
        latenciesMs.push_back(std::chrono::duration<double, std::milli>(Steady::now() - started).count());
      }
    }
    std::cout << nlohmann::json{{"changes", changes},
                                {"observed", latenciesMs.size()},
                                {"latencyMsP50", percentile(latenciesMs, 0.5)},
                                {"latencyMsP99", percentile(latenciesMs, 0.99)},
                                {"latencyMsMax", percentile(latenciesMs, 1.0)}}
                     .dump()
              << std::endl;
  } else {
    const double writesBefore = scrape(metricsUrl, "libcluster_status_writes_total");
    long before;
    {
      std::lock_guard lock(mutex);
      before = readyCount;
    }
    std::atomic<int> next{0};
    {
      std::vector<std::jthread> writers;
      for (int w = 0; w < 8; ++w) {
        writers.emplace_back([&] {
          for (int i = next++; i < changes; i = next++) {
            // Pods of "big" the latency run did not touch.
            const int j = i + 1000;
            (void)setReady(api, "bench-" + std::to_string((j / 50) * 100 + j % 50), false);
          }
        });
      }
    }
    std::unique_lock lock(mutex);
    (void)changed.wait_for(lock, std::chrono::seconds(30), [&] { return readyCount == before - changes; });
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double writesAfter = scrape(metricsUrl, "libcluster_status_writes_total");
    std::cout << nlohmann::json{{"podChanges", changes},
                                {"readyCountBefore", before},
                                {"readyCountAfter", readyCount},
                                {"statusWrites", writesAfter - writesBefore}}
                     .dump()
              << std::endl;
  }
  informer.stop();
  return 0;
}
