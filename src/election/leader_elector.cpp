#include "election/leader_elector.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <ctime>

#include "core/json_field.h"
#include "core/log_json.h"

namespace libcluster {
namespace {

/// client-go's JitterFactor: acquire attempts wait retryPeriod × [1, 2.2), and the renew deadline
/// must leave room for that.
constexpr double kJitterFactor = 1.2;

std::int64_t intField(const nlohmann::json& object, const char* name) {
  const nlohmann::json& value = fieldOrNull(object, name);
  return value.is_number_integer() ? value.get<std::int64_t>() : 0;
}

std::string holderOf(const nlohmann::json& spec) { return stringField(spec, "holderIdentity"); }

Error invalid(std::string message) { return Error{Error::Code::Invalid, std::move(message)}; }

} // namespace

std::string formatMicroTime(Clock::SystemTime time) {
  const auto micros = std::chrono::floor<std::chrono::microseconds>(time);
  const auto seconds = std::chrono::floor<std::chrono::seconds>(micros);
  const std::time_t since = std::chrono::system_clock::to_time_t(seconds);
  std::tm utc{};
  gmtime_r(&since, &utc);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &utc);
  char fraction[16];
  std::snprintf(fraction, sizeof fraction, ".%06dZ", static_cast<int>((micros - seconds).count()));
  return std::string(date) + fraction;
}

