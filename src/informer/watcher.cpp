#include "informer/watcher.h"

#include <utility>

#include "core/log_json.h"
#include "informer/label_selector.h"
#include "informer/object_store.h"
#include "kube/json_limits.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

// client-go treats a watch that ends this quickly without any event as a failure, so a server or
// proxy that closes watches at once cannot drive a tight re-watch loop.
constexpr std::chrono::seconds kShortestHealthyWatch{1};

unsigned seedFrom(const std::optional<unsigned>& seed) {
  return seed ? *seed : std::random_device{}();
}

/// "PodList" → "Pod": LIST items come without kind and apiVersion, watch objects with them.
void fillTypeMeta(nlohmann::json& item, const nlohmann::json& list) {
  if (!item.is_object()) {
    return;
  }
  if (!item.contains("kind")) {
    const std::string listKind = list.value("kind", "");
    constexpr std::string_view kSuffix = "List";
    if (listKind.size() > kSuffix.size() && listKind.ends_with(kSuffix)) {
      item["kind"] = listKind.substr(0, listKind.size() - kSuffix.size());
    }
  }
  if (!item.contains("apiVersion") && list.contains("apiVersion")) {
    item["apiVersion"] = list["apiVersion"];
  }
}

/// An ERROR line of a watch stream carries a metav1.Status.
Error errorFromWatchStatus(const nlohmann::json& status) {
  int code = 500;
  if (status.is_object()) {
    if (auto found = status.find("code"); found != status.end() && found->is_number_integer()) {
      code = found->get<int>();
    }
  }
  return errorFromStatus(code, status);
}

bool needsHuman(Error::Code code) {
  // RBAC or a missing CRD: retrying may still succeed once someone fixes it, but say so loudly.
  return code == Error::Code::Forbidden || code == Error::Code::Unauthorized ||
         code == Error::Code::NotFound;
}

} // namespace

Watcher::Watcher(KubeApi& api, Clock& clock, ResourcePath collection, Options options)
    : api_(api), clock_(clock), collection_(std::move(collection)), options_(std::move(options)),
      random_(seedFrom(options_.seed)), backoff_(clock, options_.backoff, random_()) {}

Result<void> Watcher::run(std::stop_token stop, const EventHandler& onEvent) {
  if (Result<LabelSelector> selector = LabelSelector::parse(options_.labelSelector); !selector) {
    return selector.error();
  }
  Phase phase = Phase::List;
  std::string listVersion = options_.initialResourceVersion;
  // Gone answers since the last watch event: the first re-lists at once (history was compacted
  // while we were away), repeated ones back off so a confused server is not hammered with LISTs.
  int gonesWithoutProgress = 0;

  while (!stop.stop_requested()) {
    Result<void> outcome;
    std::string_view during;
    if (phase == Phase::List) {
      during = "list";
      outcome = listAll(listVersion, stop, onEvent);
      if (outcome) {
        phase = Phase::Watch;
        continue;
      }
    } else {
      during = "watch";
      bool progressed = false;
      bool broken = false;
      const Clock::MonotonicTime watchStarted = clock_.now();
      outcome = watchOnce(stop, onEvent, progressed, broken);
      if (progressed) {
        gonesWithoutProgress = 0;
      }
      if (outcome) {
        continue;
      }
      if (broken && !stop.stop_requested() &&
          (progressed || clock_.now() - watchStarted >= kShortestHealthyWatch)) {
        // A healthy stream that broke off (a proxy or apiserver closing connections): re-watch
        // from the last resourceVersion at once, as client-go does. If that fails too, it fails
        // fast and unhealthy, and the backoff below applies.
        errors_.fetch_add(1);
        logDebug("watch stream broke, rewatching",
                 {{"resource", collection_.url()}, {"error", outcome.error().message}});
        continue;
      }
    }
    if (stop.stop_requested()) {
      break;
    }
    const Error& error = outcome.error();
    errors_.fetch_add(1);
    if (error.code == Error::Code::Gone) {
      // A consistent read ("") cannot be too old, whatever version the last list used.
      phase = Phase::List;
      listVersion.clear();
      relistsAfterGone_.fetch_add(1);
      if (++gonesWithoutProgress == 1) {
        logDebug("resource version expired, relisting",
                 {{"resource", collection_.url()}, {"error", error.message}});
        continue;
      }
    }
    if (!waitBeforeRetry(error, during, stop)) {
      break;
    }
  }
  return {};
}

