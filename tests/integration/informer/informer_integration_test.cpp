// The informer over real HTTPS against the test API server, with the server's fault injection:
// dropped watches, expired history (410), 429 with Retry-After and 5xx storms.
#include "informer/informer.h"

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "kube/http_kube_api.h"
#include "kube/kube_config.h"
#include "support/eventually.h"
#include "support/test_api_server.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

const ResourcePath kPods{.resource = "pods", .namespaceName = "default"};
// Informers on all namespaces read /api/v1/pods, so a fault injected on that prefix hits the
// informer only, never the test's own writes to /api/v1/namespaces/default/pods/...
const ResourcePath kAllPods{.resource = "pods"};
const std::string kAllPodsPath = "/api/v1/pods";

nlohmann::json pod(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"labels", {{"app", "x"}}}}},
          {"spec", {{"containers", {{{"name", "app"}, {"image", "erlang"}}}}}}};
}

/// Names the handlers have seen, kept as the set a consumer would maintain from events alone.
class SeenByHandlers {
public:
  Informer<nlohmann::json>::Handlers handlers() {
    return {
        .onAdd = [this](const nlohmann::json& o) { add(objectKey(o)); },
        .onUpdate = [this](const nlohmann::json&, const nlohmann::json& o) { add(objectKey(o)); },
        .onDelete =
            [this](const nlohmann::json& o) {
              std::lock_guard lock(mutex_);
              keys_.erase(objectKey(o));
              ++deletes_;
            },
        .onSynced = [this] { synced_ = true; },
    };
  }
  /// The first list has been stored and its onAdds delivered.
  bool synced() const { return synced_.load(); }
  std::set<std::string> keys() const {
    std::lock_guard lock(mutex_);
    return keys_;
  }
  int deletes() const {
    std::lock_guard lock(mutex_);
    return deletes_;
  }

private:
  void add(const std::string& key) {
    std::lock_guard lock(mutex_);
    keys_.insert(key);
  }
  mutable std::mutex mutex_;
  std::set<std::string> keys_;
  int deletes_ = 0;
  std::atomic<bool> synced_{false};
};

class InformerIntegrationTest : public testing::Test {
protected:
  void SetUp() override {
    ASSERT_TRUE(server_.started()) << server_.error();
    Result<KubeConfig> config = loadKubeconfig(server_.kubeconfigPath());
    ASSERT_TRUE(config) << config.error().message;
    Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(*config);
    ASSERT_TRUE(api) << api.error().message;
    api_ = std::move(*api);
  }

  void createPods(int from, int to) {
    for (int i = from; i < to; ++i) {
      Result<nlohmann::json> created = api_->create(kPods, pod("pod-" + std::to_string(i)));
      ASSERT_TRUE(created) << created.error().message;
    }
  }

  void deletePod(const std::string& name) {
    Result<void> removed = api_->remove(kPods.object(name));
    ASSERT_TRUE(removed) << removed.error().message;
  }

  /// The names the server holds now, from a fresh LIST.
  std::set<std::string> serverKeys() {
    Result<nlohmann::json> list = api_->list(kPods, {});
    EXPECT_TRUE(list) << list.error().message;
    std::set<std::string> keys;
    if (list) {
      for (const nlohmann::json& item : (*list)["items"]) {
        keys.insert(objectKey(item));
      }
    }
    return keys;
  }

  /// Waits until the informer has synced and its watch is open on the server.
  void waitUntilWatching(const SeenByHandlers& seen, const Informer<nlohmann::json>& informer,
                         std::uint64_t watches = 1) {
    ASSERT_TRUE(eventually([&] {
      return seen.synced() && informer.stats().watchesStarted >= watches &&
             server_.stats().value("openWatches", 0) >= 1;
    }));
  }

  std::unique_ptr<Informer<nlohmann::json>> makeInformer(SeenByHandlers& seen,
                                                         const ResourcePath& collection = kPods) {
    Watcher::Options options;
    options.labelSelector = "app=x";
    options.backoff.initial = 100ms;
    options.backoff.max = 1s;
    auto informer =
        std::make_unique<Informer<nlohmann::json>>(*api_, clock_, collection, options, stripObject);
    informer->addHandlers(seen.handlers());
    return informer;
  }

  /// makeInformer(), started, and waited for until it watches (waitUntilWatching).
  std::unique_ptr<Informer<nlohmann::json>> startWatching(SeenByHandlers& seen,
                                                          const ResourcePath& collection = kPods) {
    auto informer = makeInformer(seen, collection);
    informer->start();
    waitUntilWatching(seen, *informer);
    return informer;
  }

  /// An outage the informer must ride out: its watches dropped, and the next `count` requests for
  /// pods of all namespaces answered with `code` (and Retry-After when retryAfterSeconds > 0).
  void outage(int count, int code, int retryAfterSeconds) {
    server_.failNext(count, code, retryAfterSeconds, kAllPodsPath);
    server_.dropWatches();
  }

  /// How many of the server's responses so far had status `code`.
  int responsesWithCode(int code) {
    int count = 0;
    for (const nlohmann::json& request : server_.requests()) {
      count += request["code"] == code ? 1 : 0;
    }
    return count;
  }

  TestApiServer server_{TestApiServer::Options{.history = 200, .bookmarkIntervalSeconds = 1}};
  std::unique_ptr<HttpKubeApi> api_;
  SystemClock clock_;
};

