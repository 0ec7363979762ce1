#include "informer/watcher.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/builders.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_kube_api.h"
#include "informer/object_store.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using Strings = std::vector<std::string>;

Error unavailable(std::string message = "apiserver unreachable") {
  return Error{Error::Code::Unavailable, std::move(message)};
}

Error gone() { return Error{Error::Code::Gone, "too old resource version: 10 (20)"}; }

std::string describe(const WatchEvent& event) {
  switch (event.type) {
  case WatchEvent::Type::InitStarted:
    return "InitStarted";
  case WatchEvent::Type::InitApplied:
    return "InitApplied " + objectKey(event.object);
  case WatchEvent::Type::InitDone:
    return "InitDone";
  case WatchEvent::Type::Applied:
    return "Applied " + objectKey(event.object) + "@" + objectResourceVersion(event.object);
  case WatchEvent::Type::Deleted:
    return "Deleted " + objectKey(event.object);
  }
  return "?";
}

Strings versionsOf(const std::vector<WatchOptions>& watches) {
  Strings versions;
  for (const WatchOptions& options : watches) {
    versions.push_back(options.resourceVersion);
  }
  return versions;
}

/// Drives Watcher::run on the test thread: the fake requests stop when its watch script runs out.
class WatcherTest : public testing::Test {
protected:
  void runWith(Watcher::Options options) {
    Watcher watcher(api_, clock_, podsIn("default"), std::move(options));
    runWatcher(watcher);
  }

  void runWatcher(Watcher& watcher) {
    api_.stopWhenScriptEnds(stop_);
    Result<void> ran = watcher.run(stop_.get_token(), [this](const WatchEvent& event) {
      events_.push_back(describe(event));
      (void)store_.apply(event);
      if (onEvent_) {
        onEvent_(event);
      }
    });
    EXPECT_TRUE(ran);
    stats_ = watcher.stats();
  }

  static Watcher::Options options() {
    Watcher::Options options;
    options.seed = 7;
    return options;
  }

  FakeKubeApi api_;
  FakeClock clock_;
  std::stop_source stop_;
  Strings events_;
  ObjectStore<nlohmann::json> store_{stripObject};
  std::function<void(const WatchEvent&)> onEvent_;
  WatcherStats stats_;
};

TEST_F(WatcherTest, ConcatenatesListPagesBeforeInitDone) {
  api_.scriptList(listPage({pod("a"), pod("b")}, "10", "page-2"));
  api_.scriptList(listPage({pod("c")}, "10"));

  runWith(options());

  EXPECT_EQ(events_, (Strings{"InitStarted", "InitApplied default/a", "InitApplied default/b",
                              "InitApplied default/c", "InitDone"}));
  EXPECT_EQ(store_.keys(), (Strings{"default/a", "default/b", "default/c"}));
}

TEST_F(WatcherTest, PagesWith500AndFollowsTheContinueToken) {
  api_.scriptList(listPage({pod("a")}, "10", "page-2"));
  api_.scriptList(listPage({pod("b")}, "10"));
  Watcher::Options withCache = options();
  withCache.initialResourceVersion = "0";

  runWith(withCache);

  const std::vector<ListOptions> lists = api_.listCalls();
  ASSERT_EQ(lists.size(), 2U);
  EXPECT_EQ(lists[0].limit, 500);
  EXPECT_EQ(lists[0].continueToken, "");
  EXPECT_EQ(lists[0].resourceVersion, "0");
  EXPECT_EQ(lists[1].limit, 500);
  EXPECT_EQ(lists[1].continueToken, "page-2");
  // The apiserver rejects a resourceVersion next to a continue token.
  EXPECT_EQ(lists[1].resourceVersion, "");
}

TEST_F(WatcherTest, PassesSelectorsToListAndWatch) {
  Watcher::Options selective = options();
  selective.labelSelector = "app=web";
  selective.fieldSelector = "status.phase=Running";

  runWith(selective);

  ASSERT_EQ(api_.listCalls().size(), 1U);
  EXPECT_EQ(api_.listCalls()[0].labelSelector, "app=web");
  EXPECT_EQ(api_.listCalls()[0].fieldSelector, "status.phase=Running");
  ASSERT_EQ(api_.watchCalls().size(), 1U);
  EXPECT_EQ(api_.watchCalls()[0].labelSelector, "app=web");
  EXPECT_EQ(api_.watchCalls()[0].fieldSelector, "status.phase=Running");
}

