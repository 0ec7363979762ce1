// TopologyRunner + EiConnector + FakeStrategy against real OTP nodes: the whole libcluster loop
// with only the discovery faked.
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/topology_runner.h"
#include "beam/beam_suite.h"
#include "dist/ei_connector.h"
#include "fakes/fake_strategy.h"
#include "support/eventually.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kLocal = "app@127.0.0.2";
constexpr const char* kB = "app@127.0.0.3";
constexpr const char* kC = "app@127.0.0.4";
constexpr const char* kD = "app@127.0.0.5";
constexpr const char* kDead = "app@127.0.0.99";      // refused at once
constexpr const char* kBlackhole = "app@127.0.0.98"; // connect_node blocks for net_setuptime (7 s)

bool contains(const std::set<std::string>& nodes, const std::string& node) {
  return nodes.contains(node);
}

/// Passes calls through and remembers when each connect returned, measured from start().
class TimingConnector final : public Connector {
public:
  explicit TimingConnector(Connector& inner) : inner_(inner) {}

  void start() {
    std::lock_guard lock(mutex_);
    start_ = SteadyClock::now();
    finished_.clear();
  }
  std::map<NodeName, SteadyClock::duration> finished() const {
    std::lock_guard lock(mutex_);
    return finished_;
  }

  // Connector
  Result<CallReply> connect(const NodeName& peer, std::chrono::milliseconds timeout) override {
    Result<CallReply> reply = inner_.connect(peer, timeout);
    std::lock_guard lock(mutex_);
    finished_[peer] = SteadyClock::now() - start_;
    return reply;
  }
  Result<CallReply> disconnect(const NodeName& peer, std::chrono::milliseconds timeout) override {
    return inner_.disconnect(peer, timeout);
  }
  Result<PeerSet> connectedPeers(std::chrono::milliseconds timeout) override {
    return inner_.connectedPeers(timeout);
  }
  const NodeName& localNode() const override { return inner_.localNode(); }
  bool reportsNodeEvents() const override { return inner_.reportsNodeEvents(); }
  Result<NodeEvents> waitForNodeEvents(std::chrono::milliseconds timeout,
                                       std::stop_token stop) override {
    return inner_.waitForNodeEvents(timeout, std::move(stop));
  }

private:
  Connector& inner_;
  mutable std::mutex mutex_;
  SteadyClock::time_point start_ = SteadyClock::now();
  std::map<NodeName, SteadyClock::duration> finished_;
};

// Four real nodes with one basename and OTP's default net_setuptime (7 s). They run with
// prevent_overlapping_partitions false and connect_all false, so `global` neither meshes them
// transitively nor cuts other links when one is disconnected.
class TopologyRunnerBeamTest : public BeamSuite<TopologyRunnerBeamTest> {
protected:
  static void SetUpTestSuite() { startNodes({kLocal, kB, kC, kD}); }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BeamSuite::SetUp());
    EiConnectorOptions options;
    options.localNode = kLocal;
    options.localNodePort = testbed_->port();
    options.cookie = testbed_->cookie();
    Result<std::unique_ptr<EiConnector>> connector = EiConnector::create(options);
    ASSERT_TRUE(connector) << connector.error().message;
    connector_ = std::move(connector).value();
    timing_ = std::make_unique<TimingConnector>(*connector_);
  }

  TopologyRunner makeRunner(std::chrono::milliseconds callTimeout = 8s,
                            std::chrono::milliseconds connectDeadline = 10s) {
    return TopologyRunner({.topology = "app",
                           .pollInterval = 5s,
                           .callTimeout = callTimeout,
                           .connectDeadline = connectDeadline,
                           .parallelism = 8,
                           .onRemoval = OnRemoval::Disconnect},
                          strategy_, *timing_, clock_, metrics_);
  }

  static bool seesLocal(BeamNode& node) {
    return node.waitForNodes([](const auto& nodes) { return contains(nodes, kLocal); }, 5s);
  }
  static bool doesNotSeeLocal(BeamNode& node) {
    return node.waitForNodes([](const auto& nodes) { return !contains(nodes, kLocal); }, 5s);
  }

  /// A running loop of members {local, B, C} that hears node events, once the mesh is formed.
  void runMeshOfThree(TopologyRunner& runner, std::jthread& loop) {
    strategy_.setListsSelf(true);
    strategy_.wakeOnAnswer(true);
    strategy_.answer(PeerSet{kLocal, kB, kC});
    loop = std::jthread([&runner](std::stop_token stop) { runner.run(stop); });
    ASSERT_TRUE(seesLocal(node(kB)));
    ASSERT_TRUE(seesLocal(node(kC)));
    std::this_thread::sleep_for(200ms); // the event path is watching
  }

  SystemClock clock_;
  MetricsRegistry metrics_;
  FakeStrategy strategy_;
  std::unique_ptr<EiConnector> connector_;
  std::unique_ptr<TimingConnector> timing_;
};

