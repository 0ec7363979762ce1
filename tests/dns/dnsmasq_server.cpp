#include "dns/dnsmasq_server.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dns/loopback.h"

extern char** environ;

namespace libcluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";

// A DNS query for "ready.probe." type A, id 0x4242: any answer at all, even REFUSED, shows that
// dnsmasq is up. Hand-made so that the fixture does not depend on the code under test.
std::vector<unsigned char> probeQuery() {
  std::vector<unsigned char> query = {0x42, 0x42, 0x01, 0x00, 0x00, 0x01,
                                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  for (const std::string label : {"ready", "probe"}) {
    query.push_back(static_cast<unsigned char>(label.size()));
    query.insert(query.end(), label.begin(), label.end());
  }
  query.insert(query.end(), {0x00, 0x00, 0x01, 0x00, 0x01});
  return query;
}

bool answersQueries(int port, milliseconds wait) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(static_cast<std::uint16_t>(port));
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::vector<unsigned char> query = probeQuery();
  bool answered = false;
  if (sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&server),
             sizeof server) == static_cast<ssize_t>(query.size())) {
    pollfd fds{fd, POLLIN, 0};
    unsigned char reply[512];
    answered = poll(&fds, 1, static_cast<int>(wait.count())) > 0 &&
               recv(fd, reply, sizeof reply, 0) >= 2 && reply[0] == 0x42 && reply[1] == 0x42;
  }
  close(fd);
  return answered;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Stops `pid` politely, then firmly, and reaps it.
void stopProcess(pid_t pid) {
  kill(pid, SIGTERM);
  const steady_clock::time_point deadline = steady_clock::now() + std::chrono::seconds(2);
  while (steady_clock::now() < deadline) {
    const pid_t done = waitpid(pid, nullptr, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) {
      return;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

Result<pid_t> spawn(const std::vector<std::string>& args, const std::string& logPath) {
  std::vector<char*> argv;
  for (const std::string& arg : args) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, logPath.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, kDnsmasq, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    return Error{Error::Code::Unavailable,
                 std::string("could not start ") + kDnsmasq + ": errno " + std::to_string(spawned)};
  }
  return pid;
}

} // namespace

Result<std::unique_ptr<DnsmasqServer>> DnsmasqServer::start(const std::vector<std::string>& options,
                                                            milliseconds readyTimeout) {
  std::string lastLog;
  // The port is free when chosen but not reserved; if dnsmasq loses the race it exits, and we
  // try another.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int port = freeLoopbackPort();
    const std::string logPath =
        "/tmp/libcluster-dnsmasq-" + std::to_string(getpid()) + "-" + std::to_string(port) + ".log";
    std::vector<std::string> args = {kDnsmasq,
                                     "--keep-in-foreground",
                                     "--no-daemon",
                                     "--conf-file=/dev/null",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--pid-file=",
                                     "--port=" + std::to_string(port),
                                     "--listen-address=127.0.0.1",
                                     "--bind-interfaces"};
    args.insert(args.end(), options.begin(), options.end());
    Result<pid_t> pid = spawn(args, logPath);
    if (!pid) {
      return pid.error();
    }

    const steady_clock::time_point deadline = steady_clock::now() + readyTimeout;
    bool exited = false;
    while (steady_clock::now() < deadline) {
      if (waitpid(*pid, nullptr, WNOHANG) == *pid) {
        exited = true;
        break;
      }
      if (answersQueries(port, milliseconds(100))) {
        return std::unique_ptr<DnsmasqServer>(new DnsmasqServer(*pid, port, logPath));
      }
    }
    lastLog = readFile(logPath);
    if (!exited) {
      stopProcess(*pid);
      std::remove(logPath.c_str());
      return Error{Error::Code::Timeout, "dnsmasq did not answer within " +
                                             std::to_string(readyTimeout.count()) +
                                             " ms; its log: " + lastLog};
    }
    std::remove(logPath.c_str());
  }
  return Error{Error::Code::Unavailable, "dnsmasq exited at start; its log: " + lastLog};
}

DnsmasqServer::DnsmasqServer(pid_t pid, int port, std::string logPath)
    : pid_(pid), port_(port), logPath_(std::move(logPath)) {}

DnsmasqServer::~DnsmasqServer() {
  stopProcess(pid_);
  std::remove(logPath_.c_str());
}

std::string DnsmasqServer::address() const { return "127.0.0.1:" + std::to_string(port_); }

std::string DnsmasqServer::log() const { return readFile(logPath_); }

} // namespace libcluster
