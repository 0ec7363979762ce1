#include "kube/http_protocol.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

TEST(PercentEncode, KeepsUnreservedCharactersAndEncodesTheRest) {
  EXPECT_EQ(percentEncode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(percentEncode("app in (a,b),!x"), "app%20in%20%28a%2Cb%29%2C%21x");
  EXPECT_EQ(percentEncode("k=v&x=/+?#%"), "k%3Dv%26x%3D%2F%2B%3F%23%25");
  EXPECT_EQ(percentEncode("\xC3\xA9"), "%C3%A9");
}

TEST(ListQuery, IsEmptyWithoutOptions) { EXPECT_EQ(listQuery({}), ""); }

TEST(ListQuery, EncodesEveryOption) {
  const ListOptions options{.labelSelector = "app=x,tier in (a,b)",
                            .fieldSelector = "status.phase=Running",
                            .limit = 500,
                            .continueToken = "eyJ2Ijo+MX0=",
                            .resourceVersion = "0"};

  EXPECT_EQ(listQuery(options),
            "?labelSelector=app%3Dx%2Ctier%20in%20%28a%2Cb%29"
            "&fieldSelector=status.phase%3DRunning&limit=500&continue=eyJ2Ijo%2BMX0%3D"
            "&resourceVersion=0");
}

TEST(WatchQuery, AsksForBookmarksTimeoutAndResourceVersion) {
  const WatchOptions options{.resourceVersion = "42", .timeout = std::chrono::seconds(290)};

  EXPECT_EQ(watchQuery(options),
            "?watch=1&allowWatchBookmarks=true&timeoutSeconds=290&resourceVersion=42");
}

TEST(WatchQuery, LeavesOutWhatIsNotSet) {
  const WatchOptions options{.labelSelector = "app=x", .allowBookmarks = false};

  EXPECT_EQ(watchQuery(options), "?watch=1&labelSelector=app%3Dx");
}

TEST(ApplyQuery, NamesTheFieldManagerAndForcesOnlyWhenAsked) {
  EXPECT_EQ(applyQuery({.fieldManager = "libcluster-controller"}),
            "?fieldManager=libcluster-controller");
  EXPECT_EQ(applyQuery({.fieldManager = "m", .force = true}), "?fieldManager=m&force=true");
}

TEST(DeleteBody, SendsOnlyThePreconditionsAndPolicyThatAreSet) {
  const Result<std::string> versionOnly = deleteBody({.preconditions = {.resourceVersion = "7"}});
  const Result<std::string> all = deleteBody(
      {.preconditions = {.uid = "u-1", .resourceVersion = "7"}, .propagationPolicy = "Foreground"});

  ASSERT_TRUE(versionOnly) << versionOnly.error().message;
  EXPECT_EQ(nlohmann::json::parse(*versionOnly),
            (nlohmann::json{{"apiVersion", "v1"},
                            {"kind", "DeleteOptions"},
                            {"preconditions", {{"resourceVersion", "7"}}}}));
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(nlohmann::json::parse(*all),
            (nlohmann::json{{"apiVersion", "v1"},
                            {"kind", "DeleteOptions"},
                            {"preconditions", {{"uid", "u-1"}, {"resourceVersion", "7"}}},
                            {"propagationPolicy", "Foreground"}}));
}

TEST(DeleteBody, RejectsAPropagationPolicyKubernetesDoesNotKnow) {
  const Result<std::string> body = deleteBody({.propagationPolicy = "background"});

  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().code, Error::Code::Invalid);
}

TEST(ParseRetryAfter, ReadsDeltaSeconds) {
  EXPECT_EQ(parseRetryAfter("1"), std::chrono::seconds(1));
  EXPECT_EQ(parseRetryAfter(" 30 "), std::chrono::seconds(30));
  EXPECT_EQ(parseRetryAfter("0"), std::chrono::seconds(0));
}

TEST(ParseRetryAfter, RejectsDatesAndGarbage) {
  EXPECT_EQ(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
  EXPECT_EQ(parseRetryAfter(""), std::nullopt);
  EXPECT_EQ(parseRetryAfter("-1"), std::nullopt);
  EXPECT_EQ(parseRetryAfter("1.5"), std::nullopt);
}

TEST(IsIpLiteral, RecognisesAddressesOnly) {
  EXPECT_TRUE(isIpLiteral("127.0.0.1"));
  EXPECT_TRUE(isIpLiteral("::1"));
  EXPECT_TRUE(isIpLiteral("[fd00::1]"));
  EXPECT_FALSE(isIpLiteral("localhost"));
  EXPECT_FALSE(isIpLiteral("kubernetes.default.svc"));
  EXPECT_FALSE(isIpLiteral("1.2.3"));
}

} // namespace
} // namespace libcluster
