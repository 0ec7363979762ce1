#include "dns/cares_resolver.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dns/dnsmasq_server.h"
#include "dns/loopback.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using Code = Error::Code;
using testing::ElementsAre;
using testing::UnorderedElementsAre;
using testing::UnorderedElementsAreArray;

constexpr int kBigRecordCount = 60;

std::vector<std::string> addressesOf(const std::vector<DnsAddress>& records) {
  std::vector<std::string> addresses;
  for (const DnsAddress& record : records) {
    addresses.push_back(record.address);
  }
  return addresses;
}

std::string bigAddress(int i) { return "10.1.0." + std::to_string(i + 1); }

/// One dnsmasq for the suite, serving the records below on 127.0.0.1; unknown names under
/// test. and cluster.local. are NXDOMAIN (--local). dead.test. is forwarded to a closed port and
/// silent.test. to a server that never answers.
class CaresResolverIntegrationTest : public testing::Test {
protected:
  static void SetUpTestSuite() {
    silentUpstream_ = new SilentUdpServer();
    const int closedPort = freeLoopbackPort();
    std::vector<std::string> options = {
        "--local=/test/",
        "--local=/cluster.local/",
        "--local-ttl=30",
        "--host-record=app.test,10.0.0.1",
        "--host-record=multi.test,10.0.0.1",
        "--host-record=multi.test,10.0.0.2",
        "--host-record=multi.test,10.0.0.3",
        "--host-record=app6.test,fd00::1",
        "--host-record=dual.test,10.0.0.5,fd00::5",
        "--host-record=ttl.test,10.0.0.9,120",
        "--cname=alias.test,app.test",
        "--srv-host=_epmd._tcp.app.test,app-0.app.test,4369,10,50",
        "--srv-host=_epmd._tcp.app.test,app-1.app.test,4370,20,30",
        "--srv-host=myapp-headless.default.svc.cluster.local,"s +
            "myapp-0.myapp-headless.default.svc.cluster.local,4369,0,100",
        "--srv-host=_gone._tcp.app.test",
        "--server=/dead.test/127.0.0.1#" + std::to_string(closedPort),
        "--server=/silent.test/127.0.0.1#" + std::to_string(silentUpstream_->port()),
    };
    for (int i = 0; i < kBigRecordCount; ++i) {
      options.push_back("--host-record=big.test," + bigAddress(i));
    }
    Result<std::unique_ptr<DnsmasqServer>> server = DnsmasqServer::start(options);
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(server).value().release();
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete silentUpstream_;
    silentUpstream_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(server_, nullptr) << "dnsmasq did not start"; }

  static std::unique_ptr<CaresResolver> resolver(CaresResolverOptions options = {}) {
    options.servers = {server_->address()};
    Result<std::unique_ptr<CaresResolver>> made = CaresResolver::create(std::move(options));
    EXPECT_TRUE(made) << made.error().message;
    return made ? std::move(made).value() : nullptr;
  }

  static DnsmasqServer* server_;
  static SilentUdpServer* silentUpstream_;
};

DnsmasqServer* CaresResolverIntegrationTest::server_ = nullptr;
SilentUdpServer* CaresResolverIntegrationTest::silentUpstream_ = nullptr;

TEST_F(CaresResolverIntegrationTest, ResolvesEveryARecordOfAName) {
  auto dns = resolver();

  Result<std::vector<DnsAddress>> found =
      dns->resolveAddresses("multi.test", AddressFamily::IPv4, {});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_THAT(addressesOf(*found), UnorderedElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3"));
}

TEST_F(CaresResolverIntegrationTest, ResolvesAaaaRecords) {
  auto dns = resolver();

  Result<std::vector<DnsAddress>> found =
      dns->resolveAddresses("app6.test", AddressFamily::IPv6, {});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_THAT(addressesOf(*found), ElementsAre("fd00::1"));
}

TEST_F(CaresResolverIntegrationTest, AnyReturnsBothFamiliesIPv4First) {
  auto dns = resolver();

  Result<std::vector<DnsAddress>> found =
      dns->resolveAddresses("dual.test", AddressFamily::Any, {});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_THAT(addressesOf(*found), ElementsAre("10.0.0.5", "fd00::5"));
}

TEST_F(CaresResolverIntegrationTest, AnySkipsAFamilyTheNameDoesNotHave) {
  auto dns = resolver();

  Result<std::vector<DnsAddress>> v4 = dns->resolveAddresses("app.test", AddressFamily::Any, {});
  Result<std::vector<DnsAddress>> v6 = dns->resolveAddresses("app6.test", AddressFamily::Any, {});

  ASSERT_TRUE(v4) << v4.error().message;
  EXPECT_THAT(addressesOf(*v4), ElementsAre("10.0.0.1"));
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_THAT(addressesOf(*v6), ElementsAre("fd00::1"));
}

TEST_F(CaresResolverIntegrationTest, AFamilyTheNameDoesNotHaveIsNotFound) {
  auto dns = resolver();

  Result<std::vector<DnsAddress>> found =
      dns->resolveAddresses("app6.test", AddressFamily::IPv4, {});

  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, Code::NotFound);
  EXPECT_THAT(found.error().message, testing::HasSubstr("NODATA"));
}

