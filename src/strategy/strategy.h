#pragma once

#include <optional>
#include <set>
#include <stop_token>
#include <string>

#include "core/clock.h"
#include "core/result.h"

namespace libcluster {

/// A node of the distributed application, e.g. "app@10.0.0.7".
using NodeName = std::string;
using PeerSet = std::set<NodeName>;

/// Answers one question: which peers should this node be connected to right now?
/// A strategy only looks; connecting, polling and retrying belong to TopologyRunner.
class Strategy {
public:
  virtual ~Strategy() = default;

  /// The complete desired peer set (it may include this node; the runner drops it). An empty set
  /// means "no peers"; an Error means "unknown" and changes nothing.
  virtual Result<PeerSet> discoverPeers(std::stop_token stop) = 0;

  /// Blocks until the strategy has news (an event-driven strategy: a watch event, a gossip
  /// heartbeat) or until `deadline`. Returns false when stopped. Polling strategies just sleep.
  virtual bool waitForChange(Clock::MonotonicTime deadline, std::stop_token stop, Clock& clock) {
    return clock.sleepUntil(deadline, std::move(stop));
  }

  /// The peer to join first when forming a new cluster (ClusterTopology's published seed).
  virtual std::optional<NodeName> seed() const { return std::nullopt; }

  /// Whether peers that leave the desired set are disconnected. libcluster's polling strategies
  /// prune; Epmd, ErlangHosts and Gossip never disconnect.
  virtual bool prunes() const { return true; }

  /// Whether the desired set names every member, this node included, so that a set without this
  /// node means "this node is not a member" and it must leave (ClusterTopology's status.members).
  /// Strategies without a notion of membership (DNS, Epmd, Gossip...) answer false, and their node
  /// keeps connecting as libcluster's does.
  virtual bool listsSelf() const { return false; }
};

} // namespace libcluster
