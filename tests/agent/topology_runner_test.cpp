#include "agent/topology_runner.h"

#include <chrono>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "fakes/fake_strategy.h"
#include "fakes/recording_connector.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using testing::ElementsAre;
using testing::IsEmpty;
using testing::UnorderedElementsAre;

constexpr const char* kSelf = "app@10.0.0.1";
constexpr const char* kA = "app@10.0.0.2";
constexpr const char* kB = "app@10.0.0.3";
constexpr const char* kC = "app@10.0.0.4";

RecordingConnector::Script replying(CallOutcome outcome, std::string term) {
  return {.reply = CallReply{outcome, std::move(term)}};
}

RecordingConnector::Script failing(Error error) { return {.reply = std::move(error)}; }

class TopologyRunnerTest : public testing::Test {
protected:
  static TopologyRunnerOptions options(TopologyRunnerOptions base = {.topology = "app"}) {
    return base;
  }

  double connectAttempts(const std::string& result) {
    return metrics_
        .counterFamily("libcluster_agent_connect_attempts_total", "", {"topology", "result"})
        .withLabels({"app", result})
        .Value();
  }
  double disconnectAttempts(const std::string& result) {
    return metrics_
        .counterFamily("libcluster_agent_disconnect_attempts_total", "", {"topology", "result"})
        .withLabels({"app", result})
        .Value();
  }

  FakeClock clock_;
  FakeStrategy strategy_;
  RecordingConnector connector_{kSelf, &clock_};
  MetricsRegistry metrics_;
  TopologyRunner runner_{options(), strategy_, connector_, clock_, metrics_};
};

TEST_F(TopologyRunnerTest, ConnectsEveryDesiredPeer) {
  strategy_.answer(PeerSet{kA, kB});

  runner_.syncOnce();

  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB}));
  EXPECT_EQ(runner_.snapshot().members, (PeerSet{kA, kB}));
}

TEST_F(TopologyRunnerTest, KeepsPeersWhenDiscoveryFails) {
  strategy_.answer(PeerSet{kA});
  runner_.syncOnce();
  strategy_.answer(Error{Error::Code::Unavailable, "apiserver unreachable"});

  runner_.syncOnce();

  EXPECT_THAT(connector_.disconnects(), IsEmpty());
  const TopologySnapshot snapshot = runner_.snapshot();
  EXPECT_EQ(snapshot.members, PeerSet{kA});
  ASSERT_TRUE(snapshot.lastError.has_value());
  EXPECT_EQ(snapshot.lastError->code, Error::Code::Unavailable);
  EXPECT_EQ(metrics_.counterFamily("libcluster_agent_discovery_errors_total", "", {"topology"})
                .withLabels({"app"})
                .Value(),
            1.0);
}

TEST_F(TopologyRunnerTest, LeavesPeersItDidNotConnect) {
  connector_.addConnected("admin@10.0.0.9");
  strategy_.answer(PeerSet{});

  runner_.syncOnce();

  EXPECT_THAT(connector_.disconnects(), IsEmpty());
  EXPECT_TRUE(connector_.connected().contains("admin@10.0.0.9"));
}

TEST_F(TopologyRunnerTest, NeverConnectsItself) {
  strategy_.answer(PeerSet{kSelf, kA});

  runner_.syncOnce();

  EXPECT_THAT(connector_.connects(), ElementsAre(kA));
  EXPECT_EQ(runner_.snapshot().members, PeerSet{kA});
  EXPECT_EQ(runner_.snapshot().desired, PeerSet{kA});
}

TEST_F(TopologyRunnerTest, DoesNotCallConnectForConnectedPeers) {
  strategy_.answer(PeerSet{kA});
  runner_.syncOnce();

  runner_.syncOnce();

  EXPECT_THAT(connector_.connects(), ElementsAre(kA));
}

TEST_F(TopologyRunnerTest, ReconnectsLostPeersOnEverySync) {
  strategy_.answer(PeerSet{kA, kB});
  runner_.syncOnce();
  connector_.removeConnected(kA); // a netsplit

  runner_.syncOnce();

  EXPECT_THAT(connector_.connects(), ElementsAre(kA, kB, kA));
  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB}));
}

