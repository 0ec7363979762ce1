#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "kube/kube_api.h"

namespace libcluster {

/// The object an Event is about.
struct EventTarget {
  std::string apiVersion;
  std::string kind;
  std::string namespaceName;
  std::string name;
  std::string uid;
};

/// Posts Kubernetes Events (core/v1) from its own thread, so reconciles never wait for them.
/// Rate-limited per object like client-go's spam filter (a burst of 25, then one per 5 minutes);
/// a full queue or a failed post drops the event (events are best effort) and counts it. Posts
/// are fenced like status writes: a replica that no longer leads posts nothing.
class EventRecorder {
public:
  struct Options {
    std::string component = "libcluster-controller";
    std::string instance;
    int burst = 25;
    std::chrono::seconds refill{300};
    std::size_t maxQueued = 1000;
    /// Bounds each post (retries included): an event is not worth holding up shutdown for the
    /// client's whole retry budget.
    std::chrono::milliseconds postTimeout{5000};
    /// Asked right before each post: the bounds of a write started now (the earlier of its
    /// deadline and postTimeout applies), or nullopt when this replica must not write (it does
    /// not lead); the event is then dropped and counted. Empty: always post.
    std::function<std::optional<CallOptions>()> writeFence{};
  };

  EventRecorder(KubeApi& api, Clock& clock, Options options);
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  /// Queues an event; `type` is "Normal" or "Warning"; `reason` is CamelCase.
  void record(const EventTarget& target, const std::string& type, const std::string& reason,
              const std::string& message);
  /// Posts everything queued now, on the calling thread (tests; also used on shutdown); each post
  /// is bounded by postTimeout and ends early when `stop` is requested.
  void flush(std::stop_token stop = {});

  /// Drops the rate-limit state of a deleted object ("namespace", "name").
  void forget(const std::string& namespaceName, const std::string& name);
  /// Objects with rate-limit state.
  std::size_t trackedObjects() const;

  std::uint64_t posted() const;
  std::uint64_t dropped() const;

private:
  struct Bucket {
    double tokens;
    Clock::MonotonicTime updated;
  };
  void run(std::stop_token stop);
  void post(const nlohmann::json& event, std::stop_token stop);

  KubeApi& api_;
  Clock& clock_;
  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable_any queued_;
  std::deque<nlohmann::json> queue_;
  std::map<std::string, Bucket> buckets_;
  std::uint64_t posted_ = 0;
  std::uint64_t dropped_ = 0;
  std::jthread thread_;
};

} // namespace libcluster
