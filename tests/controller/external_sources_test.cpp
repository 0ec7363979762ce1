#include "controller/external_sources.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "fakes/fake_resolver.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

/// A spec (node basename "app") with `source` as its one source.
TopologySpec specWith(TopologySource source) {
  TopologySpec spec;
  spec.nodeBasename = "app";
  spec.sources.push_back(std::move(source));
  return spec;
}

TopologySpec dnsSpec(DnsSource dns) {
  TopologySource source;
  source.name = "dns";
  source.dns = std::move(dns);
  return specWith(std::move(source));
}

TopologySpec rancherSpec(RancherSource rancher = {}) {
  TopologySource source;
  source.name = "rancher";
  source.rancher = std::move(rancher);
  return specWith(std::move(source));
}

TopologySpec rancherSpec(const std::string& url) { return rancherSpec(RancherSource{.url = url}); }

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

/// A failed lookup after an answer: SERVFAIL, and NXDOMAIN too (unknown, not empty).
class ExternalSourcesLookupFailureTest : public ExternalSourcesTest,
                                         public testing::WithParamInterface<Error> {};

TEST_P(ExternalSourcesLookupFailureTest, KeepsTheLastAnswerAndReportsTheError) {
  resolver_.answerAddresses("app.test", std::vector<DnsAddress>{{"10.0.0.1", 1s}});
  const TopologySpec spec = dnsSpec(DnsSource{.name = "app.test", .minRefreshSeconds = 1});
  sources_.track("ns/t", spec);
  sources_.refreshDue({});
  resolver_.answerAddresses("app.test", GetParam());

  clock_.advance(2s);
  sources_.refreshDue({});

  const SourceSnapshot snapshot = sources_.snapshot("ns/t", spec.sources[0], "app");
  EXPECT_EQ(nodesOf(snapshot), std::vector<std::string>{"app@10.0.0.1"});
  ASSERT_TRUE(snapshot.error);
  EXPECT_EQ(snapshot.error->message, GetParam().message);
  EXPECT_EQ(changed_.size(), 2u) << "the error is news too";
}

INSTANTIATE_TEST_SUITE_P(
    ServfailAndNxdomain, ExternalSourcesLookupFailureTest,
    testing::Values(Error{Error::Code::Unavailable, "SERVFAIL"},
                    Error{Error::Code::NotFound, "the name does not exist (NXDOMAIN)"}),
    [](const testing::TestParamInfo<Error>& info) {
      return info.param.code == Error::Code::NotFound ? std::string("NotFound")
                                                      : std::string("Unavailable");
    });

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
  const TopologySpec spec = rancherSpec();
  sources_.track("ns/t", spec);

  sources_.refreshDue({});

  EXPECT_EQ(nodesOf(sources_.snapshot("ns/t", spec.sources[0], "app")),
            (std::vector<std::string>{"app@10.42.0.1", "app@10.42.0.2"}));
}

TEST_F(ExternalSourcesTest, ARancherContainerWithAnEmptyAddressIsNotAMember) {
  // The agent's rule too (parseRancherMembers): "app@" is never a member.
  body_ = R"({"containers": [{"ips": [""]}, {"ips": ["10.42.0.3"]}]})";
  const TopologySpec spec = rancherSpec();
  sources_.track("ns/t", spec);

  sources_.refreshDue({});

  const SourceSnapshot snapshot = sources_.snapshot("ns/t", spec.sources[0], "app");
  EXPECT_FALSE(snapshot.error);
  EXPECT_EQ(nodesOf(snapshot), std::vector<std::string>{"app@10.42.0.3"});
}