TEST_F(TopologyRunnerBeamTest, ConnectsTheLocalNodeToEveryDesiredPeer) {
  TopologyRunner runner = makeRunner();
  strategy_.answer(PeerSet{kLocal, kB, kC, kD});

  runner.syncOnce();

  EXPECT_TRUE(seesLocal(node(kB)));
  EXPECT_TRUE(seesLocal(node(kC)));
  EXPECT_TRUE(seesLocal(node(kD)));
  const TopologySnapshot snapshot = runner.snapshot();
  EXPECT_EQ(snapshot.members, (PeerSet{kB, kC, kD}));
  EXPECT_TRUE(snapshot.failed.empty());
  EXPECT_EQ(snapshot.connected, (PeerSet{kB, kC, kD}));
}

TEST_F(TopologyRunnerBeamTest, ReconnectsAKilledAndRestartedPeerOnTheNextSync) {
  TopologyRunner runner = makeRunner();
  strategy_.answer(PeerSet{kB, kC, kD});
  runner.syncOnce();
  ASSERT_TRUE(seesLocal(node(kC)));

  node(kC).kill();
  runner.syncOnce();
  const TopologySnapshot whileDown = runner.snapshot();
  Result<void> restarted = node(kC).start();
  ASSERT_TRUE(restarted) << restarted.error().message;
  runner.syncOnce();

  EXPECT_FALSE(whileDown.members.contains(kC));
  EXPECT_EQ(whileDown.failed.at(kC), "unreachable");
  EXPECT_TRUE(seesLocal(node(kC)));
  EXPECT_EQ(runner.snapshot().members, (PeerSet{kB, kC, kD}));
}

TEST_F(TopologyRunnerBeamTest, DisconnectsPeersThatLeaveTheTopology) {
  TopologyRunner runner = makeRunner();
  strategy_.answer(PeerSet{kB, kC, kD});
  runner.syncOnce();
  ASSERT_TRUE(seesLocal(node(kD)));
  strategy_.answer(PeerSet{kB, kC});

  runner.syncOnce();

  EXPECT_TRUE(doesNotSeeLocal(node(kD)));
  EXPECT_TRUE(seesLocal(node(kB)));
  EXPECT_TRUE(seesLocal(node(kC)));
  EXPECT_EQ(runner.snapshot().members, (PeerSet{kB, kC}));
}

TEST_F(TopologyRunnerBeamTest, LeavesConnectionsItDidNotMake) {
  ASSERT_EQ(node(kLocal).eval("net_kernel:connect_node('app@127.0.0.5').").value(), "true");
  TopologyRunner runner = makeRunner();
  strategy_.answer(PeerSet{kB});

  runner.syncOnce();

  EXPECT_TRUE(seesLocal(node(kB)));
  EXPECT_TRUE(seesLocal(node(kD)));
}

TEST_F(TopologyRunnerBeamTest, DeadPeersDoNotDelayTheLiveOnes) {
  BlackholePeer blackhole("127.0.0.98", testbed_->port());
  ASSERT_TRUE(blackhole.listening());
  TopologyRunner runner = makeRunner(2s, 3s);
  strategy_.answer(PeerSet{kB, kC, kD, kDead, kBlackhole});
  ASSERT_TRUE(connector_->ensureConnected(5s));
  timing_->start();
  const auto start = SteadyClock::now();

  runner.syncOnce();
  const auto syncTook = SteadyClock::now() - start;

  const std::map<NodeName, SteadyClock::duration> finished = timing_->finished();
  for (const char* live : {kB, kC, kD}) {
    ASSERT_TRUE(finished.contains(live)) << live;
    EXPECT_LT(finished.at(live), 1s) << live; // ~20 ms here; bounded loosely for loaded CI
  }
  EXPECT_LT(finished.at(kDead), 1s);
  EXPECT_GE(finished.at(kBlackhole), 2s); // our call timeout, well under net_setuptime
  EXPECT_LT(syncTook, 3s);
  const TopologySnapshot snapshot = runner.snapshot();
  EXPECT_EQ(snapshot.members, (PeerSet{kB, kC, kD}));
  EXPECT_EQ(snapshot.failed,
            (std::map<NodeName, std::string>{{kDead, "unreachable"}, {kBlackhole, "timeout"}}));
  EXPECT_TRUE(seesLocal(node(kB)));
  EXPECT_TRUE(seesLocal(node(kC)));
  EXPECT_TRUE(seesLocal(node(kD)));
}