TEST_F(InformerIntegrationTest, SyncsAThousandPodsInPagesThenFollowsChanges) {
  createPods(0, 1000);
  SeenByHandlers seen;
  auto informer = makeInformer(seen);

  informer->start();

  waitUntilWatching(seen, *informer);
  EXPECT_EQ(informer->store().size(), 1000u);
  EXPECT_EQ(seen.keys().size(), 1000u);
  int listPages = 0;
  for (const nlohmann::json& request : server_.requests()) {
    const std::string query = request.value("query", "");
    if (request["method"] == "GET" && query.find("watch") == std::string::npos &&
        query.find("limit=500") != std::string::npos) {
      ++listPages;
    }
  }
  EXPECT_EQ(listPages, 2) << "1000 pods in pages of 500";

  createPods(1000, 1001);
  deletePod("pod-3");
  ASSERT_TRUE(eventually([&] { return seen.keys() == serverKeys(); }));
  EXPECT_TRUE(seen.keys().contains("default/pod-1000"));
  EXPECT_FALSE(seen.keys().contains("default/pod-3"));
}

TEST_F(InformerIntegrationTest, LosesNoEventWhenWatchesAreDropped) {
  createPods(0, 20);
  SeenByHandlers seen;
  auto informer = startWatching(seen);

  for (int round = 0; round < 5; ++round) {
    waitUntilWatching(seen, *informer, static_cast<std::uint64_t>(round) + 1);
    server_.dropWatches();
    createPods(100 + round * 10, 110 + round * 10);
    deletePod("pod-" + std::to_string(round));
  }

  ASSERT_TRUE(eventually([&] { return seen.keys() == serverKeys(); }))
      << "handlers saw " << seen.keys().size() << " objects";
  EXPECT_EQ(seen.deletes(), 5);
  EXPECT_EQ(informer->stats().relistsAfterGone, 0u) << "resumed from the last resourceVersion";
  EXPECT_GE(informer->stats().watchesStarted, 6u);
}

TEST_F(InformerIntegrationTest, ADroppedWatchIsReestablishedAtOnceNotAfterBackoff) {
  createPods(0, 3);
  SeenByHandlers seen;
  Watcher::Options options;
  options.labelSelector = "app=x";
  // Any backoff would outlast the test's deadline: only an immediate re-watch can pass.
  options.backoff.initial = 120s;
  options.backoff.max = 120s;
  Informer<nlohmann::json> informer(*api_, clock_, kPods, options, stripObject);
  informer.addHandlers(seen.handlers());
  informer.start();
  waitUntilWatching(seen, informer);

  for (int round = 0; round < 3; ++round) {
    // The stream delivers an event (so it is a healthy one), then breaks off.
    createPods(10 + round * 2, 11 + round * 2);
    ASSERT_TRUE(eventually([&] { return seen.keys() == serverKeys(); }));
    server_.dropWatches();
    createPods(11 + round * 2, 12 + round * 2);

    ASSERT_TRUE(eventually([&] { return seen.keys() == serverKeys(); }, 30s))
        << "round " << round << ": no re-watch within 30 s";
  }
  EXPECT_EQ(informer.stats().listsStarted, 1u);
  EXPECT_GE(informer.stats().watchesStarted, 4u);
  informer.stop();
}

TEST_F(InformerIntegrationTest, RelistsAfterHistoryExpiryAndSeesDeletionsMeanwhile) {
  createPods(0, 5);
  SeenByHandlers seen;
  auto informer = startWatching(seen, kAllPods);

  // Keep the watcher away while pods change, then expire the history it would resume from.
  outage(3, 503, 1);
  deletePod("pod-1");
  createPods(50, 52);
  server_.expireHistory();

  ASSERT_TRUE(eventually([&] { return seen.keys() == serverKeys(); }));
  EXPECT_FALSE(seen.keys().contains("default/pod-1"));
  EXPECT_EQ(seen.deletes(), 1) << "the deletion that happened while disconnected reached onDelete";
  EXPECT_GE(informer->stats().relistsAfterGone, 1u);
}

TEST_F(InformerIntegrationTest, HonoursRetryAfterOn429) {
  createPods(0, 3);
  server_.failNext(1, 429, 1, "/api/v1/namespaces/default/pods");
  SeenByHandlers seen;
  auto informer = makeInformer(seen);
  const auto started = std::chrono::steady_clock::now();

  informer->start();

  waitUntilWatching(seen, *informer);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms) << "waited for Retry-After: 1";
  EXPECT_EQ(seen.keys().size(), 3u);
  EXPECT_EQ(responsesWithCode(429), 1);
}

TEST_F(InformerIntegrationTest, SurvivesA500StormWithoutLosingOrInventingObjects) {
  createPods(0, 10);
  SeenByHandlers seen;
  auto informer = startWatching(seen, kAllPods);

  outage(6, 500, 0);
  // The client retries 5xx on its own, so count the failures the server sent.
  ASSERT_TRUE(eventually([&] { return responsesWithCode(500) >= 6; }));
  EXPECT_EQ(informer->store().size(), 10u) << "an API outage is not an empty cluster";
  deletePod("pod-9");

  ASSERT_TRUE(eventually([&] { return seen.keys() == serverKeys(); }));
  EXPECT_EQ(seen.deletes(), 1);
  EXPECT_GE(informer->stats().errors, 1u);
}

} // namespace
} // namespace libcluster
