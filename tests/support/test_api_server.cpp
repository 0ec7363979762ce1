#include "support/test_api_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "support/stop_process.h"

extern char** environ;

namespace libcluster {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kKubectl = "/usr/bin/kubectl";
constexpr auto kStartTimeout = 15s;
constexpr auto kStopGrace = 5s;

std::string serverScript() {
  return std::string(LIBCLUSTER_SOURCE_DIR) + "/tests/support/apiserver/apiserver.py";
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string shellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::string lastLines(const std::string& text, std::size_t maxChars) {
  return text.size() <= maxChars ? text : text.substr(text.size() - maxChars);
}

/// Spawns argv with stdout and stderr sent to `outputFd` (or `outputPath`), stdin from
/// `inputPath` (or /dev/null). Returns the pid or -1.
pid_t spawn(const std::vector<std::string>& argv, const std::string& inputPath, int outputFd,
            const std::string& outputPath) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(
      &actions, STDIN_FILENO, inputPath.empty() ? "/dev/null" : inputPath.c_str(), O_RDONLY, 0);
  if (outputFd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, outputFd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, outputFd, STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, outputFd);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, outputPath.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

/// Sends one HTTP/1.1 request to 127.0.0.1:port and returns the response body, or nullopt.
std::optional<std::string> httpRequest(int port, const std::string& method, const std::string& path,
                                       const std::string& body) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return std::nullopt;
  }
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::string request = method + " " + path +
                        " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nConnection: close\r\nContent-Type: application/json\r\n"
                        "Content-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return std::nullopt;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const std::size_t headerEnd = response.find("\r\n\r\n");
  if (headerEnd == std::string::npos || response.rfind("HTTP/1.1 200", 0) != 0) {
    return std::nullopt;
  }
  return response.substr(headerEnd + 4);
}

} // namespace

TestApiServer::TestApiServer() : TestApiServer(Options{}) {}

TestApiServer::TestApiServer(Options options) : options_(std::move(options)) { start(); }

TestApiServer::~TestApiServer() {
  stop();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

void TestApiServer::start() {
  char pattern[] = "/tmp/libcluster-apiserver-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    error_ = std::string("mkdtemp failed: ") + std::strerror(errno);
    return;
  }
  dir_ = pattern;
  std::vector<std::string> argv = {kPython,
                                   "-B",
                                   serverScript(),
                                   "--dir",
                                   dir_,
                                   "--port",
                                   "0",
                                   "--admin-port",
                                   "0",
                                   "--token",
                                   options_.token,
                                   "--history",
                                   std::to_string(options_.history),
                                   "--exit-with-parent"};
  if (!options_.tls) {
    argv.emplace_back("--http");
  }
  if (options_.bookmarkIntervalSeconds > 0) {
    argv.emplace_back("--bookmark-interval");
    argv.emplace_back(std::to_string(options_.bookmarkIntervalSeconds));
  }
  const std::string logPath = dir_ + "/server.log";
  pid_ = spawn(argv, "", -1, logPath);
  if (pid_ < 0) {
    error_ = std::string("posix_spawn of ") + kPython + " failed: " + std::strerror(errno);
    return;
  }
  const std::string readyPath = dir_ + "/ready";
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (true) {
    if (std::filesystem::exists(readyPath)) {
      break;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "test API server exited during start-up: " + lastLines(readFile(logPath), 2000);
      return;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      error_ =
          "test API server did not become ready within 15 s: " + lastLines(readFile(logPath), 2000);
      stop();
      return;
    }
    std::this_thread::sleep_for(20ms);
  }
  const nlohmann::json ready = nlohmann::json::parse(readFile(readyPath), nullptr, false);
  if (ready.is_discarded() || !ready.contains("url") || !ready.contains("adminUrl")) {
    error_ = "unreadable ready file " + readyPath;
    stop();
    return;
  }
  url_ = ready["url"].get<std::string>();
  adminUrl_ = ready["adminUrl"].get<std::string>();
  adminPort_ = std::atoi(adminUrl_.substr(adminUrl_.rfind(':') + 1).c_str());
  started_ = true;
}

