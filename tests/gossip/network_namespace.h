#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace libcluster {

/// A network namespace made with `ip netns add` for one test and deleted (with every interface
/// in it) on destruction. Creating one needs root; create() says why when it cannot.
class NetworkNamespace {
public:
  /// A namespace named "g-<pid>-<n>" whose only interface is `lo`, up, with multicast on and a
  /// route for 224.0.0.0/4 (beam-notes "Gossip on one machine"). On failure, `whyNot` says why.
  static std::optional<NetworkNamespace> create(std::string& whyNot);

  NetworkNamespace(NetworkNamespace&& other) noexcept;
  NetworkNamespace& operator=(NetworkNamespace&& other) noexcept;
  NetworkNamespace(const NetworkNamespace&) = delete;
  ~NetworkNamespace();

  const std::string& name() const { return name_; }

  /// Runs `ip -n <name> <arguments>`; false (with the command in `failed`) when it fails.
  bool ip(const std::string& arguments);

  /// Runs `fn` on a thread that has entered this namespace, so the sockets it opens live here;
  /// false when the namespace could not be entered.
  bool enter(const std::function<void()>& fn) const;

  /// The first command that failed, for test messages.
  const std::string& failed() const { return failed_; }

private:
  explicit NetworkNamespace(std::string name) : name_(std::move(name)) {}

  std::string name_;
  std::string failed_;
};

/// Runs a shell command; true when it exits 0. Output goes to the test's log.
bool runCommand(const std::string& command);

} // namespace libcluster
