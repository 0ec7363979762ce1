#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/result.h"
#include "kube/kube_api.h"

namespace libcluster {

/// What a Watcher reports. A (re)list is InitStarted, InitApplied per object, InitDone; only
/// InitDone means the listed objects are the complete state, and a list that fails part-way is
/// abandoned without InitDone and started again with a fresh InitStarted. Between lists come
/// Applied (added or modified) and Deleted (the object's last state). `object` is empty for
/// InitStarted and InitDone.
struct WatchEvent {
  enum class Type { InitStarted, InitApplied, InitDone, Applied, Deleted };
  Type type;
  nlohmann::json object;
};

/// Counters of a Watcher's activity since construction, for metrics and tests.
struct WatcherStats {
  std::uint64_t listsStarted = 0;
  std::uint64_t listsCompleted = 0;
  std::uint64_t watchesStarted = 0;
  /// Lists started because the server answered 410 Gone / Expired.
  std::uint64_t relistsAfterGone = 0;
  /// Failed LIST or WATCH calls, Gone included (stopping is not a failure).
  std::uint64_t errors = 0;

  bool operator==(const WatcherStats&) const = default;
};

/// Keeps one collection's objects flowing as WatchEvents, as client-go's reflector and kube-rs's
/// watcher do: paged LIST, then WATCH from the list's resourceVersion with bookmarks; re-watch
/// from the last seen resourceVersion when a watch ends, or at once when a healthy stream (one
/// that delivered events or lasted a second) breaks off; re-list on 410 Gone; back off on other
/// errors. run() blocks the calling thread; stats() and resourceVersion() may be read from others.
class Watcher {
public:
  struct Options {
    std::string labelSelector;
    std::string fieldSelector;
    int pageSize = 500;
    /// Fields of each object to build (ListOptions::onlyFields); empty keeps every field. The
    /// store and the watcher read metadata.name, namespace and resourceVersion: keep them.
    std::vector<std::string> onlyFields;
    Backoff::Options backoff{};
    /// Each watch asks the server to end it after a random time in [min, max), spreading load.
    std::chrono::seconds minWatchTimeout{300};
    std::chrono::seconds maxWatchTimeout{600};
    /// resourceVersion of the first LIST: "" is a consistent read, "0" lets the apiserver answer
    /// from its watch cache (client-go's choice). Lists after a 410 always use "".
    std::string initialResourceVersion;
    /// Seeds backoff jitter and watch timeouts; random when unset.
    std::optional<unsigned> seed;
  };

  using EventHandler = std::function<void(const WatchEvent&)>;

  Watcher(KubeApi& api, Clock& clock, ResourcePath collection, Options options);

  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  /// Lists and watches until `stop` is requested, calling `onEvent` on this thread, then returns
  /// success. Fails at once, with Invalid, only when options.labelSelector does not parse.
  /// API failures never end it: they are retried with backoff forever.
  Result<void> run(std::stop_token stop, const EventHandler& onEvent);

  WatcherStats stats() const;
  /// The resourceVersion the next watch would resume from ("" before the first list).
  std::string resourceVersion() const;
  const ResourcePath& collection() const { return collection_; }

private:
  enum class Phase { List, Watch };

  Result<void> listAll(const std::string& version, std::stop_token stop,
                       const EventHandler& onEvent);
  /// One WATCH call. `progressed` is set when the server delivered at least one event, `broken`
  /// when the stream itself failed (Unavailable without Retry-After), not the server's answer.
  Result<void> watchOnce(std::stop_token stop, const EventHandler& onEvent, bool& progressed,
                         bool& broken);
  /// Logs the error and sleeps for the backoff (or the server's Retry-After if longer).
  /// Returns false if stopped.
  bool waitBeforeRetry(const Error& error, std::string_view during, std::stop_token stop);
  std::chrono::seconds nextWatchTimeout();
  void rememberVersion(const nlohmann::json& object);
  void setResourceVersion(std::string version);

  KubeApi& api_;
  Clock& clock_;
  ResourcePath collection_;
  Options options_;
  std::mt19937 random_;
  Backoff backoff_;

  mutable std::mutex versionMutex_;
  std::string resourceVersion_;

  std::atomic<std::uint64_t> listsStarted_{0};
  std::atomic<std::uint64_t> listsCompleted_{0};
  std::atomic<std::uint64_t> watchesStarted_{0};
  std::atomic<std::uint64_t> relistsAfterGone_{0};
  std::atomic<std::uint64_t> errors_{0};
};

} // namespace libcluster
