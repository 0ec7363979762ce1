#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"

namespace libcluster {

/// The outcome of one child process run to completion (or killed at its deadline).
struct CommandOutput {
  int exitCode = -1; // -1 when killed at the deadline or when it could not start
  bool timedOut = false;
  std::string output; // stdout and stderr, interleaved
};

/// Runs argv (argv[0] a path, or a name looked up in PATH) with `input` on stdin and `env` added
/// to the environment, and kills it by PID at `timeout`.
CommandOutput runCommand(const std::vector<std::string>& argv, const std::string& input,
                         std::chrono::milliseconds timeout,
                         const std::map<std::string, std::string>& env = {});

/// A TCP port that is free on 127.0.0.1 and on every given loopback address, outside the
/// ephemeral range, for the nodes of one test to share as their distribution port.
int pickDistributionPort(const std::vector<std::string>& addresses);

/// One real Erlang/OTP node, started with `erl` for a test and stopped by PID.
///
/// By default nodes run without epmd: every node of a test listens on the same port
/// (-erl_epmd_port) on its own 127.0.0.N (inet_dist_use_interface), so several nodes can share a
/// basename, as libcluster's app@<pod-ip> names do. With `epmdPort`, the node registers with the
/// epmd there instead (see EpmdDaemon) and listens on a port of its choosing. The child gets
/// PR_SET_PDEATHSIG, so it dies with the thread that started it: start nodes from the test's main
/// thread. Not thread-safe.
class BeamNode {
public:
  struct Options {
    /// "app@127.0.0.N": a long name whose host is a 127.x.y.z literal.
    std::string name;
    std::string cookie;
    /// The distribution port, shared by every node of the test (without epmd).
    int port = 0;
    /// When set, the node registers with the epmd on 127.0.0.1:epmdPort (ERL_EPMD_PORT) and
    /// `port` is unused.
    int epmdPort = 0;
    /// -kernel prevent_overlapping_partitions false -connect_all false: no transitive meshing
    /// by `global`, and a disconnect cuts only the link asked for. Disconnect tests need it.
    bool isolated = true;
    std::vector<std::string> extraArgs;
    /// Where <alive>-<address>.log goes (stdout and stderr of the node).
    std::string logDir = "/tmp";
  };

  explicit BeamNode(Options options);
  /// Kills the node if it still runs.
  ~BeamNode();
  BeamNode(const BeamNode&) = delete;
  BeamNode& operator=(const BeamNode&) = delete;

