#include "core/labels.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "core/check.h"

namespace libcluster {
namespace {

/// Label keys seen so far, shared by every Labels of the process. Label keys come from manifests
/// and controllers, so there are few; past kMaxInterned (a cluster using keys as data) a key is
/// simply not shared, and the pool stops growing.
class KeyPool {
public:
  std::shared_ptr<const std::string> intern(std::string key) {
    std::lock_guard lock(mutex_);
    const auto found = keys_.find(key);
    if (found != keys_.end()) {
      return found->second;
    }
    auto shared = std::make_shared<const std::string>(std::move(key));
    if (keys_.size() < kMaxInterned) {
      keys_.emplace(*shared, shared);
    }
    return shared;
  }

private:
  static constexpr std::size_t kMaxInterned = 4096;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const std::string>> keys_;
};

KeyPool& keyPool() {
  // A cache of immutable strings, not state: which pool a key came from changes no behaviour.
  static KeyPool pool;
  return pool;
}

} // namespace

Labels Labels::fromPairs(std::vector<std::pair<std::string, std::string>> pairs) {
  // Stable, so that of two equal keys the later one ends up last and wins below.
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  Labels labels;
  labels.entries_.reserve(pairs.size());
  for (auto& [key, value] : pairs) {
    if (!labels.entries_.empty() && *labels.entries_.back().key == key) {
      labels.entries_.back().value = std::move(value);
      continue;
    }
    labels.entries_.push_back(Entry{keyPool().intern(std::move(key)), std::move(value)});
  }
  return labels;
}

Labels::Labels(std::initializer_list<std::pair<const std::string, std::string>> labels)
    : Labels(std::map<std::string, std::string>(labels)) {}

Labels::Labels(const std::map<std::string, std::string>& labels) {
  entries_.reserve(labels.size());
  for (const auto& [key, value] : labels) {
    entries_.push_back(Entry{keyPool().intern(key), value});
  }
}

const std::string* Labels::find(std::string_view key) const {
  const auto found = std::lower_bound(
      entries_.begin(), entries_.end(), key,
      [](const Entry& entry, std::string_view wanted) { return *entry.key < wanted; });
  return found != entries_.end() && *found->key == key ? &found->value : nullptr;
}

const std::string& Labels::at(std::string_view key) const {
  const std::string* value = find(key);
  CHECK(value != nullptr, "Labels::at is only asked for a key the labels have");
  return *value;
}

std::map<std::string, std::string> Labels::toMap() const {
  std::map<std::string, std::string> map;
  for (const Entry& entry : entries_) {
    map.emplace_hint(map.end(), *entry.key, entry.value);
  }
  return map;
}

bool Labels::operator==(const Labels& other) const {
  return std::equal(entries_.begin(), entries_.end(), other.entries_.begin(), other.entries_.end(),
                    [](const Entry& a, const Entry& b) {
                      return (a.key == b.key || *a.key == *b.key) && a.value == b.value;
                    });
}

} // namespace libcluster
