#include "agent/observed_connector.h"

namespace libcluster {

template <typename T>
Result<T> ObservedConnector::observe(Result<T> result) {
  std::lock_guard lock(mutex_);
  if (result) {
    lastError_.reset();
  } else if (result.error().code != Error::Code::Cancelled) {
    lastError_ = result.error();
  }
  return result;
}

std::optional<Error> ObservedConnector::lastNodeError() const {
  std::lock_guard lock(mutex_);
  return lastError_;
}

Result<CallReply> ObservedConnector::connect(const NodeName& peer,
                                             std::chrono::milliseconds timeout) {
  return observe(inner_->connect(peer, timeout));
}

Result<CallReply> ObservedConnector::disconnect(const NodeName& peer,
                                                std::chrono::milliseconds timeout) {
  return observe(inner_->disconnect(peer, timeout));
}

std::optional<Result<void>> ObservedConnector::disconnectAtOnce(const PeerSet& peers,
                                                                std::chrono::milliseconds timeout) {
  std::optional<Result<void>> done = inner_->disconnectAtOnce(peers, timeout);
  if (done) {
    std::lock_guard lock(mutex_);
    if (*done) {
      lastError_.reset();
    } else if (done->error().code != Error::Code::Cancelled) {
      lastError_ = done->error();
    }
  }
  return done;
}

Result<ConnectReplies> ObservedConnector::connectAtOnce(const PeerSet& peers,
                                                        std::chrono::milliseconds timeout) {
  return observe(inner_->connectAtOnce(peers, timeout));
}

Result<PeerSet> ObservedConnector::connectedPeers(std::chrono::milliseconds timeout) {
  return observe(inner_->connectedPeers(timeout));
}

} // namespace libcluster
