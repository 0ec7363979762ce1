#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include "dist/connector.h"

namespace libcluster {

/// A Connector that remembers whether the local node answered its last call. A Connector's Error
/// always means "the local node could not be asked", so lastNodeError() is what the pod condition
/// reports as NodeUnreachable. Forwards every call; thread-safe like the connector it wraps.
class ObservedConnector final : public Connector {
public:
  explicit ObservedConnector(std::unique_ptr<Connector> inner) : inner_(std::move(inner)) {}

  /// The Error of the last call, or nullopt when it was answered.
  std::optional<Error> lastNodeError() const;

  // Connector
  Result<CallReply> connect(const NodeName& peer, std::chrono::milliseconds timeout) override;
  Result<CallReply> disconnect(const NodeName& peer, std::chrono::milliseconds timeout) override;
  Result<PeerSet> connectedPeers(std::chrono::milliseconds timeout) override;
  const NodeName& localNode() const override { return inner_->localNode(); }
  std::optional<Result<void>> disconnectAtOnce(const PeerSet& peers,
                                               std::chrono::milliseconds timeout) override;
  bool connectsAtOnce() const override { return inner_->connectsAtOnce(); }
  /// Answered at all is what counts: a peer's own Timeout is about the peer, not the node.
  Result<ConnectReplies> connectAtOnce(const PeerSet& peers,
                                       std::chrono::milliseconds timeout) override;
  bool reportsNodeEvents() const override { return inner_->reportsNodeEvents(); }
  /// Not observed: a watch that waits is not a call the local node failed to answer.
  Result<NodeEvents> waitForNodeEvents(std::chrono::milliseconds timeout,
                                       std::stop_token stop) override {
    return inner_->waitForNodeEvents(timeout, std::move(stop));
  }

private:
  template <typename T>
  Result<T> observe(Result<T> result);

  std::unique_ptr<Connector> inner_;
  mutable std::mutex mutex_;
  std::optional<Error> lastError_;
};

} // namespace libcluster
