#include "membership/sources.h"

#include <ares.h>

#include <gtest/gtest.h>

#include "dns/cares_status.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using Nodes = std::vector<std::string>;

Nodes nodesOf(const Result<std::vector<Candidate>>& members) {
  EXPECT_TRUE(members) << members.error().message;
  return members ? nodeNamesOf(*members) : Nodes{};
}

Nodes nodesOf(const Result<DnsMembers>& members) {
  EXPECT_TRUE(members) << members.error().message;
  return members ? nodeNamesOf(members->candidates) : Nodes{};
}

// --- Rancher ---------------------------------------------------------------------------------

TEST(ParseRancherMembers, FirstIpOfEachContainerSortedAndUnique) {
  const auto members = parseRancherMembers(
      R"({"containers":[{"ips":["10.42.1.6"]},{"ips":["10.42.1.5","10.9.9.9"]},{"ips":["10.42.1.6"]}]})",
      "app", "r");

  EXPECT_EQ(nodesOf(members), (Nodes{"app@10.42.1.5", "app@10.42.1.6"}));
  ASSERT_TRUE(members);
  EXPECT_EQ(members->front().member.source, "r");
  EXPECT_EQ(members->front().member.ips, Nodes{"10.42.1.5"});
}

TEST(ParseRancherMembers, AnEmptyAddressIsNeverAMember) {
  EXPECT_EQ(nodesOf(parseRancherMembers(R"({"containers":[{"ips":[""]}]})", "app", "r")), Nodes{});
  EXPECT_EQ(nodesOf(parseRancherMembers(R"({"containers":[{"ips":[""]},{"ips":["10.0.0.1"]}]})",
                                        "app", "r")),
            Nodes{"app@10.0.0.1"});
}

TEST(ParseRancherMembers, SkipsContainersWithoutAUsableAddress) {
  EXPECT_EQ(nodesOf(parseRancherMembers(R"({"containers":[
      {"name":"no-ips"}, {"ips":[]}, {"ips":null}, {"ips":"10.0.0.1"}, {"ips":[42]},
      "not-an-object", 7, {"ips":["10.42.1.7"]}]})",
                                        "app", "r")),
            Nodes{"app@10.42.1.7"});
}

TEST(ParseRancherMembers, WhatIsNotLibclustersShapeIsInvalidNotEmpty) {
  for (const char* body : {"", "not json", "<html>502</html>", R"([1,2])", R"({"name":"x"})",
                           R"({"containers":{}})", R"({"containers":null})", "{\"containers\":[",
                           "\"containers\""}) {
    const auto members = parseRancherMembers(body, "app", "r");
    ASSERT_FALSE(members) << body;
    EXPECT_EQ(members.error().code, Error::Code::Invalid) << body;
  }
  EXPECT_EQ(nodesOf(parseRancherMembers(R"({"containers":[]})", "app", "r")), Nodes{});
}

TEST(ParseRancherMembers, DeeplyNestedInputIsAnErrorNotACrash) {
  // Whoever controls the metadata endpoint controls this body; nesting must not overflow the stack.
  std::string body = R"({"containers":[{"ips":)";
  body += std::string(100000, '[');
  const auto members = parseRancherMembers(body, "app", "r");
  EXPECT_FALSE(members);
}

// --- DNS -------------------------------------------------------------------------------------

Error noData() { return caresError(ARES_ENODATA, "A lookup of 'app.test'"); }
Error nxDomain() { return caresError(ARES_ENOTFOUND, "A lookup of 'app.test'"); }

TEST(DnsAnswerRule, TheResolversNoDataIsRecognisedAndNxDomainIsNot) {
  EXPECT_TRUE(isNoDataAnswer(noData()));
  EXPECT_FALSE(isNoDataAnswer(nxDomain()));
  EXPECT_FALSE(isNoDataAnswer(Error{Error::Code::Unavailable, "(NODATA)"}));
}

TEST(DnsAnswerRule, AddressesBecomeSortedUniqueMembersWithTheSmallestTtl) {
  const Result<std::vector<DnsAddress>> answer = std::vector<DnsAddress>{
      {"10.0.0.2", 30s}, {"fd00::1", 10s}, {"10.0.0.1", 60s}, {"10.0.0.2", 30s}, {"", 1s}};

  const Result<DnsMembers> members = membersFromAddressAnswer(answer, "app", "dns");

  EXPECT_EQ(nodesOf(members), (Nodes{"app@10.0.0.1", "app@10.0.0.2", "app@fd00::1"}));
  ASSERT_TRUE(members);
  EXPECT_EQ(members->ttl, 10s);
  EXPECT_EQ(members->candidates.front().member.ips, Nodes{"10.0.0.1"});
}

TEST(DnsAnswerRule, NoDataIsNoPeers) {
  const Result<DnsMembers> addresses = membersFromAddressAnswer(noData(), "app", "dns");
  const Result<DnsMembers> services = membersFromServiceAnswer(noData(), "app", "dns");

  EXPECT_EQ(nodesOf(addresses), Nodes{});
  EXPECT_EQ(nodesOf(services), Nodes{});
  ASSERT_TRUE(addresses);
  EXPECT_FALSE(addresses->ttl.has_value());
}

TEST(DnsAnswerRule, NxDomainAndEveryOtherFailureIsUnknown) {
  for (const Error& error : {nxDomain(), Error{Error::Code::NotFound, "unscripted"},
                             Error{Error::Code::Unavailable, "SERVFAIL"},
                             Error{Error::Code::Timeout, "timeout"},
                             Error{Error::Code::Cancelled, "stop"}}) {
    const Result<DnsMembers> addresses = membersFromAddressAnswer(error, "app", "dns");
    const Result<DnsMembers> services = membersFromServiceAnswer(error, "app", "dns");
    ASSERT_FALSE(addresses) << error.message;
    EXPECT_EQ(addresses.error(), error);
    ASSERT_FALSE(services) << error.message;
    EXPECT_EQ(services.error(), error);
  }
}

TEST(DnsAnswerRule, ServiceTargetsLoseTheirTrailingDotAndEmptyTargetsAreSkipped) {
  const Result<std::vector<DnsService>> answer = std::vector<DnsService>{
      {"app-1.app.svc.", 4369, 0, 0, 20s}, {"app-0.app.svc", 4369, 0, 0, 5s},
      {".", 4369, 0, 0, 1s}, {"", 4369, 0, 0, 1s}, {"app-0.app.svc.", 4369, 0, 0, 30s}};

  const Result<DnsMembers> members = membersFromServiceAnswer(answer, "app", "srv");

  EXPECT_EQ(nodesOf(members), (Nodes{"app@app-0.app.svc", "app@app-1.app.svc"}));
  ASSERT_TRUE(members);
  EXPECT_EQ(members->ttl, 5s);
  EXPECT_EQ(members->candidates.front().member.source, "srv");
}

} // namespace
} // namespace libcluster
