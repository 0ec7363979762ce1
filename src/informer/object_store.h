#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "informer/watcher.h"

namespace libcluster {

/// metadata.<field> of a Kubernetes object when it is a string, else "".
std::string metadataString(const nlohmann::json& object, std::string_view field);

/// The store key of a Kubernetes object: "namespace/name", or "name" when it has no namespace.
/// "" when the object has no metadata.name.
std::string objectKey(const nlohmann::json& object);

/// The object's metadata.resourceVersion, or "".
std::string objectResourceVersion(const nlohmann::json& object);

/// A copy of `object` without what a cache never needs and what makes objects large:
/// metadata.managedFields, the kubectl last-applied-configuration annotation and
/// metadata.selfLink. Spec and status are kept. Ready to use as ObjectStore<nlohmann::json>'s
/// transform.
nlohmann::json stripObject(const nlohmann::json& object);

/// A thread-safe cache of one collection, fed WatchEvents by one thread and read by any.
/// Objects are kept as `std::shared_ptr<const T>` made by a transform (objects it rejects, or
/// without a name, are not kept); readers get snapshots that stay valid after later changes.
/// A list only replaces the contents on InitDone, so objects deleted while the watch was
/// disconnected disappear then, and a list that fails part-way changes nothing.
///
/// Named indexes, as client-go's Indexer: an IndexFunc maps an object to the values it is found
/// under, and byIndex(name, value) returns those objects without a scan. Indexes are kept
/// current on every change. An IndexFunc runs under the store's lock: it must be fast, must not
/// call back into the store, and should depend on the object only; one that reads other state
/// (say, the selectors of the topologies) must be followed by reindex() when that state changes.
template <typename T>
class ObjectStore {
public:
  using Transform = std::function<std::optional<T>(const nlohmann::json&)>;
  using IndexFunc = std::function<std::vector<std::string>(const T&)>;

  /// One difference apply() made: `before` is null for an addition, `after` for a deletion.
  struct Change {
    std::string key;
    std::shared_ptr<const T> before;
    std::shared_ptr<const T> after;
  };

  explicit ObjectStore(Transform transform) : transform_(std::move(transform)) {}

  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  /// Applies one event and returns what changed in the visible contents. InitStarted and
  /// InitApplied change nothing visible; InitDone returns the difference between the old
  /// contents and the listed ones (objects with the same non-empty resourceVersion count as
  /// unchanged and keep their old snapshot). An Applied object the transform rejects is removed.
  std::vector<Change> apply(const WatchEvent& event);

  /// The object under `key` ("namespace/name"), or null.
  std::shared_ptr<const T> get(const std::string& key) const;
  /// Every object, ordered by key.
  std::vector<std::shared_ptr<const T>> list() const;
  /// The objects of one namespace, ordered by key: O(log n + k), as client-go's namespace index.
  std::vector<std::shared_ptr<const T>> listNamespace(const std::string& namespaceName) const;
  std::vector<std::string> keys() const;
  std::size_t size() const;

  /// Adds (or replaces) index `name` and indexes what is stored already: O(n) once.
  void addIndex(const std::string& name, IndexFunc function);
  bool hasIndex(const std::string& name) const;
  /// Recomputes index `name` over every object, for an IndexFunc whose other inputs changed.
  void reindex(const std::string& name);
  /// The objects index `name` files under `value`, ordered by key: O(log n + k). Empty for an
  /// unknown index or value.
  std::vector<std::shared_ptr<const T>> byIndex(const std::string& name,
                                                const std::string& value) const;
  /// How many objects index `name` files under `value`, without building the list.
  std::size_t indexedCount(const std::string& name, const std::string& value) const;

  /// True once the first complete list has been applied; never false again after that.
  bool isReady() const;
  /// Blocks until isReady(), `stop` or `timeout`; returns isReady().
  bool waitUntilReady(std::stop_token stop, std::chrono::milliseconds timeout) const;
  /// Grows with every change of the visible contents; equal values mean equal contents.
  std::uint64_t generation() const;

private:
  struct Entry {
    std::shared_ptr<const T> object;
    std::string resourceVersion;
  };
  using Map = std::map<std::string, Entry>;
  /// An object's node in objects_, which an index files instead of a copy of its key: map nodes
  /// stay put until erased, and indexes are rebuilt whenever objects_ is replaced (swapIn).
  using Slot = const typename Map::value_type*;
  struct SlotByKey {
    bool operator()(Slot a, Slot b) const { return a->first < b->first; }
  };
  struct Index {
    IndexFunc function;
    std::unordered_map<std::string, std::set<Slot, SlotByKey>> slotsByValue;
  };