TEST_F(TopologyRunnerTest, RetriesAFailedConnectOnTheNextSync) {
  connector_.scriptConnect(kA, replying(CallOutcome::False, "false"));
  strategy_.answer(PeerSet{kA});
  runner_.syncOnce();
  connector_.scriptConnect(kA, replying(CallOutcome::True, "true"));

  runner_.syncOnce();

  EXPECT_THAT(connector_.connects(), ElementsAre(kA, kA));
  EXPECT_EQ(runner_.snapshot().members, PeerSet{kA});
}

TEST_F(TopologyRunnerTest, DisconnectsMembersThatAreNoLongerDesired) {
  strategy_.answer(PeerSet{kA, kB});
  runner_.syncOnce();
  strategy_.answer(PeerSet{kA});

  runner_.syncOnce();

  EXPECT_THAT(connector_.disconnects(), ElementsAre(kB));
  EXPECT_EQ(connector_.connected(), PeerSet{kA});
  EXPECT_EQ(runner_.snapshot().members, PeerSet{kA});
  EXPECT_EQ(disconnectAttempts("ok"), 1.0);
}

TEST_F(TopologyRunnerTest, KeepsRemovedPeersConnectedWhenTheStrategyDoesNotPrune) {
  strategy_.setPrunes(false);
  strategy_.answer(PeerSet{kA, kB});
  runner_.syncOnce();
  strategy_.answer(PeerSet{kA});

  runner_.syncOnce();

  EXPECT_THAT(connector_.disconnects(), IsEmpty());
  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB}));
  EXPECT_EQ(runner_.snapshot().members, PeerSet{kA});
}

TEST_F(TopologyRunnerTest, KeepsRemovedPeersConnectedWhenOnRemovalIsIgnore) {
  TopologyRunner ignoring(options({.topology = "app", .onRemoval = OnRemoval::Ignore}), strategy_,
                          connector_, clock_, metrics_);
  strategy_.answer(PeerSet{kA, kB});
  ignoring.syncOnce();
  strategy_.answer(PeerSet{kA});

  ignoring.syncOnce();

  EXPECT_THAT(connector_.disconnects(), IsEmpty());
  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB}));
  EXPECT_EQ(ignoring.snapshot().members, PeerSet{kA});
}

TEST_F(TopologyRunnerTest, FailedDisconnectKeepsThePeerAMemberAndIsRetried) {
  strategy_.answer(PeerSet{kA, kB});
  runner_.syncOnce();
  connector_.scriptDisconnect(kB, replying(CallOutcome::Other, "{badrpc,nodedown}"));
  strategy_.answer(PeerSet{kA});

  runner_.syncOnce();
  EXPECT_EQ(runner_.snapshot().members, (PeerSet{kA, kB}));
  connector_.scriptDisconnect(kB, failing(Error{Error::Code::Timeout, "rpc timed out"}));
  runner_.syncOnce();
  EXPECT_EQ(runner_.snapshot().members, (PeerSet{kA, kB}));
  connector_.scriptDisconnect(kB, replying(CallOutcome::True, "true"));
  runner_.syncOnce();

  EXPECT_THAT(connector_.disconnects(), ElementsAre(kB, kB, kB));
  EXPECT_EQ(runner_.snapshot().members, PeerSet{kA});
  EXPECT_EQ(disconnectAttempts("other"), 1.0);
  EXPECT_EQ(disconnectAttempts("timeout"), 1.0);
  EXPECT_EQ(disconnectAttempts("ok"), 1.0);
}

TEST_F(TopologyRunnerTest, DisconnectAnsweringFalseOrIgnoredEndsMembershipAsInLibcluster) {
  strategy_.answer(PeerSet{kA, kB});
  runner_.syncOnce();
  connector_.scriptDisconnect(kA, replying(CallOutcome::False, "false"));
  connector_.scriptDisconnect(kB, replying(CallOutcome::Ignored, "ignored"));
  strategy_.answer(PeerSet{});

  runner_.syncOnce();

  EXPECT_THAT(runner_.snapshot().members, IsEmpty());
  EXPECT_EQ(disconnectAttempts("already_disconnected"), 1.0);
  EXPECT_EQ(disconnectAttempts("not_part_of_network"), 1.0);
}

