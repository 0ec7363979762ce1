#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

#include "api/topology.h"
#include "core/clock.h"
#include "dns/resolver.h"
#include "kube/url_fetcher.h"
#include "membership/membership.h"

namespace libcluster {

/// Fetches a URL's body (Rancher metadata). Blocking, with its own timeout.
using UrlFetcher = std::function<Result<std::string>(const std::string& url, std::stop_token stop)>;

/// Keeps the dns and rancher sources of every topology resolved, on its own thread: each answer is
/// refreshed when its TTL (clamped to the source's min/max refresh) or poll interval is due, and
/// `onChange(topologyKey)` fires when a source's members or error change. A failed refresh keeps the
/// last good members and records the error (unknown is not empty), retrying after minRefresh.
///
/// A rancher URL is written by whoever may edit the topology, so it is fetched only when its host
/// is on the controller's allow-list, and the status says no more than "not allowed", "too large"
/// or "fetch failed": telling "refused" from "timed out" would let a namespace user map the
/// network. The detail goes to the controller log and to `onFetchFailure`.
class ExternalSources {
public:
  struct Options {
    /// UrlAllowList entries for rancher sources; an unparsable list allows nothing.
    std::vector<std::string> allowedRancherHosts{"rancher-metadata"};
    /// Called on every failed rancher fetch with its reason: "not_allowed", "too_large",
    /// "timeout", "http_status", "unreachable" or "bad_body". May be empty.
    std::function<void(std::string_view reason)> onFetchFailure;
  };

  ExternalSources(Resolver& resolver, UrlFetcher fetch, Clock& clock,
                  std::function<void(const std::string& topologyKey)> onChange);
  ExternalSources(Resolver& resolver, UrlFetcher fetch, Clock& clock,
                  std::function<void(const std::string& topologyKey)> onChange, Options options);

  /// Declares the external sources `spec` has now for a topology; entries for sources it no longer
  /// has are dropped, new ones are resolved at once.
  void track(const std::string& topologyKey, const TopologySpec& spec);
  void untrack(const std::string& topologyKey);

  /// What `source` of the topology says now (answered=false before its first answer).
  SourceSnapshot snapshot(const std::string& topologyKey, const TopologySource& source,
                          const std::string& basename) const;

  /// Resolves due entries until stopped. Call from one thread (it owns the Resolver).
  void run(std::stop_token stop);
  /// Resolves every due entry once, now; for tests.
  void refreshDue(std::stop_token stop);

private:
  struct Entry {
    std::string topologyKey;
    TopologySource source;
    std::string basename;
    std::vector<Candidate> candidates;
    std::optional<Error> error;
    /// What the log said about the error last, so a failure that keeps failing is logged once.
    std::string errorDetail;
    bool answered = false;
    Clock::MonotonicTime due{};
  };
  struct Outcome {
    Result<std::vector<Candidate>> members;
    std::chrono::seconds refreshAfter;
    /// For the log when `members` is an error whose message is kept short for the status.
    std::string detail{};
    /// The source may not be used at all: its last answer is dropped, not kept.
    bool forbidden = false;
  };

  static std::string entryKey(const std::string& topologyKey, const TopologySource& source,
                              const std::string& basename);
  Outcome resolve(const Entry& entry, std::stop_token stop);
  Outcome resolveDns(const Entry& entry, std::stop_token stop);
  Outcome resolveRancher(const Entry& entry, std::stop_token stop);

  Resolver& resolver_;
  UrlFetcher fetch_;
  Clock& clock_;
  std::function<void(const std::string&)> onChange_;
  std::function<void(std::string_view)> onFetchFailure_;
  UrlAllowList rancherHosts_;
  mutable std::mutex mutex_;
  std::condition_variable_any changed_;
  std::map<std::string, Entry> entries_;
};

} // namespace libcluster
