#include "informer/informer.h"

#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/builders.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_kube_api.h"

namespace libcluster {
namespace {

using Strings = std::vector<std::string>;

std::string ipOf(const nlohmann::json& pod) { return pod["status"].value("podIP", ""); }

/// Runs a real informer thread against FakeKubeApi; waitUntilIdle() says when the informer has
/// handled everything scripted so far and is waiting in a watch.
class InformerTest : public testing::Test {
protected:
  InformerTest() {
    informer_.addHandlers({
        .onAdd = [this](const nlohmann::json& pod) { record("add " + objectKey(pod)); },
        .onUpdate =
            [this](const nlohmann::json& old, const nlohmann::json& now) {
              record("update " + objectKey(now) + " " + ipOf(old) + "->" + ipOf(now));
            },
        .onDelete = [this](const nlohmann::json& pod) { record("delete " + objectKey(pod)); },
        .onSynced = [this] { record("synced"); },
    });
  }

  void record(std::string line) {
    std::lock_guard lock(mutex_);
    seen_.push_back(std::move(line));
  }

  /// What handlers saw since the last call.
  Strings takeSeen() {
    std::lock_guard lock(mutex_);
    return std::exchange(seen_, {});
  }

  void startAndSync() {
    informer_.start();
    ASSERT_TRUE(api_.waitUntilIdle());
  }

  FakeKubeApi api_;
  FakeClock clock_;
  std::mutex mutex_;
  Strings seen_;
  Informer<nlohmann::json> informer_{api_, clock_, podsIn("default"), Watcher::Options{},
                                     stripObject};
};

TEST_F(InformerTest, AddsEveryListedObjectThenReportsSynced) {
  api_.put(podsIn("default"), pod("a").ip("10.0.0.1"));
  api_.put(podsIn("default"), pod("b").ip("10.0.0.2"));

  startAndSync();

  EXPECT_EQ(takeSeen(), (Strings{"add default/a", "add default/b", "synced"}));
  EXPECT_TRUE(informer_.hasSynced());
  EXPECT_EQ(informer_.store().size(), 2U);
}

TEST_F(InformerTest, IsNotSyncedBeforeTheFirstList) { EXPECT_FALSE(informer_.hasSynced()); }

TEST_F(InformerTest, DeliversWatchedChanges) {
  api_.put(podsIn("default"), pod("a").ip("10.0.0.1").resourceVersion("1"));
  api_.put(podsIn("default"), pod("b").ip("10.0.0.2"));
  startAndSync();
  (void)takeSeen();

  api_.scriptWatch({modified(pod("a").ip("10.0.0.9").resourceVersion("10")),
                    deleted(pod("b").resourceVersion("11")),
                    added(pod("c").ip("10.0.0.3").resourceVersion("12"))});

  ASSERT_TRUE(api_.waitUntilIdle());
  EXPECT_EQ(takeSeen(),
            (Strings{"update default/a 10.0.0.1->10.0.0.9", "delete default/b", "add default/c"}));
  EXPECT_EQ(informer_.store().keys(), (Strings{"default/a", "default/c"}));
}

TEST_F(InformerTest, RelistAfterGoneDeliversWhatWasMissed) {
  api_.put(podsIn("default"), pod("a").ip("10.0.0.1"));
  api_.put(podsIn("default"), pod("b").ip("10.0.0.2"));
  api_.put(podsIn("default"), pod("c").ip("10.0.0.3"));
  startAndSync();
  (void)takeSeen();

  // While the watch was away: b deleted, a moved, d created, c untouched.
  api_.erase(podsIn("default").object("b"));
  api_.put(podsIn("default"), pod("a").ip("10.0.0.7"));
  api_.put(podsIn("default"), pod("d").ip("10.0.0.4"));
  api_.scriptWatch({}, Error{Error::Code::Gone, "too old resource version"});

  ASSERT_TRUE(api_.waitUntilIdle());
  EXPECT_EQ(takeSeen(),
            (Strings{"update default/a 10.0.0.1->10.0.0.7", "delete default/b", "add default/d"}));
  EXPECT_EQ(informer_.stats().relistsAfterGone, 1U);
}

TEST_F(InformerTest, StopEndsTheWatchAndJoins) {
  startAndSync();

  informer_.stop();

  EXPECT_EQ(api_.watchCalls().size(), 1U);
  informer_.stop();
}

TEST_F(InformerTest, CanRunOnTheCallersThread) {
  api_.put(podsIn("default"), pod("a"));
  std::stop_source stop;
  api_.stopWhenScriptEnds(stop);

  informer_.run(stop.get_token());

  EXPECT_EQ(takeSeen(), (Strings{"add default/a", "synced"}));
}

} // namespace
} // namespace libcluster