TEST_F(WatcherTest, EveryListPageIsCancelledWithTheWatcher) {
  api_.scriptList(listPage({pod("a")}, "10", "page-2"));
  api_.scriptList(listPage({pod("b")}, "10"));

  runWith(options());

  std::vector<std::stop_token> passed;
  for (const FakeKubeApi::Call& call : api_.calls()) {
    if (call.verb == "list") {
      passed.push_back(call.callOptions.stop);
    }
  }
  ASSERT_EQ(passed.size(), 2U);
  for (const std::stop_token& stop : passed) {
    // runWith ends by requesting stop_ (the script ran out), so each page's token saw it.
    EXPECT_TRUE(stop.stop_possible());
    EXPECT_TRUE(stop.stop_requested());
  }
}

TEST_F(WatcherTest, FillsKindAndApiVersionOfListItems) {
  nlohmann::json bare = pod("a");
  bare.erase("kind");
  bare.erase("apiVersion");
  api_.scriptList(listPage({bare}, "10"));

  runWith(options());

  ASSERT_NE(store_.get("default/a"), nullptr);
  EXPECT_EQ(store_.get("default/a")->at("kind"), "Pod");
  EXPECT_EQ(store_.get("default/a")->at("apiVersion"), "v1");
}

TEST_F(WatcherTest, WatchesFromTheListResourceVersionWithBookmarks) {
  api_.scriptList(listPage({pod("a").resourceVersion("3")}, "10"));

  runWith(options());

  const std::vector<WatchOptions> watches = api_.watchCalls();
  ASSERT_EQ(watches.size(), 1U);
  EXPECT_EQ(watches[0].resourceVersion, "10");
  EXPECT_TRUE(watches[0].allowBookmarks);
  EXPECT_GE(watches[0].timeout, 300s);
  EXPECT_LT(watches[0].timeout, 600s);
}

TEST_F(WatcherTest, SpreadsWatchTimeoutsOverFiveToTenMinutes) {
  api_.scriptList(listPage({}, "10"));
  for (int i = 0; i < 8; ++i) {
    api_.scriptWatch({bookmark(std::to_string(11 + i))});
  }

  runWith(options());

  std::set<std::chrono::seconds> timeouts;
  for (const WatchOptions& watch : api_.watchCalls()) {
    EXPECT_GE(watch.timeout, 300s);
    EXPECT_LT(watch.timeout, 600s);
    timeouts.insert(watch.timeout);
  }
  EXPECT_GT(timeouts.size(), 1U);
}

TEST_F(WatcherTest, TranslatesWatchEventsAndTracksTheirResourceVersions) {
  api_.scriptList(listPage({pod("a").resourceVersion("5")}, "10"));
  api_.scriptWatch({added(pod("b").resourceVersion("11")), modified(pod("a").resourceVersion("12")),
                    deleted(pod("b").resourceVersion("13"))});

  runWith(options());

  EXPECT_EQ(events_,
            (Strings{"InitStarted", "InitApplied default/a", "InitDone", "Applied default/b@11",
                     "Applied default/a@12", "Deleted default/b"}));
  EXPECT_EQ(versionsOf(api_.watchCalls()), (Strings{"10", "13"}));
  EXPECT_EQ(store_.keys(), (Strings{"default/a"}));
}

TEST_F(WatcherTest, BookmarkOnlyAdvancesTheResourceVersionOfTheNextWatch) {
  api_.scriptList(listPage({}, "10"));
  api_.scriptWatch({added(pod("a").resourceVersion("11")), bookmark("15")});

  runWith(options());

  EXPECT_EQ(events_, (Strings{"InitStarted", "InitDone", "Applied default/a@11"}));
  EXPECT_EQ(versionsOf(api_.watchCalls()), (Strings{"10", "15"}));
}

