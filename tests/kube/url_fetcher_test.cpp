#include "kube/url_fetcher.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

TEST(ParseHttpUrl, TakesAUrlApart) {
  Result<HttpUrl> url = parseHttpUrl("http://Rancher-Metadata/latest/self/service?x=1#frag");

  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(*url, (HttpUrl{"http", "rancher-metadata", 80, "/latest/self/service?x=1"}));
}

TEST(ParseHttpUrl, ReadsPortsIpv6AndHttpsDefaults) {
  EXPECT_EQ(*parseHttpUrl("https://example.org"), (HttpUrl{"https", "example.org", 443, "/"}));
  EXPECT_EQ(*parseHttpUrl("http://[::1]:8080/a"), (HttpUrl{"http", "::1", 8080, "/a"}));
  EXPECT_EQ(*parseHttpUrl("http://10.0.0.1:81?q"), (HttpUrl{"http", "10.0.0.1", 81, "/?q"}));
}

TEST(ParseHttpUrl, RefusesWhatCouldHideTheRealHost) {
  EXPECT_FALSE(parseHttpUrl("http://rancher-metadata@evil.example/"));
  EXPECT_FALSE(parseHttpUrl("http://rancher-metadata:80@evil.example/"));
  EXPECT_FALSE(parseHttpUrl("http://rancher metadata/"));
  EXPECT_FALSE(parseHttpUrl("http://rancher-metadata\r\nHost: x/"));
  EXPECT_FALSE(parseHttpUrl("ftp://rancher-metadata/"));
  EXPECT_FALSE(parseHttpUrl("file:///etc/passwd"));
  EXPECT_FALSE(parseHttpUrl("http:///path"));
  EXPECT_FALSE(parseHttpUrl("http://host:0/"));
  EXPECT_FALSE(parseHttpUrl("http://host:65536/"));
  EXPECT_FALSE(parseHttpUrl("http://host:8o/"));
  EXPECT_FALSE(parseHttpUrl("http://[::1/"));
}

TEST(UrlAllowList, MatchesWholeHostsOnly) {
  Result<UrlAllowList> list = UrlAllowList::parse({"rancher-metadata"});
  ASSERT_TRUE(list);

  EXPECT_TRUE(list->allows(*parseHttpUrl("http://rancher-metadata/latest/self/service")));
  EXPECT_TRUE(list->allows(*parseHttpUrl("https://RANCHER-METADATA:8443/")));
  EXPECT_FALSE(list->allows(*parseHttpUrl("http://rancher-metadata.evil.example/")));
  EXPECT_FALSE(list->allows(*parseHttpUrl("http://evil-rancher-metadata/")));
  EXPECT_FALSE(list->allows(*parseHttpUrl("http://169.254.169.254/latest/meta-data/")));
}

TEST(UrlAllowList, AnEntryWithAPortAllowsOnlyThatPort) {
  Result<UrlAllowList> list = UrlAllowList::parse({"metadata.local:8080", "[::1]:80"});
  ASSERT_TRUE(list) << list.error().message;

  EXPECT_TRUE(list->allows(*parseHttpUrl("http://metadata.local:8080/")));
  EXPECT_FALSE(list->allows(*parseHttpUrl("http://metadata.local/")));
  EXPECT_TRUE(list->allows(*parseHttpUrl("http://[::1]/")));
  EXPECT_FALSE(list->allows(*parseHttpUrl("http://[::1]:81/")));
}

TEST(UrlAllowList, AnEmptyListAllowsNothing) {
  Result<UrlAllowList> list = UrlAllowList::parse({});
  ASSERT_TRUE(list);

  EXPECT_FALSE(list->allows(*parseHttpUrl("http://rancher-metadata/")));
}

TEST(UrlAllowList, RefusesEntriesThatAreNotHosts) {
  EXPECT_FALSE(UrlAllowList::parse({""}));
  EXPECT_FALSE(UrlAllowList::parse({"http://rancher-metadata"}));
  EXPECT_FALSE(UrlAllowList::parse({"rancher-metadata/latest"}));
  EXPECT_FALSE(UrlAllowList::parse({"*.example.org"}));
  EXPECT_FALSE(UrlAllowList::parse({"host:99999"}));
}

} // namespace
} // namespace libcluster
