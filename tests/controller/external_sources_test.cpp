#include "controller/external_sources.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "fakes/fake_resolver.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

TopologySpec dnsSpec(DnsSource dns) {
  TopologySpec spec;
  spec.nodeBasename = "app";
  TopologySource source;
  source.name = "dns";
  source.dns = std::move(dns);
  spec.sources.push_back(source);
  return spec;
}

std::vector<std::string> nodesOf(const SourceSnapshot& snapshot) {
  std::vector<std::string> nodes;
  for (const Candidate& c : snapshot.candidates) {
    nodes.push_back(c.member.node);
  }
  return nodes;
}

class ExternalSourcesTest : public testing::Test {
protected:
  FakeResolver resolver_;
  FakeClock clock_;
  std::vector<std::string> changed_;
  std::string body_ = R"({"containers": [{"ips": ["10.42.0.2"]}, {"ips": ["10.42.0.1", "10.9.9.9"]}, {}]})";
  ExternalSources sources_{resolver_,
                           [this](const std::string&, std::stop_token) -> Result<std::string> {
                             return body_;
                           },
                           clock_, [this](const std::string& key) { changed_.push_back(key); }};
};

TEST_F(ExternalSourcesTest, ResolvesAddressesAndNotifiesTheTopology) {
  resolver_.answerAddresses("app.test", std::vector<DnsAddress>{{"10.0.0.2", 30s}, {"10.0.0.1", 30s}});
  const TopologySpec spec = dnsSpec(DnsSource{.name = "app.test"});
  sources_.track("ns/t", spec);

  sources_.refreshDue({});

  const SourceSnapshot snapshot = sources_.snapshot("ns/t", spec.sources[0], "app");
  EXPECT_TRUE(snapshot.answered);
  EXPECT_EQ(nodesOf(snapshot), (std::vector<std::string>{"app@10.0.0.1", "app@10.0.0.2"}));
  EXPECT_EQ(changed_, std::vector<std::string>{"ns/t"});
}

TEST_F(ExternalSourcesTest, KeepsTheLastAnswerWhenALookupFails) {
  resolver_.answerAddresses("app.test", std::vector<DnsAddress>{{"10.0.0.1", 1s}});
  const TopologySpec spec = dnsSpec(DnsSource{.name = "app.test", .minRefreshSeconds = 1});
  sources_.track("ns/t", spec);
  sources_.refreshDue({});
  resolver_.answerAddresses("app.test", Error{Error::Code::Unavailable, "SERVFAIL"});

  clock_.advance(2s);
  sources_.refreshDue({});

  const SourceSnapshot snapshot = sources_.snapshot("ns/t", spec.sources[0], "app");
  EXPECT_EQ(nodesOf(snapshot), std::vector<std::string>{"app@10.0.0.1"});
  ASSERT_TRUE(snapshot.error);
  EXPECT_EQ(snapshot.error->message, "SERVFAIL");
  EXPECT_EQ(changed_.size(), 2u) << "the error is news too";
}

TEST_F(ExternalSourcesTest, TreatsNotFoundAsUnknownNotEmpty) {
  resolver_.answerAddresses("app.test", std::vector<DnsAddress>{{"10.0.0.1", 1s}});
  const TopologySpec spec = dnsSpec(DnsSource{.name = "app.test", .minRefreshSeconds = 1});
  sources_.track("ns/t", spec);
  sources_.refreshDue({});
  resolver_.answerAddresses("app.test", Error{Error::Code::NotFound, "the name does not exist (NXDOMAIN)"});

  clock_.advance(2s);
  sources_.refreshDue({});

  const SourceSnapshot snapshot = sources_.snapshot("ns/t", spec.sources[0], "app");
  EXPECT_EQ(nodesOf(snapshot), std::vector<std::string>{"app@10.0.0.1"});
  EXPECT_TRUE(snapshot.error);
}

TEST_F(ExternalSourcesTest, RefreshesByTtlWithinTheSourceBounds) {
  resolver_.answerAddresses("app.test", std::vector<DnsAddress>{{"10.0.0.1", 600s}});
  const TopologySpec spec = dnsSpec(DnsSource{.name = "app.test", .minRefreshSeconds = 2, .maxRefreshSeconds = 10});
  sources_.track("ns/t", spec);
  sources_.refreshDue({});

  clock_.advance(9s);
  sources_.refreshDue({});
  EXPECT_EQ(resolver_.calls("app.test"), 1) << "not due before maxRefreshSeconds";

  clock_.advance(2s);
  sources_.refreshDue({});
  EXPECT_EQ(resolver_.calls("app.test"), 2);
}