TEST_F(WatcherTest, NormalEndRewatchesFromTheLastVersionWithoutBackoff) {
  api_.scriptList(listPage({}, "10"));
  api_.scriptWatch({modified(pod("a").resourceVersion("12"))});
  api_.scriptWatch({bookmark("14")});

  runWith(options());

  EXPECT_EQ(versionsOf(api_.watchCalls()), (Strings{"10", "12", "14"}));
  EXPECT_TRUE(clock_.sleeps().empty());
  EXPECT_EQ(stats_.listsStarted, 1U);
  EXPECT_EQ(stats_.watchesStarted, 3U);
  EXPECT_EQ(stats_.errors, 0U);
}

TEST_F(WatcherTest, WatchThatEndsAtOnceWithoutEventsBacksOff) {
  api_.scriptList(listPage({}, "10"));
  api_.scriptWatch({});

  runWith(options());

  ASSERT_EQ(clock_.sleeps().size(), 1U);
  EXPECT_GE(clock_.sleeps()[0], 800ms);
  EXPECT_EQ(versionsOf(api_.watchCalls()), (Strings{"10", "10"}));
  EXPECT_EQ(stats_.errors, 1U);
}

TEST_F(WatcherTest, GoneMidStreamRelistsConsistentlyAndDropsObjectsDeletedMeanwhile) {
  Watcher::Options withCache = options();
  withCache.initialResourceVersion = "0";
  api_.scriptList(listPage({pod("a").resourceVersion("5"), pod("b").resourceVersion("6")}, "10"));
  api_.scriptWatch({modified(pod("a").resourceVersion("11")),
                    watchError(410, "Expired", "too old resource version: 11 (30)")});
  api_.scriptList(listPage({pod("a").resourceVersion("11")}, "30"));

  runWith(withCache);

  EXPECT_EQ(store_.keys(), (Strings{"default/a"}));
  const std::vector<ListOptions> lists = api_.listCalls();
  ASSERT_EQ(lists.size(), 2U);
  EXPECT_EQ(lists[0].resourceVersion, "0");
  EXPECT_EQ(lists[1].resourceVersion, "");
  EXPECT_EQ(versionsOf(api_.watchCalls()), (Strings{"10", "30"}));
  EXPECT_TRUE(clock_.sleeps().empty());
  EXPECT_EQ(stats_.relistsAfterGone, 1U);
  EXPECT_EQ(stats_.listsCompleted, 2U);
}

TEST_F(WatcherTest, GoneAsTheWatchResultAlsoRelists) {
  api_.scriptList(listPage({pod("a"), pod("b")}, "10"));
  api_.scriptWatch({}, gone());
  api_.scriptList(listPage({pod("b")}, "40"));

  runWith(options());

  EXPECT_EQ(store_.keys(), (Strings{"default/b"}));
  EXPECT_EQ(versionsOf(api_.watchCalls()), (Strings{"10", "40"}));
  EXPECT_EQ(stats_.relistsAfterGone, 1U);
}

TEST_F(WatcherTest, RepeatedGoneWithoutProgressBacksOffBeforeRelisting) {
  api_.scriptList(listPage({}, "10"));
  api_.scriptWatch({}, gone());
  api_.scriptList(listPage({}, "20"));
  api_.scriptWatch({}, gone());
  api_.scriptList(listPage({}, "30"));

  runWith(options());

  ASSERT_EQ(clock_.sleeps().size(), 1U);
  EXPECT_GE(clock_.sleeps()[0], 800ms);
  EXPECT_EQ(stats_.relistsAfterGone, 2U);
  EXPECT_EQ(stats_.listsCompleted, 3U);
}

