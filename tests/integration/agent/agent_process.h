#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/stop_process.h"

namespace libcluster {

/// The libcluster-agent binary run by a test: started with arguments and an environment of its
/// own (the agent's variables of the test process are not inherited), its output in a log file,
/// stopped by PID with SIGTERM (SIGKILL after a grace period). It dies with the thread that
/// started it (PR_SET_PDEATHSIG), so start it from the test's main thread.
class AgentProcess {
public:
  AgentProcess(const std::string& binary, const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env, std::string logPath)
      : logPath_(std::move(logPath)) {
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(127);
      }
      const int log = ::open(logPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      for (const char* name :
           {"RELEASE_NODE", "RELEASE_COOKIE", "POD_NAME", "POD_NAMESPACE", "LIBCLUSTER_CONFIG",
            "LIBCLUSTER_COOKIE_FILE", "LIBCLUSTER_NODE_PORT", "KUBERNETES_SERVICE_HOST",
            "KUBECONFIG", "METRICS_BIND_ADDRESS"}) {
        ::unsetenv(name);
      }
      for (const auto& [name, value] : env) {
        ::setenv(name.c_str(), value.c_str(), 1);
      }
      std::vector<char*> argv;
      std::vector<std::string> all{binary};
      all.insert(all.end(), args.begin(), args.end());
      for (std::string& arg : all) {
        argv.push_back(arg.data());
      }
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~AgentProcess() { stop(); }
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  bool started() const { return pid_ > 0; }

  /// SIGTERM, then SIGKILL after `grace`; the exit code (128 + signal when killed), or -1.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10)) {
    if (pid_ <= 0) {
      return exitCode_;
    }
    const int status = stopProcess(pid_, grace);
    pid_ = -1;
    exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exitCode_;
  }

  /// SIGKILL now, like a crashed container; the exit code (137).
  int kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
    }
    return stop();
  }

  /// Whether it still runs (false once it exited on its own).
  bool isRunning() {
    if (pid_ <= 0) {
      return false;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }
  int exitCode() const { return exitCode_; }

  std::string log() const {
    std::ifstream in(logPath_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

private:
  std::string logPath_;
  pid_t pid_ = -1;
  int exitCode_ = -1;
};

} // namespace libcluster
