#include "informer/informer.h"

#include "core/log.h"

namespace libcluster {

InformerBase::InformerBase(KubeApi& api, Clock& clock, ResourcePath collection,
                           Watcher::Options options)
    : watcher_(api, clock, std::move(collection), std::move(options)) {}

InformerBase::~InformerBase() {
  CHECK(!thread_.joinable(), "a derived informer must stop() in its destructor");
}

void InformerBase::start() {
  CHECK(!thread_.joinable(), "an informer runs one watch thread");
  thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

void InformerBase::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

void InformerBase::run(std::stop_token stop) {
  Result<void> ran =
      watcher_.run(std::move(stop), [this](const WatchEvent& event) { handle(event); });
  if (!ran) {
    // Only a bad configuration ends the watcher early; the cache then never becomes ready.
    logError("informer could not start",
             {{"resource", watcher_.collection().url()}, {"error", ran.error().message}});
  }
}

} // namespace libcluster