TEST_F(ExternalSourcesTest, ResolvesSrvTargetsIntoNodeNames) {
  resolver_.answerServices("app.svc", std::vector<DnsService>{{"app-1.app.svc", 4369, 10, 50, 30s},
                                                              {"app-0.app.svc", 4369, 10, 50, 30s}});
  const TopologySpec spec = dnsSpec(DnsSource{.name = "app.svc", .recordType = DnsSource::RecordType::Srv});
  sources_.track("ns/t", spec);

  sources_.refreshDue({});

  EXPECT_EQ(nodesOf(sources_.snapshot("ns/t", spec.sources[0], "app")),
            (std::vector<std::string>{"app@app-0.app.svc", "app@app-1.app.svc"}));
}

TEST_F(ExternalSourcesTest, ReadsRancherContainersFirstIps) {
  TopologySpec spec;
  spec.nodeBasename = "app";
  TopologySource source;
  source.name = "rancher";
  source.rancher = RancherSource{};
  spec.sources.push_back(source);
  sources_.track("ns/t", spec);

  sources_.refreshDue({});

  EXPECT_EQ(nodesOf(sources_.snapshot("ns/t", spec.sources[0], "app")),
            (std::vector<std::string>{"app@10.42.0.1", "app@10.42.0.2"}));
}

TEST_F(ExternalSourcesTest, ARancherContainerWithAnEmptyAddressIsNotAMember) {
  // The agent's rule too (parseRancherMembers): "app@" is never a member.
  body_ = R"({"containers": [{"ips": [""]}, {"ips": ["10.42.0.3"]}]})";
  TopologySpec spec;
  spec.nodeBasename = "app";
  TopologySource source;
  source.name = "rancher";
  source.rancher = RancherSource{};
  spec.sources.push_back(source);
  sources_.track("ns/t", spec);

  sources_.refreshDue({});

  const SourceSnapshot snapshot = sources_.snapshot("ns/t", spec.sources[0], "app");
  EXPECT_FALSE(snapshot.error);
  EXPECT_EQ(nodesOf(snapshot), std::vector<std::string>{"app@10.42.0.3"});
}

TEST_F(ExternalSourcesTest, ABrokenRancherAnswerKeepsTheLastMembers) {
  TopologySpec spec;
  spec.nodeBasename = "app";
  TopologySource source;
  source.name = "rancher";
  source.rancher = RancherSource{.pollIntervalSeconds = 1};
  spec.sources.push_back(source);
  sources_.track("ns/t", spec);
  sources_.refreshDue({});
  body_ = "<html>502 Bad Gateway</html>";

  clock_.advance(2s);
  sources_.refreshDue({});

  const SourceSnapshot snapshot = sources_.snapshot("ns/t", spec.sources[0], "app");
  ASSERT_TRUE(snapshot.error);
  EXPECT_EQ(snapshot.error->code, Error::Code::Invalid);
  EXPECT_EQ(nodesOf(snapshot), (std::vector<std::string>{"app@10.42.0.1", "app@10.42.0.2"}));
}

TEST_F(ExternalSourcesTest, ANameWithoutRecordsIsNoPeers) {
  // NODATA: the server says the name exists and has no such records; the same rule as the agent.
  resolver_.answerAddresses("app.test", std::vector<DnsAddress>{{"10.0.0.1", 1s}});
  resolver_.answerServices("app.svc", std::vector<DnsService>{{"app-0.app.svc", 4369, 10, 50, 1s}});
  const TopologySpec a = dnsSpec(DnsSource{.name = "app.test", .minRefreshSeconds = 1});
  const TopologySpec srv = dnsSpec(DnsSource{.name = "app.svc", .recordType = DnsSource::RecordType::Srv,
                                             .minRefreshSeconds = 1});
  sources_.track("ns/a", a);
  sources_.track("ns/srv", srv);
  sources_.refreshDue({});
  const Error noData{Error::Code::NotFound, "A lookup of 'app.test' failed: the name has no records of "
                                            "that type (NODATA) [ARES_ENODATA]"};
  resolver_.answerAddresses("app.test", noData);
  resolver_.answerServices("app.svc", noData);

  clock_.advance(2s);
  sources_.refreshDue({});

  for (const auto& [key, spec] : {std::pair{"ns/a", a}, std::pair{"ns/srv", srv}}) {
    const SourceSnapshot snapshot = sources_.snapshot(key, spec.sources[0], "app");
    EXPECT_TRUE(snapshot.answered) << key;
    EXPECT_FALSE(snapshot.error) << key;
    EXPECT_TRUE(snapshot.candidates.empty()) << key;
  }
}

TEST_F(ExternalSourcesTest, ForgetsSourcesATopologyNoLongerHas) {
  resolver_.answerAddresses("a.test", std::vector<DnsAddress>{{"10.0.0.1", 30s}});
  const TopologySpec first = dnsSpec(DnsSource{.name = "a.test"});
  sources_.track("ns/t", first);
  sources_.refreshDue({});

  sources_.track("ns/t", dnsSpec(DnsSource{.name = "b.test"}));

  EXPECT_FALSE(sources_.snapshot("ns/t", first.sources[0], "app").answered);
}

} // namespace
} // namespace libcluster
