#pragma once

#include <string_view>

#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"

namespace libcluster {

// Start-up code both binaries share: the log level, the fatal start-up error, SIGTERM / SIGINT.
// Flag definitions that need CLI11 are in ops/startup_cli.h (included by the two mains only).

/// The exit status of a start-up or configuration error (STYLE: fatal, one line naming it).
inline constexpr int kStartupFailedStatus = 2;

/// Logs `message` as "startup failed" at error level; returns kStartupFailedStatus for main.
int startupFailed(std::string_view message);

/// Parses a --log-level value and makes it the process's level; Invalid naming the flag if not.
Result<void> applyLogLevel(std::string_view text);

/// Makes SIGTERM and SIGINT request a stop instead of killing the process. Call before starting
/// the app, so a signal during start-up is not lost.
void installStopSignalHandlers();

/// Blocks until SIGTERM or SIGINT arrives (after installStopSignalHandlers), checking every
/// `poll` on `clock`; returns the signal and clears it, so a later wait waits again.
int waitForStopSignal(Clock& clock, std::chrono::milliseconds poll = std::chrono::milliseconds(100));

/// What both mains do once their app is built: installs the signal handlers, starts `app` (a
/// failure is fatal: startupFailed), calls `onStarted`, waits for SIGTERM / SIGINT on `clock`, logs
/// "shutting down" and stops the app. Returns main's exit status. `App` has
/// `Result<void> start()` and `void stop()`.
template <typename App, typename OnStarted>
int runUntilStopSignal(App& app, Clock& clock, OnStarted onStarted) {
  installStopSignalHandlers();
  if (Result<void> started = app.start(); !started) {
    return startupFailed(started.error().message);
  }
  onStarted();
  const int signal = waitForStopSignal(clock);
  logInfo("shutting down", {{"signal", signal}});
  app.stop();
  return 0;
}

template <typename App>
int runUntilStopSignal(App& app, Clock& clock) {
  return runUntilStopSignal(app, clock, [] {});
}

} // namespace libcluster