  /// Starts the node and waits until it answers an RPC. A no-op when it already runs.
  Result<void> start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// Starts the process without waiting (several nodes boot in parallel); then waitUntilUp.
  Result<void> spawn();
  Result<void> waitUntilUp(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// SIGTERM, then SIGKILL after `grace`; reaps the node and its erl_child_setup.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  /// SIGKILL now, like a crashed pod.
  void kill();
  /// kill() then start(): the same name and address, a new incarnation.
  Result<void> restart(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// Suspends (SIGSTOP) or resumes (SIGCONT) the node: it keeps its sockets but answers nothing.
  void freeze();
  void thaw();

  bool isRunning();
  pid_t pid() const { return pid_; }
  const std::string& name() const { return options_.name; }
  /// "127.0.0.N".
  const std::string& address() const { return address_; }
  const std::string& cookie() const { return options_.cookie; }
  /// The distribution port without epmd; 0 when the node uses epmd.
  int port() const { return options_.epmdPort > 0 ? 0 : options_.port; }
  std::string logPath() const;
  std::string logTail(std::size_t maxChars = 2000) const;

  /// Evaluates Erlang expressions ("nodes()." with the final dot) on the node through erl_call,
  /// and returns the result term as erl_call prints it.
  Result<std::string> eval(const std::string& expression,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// nodes(): the visible peers.
  Result<std::set<std::string>> nodes();
  /// nodes(connected): visible and hidden (agents), without this fixture's own erl_call probes.
  Result<std::set<std::string>> connectedNodes();
  /// Polls nodes() until `predicate` holds or `timeout` passes; returns the last answer's verdict.
  bool waitForNodes(const std::function<bool(const std::set<std::string>&)>& predicate,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Drops every distribution connection this node has (a clean slate between tests).
  Result<void> disconnectAll();

private:
  Result<std::set<std::string>> nodeList(const std::string& listExpression);
  /// Records the node's descendants (erl_child_setup & co.) so they can be reaped after
  /// beam.smp is gone: we are their subreaper.
  void rememberChildren();
  void reap(std::chrono::milliseconds grace);

  Options options_;
  std::string address_;
  pid_t pid_ = -1;
  std::vector<pid_t> children_; // descendants, reaped because we are their subreaper
};

class EpmdDaemon;

/// The nodes of one test (suite): a shared port, a random cookie, a scratch directory for logs.
/// Stops every node (by PID) when destroyed. Not thread-safe.
class BeamTestbed {
public:
  /// How the nodes find each other.
  enum class Discovery {
    /// No epmd: every node listens on one shared port, each on its own 127.0.0.N.
    SharedPort,
    /// An epmd of the testbed's own on 127.0.0.1 (EpmdDaemon, started by startAll) that the
    /// nodes register with, as a release's nodes do. ERL_EPMD_PORT is set in this process while
    /// the testbed lives; ei reads it once per process, so such a suite has an executable of its
    /// own.
    Epmd,
  };

  explicit BeamTestbed(Discovery discovery = Discovery::SharedPort);
  ~BeamTestbed();
  BeamTestbed(const BeamTestbed&) = delete;
  BeamTestbed& operator=(const BeamTestbed&) = delete;

  /// Declares a node ("app@127.0.0.N"); it starts with startAll() or its own start().
  /// `isolated` false runs the node with OTP's defaults (`global` meshes transitively and
  /// prevents overlapping partitions), as production nodes run.
  BeamNode& add(const std::string& name, std::vector<std::string> extraArgs = {},
                bool isolated = true);
  BeamNode& node(const std::string& name);
  /// Starts every declared node that is not running, booting them in parallel.
  Result<void> startAll(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// Kills every node (SIGKILL) and reaps it.
  void stopAll();
  /// Between tests: every declared node running (started again when a test stopped it) and
  /// connected to nobody.
  Result<void> resetAll();

  /// The nodes' shared distribution port, or epmd's port (Discovery::Epmd).
  int port() const { return port_; }
  const std::string& cookie() const { return cookie_; }
  const std::string& dir() const { return dir_; }

private:
  Discovery discovery_;
  int port_ = 0;
  std::string cookie_;
  std::string dir_;
  std::unique_ptr<EpmdDaemon> epmd_; // Discovery::Epmd
  std::map<std::string, std::unique_ptr<BeamNode>> nodes_;
};

/// An epmd of our own on 127.0.0.1:port, in the foreground, stopped by PID. Nodes with
/// BeamNode::Options::epmdPort register there; ei finds it through ERL_EPMD_PORT.
class EpmdDaemon {
public:
  explicit EpmdDaemon(int port);
  ~EpmdDaemon();
  EpmdDaemon(const EpmdDaemon&) = delete;
  EpmdDaemon& operator=(const EpmdDaemon&) = delete;

  /// Waits until epmd accepts connections.
  Result<void> start(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void stop();
  int port() const { return port_; }

private:
  int port_;
  pid_t pid_ = -1;
};

/// An address that takes TCP connections and never answers the distribution handshake, like a
/// peer whose host is up but blackholed: connect_node to it blocks for net_setuptime (7 s).
class BlackholePeer {
public:
  BlackholePeer(const std::string& address, int port);
  ~BlackholePeer();
  BlackholePeer(const BlackholePeer&) = delete;
  BlackholePeer& operator=(const BlackholePeer&) = delete;

  bool listening() const { return fd_ >= 0; }

private:
  int fd_ = -1;
};

} // namespace libcluster
