#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/kube_api.h"

namespace libcluster {

/// A small working KubeApi: an in-memory map from object path to JSON, a resourceVersion counter,
/// and queues of scripted LIST answers and WATCH sessions. Every call is recorded with its options.
///
/// - list() pops the next scripted answer; when none is left it serves the map (paged by `limit`,
///   the continue token being an offset). Selectors are recorded, not applied.
/// - watch() pops the next scripted session, delivers its events and returns its end result. With
///   no session left it waits for one to be scripted (continuing the same call) or for `stop`.
///   stopWhenScriptEnds() makes it request stop instead, so a test can drive Watcher::run on its
///   own thread.
/// - get/create/replace/mergePatch/apply/remove work on the map; replace, mergePatch and remove
///   honour a resourceVersion precondition (remove a uid one too); failNext() injects errors.
/// Thread-safe. Nothing here re-implements server semantics beyond that (STYLE §2.11).
class FakeKubeApi final : public KubeApi {
public:
  struct WatchSession {
    std::vector<RawWatchEvent> events;
    Result<void> end;
  };

  struct Call {
    std::string verb;
    ResourcePath path;
    ListOptions listOptions{};
    WatchOptions watchOptions{};
    nlohmann::json body{};
    CallOptions callOptions{};
    DeleteOptions deleteOptions{};
  };

  // Scripting

  /// Stores `object` under `collection` (namespace and name from its metadata) with a new
  /// resourceVersion, as a create or update would; returns the stored object.
  nlohmann::json put(const ResourcePath& collection, nlohmann::json object) {
    std::lock_guard lock(mutex_);
    ResourcePath path = pathOf(collection, object);
    return store(std::move(path), std::move(object));
  }
  /// Removes an object; bumps the resourceVersion.
  void erase(const ResourcePath& path) {
    std::lock_guard lock(mutex_);
    objects_.erase(key(path));
    ++version_;
  }
  /// The current resourceVersion counter, as a string.
  std::string resourceVersion() const {
    std::lock_guard lock(mutex_);
    return std::to_string(version_);
  }

  void scriptList(Result<nlohmann::json> answer) {
    std::lock_guard lock(mutex_);
    listAnswers_.push_back(std::move(answer));
  }
  void scriptWatch(std::vector<RawWatchEvent> events, Result<void> end = {}) {
    {
      std::lock_guard lock(mutex_);
      sessions_.push_back(WatchSession{std::move(events), std::move(end)});
    }
    changed_.notify_all();
  }
  /// The next call of `verb` ("get", "create", "replace", "mergePatch", "apply", "remove",
  /// "list") fails with `error`.
  void failNext(std::string verb, Error error) {
    std::lock_guard lock(mutex_);
    failures_[std::move(verb)].push_back(std::move(error));
  }
  /// When watch() runs out of sessions, request stop on `source` instead of waiting.
  void stopWhenScriptEnds(std::stop_source source) {
    std::lock_guard lock(mutex_);
    stopWhenScriptEnds_ = std::move(source);
  }

