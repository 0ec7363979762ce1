#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/topology_runner.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/result.h"
#include "kube/kube_api.h"

namespace libcluster {

/// What one topology contributes to the report: the runner's snapshot, and the Error of the last
/// call to the local node if it failed.
struct TopologyReport {
  TopologySnapshot snapshot;
  std::optional<Error> nodeError;
  /// Why the topology runs nothing: its ClusterTopology asks for a call the agent does not allow.
  std::optional<std::string> callNotAllowed;
};

/// The libcluster.dev/Connected condition's content (without its timestamp).
struct ConnectedCondition {
  std::string status; // "True" or "False"
  std::string reason; // AllPeersConnected, NotAMember, PeersMissing, PeersUnknown,
                      // CallNotAllowed, NodeUnreachable
  std::string message;

  bool operator==(const ConnectedCondition&) const = default;
};

/// How many missing peers a condition message names; the rest are counted.
inline constexpr std::size_t kMaxListedPeers = 10;

/// The condition for these topologies. True only when every topology has discovered its peers at
/// least once and the local node is connected to every desired peer. Otherwise False with, in this
/// order of precedence: NodeUnreachable (the local node did not answer), CallNotAllowed (a
/// ClusterTopology names a call outside the agent's allowedCalls), PeersUnknown (a topology
/// never discovered its peers), PeersMissing (listing up to kMaxListedPeers missing peers).
/// When nothing is missing but the node is not a member of a topology, True with NotAMember.
ConnectedCondition connectedCondition(const std::vector<TopologyReport>& reports);

/// Publishes the agent's view on its own pod: the condition libcluster.dev/Connected in
/// pods/<name>/status, which the controller folds into status.members[].connected (and which can
/// gate readiness). Writes only when the condition changes, at most once per `minInterval`, and
/// keeps lastTransitionTime when the status stays the same. A write reads the pod's conditions and
/// merge-patches the whole list with the pod's resourceVersion as precondition, so conditions of
/// the kubelet and others are kept (a merge patch replaces lists); a Conflict is retried.
/// run() owns the calling thread.
class PodReporter {
public:
  using Source = std::function<std::vector<TopologyReport>()>;

  struct Options {
    std::string namespaceName{};
    std::string podName{};
    /// How often the snapshots are looked at.
    std::chrono::milliseconds checkInterval{1000};
    /// The least time between two writes.
    std::chrono::milliseconds minInterval{3000};
    /// Bounds one write (its read, patch and conflict retries): a stuck API server holds up the
    /// next look, never the agent's shutdown, which also cancels a call in flight.
    std::chrono::milliseconds writeTimeout{10000};
  };

  PodReporter(KubeApi& api, Clock& clock, Options options, Source source);

  /// Looks once and writes if the condition changed and minInterval has passed. True when it
  /// wrote (or found the pod already saying the same), false when there was nothing to do.
  Result<bool> reportOnce(std::stop_token stop = {});
  /// reportOnce() every checkInterval until `stop`; failures are logged and retried.
  void run(std::stop_token stop);

  /// The condition last written (or found in place).
  std::optional<ConnectedCondition> lastWritten() const { return written_; }

private:
  Result<void> write(const ConnectedCondition& condition, std::stop_token stop);

  KubeApi& api_;
  Clock& clock_;
  Options options_;
  Source source_;
  std::optional<ConnectedCondition> written_;
  std::optional<Clock::MonotonicTime> lastWrite_;
  Backoff backoff_;
  std::optional<Clock::MonotonicTime> retryAt_;
};

} // namespace libcluster
