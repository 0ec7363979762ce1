#include "informer/object_store.h"

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/builders.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using Strings = std::vector<std::string>;
using Store = ObjectStore<nlohmann::json>;

WatchEvent initStarted() { return {WatchEvent::Type::InitStarted, {}}; }
WatchEvent initApplied(nlohmann::json object) {
  return {WatchEvent::Type::InitApplied, std::move(object)};
}
WatchEvent initDone() { return {WatchEvent::Type::InitDone, {}}; }
WatchEvent applied(nlohmann::json object) { return {WatchEvent::Type::Applied, std::move(object)}; }
WatchEvent deletedEvent(nlohmann::json object) {
  return {WatchEvent::Type::Deleted, std::move(object)};
}

/// "+key" for an addition, "~key" for an update, "-key" for a deletion.
Strings describe(const std::vector<Store::Change>& changes) {
  Strings described;
  for (const Store::Change& change : changes) {
    const char* sign = change.before && change.after ? "~" : change.after ? "+" : "-";
    described.push_back(sign + change.key);
  }
  return described;
}

template <typename T>
void list(ObjectStore<T>& store, const std::vector<nlohmann::json>& objects) {
  (void)store.apply(initStarted());
  for (const nlohmann::json& object : objects) {
    (void)store.apply(initApplied(object));
  }
  (void)store.apply(initDone());
}

class ObjectStoreTest : public testing::Test {
protected:
  Store store_{stripObject};
};

TEST_F(ObjectStoreTest, ListedObjectsAppearOnlyOnInitDone) {
  (void)store_.apply(initStarted());
  (void)store_.apply(initApplied(pod("a").resourceVersion("1")));
  (void)store_.apply(initApplied(pod("b").resourceVersion("2")));

  EXPECT_FALSE(store_.isReady());
  EXPECT_EQ(store_.size(), 0U);

  const Strings changes = describe(store_.apply(initDone()));

  EXPECT_TRUE(store_.isReady());
  EXPECT_EQ(changes, (Strings{"+default/a", "+default/b"}));
  EXPECT_EQ(store_.keys(), (Strings{"default/a", "default/b"}));
  EXPECT_EQ(store_.get("default/a")->at("metadata").at("name"), "a");
}

TEST_F(ObjectStoreTest, ListsOneNamespaceWithoutItsPrefixNeighbours) {
  list(store_, {pod("a").inNamespace("prod"), pod("b").inNamespace("prod2"),
                pod("c").inNamespace("pro"), pod("d").inNamespace("prod")});

  Strings names;
  for (const auto& object : store_.listNamespace("prod")) {
    names.push_back(object->at("metadata").at("name"));
  }

  EXPECT_EQ(names, (Strings{"a", "d"}));
  EXPECT_TRUE(store_.listNamespace("nowhere").empty());
}

TEST_F(ObjectStoreTest, AnEmptyListMakesTheStoreReady) {
  list(store_, {});

  EXPECT_TRUE(store_.isReady());
  EXPECT_EQ(store_.size(), 0U);
}

TEST_F(ObjectStoreTest, RelistRemovesObjectsDeletedWhileDisconnected) {
  list(store_, {pod("a").resourceVersion("1"), pod("b").resourceVersion("2"),
                pod("c").resourceVersion("3")});

  (void)store_.apply(initStarted());
  (void)store_.apply(initApplied(pod("a").resourceVersion("1")));
  (void)store_.apply(initApplied(pod("c").resourceVersion("7")));
  (void)store_.apply(initApplied(pod("d").resourceVersion("8")));
  const Strings changes = describe(store_.apply(initDone()));

  EXPECT_EQ(changes, (Strings{"-default/b", "~default/c", "+default/d"}));
  EXPECT_EQ(store_.keys(), (Strings{"default/a", "default/c", "default/d"}));
}

TEST_F(ObjectStoreTest, RelistKeepsTheSnapshotOfAnUnchangedObject) {
  list(store_, {pod("a").resourceVersion("1")});
  const std::shared_ptr<const nlohmann::json> before = store_.get("default/a");

  list(store_, {pod("a").resourceVersion("1")});

  EXPECT_EQ(store_.get("default/a"), before);
}

