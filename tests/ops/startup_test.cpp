#include "ops/startup.h"
#include "ops/startup_cli.h"

#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "fakes/fake_clock.h"

namespace libcluster {
namespace {

TEST(ApplyLogLevel, SetsTheProcessLevel) {
  ASSERT_TRUE(applyLogLevel("debug"));
  EXPECT_EQ(logLevel(), LogLevel::Debug);

  ASSERT_TRUE(applyLogLevel("WARN"));

  EXPECT_EQ(logLevel(), LogLevel::Warn);
  setLogLevel(LogLevel::Info);
}

TEST(ApplyLogLevel, RefusesAnUnknownLevelNamingTheFlag) {
  setLogLevel(LogLevel::Info);

  Result<void> applied = applyLogLevel("verbose");

  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code, Error::Code::Invalid);
  EXPECT_EQ(applied.error().message,
            "--log-level: unknown level \"verbose\" (debug, info, warn, error)");
  EXPECT_EQ(logLevel(), LogLevel::Info);
}

TEST(StartupFailed, LogsOneErrorLineAndReturnsStatusTwo) {
  setLogLevel(LogLevel::Info);
  testing::internal::CaptureStderr();

  const int status = startupFailed("--kubeconfig: no such file");

  const std::string output = testing::internal::GetCapturedStderr();
  EXPECT_EQ(status, 2);
  const nlohmann::json line = nlohmann::json::parse(output);
  EXPECT_EQ(line["level"], "error");
  EXPECT_EQ(line["msg"], "startup failed");
  EXPECT_EQ(line["error"], "--kubeconfig: no such file");
}

TEST(WaitForStopSignal, ReturnsTheSignalThatArrivedAndClearsIt) {
  FakeClock clock;
  installStopSignalHandlers();

  ASSERT_EQ(std::raise(SIGTERM), 0);
  EXPECT_EQ(waitForStopSignal(clock), SIGTERM);

  ASSERT_EQ(std::raise(SIGINT), 0);
  EXPECT_EQ(waitForStopSignal(clock), SIGINT);
}

std::optional<int> parse(CLI::App& cli, std::vector<const char*> args) {
  args.insert(args.begin(), "libcluster-test");
  return parseCommandLine(cli, static_cast<int>(args.size()), args.data(), "libcluster-test");
}

TEST(ParseCommandLine, ParsesTheFlagsAndAppliesTheLogLevel) {
  setLogLevel(LogLevel::Info);
  CLI::App cli;
  std::string name;
  cli.add_option("--name", name);

  const std::optional<int> status = parse(cli, {"--name", "x", "--log-level", "debug"});

  EXPECT_EQ(status, std::nullopt);
  EXPECT_EQ(name, "x");
  EXPECT_EQ(logLevel(), LogLevel::Debug);
  setLogLevel(LogLevel::Info);
}

TEST(ParseCommandLine, EndsMainWithStatusTwoOnAnUnknownLevel) {
  setLogLevel(LogLevel::Info);
  CLI::App cli;
  testing::internal::CaptureStderr();

  const std::optional<int> status = parse(cli, {"--log-level", "verbose"});

  const std::string output = testing::internal::GetCapturedStderr();
  EXPECT_EQ(status, 2);
  EXPECT_NE(output.find("--log-level: unknown level"), std::string::npos) << output;
  EXPECT_EQ(logLevel(), LogLevel::Info);
}

TEST(ParseCommandLine, EndsMainWithCliElevensStatusOnAnUnknownFlagAndZeroOnVersion) {
  CLI::App refusing;
  testing::internal::CaptureStderr();
  const std::optional<int> refused = parse(refusing, {"--no-such-flag"});
  (void)testing::internal::GetCapturedStderr();
  ASSERT_TRUE(refused.has_value());
  EXPECT_NE(*refused, 0);

  CLI::App versioned;
  testing::internal::CaptureStdout();
  const std::optional<int> version = parse(versioned, {"--version"});
  const std::string output = testing::internal::GetCapturedStdout();
  EXPECT_EQ(version, 0);
  EXPECT_NE(output.find("libcluster-test"), std::string::npos) << output;
}

struct RecordingApp {
  Result<void> startResult;
  int starts = 0;
  int stops = 0;
  Result<void> start() {
    ++starts;
    return startResult;
  }
  void stop() { ++stops; }
};

TEST(RunUntilStopSignal, StartsWaitsForTheSignalThenStops) {
  FakeClock clock;
  RecordingApp app;
  int startedCalls = 0;

  const int status = runUntilStopSignal(app, clock, [&] {
    ++startedCalls;
    EXPECT_EQ(app.stops, 0);
    ASSERT_EQ(std::raise(SIGTERM), 0);
  });

  EXPECT_EQ(status, 0);
  EXPECT_EQ(app.starts, 1);
  EXPECT_EQ(startedCalls, 1);
  EXPECT_EQ(app.stops, 1);
}

TEST(RunUntilStopSignal, AFailedStartIsAStartupFailureWithoutWaiting) {
  FakeClock clock;
  RecordingApp app;
  app.startResult = Error{Error::Code::Unavailable, "port in use"};
  int startedCalls = 0;
  testing::internal::CaptureStderr();

  const int status = runUntilStopSignal(app, clock, [&] { ++startedCalls; });

  const std::string output = testing::internal::GetCapturedStderr();
  EXPECT_EQ(status, 2);
  EXPECT_EQ(startedCalls, 0);
  EXPECT_EQ(app.stops, 0);
  EXPECT_NE(output.find("port in use"), std::string::npos) << output;
}

} // namespace
} // namespace libcluster