TEST_F(CaresResolverIntegrationTest, PassesTtlsThrough) {
  auto dns = resolver();

  Result<std::vector<DnsAddress>> local =
      dns->resolveAddresses("app.test", AddressFamily::IPv4, {});
  Result<std::vector<DnsAddress>> own = dns->resolveAddresses("ttl.test", AddressFamily::IPv4, {});

  ASSERT_TRUE(local) << local.error().message;
  EXPECT_EQ(local->front(), (DnsAddress{"10.0.0.1", 30s}));
  ASSERT_TRUE(own) << own.error().message;
  EXPECT_EQ(own->front(), (DnsAddress{"10.0.0.9", 120s}));
}

TEST_F(CaresResolverIntegrationTest, FollowsACname) {
  auto dns = resolver();

  Result<std::vector<DnsAddress>> found =
      dns->resolveAddresses("alias.test", AddressFamily::IPv4, {});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_THAT(addressesOf(*found), ElementsAre("10.0.0.1"));
}

TEST_F(CaresResolverIntegrationTest, ReadsAnAnswerTooBigForUdpOverTcp) {
  auto dns = resolver();
  std::vector<std::string> expected;
  for (int i = 0; i < kBigRecordCount; ++i) {
    expected.push_back(bigAddress(i));
  }

  Result<std::vector<DnsAddress>> found =
      dns->resolveAddresses("big.test", AddressFamily::IPv4, {});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_THAT(addressesOf(*found), UnorderedElementsAreArray(expected));
}

TEST_F(CaresResolverIntegrationTest, ResolvesSrvRecords) {
  auto dns = resolver();

  Result<std::vector<DnsService>> found = dns->resolveServices("_epmd._tcp.app.test", {});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_THAT(*found, UnorderedElementsAre(DnsService{"app-0.app.test", 4369, 10, 50, 30s},
                                           DnsService{"app-1.app.test", 4370, 20, 30, 30s}));
}

TEST_F(CaresResolverIntegrationTest, ResolvesAHeadlessServiceSrvNameWithTrailingDot) {
  // libcluster's DNSSRV query: <service>.<namespace>.svc.<CLUSTER_DOMAIN>, absolute by default.
  auto dns = resolver({.searchDomains = {"test"}, .ndots = 5});

  Result<std::vector<DnsService>> found =
      dns->resolveServices("myapp-headless.default.svc.cluster.local.", {});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_THAT(*found, ElementsAre(DnsService{"myapp-0.myapp-headless.default.svc.cluster.local",
                                             4369, 0, 100, 30s}));
}

TEST_F(CaresResolverIntegrationTest, AServiceDeclaredUnavailableIsNotFound) {
  auto dns = resolver();

  Result<std::vector<DnsService>> found = dns->resolveServices("_gone._tcp.app.test", {});

  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, Code::NotFound) << found.error().message;
}

TEST_F(CaresResolverIntegrationTest, AnUnknownNameIsNotFoundNotEmpty) {
  auto dns = resolver();

  Result<std::vector<DnsAddress>> any = dns->resolveAddresses("nope.test", AddressFamily::Any, {});
  Result<std::vector<DnsAddress>> v4 = dns->resolveAddresses("nope.test", AddressFamily::IPv4, {});
  Result<std::vector<DnsService>> srv = dns->resolveServices("_epmd._tcp.nope.test", {});

  ASSERT_FALSE(any);
  EXPECT_EQ(any.error().code, Code::NotFound);
  EXPECT_THAT(any.error().message, testing::HasSubstr("nope.test"));
  ASSERT_FALSE(v4);
  EXPECT_EQ(v4.error().code, Code::NotFound);
  EXPECT_THAT(v4.error().message, testing::HasSubstr("NXDOMAIN"));
  ASSERT_FALSE(srv);
  EXPECT_EQ(srv.error().code, Code::NotFound);
}

TEST_F(CaresResolverIntegrationTest, ARefusedQueryIsUnavailable) {
  // dnsmasq answers REFUSED for a name outside its local domains when it has no upstream.
  auto dns = resolver();

  Result<std::vector<DnsAddress>> found =
      dns->resolveAddresses("app.example", AddressFamily::Any, {});

  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, Code::Unavailable) << found.error().message;
}

