#include "ops/startup.h"

#include <csignal>
#include <string>

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

} // namespace
} // namespace libcluster
