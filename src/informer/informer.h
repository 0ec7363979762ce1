#pragma once

#include <functional>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/clock.h"
#include "informer/object_store.h"
#include "informer/watcher.h"
#include "kube/kube_api.h"

namespace libcluster {

/// The thread and lifecycle half of Informer<T>: runs a Watcher on its own std::jthread and hands
/// each WatchEvent to handle(). Not for direct use.
class InformerBase {
public:
  InformerBase(const InformerBase&) = delete;
  InformerBase& operator=(const InformerBase&) = delete;

  /// Starts the watch thread. Call once.
  void start();
  /// Stops the watch thread and joins it. A WATCH in flight ends at once; a LIST in flight is
  /// waited for (KubeApi::list cannot be cancelled). Idempotent.
  void stop();
  /// What start() runs, on the calling thread; returns when `stop` is requested.
  void run(std::stop_token stop);

  WatcherStats stats() const { return watcher_.stats(); }
  const ResourcePath& collection() const { return watcher_.collection(); }

protected:
  InformerBase(KubeApi& api, Clock& clock, ResourcePath collection, Watcher::Options options);
  /// Derived classes must call stop() in their destructor, before their members go away.
  virtual ~InformerBase();

  virtual void handle(const WatchEvent& event) = 0;
  bool isStarted() const { return thread_.joinable(); }

private:
  Watcher watcher_;
  std::jthread thread_;
};

/// A cache of one collection kept current by a Watcher on its own thread, plus change handlers
/// (client-go's SharedIndexInformer, kube-rs's reflector). Handlers run on the informer thread,
/// after the store has changed, and must not block for long. After every re-list the old and new
/// contents are diffed, so changes missed while disconnected still reach onAdd/onUpdate/onDelete.
template <typename T>
class Informer final : public InformerBase {
public:
  struct Handlers {
    std::function<void(const T&)> onAdd;
    std::function<void(const T& old, const T& now)> onUpdate;
    std::function<void(const T&)> onDelete;
    /// Called once, after the first complete list has been stored and its onAdds delivered.
    std::function<void()> onSynced;
  };

  Informer(KubeApi& api, Clock& clock, ResourcePath collection, Watcher::Options options,
           typename ObjectStore<T>::Transform transform)
      : InformerBase(api, clock, std::move(collection), std::move(options)),
        store_(std::move(transform)) {}

  ~Informer() override { stop(); }

  /// Registers handlers; only before start() (handlers are read without a lock).
  void addHandlers(Handlers handlers);

  /// Adds an index to the store (ObjectStore::addIndex); only before start().
  void addIndex(const std::string& name, typename ObjectStore<T>::IndexFunc function) {
    CHECK(!isStarted(), "indexes are added before the watch thread fills the store");
    store_.addIndex(name, std::move(function));
  }

  /// True once the first complete list is in the store.
  bool hasSynced() const { return store_.isReady(); }
  const ObjectStore<T>& store() const { return store_; }

private:
  // InformerBase
  void handle(const WatchEvent& event) override;

  ObjectStore<T> store_;
  std::vector<Handlers> handlers_;
  bool syncedNotified_ = false;
};

template <typename T>
void Informer<T>::addHandlers(Handlers handlers) {
  CHECK(!isStarted(), "handlers are read by the informer thread without a lock");
  handlers_.push_back(std::move(handlers));
}

template <typename T>
void Informer<T>::handle(const WatchEvent& event) {
  const std::vector<typename ObjectStore<T>::Change> changes = store_.apply(event);
  for (const typename ObjectStore<T>::Change& change : changes) {
    for (const Handlers& handlers : handlers_) {
      if (change.before && change.after) {
        if (handlers.onUpdate) {
          handlers.onUpdate(*change.before, *change.after);
        }
      } else if (change.after) {
        if (handlers.onAdd) {
          handlers.onAdd(*change.after);
        }
      } else if (change.before && handlers.onDelete) {
        handlers.onDelete(*change.before);
      }
    }
  }
  if (event.type == WatchEvent::Type::InitDone && !syncedNotified_) {
    syncedNotified_ = true;
    for (const Handlers& handlers : handlers_) {
      if (handlers.onSynced) {
        handlers.onSynced();
      }
    }
  }
}

} // namespace libcluster
