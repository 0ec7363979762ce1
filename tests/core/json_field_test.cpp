#include "core/json_field.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace libcluster {
namespace {

using nlohmann::json;

TEST(StringField, IsTheStringOrEmptyNeverThrowing) {
  struct Case {
    json object;
    std::string expected;
  };
  const std::vector<Case> cases{
      {json{{"name", "web"}}, "web"},
      {json{{"name", ""}}, ""},
      {json{{"name", 7}}, ""},
      {json{{"name", nullptr}}, ""},
      {json{{"name", json::array({"web"})}}, ""},
      {json{{"name", json{{"name", "web"}}}}, ""},
      {json{{"other", "web"}}, ""},
      {json::object(), ""},
      {json::array({"name", "web"}), ""},
      {json("name"), ""},
      {json(), ""},
      {json{{"name", std::string("a\0b", 3)}}, std::string("a\0b", 3)},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(stringField(c.object, "name"), c.expected) << c.object.dump();
  }
}

TEST(FieldOrNull, IsTheMemberOrNull) {
  const json object{{"spec", {{"x", 1}}}};

  EXPECT_EQ(fieldOrNull(object, "spec"), (json{{"x", 1}}));
  EXPECT_TRUE(fieldOrNull(object, "status").is_null());
  EXPECT_TRUE(fieldOrNull(json::array({1}), "spec").is_null());
  EXPECT_TRUE(fieldOrNull(json(42), "spec").is_null());
}

TEST(StringList, IsTheStringsOfTheArrayInOrder) {
  const json object{{"ips", json::array({"10.0.0.2", 7, "10.0.0.1", nullptr, json::object()})},
                    {"name", "web"}};

  EXPECT_EQ(stringList(object, "ips"), (std::vector<std::string>{"10.0.0.2", "10.0.0.1"}));
  EXPECT_TRUE(stringList(object, "name").empty());
  EXPECT_TRUE(stringList(object, "missing").empty());
  EXPECT_TRUE(stringList(json::array({"ips"}), "ips").empty());
}

TEST(StringMap, IsTheStringMembersOfTheObject) {
  const json object{{"labels", {{"app", "web"}, {"tier", 3}, {"zone", "a"}, {"x", nullptr}}},
                    {"list", json::array({"app"})}};

  EXPECT_EQ(stringMap(object, "labels"),
            (std::map<std::string, std::string>{{"app", "web"}, {"zone", "a"}}));
  EXPECT_TRUE(stringMap(object, "list").empty());
  EXPECT_TRUE(stringMap(object, "missing").empty());
  EXPECT_TRUE(stringMap(json("labels"), "labels").empty());
}

} // namespace
} // namespace libcluster
