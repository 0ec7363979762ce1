#include "kube/http_kube_api.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <type_traits>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "kube/kube_config.h"
#include "kube/temp_dir.h"
#include "support/test_api_server.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using testing::ElementsAre;
using testing::ElementsAreArray;
using testing::HasSubstr;
using Steady = std::chrono::steady_clock;

const ResourcePath kNamespaces{.resource = "namespaces"};
const std::string kDefaultNamespacePath = "/api/v1/namespaces/default";
const std::string kDefaultPodsPath = "/api/v1/namespaces/default/pods";

ResourcePath podsIn(const std::string& namespaceName) {
  return ResourcePath{.resource = "pods", .namespaceName = namespaceName};
}

nlohmann::json pod(const std::string& name,
                   const nlohmann::json& labels = nlohmann::json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"spec", {{"containers", {{{"name", "app"}, {"image", "busybox"}}}}}}};
}

std::string nameOf(const nlohmann::json& object) {
  return object.at("metadata").at("name").get<std::string>();
}

/// Every attempt the client reported through its request observer.
class ObservedRequests {
public:
  HttpKubeApi::RequestObserver observer() {
    return [this](std::string_view method, int code, std::chrono::nanoseconds) {
      std::lock_guard lock(mutex_);
      calls_.push_back(std::string(method) + " " + std::to_string(code));
    };
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

private:
  mutable std::mutex mutex_;
  std::vector<std::string> calls_;
};

/// A watch whose handler takes every event and never ends it: how the watch itself ended.
Result<void> watchToTheEnd(KubeApi& api, const ResourcePath& collection,
                           const WatchOptions& options, std::stop_token stop = {}) {
  return api.watch(
      collection, options, [](const RawWatchEvent&) { return true; }, stop);
}

double secondsSince(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

/// What a call returned, and how long it took (seconds).
template <typename T>
struct Timed {
  T result;
  double seconds;
};
template <typename Call>
Timed<std::invoke_result_t<Call>> timed(Call call) {
  const auto start = Steady::now();
  std::invoke_result_t<Call> result = call();
  return {std::move(result), secondsSince(start)};
}

class HttpKubeApiTest : public testing::Test {
protected:
  void SetUp() override {
    ASSERT_TRUE(server_.started()) << server_.error();
    api_ = connect(server_.kubeconfigPath());
    ASSERT_TRUE(api_);
  }

  std::unique_ptr<HttpKubeApi> connect(const std::string& kubeconfigPath,
                                       HttpKubeApi::Options options = {}) {
    Result<KubeConfig> config = loadKubeconfig(kubeconfigPath);
    if (!config) {
      ADD_FAILURE() << config.error().message;
      return nullptr;
    }
    return connect(std::move(config).value(), std::move(options));
  }

  std::unique_ptr<HttpKubeApi> connect(KubeConfig config, HttpKubeApi::Options options = {}) {
    Result<std::unique_ptr<HttpKubeApi>> api =
        HttpKubeApi::create(std::move(config), std::move(options));
    if (!api) {
      ADD_FAILURE() << api.error().message;
      return nullptr;
    }
    return std::move(api).value();
  }

  KubeConfig tokenConfig() {
    Result<KubeConfig> config = loadKubeconfig(server_.kubeconfigPath());
    EXPECT_TRUE(config);
    return config ? std::move(config).value() : KubeConfig{};
  }

  static void createNamespace(HttpKubeApi& api, const std::string& name) {
    const Result<nlohmann::json> created = api.create(
        kNamespaces, {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}});
    ASSERT_TRUE(created) << created.error().message;
  }

  /// Creates namespace `namespaceName` and pod "p" in it; returns the pod, null on failure.
  static nlohmann::json createPodP(HttpKubeApi& api, const std::string& namespaceName) {
    createNamespace(api, namespaceName);
    const Result<nlohmann::json> created = api.create(podsIn(namespaceName), pod("p"));
    EXPECT_TRUE(created) << created.error().message;
    return created ? *created : nlohmann::json();
  }

  /// One call, timed, through a new client of `config` with `options` and an observer of its
  /// attempts.
  struct Attempt {
    Result<nlohmann::json> result;
    double seconds = 0;                // how long the call took
    std::vector<std::string> observed; // the client's attempts, "METHOD code"
  };
  template <typename Call>
  Attempt attempt(KubeConfig config, HttpKubeApi::Options options, Call call) {
    ObservedRequests observed;
    options.observer = observed.observer();
    auto api = connect(std::move(config), std::move(options));
    if (!api) {
      return {Error{Error::Code::Internal, "no client"}, 0, {}};
    }
    Timed<Result<nlohmann::json>> done = timed([&] { return call(*api); });
    return {std::move(done.result), done.seconds, observed.calls()};
  }
  /// A GET of namespace default (see attempt).
  Attempt getDefaultNamespace(KubeConfig config, HttpKubeApi::Options options = {}) {
    return attempt(std::move(config), std::move(options),
                   [](HttpKubeApi& api) { return api.get(kNamespaces.object("default")); });
  }

  /// The server told to answer the next `failures` requests under `path` with `code` (and
  /// Retry-After when retryAfterSeconds > 0), its request log cleared.
  void failNext(const std::string& path, int failures, int code, int retryAfterSeconds) {
    server_.failNext(failures, code, retryAfterSeconds, path);
    server_.clearRequests();
  }
  /// A GET of namespace default with the token kubeconfig after failNext.
  Attempt getAfterFailures(int failures, int code, int retryAfterSeconds) {
    failNext(kDefaultNamespacePath, failures, code, retryAfterSeconds);
    return getDefaultNamespace(tokenConfig());
  }
  /// The creation of pod `name` in namespace default with the token kubeconfig after failNext.
  Attempt createAfterFailures(const std::string& name, int failures, int code,
                              int retryAfterSeconds) {
    failNext(kDefaultPodsPath, failures, code, retryAfterSeconds);
    return attempt(tokenConfig(), {},
                   [&](HttpKubeApi& api) { return api.create(podsIn("default"), pod(name)); });
  }

  /// How a watch of default's pods, run on a thread of its own, ends when `end` is called once
  /// the server has it open (waited for up to 5 s); `seconds` is from `end` to its return.
  Timed<Result<void>> watchEndedBy(const std::function<void()>& end, const WatchOptions& options,
                                   std::stop_token stop = {}) {
    std::optional<Result<void>> result;
    Steady::time_point returned;
    std::thread watcher([&] {
      result = watchToTheEnd(*api_, podsIn("default"), options, stop);
      returned = Steady::now();
    });
    const auto deadline = Steady::now() + 5s;
    while (server_.stats().value("openWatches", 0) == 0 && Steady::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    const auto endedAt = Steady::now();
    end();
    watcher.join();
    return {result.value_or(Error{Error::Code::Internal, "the watch gave no result"}),
            std::chrono::duration<double>(returned - endedAt).count()};
  }

  /// "METHOD code" of the requests the server logged whose path starts with `prefix`. The server
  /// logs a request just after answering it (a watch only when the stream ends), so this waits
  /// up to 3 s for at least `atLeast` entries, then a little longer for any late extra one.
  std::vector<std::string> serverSaw(const std::string& prefix, size_t atLeast) {
    const auto deadline = Steady::now() + 3s;
    bool settled = false;
    while (true) {
      std::vector<std::string> seen;
      for (const nlohmann::json& request : server_.requests()) {
        const std::string path = request.value("path", "");
        if (path.rfind(prefix, 0) == 0) {
          seen.push_back(request.value("method", "") + " " +
                         std::to_string(request.value("code", 0)));
        }
      }
      if ((seen.size() >= atLeast && settled) || Steady::now() > deadline) {
        return seen;
      }
      if (seen.size() >= atLeast) {
        settled = true;
        std::this_thread::sleep_for(200ms);
      } else {
        std::this_thread::sleep_for(20ms);
      }
    }
  }

  TestApiServer server_{TestApiServer::Options{.bookmarkIntervalSeconds = 1}};
  std::unique_ptr<HttpKubeApi> api_; // the token kubeconfig's client, made by SetUp
};

TEST_F(HttpKubeApiTest, CreatesGetsReplacesAndDeletesAPod) {
  createNamespace(*api_, "crud");
  const ResourcePath pods = podsIn("crud");

  const Result<nlohmann::json> created = api_->create(pods, pod("web-0", {{"app", "web"}}));
  ASSERT_TRUE(created) << created.error().message;
  Result<nlohmann::json> fetched = api_->get(pods.object("web-0"));
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(fetched->at("metadata").at("labels").at("app"), "web");
  nlohmann::json changed = *fetched;
  changed["metadata"]["labels"]["tier"] = "front";
  const Result<nlohmann::json> replaced = api_->replace(pods.object("web-0"), changed);
  ASSERT_TRUE(replaced) << replaced.error().message;
  EXPECT_EQ(replaced->at("metadata").at("labels").at("tier"), "front");
  EXPECT_NE(replaced->at("metadata").at("resourceVersion"),
            fetched->at("metadata").at("resourceVersion"));
  const Result<void> removed = api_->remove(pods.object("web-0"));
  ASSERT_TRUE(removed) << removed.error().message;

  const Result<nlohmann::json> afterDelete = api_->get(pods.object("web-0"));
  ASSERT_FALSE(afterDelete);
  EXPECT_EQ(afterDelete.error().code, Error::Code::NotFound);
  EXPECT_THAT(afterDelete.error().message, HasSubstr("web-0"));
}

TEST_F(HttpKubeApiTest, ListAndWatchLeaveManagedFieldsOutWhenAsked) {
  createNamespace(*api_, "managed");
  const ResourcePath pods = podsIn("managed");
  nlohmann::json annotated = pod("web-0", {{"app", "web"}});
  annotated["metadata"]["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", "{}"}, {"team", "a"}};
  ASSERT_TRUE(api_->create(pods, annotated));

  const Result<nlohmann::json> full = api_->list(pods, {});
  const Result<nlohmann::json> lean = api_->list(pods, {.omitManagedFields = true});

  ASSERT_TRUE(full) << full.error().message;
  ASSERT_TRUE(lean) << lean.error().message;
  nlohmann::json expected = full->at("items").at(0);
  ASSERT_TRUE(expected["metadata"].contains("managedFields")); // the server sets them
  expected["metadata"].erase("managedFields");
  expected["metadata"]["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
  EXPECT_EQ(lean->at("items").at(0), expected);
  EXPECT_EQ(lean->at("items").at(0)["metadata"]["annotations"], nlohmann::json({{"team", "a"}}));
  const Result<nlohmann::json> named =
      api_->list(pods, {.omitManagedFields = true, .onlyFields = {"metadata.name"}});
  ASSERT_TRUE(named) << named.error().message;
  EXPECT_EQ(named->at("items").at(0).at("metadata"), nlohmann::json({{"name", "web-0"}}));
  EXPECT_FALSE(named->at("items").at(0).contains("spec"));

  std::optional<nlohmann::json> watched;
  std::jthread watcher([&](std::stop_token stop) {
    (void)api_->watch(
        pods,
        {.resourceVersion = lean->at("metadata").at("resourceVersion"),
         .timeout = 20s,
         .omitManagedFields = true},
        [&](const RawWatchEvent& event) {
          if (event.type != "MODIFIED") {
            return true;
          }
          watched = event.object;
          return false;
        },
        stop);
  });
  ASSERT_TRUE(api_->mergePatch(pods.object("web-0"), {{"metadata", {{"labels", {{"x", "1"}}}}}}));
  watcher.join();

  ASSERT_TRUE(watched.has_value());
  EXPECT_EQ(watched->at("metadata").at("labels").at("x"), "1");
  EXPECT_FALSE(watched->at("metadata").contains("managedFields"));
  EXPECT_EQ(watched->at("metadata").at("annotations"), nlohmann::json({{"team", "a"}}));
}

TEST_F(HttpKubeApiTest, CreatesListsAndDeletesNamespaces) {

  createNamespace(*api_, "team-a");
  const Result<nlohmann::json> listed = api_->list(kNamespaces, {});
  const Result<void> removed = api_->remove(kNamespaces.object("team-a"));
  const Result<void> removedAgain = api_->remove(kNamespaces.object("team-a"));

  ASSERT_TRUE(listed) << listed.error().message;
  std::set<std::string> names;
  for (const nlohmann::json& item : listed->at("items")) {
    names.insert(nameOf(item));
  }
  EXPECT_TRUE(names.count("team-a") == 1 && names.count("default") == 1);
  EXPECT_TRUE(removed) << removed.error().message;
  ASSERT_FALSE(removedAgain);
  EXPECT_EQ(removedAgain.error().code, Error::Code::NotFound);
}

TEST_F(HttpKubeApiTest, CreatingAnExistingObjectConflicts) {
  createNamespace(*api_, "dup");

  ASSERT_TRUE(api_->create(podsIn("dup"), pod("p")));
  const Result<nlohmann::json> again = api_->create(podsIn("dup"), pod("p"));

  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Error::Code::Conflict);
}

TEST_F(HttpKubeApiTest, ListsAThousandPodsInTwoPagesCreatedFromEightThreads) {
  createNamespace(*api_, "paged");
  const ResourcePath pods = podsIn("paged");
  std::atomic<int> failures{0};
  {
    std::vector<std::jthread> writers;
    for (int thread = 0; thread < 8; ++thread) {
      writers.emplace_back([&, thread] {
        for (int i = thread; i < 1000; i += 8) {
          if (!api_->create(pods, pod("pod-" + std::to_string(i), {{"app", "paged"}}))) {
            ++failures;
          }
        }
      });
    }
  }
  ASSERT_EQ(failures.load(), 0);
  server_.clearRequests();

  const Result<nlohmann::json> first =
      api_->list(pods, {.labelSelector = "app=paged", .limit = 500});
  ASSERT_TRUE(first) << first.error().message;
  const std::string continueToken = first->at("metadata").value("continue", "");
  ASSERT_FALSE(continueToken.empty());
  const Result<nlohmann::json> second = api_->list(
      pods, {.labelSelector = "app=paged", .limit = 500, .continueToken = continueToken});
  ASSERT_TRUE(second) << second.error().message;

  EXPECT_EQ(first->at("items").size(), 500U);
  EXPECT_EQ(second->at("items").size(), 500U);
  EXPECT_EQ(second->at("metadata").value("continue", ""), "");
  std::set<std::string> names;
  for (const auto* page : {&*first, &*second}) {
    for (const nlohmann::json& item : page->at("items")) {
      names.insert(nameOf(item));
    }
  }
  EXPECT_EQ(names.size(), 1000U);
  // Only the LISTs: the server may still be logging the last creates.
  std::vector<std::string> listQueries;
  for (const nlohmann::json& request : server_.requests()) {
    if (request.value("method", "") == "GET") {
      listQueries.push_back(request.value("query", ""));
    }
  }
  ASSERT_EQ(listQueries.size(), 2U);
  EXPECT_EQ(listQueries[0], "labelSelector=app%3Dpaged&limit=500");
  EXPECT_THAT(listQueries[1], HasSubstr("&continue="));
}

TEST_F(HttpKubeApiTest, FiltersWithUrlEncodedSetSelectors) {
  createNamespace(*api_, "sel");
  ASSERT_TRUE(api_->create(podsIn("sel"), pod("a", {{"tier", "front"}})));
  ASSERT_TRUE(api_->create(podsIn("sel"), pod("b", {{"tier", "back"}})));
  ASSERT_TRUE(api_->create(podsIn("sel"), pod("c", {{"tier", "db"}})));

  const Result<nlohmann::json> listed =
      api_->list(podsIn("sel"), {.labelSelector = "tier in (front,back),tier!=back"});

  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->at("items").size(), 1U);
  EXPECT_EQ(nameOf(listed->at("items")[0]), "a");
}

