#include "membership/sources.h"

#include <memory>

#include <gtest/gtest.h>

#include "dns/cares_resolver.h"
#include "dns/dnsmasq_server.h"

namespace libcluster {
namespace {

using Nodes = std::vector<std::string>;

/// dnsmasq on 127.0.0.1 answering for test.: app.test has only an A record (so AAAA is NODATA),
/// web.test has an A record and no SRV (SRV is NODATA), every other name is NXDOMAIN.
class DnsRuleAgainstDnsmasq : public testing::Test {
protected:
  void SetUp() override {
    auto server = DnsmasqServer::start({"--local=/test/", "--host-record=app.test,10.0.0.1",
                                        "--host-record=web.test,10.0.0.7",
                                        "--srv-host=_epmd._tcp.app.test,app-0.app.test,4369"});
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(server).value();
    auto resolver = CaresResolver::create({.servers = {server_->address()}, .useSearchDomains = false});
    ASSERT_TRUE(resolver) << resolver.error().message;
    resolver_ = std::move(resolver).value();
  }

  std::unique_ptr<DnsmasqServer> server_;
  std::unique_ptr<CaresResolver> resolver_;
};

TEST_F(DnsRuleAgainstDnsmasq, RecordsBecomeMembers) {
  const auto a = membersFromAddressAnswer(resolver_->resolveAddresses("app.test", AddressFamily::Any, {}),
                                          "app", "dns");
  const auto srv = membersFromServiceAnswer(resolver_->resolveServices("_epmd._tcp.app.test", {}), "app", "dns");

  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(nodeNamesOf(a->candidates), Nodes{"app@10.0.0.1"});
  ASSERT_TRUE(srv) << srv.error().message;
  EXPECT_EQ(nodeNamesOf(srv->candidates), Nodes{"app@app-0.app.test"});
}

TEST_F(DnsRuleAgainstDnsmasq, ANameWithoutSuchRecordsIsNoPeers) {
  const auto aaaa = membersFromAddressAnswer(
      resolver_->resolveAddresses("app.test", AddressFamily::IPv6, {}), "app", "dns");
  const auto srv = membersFromServiceAnswer(resolver_->resolveServices("web.test", {}), "app", "dns");

  ASSERT_TRUE(aaaa) << aaaa.error().message;
  EXPECT_TRUE(aaaa->candidates.empty());
  ASSERT_TRUE(srv) << srv.error().message;
  EXPECT_TRUE(srv->candidates.empty());
}

TEST_F(DnsRuleAgainstDnsmasq, ANameThatDoesNotExistIsUnknown) {
  const auto a = membersFromAddressAnswer(
      resolver_->resolveAddresses("nope.test", AddressFamily::Any, {}), "app", "dns");
  const auto srv = membersFromServiceAnswer(resolver_->resolveServices("_epmd._tcp.nope.test", {}),
                                            "app", "dns");

  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Error::Code::NotFound);
  ASSERT_FALSE(srv);
  EXPECT_EQ(srv.error().code, Error::Code::NotFound);
}

} // namespace
} // namespace libcluster