TEST_F(TopologyRunnerBeamTest, ReconnectsEveryPeerAfterTheLocalNodeRestarts) {
  TopologyRunner runner = makeRunner();
  strategy_.answer(PeerSet{kB, kC});
  runner.syncOnce();
  ASSERT_TRUE(seesLocal(node(kB)));

  Result<void> restarted = node(kLocal).restart();
  ASSERT_TRUE(restarted) << restarted.error().message;
  runner.syncOnce();

  EXPECT_TRUE(seesLocal(node(kB)));
  EXPECT_TRUE(seesLocal(node(kC)));
  EXPECT_EQ(runner.snapshot().members, (PeerSet{kB, kC}));
  EXPECT_FALSE(runner.snapshot().lastError.has_value());
}

// A removed node's own agent cuts it from every member as soon as it hears of the removal; this
// agent hears of it 50 ms later. The nodedown in between is not "repaired": reconnecting would undo
// the cut, and the removed node's agent would cut it again (a flap, which `global` answers by
// cutting members).
TEST_F(TopologyRunnerBeamTest, APeerThatLeftBeforeItsRemovalArrivedIsNotReconnected) {
  TopologyRunner runner = makeRunner();
  std::jthread loop;
  ASSERT_NO_FATAL_FAILURE(runMeshOfThree(runner, loop));

  timing_->start();
  ASSERT_EQ(node(kB).eval("erlang:disconnect_node('app@127.0.0.2').").value(), "true");
  std::this_thread::sleep_for(50ms);
  strategy_.answer(PeerSet{kLocal, kC});
  std::this_thread::sleep_for(1s);

  EXPECT_FALSE(timing_->finished().contains(kB)) << "the local node reconnected the leaver";
  EXPECT_TRUE(doesNotSeeLocal(node(kB)));
  EXPECT_TRUE(seesLocal(node(kC)));
}

// The same nodedown of a peer that stays a member (`global` or an operator cut the link): it is
// reconnected by the event path after the grace, long before the next poll (5 s).
TEST_F(TopologyRunnerBeamTest, AMemberWhoseLinkWasCutIsReconnectedAfterTheGrace) {
  TopologyRunner runner = makeRunner();
  std::jthread loop;
  ASSERT_NO_FATAL_FAILURE(runMeshOfThree(runner, loop));

  timing_->start();
  ASSERT_EQ(node(kB).eval("erlang:disconnect_node('app@127.0.0.2').").value(), "true");
  const auto cut = SteadyClock::now();
  ASSERT_TRUE(node(kB).waitForNodes([](const auto& nodes) { return contains(nodes, kLocal); }, 3s));
  const auto repaired = SteadyClock::now() - cut;

  // The node sees the link before the connect call's reply reaches the agent: wait for the reply.
  ASSERT_TRUE(eventually([&] { return timing_->finished().contains(kB); }, 3s));
  const std::map<NodeName, SteadyClock::duration> connects = timing_->finished();
  EXPECT_GE(connects.at(kB), TopologyRunnerOptions{}.repairGrace); // not before the grace
  EXPECT_LT(repaired, 2s);           // the event path, not the 5 s poll
}

TEST_F(TopologyRunnerBeamTest, RunLoopConnectsAndStopsWhenAsked) {
  TopologyRunner runner = makeRunner();
  strategy_.answer(PeerSet{kB, kD});
  std::jthread loop([&](std::stop_token stop) { runner.run(stop); });

  const bool connected = seesLocal(node(kB)) && seesLocal(node(kD));
  const auto stopAt = SteadyClock::now();
  loop.request_stop();
  loop.join();

  EXPECT_TRUE(connected);
  EXPECT_LT(SteadyClock::now() - stopAt, 1s); // the poll wait ends at once on stop
}

} // namespace
} // namespace libcluster