std::string defaultLeaderIdentity() {
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof host, "unknown");
  }
  std::random_device seed;
  std::mt19937_64 random((static_cast<std::uint64_t>(seed()) << 32) | seed());
  const std::uint64_t high = random();
  const std::uint64_t low = random();
  // A version 4 UUID, as controller-runtime appends to the host name.
  char uuid[40];
  std::snprintf(uuid, sizeof uuid, "%08llx-%04llx-4%03llx-%04llx-%012llx",
                static_cast<unsigned long long>(high >> 32),
                static_cast<unsigned long long>((high >> 16) & 0xffff),
                static_cast<unsigned long long>(high & 0x0fff),
                static_cast<unsigned long long>(((low >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(low & 0xffffffffffffULL));
  return std::string(host) + "_" + uuid;
}

Result<std::unique_ptr<LeaderElector>> LeaderElector::create(Options options, Callbacks callbacks,
                                                             KubeApi& kube, Clock& clock,
                                                             MetricsRegistry& metrics) {
  if (options.leaseName.empty() || options.namespaceName.empty()) {
    return invalid("leader election needs a lease name and namespace");
  }
  if (options.retryPeriod.count() <= 0) {
    return invalid("leader election retryPeriod must be greater than zero");
  }
  if (options.renewDeadline.count() <= 0) {
    return invalid("leader election renewDeadline must be greater than zero");
  }
  if (options.leaseDuration <= options.renewDeadline) {
    return invalid("leader election leaseDuration must be greater than renewDeadline");
  }
  if (static_cast<double>(options.renewDeadline.count()) <=
      kJitterFactor * static_cast<double>(options.retryPeriod.count())) {
    return invalid("leader election renewDeadline must be greater than 1.2 × retryPeriod");
  }
  if (options.identity.empty()) {
    options.identity = defaultLeaderIdentity();
  }
  return std::unique_ptr<LeaderElector>(
      new LeaderElector(std::move(options), std::move(callbacks), kube, clock, metrics));
}

LeaderElector::LeaderElector(Options options, Callbacks callbacks, KubeApi& kube, Clock& clock,
                             MetricsRegistry& metrics)
    : options_(std::move(options)), callbacks_(std::move(callbacks)), kube_(kube), clock_(clock),
      leaseKey_(options_.namespaceName + "/" + options_.leaseName),
      path_(ResourcePath{.group = "coordination.k8s.io",
                         .version = "v1",
                         .resource = "leases",
                         .namespaceName = options_.namespaceName,
                         .name = options_.leaseName,
                         .subresource = ""}),
      masterStatus_(metrics
                        .gaugeFamily("leader_election_master_status",
                                     "Gauge of if the reporting system is master of the relevant "
                                     "lease, 0 indicates backup, 1 indicates master. 'name' is the "
                                     "string used to identify the lease.",
                                     {"name"})
                        .withLabels({options_.leaseName})),
      slowpath_(metrics
                    .counterFamily("leader_election_slowpath_total",
                                   "Total number of slow path exercised in renewing leader leases. "
                                   "'name' is the string used to identify the lease.",
                                   {"name"})
                    .withLabels({options_.leaseName})),
      random_(std::random_device{}()) {
  masterStatus_.Set(0);
}

LeaderElector::~LeaderElector() {
  // Before the members the leader's work may still use (isLeader() locks mutex_).
  if (leaderThread_.joinable()) {
    leaderThread_.request_stop();
    leaderThread_.join();
  }
}

void LeaderElector::run(std::stop_token stop) {
  bool led = false;
  while (!stop.stop_requested()) {
    const Clock::MonotonicTime next = step(stop);
    if (isLeading()) {
      led = true;
    } else if (led) {
      break;
    }
    if (!clock_.sleepUntil(next, stop)) {
      break;
    }
  }
  resign();
}

Clock::MonotonicTime LeaderElector::step() { return step({}); }

Clock::MonotonicTime LeaderElector::step(std::stop_token stop) {
  stop_ = std::move(stop);
  const Clock::MonotonicTime now = clock_.now();
  if (!isLeading()) {
    if (tryAcquireOrRenew(now)) {
      becomeLeader(now);
      return now + options_.retryPeriod;
    }
    const auto times = [&](double factor) {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(options_.retryPeriod * factor);
    };
    const Clock::MonotonicTime after = clock_.now();
    if (!observedLease_ || !isObservedLeaseValid(after)) {
      // Jittered, so that replicas that failed together do not retry together.
      std::uniform_real_distribution<double> retry(1.0, 1.0 + kJitterFactor);
      return after + times(retry(random_));
    }
    // Another replica holds it. We judge its Lease by when we saw the last renewal, so we look
    // every half retry period (× [1, 1.2)): we see a renewal at most 1.2 s late (client-go, at
    // 2-4.4 s, replaces a dead leader up to leaseDuration + 4.4 s after its last renewal).
    std::uniform_real_distribution<double> watch(0.5, 0.5 * kJitterFactor);
    // And try again when the holder's Lease expires by our own observation, not up to a look
    // later: a dead leader is replaced within leaseDuration of the last renewal we saw, plus a
    // little jitter.
    std::uniform_real_distribution<double> late(0.0, 0.1);
    const Clock::MonotonicTime expires =
        observedAt_ + std::chrono::seconds(intField(observedSpec_, "leaseDurationSeconds")) +
        times(late(random_));
    return std::min(after + times(watch(random_)), expires);
  }

  const Clock::MonotonicTime deadline = renewDeadlineAt();
  if (now >= deadline) {
    stepDown("renew deadline passed", false);
    return now;
  }
  if (tryAcquireOrRenew(now)) {
    std::lock_guard lock(mutex_);
    renewDeadlineAt_ = now + options_.renewDeadline;
    return now + options_.retryPeriod;
  }
  if (holderOf(observedSpec_) != options_.identity) {
    // client-go keeps trying until the deadline, but the Lease says someone else leads now.
    stepDown("lease taken over", false);
    return clock_.now();
  }
  const Clock::MonotonicTime after = clock_.now();
  if (after >= deadline) {
    stepDown("renew deadline passed", false);
    return after;
  }
  return std::min(after + options_.retryPeriod, deadline);
}

void LeaderElector::resign() {
  stepDown("stopped", true);
  if (options_.releaseOnCancel) {
    release();
  }
}

bool LeaderElector::isLeader() const { return leadingUntil().has_value(); }

std::optional<Clock::MonotonicTime> LeaderElector::leadingUntil() const {
  std::lock_guard lock(mutex_);
  if (!leading_ || clock_.now() >= renewDeadlineAt_) {
    return std::nullopt;
  }
  return renewDeadlineAt_;
}

CallOptions LeaderElector::callOptions(Clock::MonotonicTime now) const {
  // client-go's NewFromKubeconfig bounds Lease requests by renewDeadline / 2 (at least 1 s), so a
  // hung request leaves time for another attempt before the deadline.
  Clock::MonotonicTime deadline =
      now + std::max<std::chrono::milliseconds>(options_.renewDeadline / 2, std::chrono::seconds(1));
  if (isLeading()) {
    // A renewal that lands after the renew deadline is useless: this replica has stopped leading.
    deadline = std::min(deadline, renewDeadlineAt());
  }
  return CallOptions{.deadline = deadline, .stop = stop_};
}

std::string LeaderElector::observedLeader() const {
  std::lock_guard lock(mutex_);
  return observedHolder_;
}

bool LeaderElector::tryAcquireOrRenew(Clock::MonotonicTime now) {
  const std::string nowText = formatMicroTime(clock_.systemNow());
  nlohmann::json spec = {{"holderIdentity", options_.identity},
                         {"leaseDurationSeconds", options_.leaseDuration.count()},
                         {"acquireTime", nowText},
                         {"renewTime", nowText},
                         {"leaseTransitions", 0}};
  // Fast path: the leader renews assuming the Lease is still the version it last wrote.
  if (isLeading() && observedLease_ && isObservedLeaseValid(now)) {
    keepAcquisition(spec);
    Result<nlohmann::json> renewed = kube_.replace(path_, leaseWithSpec(spec), callOptions(now));
    if (renewed) {
      observe(*renewed, true);
      return true;
    }
    logDebug("lease renewal failed, reading it again",
             {{"lease", leaseKey_}, {"error", renewed.error().message}});
  }

  Result<nlohmann::json> current = kube_.get(path_, callOptions(clock_.now()));
  if (!current) {
    if (current.error().code != Error::Code::NotFound) {
      logWarn("lease read failed", {{"lease", leaseKey_},
                                    {"code", codeName(current.error().code)},
                                    {"error", current.error().message}});
      return false;
    }
    nlohmann::json fresh = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", options_.leaseName}, {"namespace", options_.namespaceName}}},
        {"spec", spec}};
    ResourcePath collection = path_;
    collection.name.clear();
    Result<nlohmann::json> created = kube_.create(collection, fresh, callOptions(clock_.now()));
    if (!created) {
      // Conflict: another replica created it first.
      logDebug("lease create failed",
               {{"lease", leaseKey_}, {"code", codeName(created.error().code)}});
      return false;
    }
    observe(*created, true);
    return true;
  }

  observe(*current, false);
  const std::string holder = holderOf(observedSpec_);
  if (!holder.empty() && holder != options_.identity && isObservedLeaseValid(now)) {
    return false;
  }
  if (holder == options_.identity) {
    keepAcquisition(spec);
    if (isLeading()) {
      slowpath_.Increment();
    }
  } else {
    spec["leaseTransitions"] = intField(observedSpec_, "leaseTransitions") + 1;
  }
  Result<nlohmann::json> updated =
      kube_.replace(path_, leaseWithSpec(spec), callOptions(clock_.now()));
  if (!updated) {
    // Conflict: someone else wrote the Lease since we read it, and won.
    logDebug("lease update failed",
             {{"lease", leaseKey_}, {"code", codeName(updated.error().code)}});
    return false;
  }
  observe(*updated, true);
  return true;
}

void LeaderElector::observe(const nlohmann::json& lease, bool ownWrite) {
  observedLease_ = lease;
  const nlohmann::json& spec = fieldOrNull(lease, "spec");
  // client-go's observedTime: the Lease is judged by when *we* saw it change, not by its
  // timestamps.
  if (ownWrite || spec != observedSpec_) {
    observedSpec_ = spec.is_object() ? spec : nlohmann::json::object();
    observedAt_ = clock_.now();
  }
  const std::string holder = holderOf(observedSpec_);
  {
    std::lock_guard lock(mutex_);
    observedHolder_ = holder;
  }
  if (!holder.empty() && holder != reportedLeader_) {
    reportedLeader_ = holder;
    logInfo("new leader observed", {{"lease", leaseKey_}, {"leader", holder}});
    if (callbacks_.onNewLeader) {
      callbacks_.onNewLeader(holder);
    }
  }
}

bool LeaderElector::isObservedLeaseValid(Clock::MonotonicTime now) const {
  if (!observedLease_) {
    return false;
  }
  return observedAt_ + std::chrono::seconds(intField(observedSpec_, "leaseDurationSeconds")) > now;
}

void LeaderElector::keepAcquisition(nlohmann::json& spec) const {
  if (std::string acquired = stringField(observedSpec_, "acquireTime"); !acquired.empty()) {
    spec["acquireTime"] = std::move(acquired);
  }
  spec["leaseTransitions"] = intField(observedSpec_, "leaseTransitions");
}

nlohmann::json LeaderElector::leaseWithSpec(nlohmann::json spec) const {
  nlohmann::json lease = *observedLease_;
  lease["spec"] = std::move(spec);
  return lease;
}

void LeaderElector::becomeLeader(Clock::MonotonicTime renewed) {
  {
    std::lock_guard lock(mutex_);
    leading_ = true;
    renewDeadlineAt_ = renewed + options_.renewDeadline;
  }
  masterStatus_.Set(1);
  logInfo("became leader", {{"lease", leaseKey_}, {"identity", options_.identity}});
  if (callbacks_.onStartedLeading) {
    leaderThread_ = std::jthread(callbacks_.onStartedLeading);
  }
}

void LeaderElector::stepDown(std::string_view reason, bool expected) {
  {
    std::lock_guard lock(mutex_);
    if (!leading_) {
      return;
    }
    leading_ = false;
  }
  masterStatus_.Set(0);
  const nlohmann::json fields = {
      {"lease", leaseKey_}, {"identity", options_.identity}, {"reason", reason}};
  if (expected) {
    logInfo("stopped leading", fields);
  } else {
    logWarn("lost leadership", fields);
  }
  if (leaderThread_.joinable()) {
    leaderThread_.request_stop();
    leaderThread_.join();
  }
  if (callbacks_.onStoppedLeading) {
    callbacks_.onStoppedLeading();
  }
}

void LeaderElector::release() {
  if (!observedLease_ || holderOf(observedSpec_) != options_.identity) {
    return;
  }
  const std::string nowText = formatMicroTime(clock_.systemNow());
  const nlohmann::json spec = {{"holderIdentity", ""},
                               {"leaseDurationSeconds", 1},
                               {"acquireTime", nowText},
                               {"renewTime", nowText},
                               {"leaseTransitions", intField(observedSpec_, "leaseTransitions")}};
  // Not bound to stop_: releasing is what a stopped elector does on its way out.
  const CallOptions call{.deadline = clock_.now() + std::max<std::chrono::milliseconds>(
                                                        options_.renewDeadline / 2,
                                                        std::chrono::seconds(1)),
                         .stop = {}};
  Result<nlohmann::json> released = kube_.replace(path_, leaseWithSpec(spec), call);
  if (!released) {
    logWarn("lease release failed", {{"lease", leaseKey_},
                                     {"code", codeName(released.error().code)},
                                     {"error", released.error().message}});
    return;
  }
  observe(*released, true);
  logInfo("lease released", {{"lease", leaseKey_}});
}

bool LeaderElector::isLeading() const {
  std::lock_guard lock(mutex_);
  return leading_;
}

Clock::MonotonicTime LeaderElector::renewDeadlineAt() const {
  std::lock_guard lock(mutex_);
  return renewDeadlineAt_;
}

} // namespace libcluster