void TestApiServer::stop() {
  if (pid_ <= 0) {
    return;
  }
  stopProcess(pid_, kStopGrace);
  pid_ = -1;
  started_ = false;
}

nlohmann::json TestApiServer::admin(const std::string& method, const std::string& path,
                                    const std::string& body) {
  if (!started_) {
    return nullptr;
  }
  const std::optional<std::string> response = httpRequest(adminPort_, method, path, body);
  if (!response) {
    return nullptr;
  }
  nlohmann::json parsed = nlohmann::json::parse(*response, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(nullptr) : parsed;
}

void TestApiServer::dropWatches() { admin("POST", "/drop-watches"); }

void TestApiServer::expireHistory() { admin("POST", "/expire-history"); }

void TestApiServer::setLatency(std::chrono::milliseconds latency) {
  admin("POST", "/latency", nlohmann::json{{"ms", latency.count()}}.dump());
}

void TestApiServer::holdNext(int count, double seconds, const std::string& method,
                             const std::string& pathPrefix, const std::string& userAgentPrefix) {
  admin("POST", "/hold",
        nlohmann::json{{"count", count},
                       {"seconds", seconds},
                       {"method", method},
                       {"pathPrefix", pathPrefix},
                       {"userAgentPrefix", userAgentPrefix}}
            .dump());
}

void TestApiServer::failNext(int count, int code, int retryAfterSeconds,
                             const std::string& pathPrefix) {
  admin("POST", "/fail",
        nlohmann::json{{"count", count},
                       {"code", code},
                       {"retryAfterSeconds", retryAfterSeconds},
                       {"pathPrefix", pathPrefix}}
            .dump());
}

bool TestApiServer::addToken(const std::string& token, const std::string& username,
                             const std::string& podName, const std::string& podUid) {
  nlohmann::json body{{"token", token},
                      {"username", username},
                      {"groups", {"system:serviceaccounts", "system:authenticated"}}};
  if (!podName.empty()) {
    body["pod"] = {{"name", podName}, {"uid", podUid}};
  }
  const nlohmann::json answer = admin("POST", "/tokens", body.dump());
  return answer.is_object() && answer.value("username", "") == username;
}

nlohmann::json TestApiServer::requests() { return admin("GET", "/requests"); }

void TestApiServer::clearRequests() { admin("DELETE", "/requests"); }

nlohmann::json TestApiServer::stats() { return admin("GET", "/stats"); }

TestApiServer::CommandResult TestApiServer::kubectl(const std::string& args,
                                                    const std::string& stdinText) {
  if (!started_) {
    return {127, "test API server not started: " + error_};
  }
  const int run = ++kubectlRuns_;
  std::string inputPath;
  if (!stdinText.empty()) {
    inputPath = dir_ + "/kubectl-stdin-" + std::to_string(run);
    std::ofstream(inputPath, std::ios::binary) << stdinText;
  }
  // The cache directory is per server so discovery from earlier servers (other ports) or a
  // CRD deleted earlier in this test can never leak in.
  const std::string command = "exec timeout -k 5 60 " + std::string(kKubectl) +
                              " --kubeconfig=" + shellQuote(kubeconfigPath()) +
                              " --cache-dir=" + shellQuote(dir_ + "/kubectl-cache") + " " + args;
  int pipeFds[2];
  if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
    return {127, std::string("pipe failed: ") + std::strerror(errno)};
  }
  const pid_t pid = spawn({"/bin/sh", "-c", command}, inputPath, pipeFds[1], "");
  ::close(pipeFds[1]);
  if (pid < 0) {
    ::close(pipeFds[0]);
    return {127, "posix_spawn of /bin/sh failed"};
  }
  std::string output;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(pipeFds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipeFds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!inputPath.empty()) {
    std::error_code ignored;
    std::filesystem::remove(inputPath, ignored);
  }
  const int exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {exitCode, output};
}

} // namespace libcluster
