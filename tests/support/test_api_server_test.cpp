#include "support/test_api_server.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
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

bool processAlive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pidField;
  std::string command;
  char state = 'X';
  if (!(stat >> pidField >> command >> state)) {
    return false;
  }
  return state != 'Z' && state != 'X';
}

TEST(TestApiServer, ServerStopsWhenTheProcessOwningItDies) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t owner = ::fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    ::close(fds[0]);
    auto* leaked = new TestApiServer();
    const std::string report = std::to_string(leaked->pid()) + " " + leaked->dir() + "\n";
    ssize_t ignored = ::write(fds[1], report.data(), report.size());
    (void)ignored;
    ::_exit(0); // a crash: no destructor runs
  }
  ::close(fds[1]);
  char buffer[512] = {};
  const ssize_t n = ::read(fds[0], buffer, sizeof(buffer) - 1);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(owner, &status, 0);
  ASSERT_GT(n, 0);
  std::istringstream report(std::string(buffer, static_cast<std::size_t>(n)));
  pid_t server = -1;
  std::string dir;
  report >> server >> dir;
  ASSERT_GT(server, 0);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (processAlive(server) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  EXPECT_FALSE(processAlive(server));
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
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
