#include "controller/event_recorder.h"

#include <algorithm>

#include "core/log_json.h"

namespace libcluster {

EventRecorder::EventRecorder(KubeApi& api, Clock& clock, Options options)
    : api_(api), clock_(clock), options_(std::move(options)),
      thread_([this](std::stop_token stop) { run(stop); }) {}

EventRecorder::~EventRecorder() {
  thread_.request_stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void EventRecorder::record(const EventTarget& target, const std::string& type,
                           const std::string& reason, const std::string& message) {
  const auto now = clock_.now();
  const std::string stamp = formatRfc3339(clock_.systemNow());
  std::lock_guard lock(mutex_);
  const std::string bucketKey = target.namespaceName + "/" + target.name;
  auto [it, inserted] =
      buckets_.try_emplace(bucketKey, Bucket{static_cast<double>(options_.burst), now});
  Bucket& bucket = it->second;
  const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  bucket.tokens = std::min<double>(options_.burst,
                                   bucket.tokens + elapsed / std::chrono::duration<double>(options_.refill).count());
  bucket.updated = now;
  if (bucket.tokens < 1.0 || queue_.size() >= options_.maxQueued) {
    ++dropped_;
    return;
  }
  bucket.tokens -= 1.0;
  queue_.push_back(nlohmann::json{
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"generateName", target.name + "."}, {"namespace", target.namespaceName}}},
      {"involvedObject",
       {{"apiVersion", target.apiVersion},
        {"kind", target.kind},
        {"namespace", target.namespaceName},
        {"name", target.name},
        {"uid", target.uid}}},
      {"type", type},
      {"reason", reason},
      {"message", message.substr(0, 1024)},
      {"source", {{"component", options_.component}}},
      {"reportingComponent", options_.component},
      {"reportingInstance", options_.instance},
      {"firstTimestamp", stamp},
      {"lastTimestamp", stamp},
      {"count", 1}});
  queued_.notify_all();
}

void EventRecorder::flush(std::stop_token stop) {
  for (;;) {
    nlohmann::json event;
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) {
        return;
      }
      event = std::move(queue_.front());
      queue_.pop_front();
    }
    post(event, stop);
  }
}

void EventRecorder::post(const nlohmann::json& event, std::stop_token stop) {
  const ResourcePath events{"", "v1", "events", event["metadata"]["namespace"].get<std::string>(),
                            "", ""};
  CallOptions call{.deadline = clock_.now() + options_.postTimeout, .stop = stop};
  if (options_.writeFence) {
    // Asked last thing before sending, as for status: leadership may have ended meanwhile.
    const std::optional<CallOptions> fence = options_.writeFence();
    if (!fence) {
      std::lock_guard lock(mutex_);
      ++dropped_;
      logDebug("event dropped", {{"reason", event["reason"]}, {"error", "not leading"}});
      return;
    }
    if (fence->deadline && *fence->deadline < *call.deadline) {
      call.deadline = fence->deadline;
    }
  }
  Result<nlohmann::json> created = api_.create(events, event, call);
  std::lock_guard lock(mutex_);
  if (created) {
    ++posted_;
  } else {
    ++dropped_;
    logDebug("event dropped", {{"reason", event["reason"]}, {"error", created.error().message}});
  }
}

void EventRecorder::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(mutex_);
      queued_.wait(lock, stop, [&] { return !queue_.empty(); });
    }
    flush(stop);
  }
}

void EventRecorder::forget(const std::string& namespaceName, const std::string& name) {
  std::lock_guard lock(mutex_);
  buckets_.erase(namespaceName + "/" + name);
}

std::size_t EventRecorder::trackedObjects() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

std::uint64_t EventRecorder::posted() const {
  std::lock_guard lock(mutex_);
  return posted_;
}

std::uint64_t EventRecorder::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

} // namespace libcluster
