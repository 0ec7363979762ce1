#include "strategy/cluster_topology_strategy.h"

#include "api/resource_paths.h"
#include "core/json_field.h"
#include "core/names.h"

namespace libcluster {
namespace {

std::optional<Mfa> readCall(const nlohmann::json& spec, const char* key) {
  const nlohmann::json& call = fieldOrNull(spec, key);
  Mfa out{stringField(call, "module"), stringField(call, "function"), {}};
  if (out.module.empty() || out.function.empty()) {
    return std::nullopt;
  }
  if (const nlohmann::json& args = fieldOrNull(call, "args"); args.is_array()) {
    for (const nlohmann::json& arg : args) {
      if (arg.is_string()) {
        out.args.push_back(arg.get<std::string>());
      }
    }
  }
  return out;
}

TopologySettings readSettings(const nlohmann::json& spec) {
  TopologySettings settings;
  settings.connect = readCall(spec, "connect");
  settings.disconnect = readCall(spec, "disconnect");
  settings.listNodes = readCall(spec, "listNodes");
  if (const nlohmann::json& interval = fieldOrNull(spec, "reconnectIntervalSeconds");
      interval.is_number_integer() && interval.get<long long>() > 0 &&
      interval.get<long long>() <= 3600) {
    settings.reconnectInterval = std::chrono::seconds(interval.get<long long>());
  }
  settings.disconnectOnRemoval = stringField(spec, "onRemoval") != "Ignore";
  return settings;
}

Watcher::Options labelled(Watcher::Options watch, const std::string& name) {
  watch.labelSelector = std::string(kMemberSliceTopologyLabel) + "=" + memberSliceLabelValue(name);
  return watch;
}

} // namespace

Result<std::unique_ptr<ClusterTopologyStrategy>>
ClusterTopologyStrategy::create(Options options, KubeApi& api, Clock& clock) {
  if (!isDns1123Label(options.namespaceName)) {
    return Error{Error::Code::Invalid, "namespace: must be a Kubernetes namespace name, got \"" +
                                           options.namespaceName + "\""};
  }
  if (!isDns1123Subdomain(options.name)) {
    return Error{Error::Code::Invalid,
                 "name: must be a ClusterTopology name, got \"" + options.name + "\""};
  }
  std::unique_ptr<ClusterTopologyStrategy> strategy(
      new ClusterTopologyStrategy(std::move(options), api, clock));
  strategy->slices_.start();
  // The spec is known from the start when the object can be read (a failure is retried later).
  strategy->readTopology({});
  return strategy;
}

ClusterTopologyStrategy::ClusterTopologyStrategy(Options options, KubeApi& api, Clock& clock)
    : options_(std::move(options)), api_(api),
      slices_(api, clock, memberSlicesPath(options_.namespaceName),
              labelled(options_.watch, options_.name),
              [](const nlohmann::json& object) { return memberSliceFromJson(object); }) {
  const auto changed = [this](Cause cause) {
    std::lock_guard lock(mutex_);
    recomputeLocked(cause);
  };
  slices_.addHandlers({
      .onAdd = [changed](const MemberSlice&) { changed(Cause::SliceChanged); },
      .onUpdate = [changed](const MemberSlice&,
                            const MemberSlice&) { changed(Cause::SliceChanged); },
      .onDelete = [changed](const MemberSlice&) { changed(Cause::SliceDeleted); },
      .onSynced =
          [this] {
            std::lock_guard lock(mutex_);
            synced_ = true;
            recomputeLocked(Cause::Synced);
          },
  });
}

ClusterTopologyStrategy::~ClusterTopologyStrategy() { slices_.stop(); }

void ClusterTopologyStrategy::notifyLocked() {
  ++version_;
  if (wake_) {
    wake_->request_stop();
  }
  changed_.notify_all();
}

void ClusterTopologyStrategy::readTopology(std::stop_token stop) {
  const CallOptions call{.deadline = std::chrono::steady_clock::now() + options_.getTimeout,
                         .stop = std::move(stop)};
  Result<nlohmann::json> object =
      api_.get(topologiesPath(options_.namespaceName).object(options_.name), call);
  std::lock_guard lock(mutex_);
  if (!object) {
    if (object.error().code != Error::Code::NotFound) {
      return; // unknown: keep what was read before, and read again next time
    }
    topology_.reset();
  } else {
    Topology topology;
    topology.uid = metadataString(*object, "uid");
    if (const nlohmann::json& generation =
            fieldOrNull(fieldOrNull(*object, "metadata"), "generation");
        generation.is_number_integer()) {
      topology.generation = generation.get<std::int64_t>();
    }
    topology.settings = readSettings(fieldOrNull(*object, "spec"));
    if (const nlohmann::json& found = fieldOrNull(*object, "status"); found.is_object()) {
      Topology::Status status;
      if (const nlohmann::json& members = fieldOrNull(found, "members"); members.is_array()) {
        for (const nlohmann::json& member : members) {
          if (std::string node = stringField(member, "node"); !node.empty()) {
            status.members.insert(std::move(node));
          }
        }
      }
      status.seed = stringField(found, "seed");
      const nlohmann::json& truncated = fieldOrNull(found, "membersTruncated");
      status.truncated = truncated.is_boolean() && truncated.get<bool>();
      if (const nlohmann::json& count = fieldOrNull(found, "memberSliceCount");
          count.is_number_integer() && count.get<long long>() > 0) {
        status.sliceCount = static_cast<int>(std::min<long long>(count.get<long long>(), 1 << 20));
      }
      topology.status = std::move(status);
    }
    topology_ = std::move(topology);
  }
  read_ = true;
  reread_ = false;
  recomputeLocked(Cause::Read);
}

void ClusterTopologyStrategy::recomputeLocked(Cause cause) {
  std::optional<View> view;
  std::optional<TopologySettings> settings;
  bool wake = cause == Cause::Synced;
  if (!read_ || !topology_) {
    followsSlices_ = false;
  } else {
    settings = topology_->settings;
    std::vector<std::shared_ptr<const MemberSlice>> owned;
    std::int64_t newest = 0;
    if (synced_) {
      for (auto& slice : slices_.store().list()) {
        // Only the topology's own slices: not those of an earlier object of the same name.
        if (slice->ownerUid == topology_->uid && slice->ownerName == options_.name) {
          newest = std::max(newest, slice->topologyGeneration);
          owned.push_back(std::move(slice));
        }
      }
    }
    const Topology::Status* status = topology_->status ? &*topology_->status : nullptr;
    if (!followsSlices_ && status != nullptr && status->sliceCount > 0 &&
        owned.size() >= static_cast<std::size_t>(status->sliceCount)) {
      // Every slice the status counts has arrived (slices are written before that status): the
      // union is the whole membership from now on.
      followsSlices_ = true;
    } else if (followsSlices_ && owned.empty()) {
      followsSlices_ = false;
    }
    // A deleted slice is a merge, or the topology's deletion (slices go one by one after it):
    // read the topology before answering, so a deletion is NotFound rather than a shrinking list.
    // A slice of a newer generation brings a new spec to read; without slices, the status is
    // read anyway on every answer.
    // Only a slice event leads to a read, so a slice claiming a future generation costs one read
    // per event, never a loop of them.
    const bool reread =
        cause == Cause::SliceDeleted ||
        (followsSlices_ && cause == Cause::SliceChanged && newest > topology_->generation);
    if (reread && !reread_) {
      reread_ = true;
      wake = true;
    }
    if (followsSlices_) {
      view = View{}; // not emplace(): clang cannot default-construct a nested aggregate here
      for (const auto& slice : owned) {
        for (const SliceMember& member : slice->members) {
          view->members.insert(member.node);
          // While the seed moves, two slices may mark one: the lowest name, as every agent picks.
          if (member.seed && (view->seed.empty() || member.node < view->seed)) {
            view->seed = member.node;
          }
        }
      }
    } else if (reread_) {
      view = view_; // the last answer stands until the topology is read again
    } else if (status != nullptr) {
      view = View{status->members, status->seed, status->truncated};
    }
    // Without slices followed, a slice change may mean they are complete now: answer again (and
    // discoverPeers reads the status that counts them).
    wake = wake || (!followsSlices_ && cause != Cause::Read && !owned.empty());
  }
  if (view != view_ || settings != settings_) {
    view_ = std::move(view);
    settings_ = std::move(settings);
    wake = true;
  }
  if (wake) {
    notifyLocked();
  }
}

Result<PeerSet> ClusterTopologyStrategy::discoverPeers(std::stop_token stop) {
  bool read = false;
  std::optional<TopologySettings> before;
  {
    std::lock_guard lock(mutex_);
    // Without slices the status is the channel, and it is not watched: read it each time.
    read = !read_ || reread_ || !followsSlices_;
    before = settings_;
  }
  if (read) {
    readTopology(stop);
  }
  std::lock_guard lock(mutex_);
  // A spec read just now is news the caller has not acted on: the next wait returns at once.
  answeredVersion_ = settings_ == before ? version_ : version_ - 1;
  if (!read_) {
    return Error{Error::Code::Unavailable, "ClusterTopology " + key() + " not read yet"};
  }
  if (!topology_) {
    return Error{Error::Code::NotFound, "ClusterTopology " + key() + " not found"};
  }
  if (!view_) {
    return Error{Error::Code::Unavailable,
                 "ClusterTopology " + key() +
                     " has no members yet (is libcluster-controller running?)"};
  }
  return view_->members;
}

bool ClusterTopologyStrategy::waitForChange(Clock::MonotonicTime deadline, std::stop_token stop,
                                            Clock& clock) {
  std::stop_source wake;
  {
    std::lock_guard lock(mutex_);
    if (version_ != answeredVersion_) {
      return !stop.stop_requested();
    }
    wake_ = wake;
  }
  // The clock's sleep ends at the deadline, on the caller's stop, or when a slice brings news.
  std::stop_callback forward(stop, [&wake] { wake.request_stop(); });
  (void)clock.sleepUntil(deadline, wake.get_token());
  {
    std::lock_guard lock(mutex_);
    wake_.reset();
  }
  return !stop.stop_requested();
}

std::optional<NodeName> ClusterTopologyStrategy::seed() const {
  std::lock_guard lock(mutex_);
  if (!topology_ || !view_ || view_->seed.empty()) {
    return std::nullopt;
  }
  return view_->seed;
}

bool ClusterTopologyStrategy::prunes() const {
  std::lock_guard lock(mutex_);
  if (view_ && view_->truncated) {
    return false; // members beyond the listed ones are still members
  }
  return !settings_ || settings_->disconnectOnRemoval;
}

bool ClusterTopologyStrategy::listsSelf() const {
  std::lock_guard lock(mutex_);
  return !view_ || !view_->truncated;
}

bool ClusterTopologyStrategy::readyLocked() const {
  return read_ && topology_ && view_ && !reread_;
}

bool ClusterTopologyStrategy::waitUntilReady(std::stop_token stop,
                                             std::chrono::milliseconds timeout) {
  using std::chrono::milliseconds;
  // A topology without members yet is read again each second. A slice event is news that the
  // controller is publishing: its status (which says how many slices make the membership)
  // follows the slices within moments, so it is read at once and then again after 20, 40, 80 ...
  // ms until it is there, instead of up to a second later.
  constexpr milliseconds kIdleRead{1000};
  constexpr milliseconds kFirstQuickRead{20};
  const auto until = std::chrono::steady_clock::now() + timeout;
  {
    std::lock_guard lock(mutex_);
    if (readyLocked()) {
      return true;
    }
  }
  milliseconds quick{0}; // 0: no news, read at the idle pace
  while (!stop.stop_requested()) {
    readTopology(stop);
    std::unique_lock lock(mutex_);
    if (readyLocked()) {
      return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) {
      return false;
    }
    const std::uint64_t seen = version_;
    const auto next = std::min(until, now + (quick.count() > 0 ? quick : kIdleRead));
    (void)changed_.wait_until(lock, stop, next, [&] { return readyLocked() || version_ != seen; });
    if (readyLocked()) {
      return true;
    }
    if (version_ != seen) {
      quick = kFirstQuickRead;
    } else if (quick.count() > 0) {
      quick *= 2;
      if (quick >= kIdleRead) {
        quick = milliseconds(0);
      }
    }
  }
  return false;
}

std::optional<TopologySettings> ClusterTopologyStrategy::settings() const {
  std::lock_guard lock(mutex_);
  return settings_;
}

bool ClusterTopologyStrategy::followsSlices() const {
  std::lock_guard lock(mutex_);
  return followsSlices_;
}

} // namespace libcluster