TEST_F(TopologyRunnerTest, AllDisconnectsOfASyncShareOneCallTimeout) {
  strategy_.answer(PeerSet{kA, kB, kC});
  runner_.syncOnce();
  for (const char* peer : {kA, kB, kC}) {
    connector_.scriptDisconnect(peer, {.delay = 5s}); // a local node that barely answers
  }
  strategy_.answer(PeerSet{});

  runner_.syncOnce();

  EXPECT_THAT(connector_.disconnects(), ElementsAre(kA, kB)); // 5 s, then the 3 s left
  EXPECT_EQ(runner_.snapshot().members, (PeerSet{kB, kC}));
  EXPECT_EQ(disconnectAttempts("ok"), 1.0);
  EXPECT_EQ(disconnectAttempts("timeout"), 1.0);
  EXPECT_EQ(disconnectAttempts("skipped"), 1.0);
}

TEST_F(TopologyRunnerTest, DoesNotDisconnectAMemberThatIsAlreadyGone) {
  strategy_.answer(PeerSet{kA, kB});
  runner_.syncOnce();
  connector_.removeConnected(kB);
  strategy_.answer(PeerSet{kA});

  runner_.syncOnce();

  EXPECT_THAT(connector_.disconnects(), IsEmpty());
  EXPECT_EQ(runner_.snapshot().members, PeerSet{kA});
}

TEST_F(TopologyRunnerTest, ReadsConnectRepliesAsLibclusterDoes) {
  connector_.scriptConnect(kA, replying(CallOutcome::False, "false"));
  connector_.scriptConnect(kB, replying(CallOutcome::Ignored, "ignored"));
  connector_.scriptConnect(kC, replying(CallOutcome::Other, "{badrpc,nodedown}"));
  connector_.scriptConnect("app@10.0.0.5", failing(Error{Error::Code::Timeout, "no answer"}));
  connector_.scriptConnect("app@10.0.0.6", failing(Error{Error::Code::Unavailable, "node down"}));
  strategy_.answer(PeerSet{kA, kB, kC, "app@10.0.0.5", "app@10.0.0.6", "app@10.0.0.7"});

  runner_.syncOnce();

  const TopologySnapshot snapshot = runner_.snapshot();
  EXPECT_EQ(snapshot.members, PeerSet{"app@10.0.0.7"});
  EXPECT_EQ(snapshot.failed, (std::map<NodeName, std::string>{
                                 {kA, "unreachable"},
                                 {kB, "not_part_of_network"},
                                 {kC, "other"},
                                 {"app@10.0.0.5", "timeout"},
                                 {"app@10.0.0.6", "error"},
                             }));
  EXPECT_EQ(connectAttempts("ok"), 1.0);
  EXPECT_EQ(connectAttempts("unreachable"), 1.0);
  EXPECT_EQ(connectAttempts("not_part_of_network"), 1.0);
  EXPECT_EQ(connectAttempts("other"), 1.0);
  EXPECT_EQ(connectAttempts("timeout"), 1.0);
  EXPECT_EQ(connectAttempts("error"), 1.0);
  EXPECT_EQ(metrics_.gaugeFamily("libcluster_agent_members", "", {"topology"})
                .withLabels({"app"})
                .Value(),
            1.0);
}

TEST_F(TopologyRunnerTest, MembersIncludeDesiredPeersSomeoneElseConnected) {
  connector_.addConnected(kA);
  strategy_.answer(PeerSet{kA});

  runner_.syncOnce();

  EXPECT_THAT(connector_.connects(), IsEmpty());
  EXPECT_EQ(runner_.snapshot().members, PeerSet{kA});
}

TEST_F(TopologyRunnerTest, ListNodesFailureChangesNothing) {
  strategy_.answer(PeerSet{kA, kB});
  runner_.syncOnce();
  connector_.failListNodes(Error{Error::Code::Unavailable, "local node down"});
  strategy_.answer(PeerSet{});

  runner_.syncOnce();

  EXPECT_THAT(connector_.disconnects(), IsEmpty());
  EXPECT_EQ(runner_.snapshot().members, (PeerSet{kA, kB}));
  ASSERT_TRUE(runner_.snapshot().lastError.has_value());
}