TEST_F(HttpKubeApiTest, WatchSeesAddedModifiedAndDeletedInOrder) {
  createNamespace(*api_, "watched");
  const ResourcePath pods = podsIn("watched");
  const Result<nlohmann::json> listed = api_->list(pods, {});
  ASSERT_TRUE(listed);
  const std::string resourceVersion = listed->at("metadata").at("resourceVersion");
  std::mutex mutex;
  std::vector<std::string> seen;
  std::optional<Result<void>> watchResult;

  std::jthread watcher([&](std::stop_token stop) {
    Result<void> result = api_->watch(
        pods, {.resourceVersion = resourceVersion, .timeout = 20s},
        [&](const RawWatchEvent& event) {
          if (event.type == "BOOKMARK") {
            return true;
          }
          std::lock_guard lock(mutex);
          seen.push_back(event.type + " " + nameOf(event.object));
          return event.type != "DELETED";
        },
        stop);
    std::lock_guard lock(mutex);
    watchResult = std::move(result);
  });
  ASSERT_TRUE(api_->create(pods, pod("w")));
  ASSERT_TRUE(api_->mergePatch(pods.object("w"), {{"metadata", {{"labels", {{"x", "1"}}}}}}));
  ASSERT_TRUE(api_->remove(pods.object("w")));
  watcher.join();

  EXPECT_THAT(seen, ElementsAre("ADDED w", "MODIFIED w", "DELETED w"));
  ASSERT_TRUE(watchResult.has_value());
  ASSERT_FALSE(*watchResult);
  EXPECT_EQ(watchResult->error().code, Error::Code::Cancelled);
}

