#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

namespace libcluster {

/// Starts tests/support/apiserver/apiserver.py on loopback for one test (suite) and stops it by
/// PID in the destructor. Construction never throws: check started() and error(). Not
/// thread-safe; the admin calls block until the server answers (at most 10 s each).
class TestApiServer {
public:
  struct Options {
    bool tls = true;
    int history = 1000;
    std::string token = "test-token";
    /// 0 keeps the server's default (60 s).
    int bookmarkIntervalSeconds = 0;
  };

  /// Result of one kubectl run: exit code and stdout+stderr interleaved.
  struct CommandResult {
    int exitCode;
    std::string output;
  };

  TestApiServer();
  explicit TestApiServer(Options options);
  ~TestApiServer();
  TestApiServer(const TestApiServer&) = delete;
  TestApiServer& operator=(const TestApiServer&) = delete;

  bool started() const { return started_; }
  const std::string& error() const { return error_; }

  /// https://127.0.0.1:PORT (http:// when Options::tls is false).
  const std::string& url() const { return url_; }
  const std::string& adminUrl() const { return adminUrl_; }
  pid_t pid() const { return pid_; }
  std::string dir() const { return dir_; }
  std::string kubeconfigPath() const { return dir_ + "/kubeconfig"; }
  /// Kubeconfig authenticating with the client certificate instead of the token.
  std::string kubeconfigCertPath() const { return dir_ + "/kubeconfig-cert"; }
  std::string caPath() const { return dir_ + "/ca.crt"; }
  std::string clientCertPath() const { return dir_ + "/client.crt"; }
  std::string clientKeyPath() const { return dir_ + "/client.key"; }
  const std::string& token() const { return options_.token; }

  /// Closes every open watch stream abruptly (no final chunk).
  void dropWatches();
  /// Forgets the watch history: any older resourceVersion now gets 410 Expired.
  void expireHistory();
  /// Delays every API response by `latency`.
  void setLatency(std::chrono::milliseconds latency);
  /// Answers the next `count` API requests whose path starts with `pathPrefix` with a Status of
  /// `code` (and Retry-After when retryAfterSeconds > 0).
  void failNext(int count, int code, int retryAfterSeconds = 0, const std::string& pathPrefix = "");
  /// Adds a bearer token for `username`; with `podName`, bound to that pod as the kubelet's
  /// projected tokens are (userInfo.extra pod-name and pod-uid). False if the server refused.
  bool addToken(const std::string& token, const std::string& username,
                const std::string& podName = "", const std::string& podUid = "");
  /// Holds the next `count` API requests that match `method`, `pathPrefix` and `userAgentPrefix`
  /// (empty matches anything) for `seconds` before handling them: a hung request that still
  /// lands. Other requests are not delayed.
  void holdNext(int count, double seconds, const std::string& method,
                const std::string& pathPrefix, const std::string& userAgentPrefix = "");
  /// Every API request so far: [{method, path, query, code, contentType, accept, userAgent, user}].
  nlohmann::json requests();
  void clearRequests();
  /// {openWatches, objects, resourceVersion, historyEvents, historyFloor}.
  nlohmann::json stats();

  /// Runs /usr/bin/kubectl against this server. `args` is shell syntax (quotes work); the
  /// token kubeconfig is used unless args name another one with --kubeconfig. Gives up after
  /// 60 s (exit code 124).
  CommandResult kubectl(const std::string& args, const std::string& stdinText = "");

private:
  void start();
  void stop();
  /// One request to the admin listener; returns the parsed JSON body or null on failure.
  nlohmann::json admin(const std::string& method, const std::string& path,
                       const std::string& body = "");

  Options options_;
  bool started_ = false;
  std::string error_;
  std::string dir_;
  std::string url_;
  std::string adminUrl_;
  int adminPort_ = 0;
  pid_t pid_ = -1;
  int kubectlRuns_ = 0;
};

} // namespace libcluster
