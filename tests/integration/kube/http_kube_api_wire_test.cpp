#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration/kube/scripted_http_server.h"
#include "kube/http_kube_api.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using testing::ElementsAre;
using testing::HasSubstr;
using Server = ScriptedHttpServer;

const ResourcePath kPods{.resource = "pods", .namespaceName = "ns"};

std::string event(const std::string& type, const std::string& name) {
  return nlohmann::json{{"type", type}, {"object", {{"metadata", {{"name", name}}}}}}.dump() + "\n";
}

/// Watches `server` and returns the result plus "TYPE name" of every event delivered.
struct WatchOutcome {
  Result<void> result;
  std::vector<std::string> events;
};

WatchOutcome watch(const Server& server, WatchOptions options = {.timeout = 5s}) {
  KubeConfig config;
  config.server = server.url();
  config.token = "t";
  Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(config);
  if (!api) {
    return {api.error(), {}};
  }
  std::vector<std::string> events;
  Result<void> result =
      (*api)->watch(kPods, options,
                    [&](const RawWatchEvent& raw) {
                      events.push_back(raw.type + " " + raw.object["metadata"].value("name", ""));
                      return true;
                    },
                    {});
  return {std::move(result), std::move(events)};
}

TEST(HttpKubeApiWire, JoinsEventsCutAcrossChunksAndPackets) {
  const std::string first = event("ADDED", "a");
  const std::string second = event("MODIFIED", "a");
  const std::string third = event("DELETED", "a");
  Server server(
      {{.pieces = {Server::chunkedHead(), Server::chunk(first.substr(0, 10)),
                   Server::chunk(first.substr(10) + second.substr(0, 5)),
                   // One chunk, sent as two TCP writes.
                   Server::chunk(second.substr(5) + third).substr(0, 7),
                   Server::chunk(second.substr(5) + third).substr(7), Server::lastChunk()},
        .gap = 30ms}});

  const WatchOutcome outcome = watch(server);

  EXPECT_TRUE(outcome.result) << outcome.result.error().message;
  EXPECT_THAT(outcome.events, ElementsAre("ADDED a", "MODIFIED a", "DELETED a"));
}

TEST(HttpKubeApiWire, DeliversALastEventWithoutNewline) {
  std::string last = event("ADDED", "b");
  last.pop_back();
  Server server({{.pieces = {Server::chunkedHead(), Server::chunk(event("ADDED", "a")),
                             Server::chunk(last), Server::lastChunk()}}});

  const WatchOutcome outcome = watch(server);

  EXPECT_TRUE(outcome.result) << outcome.result.error().message;
  EXPECT_THAT(outcome.events, ElementsAre("ADDED a", "ADDED b"));
}

TEST(HttpKubeApiWire, EndsTheWatchOnAMalformedLine) {
  Server server({{.pieces = {Server::chunkedHead(), Server::chunk(event("ADDED", "a")),
                             Server::chunk("{\"type\":\"MODIFIED\",\"object\":{\n"),
                             Server::chunk(event("DELETED", "a")), Server::lastChunk()}}});

  const WatchOutcome outcome = watch(server);

  ASSERT_FALSE(outcome.result);
  EXPECT_EQ(outcome.result.error().code, Error::Code::Invalid);
  EXPECT_THAT(outcome.result.error().message, HasSubstr("malformed watch event"));
  EXPECT_THAT(outcome.events, ElementsAre("ADDED a"));
}

TEST(HttpKubeApiWire, RejectsAnUnknownEventType) {
  Server server({{.pieces = {Server::chunkedHead(), Server::chunk(event("SYNC", "a")),
                             Server::lastChunk()}}});

  const WatchOutcome outcome = watch(server);

  ASSERT_FALSE(outcome.result);
  EXPECT_EQ(outcome.result.error().code, Error::Code::Invalid);
}

