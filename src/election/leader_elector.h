#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/result.h"
#include "kube/kube_api.h"
#include "ops/metrics_registry.h"

namespace libcluster {

/// Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
/// take the Lease when it is free or expired, renew it every retryPeriod, and step down when a
/// renewal has not succeeded within renewDeadline. Expiry is judged by this process's monotonic
/// clock since it last saw the Lease change, never by the timestamps in it, so clock skew between
/// replicas does not matter (a difference in clock *rate* would). A follower looks at the
/// holder's Lease every retryPeriod / 2 (× [1, 1.2)), so it sees the last renewal of a dead holder
/// at most 1.2 s late and takes over within leaseDuration + retryPeriod of its death (client-go's
/// 2-4.4 s look allows leaseDuration + 4.4 s). Writes use the resourceVersion,
/// so of two replicas racing for a Lease exactly one wins.
///
/// Every Lease request is bounded (renewDeadline / 2, and never past the renew deadline while
/// leading) and cancelled by run()'s stop token, so a hung API cannot keep a deposed leader in
/// office. The leader's work must stop when its stop token is requested, and should fence its
/// writes with leadingUntil(): it turns empty at the renew deadline even if the elector thread is
/// stuck, and the renew deadline is at least leaseDuration - renewDeadline before any other
/// replica may take the Lease over (both count from before the renewal was sent).
class LeaderElector {
public:
  struct Options {
    std::string leaseName{};
    std::string namespaceName{};
    /// Empty: the host name, "_" and a random suffix.
    std::string identity{};
    /// How long others wait after the last change they saw before taking the Lease over.
    /// Whole seconds, because the Lease stores leaseDurationSeconds.
    std::chrono::seconds leaseDuration{15};
    /// How long the leader keeps trying to renew before it steps down.
    std::chrono::milliseconds renewDeadline{10'000};
    /// The pause between attempts to acquire (jittered by up to 1.2×) or to renew.
    std::chrono::milliseconds retryPeriod{2'000};
    /// On stop, hand the Lease back (holder "", duration 1 s) so another replica takes over at
    /// once.
    bool releaseOnCancel = true;
  };

  struct Callbacks {
    /// Runs on a thread of its own once this replica leads; `stop` is requested when it no longer
    /// does. The elector joins that thread before calling onStoppedLeading.
    std::function<void(std::stop_token stop)> onStartedLeading;
    /// Called on the elector's thread after leading ended (lost, deadline passed or stopped).
    std::function<void()> onStoppedLeading;
    /// Called on the elector's thread when a different holder is first seen, this one included.
    std::function<void(const std::string& identity)> onNewLeader;
  };

  /// Invalid unless leaseDuration > renewDeadline > 1.2 × retryPeriod > 0 and the Lease is named.
  static Result<std::unique_ptr<LeaderElector>> create(Options options, Callbacks callbacks,
                                                       KubeApi& kube, Clock& clock,
                                                       MetricsRegistry& metrics);

  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  /// Campaigns until this replica leads, then renews until leadership is lost or `stop` is
  /// requested, and returns (as client-go's Run, it does not campaign again; call run() again
  /// to do so). On the way out it steps down and, with releaseOnCancel, releases the Lease.
  void run(std::stop_token stop);

  /// One attempt to acquire or renew, stepping up or down as the outcome requires; returns when
  /// the next attempt is due. run() calls it in a loop; tests drive it directly. Not to be called
  /// while run() is active.
  Clock::MonotonicTime step();
  /// The same, with Lease requests cancelled when `stop` is requested.
  Clock::MonotonicTime step(std::stop_token stop);

  /// Steps down if leading, then releases the Lease if this replica holds it and releaseOnCancel
  /// is set. run() does this on its way out.
  void resign();

  /// Leading, and the last successful renewal is younger than renewDeadline. Any thread.
  bool isLeader() const;
  /// When leading, the renew deadline: the time until which this replica may start a write as
  /// leader and by which the write must be over. Empty when not leading. Any thread.
  std::optional<Clock::MonotonicTime> leadingUntil() const;
  const std::string& identity() const { return options_.identity; }
  /// The holder of the Lease when it was last read ("" when free or never read). Any thread.
  std::string observedLeader() const;

private:
  LeaderElector(Options options, Callbacks callbacks, KubeApi& kube, Clock& clock,
                MetricsRegistry& metrics);

  bool tryAcquireOrRenew(Clock::MonotonicTime now);
  CallOptions callOptions(Clock::MonotonicTime now) const;
  void observe(const nlohmann::json& lease, bool ownWrite);
  bool isObservedLeaseValid(Clock::MonotonicTime now) const;
  /// Copies acquireTime and leaseTransitions of the observed Lease into `spec` (a renewal).
  void keepAcquisition(nlohmann::json& spec) const;
  nlohmann::json leaseWithSpec(nlohmann::json spec) const;
  void becomeLeader(Clock::MonotonicTime renewed);
  void stepDown(std::string_view reason, bool expected);
  void release();
  bool isLeading() const;
  Clock::MonotonicTime renewDeadlineAt() const;

  const Options options_;
  const Callbacks callbacks_;
  KubeApi& kube_;
  Clock& clock_;
  const std::string leaseKey_; // "namespace/name", for logs
  const ResourcePath path_;
  Gauge& masterStatus_;
  Counter& slowpath_;

  // Elector thread only.
  std::optional<nlohmann::json> observedLease_;
  nlohmann::json observedSpec_;
  Clock::MonotonicTime observedAt_{};
  std::string reportedLeader_;
  std::mt19937 random_;
  std::jthread leaderThread_;
  std::stop_token stop_;

  // Shared with isLeader() and observedLeader() callers.
  mutable std::mutex mutex_;
  bool leading_ = false;
  Clock::MonotonicTime renewDeadlineAt_{};
  std::string observedHolder_;
};

/// A Lease timestamp (metav1.MicroTime): RFC 3339 in UTC with microseconds,
/// "2006-01-02T15:04:05.000000Z".
std::string formatMicroTime(Clock::SystemTime time);

/// client-go's default identity: the host name, "_" and a random UUID.
std::string defaultLeaderIdentity();

} // namespace libcluster