TEST_F(HttpKubeApiTest, WatchDeliversBookmarksWithAResourceVersion) {
  std::string bookmarkVersion;

  const Result<void> result =
      api_->watch(podsIn("default"), {.resourceVersion = "", .timeout = 10s},
                  [&](const RawWatchEvent& event) {
                    if (event.type != "BOOKMARK") {
                      return true;
                    }
                    bookmarkVersion = event.object.at("metadata").at("resourceVersion");
                    return false;
                  },
                  {});

  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Error::Code::Cancelled);
  EXPECT_FALSE(bookmarkVersion.empty());
}

TEST_F(HttpKubeApiTest, WatchEndsNormallyWhenTheServerTimesItOut) {
  const auto ended = timed([&] {
    return watchToTheEnd(*api_, podsIn("default"), {.timeout = 1s, .allowBookmarks = false});
  });

  EXPECT_TRUE(ended.result) << ended.result.error().message;
  EXPECT_LT(ended.seconds, 5.0);
}

TEST_F(HttpKubeApiTest, QuietWatchOutlivesTheRequestTimeout) {
  createNamespace(*api_, "quiet");
  HttpKubeApi::Options options;
  options.requestTimeout = 3s;
  auto api = connect(server_.kubeconfigPath(), options);
  ASSERT_TRUE(api);

  const auto ended = timed([&] {
    return watchToTheEnd(*api, podsIn("quiet"), {.timeout = 6s, .allowBookmarks = false});
  });

  EXPECT_TRUE(ended.result) << ended.result.error().message;
  EXPECT_GE(ended.seconds, 5.9);
}