TEST_F(TopologyRunnerTest, JoinsTheSeedFirstWhenFormingACluster) {
  TopologyRunner seeded(options({.topology = "app", .parallelism = 8}), strategy_, connector_,
                        clock_, metrics_);
  strategy_.setSeed(kC);
  strategy_.answer(PeerSet{kA, kB, kC});

  seeded.syncOnce();

  const std::vector<NodeName> connects = connector_.connects();
  ASSERT_EQ(connects.size(), 3U);
  EXPECT_EQ(connects.front(), kC);
  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB, kC}));
}

TEST_F(TopologyRunnerTest, DoesNotPutTheSeedFirstWhenAlreadyInTheCluster) {
  TopologyRunner seeded(options({.topology = "app", .parallelism = 1}), strategy_, connector_,
                        clock_, metrics_);
  connector_.addConnected(kA);
  strategy_.setSeed(kC);
  strategy_.answer(PeerSet{kA, kB, kC});

  seeded.syncOnce();

  EXPECT_THAT(connector_.connects(), ElementsAre(kB, kC));
}

TEST_F(TopologyRunnerTest, GoesOnWithTheOthersWhenTheSeedFails) {
  connector_.scriptConnect(kC, replying(CallOutcome::False, "false"));
  strategy_.setSeed(kC);
  strategy_.answer(PeerSet{kA, kB, kC});

  runner_.syncOnce();

  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB}));
  EXPECT_EQ(runner_.snapshot().members, (PeerSet{kA, kB}));
}

TEST_F(TopologyRunnerTest, SlowPeerDoesNotDelayTheOthers) {
  connector_.scriptConnect(kA, {.gated = true});
  strategy_.answer(PeerSet{kA, kB, kC, "app@10.0.0.5"});
  std::jthread sync([this] { runner_.syncOnce(); });

  // Every other peer connects while the first one is still stuck in its connect.
  const bool othersFirst = connector_.waitFor(
      [](const PeerSet& connected, const PeerSet& inFlight) {
        return inFlight.contains(kA) && connected == PeerSet{kB, kC, "app@10.0.0.5"};
      },
      10s);
  connector_.release(kA);
  sync.join();

  EXPECT_TRUE(othersFirst);
  EXPECT_EQ(runner_.snapshot().members, (PeerSet{kA, kB, kC, "app@10.0.0.5"}));
}

TEST_F(TopologyRunnerTest, ConnectsEveryMissingPeerInOneCallWhenTheConnectorCan) {
  connector_.connectManyAtOnce(true);
  connector_.addConnected(kA);
  connector_.scriptConnect(kC, replying(CallOutcome::False, "false"));
  strategy_.answer(PeerSet{kA, kB, kC});

  runner_.syncOnce();

  EXPECT_THAT(connector_.connectBatches(), ElementsAre(PeerSet{kB, kC}));
  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB}));
  const TopologySnapshot snapshot = runner_.snapshot();
  EXPECT_EQ(snapshot.members, (PeerSet{kA, kB}));
  EXPECT_EQ(snapshot.failed, (std::map<NodeName, std::string>{{kC, "unreachable"}}));
  EXPECT_EQ(connectAttempts("ok"), 1);
  EXPECT_EQ(connectAttempts("unreachable"), 1);
}

TEST_F(TopologyRunnerTest, ABatchTheLocalNodeDidNotAnswerFailsEachOfItsPeers) {
  connector_.connectManyAtOnce(true, Error{Error::Code::Timeout, "local node did not answer"});
  strategy_.answer(PeerSet{kA, kB});

  runner_.syncOnce();

  EXPECT_THAT(connector_.connectBatches(), ElementsAre(PeerSet{kA, kB}));
  const TopologySnapshot snapshot = runner_.snapshot();
  EXPECT_THAT(snapshot.members, IsEmpty());
  EXPECT_EQ(snapshot.failed, (std::map<NodeName, std::string>{{kA, "timeout"}, {kB, "timeout"}}));
  EXPECT_EQ(connectAttempts("timeout"), 2);
}

TEST_F(TopologyRunnerTest, BatchesHoldAtMostConnectBatchPeers) {
  connector_.connectManyAtOnce(true);
  TopologyRunner small(options({.topology = "app", .connectBatch = 2}), strategy_, connector_,
                       clock_, metrics_);
  strategy_.answer(PeerSet{kA, kB, kC});

  small.syncOnce();

  // Two peers in one call; the one left over is an ordinary connect.
  EXPECT_THAT(connector_.connectBatches(), ElementsAre(PeerSet{kA, kB}));
  EXPECT_THAT(connector_.connects(), UnorderedElementsAre(kA, kB, kC));
  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB, kC}));
}