TEST_F(CaresResolverIntegrationTest, ADeadUpstreamTimesOut) {
  // dnsmasq does not turn an unreachable upstream into SERVFAIL: it stays silent and the client
  // gives up. (SERVFAIL itself is covered by CaresResolverScriptedTest.)
  auto dns = resolver({.timeout = 500ms});

  Result<std::vector<DnsAddress>> found =
      dns->resolveAddresses("app.dead.test", AddressFamily::IPv4, {});

  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, Code::Timeout) << found.error().message;
}

TEST_F(CaresResolverIntegrationTest, ASilentUpstreamTimesOutWithinTheDeadline) {
  auto dns = resolver({.timeout = 500ms});
  const auto start = std::chrono::steady_clock::now();

  Result<std::vector<DnsAddress>> found =
      dns->resolveAddresses("app.silent.test", AddressFamily::Any, {});

  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, Code::Timeout) << found.error().message;
  EXPECT_LT(elapsed, 1500ms);
}

TEST_F(CaresResolverIntegrationTest, ANameWithATrailingDotResolves) {
  auto dns = resolver();

  Result<std::vector<DnsAddress>> found =
      dns->resolveAddresses("app.test.", AddressFamily::IPv4, {});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_THAT(addressesOf(*found), ElementsAre("10.0.0.1"));
}

TEST_F(CaresResolverIntegrationTest, ExpandsAShortNameWithTheSearchList) {
  auto dns = resolver({.searchDomains = {"nope.test", "test"}, .ndots = 1});

  Result<std::vector<DnsAddress>> found = dns->resolveAddresses("app", AddressFamily::IPv4, {});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_THAT(addressesOf(*found), ElementsAre("10.0.0.1"));
}

TEST_F(CaresResolverIntegrationTest, AnyStopsAtTheFirstCandidateWithAddresses) {
  // app.test has an A record and no AAAA: the AAAA query must not go on to the bare name 'app'
  // (which dnsmasq refuses), just as getaddrinfo settles on the first name that has addresses.
  auto dns = resolver({.searchDomains = {"test"}, .ndots = 1});

  Result<std::vector<DnsAddress>> found = dns->resolveAddresses("app", AddressFamily::Any, {});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_THAT(addressesOf(*found), ElementsAre("10.0.0.1"));
}

TEST_F(CaresResolverIntegrationTest, StopsSearchingWhenACandidateFails) {
  // app.example is refused, so whether it exists is unknown: app.test is not the answer.
  auto dns = resolver({.searchDomains = {"example", "test"}, .ndots = 1});

  Result<std::vector<DnsAddress>> found = dns->resolveAddresses("app", AddressFamily::IPv4, {});

  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, Code::Unavailable) << found.error().message;
  EXPECT_THAT(found.error().message, testing::HasSubstr("app.example"));
}

TEST_F(CaresResolverIntegrationTest, DoesNotSearchWhenToldNotTo) {
  auto dns = resolver({.useSearchDomains = false, .searchDomains = {"test"}});

  Result<std::vector<DnsAddress>> found = dns->resolveAddresses("app", AddressFamily::IPv4, {});

  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, Code::Unavailable) << "dnsmasq refuses the bare name 'app'";
}

TEST_F(CaresResolverIntegrationTest, AnswersManyQueriesWithOneResolver) {
  auto dns = resolver();

  for (int i = 0; i < 200; ++i) {
    Result<std::vector<DnsAddress>> found =
        dns->resolveAddresses("multi.test", AddressFamily::Any, {});
    Result<std::vector<DnsAddress>> missing =
        dns->resolveAddresses("nope.test", AddressFamily::Any, {});
    Result<std::vector<DnsService>> services = dns->resolveServices("_epmd._tcp.app.test", {});

    ASSERT_TRUE(found) << i << ": " << found.error().message;
    ASSERT_EQ(found->size(), 3U) << i;
    ASSERT_EQ(missing.error().code, Code::NotFound) << i;
    ASSERT_TRUE(services) << i << ": " << services.error().message;
    ASSERT_EQ(services->size(), 2U) << i;
  }
}

TEST_F(CaresResolverIntegrationTest, ResolversOnTwoThreadsWorkIndependently) {
  auto first = resolver();
  auto second = resolver();
  int firstOk = 0;
  int secondOk = 0;

  {
    std::jthread a([&] {
      for (int i = 0; i < 200; ++i) {
        Result<std::vector<DnsAddress>> found =
            first->resolveAddresses("multi.test", AddressFamily::IPv4, {});
        firstOk += found && found->size() == 3 ? 1 : 0;
      }
    });
    std::jthread b([&] {
      for (int i = 0; i < 200; ++i) {
        Result<std::vector<DnsService>> found = second->resolveServices("_epmd._tcp.app.test", {});
        secondOk += found && found->size() == 2 ? 1 : 0;
      }
    });
  }

  EXPECT_EQ(firstOk, 200);
  EXPECT_EQ(secondOk, 200);
}

} // namespace
} // namespace libcluster
