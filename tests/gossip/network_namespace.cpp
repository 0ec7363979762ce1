#include "gossip/network_namespace.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace libcluster {

bool runCommand(const std::string& command) { return std::system(command.c_str()) == 0; }

namespace {

/// Deletes namespaces "g-<pid>-<n>" whose test process is gone (it crashed before its
/// destructors ran), so a crash does not leak namespaces into later runs.
void deleteOrphans() {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/var/run/netns", error)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("g-", 0) != 0) {
      continue;
    }
    pid_t owner = static_cast<pid_t>(std::atol(name.c_str() + 2));
    if (owner > 0 && ::kill(owner, 0) != 0 && errno == ESRCH) {
      runCommand("ip netns del " + name);
    }
  }
}

} // namespace

std::optional<NetworkNamespace> NetworkNamespace::create(std::string& whyNot) {
  if (::geteuid() != 0) {
    whyNot = "network namespaces need root (ip netns add); not running as root";
    return std::nullopt;
  }
  deleteOrphans();
  static std::atomic<int> sequence{0};
  std::string name = "g-" + std::to_string(::getpid()) + "-" + std::to_string(++sequence);
  if (!runCommand("ip netns add " + name + " 2>&1")) {
    whyNot = "`ip netns add " + name + "` failed (no CAP_SYS_ADMIN, or no iproute2)";
    return std::nullopt;
  }
  NetworkNamespace created(name);
  if (!created.ip("link set lo up") || !created.ip("link set lo multicast on") ||
      !created.ip("route add 224.0.0.0/4 dev lo")) {
    whyNot = "could not set up lo in " + name + ": " + created.failed();
    return std::nullopt;
  }
  return created;
}

NetworkNamespace::NetworkNamespace(NetworkNamespace&& other) noexcept
    : name_(std::move(other.name_)), failed_(std::move(other.failed_)) {
  other.name_.clear();
}

NetworkNamespace& NetworkNamespace::operator=(NetworkNamespace&& other) noexcept {
  if (this != &other) {
    if (!name_.empty()) {
      runCommand("ip netns del " + name_);
    }
    name_ = std::move(other.name_);
    failed_ = std::move(other.failed_);
    other.name_.clear();
  }
  return *this;
}

NetworkNamespace::~NetworkNamespace() {
  if (!name_.empty()) {
    runCommand("ip netns del " + name_);
  }
}

bool NetworkNamespace::ip(const std::string& arguments) {
  std::string command = "ip -n " + name_ + " " + arguments;
  if (!runCommand(command + " 2>&1")) {
    if (failed_.empty()) {
      failed_ = command;
    }
    return false;
  }
  return true;
}

bool NetworkNamespace::enter(const std::function<void()>& fn) const {
  bool entered = false;
  std::thread([&] {
    int fd = ::open(("/var/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return;
    }
    entered = ::setns(fd, CLONE_NEWNET) == 0;
    ::close(fd);
    if (entered) {
      fn();
    }
  }).join();
  return entered;
}

} // namespace libcluster