TEST_F(WatcherTest, UnavailableBacksOffExponentiallyAndRewatchesFromTheSameVersion) {
  api_.scriptList(listPage({}, "10"));
  for (int i = 0; i < 4; ++i) {
    api_.scriptWatch({}, unavailable());
  }

  runWith(options());

  const std::vector<std::chrono::milliseconds> sleeps = clock_.sleeps();
  ASSERT_EQ(sleeps.size(), 4U);
  std::chrono::milliseconds base = 800ms;
  for (std::chrono::milliseconds sleep : sleeps) {
    EXPECT_GE(sleep, base);
    EXPECT_LT(sleep, 2 * base);
    base *= 2;
  }
  EXPECT_EQ(versionsOf(api_.watchCalls()), (Strings{"10", "10", "10", "10", "10"}));
  EXPECT_EQ(stats_.listsStarted, 1U);
  EXPECT_EQ(stats_.errors, 4U);
}

TEST_F(WatcherTest, BackoffStartsOverAfterTwoHealthyMinutes) {
  api_.scriptList(listPage({}, "10"));
  api_.scriptWatch({}, unavailable());
  api_.scriptWatch({}, unavailable());
  api_.scriptWatch({modified(pod("a").resourceVersion("11")),
                    watchError(500, "InternalError", "etcd leader changed")});
  onEvent_ = [this](const WatchEvent& event) {
    if (event.type == WatchEvent::Type::Applied) {
      clock_.advance(121s);
    }
  };

  runWith(options());

  const std::vector<std::chrono::milliseconds> sleeps = clock_.sleeps();
  ASSERT_EQ(sleeps.size(), 3U);
  EXPECT_GE(sleeps[1], 1600ms);
  EXPECT_GE(sleeps[2], 800ms);
  EXPECT_LT(sleeps[2], 1600ms);
}

TEST_F(WatcherTest, ABrokenStreamThatDeliveredEventsRewatchesAtOnce) {
  api_.scriptList(listPage({}, "10"));
  api_.scriptWatch({modified(pod("a").resourceVersion("11"))}, unavailable("stream broken"));
  api_.scriptWatch({modified(pod("a").resourceVersion("12"))}, unavailable("stream broken"));
  api_.scriptWatch({bookmark("13")});

  runWith(options());

  EXPECT_TRUE(clock_.sleeps().empty()) << "no backoff after a healthy stream broke";
  EXPECT_EQ(versionsOf(api_.watchCalls()), (Strings{"10", "11", "12", "13"}));
  EXPECT_EQ(stats_.listsStarted, 1U);
  EXPECT_EQ(stats_.errors, 2U);
}

TEST_F(WatcherTest, AStreamThatBreaksAtOnceBacksOff) {
  api_.scriptList(listPage({}, "10"));
  api_.scriptWatch({}, unavailable("connection refused"));
  api_.scriptWatch({}, unavailable("connection refused"));

  runWith(options());

  ASSERT_EQ(clock_.sleeps().size(), 2U);
  EXPECT_GE(clock_.sleeps()[0], 800ms);
}

TEST_F(WatcherTest, HonoursALongerRetryAfter) {
  api_.scriptList(listPage({}, "10"));
  api_.scriptWatch({}, Error{Error::Code::TooManyRequests, "slow down", 10s});
  api_.scriptWatch({}, Error{Error::Code::Unavailable, "busy", 100ms});

  runWith(options());

  const std::vector<std::chrono::milliseconds> sleeps = clock_.sleeps();
  ASSERT_EQ(sleeps.size(), 2U);
  EXPECT_EQ(sleeps[0], 10s);
  EXPECT_GE(sleeps[1], 1600ms);
}

TEST_F(WatcherTest, ErrorLineInTheStreamBacksOffAndRewatches) {
  api_.scriptList(listPage({}, "10"));
  api_.scriptWatch({added(pod("a").resourceVersion("11")),
                    watchError(500, "InternalError", "etcd leader changed")});

  runWith(options());

  EXPECT_EQ(clock_.sleeps().size(), 1U);
  EXPECT_EQ(versionsOf(api_.watchCalls()), (Strings{"10", "11"}));
  EXPECT_EQ(stats_.listsStarted, 1U);
}