TEST_F(HttpKubeApiTest, WatchFromAnExpiredResourceVersionIsGone) {
  const Result<nlohmann::json> listed = api_->list(podsIn("default"), {});
  ASSERT_TRUE(listed);
  ASSERT_TRUE(api_->create(podsIn("default"), pod("bump")));
  server_.expireHistory();

  // Also when only some fields of each object are asked for: the ERROR event's Status is read
  // whole, not as a pod.
  for (const std::vector<std::string>& onlyFields :
       {std::vector<std::string>{}, std::vector<std::string>{"metadata.name"}}) {
    const Result<void> result =
        watchToTheEnd(*api_, podsIn("default"),
                      {.resourceVersion = listed->at("metadata").at("resourceVersion"),
                       .timeout = 10s,
                       .omitManagedFields = !onlyFields.empty(),
                       .onlyFields = onlyFields});

    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, Error::Code::Gone) << result.error().message;
    EXPECT_THAT(result.error().message, HasSubstr("too old resource version"));
  }
}

TEST_F(HttpKubeApiTest, StopCancelsABlockedWatchWithinOneSecond) {
  std::stop_source stop;

  // The default namespace holds no pods, so the watch is quiet.
  const auto ended = watchEndedBy([&] { stop.request_stop(); }, {.timeout = 60s}, stop.get_token());

  ASSERT_FALSE(ended.result);
  EXPECT_EQ(ended.result.error().code, Error::Code::Cancelled);
  EXPECT_LT(ended.seconds, 1.0);
}

TEST_F(HttpKubeApiTest, DroppedWatchEndsAsUnavailable) {
  const auto ended =
      watchEndedBy([&] { server_.dropWatches(); }, {.timeout = 30s, .allowBookmarks = false});

  ASSERT_FALSE(ended.result);
  EXPECT_EQ(ended.result.error().code, Error::Code::Unavailable);
  EXPECT_LT(ended.seconds, 2.0);
}

TEST_F(HttpKubeApiTest, ReplaceWithAStaleResourceVersionConflicts) {
  createNamespace(*api_, "occ");
  const Result<nlohmann::json> created = api_->create(podsIn("occ"), pod("p"));
  ASSERT_TRUE(created);
  nlohmann::json first = *created;
  first["metadata"]["labels"]["v"] = "1";
  ASSERT_TRUE(api_->replace(podsIn("occ").object("p"), first));
  nlohmann::json stale = *created;
  stale["metadata"]["labels"]["v"] = "2";

  const Result<nlohmann::json> replaced = api_->replace(podsIn("occ").object("p"), stale);

  ASSERT_FALSE(replaced);
  EXPECT_EQ(replaced.error().code, Error::Code::Conflict);
}

