#include "controller/topology_members.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "fakes/builders.h"

namespace libcluster {
namespace {

/// One pods source over namespace prod with `matchLabels`, as sync() wants it.
Result<void> syncInto(TopologyMembers& members, const std::string& key,
                      std::map<std::string, std::string> matchLabels, std::int64_t generation,
                      const ObjectStore<PodInfo>& pods) {
  TopologySpec spec;
  spec.nodeBasename = "app";
  TopologySource source;
  source.name = "pods";
  source.kubernetes = KubernetesSource{};
  source.kubernetes->selector.matchLabels = std::move(matchLabels);
  spec.sources.push_back(source);
  Result<LabelSelector> selector = TopologyIndex::selectorOf(*source.kubernetes);
  EXPECT_TRUE(selector);
  return members.sync(key, generation, spec,
                      {TopologyIndex::PodSelector{"prod", *selector, "", false}}, pods);
}

class TopologyMembersTest : public testing::Test {
protected:
  void SetUp() override {
    (void)pods_.apply({WatchEvent::Type::InitStarted, {}});
    for (const PodBuilder& object :
         {pod("web-0").inNamespace("prod").labels({{"app", "web"}, {"tier", "a"}}).ip("10.0.0.1"),
          pod("web-1").inNamespace("prod").labels({{"app", "web"}, {"tier", "b"}}).ip("10.0.0.2"),
          pod("db-0").inNamespace("prod").labels({{"app", "db"}, {"tier", "a"}}).ip("10.0.0.3"),
          pod("web-9").inNamespace("dev").labels({{"app", "web"}, {"tier", "a"}}).ip("10.0.9.9")}) {
      (void)pods_.apply({WatchEvent::Type::InitApplied, object});
    }
    (void)pods_.apply({WatchEvent::Type::InitDone, {}});
  }

  /// Syncs topology prod/t, one pods source with `matchLabels`, at `generation`.
  void sync(std::map<std::string, std::string> matchLabels, std::int64_t generation) {
    ASSERT_TRUE(syncInto(members_, "prod/t", std::move(matchLabels), generation, pods_));
  }

  std::vector<std::string> nodes() {
    std::vector<std::string> out;
    for (const Candidate& candidate : members_.candidates("prod/t", 0)) {
      out.push_back(candidate.member.node);
    }
    return out;
  }

