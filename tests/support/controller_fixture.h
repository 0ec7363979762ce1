#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "controller/controller_app.h"
#include "core/clock.h"
#include "dns/cares_resolver.h"
#include "kube/http_kube_api.h"
#include "support/resource_paths.h"
#include "support/test_api_server.h"

namespace libcluster {

/// The set-up the controller's integration tests share: the test API server (TLS, bookmarks every
/// second), the CRDs of crds/ applied with kubectl, a client `api_` for the test's own requests,
/// and libcluster-controller replicas started in-process, each with its own client (its user agent
/// tells its requests apart in the server's log) and resolver. TearDown stops every replica before
/// the server goes away.
class ControllerFixture : public testing::Test {
protected:
  explicit ControllerFixture(int serverHistory = 1000);

  void SetUp() override;
  void TearDown() override;

  /// A client of the test API server with the token kubeconfig and `userAgent`.
  std::unique_ptr<HttpKubeApi> makeApi(const std::string& userAgent);

  /// Starts a replica (metrics and probes on ephemeral loopback ports); DNS goes to `dnsServer`
  /// when given, else to the system's resolver. The replica lives until stopControllers().
  ControllerApp& startController(ControllerApp::Options options = {},
                                 const std::string& dnsServer = "",
                                 const std::string& userAgent = "libcluster-controller");
  /// Stops and destroys every replica, in start order.
  void stopControllers();

  /// `kubectl apply -f -` of `yaml`; a failure fails the test.
  void kubectlApply(const std::string& yaml);

  /// The requests in the server's log (in the order it answered them) whose user agent starts
  /// with `userAgentPrefix`.
  std::vector<nlohmann::json> requestsFrom(const std::string& userAgentPrefix);

  TestApiServer server_;
  SystemClock clock_;
  std::unique_ptr<HttpKubeApi> api_;

private:
  struct Replica {
    std::unique_ptr<HttpKubeApi> api;
    std::unique_ptr<CaresResolver> resolver;
    std::unique_ptr<ControllerApp> app;
    ~Replica() {
      app.reset(); // stop before the client and resolver it uses go away
    }
  };
  std::vector<std::unique_ptr<Replica>> replicas_;
};


} // namespace libcluster
