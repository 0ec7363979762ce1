#include "membership/membership.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

const std::string kNow = "2026-01-01T00:00:00Z";
const std::string kLater = "2026-01-01T00:05:00Z";

PodInfo pod(std::string name, std::string ip) {
  PodInfo p;
  p.name = std::move(name);
  p.namespaceName = "prod";
  p.phase = "Running";
  p.podIP = ip;
  p.podIPs = {ip};
  p.creationTimestamp = "2026-01-01T00:00:00Z";
  return p;
}

SourceSnapshot answered(std::string name, std::string kind, std::vector<Candidate> candidates) {
  return SourceSnapshot{std::move(name), std::move(kind), std::move(candidates), std::nullopt, true};
}

std::vector<std::string> nodes(const TopologyStatus& status) {
  std::vector<std::string> out;
  for (const Member& m : status.members) {
    out.push_back(m.node);
  }
  return out;
}

TEST(MembersFromPods, SkipsIneligibleAndUnnamedPods) {
  PodInfo pending = pod("app-3", "");
  pending.phase = "Pending";
  PodInfo leaving = pod("app-4", "10.0.0.4");
  leaving.terminating = true;

  const auto candidates = membersFromPods({pod("app-0", "10.0.0.1"), pending, leaving},
                                          KubernetesSource{}, "app", "pods");

  ASSERT_EQ(candidates.size(), 1u);
  EXPECT_EQ(candidates[0].member.node, "app@10.0.0.1");
  EXPECT_EQ(candidates[0].member.pod, "app-0");
  EXPECT_EQ(candidates[0].member.source, "pods");
}

TEST(MembersFromPods, APendingPodWithAnAddressIsNotAMemberYet) {
  // The rule the agent's kubernetes strategy shares (tests/strategy/kubernetes_strategy_test.cpp).
  KubernetesSource source;
  PodInfo pending;
  pending.name = "app-0";
  pending.namespaceName = "ns";
  pending.phase = "Pending";
  pending.podIP = "10.0.0.1";
  pending.podIPs = {"10.0.0.1"};
  PodInfo running = pending;
  running.name = "app-1";
  running.phase = "Running";

  const std::vector<Candidate> members = membersFromPods({pending, running}, source, "app", "k");

  ASSERT_EQ(members.size(), 1U);
  EXPECT_EQ(members[0].member.node, "app@10.0.0.1");
  EXPECT_EQ(members[0].member.pod, "app-1");
}

TEST(MembersFromEndpointSlices, ServingAndTerminatingDecideAsTheAgentDoes) {
  // The rule the agent's kubernetes strategy shares (tests/strategy/kubernetes_strategy_test.cpp).
  const nlohmann::json slice = nlohmann::json::parse(R"(
    {"metadata":{"name":"s","namespace":"ns"},"addressType":"IPv4","endpoints":[
      {"addresses":["10.0.0.1"],"conditions":{"ready":true,"serving":true,"terminating":false}},
      {"addresses":["10.0.0.2"],"conditions":{"ready":false,"serving":true,"terminating":true}},
      {"addresses":["10.0.0.3"],"conditions":{"ready":false,"serving":false}},
      {"addresses":["10.0.0.4"],"conditions":{}}]})");
  KubernetesSource source;
  source.resource = KubernetesSource::Resource::EndpointSlices;
  const auto nodes = [&](const KubernetesSource& s) {
    std::vector<std::string> out;
    for (const Candidate& c : membersFromEndpointSlices({slice}, s, "app", "k")) {
      out.push_back(c.member.node);
    }
    return out;
  };

  source.readiness = KubernetesSource::Readiness::ReadyOnly;
  EXPECT_EQ(nodes(source), (std::vector<std::string>{"app@10.0.0.1", "app@10.0.0.4"}));
  source.readiness = KubernetesSource::Readiness::IncludeNotReady;
  EXPECT_EQ(nodes(source), (std::vector<std::string>{"app@10.0.0.1", "app@10.0.0.3", "app@10.0.0.4"}));
  source.includeTerminating = true;
  EXPECT_EQ(nodes(source),
            (std::vector<std::string>{"app@10.0.0.1", "app@10.0.0.2", "app@10.0.0.3", "app@10.0.0.4"}));
}

