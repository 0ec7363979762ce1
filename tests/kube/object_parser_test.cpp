#include "kube/object_parser.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

using nlohmann::json;

const char* const kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

json podWithManagedFields(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"labels", {{"app", "web"}}},
            {"annotations", {{kLastApplied, "{\"apiVersion\":\"v1\"}"}, {"keep", "me"}}},
            {"managedFields",
             {{{"manager", "kubelet"},
               {"fieldsV1", {{"f:status", {{"f:conditions", {{".", json::object()}}}}}}},
               {"list", {1, 2.5, nullptr, true, "s", json::array()}}}}}}},
          {"spec",
           {{"containers", {{{"name", "app"}, {"image", "busybox"}}}},
            // Same names, not the object's own metadata: kept.
            {"template", {{"metadata", {{"managedFields", {1}}}}}},
            {"managedFields", "spec's own"}}},
          {"status",
           {{"podIP", "10.0.0.1"}, {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
}

/// What stripping after parsing gave: the object minus its own managedFields and last-applied.
json stripped(json object) {
  object["metadata"].erase("managedFields");
  object["metadata"]["annotations"].erase(kLastApplied);
  return object;
}

TEST(ObjectParser, ListItemsAreTheObjectsMinusManagedFieldsAndLastApplied) {
  const json list = {{"kind", "PodList"},
                     {"apiVersion", "v1"},
                     {"metadata", {{"resourceVersion", "42"}, {"managedFields", "list's own"}}},
                     {"items", {podWithManagedFields("a"), podWithManagedFields("b")}}};

  Result<json> parsed = parseObjectsWithoutManagedFields(list.dump(), ObjectsAt::ListItems);

  ASSERT_TRUE(parsed) << parsed.error().message;
  json expected = list;
  expected["items"] = {stripped(podWithManagedFields("a")), stripped(podWithManagedFields("b"))};
  EXPECT_EQ(*parsed, expected);
  EXPECT_EQ((*parsed)["metadata"]["managedFields"], "list's own");
  EXPECT_EQ((*parsed)["items"][0]["spec"]["template"]["metadata"]["managedFields"], json({1}));
  EXPECT_EQ((*parsed)["items"][1]["metadata"]["annotations"]["keep"], "me");
}

TEST(ObjectParser, WatchEventObjectIsTheObjectMinusManagedFieldsAndLastApplied) {
  const json event = {{"type", "MODIFIED"}, {"object", podWithManagedFields("a")}};

  Result<json> parsed = parseObjectsWithoutManagedFields(event.dump(), ObjectsAt::WatchEventObject);

  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, json({{"type", "MODIFIED"}, {"object", stripped(podWithManagedFields("a"))}}));
}

TEST(ObjectParser, KeepsEverythingElseExactlyAsJsonParseBuildsIt) {
  // Numbers of every kind, escapes, unicode, empty containers, a repeated key (the last wins).
  const std::string text =
      R"({"items":[{"metadata":{"name":"x","uid":"u"},"n":-1,"u":18446744073709551615,"f":1.5e3,)"
      R"("s":"a\"b\\c\u00e9\n","e":{},"a":[],"d":1,"d":2,"nested":[[{"managedFields":1}]]}],)"
      R"("metadata":{}})";

  Result<json> parsed = parseObjectsWithoutManagedFields(text, ObjectsAt::ListItems);

  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, json::parse(text));
}

TEST(ObjectParser, ItemsThatAreNotObjectsAreKept) {
  const std::string text = R"({"items":[1,"two",null,[{"metadata":{"managedFields":3}}]]})";

  Result<json> parsed = parseObjectsWithoutManagedFields(text, ObjectsAt::ListItems);

  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, json::parse(text));
}

TEST(ObjectParser, SkipsValuesOfAnyShape) {
  const std::string text =
      R"({"type":"ADDED","object":{"metadata":{"name":"x","managedFields":"not a list",)"
      R"("annotations":{"kubectl.kubernetes.io/last-applied-configuration":[{"a":[[]]},7]}}}})";

  Result<json> parsed = parseObjectsWithoutManagedFields(text, ObjectsAt::WatchEventObject);

  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed,
            json::parse(R"({"type":"ADDED","object":{"metadata":{"name":"x","annotations":{}}}})"));
}

