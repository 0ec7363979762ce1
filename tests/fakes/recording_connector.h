#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dist/connector.h"
#include "fakes/fake_clock.h"

namespace libcluster {

/// A fake local node: a set of connected peers that connect() and disconnect() change, with
/// per-peer scripted replies, delays and gates, and a record of every call. Thread-safe.
///
/// Unscripted, connect() answers true and connects; disconnect() answers true and disconnects a
/// connected peer, false otherwise (libcluster's "already disconnected").
class RecordingConnector final : public Connector {
public:
  /// How one peer's calls go.
  struct Script {
    Result<CallReply> reply = CallReply{CallOutcome::True, "true"};
    /// Moves the FakeClock (if one was given) this far, as a call that takes that long. Longer
    /// than the call's timeout: the clock moves by the timeout and the call is a Timeout Error.
    std::chrono::milliseconds delay{0};
    /// The call waits until release(peer), or, in real time, until its timeout (then Timeout).
    bool gated = false;
  };

  struct Call {
    NodeName peer;
    std::chrono::milliseconds timeout;
  };

  explicit RecordingConnector(NodeName localNode = "app@10.0.0.1", FakeClock* clock = nullptr)
      : localNode_(std::move(localNode)), clock_(clock) {}

  /// A connection made by someone else (or still there from before).
  void addConnected(const NodeName& peer) {
    std::lock_guard lock(mutex_);
    connected_.insert(peer);
  }
  /// The connection went away on its own (a netsplit, the peer died).
  void removeConnected(const NodeName& peer) {
    std::lock_guard lock(mutex_);
    connected_.erase(peer);
  }
  PeerSet connected() const {
    std::lock_guard lock(mutex_);
    return connected_;
  }

  void scriptConnect(const NodeName& peer, Script script) {
    std::lock_guard lock(mutex_);
    connectScripts_.insert_or_assign(peer, std::move(script));
  }
  void scriptDisconnect(const NodeName& peer, Script script) {
    std::lock_guard lock(mutex_);
    disconnectScripts_.insert_or_assign(peer, std::move(script));
  }
  /// Whether connectAtOnce() is offered (one call for many peers, each peer's connect script
  /// played as by connect(); not by default); `error` fails those calls.
  void connectManyAtOnce(bool enabled, std::optional<Error> error = std::nullopt) {
    std::lock_guard lock(mutex_);
    atOnce_ = enabled;
    atOnceError_ = std::move(error);
  }
  /// The peers of every connectAtOnce() call, in order.
  std::vector<PeerSet> connectBatches() const {
    std::lock_guard lock(mutex_);
    return batches_;
  }
  /// connectedPeers() fails with `error` until called again with nullopt.
  void failListNodes(std::optional<Error> error) {
    std::lock_guard lock(mutex_);
    listError_ = std::move(error);
  }
  /// Opens the gate of a gated peer; its waiting and future calls go through.
  void release(const NodeName& peer) {
    {
      std::lock_guard lock(mutex_);
      released_.insert(peer);
    }
    cv_.notify_all();
  }

  std::vector<NodeName> connects() const {
    std::lock_guard lock(mutex_);
    std::vector<NodeName> peers;
    for (const Call& call : connectCalls_) {
      peers.push_back(call.peer);
    }
    return peers;
  }
  std::vector<Call> connectCalls() const {
    std::lock_guard lock(mutex_);
    return connectCalls_;
  }
  std::vector<NodeName> disconnects() const {
    std::lock_guard lock(mutex_);
    return disconnects_;
  }
  int listCalls() const {
    std::lock_guard lock(mutex_);
    return listCalls_;
  }
  /// The most connect() calls that were in flight at the same moment.
  int maxConcurrentConnects() const {
    std::lock_guard lock(mutex_);
    return maxInFlight_;
  }
  /// Waits (real time, bounded) until `predicate(connected peers, peers in flight)` holds.
  template <typename Predicate>
  bool waitFor(Predicate predicate, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return predicate(connected_, inFlight_); });
  }

  // Connector
  Result<CallReply> connect(const NodeName& peer, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mutex_);
    connectCalls_.push_back({peer, timeout});
    inFlight_.insert(peer);
    maxInFlight_ = std::max(maxInFlight_, static_cast<int>(inFlight_.size()));
    cv_.notify_all();
    Script script;
    if (auto found = connectScripts_.find(peer); found != connectScripts_.end()) {
      script = found->second;
    }
    Result<CallReply> reply = play(lock, peer, script, timeout);
    if (reply && reply->outcome == CallOutcome::True) {
      connected_.insert(peer);
    }
    inFlight_.erase(peer);
    cv_.notify_all();
    return reply;
  }

  bool connectsAtOnce() const override {
    std::lock_guard lock(mutex_);
    return atOnce_;
  }
  Result<ConnectReplies> connectAtOnce(const PeerSet& peers,
                                       std::chrono::milliseconds timeout) override {
    {
      std::lock_guard lock(mutex_);
      batches_.push_back(peers);
      if (atOnceError_) {
        return *atOnceError_;
      }
    }
    ConnectReplies replies;
    for (const NodeName& peer : peers) {
      replies.emplace(peer, connect(peer, timeout));
    }
    return replies;
  }

  Result<CallReply> disconnect(const NodeName& peer, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mutex_);
    disconnects_.push_back(peer);
    Script script;
    if (auto found = disconnectScripts_.find(peer); found != disconnectScripts_.end()) {
      script = found->second;
    } else if (!connected_.contains(peer)) {
      script.reply = CallReply{CallOutcome::False, "false"};
    }
    Result<CallReply> reply = play(lock, peer, script, timeout);
    if (reply && reply->outcome == CallOutcome::True) {
      connected_.erase(peer);
    }
    cv_.notify_all();
    return reply;
  }

  Result<PeerSet> connectedPeers(std::chrono::milliseconds) override {
    std::lock_guard lock(mutex_);
    ++listCalls_;
    if (listError_) {
      return *listError_;
    }
    return connected_;
  }

  const NodeName& localNode() const override { return localNode_; }

private:
  Result<CallReply> play(std::unique_lock<std::mutex>& lock, const NodeName& peer,
                         const Script& script, std::chrono::milliseconds timeout) {
    if (script.gated && !cv_.wait_for(lock, timeout, [&] { return released_.contains(peer); })) {
      return Error{Error::Code::Timeout, "gated call to " + peer + " timed out"};
    }
    if (script.delay.count() > 0 && clock_ != nullptr) {
      if (script.delay > timeout) {
        clock_->advance(timeout);
        return Error{Error::Code::Timeout, "call to " + peer + " timed out"};
      }
      clock_->advance(script.delay);
    }
    return script.reply;
  }

  const NodeName localNode_;
  FakeClock* const clock_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  PeerSet connected_;
  PeerSet inFlight_;
  PeerSet released_;
  std::map<NodeName, Script> connectScripts_;
  std::map<NodeName, Script> disconnectScripts_;
  std::optional<Error> listError_;
  std::vector<Call> connectCalls_;
  bool atOnce_ = false;
  std::optional<Error> atOnceError_;
  std::vector<PeerSet> batches_;
  std::vector<NodeName> disconnects_;
  int listCalls_ = 0;
  int maxInFlight_ = 0;
};

} // namespace libcluster