// A delete on a stale view (the object rewritten, or recreated under another uid, since it was
// read) is a Conflict and leaves the object; with the current uid and resourceVersion it deletes.
TEST_F(HttpKubeApiTest, DeletePreconditionsFenceTheDeleteOnUidAndResourceVersion) {
  const nlohmann::json created = createPodP(*api_, "fenced");
  ASSERT_FALSE(created.is_null());
  const ResourcePath pods = podsIn("fenced");
  nlohmann::json rewritten = created;
  rewritten["metadata"]["labels"]["v"] = "2";
  const Result<nlohmann::json> current = api_->replace(pods.object("p"), rewritten);
  ASSERT_TRUE(current) << current.error().message;
  const std::string uid = created.at("metadata").at("uid");
  const std::string staleVersion = created.at("metadata").at("resourceVersion");
  const std::string currentVersion = current->at("metadata").at("resourceVersion");

  const Result<void> stale =
      api_->remove(pods.object("p"), {.preconditions = {.resourceVersion = staleVersion}});
  const Result<void> otherUid =
      api_->remove(pods.object("p"), {.preconditions = {.uid = "x" + uid}});

  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Error::Code::Conflict);
  EXPECT_THAT(stale.error().message, HasSubstr("Precondition failed"));
  ASSERT_FALSE(otherUid);
  EXPECT_EQ(otherUid.error().code, Error::Code::Conflict);
  const Result<nlohmann::json> survivor = api_->get(pods.object("p"));
  ASSERT_TRUE(survivor) << "a delete on a stale view removed the object";
  EXPECT_EQ(survivor->at("metadata").at("labels").at("v"), "2");

  const Result<void> removed = api_->remove(
      pods.object("p"), {.preconditions = {.uid = uid, .resourceVersion = currentVersion},
                         .propagationPolicy = "Background"});

  ASSERT_TRUE(removed) << removed.error().message;
  const Result<nlohmann::json> gone = api_->get(pods.object("p"));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Error::Code::NotFound);
}

// CallOptions end to end (issue 10 item 2, issue 11 item 5): a call ends at its deadline or on
// stop, far below the client's 30 s request timeout, even while the server holds the request.
TEST_F(HttpKubeApiTest, ACallEndsAtItsDeadlineWhileTheServerHoldsIt) {
  server_.holdNext(1, 5.0, "GET", "/api/v1/namespaces/default/pods/held");

  const auto got = timed([&] {
    return api_->get(podsIn("default").object("held"), {.deadline = Steady::now() + 300ms});
  });

  ASSERT_FALSE(got.result);
  EXPECT_EQ(got.result.error().code, Error::Code::Timeout) << got.result.error().message;
  EXPECT_GT(got.seconds, 0.25);
  EXPECT_LT(got.seconds, 2.0);
}

TEST_F(HttpKubeApiTest, StopCancelsAWriteTheServerHolds) {
  server_.holdNext(1, 5.0, "DELETE", "/api/v1/namespaces/default/pods/held");
  std::stop_source stop;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(300ms);
    stop.request_stop();
  });

  const auto removed = timed([&] {
    return api_->remove(podsIn("default").object("held"), {}, {.stop = stop.get_token()});
  });

  ASSERT_FALSE(removed.result);
  EXPECT_EQ(removed.result.error().code, Error::Code::Cancelled) << removed.result.error().message;
  EXPECT_LT(removed.seconds, 2.0);
}

TEST_F(HttpKubeApiTest, NoRetryWaitsPastTheCallsDeadline) {
  server_.clearRequests();
  server_.failNext(3, 503, 2, "/api/v1/namespaces/default/pods");

  const auto got = timed(
      [&] { return api_->get(podsIn("default").object("p"), {.deadline = Steady::now() + 1s}); });

  ASSERT_FALSE(got.result);
  EXPECT_EQ(got.result.error().code, Error::Code::Unavailable);
  EXPECT_THAT(got.result.error().message, HasSubstr("would pass the call's deadline"));
  EXPECT_LT(got.seconds, 1.0);
  EXPECT_THAT(serverSaw("/api/v1/namespaces/default/pods", 1), ElementsAre("GET 503"));
}

TEST_F(HttpKubeApiTest, AnUnknownPropagationPolicyIsRejectedBeforeSending) {
  server_.clearRequests();

  const Result<void> removed =
      api_->remove(podsIn("default").object("p"), {.propagationPolicy = "Cascade"});

  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, Error::Code::Invalid);
  EXPECT_THAT(removed.error().message, HasSubstr("Cascade"));
  EXPECT_TRUE(server_.requests().empty()) << server_.requests().dump();
}

TEST_F(HttpKubeApiTest, MergePatchesAndAppliesTheStatusSubresource) {
  createNamespace(*api_, "st");
  ASSERT_TRUE(api_->create(podsIn("st"), pod("p")));
  ResourcePath status = podsIn("st").object("p");
  status.subresource = "status";
  server_.clearRequests();

  const Result<nlohmann::json> patched =
      api_->mergePatch(status, {{"status", {{"phase", "Running"}, {"podIP", "10.0.0.7"}}}});
  const Result<nlohmann::json> applied =
      api_->apply(status,
                  {{"apiVersion", "v1"},
                   {"kind", "Pod"},
                   {"metadata", {{"name", "p"}, {"namespace", "st"}}},
                   {"status", {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}},
                  {.fieldManager = "libcluster-test", .force = true});
  const Result<nlohmann::json> fetched = api_->get(podsIn("st").object("p"));

  ASSERT_TRUE(patched) << patched.error().message;
  ASSERT_TRUE(applied) << applied.error().message;
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(fetched->at("status").at("phase"), "Running");
  EXPECT_EQ(fetched->at("status").at("conditions")[0].at("type"), "Ready");
  std::vector<nlohmann::json> requests;
  for (const nlohmann::json& request : server_.requests()) {
    if (request.value("method", "") == "PATCH") {
      requests.push_back(request);
    }
  }
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[0]["contentType"], "application/merge-patch+json");
  EXPECT_EQ(requests[1]["contentType"], "application/apply-patch+yaml");
  EXPECT_EQ(requests[1]["query"], "fieldManager=libcluster-test&force=true");
  EXPECT_EQ(requests[1]["userAgent"], "libcluster/0.1");
  EXPECT_EQ(requests[1]["accept"], "application/json");
}

