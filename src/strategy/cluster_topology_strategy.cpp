#include "strategy/cluster_topology_strategy.h"

#include "core/names.h"

namespace libcluster {
namespace {

ResourcePath topologies(const std::string& namespaceName) {
  return ResourcePath{.group = "libcluster.dev",
                      .version = "v1alpha1",
                      .resource = "clustertopologies",
                      .namespaceName = namespaceName};
}

const nlohmann::json& field(const nlohmann::json& object, const char* key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) {
    return kNull;
  }
  const auto found = object.find(key);
  return found == object.end() ? kNull : *found;
}

std::string text(const nlohmann::json& object, const char* key) {
  const nlohmann::json& value = field(object, key);
  return value.is_string() ? value.get<std::string>() : std::string();
}

std::optional<Mfa> readCall(const nlohmann::json& spec, const char* key) {
  const nlohmann::json& call = field(spec, key);
  Mfa out{text(call, "module"), text(call, "function"), {}};
  if (out.module.empty() || out.function.empty()) {
    return std::nullopt;
  }
  if (const nlohmann::json& args = field(call, "args"); args.is_array()) {
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
  if (const nlohmann::json& interval = field(spec, "reconnectIntervalSeconds");
      interval.is_number_integer() && interval.get<long long>() > 0 &&
      interval.get<long long>() <= 3600) {
    settings.reconnectInterval = std::chrono::seconds(interval.get<long long>());
  }
  settings.disconnectOnRemoval = text(spec, "onRemoval") != "Ignore";
  return settings;
}

Watcher::Options singleObject(Watcher::Options watch, const std::string& name) {
  watch.fieldSelector = "metadata.name=" + name;
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
  strategy->informer_.start();
  return strategy;
}

ClusterTopologyStrategy::ClusterTopologyStrategy(Options options, KubeApi& api, Clock& clock)
    : options_(std::move(options)),
      informer_(api, clock, topologies(options_.namespaceName),
                singleObject(options_.watch, options_.name), stripObject) {
  const std::string wanted = key();
  informer_.addHandlers({
      .onAdd =
          [this, wanted](const nlohmann::json& object) {
            if (objectKey(object) == wanted) {
              observe(&object);
            }
          },
      .onUpdate =
          [this, wanted](const nlohmann::json&, const nlohmann::json& object) {
            if (objectKey(object) == wanted) {
              observe(&object);
            }
          },
      .onDelete =
          [this, wanted](const nlohmann::json& object) {
            if (objectKey(object) == wanted) {
              observe(nullptr);
            }
          },
      .onSynced =
          [this] {
            std::lock_guard lock(mutex_);
            synced_ = true;
            ++version_;
            if (wake_) {
              wake_->request_stop();
            }
            changed_.notify_all();
          },
  });
}

ClusterTopologyStrategy::~ClusterTopologyStrategy() { informer_.stop(); }

void ClusterTopologyStrategy::observe(const nlohmann::json* object) {
  std::optional<Status> status;
  std::optional<TopologySettings> settings;
  if (object != nullptr) {
    if (const nlohmann::json& found = field(*object, "status"); found.is_object()) {
      status.emplace();
      if (const nlohmann::json& members = field(found, "members"); members.is_array()) {
        for (const nlohmann::json& member : members) {
          if (std::string node = text(member, "node"); !node.empty()) {
            status->members.insert(std::move(node));
          }
        }
      }
      status->seed = text(found, "seed");
      const nlohmann::json& truncated = field(found, "membersTruncated");
      status->truncated = truncated.is_boolean() && truncated.get<bool>();
    }
    settings = readSettings(field(*object, "spec"));
  }
  std::lock_guard lock(mutex_);
  const bool exists = object != nullptr;
  if (exists == exists_ && status == status_ && settings == settings_) {
    return; // metadata-only changes are not news
  }
  exists_ = exists;
  status_ = std::move(status);
  settings_ = std::move(settings);
  ++version_;
  if (wake_) {
    wake_->request_stop();
  }
  changed_.notify_all();
}

Result<PeerSet> ClusterTopologyStrategy::discoverPeers(std::stop_token) {
  std::lock_guard lock(mutex_);
  answeredVersion_ = version_;
  if (!synced_) {
    return Error{Error::Code::Unavailable, "ClusterTopology " + key() + " not read yet"};
  }
  if (!exists_) {
    return Error{Error::Code::NotFound, "ClusterTopology " + key() + " not found"};
  }
  if (!status_) {
    return Error{Error::Code::Unavailable,
                 "ClusterTopology " + key() +
                     " has no status yet (is libcluster-controller running?)"};
  }
  return status_->members;
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
  // The clock's sleep ends at the deadline, on the caller's stop, or when observe() has news.
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
  if (!exists_ || !status_ || status_->seed.empty()) {
    return std::nullopt;
  }
  return status_->seed;
}

bool ClusterTopologyStrategy::prunes() const {
  std::lock_guard lock(mutex_);
  if (status_ && status_->truncated) {
    return false; // members beyond the listed ones are still members
  }
  return !settings_ || settings_->disconnectOnRemoval;
}

bool ClusterTopologyStrategy::listsSelf() const {
  std::lock_guard lock(mutex_);
  return !status_ || !status_->truncated;
}

bool ClusterTopologyStrategy::waitUntilReady(std::stop_token stop,
                                             std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, stop, timeout, [this] { return synced_ && exists_ && status_; });
}

std::optional<TopologySettings> ClusterTopologyStrategy::settings() const {
  std::lock_guard lock(mutex_);
  return settings_;
}

} // namespace libcluster
