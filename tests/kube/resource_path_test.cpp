#include "kube/kube_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace libcluster {
namespace {

using testing::HasSubstr;

TEST(ResourcePath, NamesACoreNamespacedCollection) {
  const ResourcePath pods{.resource = "pods", .namespaceName = "ns"};

  EXPECT_EQ(pods.url(), "/api/v1/namespaces/ns/pods");
}

TEST(ResourcePath, NamesACollectionAcrossAllNamespaces) {
  const ResourcePath pods{.resource = "pods"};

  EXPECT_EQ(pods.url(), "/api/v1/pods");
}

TEST(ResourcePath, NamesAClusterScopedObject) {
  const ResourcePath namespaces{.resource = "namespaces"};

  EXPECT_EQ(namespaces.object("team-a").url(), "/api/v1/namespaces/team-a");
}

TEST(ResourcePath, NamesAGroupedStatusSubresource) {
  const ResourcePath topologies{.group = "libcluster.dev",
                                .version = "v1alpha1",
                                .resource = "clustertopologies",
                                .namespaceName = "ns",
                                .subresource = "status"};

  EXPECT_EQ(topologies.object("x").url(),
            "/apis/libcluster.dev/v1alpha1/namespaces/ns/clustertopologies/x/status");
}

TEST(ResourcePath, LeavesTheSubresourceOutOfACollection) {
  const ResourcePath topologies{.resource = "pods", .subresource = "status"};

  EXPECT_EQ(topologies.url(), "/api/v1/pods");
}

TEST(ResourcePath, ObjectKeepsEverythingButTheName) {
  const ResourcePath pods{.resource = "pods", .namespaceName = "ns"};

  const ResourcePath pod = pods.object("p");

  EXPECT_EQ(pod.name, "p");
  EXPECT_EQ(pod.namespaceName, "ns");
  EXPECT_EQ(pods.name, "");
}

nlohmann::json status(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
          {"code", code},     {"reason", reason},   {"message", message}};
}

TEST(ErrorFromStatus, MapsHttpCodesToErrorCodes) {
  const std::vector<std::pair<int, Error::Code>> cases = {
      {400, Error::Code::Invalid},     {401, Error::Code::Unauthorized},
      {403, Error::Code::Forbidden},   {404, Error::Code::NotFound},
      {405, Error::Code::Invalid},     {409, Error::Code::Conflict},
      {410, Error::Code::Gone},        {415, Error::Code::Invalid},
      {422, Error::Code::Invalid},     {429, Error::Code::TooManyRequests},
      {500, Error::Code::Unavailable}, {502, Error::Code::Unavailable},
      {503, Error::Code::Unavailable}, {504, Error::Code::Timeout},
  };
  for (const auto& [http, code] : cases) {
    EXPECT_EQ(errorFromStatus(http, nullptr).code, code) << "HTTP " << http;
  }
}

TEST(ErrorFromStatus, TreatsReasonExpiredOrGoneAsGoneWhateverTheCode) {
  EXPECT_EQ(errorFromStatus(200, status(410, "Expired", "too old resource version: 1 (5)")).code,
            Error::Code::Gone);
  EXPECT_EQ(errorFromStatus(500, status(500, "Gone", "gone")).code, Error::Code::Gone);
}

TEST(ErrorFromStatus, UsesTheStatusMessage) {
  const Error error = errorFromStatus(404, status(404, "NotFound", "pods \"x\" not found"));

  EXPECT_EQ(error.message, "pods \"x\" not found");
  EXPECT_EQ(error.retryAfter, std::nullopt);
}

TEST(ErrorFromStatus, SaysTheHttpCodeWhenThereIsNoStatus) {
  EXPECT_EQ(errorFromStatus(502, nullptr).message, "HTTP 502");
  EXPECT_EQ(errorFromStatus(502, "bad gateway").message, "HTTP 502");
  EXPECT_EQ(errorFromStatus(503, {{"reason", "ServiceUnavailable"}}).message,
            "HTTP 503 ServiceUnavailable");
}

TEST(ErrorFromStatus, AddsCausesTheMessageDoesNotMention) {
  nlohmann::json body = status(422, "Invalid", "Pod \"x\" is invalid");
  body["details"] = {{"causes",
                      {{{"field", "spec.containers"}, {"message", "Required value"}},
                       {{"field", "metadata.name"}, {"message", "Invalid value"}}}}};

  const Error error = errorFromStatus(422, body);

  EXPECT_EQ(error.code, Error::Code::Invalid);
  EXPECT_EQ(error.message,
            "Pod \"x\" is invalid (spec.containers: Required value; metadata.name: Invalid value)");
}

TEST(ErrorFromStatus, DoesNotRepeatCausesAlreadyInTheMessage) {
  nlohmann::json body = status(422, "Invalid", "Pod \"x\" is invalid: spec: Required value");
  body["details"] = {{"causes", {{{"field", "spec"}, {"message", "Required value"}}}}};

  EXPECT_EQ(errorFromStatus(422, body).message, "Pod \"x\" is invalid: spec: Required value");
}

TEST(ErrorFromStatus, IgnoresCausesOfTheWrongShape) {
  nlohmann::json body = status(422, "Invalid", "bad");
  body["details"] = {{"causes", {1, "x", {{"field", 3}, {"message", {1, 2}}}}}};

  EXPECT_EQ(errorFromStatus(422, body).message, "bad");
}

TEST(ErrorFromStatus, CarriesRetryAfterSecondsFromDetails) {
  nlohmann::json body = status(429, "TooManyRequests", "slow down");
  body["details"] = {{"retryAfterSeconds", 3}};

  const Error error = errorFromStatus(429, body);

  EXPECT_EQ(error.code, Error::Code::TooManyRequests);
  EXPECT_EQ(error.retryAfter, std::chrono::milliseconds(3000));
  EXPECT_THAT(error.message, HasSubstr("slow down"));
}

} // namespace
} // namespace libcluster