TEST_F(TopologyRunnerTest, RunsAtMostParallelismConnectsAtOnce) {
  TopologyRunner narrow(options({.topology = "app", .parallelism = 2}), strategy_, connector_,
                        clock_, metrics_);
  PeerSet peers;
  for (int host = 2; host < 12; ++host) {
    peers.insert("app@10.0.0." + std::to_string(host));
  }
  strategy_.answer(peers);

  narrow.syncOnce();

  EXPECT_EQ(connector_.connected(), peers);
  EXPECT_LE(connector_.maxConcurrentConnects(), 2);
}

TEST_F(TopologyRunnerTest, StartsNoConnectAfterTheSyncDeadline) {
  TopologyRunner serial(
      options({.topology = "app", .callTimeout = 8s, .connectDeadline = 10s, .parallelism = 1}),
      strategy_, connector_, clock_, metrics_);
  connector_.scriptConnect(kA, {.delay = 9s});
  connector_.scriptConnect(kB, {.delay = 9s});
  strategy_.answer(PeerSet{kA, kB, kC});

  serial.syncOnce();

  const std::vector<RecordingConnector::Call> calls = connector_.connectCalls();
  ASSERT_EQ(calls.size(), 2U);
  EXPECT_EQ(calls[0].peer, kA);
  EXPECT_EQ(calls[0].timeout, 8s);
  EXPECT_EQ(calls[1].peer, kB);
  EXPECT_EQ(calls[1].timeout, 2s); // what was left of the deadline
  EXPECT_EQ(serial.snapshot().failed.at(kC), "deadline_exceeded");
  EXPECT_EQ(connectAttempts("skipped"), 1.0);
}

TEST_F(TopologyRunnerTest, RunSyncsEveryPollIntervalUntilStopped) {
  TopologyRunner exact(options({.topology = "app", .pollJitter = 0.0}), strategy_, connector_,
                       clock_, metrics_);
  std::stop_source stop;
  strategy_.stopAfter(3, stop);
  strategy_.answer(PeerSet{kA});

  exact.run(stop.get_token());

  EXPECT_EQ(strategy_.discoveries(), 3);
  EXPECT_THAT(clock_.sleeps(), ElementsAre(5000ms, 5000ms));
  EXPECT_EQ(exact.snapshot().syncs, 3U);
}

TEST_F(TopologyRunnerTest, RunLooksAgainSoonAfterADisconnectToRepairWhatGlobalCut) {
  TopologyRunner settling(
      options({.topology = "app", .pollJitter = 0.0, .settleInterval = 200ms, .settleChecks = 3}),
      strategy_, connector_, clock_, metrics_);
  strategy_.answer(PeerSet{kA, kB});
  settling.syncOnce();
  strategy_.answer(PeerSet{kA});
  std::stop_source stop;
  strategy_.stopAfter(6, stop);

  settling.run(stop.get_token());

  EXPECT_EQ(connector_.disconnects(), std::vector<NodeName>{kB});
  EXPECT_THAT(clock_.sleeps(), ElementsAre(200ms, 200ms, 200ms, 5000ms));
}

TEST_F(TopologyRunnerTest, RunJittersEachWaitSoAgentsDoNotSyncTogether) {
  std::stop_source stop;
  strategy_.stopAfter(41, stop);
  strategy_.answer(PeerSet{kA});

  runner_.run(stop.get_token());

  const auto sleeps = clock_.sleeps();
  ASSERT_EQ(sleeps.size(), 40U);
  std::set<std::chrono::milliseconds> distinct;
  for (const auto sleep : sleeps) {
    EXPECT_GE(sleep, 4000ms);
    EXPECT_LE(sleep, 6000ms);
    distinct.insert(sleep);
  }
  EXPECT_GT(distinct.size(), 10U);
}

