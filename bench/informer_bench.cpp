// Measures the Kubernetes client and informer against a running API server:
//   informer_bench populate --kubeconfig K --pods N      creates N realistic pods (parallel)
//   informer_bench sync --kubeconfig K [--transform pod|json] [--updates M]
// `sync` lists+watches the pods into an informer and prints one JSON line: time to sync, peak RSS
// of this process at sync, then the watch-event throughput and latency for M label patches.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <malloc.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include "bench/pod_fixture.h"
#include "informer/informer.h"
#include "kube/http_kube_api.h"
#include "kube/kube_config.h"
#include "membership/pod.h"

namespace {

using namespace libcluster;
using Steady = std::chrono::steady_clock;

const ResourcePath kPods{.resource = "pods", .namespaceName = "default"};

long peakRssKiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

/// CPU time (user + system) of this process so far: steadier than wall time on a loaded machine.
double cpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

int populate(KubeApi& api, int pods, int threads) {
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  const auto started = Steady::now();
  std::vector<std::jthread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = next++; i < pods; i = next++) {
        // Like the real API server, the test server resets status on create: set it the way
        // the kubelet would, through /status.
        const std::string name = "bench-" + std::to_string(i);
        const nlohmann::json pod = bench::realisticPod(name, i);
        ResourcePath status = kPods.object(name);
        status.subresource = "status";
        if (!api.create(kPods, pod) || !api.mergePatch(status, {{"status", pod["status"]}})) {
          ++failed;
        }
      }
    });
  }
  workers.clear();
  const double seconds = std::chrono::duration<double>(Steady::now() - started).count();
  std::cout << nlohmann::json{{"populated", pods - failed.load()}, {"failed", failed.load()},
                              {"seconds", seconds}, {"bytesPerPod", bench::realisticPod("bench-0", 0).dump().size()}}
                   .dump()
            << std::endl;
  return failed.load() == 0 ? 0 : 1;
}

template <typename T>
int sync(KubeApi& api, typename ObjectStore<T>::Transform transform, const std::string& name,
         int updates, int writers, int pageSize) {
  SystemClock clock;
  Watcher::Options options;
  options.labelSelector = "app=bench";
  options.pageSize = pageSize;
  if constexpr (std::is_same_v<T, PodInfo>) {
    options.onlyFields = podFields(); // as the controller's pod informer
  }
  Informer<T> informer(api, clock, kPods, options, std::move(transform));
  std::mutex mutex;
  std::map<std::string, Steady::time_point> sent;
  std::vector<double> latenciesMs;
  std::atomic<int> seen{0};
  std::atomic<bool> synced{false};
  informer.addHandlers({.onAdd = nullptr,
                        .onUpdate =
                            [&](const T&, const T& now) {
                              std::string key;
                              if constexpr (std::is_same_v<T, PodInfo>) {
                                key = now.name;
                              } else {
                                key = now["metadata"]["name"].template get<std::string>();
                              }
                              const auto at = Steady::now();
                              std::lock_guard lock(mutex);
                              if (auto it = sent.find(key); it != sent.end()) {
                                latenciesMs.push_back(
                                    std::chrono::duration<double, std::milli>(at - it->second).count());
                                sent.erase(it);
                                ++seen;
                              }
                            },
                        .onDelete = nullptr,
                        .onSynced = [&] { synced = true; }});

  const auto started = Steady::now();
  const double cpuAtStart = cpuSeconds();
  informer.start();
  while (!synced.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const double syncSeconds = std::chrono::duration<double>(Steady::now() - started).count();
  const double syncCpuSeconds = cpuSeconds() - cpuAtStart;
  const long rssAtSync = peakRssKiB();
  const std::size_t objects = informer.store().size();

  // Watch throughput: patch a label on `updates` pods from `writers` threads and wait for each
  // MODIFIED event to reach the handler.
  std::atomic<int> next{0};
  const int podCount = static_cast<int>(objects);
  const std::string runId = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  const auto patchStarted = Steady::now();
  {
    std::vector<std::jthread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&] {
        for (int i = next++; i < updates; i = next++) {
          const std::string pod = "bench-" + std::to_string(i % std::max(podCount, 1));
          {
            std::lock_guard lock(mutex);
            sent[pod] = Steady::now();
          }
          (void)api.mergePatch(kPods.object(pod),
                               {{"metadata", {{"labels", {{"round", runId + "-" + std::to_string(i)}}}}}});
        }
      });
    }
  }
  const auto deadline = Steady::now() + std::chrono::seconds(60);
  while (seen.load() < std::min(updates, podCount) && Steady::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double patchSeconds = std::chrono::duration<double>(Steady::now() - patchStarted).count();
  informer.stop();
  std::lock_guard lock(mutex);
  std::cout << nlohmann::json{{"transform", name},
                              {"objects", objects},
                              {"syncSeconds", syncSeconds},
                              {"syncCpuSeconds", syncCpuSeconds},
                              {"peakRssMiBAtSync", static_cast<double>(rssAtSync) / 1024.0},
                              {"updates", updates},
                              {"updateEventsSeen", seen.load()},
                              {"updateEventsPerSecond", seen.load() / patchSeconds},
                              {"eventLatencyMsP50", percentile(latenciesMs, 0.5)},
                              {"eventLatencyMsP99", percentile(latenciesMs, 0.99)},
                              {"peakRssMiB", static_cast<double>(peakRssKiB()) / 1024.0}}
                   .dump()
            << std::endl;
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App cli{"informer benchmark"};
  cli.require_subcommand(1);
  std::string kubeconfig;
  int pods = 10000;
  int threads = 8;
  std::string transform = "pod";
  int updates = 2000;
  int writers = 4;
  int pageSize = 100;
  int arenas = 2;
  auto* populateCommand = cli.add_subcommand("populate", "create realistic pods");
  populateCommand->add_option("--kubeconfig", kubeconfig)->required();
  populateCommand->add_option("--pods", pods);
  populateCommand->add_option("--threads", threads);
  auto* syncCommand = cli.add_subcommand("sync", "measure list+watch sync and watch throughput");
  syncCommand->add_option("--kubeconfig", kubeconfig)->required();
  syncCommand->add_option("--transform", transform)->check(CLI::IsMember({"pod", "json"}));
  syncCommand->add_option("--updates", updates);
  syncCommand->add_option("--writers", writers);
  syncCommand->add_option("--page-size", pageSize, "LIST page size (the controller uses 100)");
  syncCommand->add_option("--malloc-arenas", arenas, "M_ARENA_MAX (the controller uses 2; 0 = glibc default)");
  CLI11_PARSE(cli, argc, argv);

  if (arenas > 0) {
    mallopt(M_ARENA_MAX, arenas);
  }
  Result<KubeConfig> config = loadKubeconfig(kubeconfig);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return 2;
  }
  Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(*config);
  if (!api) {
    std::cerr << api.error().message << "\n";
    return 2;
  }
  if (*populateCommand) {
    return populate(**api, pods, threads);
  }
  if (transform == "pod") {
    return sync<PodInfo>(**api, [](const nlohmann::json& o) { return podFromJson(o); }, "PodInfo",
                         updates, writers, pageSize);
  }
  return sync<nlohmann::json>(
      **api, [](const nlohmann::json& o) -> std::optional<nlohmann::json> { return stripObject(o); },
      "stripped JSON", updates, writers, pageSize);
}
