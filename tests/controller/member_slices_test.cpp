#include "controller/member_slices.h"

#include <set>

#include <gtest/gtest.h>

#include "fakes/fake_kube_api.h"

namespace libcluster {
namespace {

const SliceOwner kOwner{"prod", "web", "uid-1", 3};

SliceMember member(int i, bool ready = true) {
  const std::string ip = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
  char pod[16];
  std::snprintf(pod, sizeof pod, "web-%05d", i);
  return SliceMember{"app@" + ip, pod, {ip}, ready, false};
}

std::vector<SliceMember> members(int from, int to) {
  std::vector<SliceMember> out;
  for (int i = from; i < to; ++i) {
    out.push_back(member(i));
  }
  return out;
}

MemberSlice slice(const std::string& name, std::vector<SliceMember> list,
                  std::int64_t generation = 3, const std::string& uid = "uid-1") {
  std::sort(list.begin(), list.end(),
            [](const SliceMember& a, const SliceMember& b) { return a.node < b.node; });
  return MemberSlice{.namespaceName = "prod",
                     .name = name,
                     .resourceVersion = "rv-" + name,
                     .ownerName = "web",
                     .ownerUid = uid,
                     .label = "web",
                     .topologyGeneration = generation,
                     .members = std::move(list)};
}

/// The slices after the plan is carried out.
std::vector<MemberSlice> apply(std::vector<MemberSlice> current, const SlicePlan& plan) {
  std::map<std::string, MemberSlice> byName;
  for (MemberSlice& s : current) {
    byName[s.name] = std::move(s);
  }
  for (const MemberSlice& s : plan.deletes) {
    byName.erase(s.name);
  }
  for (const MemberSlice& s : plan.updates) {
    EXPECT_TRUE(byName.contains(s.name)) << s.name;
    byName[s.name] = s;
  }
  int created = 0;
  for (MemberSlice s : plan.creates) {
    s.name = "new-" + std::to_string(created++);
    byName[s.name] = std::move(s);
  }
  std::vector<MemberSlice> out;
  for (auto& [name, s] : byName) {
    out.push_back(std::move(s));
  }
  return out;
}

std::set<std::string> unionOf(const std::vector<MemberSlice>& slices) {
  std::set<std::string> nodes;
  for (const MemberSlice& s : slices) {
    for (const SliceMember& m : s.members) {
      nodes.insert(m.node);
    }
  }
  return nodes;
}

struct Case {
  const char* name;
  std::vector<MemberSlice> current;
  std::vector<SliceMember> desired;
  std::size_t creates;
  std::size_t updates;
  std::size_t deletes;
  int sliceCount;
};

class PlanMemberSlicesTable : public testing::TestWithParam<Case> {};

TEST_P(PlanMemberSlicesTable, WritesTheFewestSlicesAndEndsWithTheDesiredUnion) {
  const Case& c = GetParam();

  const SlicePlan plan = planMemberSlices(c.current, c.desired, kOwner);

  EXPECT_EQ(plan.creates.size(), c.creates);
  EXPECT_EQ(plan.updates.size(), c.updates);
  EXPECT_EQ(plan.deletes.size(), c.deletes);
  EXPECT_EQ(plan.sliceCount, c.sliceCount);
  const std::vector<MemberSlice> after = apply(c.current, plan);
  std::set<std::string> wanted;
  std::size_t listed = 0;
  for (const SliceMember& m : c.desired) {
    wanted.insert(m.node);
  }
  for (const MemberSlice& s : after) {
    EXPECT_LE(s.members.size(), kMaxSliceMembers) << s.name;
    EXPECT_FALSE(s.members.empty()) << s.name;
    EXPECT_TRUE(std::is_sorted(s.members.begin(), s.members.end(),
                               [](const SliceMember& a, const SliceMember& b) {
                                 return a.node < b.node;
                               }));
    listed += s.members.size();
  }
  EXPECT_EQ(unionOf(after), wanted);
  EXPECT_EQ(listed, wanted.size()) << "a member listed twice";
  EXPECT_EQ(static_cast<int>(after.size()), c.sliceCount);
}

std::vector<SliceMember> withFlip(std::vector<SliceMember> list, std::size_t index) {
  list[index].ready = !list[index].ready;
  return list;
}

std::vector<SliceMember> without(std::vector<SliceMember> list, std::size_t index) {
  list.erase(list.begin() + static_cast<std::ptrdiff_t>(index));
  return list;
}

std::vector<SliceMember> plus(std::vector<SliceMember> list, std::vector<SliceMember> more) {
  list.insert(list.end(), more.begin(), more.end());
  return list;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PlanMemberSlicesTable,
    testing::Values(
        Case{"nothing", {}, {}, 0, 0, 0, 0},
        Case{"first250", {}, members(0, 250), 3, 0, 0, 3},
        Case{"unchanged",
             {slice("a", members(0, 100)), slice("b", members(100, 200)),
              slice("c", members(200, 250))},
             members(0, 250), 0, 0, 0, 3},
        Case{"oneReadyFlipRewritesOneSlice",
             {slice("a", members(0, 100)), slice("b", members(100, 200)),
              slice("c", members(200, 250))},
             withFlip(members(0, 250), 150), 0, 1, 0, 3},
        Case{"oneLeaveRewritesOneSlice",
             {slice("a", members(0, 100)), slice("b", members(100, 200)),
              slice("c", members(200, 250))},
             without(members(0, 250), 42), 0, 1, 0, 3},
        Case{"oneJoinGoesToTheSliceWithMostRoom",
             {slice("a", members(0, 100)), slice("b", members(100, 200)),
              slice("c", members(200, 250))},
             members(0, 251), 0, 1, 0, 3},
        Case{"aJoinWhenAllAreFullMakesOneSlice",
             {slice("a", members(0, 100)), slice("b", members(100, 200))}, members(0, 201), 1, 0,
             0, 3},
        Case{"leaveAndJoinShareTheRewrittenSlice",
             {slice("a", members(0, 100)), slice("b", members(100, 200))},
             plus(without(members(0, 200), 5), {member(900)}), 0, 1, 0, 2},
        Case{"lastMemberLeavingDeletesTheSlice",
             {slice("a", members(0, 100)), slice("b", members(100, 101))}, members(0, 100), 0, 0,
             1, 1},
        Case{"smallSlicesMergeWhenSeveralChange",
             {slice("a", members(0, 10)), slice("b", members(10, 20)),
              slice("c", members(20, 30))},
             members(0, 28), 0, 1, 2, 1},
        Case{"smallSlicesStayForOneChange",
             {slice("a", members(0, 10)), slice("b", members(10, 20))}, members(0, 19), 0, 1, 0,
             2},
        Case{"everyoneLeftDeletesEverySlice",
             {slice("a", members(0, 100)), slice("b", members(100, 150))}, {}, 0, 0, 2, 0},
        Case{"anEarlierTopologysSlicesAreDeleted",
             {slice("old", members(0, 50), 1, "uid-0")}, members(0, 50), 1, 0, 1, 1},
        Case{"aForgedOversizedSliceIsCutAndTheRestPlaced",
             {slice("a", members(0, 150))}, members(0, 150), 1, 1, 0, 2},
        Case{"aMemberListedTwiceStaysOnce",
             {slice("a", members(0, 10)), slice("b", members(5, 15))}, members(0, 15), 0, 1, 0,
             2}),
    [](const testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(PlanMemberSlices, ASpecChangeRewritesOneSliceForItsGeneration) {
  const std::vector<MemberSlice> current{slice("a", members(0, 100), 2),
                                         slice("b", members(100, 150), 2)};

  const SlicePlan plan = planMemberSlices(current, members(0, 150), kOwner);

  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].topologyGeneration, 3);
  EXPECT_EQ(plan.updates[0].members, current[0].members);
  EXPECT_TRUE(plan.creates.empty());
  EXPECT_TRUE(plan.deletes.empty());
}

TEST(PlanMemberSlices, UpdatesCarryTheResourceVersionTheyReplace) {
  const std::vector<MemberSlice> current{slice("a", members(0, 10))};

  const SlicePlan plan = planMemberSlices(current, withFlip(members(0, 10), 3), kOwner);

  ASSERT_EQ(plan.updates.size(), 1u);
  EXPECT_EQ(plan.updates[0].resourceVersion, "rv-a");
  EXPECT_FALSE(plan.updates[0].members[3].ready);
}

TEST(PlanMemberSlices, MembersFromSourcesAreTheUnionWithTheSeedMarked) {
  const SourceSnapshot first{"k8s",
                             "kubernetes",
                             std::vector<Candidate>{Candidate{
                                 Member{"app@10.0.0.2", "web-1", {"10.0.0.2"}, "k8s", false,
                                        std::nullopt},
                                 std::nullopt, "", "web-1"}},
                             std::nullopt, true};
  const SourceSnapshot second{
      "static",
      "epmd",
      std::vector<Candidate>{
          Candidate{Member{"app@10.0.0.2", "", {}, "static", true, std::nullopt}, std::nullopt,
                    "", ""},
          Candidate{Member{"app@10.0.0.1", "", {}, "static", true, std::nullopt}, std::nullopt,
                    "", ""}},
      std::nullopt, true};

  const std::vector<SourceSnapshot> sources{first, second};

  const std::vector<SliceMemberView> out = sliceMembers(sources, "app@10.0.0.1");

  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].copy(), (SliceMember{"app@10.0.0.1", "", {}, true, true}));
  EXPECT_EQ(out[1].copy(), (SliceMember{"app@10.0.0.2", "web-1", {"10.0.0.2"}, false, false}));
  EXPECT_EQ(out[1].node, &sources[0].candidates[0].member.node) << "read in place, not copied";
}

} // namespace
} // namespace libcluster
