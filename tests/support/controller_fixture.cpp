#include "support/controller_fixture.h"

#include <chrono>

#include "kube/kube_config.h"
#include "kube/url_fetcher.h"

namespace libcluster {

using namespace std::chrono_literals;

ControllerFixture::ControllerFixture(int serverHistory)
    : server_(TestApiServer::Options{.history = serverHistory, .bookmarkIntervalSeconds = 1}) {}

void ControllerFixture::SetUp() {
  ASSERT_TRUE(server_.started()) << server_.error();
  const auto crds = server_.kubectl(std::string("apply -f ") + LIBCLUSTER_SOURCE_DIR + "/crds/");
  ASSERT_EQ(crds.exitCode, 0) << crds.output;
  api_ = makeApi("libcluster-test");
}

void ControllerFixture::TearDown() { stopControllers(); }

std::unique_ptr<HttpKubeApi> ControllerFixture::makeApi(const std::string& userAgent) {
  Result<KubeConfig> config = loadKubeconfig(server_.kubeconfigPath());
  EXPECT_TRUE(config) << config.error().message;
  if (!config) {
    return nullptr;
  }
  HttpKubeApi::Options options;
  options.userAgent = userAgent;
  Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(*config, options);
  EXPECT_TRUE(api) << api.error().message;
  return api ? std::move(*api) : nullptr;
}

ControllerApp& ControllerFixture::startController(ControllerApp::Options options,
                                                  const std::string& dnsServer,
                                                  const std::string& userAgent) {
  auto replica = std::make_unique<Replica>();
  replica->api = makeApi(userAgent);
  CaresResolverOptions resolverOptions;
  if (!dnsServer.empty()) {
    resolverOptions.servers = {dnsServer};
  }
  resolverOptions.timeout = 2s;
  Result<std::unique_ptr<CaresResolver>> resolver = CaresResolver::create(resolverOptions);
  EXPECT_TRUE(resolver) << resolver.error().message;
  replica->resolver = std::move(*resolver);
  options.metricsBindAddress = "127.0.0.1:0";
  options.healthProbeBindAddress = "127.0.0.1:0";
  replica->app = std::make_unique<ControllerApp>(*replica->api, *replica->resolver,
                                                 makeUrlFetcher(2s), clock_, options);
  Result<void> started = replica->app->start();
  EXPECT_TRUE(started) << started.error().message;
  replicas_.push_back(std::move(replica));
  return *replicas_.back()->app;
}

void ControllerFixture::stopControllers() { replicas_.clear(); }

void ControllerFixture::kubectlApply(const std::string& yaml) {
  const auto applied = server_.kubectl("apply -f -", yaml);
  ASSERT_EQ(applied.exitCode, 0) << applied.output;
}

std::vector<nlohmann::json> ControllerFixture::requestsFrom(const std::string& userAgentPrefix) {
  std::vector<nlohmann::json> found;
  for (const nlohmann::json& request : server_.requests()) {
    if (request.value("userAgent", "").starts_with(userAgentPrefix)) {
      found.push_back(request);
    }
  }
  return found;
}

} // namespace libcluster
