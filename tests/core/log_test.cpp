#include "core/log.h"

#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/log_json.h"

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

TEST(Log, KeepsEachFieldsTypeAndOrder) {
  setLogLevel(LogLevel::Info);
  testing::internal::CaptureStderr();
  const std::string owned = "owned";
  const std::uint64_t big = std::numeric_limits<std::uint64_t>::max();

  logInfo("typed", {{"text", owned},
                    {"view", std::string_view("view")},
                    {"count", std::size_t{3}},
                    {"negative", -7},
                    {"big", big},
                    {"flag", true},
                    {"ratio", 0.5},
                    {"list", jsonLogValue(nlohmann::json::array({"a", 1}))},
                    {"a_first", "z"}});

  const std::string output = testing::internal::GetCapturedStderr();
  const nlohmann::ordered_json line = nlohmann::ordered_json::parse(output);
  EXPECT_EQ(line["text"], "owned");
  EXPECT_EQ(line["view"], "view");
  EXPECT_EQ(line["count"], 3);
  EXPECT_EQ(line["negative"], -7);
  EXPECT_EQ(line["big"].get<std::uint64_t>(), big);
  EXPECT_EQ(line["flag"], true);
  EXPECT_EQ(line["ratio"], 0.5);
  EXPECT_EQ(line["list"], nlohmann::json::array({"a", 1}));
  std::vector<std::string> keys;
  for (const auto& [key, value] : line.items()) {
    keys.push_back(key);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"ts", "level", "msg", "text", "view", "count",
                                            "negative", "big", "flag", "ratio", "list", "a_first"}));
}

TEST(Log, WritesAFieldObjectBuiltAsJson) {
  setLogLevel(LogLevel::Info);
  testing::internal::CaptureStderr();
  nlohmann::json fields = {{"topology", "app"}};
  fields["error"] = "timeout";

  logWarn("peer discovery failed", fields);
  logInfo("not an object", nlohmann::json::array({1, 2}));

  const std::string output = testing::internal::GetCapturedStderr();
  ASSERT_EQ(std::count(output.begin(), output.end(), '\n'), 2) << output;
  const nlohmann::json first = nlohmann::json::parse(output.substr(0, output.find('\n')));
  EXPECT_EQ(first["level"], "warn");
  EXPECT_EQ(first["topology"], "app");
  EXPECT_EQ(first["error"], "timeout");
  const nlohmann::json second = nlohmann::json::parse(output.substr(output.find('\n') + 1));
  EXPECT_EQ(second["msg"], "not an object");
  EXPECT_EQ(second.size(), 3u);
}

TEST(Log, SurvivesInvalidUtf8InJsonFieldValues) {
  setLogLevel(LogLevel::Info);
  testing::internal::CaptureStderr();

  logWarn("dropped packet", {{"payload", jsonLogValue(std::string("\xff\xfe", 2))}});

  const std::string output = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(nlohmann::json::accept(output)) << output;
}

} // namespace
} // namespace libcluster