TEST_F(HttpKubeApiTest, ApplyWithoutFieldManagerIsRejectedBeforeSending) {

  const Result<nlohmann::json> applied = api_->apply(podsIn("default").object("p"), pod("p"), {});

  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code, Error::Code::Invalid);
}

TEST_F(HttpKubeApiTest, RetriesTooManyRequestsAfterRetryAfter) {
  const Attempt fetched = getAfterFailures(1, 429, 1);

  ASSERT_TRUE(fetched.result) << fetched.result.error().message;
  // Retry-After is 1 s; the rest is two round trips, slow under sanitizers.
  EXPECT_GE(fetched.seconds, 0.95);
  EXPECT_LT(fetched.seconds, 5.0);
  EXPECT_THAT(serverSaw(kDefaultNamespacePath, 2), ElementsAre("GET 429", "GET 200"));
  EXPECT_THAT(fetched.observed, ElementsAre("GET 429", "GET 200"));
}

TEST_F(HttpKubeApiTest, GivesUpOnAServerErrorStormWithUnavailable) {
  const Attempt fetched = getAfterFailures(100, 500, 0);

  ASSERT_FALSE(fetched.result);
  EXPECT_EQ(fetched.result.error().code, Error::Code::Unavailable);
  EXPECT_TRUE(fetched.result.error().retryAfter.has_value());
  EXPECT_THAT(fetched.result.error().message, HasSubstr("injected failure"));
  EXPECT_EQ(serverSaw(kDefaultNamespacePath, 5).size(), 5U);
  EXPECT_EQ(fetched.observed.size(), 5U);
  // Five attempts and four backoffs (0.25 + 0.5 + 1 + 2 s); generous for sanitizer builds.
  EXPECT_LT(fetched.seconds, 25.0);
}

// A write is sent again after 429, and after a 5xx only when the server said when (Retry-After):
// without it, the write may have landed.
TEST_F(HttpKubeApiTest, ResendsAWriteOnlyWhenTheServerSaysRetryAfter) {
  const struct {
    std::string pod;
    int code;
    int retryAfterSeconds;
    std::optional<Error::Code> error; // none: created
    std::vector<std::string> saw;
  } cases[] = {
      {"after-429", 429, 1, std::nullopt, {"POST 429", "POST 201"}},
      {"once", 500, 0, Error::Code::Unavailable, {"POST 500"}},
      {"later", 503, 1, std::nullopt, {"POST 503", "POST 201"}},
  };
  for (const auto& write : cases) {
    SCOPED_TRACE(write.pod);

    const Attempt created = createAfterFailures(write.pod, 1, write.code, write.retryAfterSeconds);

    if (write.error) {
      ASSERT_FALSE(created.result);
      EXPECT_EQ(created.result.error().code, *write.error);
    } else {
      ASSERT_TRUE(created.result) << created.result.error().message;
    }
    EXPECT_THAT(serverSaw(kDefaultPodsPath, write.saw.size()), ElementsAreArray(write.saw));
  }
}

TEST_F(HttpKubeApiTest, ReturnsRetryAfterAtOnceWhenItExceedsTheBudget) {
  const Attempt fetched = getAfterFailures(1, 429, 60);

  ASSERT_FALSE(fetched.result);
  EXPECT_EQ(fetched.result.error().code, Error::Code::TooManyRequests);
  EXPECT_EQ(fetched.result.error().retryAfter, std::chrono::milliseconds(60'000));
  EXPECT_LT(fetched.seconds, 10.0);
}

TEST_F(HttpKubeApiTest, RetriesAWatchStartAfterAServerError) {
  server_.failNext(1, 503, 0, "/api/v1/namespaces/default/pods");

  const Result<void> result =
      watchToTheEnd(*api_, podsIn("default"), {.timeout = 1s, .allowBookmarks = false});

  EXPECT_TRUE(result) << result.error().message;
  EXPECT_THAT(serverSaw("/api/v1/namespaces/default/pods", 2), ElementsAre("GET 503", "GET 200"));
}

TEST_F(HttpKubeApiTest, AWrongTokenIsUnauthorized) {
  KubeConfig config = tokenConfig();
  config.token = "not-the-token";

  const Attempt fetched = getDefaultNamespace(config);

  ASSERT_FALSE(fetched.result);
  EXPECT_EQ(fetched.result.error().code, Error::Code::Unauthorized);
  EXPECT_THAT(serverSaw("/api/v1/namespaces/default", 1), ElementsAre("GET 401"));
}

TEST_F(HttpKubeApiTest, AuthenticatesWithAClientCertificate) {
  auto api = connect(server_.kubeconfigCertPath());
  ASSERT_TRUE(api);

  const Result<nlohmann::json> fetched = api->get(kNamespaces.object("default"));

  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(nameOf(*fetched), "default");
}

TEST_F(HttpKubeApiTest, RefusesAServerSignedByAnotherCaQuickly) {
  TempDir dir;
  const std::string base = (dir.path() / "other").string();
  ASSERT_EQ(std::system(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                         "-nodes -days 1 -subj /CN=other-ca -keyout " +
                         base + ".key -out " + base + ".crt >/dev/null 2>&1")
                            .c_str()),
            0);
  KubeConfig config = tokenConfig();
  std::ifstream in(base + ".crt");
  config.caPem.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());

  const Attempt fetched = getDefaultNamespace(config);

  ASSERT_FALSE(fetched.result);
  EXPECT_EQ(fetched.result.error().code, Error::Code::Unavailable);
  EXPECT_THAT(fetched.result.error().message, HasSubstr("certificate verify failed"));
  EXPECT_LT(fetched.seconds, 5.0);
}

