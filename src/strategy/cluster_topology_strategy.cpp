#include "strategy/cluster_topology_strategy.h"

#include <regex>

#include "core/log.h"

namespace libcluster {
namespace {

ResourcePath topologies(const std::string& namespaceName) {
  return ResourcePath{.group = "libcluster.dev",
                      .version = "v1alpha1",
                      .resource = "clustertopologies",
                      .namespaceName = namespaceName};
}

bool isDnsName(const std::string& name) {
  static const std::regex pattern("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$");
  return name.size() <= 253 && std::regex_match(name, pattern);
}

Watcher::Options singleObject(Watcher::Options watch, const std::string& name) {
  watch.fieldSelector = "metadata.name=" + name;
  return watch;
}

} // namespace

Result<std::unique_ptr<ClusterTopologyStrategy>>
ClusterTopologyStrategy::create(Options options, KubeApi& api, Clock& clock) {
  if (!isDnsName(options.namespaceName)) {
    return Error{Error::Code::Invalid,
                 "namespace: must be a Kubernetes namespace name, got \"" + options.namespaceName + "\""};
  }
  if (!isDnsName(options.name)) {
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
  std::optional<TopologyStatus> status;
  std::optional<TopologySpec> spec;
  if (object != nullptr) {
    if (auto found = object->find("status"); found != object->end() && found->is_object()) {
      status = parseTopologyStatus(*found);
    }
    if (auto found = object->find("spec"); found != object->end()) {
      if (Result<TopologySpec> parsed = parseTopologySpec(*found)) {
        spec = std::move(*parsed);
      } else {
        logWarn("topology spec not understood", {{"topology", key()}, {"error", parsed.error().message}});
      }
    }
  }
  std::lock_guard lock(mutex_);
  const bool exists = object != nullptr;
  if (exists == exists_ && status == status_ && spec == spec_) {
    return; // metadata-only changes are not news
  }
  exists_ = exists;
  status_ = std::move(status);
  spec_ = std::move(spec);
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
                 "ClusterTopology " + key() + " has no status yet (is libcluster-controller running?)"};
  }
  PeerSet peers;
  for (const Member& member : status_->members) {
    if (!member.node.empty()) {
      peers.insert(member.node);
    }
  }
  return peers;
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
  if (status_ && status_->membersTruncated) {
    return false; // members beyond the listed ones are still members
  }
  return !spec_ || spec_->onRemoval == TopologySpec::OnRemoval::Disconnect;
}

bool ClusterTopologyStrategy::waitUntilReady(std::stop_token stop,
                                             std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, stop, timeout, [this] { return synced_ && exists_ && status_; });
}

std::optional<TopologySpec> ClusterTopologyStrategy::spec() const {
  std::lock_guard lock(mutex_);
  return spec_;
}

std::chrono::seconds ClusterTopologyStrategy::reconnectInterval(std::chrono::seconds fallback) const {
  std::lock_guard lock(mutex_);
  return spec_ ? std::chrono::seconds(spec_->reconnectIntervalSeconds) : fallback;
}

} // namespace libcluster
