#include "core/json_field.h"

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

} // namespace
} // namespace libcluster
