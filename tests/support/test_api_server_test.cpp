#include "support/test_api_server.h"

#include <signal.h>

#include <cerrno>
#include <filesystem>
#include <vector>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

TEST(TestApiServer, StartsAndServesKubectl) {
  TestApiServer server;
  ASSERT_TRUE(server.started()) << server.error();

  const TestApiServer::CommandResult result = server.kubectl("get namespaces -o name");

  EXPECT_EQ(result.exitCode, 0) << result.output;
  EXPECT_NE(result.output.find("namespace/default"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("namespace/kube-system"), std::string::npos) << result.output;
  EXPECT_EQ(server.url().rfind("https://127.0.0.1:", 0), 0U) << server.url();
}

TEST(TestApiServer, WritesCredentialsAndKubeconfigs) {
  TestApiServer server;
  ASSERT_TRUE(server.started()) << server.error();

  for (const std::string& path :
       {server.kubeconfigPath(), server.kubeconfigCertPath(), server.caPath(),
        server.clientCertPath(), server.clientKeyPath()}) {
    EXPECT_TRUE(std::filesystem::exists(path)) << path;
  }
  const TestApiServer::CommandResult viaCert =
      server.kubectl("--kubeconfig=" + server.kubeconfigCertPath() + " get ns default -o name");
  EXPECT_EQ(viaCert.exitCode, 0) << viaCert.output;
  EXPECT_EQ(server.token(), "test-token");
}

TEST(TestApiServer, StopLeavesNoProcessAndNoDirectory) {
  pid_t pid = -1;
  std::string dir;
  {
    TestApiServer server;
    ASSERT_TRUE(server.started()) << server.error();
    pid = server.pid();
    dir = server.dir();
    ASSERT_EQ(::kill(pid, 0), 0);
  }

  errno = 0;
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(TestApiServer, InjectedFailureWithoutRetryAfterFailsKubectl) {
  TestApiServer server;
  ASSERT_TRUE(server.started()) << server.error();
  server.failNext(1, 503, 0, "/api/v1/namespaces/default");

  const TestApiServer::CommandResult failed =
      server.kubectl("get --raw /api/v1/namespaces/default");
  const TestApiServer::CommandResult ok = server.kubectl("get --raw /api/v1/namespaces/default");

  EXPECT_NE(failed.exitCode, 0) << failed.output;
  EXPECT_NE(failed.output.find("the server is currently unable to handle the request"),
            std::string::npos)
      << failed.output;
  EXPECT_EQ(ok.exitCode, 0) << ok.output;
}

TEST(TestApiServer, InjectedThrottlingIsRetriedAfterRetryAfterAndRecorded) {
  TestApiServer server;
  ASSERT_TRUE(server.started()) << server.error();
  server.clearRequests();
  server.failNext(1, 429, 1, "/api/v1/namespaces/default");

  const TestApiServer::CommandResult result =
      server.kubectl("get --raw /api/v1/namespaces/default");

  EXPECT_EQ(result.exitCode, 0) << result.output;
  std::vector<int> codes;
  for (const nlohmann::json& request : server.requests()) {
    if (request["path"] == "/api/v1/namespaces/default") {
      codes.push_back(request["code"].get<int>());
    }
  }
  EXPECT_EQ(codes, (std::vector<int>{429, 200}));
  const nlohmann::json stats = server.stats();
  EXPECT_GE(stats.value("objects", 0), 2) << stats.dump();
  EXPECT_EQ(stats.value("openWatches", -1), 0) << stats.dump();
}

TEST(TestApiServer, ReportsPlainHttpUrlWithoutTls) {
  TestApiServer server(TestApiServer::Options{.tls = false});
  ASSERT_TRUE(server.started()) << server.error();

  const TestApiServer::CommandResult result = server.kubectl("get ns kube-system -o name");

  EXPECT_EQ(server.url().rfind("http://127.0.0.1:", 0), 0U) << server.url();
  EXPECT_EQ(result.exitCode, 0) << result.output;
}

} // namespace
} // namespace libcluster