TEST_F(TopologyRunnerTest, SnapshotShowsWhatTheLastSyncSaw) {
  connector_.addConnected("admin@10.0.0.9");
  connector_.scriptConnect(kB, replying(CallOutcome::False, "false"));
  strategy_.answer(PeerSet{kA, kB});

  runner_.syncOnce();

  const TopologySnapshot snapshot = runner_.snapshot();
  EXPECT_EQ(snapshot.topology, "app");
  EXPECT_EQ(snapshot.desired, (PeerSet{kA, kB}));
  EXPECT_EQ(snapshot.connected, (PeerSet{"admin@10.0.0.9", kA}));
  EXPECT_EQ(snapshot.members, PeerSet{kA});
  EXPECT_FALSE(snapshot.lastError.has_value());
  EXPECT_EQ(snapshot.lastSync, clock_.systemNow());
  EXPECT_EQ(snapshot.lastSuccessfulSync, clock_.systemNow());
}

TEST_F(TopologyRunnerTest, ErrorAfterSuccessKeepsTheLastSuccessfulSyncTime) {
  strategy_.answer(PeerSet{kA});
  runner_.syncOnce();
  const auto firstSync = clock_.systemNow();
  clock_.advance(5s);
  strategy_.answer(Error{Error::Code::Timeout, "dns timed out"});

  runner_.syncOnce();

  const TopologySnapshot snapshot = runner_.snapshot();
  EXPECT_EQ(snapshot.lastSuccessfulSync, firstSync);
  EXPECT_EQ(snapshot.lastSync, clock_.systemNow());
  EXPECT_EQ(snapshot.desired, PeerSet{kA});
  EXPECT_EQ(snapshot.syncs, 2U);
}

TEST_F(TopologyRunnerTest, LeavesEveryMemberWhenThisNodeIsNoLongerOne) {
  strategy_.setListsSelf(true);
  strategy_.answer(PeerSet{kSelf, kA, kB});
  runner_.syncOnce();
  strategy_.answer(PeerSet{kA, kB});

  runner_.syncOnce();

  EXPECT_THAT(connector_.connected(), IsEmpty());
  EXPECT_THAT(connector_.disconnects(), UnorderedElementsAre(kA, kB));
  const TopologySnapshot snapshot = runner_.snapshot();
  EXPECT_FALSE(snapshot.member);
  EXPECT_THAT(snapshot.desired, IsEmpty());
  EXPECT_THAT(snapshot.members, IsEmpty());
}

TEST_F(TopologyRunnerTest, ANodeThatLeftStaysDisconnectedWhoeverReconnectsIt) {
  strategy_.setListsSelf(true);
  strategy_.answer(PeerSet{kSelf, kA, kB});
  runner_.syncOnce();
  strategy_.answer(PeerSet{kA, kB});
  runner_.syncOnce();
  connector_.addConnected(kA); // global's transitive connect, or the peer's own agent

  runner_.syncOnce();

  EXPECT_THAT(connector_.connected(), IsEmpty());
  EXPECT_THAT(connector_.connects(), UnorderedElementsAre(kA, kB)); // only from the first sync
}

TEST_F(TopologyRunnerTest, ConnectsToNobodyUntilAdmitted) {
  strategy_.setListsSelf(true);
  strategy_.answer(PeerSet{kA, kB});
  runner_.syncOnce();
  EXPECT_THAT(connector_.connects(), IsEmpty());
  EXPECT_FALSE(runner_.snapshot().member);
  strategy_.answer(PeerSet{kSelf, kA, kB});

  runner_.syncOnce();

  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB}));
  EXPECT_TRUE(runner_.snapshot().member);
}

TEST_F(TopologyRunnerTest, LeavingLeavesNodesThatWereNeverMembersAlone) {
  strategy_.setListsSelf(true);
  connector_.addConnected("admin@10.0.0.9");
  strategy_.answer(PeerSet{kSelf, kA});
  runner_.syncOnce();
  strategy_.answer(PeerSet{kA});

  runner_.syncOnce();

  EXPECT_EQ(connector_.connected(), PeerSet{"admin@10.0.0.9"});
  EXPECT_THAT(connector_.disconnects(), ElementsAre(kA));
}

TEST_F(TopologyRunnerTest, WithoutAMemberListTheNodeConnectsAsLibclusterDoes) {
  strategy_.setListsSelf(false);
  strategy_.answer(PeerSet{kA, kB}); // DNS and the like need not list this node

  runner_.syncOnce();

  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB}));
  EXPECT_TRUE(runner_.snapshot().member);
}

