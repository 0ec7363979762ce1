#include "ops/startup.h"

#include <csignal>
#include <string>

#include "core/log.h"

namespace libcluster {
namespace {

volatile std::sig_atomic_t gStopSignal = 0;

extern "C" void onStopSignal(int signal) { gStopSignal = signal; }

} // namespace

int startupFailed(std::string_view message) {
  logError("startup failed", {{"error", message}});
  return kStartupFailedStatus;
}

Result<void> applyLogLevel(std::string_view text) {
  const std::optional<LogLevel> level = parseLogLevel(text);
  if (!level) {
    return Error{Error::Code::Invalid, "--log-level: unknown level \"" + std::string(text) +
                                          "\" (debug, info, warn, error)"};
  }
  setLogLevel(*level);
  return {};
}

void installStopSignalHandlers() {
  std::signal(SIGTERM, onStopSignal);
  std::signal(SIGINT, onStopSignal);
}

int waitForStopSignal(Clock& clock, std::chrono::milliseconds poll) {
  // A flag polled from here rather than work in the handler: only async-signal-safe code may
  // run there, and the app's stop() joins threads.
  while (gStopSignal == 0) {
    (void)clock.sleepFor(poll, std::stop_token{});
  }
  const int signal = gStopSignal;
  gStopSignal = 0;
  return signal;
}

} // namespace libcluster