TEST_F(WatcherTest, ListFailureOnTheSecondPageEmitsNoInitDoneAndStartsOver) {
  api_.scriptList(listPage({pod("a")}, "10", "page-2"));
  api_.scriptList(unavailable());
  api_.scriptList(listPage({pod("a")}, "12", "page-2"));
  api_.scriptList(listPage({pod("b")}, "12"));
  Strings storeKeysAtSecondStart;
  onEvent_ = [&](const WatchEvent& event) {
    if (event.type == WatchEvent::Type::InitStarted) {
      storeKeysAtSecondStart = store_.keys();
    }
  };

  runWith(options());

  EXPECT_EQ(events_, (Strings{"InitStarted", "InitApplied default/a", "InitStarted",
                              "InitApplied default/a", "InitApplied default/b", "InitDone"}));
  EXPECT_TRUE(storeKeysAtSecondStart.empty());
  EXPECT_EQ(store_.keys(), (Strings{"default/a", "default/b"}));
  const std::vector<ListOptions> lists = api_.listCalls();
  ASSERT_EQ(lists.size(), 4U);
  EXPECT_EQ(lists[2].continueToken, "");
  ASSERT_EQ(clock_.sleeps().size(), 1U);
  EXPECT_EQ(versionsOf(api_.watchCalls()), (Strings{"12"}));
  EXPECT_EQ(stats_.listsStarted, 2U);
  EXPECT_EQ(stats_.listsCompleted, 1U);
}

TEST_F(WatcherTest, FailedRelistKeepsTheStoreUntilAListCompletes) {
  api_.scriptList(listPage({pod("a"), pod("b")}, "10"));
  api_.scriptWatch({}, gone());
  api_.scriptList(listPage({pod("a")}, "20", "page-2"));
  api_.scriptList(unavailable());
  api_.scriptList(listPage({pod("a")}, "21"));
  Strings keysDuringRetry;
  onEvent_ = [&](const WatchEvent& event) {
    if (event.type == WatchEvent::Type::InitStarted) {
      keysDuringRetry = store_.keys();
    }
  };

  runWith(options());

  EXPECT_EQ(keysDuringRetry, (Strings{"default/a", "default/b"}));
  EXPECT_EQ(store_.keys(), (Strings{"default/a"}));
  // After a Gone every list is a consistent read until one completes.
  EXPECT_EQ(api_.listCalls().back().resourceVersion, "");
}

TEST_F(WatcherTest, ExpiredContinueTokenRestartsTheListAtOnce) {
  Watcher::Options withCache = options();
  withCache.initialResourceVersion = "0";
  api_.scriptList(listPage({pod("a")}, "10", "page-2"));
  api_.scriptList(gone());
  api_.scriptList(listPage({pod("a"), pod("b")}, "50"));

  runWith(withCache);

  const std::vector<ListOptions> lists = api_.listCalls();
  ASSERT_EQ(lists.size(), 3U);
  EXPECT_EQ(lists[2].resourceVersion, "");
  EXPECT_EQ(lists[2].continueToken, "");
  EXPECT_TRUE(clock_.sleeps().empty());
  EXPECT_EQ(store_.keys(), (Strings{"default/a", "default/b"}));
}

TEST_F(WatcherTest, ListErrorBacksOffAndRetriesTheList) {
  api_.scriptList(unavailable());
  api_.scriptList(Error{Error::Code::Forbidden, "pods is forbidden"});
  api_.scriptList(listPage({pod("a")}, "10"));

  runWith(options());

  EXPECT_EQ(clock_.sleeps().size(), 2U);
  EXPECT_EQ(store_.keys(), (Strings{"default/a"}));
  EXPECT_EQ(stats_.listsStarted, 3U);
  EXPECT_EQ(stats_.errors, 2U);
}

TEST_F(WatcherTest, ServesFromTheFakesObjectsWhenNoListIsScripted) {
  api_.put(podsIn("default"), pod("a"));
  api_.put(podsIn("default"), pod("b"));
  api_.put(podsIn("default"), pod("c"));
  Watcher::Options small = options();
  small.pageSize = 2;

  runWith(small);

  EXPECT_EQ(store_.keys(), (Strings{"default/a", "default/b", "default/c"}));
  EXPECT_EQ(api_.listCalls().size(), 2U);
  EXPECT_EQ(versionsOf(api_.watchCalls()), (Strings{"3"}));
}

