#include "controller/topology_index.h"

namespace libcluster {

Result<LabelSelector> TopologyIndex::selectorOf(const KubernetesSource& source) {
  nlohmann::json selector = nlohmann::json::object();
  if (!source.selector.matchLabels.empty()) {
    selector["matchLabels"] = source.selector.matchLabels;
  }
  for (const SelectorRequirement& requirement : source.selector.matchExpressions) {
    nlohmann::json expression{{"key", requirement.key}, {"operator", requirement.op}};
    if (!requirement.values.empty()) {
      expression["values"] = requirement.values;
    }
    selector["matchExpressions"].push_back(std::move(expression));
  }
  return LabelSelector::fromJson(selector);
}

void TopologyIndex::update(const ClusterTopology& topology) {
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(topology.key());
    if (it != entries_.end() && it->second.generation == topology.generation &&
        topology.generation != 0) {
      return;
    }
  }
  Entry entry;
  entry.generation = topology.generation;
  entry.spec = parseTopologySpec(topology.spec);
  if (entry.spec) {
    for (std::size_t i = 0; i < entry.spec->sources.size(); ++i) {
      const TopologySource& source = entry.spec->sources[i];
      if (!source.kubernetes) {
        continue;
      }
      Result<LabelSelector> selector = selectorOf(*source.kubernetes);
      if (!selector) {
        entry.spec =
            Error{Error::Code::Invalid, "spec.sources[" + std::to_string(i) +
                                            "].kubernetes.selector: " + selector.error().message};
        entry.selectors.clear();
        break;
      }
      const KubernetesSource& k = *source.kubernetes;
      entry.selectors.push_back(
          PodSelector{k.namespaceName.empty() ? topology.namespaceName : k.namespaceName, *selector,
                      k.serviceName, k.resource == KubernetesSource::Resource::EndpointSlices});
    }
  }
  std::lock_guard lock(mutex_);
  unlink(topology.key());
  link(topology.key(), entry);
  entries_.insert_or_assign(topology.key(), std::move(entry));
}

void TopologyIndex::remove(const std::string& key) {
  std::lock_guard lock(mutex_);
  unlink(key);
  entries_.erase(key);
}

void TopologyIndex::link(const std::string& key, const Entry& entry) {
  for (const PodSelector& selector : entry.selectors) {
    byNamespace_[selector.namespaceName].insert(key);
  }
}

void TopologyIndex::unlink(const std::string& key) {
  const auto entry = entries_.find(key);
  if (entry == entries_.end()) {
    return;
  }
  for (const PodSelector& selector : entry->second.selectors) {
    if (auto readers = byNamespace_.find(selector.namespaceName); readers != byNamespace_.end()) {
      readers->second.erase(key);
      if (readers->second.empty()) {
        byNamespace_.erase(readers);
      }
    }
  }
}

std::optional<Result<TopologySpec>> TopologyIndex::spec(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return std::nullopt;
  }
  return it->second.spec;
}

std::vector<TopologyIndex::PodSelector> TopologyIndex::selectors(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  return it == entries_.end() ? std::vector<PodSelector>{} : it->second.selectors;
}

std::vector<std::string> TopologyIndex::topologiesForPod(const PodInfo& pod) const {
  std::vector<std::string> keys;
  std::lock_guard lock(mutex_);
  const auto readers = byNamespace_.find(pod.namespaceName);
  if (readers == byNamespace_.end()) {
    return keys;
  }
  for (const std::string& key : readers->second) {
    for (const PodSelector& selector : entries_.at(key).selectors) {
      if (!selector.endpointSlices && selector.namespaceName == pod.namespaceName &&
          selector.selector.matchesLabels(pod.labels)) {
        keys.push_back(key);
        break;
      }
    }
  }
  return keys;
}

std::vector<std::string>
TopologyIndex::topologiesForEndpointSlice(const std::string& namespaceName,
                                          const std::map<std::string, std::string>& labels) const {
  auto service = labels.find(kServiceNameLabel);
  if (service == labels.end()) {
    return {};
  }
  const std::string& serviceName = service->second;
  std::vector<std::string> keys;
  std::lock_guard lock(mutex_);
  const auto readers = byNamespace_.find(namespaceName);
  if (readers == byNamespace_.end()) {
    return keys;
  }
  for (const std::string& key : readers->second) {
    for (const PodSelector& selector : entries_.at(key).selectors) {
      if (selector.endpointSlices && selector.namespaceName == namespaceName &&
          selector.serviceName == serviceName && selector.selector.matches(labels)) {
        keys.push_back(key);
        break;
      }
    }
  }
  return keys;
}

} // namespace libcluster