TEST_F(ObjectStoreTest, AbandonedListChangesNothing) {
  list(store_, {pod("a").resourceVersion("1"), pod("b").resourceVersion("2")});
  const std::uint64_t generation = store_.generation();

  (void)store_.apply(initStarted());
  (void)store_.apply(initApplied(pod("z").resourceVersion("9")));

  EXPECT_EQ(store_.keys(), (Strings{"default/a", "default/b"}));
  EXPECT_EQ(store_.generation(), generation);

  (void)store_.apply(initStarted());
  (void)store_.apply(initApplied(pod("a").resourceVersion("1")));
  (void)store_.apply(initDone());

  EXPECT_EQ(store_.keys(), (Strings{"default/a"}));
}

TEST_F(ObjectStoreTest, AppliedAddsOrReplacesInPlace) {
  list(store_, {pod("a").ip("10.0.0.1").resourceVersion("1")});

  const Strings update =
      describe(store_.apply(applied(pod("a").ip("10.0.0.2").resourceVersion("2"))));
  const Strings add = describe(store_.apply(applied(pod("b").resourceVersion("3"))));

  EXPECT_EQ(update, (Strings{"~default/a"}));
  EXPECT_EQ(add, (Strings{"+default/b"}));
  EXPECT_EQ(store_.get("default/a")->at("status").at("podIP"), "10.0.0.2");
}

TEST_F(ObjectStoreTest, DeletedRemovesAndIgnoresUnknownObjects) {
  list(store_, {pod("a").resourceVersion("1")});

  const Strings removed = describe(store_.apply(deletedEvent(pod("a").resourceVersion("2"))));
  const Strings unknown = describe(store_.apply(deletedEvent(pod("x").resourceVersion("3"))));

  EXPECT_EQ(removed, (Strings{"-default/a"}));
  EXPECT_TRUE(unknown.empty());
  EXPECT_EQ(store_.size(), 0U);
}

TEST_F(ObjectStoreTest, SnapshotsOutliveLaterChanges) {
  list(store_, {pod("a").ip("10.0.0.1").resourceVersion("1")});
  const std::shared_ptr<const nlohmann::json> snapshot = store_.get("default/a");

  (void)store_.apply(applied(pod("a").ip("10.0.0.2").resourceVersion("2")));
  (void)store_.apply(deletedEvent(pod("a").resourceVersion("3")));

  EXPECT_EQ(snapshot->at("status").at("podIP"), "10.0.0.1");
}

TEST_F(ObjectStoreTest, GenerationGrowsWithVisibleChangesOnly) {
  const std::uint64_t empty = store_.generation();
  list(store_, {pod("a").resourceVersion("1")});
  const std::uint64_t listed = store_.generation();
  list(store_, {pod("a").resourceVersion("1")});
  const std::uint64_t relistedUnchanged = store_.generation();
  (void)store_.apply(applied(pod("a").resourceVersion("2")));

  EXPECT_GT(listed, empty);
  EXPECT_EQ(relistedUnchanged, listed);
  EXPECT_GT(store_.generation(), listed);
}

TEST_F(ObjectStoreTest, KeysClusterScopedObjectsByName) {
  list(store_, {R"({"kind": "Node", "metadata": {"name": "node-1", "resourceVersion": "1"}})"_json,
                R"({"kind": "Node", "metadata": {"resourceVersion": "2"}})"_json});

  EXPECT_EQ(store_.keys(), (Strings{"node-1"}));
}

struct PodAddress {
  std::string name;
  std::string ip;
};

std::optional<PodAddress> readyPodAddress(const nlohmann::json& object) {
  const nlohmann::json& status = object.value("status", nlohmann::json::object());
  if (!status.contains("podIP")) {
    return std::nullopt;
  }
  return PodAddress{object["metadata"]["name"].get<std::string>(),
                    status["podIP"].get<std::string>()};
}

