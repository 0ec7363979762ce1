// Hostile watch streams over real HTTP: a 200 000-deep JSON array inside an event and a line far
// over the line cap. Whoever controls the API server's answers (or a proxy in front of it) can
// send these; the process must survive and the store must keep what it knows.
#include <sys/resource.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "informer/informer.h"
#include "integration/kube/scripted_http_server.h"
#include "kube/http_kube_api.h"
#include "support/eventually.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using Server = ScriptedHttpServer;

std::string podJson(const std::string& name, const std::string& version,
                    const std::string& spec = "{}") {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
         R"(","namespace":"default","resourceVersion":")" + version + R"("},"spec":)" + spec + "}";
}

std::string watchLine(const std::string& type, const std::string& object) {
  return R"({"type":")" + type + R"(","object":)" + object + "}\n";
}

long peakRssKiB() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST(WatchBounds, SurvivesADeepArrayAndAnOversizeLineAndKeepsTheStore) {
  const std::string list =
      R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"10"},"items":[)" +
      podJson("a", "10") + "]}";
  const std::string deep = std::string(200'000, '[') + std::string(200'000, ']');
  const std::string oversize(6 * 1024 * 1024, ' ');
  std::vector<Server::Script> scripts{
      {.pieces = {Server::response(200, list)}},
      {.pieces = {Server::chunkedHead(),
                  Server::chunk(watchLine("ADDED", podJson("deep", "11", R"({"x":)" + deep + "}"))),
                  Server::lastChunk()}},
      {.pieces = {Server::chunkedHead(),
                  Server::chunk(R"({"type":"ADDED","object":{"metadata":{"name":")" + oversize),
                  Server::chunk(oversize), Server::lastChunk()}},
      {.pieces = {Server::chunkedHead(), Server::chunk(watchLine("ADDED", podJson("c", "12"))),
                  Server::lastChunk()}},
  };
  Server server(std::move(scripts));
  KubeConfig config;
  config.server = server.url();
  config.token = "t";
  HttpKubeApi::Options apiOptions;
  apiOptions.requestTimeout = 10s;
  Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(config, apiOptions);
  ASSERT_TRUE(api) << api.error().message;
  SystemClock clock;
  Watcher::Options options;
  options.backoff.initial = 50ms;
  options.backoff.max = 200ms;
  Informer<nlohmann::json> informer(**api, clock, ResourcePath{.resource = "pods"}, options,
                                    stripObject);
  const long before = peakRssKiB();

  informer.start();

  ASSERT_TRUE(eventually([&] { return informer.store().get("default/c") != nullptr; }))
      << "errors: " << informer.stats().errors;
  EXPECT_NE(informer.store().get("default/a"), nullptr);
  EXPECT_EQ(informer.store().get("default/deep"), nullptr);
  EXPECT_GE(informer.stats().errors, 2U);
  // Two 6 MiB pieces arrive; the line cap (4 MiB) ends the watch before the second is kept.
  EXPECT_LT(peakRssKiB() - before, 64 * 1024);
  informer.stop();
}

} // namespace
} // namespace libcluster
