#include "core/log.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

TEST(ParseLogLevel, AcceptsTheFourLevelsInAnyCase) {
  EXPECT_EQ(parseLogLevel("debug"), LogLevel::Debug);
  EXPECT_EQ(parseLogLevel("INFO"), LogLevel::Info);
  EXPECT_EQ(parseLogLevel("Warn"), LogLevel::Warn);
  EXPECT_EQ(parseLogLevel("warning"), LogLevel::Warn);
  EXPECT_EQ(parseLogLevel("error"), LogLevel::Error);
}

TEST(ParseLogLevel, RejectsAnythingElse) {
  EXPECT_EQ(parseLogLevel(""), std::nullopt);
  EXPECT_EQ(parseLogLevel("verbose"), std::nullopt);
}

TEST(Log, WritesOneJsonObjectPerLineWithFields) {
  setLogLevel(LogLevel::Info);
  testing::internal::CaptureStderr();

  logInfo("connected to peer", {{"topology", "app"}, {"peer", "a@10.0.0.1"}});
  logDebug("not shown");

  const std::string output = testing::internal::GetCapturedStderr();
  ASSERT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
  const nlohmann::json line = nlohmann::json::parse(output);
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["msg"], "connected to peer");
  EXPECT_EQ(line["topology"], "app");
  EXPECT_EQ(line["peer"], "a@10.0.0.1");
  EXPECT_TRUE(line.contains("ts"));
}

TEST(Log, SurvivesInvalidUtf8InFields) {
  setLogLevel(LogLevel::Info);
  testing::internal::CaptureStderr();

  logWarn("dropped packet", {{"payload", std::string("\xff\xfe", 2)}});

  const std::string output = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(nlohmann::json::accept(output)) << output;
}

} // namespace
} // namespace libcluster