  ObjectStore<PodInfo> pods_{[](const nlohmann::json& o) { return podFromJson(o); }};
  TopologyMembers members_;
};

TEST_F(TopologyMembersTest, BuildsFromTheNamespaceWithoutALabelIndex) {
  sync({{"tier", "a"}}, 1);

  EXPECT_EQ(nodes(), (std::vector<std::string>{"app@10.0.0.3", "app@10.0.0.1"}))
      << "ordered by pod name: db-0, web-0";
}

TEST_F(TopologyMembersTest, BuildsThroughTheLabelIndexWithEveryLabelStillMatched) {
  pods_.addIndex(TopologyMembers::kLabelIndex, TopologyMembers::labelIndexValues);

  sync({{"app", "web"}, {"tier", "a"}}, 1);

  EXPECT_EQ(nodes(), std::vector<std::string>{"app@10.0.0.1"});
  EXPECT_EQ(pods_.indexedCount(TopologyMembers::kLabelIndex, "prod/app=web"), 2u);
  EXPECT_EQ(pods_.indexedCount(TopologyMembers::kLabelIndex, "dev/app=web"), 1u);
}

TEST_F(TopologyMembersTest, RebuildsRacingPodEventsLoseNoEvent) {
  pods_.addIndex(TopologyMembers::kLabelIndex, TopologyMembers::labelIndexValues);
  sync({{"app", "web"}}, 1);
  constexpr int kEvents = 3000;
  std::atomic<bool> streaming{true};

  // The pod informer thread: store first, then the member state, as Informer::handle does.
  std::jthread informer([this, &streaming] {
    for (int i = 0; i < kEvents; ++i) {
      // Few pods, so that a pod's last event is likely to meet a rebuild.
      const std::string name = "w-" + std::to_string(i % 5);
      const std::string ip = "10.1.0." + std::to_string(i % 5 + 1);
      std::vector<ObjectStore<PodInfo>::Change> changes;
      if (i % 7 == 3 || i % 11 == 5) {
        changes = pods_.apply({WatchEvent::Type::Deleted, pod(name).inNamespace("prod")});
      } else {
        const std::string app = i % 3 == 0 ? "other" : "web";
        changes = pods_.apply({WatchEvent::Type::Applied,
                               pod(name).inNamespace("prod").labels({{"app", app}}).ip(ip).ready(
                                   i % 2 == 0)});
      }
      for (const auto& change : changes) {
        (void)members_.apply(change.before.get(), change.after.get());
      }
    }
    streaming = false;
  });
  // The reconcile worker: a rebuild per new generation while the events stream in (bounded by
  // the events: the informer thread ends after kEvents).
  for (int generation = 2; streaming; ++generation) {
    sync({{"app", "web"}}, generation);
  }
  informer.join();

  const std::vector<std::string> incremental = nodes();
  sync({{"app", "web"}}, 1000);
  EXPECT_EQ(incremental, nodes()) << "the state must equal a fresh build from the cache";
  EXPECT_FALSE(incremental.empty());
}

TEST_F(TopologyMembersTest, AListHandedOutStaysAsItWasWhilePodsChange) {
  sync({{"app", "web"}}, 1);
  const CandidateList held = members_.candidates("prod/t", 0);
  ASSERT_EQ(held.size(), 2u);

  for (const auto& change : pods_.apply({WatchEvent::Type::Applied, pod("web-2")
                                                                       .inNamespace("prod")
                                                                       .labels({{"app", "web"}})
                                                                       .ip("10.0.0.4")})) {
    EXPECT_EQ(members_.apply(change.before.get(), change.after.get()),
              std::vector<std::string>{"prod/t"});
  }
  for (const auto& change :
       pods_.apply({WatchEvent::Type::Deleted, pod("web-0").inNamespace("prod")})) {
    EXPECT_EQ(members_.apply(change.before.get(), change.after.get()),
              std::vector<std::string>{"prod/t"});
  }

  ASSERT_EQ(held.size(), 2u) << "copied on write, not changed under its reader";
  EXPECT_EQ(held[0].member.node, "app@10.0.0.1");
  EXPECT_EQ(held[1].member.node, "app@10.0.0.2");
  EXPECT_EQ(nodes(), (std::vector<std::string>{"app@10.0.0.2", "app@10.0.0.4"}));
}

TEST_F(TopologyMembersTest, AListNobodyHoldsIsChangedInPlace) {
  sync({{"app", "web"}}, 1);
  const std::vector<Candidate>* before = &members_.candidates("prod/t", 0).list();

  for (const auto& change : pods_.apply({WatchEvent::Type::Applied, pod("web-2")
                                                                       .inNamespace("prod")
                                                                       .labels({{"app", "web"}})
                                                                       .ip("10.0.0.4")})) {
    (void)members_.apply(change.before.get(), change.after.get());
  }

  const CandidateList after = members_.candidates("prod/t", 0);
  EXPECT_EQ(&after.list(), before) << "no copy of the members for a change nobody overlaps";
  EXPECT_EQ(after.size(), 3u);
}

TEST_F(TopologyMembersTest, ANamespaceHoldsNoMoreMembersThanItsLimit) {
  TopologyMembers bounded(3);

  ASSERT_TRUE(syncInto(bounded, "prod/a", {{"app", "web"}}, 1, pods_));
  const Result<void> refused = syncInto(bounded, "prod/b", {{"app", "web"}}, 1, pods_);
  ASSERT_FALSE(refused) << "2 + 2 members is over 3";
  EXPECT_EQ(refused.error().code, Error::Code::Forbidden);
  EXPECT_NE(refused.error().message.find("--max-members-per-namespace"), std::string::npos);
  EXPECT_TRUE(bounded.candidates("prod/b", 0).empty());
  EXPECT_TRUE(bounded.tracks("prod/b")) << "tracked, so pod events do not requeue a refused scan";
  EXPECT_FALSE(syncInto(bounded, "prod/b", {{"app", "web"}}, 1, pods_));
  EXPECT_TRUE(syncInto(bounded, "other/b", {{"app", "web"}}, 1, pods_))
      << "counted per namespace of the topology";
  ASSERT_TRUE(syncInto(bounded, "prod/c", {{"app", "db"}}, 1, pods_)) << "2 + 1 fits";
  EXPECT_EQ(bounded.membersIn("prod"), 3u);

  EXPECT_EQ(bounded.forget("prod/a"), std::vector<std::string>{"prod/b"});
  EXPECT_EQ(bounded.membersIn("prod"), 1u);
  ASSERT_TRUE(syncInto(bounded, "prod/b", {{"app", "web"}}, 1, pods_));
  EXPECT_EQ(bounded.candidates("prod/b", 0).size(), 2u);
  EXPECT_EQ(bounded.membersIn("prod"), 3u);
}

TEST_F(TopologyMembersTest, AnEditOverTheLimitKeepsTheMembersItHad) {
  TopologyMembers bounded(2);
  ASSERT_TRUE(syncInto(bounded, "prod/t", {{"tier", "a"}}, 1, pods_));

  EXPECT_FALSE(syncInto(bounded, "prod/t", {}, 2, pods_)) << "all 3 pods of prod";

  EXPECT_EQ(bounded.candidates("prod/t", 0).size(), 2u) << "unknown is not empty";
  EXPECT_EQ(bounded.membersIn("prod"), 2u);
  for (const auto& change :
       pods_.apply({WatchEvent::Type::Deleted, pod("db-0").inNamespace("prod")})) {
    EXPECT_EQ(bounded.apply(change.before.get(), change.after.get()),
              std::vector<std::string>{"prod/t"})
        << "the kept state still follows its pods";
  }
  EXPECT_EQ(bounded.membersIn("prod"), 1u);
}

// A namespace user could otherwise pass the bound by building topologies over pods that do not
// match yet, then labelling pods: every topology gains each pod through events, never a build.
TEST_F(TopologyMembersTest, PodEventsDoNotGrowANamespacePastItsLimit) {
  TopologyMembers bounded(3);
  ASSERT_TRUE(syncInto(bounded, "prod/a", {{"app", "web"}}, 1, pods_));
  ASSERT_TRUE(syncInto(bounded, "prod/b", {{"app", "cache"}}, 1, pods_)) << "matches nothing yet";

  std::vector<std::string> told;
  for (const char* name : {"cache-0", "cache-1"}) {
    for (const auto& change : pods_.apply({WatchEvent::Type::Applied, pod(name)
                                                                        .inNamespace("prod")
                                                                        .labels({{"app", "cache"}})
                                                                        .ip("10.0.1.1")})) {
      for (std::string& key : bounded.apply(change.before.get(), change.after.get())) {
        told.push_back(std::move(key));
      }
    }
  }

  EXPECT_EQ(bounded.membersIn("prod"), 3u);
  EXPECT_EQ(bounded.candidates("prod/b", 0).size(), 1u) << "cache-0 fit, cache-1 did not";
  EXPECT_EQ(told, (std::vector<std::string>{"prod/b", "prod/b"}))
      << "the refused one is told too, so its status says why";
  const Result<void> refused = syncInto(bounded, "prod/b", {{"app", "cache"}}, 1, pods_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Error::Code::Forbidden);
  EXPECT_EQ(bounded.candidates("prod/b", 0).size(), 1u) << "kept: unknown is not empty";
  EXPECT_TRUE(syncInto(bounded, "prod/a", {{"app", "web"}}, 1, pods_)) << "prod/a is whole";
}

TEST_F(TopologyMembersTest, ARefusedTopologyIsRebuiltOnceDeletedPodsMakeRoomForIt) {
  TopologyMembers bounded(3);
  ASSERT_TRUE(syncInto(bounded, "prod/a", {{"app", "web"}}, 1, pods_));
  ASSERT_TRUE(syncInto(bounded, "prod/c", {{"app", "db"}}, 1, pods_));
  ASSERT_FALSE(syncInto(bounded, "prod/b", {{"tier", "a"}}, 1, pods_)) << "3 + 2 is over 3";

  // One member freed: not yet room for the 2 prod/b wants, so no rescan of the cache for it.
  for (const auto& change :
       pods_.apply({WatchEvent::Type::Deleted, pod("web-1").inNamespace("prod")})) {
    EXPECT_EQ(bounded.apply(change.before.get(), change.after.get()),
              std::vector<std::string>{"prod/a"});
  }
  EXPECT_FALSE(syncInto(bounded, "prod/b", {{"tier", "a"}}, 1, pods_));

  for (const auto& change :
       pods_.apply({WatchEvent::Type::Deleted, pod("db-0").inNamespace("prod")})) {
    EXPECT_EQ(bounded.apply(change.before.get(), change.after.get()),
              (std::vector<std::string>{"prod/c", "prod/b"}))
        << "room for 2 now: prod/b is named for a rebuild";
  }
  ASSERT_TRUE(syncInto(bounded, "prod/b", {{"tier", "a"}}, 1, pods_));
  EXPECT_EQ(bounded.candidates("prod/b", 0).size(), 1u) << "web-0 (db-0 is gone)";
  EXPECT_EQ(bounded.membersIn("prod"), 2u);
}

TEST_F(TopologyMembersTest, RebuildsOncePerGeneration) {
  sync({{"app", "web"}}, 1);
  ASSERT_EQ(nodes().size(), 2u);

  sync({{"app", "db"}}, 1);
  EXPECT_EQ(nodes().size(), 2u) << "the same generation keeps the state events maintain";

  sync({{"app", "db"}}, 2);
  EXPECT_EQ(nodes(), std::vector<std::string>{"app@10.0.0.3"});
}

TEST_F(TopologyMembersTest, ForgottenTopologiesIgnorePodEvents) {
  sync({{"app", "web"}}, 1);
  ASSERT_TRUE(members_.tracks("prod/t"));

  members_.forget("prod/t");
  const auto changes = pods_.apply(
      {WatchEvent::Type::Applied, pod("web-2").inNamespace("prod").labels({{"app", "web"}}).ip("10.0.0.4")});

  EXPECT_FALSE(members_.tracks("prod/t"));
  EXPECT_TRUE(members_.apply(nullptr, changes[0].after.get()).empty());
  EXPECT_TRUE(members_.candidates("prod/t", 0).empty());
}

} // namespace
} // namespace libcluster
