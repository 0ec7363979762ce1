#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>

#include "strategy/strategy.h"

namespace libcluster {

/// A Strategy with a scripted answer (a peer set or an Error, kept until replaced), a seed, a
/// prunes flag and a listsSelf flag. waitForChange just sleeps on the clock, so with FakeClock it
/// returns at once.
/// stopAfter() ends a run() loop after a number of discoveries. With wakeOnAnswer(true) (for real
/// clocks) waitForChange also returns as soon as answer() is called, as an event-driven strategy
/// does on news. Thread-safe.
class FakeStrategy final : public Strategy {
public:
  void answer(Result<PeerSet> answer) {
    std::lock_guard lock(mutex_);
    answer_ = std::move(answer);
    answered_ = true;
  }
  void wakeOnAnswer(bool wake) {
    std::lock_guard lock(mutex_);
    wakeOnAnswer_ = wake;
  }
  void setSeed(std::optional<NodeName> seed) {
    std::lock_guard lock(mutex_);
    seed_ = std::move(seed);
  }
  void setPrunes(bool prunes) {
    std::lock_guard lock(mutex_);
    prunes_ = prunes;
  }
  void setListsSelf(bool listsSelf) {
    std::lock_guard lock(mutex_);
    listsSelf_ = listsSelf;
  }
  /// Requests `source`'s stop when discoverPeers has been called `discoveries` times.
  void stopAfter(int discoveries, std::stop_source source) {
    std::lock_guard lock(mutex_);
    stopAfter_ = discoveries;
    stopSource_ = std::move(source);
  }
  int discoveries() const {
    std::lock_guard lock(mutex_);
    return discoveries_;
  }
  int waits() const {
    std::lock_guard lock(mutex_);
    return waits_;
  }

  // Strategy
  Result<PeerSet> discoverPeers(std::stop_token) override {
    std::lock_guard lock(mutex_);
    ++discoveries_;
    if (stopAfter_ && discoveries_ >= *stopAfter_) {
      stopSource_.request_stop();
    }
    return answer_;
  }
  bool waitForChange(Clock::MonotonicTime deadline, std::stop_token stop, Clock& clock) override {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      ++waits_;
      answered_ = false;
      wake = wakeOnAnswer_;
    }
    if (!wake) {
      return clock.sleepUntil(deadline, std::move(stop));
    }
    // Looks for a new answer every millisecond until the deadline.
    while (clock.now() < deadline) {
      if (!clock.sleepUntil(std::min(deadline, clock.now() + std::chrono::milliseconds(1)), stop)) {
        return false;
      }
      std::lock_guard lock(mutex_);
      if (answered_) {
        return true;
      }
    }
    return !stop.stop_requested();
  }
  std::optional<NodeName> seed() const override {
    std::lock_guard lock(mutex_);
    return seed_;
  }
  bool prunes() const override {
    std::lock_guard lock(mutex_);
    return prunes_;
  }
  bool listsSelf() const override {
    std::lock_guard lock(mutex_);
    return listsSelf_;
  }

private:
  mutable std::mutex mutex_;
  Result<PeerSet> answer_{PeerSet{}};
  std::optional<NodeName> seed_;
  bool prunes_ = true;
  bool listsSelf_ = false;
  bool wakeOnAnswer_ = false;
  bool answered_ = false; // answer() was called since the last waitForChange began
  int discoveries_ = 0;
  int waits_ = 0;
  std::optional<int> stopAfter_;
  std::stop_source stopSource_{std::nostopstate};
};

} // namespace libcluster