  /// Waits until every scripted session has been delivered and a watch() is waiting for more,
  /// i.e. the caller has handled everything. False after `timeout` (a hung test, not a result).
  bool waitUntilIdle(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return sessions_.empty() && waiting_ > 0; });
  }

  // Inspection

  std::vector<Call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::vector<ListOptions> listCalls() const {
    std::vector<ListOptions> found;
    for (const Call& call : calls()) {
      if (call.verb == "list") {
        found.push_back(call.listOptions);
      }
    }
    return found;
  }
  std::vector<WatchOptions> watchCalls() const {
    std::vector<WatchOptions> found;
    for (const Call& call : calls()) {
      if (call.verb == "watch") {
        found.push_back(call.watchOptions);
      }
    }
    return found;
  }
  /// How many calls so far `matches` (a predicate on Call).
  template <typename Predicate>
  std::size_t countCalls(Predicate matches) const {
    std::size_t count = 0;
    for (const Call& call : calls()) {
      count += matches(call) ? 1 : 0;
    }
    return count;
  }
  /// Calls that change something (create, replace, mergePatch, apply, remove).
  std::size_t writeCount() const {
    return countCalls([](const Call& call) {
      return call.verb != "get" && call.verb != "list" && call.verb != "watch";
    });
  }

  // KubeApi
  Result<nlohmann::json> get(const ResourcePath& path, const CallOptions& call = {}) override {
    std::lock_guard lock(mutex_);
    calls_.push_back(Call{.verb = "get", .path = path, .callOptions = call});
    if (auto error = takeFailure("get")) {
      return *error;
    }
    const auto found = objects_.find(key(path));
    if (found == objects_.end()) {
      return notFound(path);
    }
    return found->second.object;
  }

  Result<nlohmann::json> list(const ResourcePath& collection, const ListOptions& options,
                              const CallOptions& call = {}) override {
    std::lock_guard lock(mutex_);
    calls_.push_back(
        Call{.verb = "list", .path = collection, .listOptions = options, .callOptions = call});
    if (auto error = takeFailure("list")) {
      return *error;
    }
    if (!listAnswers_.empty()) {
      Result<nlohmann::json> answer = std::move(listAnswers_.front());
      listAnswers_.pop_front();
      return answer;
    }
    std::vector<nlohmann::json> items;
    for (const auto& [objectKey, stored] : objects_) {
      if (inCollection(stored.path, collection)) {
        items.push_back(stored.object);
      }
    }
    std::size_t offset = options.continueToken.empty() ? 0 : std::stoul(options.continueToken);
    std::size_t end = items.size();
    if (options.limit > 0) {
      end = std::min(items.size(), offset + static_cast<std::size_t>(options.limit));
    }
    nlohmann::json page = {{"kind", "List"},
                           {"apiVersion", "v1"},
                           {"metadata", {{"resourceVersion", std::to_string(version_)}}},
                           {"items", nlohmann::json::array()}};
    for (std::size_t i = offset; i < end; ++i) {
      page["items"].push_back(items[i]);
    }
    if (end < items.size()) {
      page["metadata"]["continue"] = std::to_string(end);
    }
    return page;
  }

  Result<void> watch(const ResourcePath& collection, const WatchOptions& options,
                     const std::function<bool(const RawWatchEvent&)>& onEvent,
                     std::stop_token stop) override {
    std::unique_lock lock(mutex_);
    calls_.push_back(Call{.verb = "watch", .path = collection, .watchOptions = options});
    while (sessions_.empty()) {
      if (stopWhenScriptEnds_) {
        stopWhenScriptEnds_->request_stop();
      }
      ++waiting_;
      changed_.notify_all();
      changed_.wait(lock, stop, [this] { return !sessions_.empty(); });
      --waiting_;
      if (stop.stop_requested()) {
        return Error{Error::Code::Cancelled, "watch stopped"};
      }
    }
    WatchSession session = std::move(sessions_.front());
    sessions_.pop_front();
    lock.unlock();
    for (const RawWatchEvent& event : session.events) {
      if (stop.stop_requested() || !onEvent(event)) {
        return Error{Error::Code::Cancelled, "watch stopped"};
      }
    }
    return session.end;
  }

  Result<nlohmann::json> create(const ResourcePath& collection, const nlohmann::json& object,
                                const CallOptions& call = {}) override {
    std::lock_guard lock(mutex_);
    calls_.push_back(
        Call{.verb = "create", .path = collection, .body = object, .callOptions = call});
    if (auto error = takeFailure("create")) {
      return *error;
    }
    const ResourcePath path = pathOf(collection, object);
    if (objects_.contains(key(path))) {
      return Error{Error::Code::Conflict, path.url() + " already exists"};
    }
    return store(path, object);
  }

  Result<nlohmann::json> replace(const ResourcePath& path, const nlohmann::json& object,
                                 const CallOptions& call = {}) override {
    std::lock_guard lock(mutex_);
    calls_.push_back(Call{.verb = "replace", .path = path, .body = object, .callOptions = call});
    if (auto error = takeFailure("replace")) {
      return *error;
    }
    const auto found = objects_.find(key(path));
    if (found == objects_.end()) {
      return notFound(path);
    }
    const std::string expected = metadataString(object, "resourceVersion");
    if (!expected.empty() && expected != metadataString(found->second.object, "resourceVersion")) {
      return Error{Error::Code::Conflict, path.url() + " has changed"};
    }
    return store(path, object);
  }

  Result<nlohmann::json> mergePatch(const ResourcePath& path, const nlohmann::json& patch,
                                    const CallOptions& call = {}) override {
    std::lock_guard lock(mutex_);
    calls_.push_back(Call{.verb = "mergePatch", .path = path, .body = patch, .callOptions = call});
    if (auto error = takeFailure("mergePatch")) {
      return *error;
    }
    const auto found = objects_.find(key(path));
    if (found == objects_.end()) {
      return notFound(path);
    }
    // A resourceVersion in the patch is a precondition, as on the real server.
    const std::string expected = metadataString(patch, "resourceVersion");
    if (!expected.empty() && expected != metadataString(found->second.object, "resourceVersion")) {
      return Error{Error::Code::Conflict, path.url() + " has changed"};
    }
    nlohmann::json patched = found->second.object;
    patched.merge_patch(patch);
    return store(path, std::move(patched));
  }

  /// Server-side apply, approximated as a merge of `object` into the stored one (or a create).
  Result<nlohmann::json> apply(const ResourcePath& path, const nlohmann::json& object,
                               const ApplyOptions& options, const CallOptions& callOptions = {}) override {
    std::lock_guard lock(mutex_);
    Call call{.verb = "apply", .path = path, .body = object, .callOptions = callOptions};
    call.body["fieldManager"] = options.fieldManager;
    calls_.push_back(std::move(call));
    if (auto error = takeFailure("apply")) {
      return *error;
    }
    nlohmann::json applied = object;
    if (const auto found = objects_.find(key(path)); found != objects_.end()) {
      applied = found->second.object;
      applied.merge_patch(object);
    }
    return store(path, std::move(applied));
  }

  Result<void> remove(const ResourcePath& path, const DeleteOptions& options = {},
                      const CallOptions& call = {}) override {
    std::lock_guard lock(mutex_);
    calls_.push_back(
        Call{.verb = "remove", .path = path, .callOptions = call, .deleteOptions = options});
    if (auto error = takeFailure("remove")) {
      return *error;
    }
    const auto found = objects_.find(key(path));
    if (found == objects_.end()) {
      return notFound(path);
    }
    // Preconditions, as on the real server: a different current object is left alone.
    const DeleteOptions::Preconditions& expected = options.preconditions;
    if ((!expected.uid.empty() && expected.uid != metadataString(found->second.object, "uid")) ||
        (!expected.resourceVersion.empty() &&
         expected.resourceVersion != metadataString(found->second.object, "resourceVersion"))) {
      return Error{Error::Code::Conflict, path.url() + ": precondition failed"};
    }
    objects_.erase(found);
    ++version_;
    return {};
  }