std::string readWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Replaces `path` as the kubelet updates a mounted Secret or ConfigMap: a new file renamed over.
void replaceFile(const std::string& path, const std::string& content) {
  const std::string next = path + ".next";
  std::ofstream(next, std::ios::binary | std::ios::trunc) << content;
  std::filesystem::rename(next, path);
}

// Issue 9 L3: the CA was read once, so a rotated CA needed a restart.
TEST_F(HttpKubeApiTest, PicksUpARotatedCaFileWithoutARestart) {
  TempDir dir;
  const std::string base = (dir.path() / "old").string();
  ASSERT_EQ(std::system(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                         "-nodes -days 1 -subj /CN=old-ca -keyout " +
                         base + ".key -out " + base + ".crt >/dev/null 2>&1")
                            .c_str()),
            0);
  // A kubeconfig naming a CA file, as an in-cluster ca.crt or a mounted bundle would be.
  const std::string caFile = dir.write("mounted/ca.crt", readWhole(base + ".crt"));
  const std::string kubeconfig =
      dir.write("kubeconfig", "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                              "clusters:\n- name: s\n  cluster:\n    server: " +
                                  server_.url() + "\n    certificate-authority: " + caFile +
                                  "\ncontexts:\n- name: c\n  context: {cluster: s, user: u}\n"
                                  "users:\n- name: u\n  user:\n    token: " +
                                  server_.token() + "\n");
  Result<KubeConfig> config = loadKubeconfig(kubeconfig);
  ASSERT_TRUE(config) << config.error().message;
  auto api = connect(*config);
  ASSERT_TRUE(api);
  const Result<nlohmann::json> beforeRotation = api->get(kNamespaces.object("default"));
  ASSERT_FALSE(beforeRotation);
  ASSERT_THAT(beforeRotation.error().message, HasSubstr("certificate verify failed"));

  replaceFile(caFile, readWhole(server_.caPath()));
  const Result<nlohmann::json> afterRotation = api->get(kNamespaces.object("default"));

  ASSERT_TRUE(afterRotation) << afterRotation.error().message;
  EXPECT_EQ(nameOf(*afterRotation), "default");
}