TEST_F(ExternalSourcesTest, ABrokenRancherAnswerKeepsTheLastMembers) {
  const TopologySpec spec = rancherSpec(RancherSource{.pollIntervalSeconds = 1});
  sources_.track("ns/t", spec);
  sources_.refreshDue({});
  body_ = "<html>502 Bad Gateway</html>";

  clock_.advance(2s);
  sources_.refreshDue({});

  const SourceSnapshot snapshot = sources_.snapshot("ns/t", spec.sources[0], "app");
  ASSERT_TRUE(snapshot.error);
  // Status says only that the fetch failed (issue 9, H2); the parse error goes to the log.
  EXPECT_EQ(snapshot.error->code, Error::Code::Unavailable);
  EXPECT_EQ(snapshot.error->message, "fetch failed");
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

/// A rancher source whose fetcher answers `answer`, counting calls and failure reasons.
class RancherFetchTest : public testing::Test {
protected:
  ExternalSources make(std::vector<std::string> allowed = {"rancher-metadata"}) {
    return ExternalSources(
        resolver_,
        [this](const std::string& url, std::stop_token) -> Result<std::string> {
          fetched_.push_back(url);
          return answer_;
        },
        clock_, [](const std::string&) {},
        ExternalSources::Options{
            .allowedRancherHosts = std::move(allowed),
            .onFetchFailure = [this](std::string_view reason) { reasons_.emplace_back(reason); }});
  }

  FakeResolver resolver_;
  FakeClock clock_;
  Result<std::string> answer_ = std::string(R"({"containers": [{"ips": ["10.42.0.1"]}]})");
  std::vector<std::string> fetched_;
  std::vector<std::string> reasons_;
};

TEST_F(RancherFetchTest, NeverFetchesAHostOffTheAllowList) {
  ExternalSources sources = make();
  const TopologySpec spec = rancherSpec("http://169.254.169.254/latest/meta-data/");
  sources.track("ns/t", spec);

  sources.refreshDue({});

  const SourceSnapshot snapshot = sources.snapshot("ns/t", spec.sources[0], "app");
  EXPECT_TRUE(fetched_.empty());
  ASSERT_TRUE(snapshot.error);
  EXPECT_EQ(snapshot.error->code, Error::Code::Invalid);
  EXPECT_EQ(snapshot.error->message, "url not allowed");
  EXPECT_TRUE(snapshot.candidates.empty());
  EXPECT_EQ(reasons_, std::vector<std::string>{"not_allowed"});
}

TEST_F(RancherFetchTest, UserInfoCannotSmuggleAnotherHostPastTheList) {
  ExternalSources sources = make();
  const TopologySpec spec = rancherSpec("http://rancher-metadata@10.0.0.1/latest/self/service");
  sources.track("ns/t", spec);

  sources.refreshDue({});

  EXPECT_TRUE(fetched_.empty());
  EXPECT_EQ(sources.snapshot("ns/t", spec.sources[0], "app").error->message, "url not allowed");
}

TEST_F(RancherFetchTest, FetchesAHostOnTheList) {
  ExternalSources sources = make({"metadata.internal:8080"});
  const TopologySpec spec = rancherSpec("http://metadata.internal:8080/latest/self/service");
  sources.track("ns/t", spec);

  sources.refreshDue({});

  EXPECT_EQ(fetched_.size(), 1u);
  EXPECT_EQ(nodesOf(sources.snapshot("ns/t", spec.sources[0], "app")),
            std::vector<std::string>{"app@10.42.0.1"});
}

TEST_F(RancherFetchTest, StatusDoesNotTellRefusedFromTimedOut) {
  ExternalSources sources = make();
  const TopologySpec spec = rancherSpec("http://rancher-metadata/latest/self/service");
  sources.track("ns/t", spec);
  answer_ = Error{Error::Code::Unavailable, "GET http://10.1.2.3:80/: Connection refused"};
  sources.refreshDue({});
  const Error refused = *sources.snapshot("ns/t", spec.sources[0], "app").error;
  answer_ = Error{Error::Code::Timeout, "GET http://10.1.2.3:80/: no complete answer in 15000 ms"};
  clock_.advance(std::chrono::hours(1));

  sources.refreshDue({});

  const Error timedOut = *sources.snapshot("ns/t", spec.sources[0], "app").error;
  EXPECT_EQ(refused.message, "fetch failed");
  EXPECT_EQ(timedOut, refused);
  EXPECT_EQ(reasons_, (std::vector<std::string>{"unreachable", "timeout"}));
}

TEST_F(RancherFetchTest, AnOversizeAnswerIsTooLargeAndKeepsTheLastMembers) {
  ExternalSources sources = make();
  const TopologySpec spec = rancherSpec("http://rancher-metadata/latest/self/service");
  sources.track("ns/t", spec);
  sources.refreshDue({});
  answer_ = Error{Error::Code::Invalid, "GET http://rancher-metadata:80/: response body larger than "
                                        "1048576 bytes"};
  clock_.advance(std::chrono::hours(1));

  sources.refreshDue({});

  const SourceSnapshot snapshot = sources.snapshot("ns/t", spec.sources[0], "app");
  ASSERT_TRUE(snapshot.error);
  EXPECT_EQ(snapshot.error->message, "response too large");
  EXPECT_EQ(nodesOf(snapshot), std::vector<std::string>{"app@10.42.0.1"});
  EXPECT_EQ(reasons_, std::vector<std::string>{"too_large"});
}

TEST_F(RancherFetchTest, AnUnreadableAllowListAllowsNothing) {
  ExternalSources sources = make({"http://rancher-metadata/"});
  const TopologySpec spec = rancherSpec("http://rancher-metadata/latest/self/service");
  sources.track("ns/t", spec);

  sources.refreshDue({});

  EXPECT_TRUE(fetched_.empty());
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