TEST(HttpKubeApiWire, TurnsAnErrorEventIntoTheErrorOfItsStatus) {
  const nlohmann::json expired = {{"type", "ERROR"},
                                  {"object",
                                   {{"kind", "Status"},
                                    {"status", "Failure"},
                                    {"message", "too old resource version: 1 (9)"},
                                    {"reason", "Expired"},
                                    {"code", 410}}}};
  const nlohmann::json internal = {
      {"type", "ERROR"}, {"object", {{"kind", "Status"}, {"message", "etcd down"}, {"code", 500}}}};
  Server expiredServer({{.pieces = {Server::chunkedHead(), Server::chunk(expired.dump() + "\n"),
                                    Server::lastChunk()}}});
  Server internalServer({{.pieces = {Server::chunkedHead(), Server::chunk(internal.dump() + "\n"),
                                     Server::lastChunk()}}});

  const WatchOutcome gone = watch(expiredServer);
  const WatchOutcome unavailable = watch(internalServer);

  ASSERT_FALSE(gone.result);
  EXPECT_EQ(gone.result.error().code, Error::Code::Gone);
  EXPECT_EQ(gone.result.error().message, "too old resource version: 1 (9)");
  ASSERT_FALSE(unavailable.result);
  EXPECT_EQ(unavailable.result.error().code, Error::Code::Unavailable);
  EXPECT_EQ(unavailable.result.error().message, "etcd down");
}

TEST(HttpKubeApiWire, TurnsA410ResponseIntoGone) {
  Server server({{.pieces = {Server::response(
                      410, R"({"kind":"Status","reason":"Gone","message":"gone","code":410})")}}});

  const WatchOutcome outcome = watch(server);

  ASSERT_FALSE(outcome.result);
  EXPECT_EQ(outcome.result.error().code, Error::Code::Gone);
}

TEST(HttpKubeApiWire, ReportsAStreamCutInsideAnEventAsUnavailable) {
  const std::string whole = event("ADDED", "a");
  // A chunk that promises more bytes than are sent, then the connection closes.
  Server server({{.pieces = {Server::chunkedHead(),
                             Server::chunk(whole).substr(0, Server::chunk(whole).size() - 8)}}});

  const WatchOutcome outcome = watch(server);

  ASSERT_FALSE(outcome.result);
  EXPECT_EQ(outcome.result.error().code, Error::Code::Unavailable);
  EXPECT_THAT(outcome.result.error().message, HasSubstr("watch stream broken"));
}

TEST(HttpKubeApiWire, SendsTheWatchQueryTokenAndUserAgent) {
  Server server({{.pieces = {Server::chunkedHead(), Server::lastChunk()}}});

  const WatchOutcome outcome =
      watch(server, {.labelSelector = "app=x", .resourceVersion = "7", .timeout = 5s});

  EXPECT_TRUE(outcome.result) << outcome.result.error().message;
  ASSERT_EQ(server.requests().size(), 1U);
  const std::string head = server.requests()[0];
  EXPECT_THAT(head, HasSubstr("GET /api/v1/namespaces/ns/pods?watch=1&allowWatchBookmarks=true"
                              "&timeoutSeconds=5&resourceVersion=7&labelSelector=app%3Dx "
                              "HTTP/1.1\r\n"));
  EXPECT_THAT(head, HasSubstr("Authorization:Bearer t\r\n"));
  EXPECT_THAT(head, HasSubstr("User-Agent:libcluster/0.1\r\n"));
  EXPECT_THAT(head, HasSubstr("Accept:application/json\r\n"));
}

TEST(HttpKubeApiWire, RetriesAWatchStartThatWasThrottled) {
  const std::string throttled = R"({"kind":"Status","reason":"TooManyRequests","code":429})";
  Server server({{.pieces = {Server::response(429, throttled, "Retry-After: 0\r\n")}},
                 {.pieces = {Server::chunkedHead(), Server::chunk(event("ADDED", "a")),
                             Server::lastChunk()}}});

  const WatchOutcome outcome = watch(server);

  EXPECT_TRUE(outcome.result) << outcome.result.error().message;
  EXPECT_THAT(outcome.events, ElementsAre("ADDED a"));
  EXPECT_EQ(server.requests().size(), 2U);
}

TEST(HttpKubeApiWire, RejectsAResponseThatIsNotJson) {
  Server server({{.pieces = {Server::response(200, "<html>hello</html>")}}});
  KubeConfig config;
  config.server = server.url();
  Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(config);
  ASSERT_TRUE(api);

  const Result<nlohmann::json> fetched = (*api)->get(kPods.object("x"));

  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.error().code, Error::Code::Invalid);
  EXPECT_THAT(fetched.error().message, HasSubstr("not JSON"));
}

TEST(HttpKubeApiWire, ReachesABracketedIpv6Server) {
  Server server({{.pieces = {Server::response(200, R"({"kind":"Pod"})")}}}, /*ipv6=*/true);
  KubeConfig config;
  config.server = server.url();
  Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(config);
  ASSERT_TRUE(api) << api.error().message;

  const Result<nlohmann::json> fetched = (*api)->get(kPods.object("x"));

  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(fetched->at("kind"), "Pod");
}

} // namespace
} // namespace libcluster