TEST(ObjectStore, KeepsOnlyWhatTheTransformAccepts) {
  ObjectStore<PodAddress> store(readyPodAddress);

  list(store, {pod("a").ip("10.0.0.1").resourceVersion("1"), pod("b").resourceVersion("2")});

  EXPECT_EQ(store.keys(), (Strings{"default/a"}));
  EXPECT_EQ(store.get("default/a")->ip, "10.0.0.1");
}

TEST(ObjectStore, RemovesAnObjectTheTransformStopsAccepting) {
  ObjectStore<PodAddress> store(readyPodAddress);
  list(store, {pod("a").ip("10.0.0.1").resourceVersion("1")});

  const std::vector<ObjectStore<PodAddress>::Change> changes =
      store.apply(applied(pod("a").resourceVersion("2")));

  ASSERT_EQ(changes.size(), 1U);
  EXPECT_EQ(changes[0].before->ip, "10.0.0.1");
  EXPECT_EQ(changes[0].after, nullptr);
  EXPECT_EQ(store.get("default/a"), nullptr);
}

TEST_F(ObjectStoreTest, WaitUntilReadyReturnsAtOnceWhenReady) {
  list(store_, {});

  EXPECT_TRUE(store_.waitUntilReady(std::stop_token(), 0ms));
}

TEST_F(ObjectStoreTest, WaitUntilReadyGivesUpWhenStopped) {
  std::stop_source stop;
  stop.request_stop();

  EXPECT_FALSE(store_.waitUntilReady(stop.get_token(), 1h));
}

TEST_F(ObjectStoreTest, WaitUntilReadyWakesWhenAnotherThreadCompletesTheList) {
  std::jthread lister([this] { list(store_, {pod("a").resourceVersion("1")}); });

  EXPECT_TRUE(store_.waitUntilReady(std::stop_token(), 10s));
}

/// Index "app": the value of label app, if any.
std::vector<std::string> appIndex(const nlohmann::json& object) {
  const nlohmann::json labels = object.at("metadata").value("labels", nlohmann::json::object());
  if (!labels.contains("app")) {
    return {};
  }
  return {labels["app"].get<std::string>()};
}

Strings namesOf(const std::vector<std::shared_ptr<const nlohmann::json>>& objects) {
  Strings names;
  for (const auto& object : objects) {
    names.push_back(object->at("metadata").at("name"));
  }
  return names;
}

TEST_F(ObjectStoreTest, AnIndexAddedLateIndexesWhatIsStored) {
  list(store_, {pod("b").labels({{"app", "web"}}), pod("a").labels({{"app", "web"}}),
                pod("c").labels({{"app", "db"}}), pod("d")});

  store_.addIndex("app", appIndex);

  EXPECT_EQ(namesOf(store_.byIndex("app", "web")), (Strings{"a", "b"}));
  EXPECT_EQ(namesOf(store_.byIndex("app", "db")), (Strings{"c"}));
  EXPECT_EQ(store_.indexedCount("app", "web"), 2u);
  EXPECT_TRUE(store_.byIndex("app", "cache").empty());
  EXPECT_TRUE(store_.byIndex("no-such-index", "web").empty());
}

/// One row: events applied after a first list of {a: web, b: web, c: db}, then what the index
/// must hold.
struct IndexCase {
  std::string name;
  std::vector<WatchEvent> events;
  Strings web;
  Strings db;
};
void PrintTo(const IndexCase& row, std::ostream* out) { *out << row.name; }

class ObjectStoreIndexTable : public testing::TestWithParam<IndexCase> {};

TEST_P(ObjectStoreIndexTable, KeepsTheIndexCurrent) {
  Store store{stripObject};
  store.addIndex("app", appIndex);
  list(store, {pod("a").labels({{"app", "web"}}), pod("b").labels({{"app", "web"}}),
               pod("c").labels({{"app", "db"}})});

  for (const WatchEvent& event : GetParam().events) {
    (void)store.apply(event);
  }

  EXPECT_EQ(namesOf(store.byIndex("app", "web")), GetParam().web);
  EXPECT_EQ(namesOf(store.byIndex("app", "db")), GetParam().db);
  EXPECT_EQ(store.indexedCount("app", "web"), GetParam().web.size());
}

