#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/result.h"
#include "strategy/strategy.h"

namespace libcluster {

/// How libcluster reads the value a connect / disconnect function returned.
enum class CallOutcome {
  True,    // connected / disconnected
  False,   // connect: unreachable; disconnect: already disconnected
  Ignored, // the local node is not part of a distributed network
  Other,   // anything else; `term` has it printed
};

struct CallReply {
  CallOutcome outcome;
  std::string term; // the reply printed as an Erlang term, for logs
};

/// One connectAtOnce: each peer's reply, or the Error of that peer's call alone (Timeout: it did
/// not return in time).
using ConnectReplies = std::map<NodeName, Result<CallReply>>;

/// A change of the local node's connections, as `net_kernel:monitor_nodes` reports it.
struct NodeEvent {
  enum class Kind { Up, Down };
  Kind kind;
  NodeName node;
  std::string reason; // nodedown's reason, printed; empty for Up

  bool operator==(const NodeEvent&) const = default;
};

/// What one wait for node events brought.
struct NodeEvents {
  /// A new watch was set up in the local node (first wait, local node restarted, watcher died):
  /// whatever happened before it was not reported, so the caller should look at the whole state.
  bool rearmed = false;
  std::vector<NodeEvent> events;
};

/// Makes the local BEAM node run libcluster's three operations (connect / disconnect / list
/// nodes, each a configurable MFA with the peer appended). Thread-safe: several connects may run
/// in parallel. An Error means the local node could not be asked (down, wrong cookie, RPC
/// timeout, a reply that is not a term), never "the peer is unreachable" (that is False).
class Connector {
public:
  virtual ~Connector() = default;

  virtual Result<CallReply> connect(const NodeName& peer, std::chrono::milliseconds timeout) = 0;
  virtual Result<CallReply> disconnect(const NodeName& peer, std::chrono::milliseconds timeout) = 0;
  /// The list_nodes MFA's answer; Invalid when it is not a list of atoms.
  virtual Result<PeerSet> connectedPeers(std::chrono::milliseconds timeout) = 0;
  /// The local node's name (what "self" is for the runner).
  virtual const NodeName& localNode() const = 0;

  /// Disconnects the local node from every node of `peers` in ONE call, so that all the links drop
  /// at the same instant and `global` (prevent_overlapping_partitions) on the peers never sees
  /// some of them still connected to this node while others report it lost. nullopt: this
  /// connector cannot (a custom disconnect call), disconnect one by one.
  virtual std::optional<Result<void>> disconnectAtOnce(const PeerSet& peers,
                                                       std::chrono::milliseconds timeout) {
    (void)peers;
    (void)timeout;
    return std::nullopt;
  }

  /// Whether connectAtOnce works; a connector that cannot connects one peer per call.
  virtual bool connectsAtOnce() const { return false; }
  /// Connects the local node to every node of `peers` in ONE call: inside the local node the
  /// connect call runs once per peer (with the peer appended, as connect does), all at the same
  /// time, so N peers cost one round trip and the slowest handshake. An Error: the local node
  /// could not be asked (as for connect); otherwise every peer of `peers` has its entry.
  virtual Result<ConnectReplies> connectAtOnce(const PeerSet& peers,
                                               std::chrono::milliseconds timeout) {
    (void)peers;
    (void)timeout;
    return Error{Error::Code::Internal, "this connector connects one peer per call"};
  }

  /// Whether waitForNodeEvents works; a connector that cannot watch the local node answers false
  /// and the runner relies on its periodic sync alone.
  virtual bool reportsNodeEvents() const { return false; }
  /// Waits up to `timeout` (or until `stop`) for nodeup / nodedown of the local node's visible
  /// peers, setting the watch up first when there is none. Empty events: nothing happened. An
  /// Error means the local node could not be watched (down, RPC failed).
  virtual Result<NodeEvents> waitForNodeEvents(std::chrono::milliseconds timeout,
                                               std::stop_token stop) {
    (void)timeout;
    (void)stop;
    return Error{Error::Code::Internal, "this connector does not report node events"};
  }
};

} // namespace libcluster
