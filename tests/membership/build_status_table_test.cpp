// buildStatus and chooseSeed case by case: one table per concern (conditions, seed, truncation,
// duplicates), each row a name, the sources as input and what the status must say.
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "membership/membership.h"

namespace libcluster {
namespace {

const std::string kStatusTime = "2026-01-01T00:00:00Z";

Candidate member(std::string node, std::optional<bool> connected = std::nullopt,
                 bool ready = true) {
  Candidate candidate;
  candidate.member.node = std::move(node);
  candidate.member.connected = connected;
  candidate.member.ready = ready;
  return candidate;
}

/// A pod member: node "app@<name>", created at `created`, with an optional StatefulSet ordinal.
Candidate podMember(std::string name, std::string created, std::optional<int> ordinal = {}) {
  Candidate candidate = member("app@" + name);
  candidate.member.pod = name;
  candidate.podName = name;
  candidate.creationTimestamp = std::move(created);
  candidate.ordinal = ordinal;
  return candidate;
}

SourceSnapshot good(std::string name, std::vector<Candidate> candidates) {
  return SourceSnapshot{std::move(name), "kubernetes", std::move(candidates), std::nullopt, true};
}
SourceSnapshot failed(std::string name, std::vector<Candidate> lastGood) {
  return SourceSnapshot{std::move(name), "dns", std::move(lastGood),
                        Error{Error::Code::Unavailable, "SERVFAIL"}, true};
}
SourceSnapshot waiting(std::string name) {
  return SourceSnapshot{std::move(name), "dns", {}, std::nullopt, false};
}

struct Expected {
  std::string status;
  std::string reason;
};

Expected conditionOf(const TopologyStatus& status, const std::string& type) {
  const Condition* found = findCondition(status.conditions, type);
  return found == nullptr ? Expected{"absent", ""} : Expected{found->status, found->reason};
}

struct ConditionCase {
  std::string name;
  std::vector<SourceSnapshot> sources;
  Expected ready;
  Expected degraded;
  Expected converged;
  int memberCount;
};
void PrintTo(const ConditionCase& row, std::ostream* out) { *out << row.name; }

class BuildStatusConditions : public testing::TestWithParam<ConditionCase> {};

TEST_P(BuildStatusConditions, SetsEachConditionAndReason) {
  const ConditionCase& row = GetParam();
  TopologyStatus invalidBefore;
  invalidBefore.conditions.push_back(
      Condition{"Invalid", "True", "InvalidSpec", "spec.sources: required", 1, kStatusTime});

  const TopologyStatus status = buildStatus(invalidBefore, 2, row.sources, kStatusTime);

  EXPECT_EQ(conditionOf(status, "Ready").status, row.ready.status);
  EXPECT_EQ(conditionOf(status, "Ready").reason, row.ready.reason);
  EXPECT_EQ(conditionOf(status, "Degraded").status, row.degraded.status);
  EXPECT_EQ(conditionOf(status, "Degraded").reason, row.degraded.reason);
  EXPECT_EQ(conditionOf(status, "Converged").status, row.converged.status);
  EXPECT_EQ(conditionOf(status, "Converged").reason, row.converged.reason);
  EXPECT_EQ(conditionOf(status, "Invalid").status, "absent") << "a spec that parsed is valid";
  EXPECT_EQ(status.memberCount, row.memberCount);
  EXPECT_EQ(status.observedGeneration, 2);
}

INSTANTIATE_TEST_SUITE_P(
    Table, BuildStatusConditions,
    testing::Values(
        ConditionCase{"AllAnsweredIsReady",
                      {good("pods", {member("a@1", true), member("a@2", true)})},
                      {"True", "MembersResolved"},
                      {"False", "AllSourcesAnswered"},
                      {"True", "AllConnected"},
                      2},
        ConditionCase{"NoSourcesAndNoMembers",
                      {},
                      {"True", "MembersResolved"},
                      {"False", "AllSourcesAnswered"},
                      {"False", "NoMembers"},
                      0},
        ConditionCase{"AnsweredEmptyHasNoMembers",
                      {good("pods", {})},
                      {"True", "MembersResolved"},
                      {"False", "AllSourcesAnswered"},
                      {"False", "NoMembers"},
                      0},
        ConditionCase{"AFailedSourceKeepsItsLastMembersAndDegrades",
                      {good("pods", {member("a@1", true)}), failed("dns", {member("a@9", true)})},
                      {"False", "SourceFailed"},
                      {"True", "SourceFailed"},
                      {"True", "AllConnected"},
                      2},
        ConditionCase{"ASourceThatNeverAnsweredIsWaitedFor",
                      {good("pods", {member("a@1", true)}), waiting("dns")},
                      {"False", "WaitingForSources"},
                      {"False", "AllSourcesAnswered"},
                      {"True", "AllConnected"},
                      1},
        ConditionCase{"AFailureOutranksWaiting",
                      {failed("dns", {}), waiting("dns2")},
                      {"False", "SourceFailed"},
                      {"True", "SourceFailed"},
                      {"False", "NoMembers"},
                      0},
        ConditionCase{"AMemberNotConnectedMeansPeersMissing",
                      {good("pods", {member("a@1", true), member("a@2", false)})},
                      {"True", "MembersResolved"},
                      {"False", "AllSourcesAnswered"},
                      {"False", "PeersMissing"},
                      2},
        ConditionCase{"AMemberWithoutAReportIsUnknown",
                      {good("pods", {member("a@1", true), member("a@2")})},
                      {"True", "MembersResolved"},
                      {"False", "AllSourcesAnswered"},
                      {"Unknown", "AwaitingReports"},
                      2},
        ConditionCase{"NotConnectedOutranksUnreported",
                      {good("pods", {member("a@1"), member("a@2", false)})},
                      {"True", "MembersResolved"},
                      {"False", "AllSourcesAnswered"},
                      {"False", "PeersMissing"},
                      2}),
    [](const testing::TestParamInfo<ConditionCase>& info) { return info.param.name; });

struct SeedCase {
  std::string name;
  std::vector<Candidate> candidates;
  std::string seed;
};
void PrintTo(const SeedCase& row, std::ostream* out) { *out << row.name; }

class BuildStatusSeed : public testing::TestWithParam<SeedCase> {};

TEST_P(BuildStatusSeed, PicksTheDocumentedSeed) {
  const TopologyStatus status = buildStatus({}, 1, {good("pods", GetParam().candidates)}, kStatusTime);

  EXPECT_EQ(status.seed, GetParam().seed);
  EXPECT_EQ(chooseSeed(GetParam().candidates), GetParam().seed);
}

INSTANTIATE_TEST_SUITE_P(
    Table, BuildStatusSeed,
    testing::Values(
        SeedCase{"NoMembersNoSeed", {}, ""},
        SeedCase{"TheOldestPod",
                 {podMember("web-b", "2026-01-01T00:00:02Z"),
                  podMember("web-a", "2026-01-01T00:00:03Z"),
                  podMember("web-c", "2026-01-01T00:00:01Z")},
                 "app@web-c"},
        SeedCase{"PodsOfOneSecondTieByPodName",
                 {podMember("web-2", "2026-01-01T00:00:01Z"),
                  podMember("web-0", "2026-01-01T00:00:01Z"),
                  podMember("web-1", "2026-01-01T00:00:01Z")},
                 "app@web-0"},
        SeedCase{"TheLowestStatefulSetOrdinal",
                 {podMember("db-2", "2026-01-01T00:00:01Z", 2),
                  podMember("db-1", "2026-01-01T00:00:05Z", 1)},
                 "app@db-1"},
        SeedCase{"AnOrdinalOutranksAnOlderPod",
                 {podMember("old", "2020-01-01T00:00:00Z"),
                  podMember("db-3", "2026-01-01T00:00:00Z", 3)},
                 "app@db-3"},
        SeedCase{"PodsOutrankStaticNodes",
                 {member("a@static"), podMember("web-0", "2026-01-01T00:00:00Z")},
                 "app@web-0"},
        SeedCase{"StaticNodesByNodeName", {member("b@2"), member("a@9"), member("c@1")}, "a@9"},
        SeedCase{"WhenTheSeedLeavesTheNextOldestTakesOver",
                 {podMember("web-1", "2026-01-01T00:00:02Z"),
                  podMember("web-2", "2026-01-01T00:00:03Z")},
                 "app@web-1"}),
    [](const testing::TestParamInfo<SeedCase>& info) { return info.param.name; });

struct TruncationCase {
  std::string name;
  std::size_t members;
};
void PrintTo(const TruncationCase& row, std::ostream* out) { *out << row.name; }

class BuildStatusTruncation : public testing::TestWithParam<TruncationCase> {};

TEST_P(BuildStatusTruncation, ListsAtMostTheLimitAndCountsEveryone) {
  std::vector<Candidate> candidates;
  for (std::size_t i = 0; i < GetParam().members; ++i) {
    // Zero-padded so node order is numeric order.
    std::string index = std::to_string(i);
    candidates.push_back(member("app@10.0." + std::string(6 - index.size(), '0') + index, true));
  }

  const TopologyStatus status = buildStatus({}, 1, {good("pods", candidates)}, kStatusTime);

  const std::size_t listed = std::min(GetParam().members, kMaxStatusMembers);
  EXPECT_EQ(status.memberCount, static_cast<int>(GetParam().members));
  EXPECT_EQ(status.readyCount, static_cast<int>(GetParam().members));
  EXPECT_EQ(status.connectedCount, static_cast<int>(GetParam().members));
  ASSERT_EQ(status.members.size(), listed);
  EXPECT_EQ(status.membersTruncated, GetParam().members > kMaxStatusMembers);
  if (listed > 0) {
    EXPECT_EQ(status.members.front().node, candidates.front().member.node);
    EXPECT_EQ(status.members.back().node, candidates[listed - 1].member.node)
        << "the first members by node are listed, not an arbitrary subset";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, BuildStatusTruncation,
    testing::Values(TruncationCase{"None", 0}, TruncationCase{"One", 1},
                    TruncationCase{"JustUnderTheLimit", kMaxStatusMembers - 1},
                    TruncationCase{"AtTheLimit", kMaxStatusMembers},
                    TruncationCase{"OneOver", kMaxStatusMembers + 1},
                    TruncationCase{"FarOver", kMaxStatusMembers + 3000}),
    [](const testing::TestParamInfo<TruncationCase>& info) { return info.param.name; });

struct DuplicateCase {
  std::string name;
  std::vector<SourceSnapshot> sources;
  std::vector<std::string> nodes;
  std::string sourceOfA;
};
void PrintTo(const DuplicateCase& row, std::ostream* out) { *out << row.name; }

class BuildStatusUnion : public testing::TestWithParam<DuplicateCase> {};

TEST_P(BuildStatusUnion, UnitesSourcesFirstSourceWinsSortedByNode) {
  const TopologyStatus status = buildStatus({}, 1, GetParam().sources, kStatusTime);

  std::vector<std::string> nodes;
  std::string sourceOfA;
  for (const Member& m : status.members) {
    nodes.push_back(m.node);
    if (m.node == "a@1") {
      sourceOfA = m.source;
    }
  }
  EXPECT_EQ(nodes, GetParam().nodes);
  EXPECT_EQ(sourceOfA, GetParam().sourceOfA);
  EXPECT_EQ(status.memberCount, static_cast<int>(GetParam().nodes.size()));
}

Candidate from(std::string node, std::string source) {
  Candidate candidate = member(std::move(node));
  candidate.member.source = std::move(source);
  return candidate;
}

INSTANTIATE_TEST_SUITE_P(
    Table, BuildStatusUnion,
    testing::Values(
        DuplicateCase{"OneSource", {good("x", {from("b@2", "x"), from("a@1", "x")})},
                      {"a@1", "b@2"}, "x"},
        DuplicateCase{"FirstSourceWinsADuplicate",
                      {good("x", {from("a@1", "x")}), good("y", {from("a@1", "y"), from("c@3", "y")})},
                      {"a@1", "c@3"},
                      "x"},
        DuplicateCase{"AFailedSourceStillContributesItsLastMembers",
                      {failed("y", {from("a@1", "y")}), good("x", {from("b@2", "x")})},
                      {"a@1", "b@2"},
                      "y"}),
    [](const testing::TestParamInfo<DuplicateCase>& info) { return info.param.name; });

} // namespace
} // namespace libcluster
