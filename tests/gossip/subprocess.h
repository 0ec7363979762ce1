#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace libcluster {

/// A child process with its stdout and stderr captured. Started with fork/exec; killed by its
/// PID (SIGKILL) if still running when destroyed.
class Subprocess {
public:
  static std::optional<Subprocess> start(const std::vector<std::string>& argv);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&&) = delete;
  Subprocess(const Subprocess&) = delete;
  ~Subprocess();

  /// Waits up to `timeout` for the process to exit, collecting its output; the exit status, or
  /// nullopt on timeout (the process is then killed).
  std::optional<int> wait(std::chrono::milliseconds timeout);

  const std::string& output() const { return output_; }

private:
  Subprocess(pid_t pid, int outFd) : pid_(pid), outFd_(outFd) {}

  pid_t pid_ = -1;
  int outFd_ = -1;
  std::string output_;
};

/// Runs a command to completion (or `timeout`); nullopt when it could not start or timed out.
struct Finished {
  int status;
  std::string output;
};
std::optional<Finished> runToCompletion(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds timeout);

} // namespace libcluster