TEST_F(WatcherTest, RejectsAnInvalidLabelSelectorWithoutCallingTheApi) {
  Watcher::Options bad = options();
  bad.labelSelector = "app in (web";
  Watcher watcher(api_, clock_, podsIn("default"), bad);

  Result<void> ran = watcher.run(stop_.get_token(), [](const WatchEvent&) {});

  ASSERT_FALSE(ran);
  EXPECT_EQ(ran.error().code, Error::Code::Invalid);
  EXPECT_TRUE(api_.calls().empty());
}

TEST_F(WatcherTest, ReturnsAtOnceWhenAlreadyStopped) {
  stop_.request_stop();
  Watcher watcher(api_, clock_, podsIn("default"), options());

  Result<void> ran = watcher.run(stop_.get_token(), [](const WatchEvent&) {});

  EXPECT_TRUE(ran);
  EXPECT_TRUE(api_.calls().empty());
}

TEST_F(WatcherTest, StopDuringAWatchEndsTheRunWithoutBackoff) {
  api_.scriptList(listPage({}, "10"));
  api_.scriptWatch({added(pod("a").resourceVersion("11"))}, unavailable());
  onEvent_ = [this](const WatchEvent& event) {
    if (event.type == WatchEvent::Type::Applied) {
      stop_.request_stop();
    }
  };

  runWith(options());

  EXPECT_TRUE(clock_.sleeps().empty());
  EXPECT_EQ(api_.watchCalls().size(), 1U);
}

/// An array nested `depth` deep, built without recursion (and destroyed without it by nlohmann).
nlohmann::json nestedArray(int depth) {
  nlohmann::json value = nlohmann::json::array();
  for (int i = 1; i < depth; ++i) {
    nlohmann::json outer = nlohmann::json::array();
    outer.push_back(std::move(value));
    value = std::move(outer);
  }
  return value;
}

TEST_F(WatcherTest, RefusesAWatchEventNestedTooDeepAndKeepsTheStore) {
  api_.scriptList(listPage({pod("a").resourceVersion("10")}, "10"));
  nlohmann::json hostile = pod("b").resourceVersion("11");
  hostile["spec"]["deep"] = nestedArray(200'000);
  std::vector<RawWatchEvent> first;
  first.push_back(added(std::move(hostile)));
  api_.scriptWatch(std::move(first));
  api_.scriptWatch({added(pod("c").resourceVersion("12"))});

  runWith(options());

  EXPECT_EQ(stats_.errors, 1U);
  EXPECT_EQ(store_.keys(), (Strings{"default/a", "default/c"}));
}

TEST_F(WatcherTest, AbandonsAListWithAnItemNestedTooDeep) {
  api_.scriptList(listPage({pod("a").resourceVersion("10")}, "10"));
  api_.scriptWatch({}, gone());
  nlohmann::json hostile = pod("b");
  hostile["spec"]["deep"] = nestedArray(200'000);
  std::vector<nlohmann::json> items;
  items.push_back(pod("c"));
  items.push_back(std::move(hostile));
  nlohmann::json page = nlohmann::json::object();
  page["kind"] = "PodList";
  page["apiVersion"] = "v1";
  page["metadata"]["resourceVersion"] = "20";
  page["items"] = nlohmann::json::array();
  for (nlohmann::json& item : items) {
    page["items"].push_back(std::move(item));
  }
  api_.scriptList(std::move(page));
  api_.scriptList(listPage({pod("a").resourceVersion("10")}, "30"));
  std::vector<Strings> storeAtEachList;
  onEvent_ = [&](const WatchEvent& event) {
    if (event.type == WatchEvent::Type::InitStarted) {
      storeAtEachList.push_back(store_.keys());
    }
  };

  runWith(options());

  EXPECT_GE(stats_.errors, 2U);
  // The third list starts with the first list's content: the hostile one changed nothing.
  ASSERT_EQ(storeAtEachList.size(), 3U);
  EXPECT_EQ(storeAtEachList[2], (Strings{"default/a"}));
  EXPECT_EQ(std::count(events_.begin(), events_.end(), "InitDone"), 2);
}

} // namespace
} // namespace libcluster
