#include "kube/json_limits.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonLimits, CountsNestingOutsideStringsOnly) {
  EXPECT_EQ(jsonTextDepth("1"), 0U);
  EXPECT_EQ(jsonTextDepth(R"({"a": [1, {"b": []}]})"), 4U);
  EXPECT_EQ(jsonTextDepth(R"({"a": "[[[[{{{{"})"), 1U);
  EXPECT_EQ(jsonTextDepth(R"(["\"[[[", "\\", [[]]])"), 3U);
}

TEST(JsonLimits, RefusesA200000DeepArrayWithoutBuildingIt) {
  Result<nlohmann::json> parsed = parseJsonWithLimits(nested(200'000));

  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Error::Code::Invalid);
  EXPECT_NE(parsed.error().message.find("deeper than 128"), std::string::npos);
}

TEST(JsonLimits, AcceptsNestingUpToTheLimit) {
  EXPECT_TRUE(parseJsonWithLimits(nested(128)));
  EXPECT_FALSE(parseJsonWithLimits(nested(129)));
  EXPECT_TRUE(parseJsonWithLimits(nested(10), 10));
  EXPECT_FALSE(parseJsonWithLimits(nested(11), 10));
}

TEST(JsonLimits, RefusesWhatIsNotJson) {
  EXPECT_FALSE(parseJsonWithLimits("{"));
  EXPECT_FALSE(parseJsonWithLimits(""));
}

TEST(JsonLimits, MeasuresAParsedValueWithoutRecursion) {
  nlohmann::json value = nlohmann::json::array();
  for (int i = 1; i < 200'000; ++i) {
    nlohmann::json outer = nlohmann::json::array();
    outer.push_back(std::move(value));
    value = std::move(outer);
  }

  EXPECT_TRUE(isJsonDeeperThan(value, 128));
  EXPECT_FALSE(isJsonDeeperThan(nlohmann::json::parse(nested(128)), 128));
  EXPECT_TRUE(isJsonDeeperThan(nlohmann::json::parse(nested(129)), 128));
  EXPECT_FALSE(isJsonDeeperThan(nlohmann::json(1), 0));
}

} // namespace
} // namespace libcluster