TEST(MembersFromEndpointSlices, FieldsOfTheWrongTypeAreSkippedNotThrown) {
  // Whoever serves the list (an API server, or anything claiming to be one) chooses these types.
  const nlohmann::json slice = nlohmann::json::parse(R"(
    {"metadata":{"namespace":"ns"},"addressType":5,"endpoints":[
      {"addresses":["10.0.0.1"],"hostname":[1],"targetRef":{"name":{}}},
      {"addresses":["10.0.0.2"],"hostname":"h","targetRef":{"name":"p"}}]})");
  KubernetesSource source;
  source.resource = KubernetesSource::Resource::EndpointSlices;
  source.mode = KubernetesSource::Mode::Hostname;
  source.serviceName = "svc";

  std::vector<Candidate> members;
  ASSERT_NO_THROW(members = membersFromEndpointSlices({slice}, source, "app", "k"));

  ASSERT_EQ(members.size(), 1U);
  EXPECT_EQ(members[0].member.node, "app@h.svc.ns.svc.cluster.local");

  source.mode = KubernetesSource::Mode::Ip;
  const nlohmann::json oddNamespace = nlohmann::json::parse(
      R"({"metadata":{"namespace":7},"endpoints":[{"addresses":["10.0.0.3"]}]})");
  ASSERT_NO_THROW(members = membersFromEndpointSlices({oddNamespace}, source, "app", "k"));
  ASSERT_EQ(members.size(), 1U);
  EXPECT_EQ(members[0].member.node, "app@10.0.0.3");
}

TEST(ChooseSeed, PrefersTheLowestStatefulSetOrdinal) {
  PodInfo a = pod("app-2", "10.0.0.2");
  a.ordinal = 2;
  a.creationTimestamp = "2025-01-01T00:00:00Z";
  PodInfo b = pod("app-10", "10.0.0.10");
  b.ordinal = 10;
  PodInfo c = pod("app-1", "10.0.0.1");
  c.ordinal = 1;
  c.creationTimestamp = "2026-06-01T00:00:00Z";

  EXPECT_EQ(chooseSeed(membersFromPods({a, b, c}, {}, "app", "pods")), "app@10.0.0.1");
}

TEST(ChooseSeed, OtherwiseTheOldestPodThenTheName) {
  PodInfo young = pod("web-b", "10.0.0.2");
  young.creationTimestamp = "2026-02-01T00:00:00Z";
  PodInfo old1 = pod("web-z", "10.0.0.9");
  old1.creationTimestamp = "2026-01-01T00:00:00Z";
  PodInfo old2 = pod("web-a", "10.0.0.8");
  old2.creationTimestamp = "2026-01-01T00:00:00Z";

  auto candidates = membersFromPods({young, old1, old2}, {}, "app", "pods");
  auto statics = membersFromNodes({"app@0.0.0.0"}, "vms");
  candidates.insert(candidates.end(), statics.begin(), statics.end());

  EXPECT_EQ(chooseSeed(candidates), "app@10.0.0.8");
  EXPECT_EQ(chooseSeed(statics), "app@0.0.0.0");
  EXPECT_EQ(chooseSeed({}), "");
}

TEST(ChooseSeed, PodsCreatedInTheSameSecondTieByPodNameNotByNode) {
  // Three pods of one Deployment created in one second; the IPs run the other way round.
  std::vector<PodInfo> pods{pod("web-2", "10.0.0.1"), pod("web-1", "10.0.0.2"),
                            pod("web-0", "10.0.0.3")};
  for (PodInfo& p : pods) {
    p.creationTimestamp = "2026-03-01T12:00:00Z";
  }

  EXPECT_EQ(chooseSeed(membersFromPods(pods, {}, "web", "pods")), "web@10.0.0.3");
}

TEST(BuildStatus, UnitesSourcesSortedAndCounted) {
  std::vector<SourceSnapshot> sources{
      answered("pods", "kubernetes", membersFromPods({pod("b", "10.0.0.2"), pod("a", "10.0.0.1")},
                                                     {}, "app", "pods")),
      answered("vms", "epmd", membersFromNodes({"app@vm1", "app@10.0.0.1"}, "vms"))};

  const TopologyStatus status = buildStatus({}, 4, sources, kNow);

  EXPECT_EQ(nodes(status), (std::vector<std::string>{"app@10.0.0.1", "app@10.0.0.2", "app@vm1"}));
  EXPECT_EQ(status.members[0].source, "pods") << "the first source wins a duplicate";
  EXPECT_EQ(status.memberCount, 3);
  EXPECT_EQ(status.readyCount, 1) << "pods are not Ready, the static member counts as ready";
  EXPECT_EQ(status.observedGeneration, 4);
  EXPECT_EQ(status.sourceSummary, "epmd,kubernetes");
  EXPECT_EQ(findCondition(status.conditions, "Ready")->status, "True");
  EXPECT_EQ(findCondition(status.conditions, "Degraded")->status, "False");
  EXPECT_EQ(findCondition(status.conditions, "Converged")->status, "Unknown");
}