TEST_F(TopologyRunnerTest, NotAMemberWithOnRemovalIgnoreConnectsNobodyAndCutsNothing) {
  TopologyRunner ignoring(options({.topology = "app", .onRemoval = OnRemoval::Ignore}), strategy_,
                          connector_, clock_, metrics_);
  strategy_.setListsSelf(true);
  strategy_.answer(PeerSet{kSelf, kA});
  ignoring.syncOnce();
  strategy_.answer(PeerSet{kA, kB});

  ignoring.syncOnce();

  EXPECT_THAT(connector_.disconnects(), IsEmpty());
  EXPECT_THAT(connector_.connects(), ElementsAre(kA));
  EXPECT_FALSE(ignoring.snapshot().member);
}

TEST_F(TopologyRunnerTest, GivesARemovedPeerTheGraceToLeaveByItselfThenCutsIt) {
  strategy_.setListsSelf(true);
  strategy_.answer(PeerSet{kSelf, kA, kB});
  runner_.syncOnce();
  strategy_.answer(PeerSet{kSelf, kA});

  runner_.syncOnce();
  const PeerSet duringGrace = connector_.connected();
  clock_.advance(200ms); // the settle sync after the 150 ms grace: B's agent did not cut it
  runner_.syncOnce();

  // Its own agent cuts it from every member at once; members cutting it one after another would
  // make `global` cut links among them.
  EXPECT_EQ(duringGrace, (PeerSet{kA, kB}));
  EXPECT_EQ(connector_.connected(), PeerSet{kA});
}

TEST_F(TopologyRunnerTest, KeepsARemovedPeerDisconnectedWhileHeld) {
  strategy_.setListsSelf(true);
  strategy_.answer(PeerSet{kSelf, kA, kB});
  runner_.syncOnce();
  strategy_.answer(PeerSet{kSelf, kA});
  runner_.syncOnce();
  clock_.advance(200ms); // past the grace in which it may leave by itself
  runner_.syncOnce();
  ASSERT_EQ(connector_.connected(), PeerSet{kA});
  connector_.addConnected(kB); // the removed node's agent, or global, connected it again
  clock_.advance(60s);

  runner_.syncOnce();

  EXPECT_EQ(connector_.connected(), PeerSet{kA});
  EXPECT_THAT(connector_.disconnects(), ElementsAre(kB, kB));
  EXPECT_EQ(runner_.snapshot().removed, PeerSet{kB});
}

TEST_F(TopologyRunnerTest, ForgetsARemovedPeerAfterTheHold) {
  TopologyRunner holding(options({.topology = "app", .removalHold = 30s}), strategy_, connector_,
                         clock_, metrics_);
  strategy_.setListsSelf(true);
  strategy_.answer(PeerSet{kSelf, kA, kB});
  holding.syncOnce();
  strategy_.answer(PeerSet{kSelf, kA});
  holding.syncOnce();
  clock_.advance(31s);
  connector_.addConnected(kB);

  holding.syncOnce();

  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB}));
  EXPECT_THAT(holding.snapshot().removed, IsEmpty());
}

TEST_F(TopologyRunnerTest, ARemovedPeerThatComesBackIsConnectedAgain) {
  strategy_.setListsSelf(true);
  strategy_.answer(PeerSet{kSelf, kA, kB});
  runner_.syncOnce();
  strategy_.answer(PeerSet{kSelf, kA});
  runner_.syncOnce();
  strategy_.answer(PeerSet{kSelf, kA, kB});

  runner_.syncOnce();

  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB}));
  EXPECT_THAT(runner_.snapshot().removed, IsEmpty());
}

TEST_F(TopologyRunnerTest, ARemovedPeerIsNotHeldWhenTheStrategyListsNoMembers) {
  strategy_.answer(PeerSet{kA, kB});
  runner_.syncOnce();
  strategy_.answer(PeerSet{kA});
  runner_.syncOnce();
  connector_.addConnected(kB);

  runner_.syncOnce();

  EXPECT_EQ(connector_.connected(), (PeerSet{kA, kB})); // libcluster disconnects once
}

} // namespace
} // namespace libcluster
