#include "fakes/fake_resolver.h"

#include <stop_token>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

using namespace std::chrono_literals;

TEST(FakeResolverTest, AnswersAsScriptedAndCountsCalls) {
  FakeResolver resolver;
  resolver.answerAddresses("app.test", std::vector<DnsAddress>{{"10.0.0.1", 30s}});
  resolver.answerServices("_epmd._tcp.app.test", Error{Error::Code::Unavailable, "down"});

  Result<std::vector<DnsAddress>> addresses =
      resolver.resolveAddresses("app.test", AddressFamily::IPv4, {});
  Result<std::vector<DnsService>> services = resolver.resolveServices("_epmd._tcp.app.test", {});

  ASSERT_TRUE(addresses);
  EXPECT_EQ(*addresses, (std::vector<DnsAddress>{{"10.0.0.1", 30s}}));
  EXPECT_EQ(services.error().code, Error::Code::Unavailable);
  EXPECT_EQ(resolver.calls("app.test"), 1);
  EXPECT_EQ(resolver.totalCalls(), 2);
  EXPECT_EQ(resolver.lastFamily(), AddressFamily::IPv4);
}

TEST(FakeResolverTest, SaysNotFoundForAnUnscriptedName) {
  FakeResolver resolver;

  EXPECT_EQ(resolver.resolveAddresses("other.test", AddressFamily::Any, {}).error().code,
            Error::Code::NotFound);
}

TEST(FakeResolverTest, IsCancelledWhenStopped) {
  FakeResolver resolver;
  resolver.answerAddresses("app.test", std::vector<DnsAddress>{{"10.0.0.1", 30s}});
  std::stop_source stop;
  stop.request_stop();

  EXPECT_EQ(
      resolver.resolveAddresses("app.test", AddressFamily::Any, stop.get_token()).error().code,
      Error::Code::Cancelled);
}

} // namespace
} // namespace libcluster