TEST(BuildStatus, KeepsTheLastGoodMembersAndReportsDegradedOnFailure) {
  SourceSnapshot dns = answered("dns", "dns", membersFromAddresses({"10.0.0.5"}, "app", "dns"));
  dns.error = Error{Error::Code::Unavailable, "SERVFAIL for app.example.com"};

  const TopologyStatus status = buildStatus({}, 1, {dns}, kNow);

  EXPECT_EQ(nodes(status), std::vector<std::string>{"app@10.0.0.5"});
  const Condition* degraded = findCondition(status.conditions, "Degraded");
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->status, "True");
  EXPECT_EQ(degraded->reason, "SourceFailed");
  EXPECT_NE(degraded->message.find("SERVFAIL"), std::string::npos);
  EXPECT_EQ(findCondition(status.conditions, "Ready")->status, "False");
}

TEST(BuildStatus, IsIdempotentIncludingTransitionTimes) {
  std::vector<SourceSnapshot> sources{
      answered("pods", "kubernetes", membersFromPods({pod("a", "10.0.0.1")}, {}, "app", "pods"))};
  const TopologyStatus first = buildStatus({}, 1, sources, kNow);

  const TopologyStatus second = buildStatus(first, 1, sources, kLater);

  EXPECT_EQ(first, second);
}

TEST(BuildStatus, ConvergedFollowsAgentReports) {
  PodInfo a = pod("a", "10.0.0.1");
  PodInfo b = pod("b", "10.0.0.2");
  a.connected = true;
  b.connected = false;
  auto status = buildStatus({}, 1, {answered("pods", "kubernetes", membersFromPods({a, b}, {}, "app", "pods"))}, kNow);
  EXPECT_EQ(findCondition(status.conditions, "Converged")->reason, "PeersMissing");
  EXPECT_EQ(status.connectedCount, 1);

  b.connected = true;
  status = buildStatus(status, 1, {answered("pods", "kubernetes", membersFromPods({a, b}, {}, "app", "pods"))}, kLater);

  const Condition* converged = findCondition(status.conditions, "Converged");
  EXPECT_EQ(converged->status, "True");
  EXPECT_EQ(converged->lastTransitionTime, kLater);
  EXPECT_EQ(status.connectedCount, 2);
}

TEST(BuildStatus, StaysBoundedAtManyMembers) {
  std::vector<std::string> many;
  for (int i = 0; i < 2500; ++i) {
    many.push_back("app@node-" + std::to_string(10000 + i) + ".example.com");
  }

  const TopologyStatus status = buildStatus({}, 1, {answered("vms", "epmd", membersFromNodes(many, "vms"))}, kNow);

  EXPECT_EQ(status.memberCount, 2500);
  EXPECT_EQ(status.members.size(), kMaxStatusMembers);
  EXPECT_TRUE(status.membersTruncated);
  EXPECT_LT(toJson(status).dump().size(), 512u * 1024u);
}

TEST(InvalidStatus, KeepsMembersAndNamesTheField) {
  const TopologyStatus good = buildStatus(
      {}, 1, {answered("vms", "epmd", membersFromNodes({"app@vm1"}, "vms"))}, kNow);

  const TopologyStatus bad =
      invalidStatus(good, 2, Error{Error::Code::Invalid, "spec.nodeBasename: required"}, kLater);

  EXPECT_EQ(nodes(bad), std::vector<std::string>{"app@vm1"});
  EXPECT_EQ(bad.observedGeneration, 2);
  EXPECT_EQ(findCondition(bad.conditions, "Invalid")->message, "spec.nodeBasename: required");
  EXPECT_EQ(findCondition(bad.conditions, "Ready")->status, "False");

  const TopologyStatus fixed = buildStatus(bad, 3, {answered("vms", "epmd", membersFromNodes({"app@vm1"}, "vms"))}, kLater);
  EXPECT_EQ(findCondition(fixed.conditions, "Invalid"), nullptr);
}

} // namespace
} // namespace libcluster