Result<void> Watcher::listAll(const std::string& version, std::stop_token stop,
                              const EventHandler& onEvent) {
  listsStarted_.fetch_add(1);
  ListOptions options{
      .labelSelector = options_.labelSelector,
      .fieldSelector = options_.fieldSelector,
      .limit = options_.pageSize,
      .continueToken = "",
      .resourceVersion = version,
      // Caches never read them, and skipping them while parsing halves a typical pod's tree.
      .omitManagedFields = true,
      .onlyFields = options_.onlyFields,
  };
  bool started = false;
  std::string listVersion;
  while (true) {
    Result<nlohmann::json> page = api_.list(collection_, options, {.stop = stop});
    if (!page) {
      return page.error();
    }
    if (stop.stop_requested()) {
      return Error{Error::Code::Cancelled, "stopped while listing"};
    }
    nlohmann::json& body = *page;
    if (!body.is_object()) {
      return Error{Error::Code::Invalid, "list response is not an object"};
    }
    auto items = body.find("items");
    if (items != body.end() && !items->is_null() && !items->is_array()) {
      return Error{Error::Code::Invalid, "list response items is not an array"};
    }
    if (!started) {
      onEvent(WatchEvent{WatchEvent::Type::InitStarted, {}});
      started = true;
    }
    if (items != body.end() && items->is_array()) {
      if (isJsonDeeperThan(*items, kMaxJsonDepth + 1)) {
        // Abandoned before InitDone, so the store keeps its last complete list.
        return Error{Error::Code::Invalid, "list item nested deeper than " +
                                               std::to_string(kMaxJsonDepth) + " levels"};
      }
      for (nlohmann::json& item : *items) {
        fillTypeMeta(item, body);
        onEvent(WatchEvent{WatchEvent::Type::InitApplied, std::move(item)});
      }
    }
    listVersion = metadataString(body, "resourceVersion");
    const std::string continueToken = metadataString(body, "continue");
    if (continueToken.empty()) {
      break;
    }
    options.continueToken = continueToken;
    // The token pins the snapshot; the apiserver rejects a resourceVersion next to it.
    options.resourceVersion.clear();
  }
  setResourceVersion(std::move(listVersion));
  onEvent(WatchEvent{WatchEvent::Type::InitDone, {}});
  listsCompleted_.fetch_add(1);
  return {};
}

Result<void> Watcher::watchOnce(std::stop_token stop, const EventHandler& onEvent,
                                bool& progressed, bool& broken) {
  const WatchOptions options{
      .labelSelector = options_.labelSelector,
      .fieldSelector = options_.fieldSelector,
      .resourceVersion = resourceVersion(),
      .timeout = nextWatchTimeout(),
      .allowBookmarks = true,
      .omitManagedFields = true,
      .onlyFields = options_.onlyFields,
  };
  watchesStarted_.fetch_add(1);
  const Clock::MonotonicTime started = clock_.now();
  std::optional<Error> streamError;
  const auto deliver = [&](const RawWatchEvent& raw) {
    if (raw.type == "ERROR") {
      // KubeApi normally turns ERROR lines into the call's result; accept them here too.
      streamError = errorFromWatchStatus(raw.object);
      return false;
    }
    // The event is copied into a WatchEvent below, and copying recurses once per level: an object
    // nested 200 000 deep would overflow the stack. Refuse it and end the watch; the store keeps
    // what it has and the watch resumes after a backoff.
    if (isJsonDeeperThan(raw.object, kMaxJsonDepth)) {
      streamError = Error{Error::Code::Invalid, "watch event nested deeper than " +
                                                    std::to_string(kMaxJsonDepth) + " levels"};
      return false;
    }
    progressed = true;
    rememberVersion(raw.object);
    if (raw.type == "ADDED" || raw.type == "MODIFIED") {
      onEvent(WatchEvent{WatchEvent::Type::Applied, raw.object});
    } else if (raw.type == "DELETED") {
      onEvent(WatchEvent{WatchEvent::Type::Deleted, raw.object});
    } else if (raw.type != "BOOKMARK") {
      logWarn("ignored watch event of unknown type",
              {{"resource", collection_.url()}, {"type", raw.type}});
    }
    return true;
  };
  Result<void> ended = api_.watch(collection_, options, deliver, stop);
  if (streamError) {
    return *streamError;
  }
  if (!ended) {
    broken = ended.error().code == Error::Code::Unavailable && !ended.error().retryAfter;
    return ended;
  }
  if (!progressed && clock_.now() - started < kShortestHealthyWatch) {
    return Error{Error::Code::Unavailable, "watch closed within a second without any event"};
  }
  return {};
}

bool Watcher::waitBeforeRetry(const Error& error, std::string_view during, std::stop_token stop) {
  std::chrono::milliseconds delay = backoff_.next();
  if (error.retryAfter && *error.retryAfter > delay) {
    delay = *error.retryAfter;
  }
  const nlohmann::json fields = {
      {"resource", collection_.url()}, {"error", error.message},
      {"code", codeName(error.code)},  {"during", during},
      {"retryInMs", delay.count()},
  };
  if (needsHuman(error.code)) {
    logError("list or watch failed", fields);
  } else {
    logWarn("list or watch failed", fields);
  }
  return clock_.sleepFor(delay, std::move(stop));
}

std::chrono::seconds Watcher::nextWatchTimeout() {
  if (options_.maxWatchTimeout <= options_.minWatchTimeout) {
    return options_.minWatchTimeout;
  }
  std::uniform_int_distribution<std::chrono::seconds::rep> pick(
      options_.minWatchTimeout.count(), options_.maxWatchTimeout.count() - 1);
  return std::chrono::seconds(pick(random_));
}

void Watcher::rememberVersion(const nlohmann::json& object) {
  std::string version = objectResourceVersion(object);
  if (!version.empty()) {
    setResourceVersion(std::move(version));
  }
}

void Watcher::setResourceVersion(std::string version) {
  std::lock_guard lock(versionMutex_);
  resourceVersion_ = std::move(version);
}

std::string Watcher::resourceVersion() const {
  std::lock_guard lock(versionMutex_);
  return resourceVersion_;
}

WatcherStats Watcher::stats() const {
  return WatcherStats{
      .listsStarted = listsStarted_.load(),
      .listsCompleted = listsCompleted_.load(),
      .watchesStarted = watchesStarted_.load(),
      .relistsAfterGone = relistsAfterGone_.load(),
      .errors = errors_.load(),
  };
}

} // namespace libcluster