  std::optional<Entry> makeEntry(const nlohmann::json& object) const;
  std::vector<Change> swapIn(Map next);
  /// Moves `slot` from the values of `before` to those of `after` in every index; under the lock,
  /// while `slot` is in objects_ (before erasing it, after inserting it).
  void updateIndexes(Slot slot, const T* before, const T* after);
  static void fill(Index& index, const Map& objects);

  Transform transform_;
  std::map<std::string, Index> indexes_;
  mutable std::shared_mutex mutex_;
  mutable std::condition_variable_any readyChanged_;
  Map objects_;
  Map buffer_;
  bool ready_ = false;
  std::uint64_t generation_ = 0;
};

template <typename T>
std::optional<typename ObjectStore<T>::Entry>
ObjectStore<T>::makeEntry(const nlohmann::json& object) const {
  std::optional<T> transformed = transform_(object);
  if (!transformed) {
    return std::nullopt;
  }
  return Entry{std::make_shared<const T>(std::move(*transformed)), objectResourceVersion(object)};
}

template <typename T>
std::vector<typename ObjectStore<T>::Change> ObjectStore<T>::apply(const WatchEvent& event) {
  using Type = WatchEvent::Type;
  std::vector<Change> changes;
  switch (event.type) {
  case Type::InitStarted: {
    std::unique_lock lock(mutex_);
    buffer_.clear();
    return changes;
  }
  case Type::InitApplied: {
    std::string key = objectKey(event.object);
    if (key.empty()) {
      return changes;
    }
    // Transform outside the lock: readers should not wait for it.
    std::optional<Entry> entry = makeEntry(event.object);
    std::unique_lock lock(mutex_);
    if (entry) {
      buffer_.insert_or_assign(std::move(key), std::move(*entry));
    } else {
      buffer_.erase(key);
    }
    return changes;
  }
  case Type::InitDone: {
    Map next;
    {
      std::unique_lock lock(mutex_);
      next.swap(buffer_);
    }
    return swapIn(std::move(next));
  }
  case Type::Applied: {
    std::string key = objectKey(event.object);
    if (key.empty()) {
      return changes;
    }
    std::optional<Entry> entry = makeEntry(event.object);
    std::unique_lock lock(mutex_);
    const auto found = objects_.find(key);
    std::shared_ptr<const T> before = found == objects_.end() ? nullptr : found->second.object;
    if (!entry) {
      if (found == objects_.end()) {
        return changes;
      }
      updateIndexes(&*found, before.get(), nullptr);
      objects_.erase(found);
      ++generation_;
      changes.push_back(Change{std::move(key), std::move(before), nullptr});
      return changes;
    }
    std::shared_ptr<const T> after = entry->object;
    const auto stored = objects_.insert_or_assign(key, std::move(*entry)).first;
    updateIndexes(&*stored, before.get(), after.get());
    ++generation_;
    changes.push_back(Change{std::move(key), std::move(before), std::move(after)});
    return changes;
  }
  case Type::Deleted: {
    std::string key = objectKey(event.object);
    std::unique_lock lock(mutex_);
    const auto found = objects_.find(key);
    if (found == objects_.end()) {
      return changes;
    }
    changes.push_back(Change{std::move(key), found->second.object, nullptr});
    updateIndexes(&*found, changes.back().before.get(), nullptr);
    objects_.erase(found);
    ++generation_;
    return changes;
  }
  }
  return changes;
}

template <typename T>
std::vector<typename ObjectStore<T>::Change> ObjectStore<T>::swapIn(Map next) {
  std::vector<Change> changes;
  std::unique_lock lock(mutex_);
  auto old = objects_.begin();
  auto now = next.begin();
  // Both maps are ordered by key: one merge pass finds additions, updates and deletions.
  while (old != objects_.end() || now != next.end()) {
    if (now == next.end() || (old != objects_.end() && old->first < now->first)) {
      changes.push_back(Change{old->first, old->second.object, nullptr});
      ++old;
    } else if (old == objects_.end() || now->first < old->first) {
      changes.push_back(Change{now->first, nullptr, now->second.object});
      ++now;
    } else {
      if (!now->second.resourceVersion.empty() &&
          now->second.resourceVersion == old->second.resourceVersion) {
        now->second.object = old->second.object;
      } else {
        changes.push_back(Change{now->first, old->second.object, now->second.object});
      }
      ++old;
      ++now;
    }
  }
  objects_.swap(next);
  // Every object now lives in another node, so all are filed again (a relist is O(n) anyway);
  // the old nodes, in `next`, go only after that.
  for (auto& [name, index] : indexes_) {
    fill(index, objects_);
  }
  const bool becameReady = !ready_;
  ready_ = true;
  if (!changes.empty() || becameReady) {
    ++generation_;
  }
  lock.unlock();
  if (becameReady) {
    readyChanged_.notify_all();
  }
  return changes;
}

template <typename T>
void ObjectStore<T>::updateIndexes(Slot slot, const T* before, const T* after) {
  for (auto& [name, index] : indexes_) {
    if (before != nullptr) {
      for (const std::string& value : index.function(*before)) {
        const auto bucket = index.slotsByValue.find(value);
        if (bucket != index.slotsByValue.end()) {
          bucket->second.erase(slot);
          if (bucket->second.empty()) {
            index.slotsByValue.erase(bucket);
          }
        }
      }
    }
    if (after != nullptr) {
      for (std::string& value : index.function(*after)) {
        index.slotsByValue[std::move(value)].insert(slot);
      }
    }
  }
}

template <typename T>
void ObjectStore<T>::fill(Index& index, const Map& objects) {
  index.slotsByValue.clear();
  for (const auto& node : objects) {
    for (std::string& value : index.function(*node.second.object)) {
      index.slotsByValue[std::move(value)].insert(&node);
    }
  }
}

template <typename T>
void ObjectStore<T>::addIndex(const std::string& name, IndexFunc function) {
  std::unique_lock lock(mutex_);
  Index& index = indexes_[name];
  index.function = std::move(function);
  fill(index, objects_);
}

template <typename T>
bool ObjectStore<T>::hasIndex(const std::string& name) const {
  std::shared_lock lock(mutex_);
  return indexes_.contains(name);
}

template <typename T>
void ObjectStore<T>::reindex(const std::string& name) {
  std::unique_lock lock(mutex_);
  const auto found = indexes_.find(name);
  if (found != indexes_.end()) {
    fill(found->second, objects_);
  }
}

template <typename T>
std::vector<std::shared_ptr<const T>> ObjectStore<T>::byIndex(const std::string& name,
                                                              const std::string& value) const {
  std::vector<std::shared_ptr<const T>> objects;
  std::shared_lock lock(mutex_);
  const auto index = indexes_.find(name);
  if (index == indexes_.end()) {
    return objects;
  }
  const auto bucket = index->second.slotsByValue.find(value);
  if (bucket == index->second.slotsByValue.end()) {
    return objects;
  }
  objects.reserve(bucket->second.size());
  for (const Slot slot : bucket->second) {
    objects.push_back(slot->second.object);
  }
  return objects;
}

template <typename T>
std::size_t ObjectStore<T>::indexedCount(const std::string& name, const std::string& value) const {
  std::shared_lock lock(mutex_);
  const auto index = indexes_.find(name);
  if (index == indexes_.end()) {
    return 0;
  }
  const auto bucket = index->second.slotsByValue.find(value);
  return bucket == index->second.slotsByValue.end() ? 0 : bucket->second.size();
}

template <typename T>
std::shared_ptr<const T> ObjectStore<T>::get(const std::string& key) const {
  std::shared_lock lock(mutex_);
  const auto found = objects_.find(key);
  return found == objects_.end() ? nullptr : found->second.object;
}

template <typename T>
std::vector<std::shared_ptr<const T>> ObjectStore<T>::list() const {
  std::shared_lock lock(mutex_);
  std::vector<std::shared_ptr<const T>> objects;
  objects.reserve(objects_.size());
  for (const auto& [key, entry] : objects_) {
    objects.push_back(entry.object);
  }
  return objects;
}

template <typename T>
std::vector<std::shared_ptr<const T>>
ObjectStore<T>::listNamespace(const std::string& namespaceName) const {
  // Keys are "namespace/name" in a sorted map, so one namespace is one contiguous range.
  const std::string prefix = namespaceName + "/";
  std::shared_lock lock(mutex_);
  std::vector<std::shared_ptr<const T>> objects;
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    objects.push_back(it->second.object);
  }
  return objects;
}

template <typename T>
std::vector<std::string> ObjectStore<T>::keys() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> keys;
  keys.reserve(objects_.size());
  for (const auto& [key, entry] : objects_) {
    keys.push_back(key);
  }
  return keys;
}

template <typename T>
std::size_t ObjectStore<T>::size() const {
  std::shared_lock lock(mutex_);
  return objects_.size();
}

template <typename T>
bool ObjectStore<T>::isReady() const {
  std::shared_lock lock(mutex_);
  return ready_;
}

template <typename T>
bool ObjectStore<T>::waitUntilReady(std::stop_token stop, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return readyChanged_.wait_for(lock, stop, timeout, [this] { return ready_; });
}

template <typename T>
std::uint64_t ObjectStore<T>::generation() const {
  std::shared_lock lock(mutex_);
  return generation_;
}

} // namespace libcluster