TEST(ObjectParser, MalformedInputIsAClearError) {
  for (const std::string& text :
       {std::string(""), std::string("{"),
        std::string(R"({"items":[{"metadata":{"managedFields":[1,)"),
        std::string(R"({"items":[]} trailing)"),
        std::string(R"({"items":[{"metadata":{"managedFields":]}}]})"), std::string("\xff\xfe")}) {
    Result<json> parsed = parseObjectsWithoutManagedFields(text, ObjectsAt::ListItems);

    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code, Error::Code::Invalid) << text;
    EXPECT_EQ(parsed.error().message.rfind("not JSON", 0), 0U) << parsed.error().message;
  }
}

TEST(ObjectParser, RefusesDeepNestingEvenInsideASkippedValue) {
  const std::string deep = std::string(200'000, '[') + std::string(200'000, ']');
  const std::string text = R"({"object":{"metadata":{"managedFields":)" + deep + "}}}";

  Result<json> parsed = parseObjectsWithoutManagedFields(text, ObjectsAt::WatchEventObject);

  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, Error::Code::Invalid);
  EXPECT_NE(parsed.error().message.find("deeper than 128"), std::string::npos);
}

TEST(ObjectParser, OnlyFieldsBuildsTheNamedFieldsOfEachObject) {
  const json list = {{"kind", "PodList"},
                     {"apiVersion", "v1"},
                     {"metadata", {{"resourceVersion", "42"}, {"continue", "c"}}},
                     {"items", {podWithManagedFields("a"), podWithManagedFields("b")}}};
  const FieldTree fields({"metadata.name", "metadata.labels", "status.conditions.type"});

  Result<json> parsed =
      parseObjectsWithoutManagedFields(list.dump(), ObjectsAt::ListItems, kMaxJsonDepth, &fields);

  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto lean = [](const std::string& name) {
    return json{{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"labels", {{"app", "web"}}}}},
                {"status", {{"conditions", {{{"type", "Ready"}}}}}}};
  };
  json expected = list; // the List's own fields are not an object's: all kept
  expected["items"] = {lean("a"), lean("b")};
  EXPECT_EQ(*parsed, expected);
}

TEST(ObjectParser, OnlyFieldsAppliesToWatchEventObjects) {
  const json event = {{"type", "MODIFIED"}, {"object", podWithManagedFields("a")}};
  const FieldTree fields({"status.podIP", "metadata.annotations"});

  Result<json> parsed = parseObjectsWithoutManagedFields(event.dump(), ObjectsAt::WatchEventObject,
                                                         kMaxJsonDepth, &fields);

  ASSERT_TRUE(parsed) << parsed.error().message;
  // Kept whole, except the last-applied annotation, which is left out whatever is asked for.
  EXPECT_EQ(*parsed, json({{"type", "MODIFIED"},
                           {"object",
                            {{"apiVersion", "v1"},
                             {"kind", "Pod"},
                             {"metadata", {{"annotations", {{"keep", "me"}}}}},
                             {"status", {{"podIP", "10.0.0.1"}}}}}}));
}

TEST(ObjectParser, AShorterPathKeepsTheWholeField) {
  const std::string text =
      R"({"items":[{"metadata":{"name":"x","labels":{"a":"b"}},"spec":7,"status":{"x":[1,{"y":2}]}}]})";

  for (const std::vector<std::string>& paths :
       {std::vector<std::string>{"metadata.name", "metadata", "spec.hostname", "status"},
        std::vector<std::string>{"metadata", "metadata.name", "status", "spec.hostname"}}) {
    const FieldTree fields(paths);
    Result<json> parsed =
        parseObjectsWithoutManagedFields(text, ObjectsAt::ListItems, kMaxJsonDepth, &fields);

    ASSERT_TRUE(parsed) << parsed.error().message;
    // spec is named (through spec.hostname) but is no object: kept as it is, for the reader to
    // judge.
    EXPECT_EQ(*parsed, json::parse(text));
  }
}

TEST(ObjectParser, NoPathsKeepEveryField) {
  const FieldTree fields(std::vector<std::string>{});
  const json event = {{"type", "ADDED"}, {"object", podWithManagedFields("a")}};

  Result<json> parsed = parseObjectsWithoutManagedFields(event.dump(), ObjectsAt::WatchEventObject,
                                                         kMaxJsonDepth, &fields);

  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(fields.keepsAll());
  EXPECT_EQ(*parsed, json({{"type", "ADDED"}, {"object", stripped(podWithManagedFields("a"))}}));
}

} // namespace
} // namespace libcluster