private:
  /// Objects live under their path without subresource: a status write changes the object.
  static std::string key(ResourcePath path) {
    path.subresource.clear();
    return path.url();
  }

  static Error notFound(const ResourcePath& path) {
    return Error{Error::Code::NotFound, path.url() + " not found"};
  }

  static std::string metadataString(const nlohmann::json& object, const char* field) {
    if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
      return "";
    }
    const nlohmann::json& value = object["metadata"].value(field, nlohmann::json());
    return value.is_string() ? value.get<std::string>() : "";
  }

  /// Where `object` lives in `collection`: its own namespace wins over the collection's.
  static ResourcePath pathOf(const ResourcePath& collection, const nlohmann::json& object) {
    ResourcePath path = collection.object(metadataString(object, "name"));
    if (std::string namespaceName = metadataString(object, "namespace"); !namespaceName.empty()) {
      path.namespaceName = std::move(namespaceName);
    }
    return path;
  }

  static bool inCollection(const ResourcePath& path, const ResourcePath& collection) {
    return path.group == collection.group && path.version == collection.version &&
           path.resource == collection.resource &&
           (collection.namespaceName.empty() || collection.namespaceName == path.namespaceName);
  }

  nlohmann::json store(ResourcePath path, nlohmann::json object) {
    ++version_;
    path.subresource.clear();
    object["metadata"]["resourceVersion"] = std::to_string(version_);
    if (!path.namespaceName.empty()) {
      object["metadata"]["namespace"] = path.namespaceName;
    }
    objects_[key(path)] = Stored{path, object};
    return object;
  }

  std::optional<Error> takeFailure(const std::string& verb) {
    const auto found = failures_.find(verb);
    if (found == failures_.end() || found->second.empty()) {
      return std::nullopt;
    }
    Error error = std::move(found->second.front());
    found->second.pop_front();
    return error;
  }

  mutable std::mutex mutex_;
  std::condition_variable_any changed_;
  struct Stored {
    ResourcePath path;
    nlohmann::json object;
  };

  std::map<std::string, Stored> objects_;
  std::uint64_t version_ = 0;
  std::deque<Result<nlohmann::json>> listAnswers_;
  std::deque<WatchSession> sessions_;
  std::map<std::string, std::deque<Error>> failures_;
  std::optional<std::stop_source> stopWhenScriptEnds_;
  int waiting_ = 0;
  std::vector<Call> calls_;
};

} // namespace libcluster