INSTANTIATE_TEST_SUITE_P(
    Changes, ObjectStoreIndexTable,
    testing::Values(
        IndexCase{"NothingChanged", {}, {"a", "b"}, {"c"}},
        IndexCase{"AddedUnderItsValue", {applied(pod("d").labels({{"app", "web"}}))},
                  {"a", "b", "d"}, {"c"}},
        IndexCase{"RelabelledMovesBetweenValues", {applied(pod("a").labels({{"app", "db"}}))},
                  {"b"}, {"a", "c"}},
        IndexCase{"UnlabelledLeavesTheIndex", {applied(pod("b"))}, {"a"}, {"c"}},
        IndexCase{"DeletedLeavesTheIndex", {deletedEvent(pod("a").labels({{"app", "web"}}))},
                  {"b"}, {"c"}},
        IndexCase{"DeletedUnknownChangesNothing", {deletedEvent(pod("zz"))}, {"a", "b"}, {"c"}},
        IndexCase{"RelistDiffsTheIndex",
                  {initStarted(), initApplied(pod("b").labels({{"app", "db"}})),
                   initApplied(pod("e").labels({{"app", "web"}})), initDone()},
                  {"e"},
                  {"b"}},
        IndexCase{"AbandonedRelistChangesNothing",
                  {initStarted(), initApplied(pod("x").labels({{"app", "web"}}))},
                  {"a", "b"},
                  {"c"}}),
    [](const testing::TestParamInfo<IndexCase>& info) { return info.param.name; });

TEST_F(ObjectStoreTest, ReindexFollowsAnIndexFunctionWhoseInputsChanged) {
  list(store_, {pod("a").labels({{"app", "web"}}), pod("b").labels({{"app", "db"}})});
  // An index by "which topology selects the pod", whose selector lives outside the store.
  std::string selected = "web";
  store_.addIndex("topology", [&selected](const nlohmann::json& object) {
    return appIndex(object) == Strings{selected} ? Strings{"prod/t"} : Strings{};
  });
  ASSERT_EQ(namesOf(store_.byIndex("topology", "prod/t")), (Strings{"a"}));

  selected = "db";
  store_.reindex("topology");

  EXPECT_EQ(namesOf(store_.byIndex("topology", "prod/t")), (Strings{"b"}));
}

TEST(StripObject, DropsManagedFieldsAndTheLastAppliedAnnotation) {
  nlohmann::json object =
      pod("a")
          .annotation("kubectl.kubernetes.io/last-applied-configuration", "{...}")
          .annotation("team", "x");
  object["metadata"]["managedFields"] = R"([{"manager": "kubectl"}])"_json;
  object["metadata"]["selfLink"] = "/api/v1/namespaces/default/pods/a";

  const nlohmann::json stripped = stripObject(object);

  EXPECT_FALSE(stripped["metadata"].contains("managedFields"));
  EXPECT_FALSE(stripped["metadata"].contains("selfLink"));
  EXPECT_EQ(stripped["metadata"]["annotations"], R"({"team": "x"})"_json);
  EXPECT_EQ(stripped["spec"], object["spec"]);
  EXPECT_EQ(stripped["status"], object["status"]);
}

TEST(StripObject, RemovesAnnotationsLeftEmpty) {
  const nlohmann::json object =
      pod("a").annotation("kubectl.kubernetes.io/last-applied-configuration", "{...}");

  EXPECT_FALSE(stripObject(object)["metadata"].contains("annotations"));
}

TEST(StripObject, LeavesNonObjectsAlone) {
  EXPECT_EQ(stripObject(nullptr), nullptr);
  EXPECT_EQ(stripObject(R"({"metadata": 3})"_json), R"({"metadata": 3})"_json);
}

} // namespace
} // namespace libcluster