TEST_F(HttpKubeApiTest, AnUnusableCaFileKeepsTheLastGoodBundle) {
  TempDir dir;
  KubeConfig config = tokenConfig();
  config.caPem = readWhole(server_.caPath());
  config.caFile = dir.write("mounted/ca.crt", "");

  auto api = connect(config);
  ASSERT_TRUE(api);
  const Result<nlohmann::json> empty = api->get(kNamespaces.object("default"));
  replaceFile(config.caFile, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  // The watch client opens its own connection, which re-reads the (now corrupt) file.
  const Result<void> corrupt =
      watchToTheEnd(*api, podsIn("default"), {.timeout = 1s, .allowBookmarks = false});

  EXPECT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(corrupt) << corrupt.error().message;
}

TEST_F(HttpKubeApiTest, VerifiesTheTlsServerNameOverride) {
  KubeConfig good = tokenConfig();
  good.tlsServerName = "localhost";
  KubeConfig bad = tokenConfig();
  bad.tlsServerName = "wrong.example";
  auto goodApi = connect(good);
  auto badApi = connect(bad);
  ASSERT_TRUE(goodApi && badApi);

  const Result<nlohmann::json> viaLocalhost = goodApi->get(kNamespaces.object("default"));
  const Result<nlohmann::json> viaWrongName = badApi->get(kNamespaces.object("default"));

  EXPECT_TRUE(viaLocalhost) << viaLocalhost.error().message;
  ASSERT_FALSE(viaWrongName);
  EXPECT_EQ(viaWrongName.error().code, Error::Code::Unavailable);
  EXPECT_THAT(viaWrongName.error().message, HasSubstr("hostname mismatch"));
}

TEST_F(HttpKubeApiTest, SkipsVerificationOnlyWhenInsecure) {
  KubeConfig config = tokenConfig();
  config.caPem.clear();
  KubeConfig insecure = config;
  insecure.insecureSkipTlsVerify = true;
  auto systemTrust = connect(config);
  auto insecureApi = connect(insecure);
  ASSERT_TRUE(systemTrust && insecureApi);

  const Result<nlohmann::json> verified = systemTrust->get(kNamespaces.object("default"));
  const Result<nlohmann::json> unverified = insecureApi->get(kNamespaces.object("default"));

  ASSERT_FALSE(verified);
  EXPECT_THAT(verified.error().message, HasSubstr("certificate verify failed"));
  EXPECT_TRUE(unverified) << unverified.error().message;
}

TEST_F(HttpKubeApiTest, FollowsARotatedTokenFileAfterA401) {
  TempDir dir;
  KubeConfig config = tokenConfig();
  config.token.clear();
  config.tokenFile = dir.write("token", "expired-token\n");
  auto api = connect(config);
  ASSERT_TRUE(api);

  const Result<nlohmann::json> beforeRotation = api->get(kNamespaces.object("default"));
  dir.write("token", server_.token() + "\n");
  server_.clearRequests();
  const Result<nlohmann::json> afterRotation = api->get(kNamespaces.object("default"));

  ASSERT_FALSE(beforeRotation);
  EXPECT_EQ(beforeRotation.error().code, Error::Code::Unauthorized);
  ASSERT_TRUE(afterRotation) << afterRotation.error().message;
  // The cached token was rejected once, then the re-read one was accepted.
  EXPECT_THAT(serverSaw("/api/v1/namespaces/default", 2), ElementsAre("GET 401", "GET 200"));
}

TEST_F(HttpKubeApiTest, RereadsTheTokenFileEveryInterval) {
  TempDir dir;
  FakeClock clock;
  KubeConfig config = tokenConfig();
  config.token.clear();
  config.tokenFile = dir.write("token", server_.token());
  HttpKubeApi::Options options;
  options.clock = &clock;
  auto api = connect(config, options);
  ASSERT_TRUE(api);
  ASSERT_TRUE(api->get(kNamespaces.object("default")));

  dir.write("token", "revoked");
  const Result<nlohmann::json> beforeInterval = api->get(kNamespaces.object("default"));
  clock.advance(61s);
  const Result<nlohmann::json> afterInterval = api->get(kNamespaces.object("default"));

  EXPECT_TRUE(beforeInterval) << beforeInterval.error().message;
  ASSERT_FALSE(afterInterval);
  EXPECT_EQ(afterInterval.error().code, Error::Code::Unauthorized);
}

TEST_F(HttpKubeApiTest, TimesOutASlowServer) {
  HttpKubeApi::Options options;
  options.requestTimeout = 500ms;
  server_.setLatency(3s);

  const Attempt fetched = getDefaultNamespace(tokenConfig(), options);

  server_.setLatency(0ms);
  ASSERT_FALSE(fetched.result);
  EXPECT_EQ(fetched.result.error().code, Error::Code::Timeout);
  EXPECT_LT(fetched.seconds, 2.0);
}

TEST_F(HttpKubeApiTest, ReportsARefusedConnectionAsUnavailable) {
  KubeConfig config = tokenConfig();
  // Port 1 on loopback: nothing listens there.
  config.server = "https://127.0.0.1:1";

  const Attempt fetched = getDefaultNamespace(config);

  ASSERT_FALSE(fetched.result);
  EXPECT_EQ(fetched.result.error().code, Error::Code::Unavailable);
  EXPECT_LT(fetched.seconds, 2.0);
}

TEST_F(HttpKubeApiTest, ServesCallsFromManyThreadsWhileAWatchIsOpen) {
  createNamespace(*api_, "busy");
  std::atomic<int> added{0};
  std::stop_source stopWatch;
  std::jthread watcher([&] {
    (void)api_->watch(
        podsIn("busy"), {.timeout = 30s},
        [&](const RawWatchEvent& event) {
          if (event.type == "ADDED") {
            ++added;
          }
          return true;
        },
        stopWatch.get_token());
  });
  std::atomic<int> failures{0};

  {
    std::vector<std::jthread> workers;
    for (int thread = 0; thread < 6; ++thread) {
      workers.emplace_back([&, thread] {
        for (int i = 0; i < 20; ++i) {
          const std::string name = "t" + std::to_string(thread) + "-" + std::to_string(i);
          if (!api_->create(podsIn("busy"), pod(name)) || !api_->get(podsIn("busy").object(name)) ||
              !api_->list(podsIn("busy"), {.limit = 5})) {
            ++failures;
          }
        }
      });
    }
  }
  const auto deadline = Steady::now() + 10s;
  while (added.load() < 120 && Steady::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  stopWatch.request_stop();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(added.load(), 120);
}

/// Watches and calls from `callers` threads at once, `watches` of them watching: true when every
/// call succeeded and every watch saw every pod.
bool watchesAndCallsAllSucceed(HttpKubeApi& api, const std::string& namespaceName, int watches,
                               int callers) {
  constexpr int kPodsPerCaller = 10;
  const int pods = callers * kPodsPerCaller;
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(watches));
  std::stop_source stopWatches;
  std::atomic<int> failures{0};
  {
    std::vector<std::jthread> watchers;
    for (int w = 0; w < watches; ++w) {
      watchers.emplace_back([&, w] {
        (void)api.watch(
            podsIn(namespaceName), {.resourceVersion = "0", .timeout = 30s},
            [&](const RawWatchEvent& event) {
              if (event.type == "ADDED") {
                ++seen[static_cast<std::size_t>(w)];
              }
              return true;
            },
            stopWatches.get_token());
      });
    }
    {
      std::vector<std::jthread> workers;
      for (int c = 0; c < callers; ++c) {
        workers.emplace_back([&, c] {
          for (int i = 0; i < kPodsPerCaller; ++i) {
            const std::string name = "c" + std::to_string(c) + "-" + std::to_string(i);
            if (!api.create(podsIn(namespaceName), pod(name)) ||
                !api.list(podsIn(namespaceName), {.limit = 5})) {
              ++failures;
            }
          }
        });
      }
    }
    const auto deadline = Steady::now() + 10s;
    const auto allSeen = [&] {
      for (const std::atomic<int>& count : seen) {
        if (count.load() < pods) {
          return false;
        }
      }
      return true;
    };
    while (!allSeen() && Steady::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    stopWatches.request_stop();
  }
  bool ok = failures.load() == 0;
  for (const std::atomic<int>& count : seen) {
    ok = ok && count.load() == pods;
  }
  return ok;
}

/// No client before the test body: the I/O pool must still be unsized when the test sizes it.
class HttpKubeApiPoolTest : public HttpKubeApiTest {
protected:
  void SetUp() override { ASSERT_TRUE(server_.started()) << server_.error(); }
};

TEST_F(HttpKubeApiPoolTest, OneIoThreadServesManyOpenWatchesAndCalls) {
  // The pool is process-wide and sized once, so this runs in a fresh process of its own.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const bool zeroRefused = !HttpKubeApi::setIoThreads(0);
        const bool sized = static_cast<bool>(HttpKubeApi::setIoThreads(1));
        auto api = connect(server_.kubeconfigPath());
        createNamespace(*api, "one-thread");
        const bool served = watchesAndCallsAllSucceed(*api, "one-thread", 6, 4);
        const bool resizeRefused = !HttpKubeApi::setIoThreads(2); // the pool is running
        std::exit(zeroRefused && sized && served && resizeRefused ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

} // namespace
} // namespace libcluster
