#include "dist/ei_connector.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "beam/beam_suite.h"
#include "support/loopback_port.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::Not;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kLocal = "app@127.0.0.2";
constexpr const char* kB = "app@127.0.0.3";
constexpr const char* kC = "app@127.0.0.4";
constexpr const char* kDead = "app@127.0.0.99";      // nothing listens there: refused at once
constexpr const char* kBlackhole = "app@127.0.0.98"; // accepts TCP, never answers the handshake

std::set<std::string> withoutProbes(std::set<std::string> nodes) {
  std::erase_if(nodes, [](const std::string& node) { return node.rfind("beamprobe", 0) == 0; });
  return nodes;
}

/// Whether connect(peer) through `connector` answered true (else what it answered).
testing::AssertionResult connects(EiConnector& connector, const std::string& peer) {
  Result<CallReply> reply = connector.connect(peer, 5s);
  if (!reply) {
    return testing::AssertionFailure() << "connect to " << peer << ": " << reply.error().message;
  }
  if (reply->outcome != CallOutcome::True) {
    return testing::AssertionFailure() << "connect to " << peer << " answered " << reply->term;
  }
  return testing::AssertionSuccess();
}

// Three real nodes with one basename. They run with
//  - prevent_overlapping_partitions false and connect_all false, so `global` neither meshes
//    them transitively nor cuts other links when one is disconnected;
//  - net_ticktime 2, so a connection that does not answer ticks dies within seconds;
//  - net_setuptime 1, so connect_node to the blackholed address gives up (false) after 1 s.
class EiConnectorTest : public BeamSuite<EiConnectorTest> {
protected:
  static void SetUpTestSuite() {
    startNodes({kLocal, kB, kC}, {"-kernel", "net_ticktime", "2", "-kernel", "net_setuptime", "1"});
  }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(BeamSuite::SetUp());
    blackhole_ = std::make_unique<BlackholePeer>("127.0.0.98", testbed_->port());
    ASSERT_TRUE(blackhole_->listening());
  }

  static EiConnectorOptions options() {
    EiConnectorOptions options;
    options.localNode = kLocal;
    options.localNodePort = testbed_->port();
    options.cookie = testbed_->cookie();
    return options;
  }

  static std::unique_ptr<EiConnector> make(EiConnectorOptions options) {
    Result<std::unique_ptr<EiConnector>> connector = EiConnector::create(std::move(options));
    EXPECT_TRUE(connector) << connector.error().message;
    return connector ? std::move(connector).value() : nullptr;
  }

  /// make(), then connected to the local node; nullptr (and a failure) when either fails.
  static std::unique_ptr<EiConnector> makeConnected(EiConnectorOptions with = options()) {
    std::unique_ptr<EiConnector> connector = make(std::move(with));
    if (connector) {
      Result<void> connected = connector->ensureConnected(5s);
      EXPECT_TRUE(connected) << connected.error().message;
      if (!connected) {
        connector.reset();
      }
    }
    return connector;
  }

  /// make(), then each of `peers` connected through it (connect answered true); nullptr (and a
  /// failure) otherwise.
  static std::unique_ptr<EiConnector> makeConnectedTo(const std::vector<std::string>& peers,
                                                      EiConnectorOptions with = options()) {
    std::unique_ptr<EiConnector> connector = make(std::move(with));
    for (const std::string& peer : peers) {
      if (connector) {
        const testing::AssertionResult connected = connects(*connector, peer);
        EXPECT_TRUE(connected);
        if (!connected) {
          connector.reset();
        }
      }
    }
    return connector;
  }

  /// The error of connectedPeers(timeout) through a connector made with `options`; a success
  /// fails the test.
  static Error peersError(EiConnectorOptions options, std::chrono::milliseconds timeout) {
    std::unique_ptr<EiConnector> connector = make(std::move(options));
    if (!connector) {
      return Error{Error::Code::Internal, "no connector"};
    }
    Result<PeerSet> peers = connector->connectedPeers(timeout);
    EXPECT_FALSE(peers) << "connectedPeers answered";
    return peers ? Error{Error::Code::Internal, "connectedPeers answered"} : peers.error();
  }

  /// Connectors whose connect call answers `ignored` (max(ignored, Peer)), prints the peer
  /// (atom_to_list) or crashes (an undefined module): the replies libcluster tells apart.
  struct ReplyConnectors {
    std::unique_ptr<EiConnector> ignoring;
    std::unique_ptr<EiConnector> printing;
    std::unique_ptr<EiConnector> missing;
    bool made() const { return ignoring && printing && missing; }
  };
  static ReplyConnectors makeReplyConnectors() {
    EiConnectorOptions ignoring = options();
    ignoring.connect = {"erlang", "max", {"ignored"}};
    EiConnectorOptions printing = options();
    printing.connect = {"erlang", "atom_to_list", {}};
    EiConnectorOptions missing = options();
    missing.connect = {"no_such_module", "connect", {}};
    return {make(ignoring), make(printing), make(missing)};
  }

  BeamNode& local() { return node(kLocal); }
  BeamNode& b() { return node(kB); }
  BeamNode& c() { return node(kC); }

  std::unique_ptr<BlackholePeer> blackhole_; // kBlackhole, for every test
};

TEST_F(EiConnectorTest, ConnectsTheLocalNodeToPeers) {
  std::unique_ptr<EiConnector> connector = make(options());
  ASSERT_NE(connector, nullptr);

  Result<CallReply> toB = connector->connect(kB, 5s);
  Result<CallReply> toC = connector->connect(kC, 5s);

  ASSERT_TRUE(toB) << toB.error().message;
  ASSERT_TRUE(toC) << toC.error().message;
  EXPECT_EQ(toB->outcome, CallOutcome::True);
  EXPECT_EQ(toB->term, "true");
  EXPECT_EQ(toC->outcome, CallOutcome::True);
  // Asked of the peers themselves.
  EXPECT_EQ(b().nodes().value(), std::set<std::string>{kLocal});
  EXPECT_EQ(c().nodes().value(), std::set<std::string>{kLocal});
}

TEST_F(EiConnectorTest, DisconnectsOnlyThePeerAskedFor) {
  std::unique_ptr<EiConnector> connector = makeConnectedTo({kB, kC});
  ASSERT_NE(connector, nullptr);

  Result<CallReply> dropped = connector->disconnect(kC, 5s);

  ASSERT_TRUE(dropped) << dropped.error().message;
  EXPECT_EQ(dropped->outcome, CallOutcome::True);
  EXPECT_TRUE(c().waitForNodes([](const auto& nodes) { return !nodes.contains(kLocal); }, 5s));
  EXPECT_EQ(b().nodes().value(), std::set<std::string>{kLocal});
}

TEST_F(EiConnectorTest, DisconnectingAPeerThatIsNotConnectedAnswersFalse) {
  std::unique_ptr<EiConnector> connector = make(options());
  ASSERT_NE(connector, nullptr);

  Result<CallReply> dropped = connector->disconnect(kC, 5s);

  ASSERT_TRUE(dropped) << dropped.error().message;
  EXPECT_EQ(dropped->outcome, CallOutcome::False);
}

TEST_F(EiConnectorTest, ListsConnectedPeersWithoutTheAgentItself) {
  std::unique_ptr<EiConnector> connector = makeConnectedTo({kB});
  ASSERT_NE(connector, nullptr);

  Result<PeerSet> peers = connector->connectedPeers(5s);

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(withoutProbes(*peers), PeerSet{kB});
  // The agent is a hidden node: in nodes(connected), never in nodes().
  EXPECT_TRUE(local().connectedNodes().value().contains(connector->agentNode()));
  EXPECT_FALSE(local().nodes().value().contains(connector->agentNode()));
}

TEST_F(EiConnectorTest, ListsNodesWithAConfiguredMfa) {
  EiConnectorOptions visibleOnly = options();
  visibleOnly.listNodes = {"erlang", "nodes", {"[visible]"}};
  std::unique_ptr<EiConnector> connector = makeConnectedTo({kB, kC}, visibleOnly);
  ASSERT_NE(connector, nullptr);

  Result<PeerSet> peers = connector->connectedPeers(5s);

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, (PeerSet{kB, kC})); // no hidden nodes, so no erl_call probes either
}

TEST_F(EiConnectorTest, UnreachablePeerAnswersFalseAtOnce) {
  std::unique_ptr<EiConnector> connector = make(options());
  ASSERT_NE(connector, nullptr);
  const auto start = SteadyClock::now();

  Result<CallReply> reply = connector->connect(kDead, 5s);

  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->outcome, CallOutcome::False);
  EXPECT_LT(SteadyClock::now() - start, 1s);
}

TEST_F(EiConnectorTest, ReadsRepliesAsLibclusterDoes) {
  const ReplyConnectors connectors = makeReplyConnectors();
  ASSERT_TRUE(connectors.made());

  Result<CallReply> ignored = connectors.ignoring->connect(kB, 5s);
  Result<CallReply> other = connectors.printing->connect(kB, 5s);
  Result<CallReply> badrpc = connectors.missing->connect(kB, 5s);

  ASSERT_TRUE(ignored) << ignored.error().message;
  EXPECT_EQ(ignored->outcome, CallOutcome::Ignored);
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->outcome, CallOutcome::Other);
  EXPECT_EQ(other->term, "\"app@127.0.0.3\"");
  ASSERT_TRUE(badrpc) << badrpc.error().message;
  EXPECT_EQ(badrpc->outcome, CallOutcome::Other);
  EXPECT_THAT(badrpc->term, HasSubstr("badrpc"));
  EXPECT_THAT(badrpc->term, HasSubstr("undef"));
}

TEST_F(EiConnectorTest, ListNodesThatIsNotAListOfAtomsIsInvalid) {
  EiConnectorOptions notAList = options();
  notAList.listNodes = {"erlang", "node", {}};

  const Error error = peersError(notAList, 5s);

  EXPECT_EQ(error.code, Error::Code::Invalid);
  EXPECT_THAT(error.message, HasSubstr("app@127.0.0.2"));
}

TEST_F(EiConnectorTest, WrongCookieIsAClearErrorThatDoesNotContainTheCookie) {
  EiConnectorOptions wrong = options();
  wrong.cookie = "notthecookie4711";
  std::unique_ptr<EiConnector> connector = make(wrong);
  ASSERT_NE(connector, nullptr);

  Result<CallReply> reply = connector->connect(kB, 5s);

  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, Error::Code::Unavailable);
  EXPECT_THAT(reply.error().message, HasSubstr("cookie"));
  EXPECT_THAT(reply.error().message, Not(HasSubstr("notthecookie4711")));
  EXPECT_THAT(reply.error().message, Not(HasSubstr(testbed_->cookie())));
  EXPECT_FALSE(b().nodes().value().contains(kLocal));
}

TEST_F(EiConnectorTest, LocalNodeThatIsDownIsUnavailable) {
  EiConnectorOptions elsewhere = options();
  elsewhere.localNode = "app@127.0.0.50"; // no node there

  const Error error = peersError(elsewhere, 2s);

  EXPECT_EQ(error.code, Error::Code::Unavailable);
  EXPECT_THAT(error.message, HasSubstr("app@127.0.0.50"));
}

// Issue 9 L2: with the port given, a node that is down was reported as "wrong cookie".
TEST_F(EiConnectorTest, LocalNodeThatIsNotRunningIsNotReportedAsAWrongCookie) {
  EiConnectorOptions down = options();
  down.localNodePort = closedLoopbackPort();

  const Error error = peersError(down, 2s);

  EXPECT_EQ(error.code, Error::Code::Unavailable);
  EXPECT_THAT(error.message, HasSubstr("is not running"));
  EXPECT_THAT(error.message, Not(HasSubstr("cookie")));
}

TEST_F(EiConnectorTest, ReconnectsWhenTheLocalNodeRestarts) {
  std::unique_ptr<EiConnector> connector = makeConnectedTo({kB});
  ASSERT_NE(connector, nullptr);

  local().kill();
  Result<PeerSet> whileDown = connector->connectedPeers(2s);
  Result<void> restarted = local().start();
  ASSERT_TRUE(restarted) << restarted.error().message;
  const testing::AssertionResult afterRestart = connects(*connector, kB);

  ASSERT_FALSE(whileDown);
  EXPECT_EQ(whileDown.error().code, Error::Code::Unavailable);
  ASSERT_TRUE(afterRestart);
  EXPECT_EQ(connector->connectionsMade(), 2U);
  EXPECT_TRUE(b().waitForNodes([](const auto& nodes) { return nodes.contains(kLocal); }, 5s));
}

TEST_F(EiConnectorTest, ReconnectsOnTheFirstCallAfterAQuietRestart) {
  std::unique_ptr<EiConnector> connector = makeConnected();
  ASSERT_NE(connector, nullptr);

  // Nobody calls while the node is away: the next call finds a dead link and must not fail.
  Result<void> restarted = local().restart();
  ASSERT_TRUE(restarted) << restarted.error().message;

  EXPECT_TRUE(connects(*connector, kC));
  EXPECT_EQ(connector->connectionsMade(), 2U);
}

TEST_F(EiConnectorTest, TimedOutCallDoesNotMixUpLaterReplies) {
  std::unique_ptr<EiConnector> connector = makeConnected();
  ASSERT_NE(connector, nullptr);
  const auto start = SteadyClock::now();

  Result<CallReply> stuck = connector->connect(kBlackhole, 300ms);
  const auto stuckFor = SteadyClock::now() - start;

  ASSERT_FALSE(stuck);
  EXPECT_EQ(stuck.error().code, Error::Code::Timeout);
  EXPECT_GE(stuckFor, 300ms);
  EXPECT_LT(stuckFor, 1s);
  // Its late `false` arrives after net_setuptime (1 s here); no later call may take it as its own.
  while (SteadyClock::now() - start < 1500ms) {
    Result<PeerSet> peers = connector->connectedPeers(2s);
    ASSERT_TRUE(peers) << peers.error().message;
  }
  ASSERT_TRUE(connects(*connector, kB));
  EXPECT_EQ(connector->connectionsMade(), 1U);
}

TEST_F(EiConnectorTest, CallsInFlightDoNotWaitForEachOther) {
  std::unique_ptr<EiConnector> connector = makeConnected();
  ASSERT_NE(connector, nullptr);
  std::atomic<bool> slowDone{false};

  auto slow = std::async(std::launch::async, [&] {
    Result<CallReply> reply = connector->connect(kBlackhole, 5s);
    slowDone = true;
    return reply;
  });
  std::this_thread::sleep_for(100ms); // let the slow call get on the wire first
  const auto start = SteadyClock::now();
  Result<CallReply> fast = connector->connect(kB, 5s);
  const auto fastTook = SteadyClock::now() - start;
  const bool fastFinishedFirst = !slowDone;
  Result<CallReply> slowReply = slow.get();

  ASSERT_TRUE(fast) << fast.error().message;
  EXPECT_EQ(fast->outcome, CallOutcome::True);
  EXPECT_TRUE(fastFinishedFirst);
  EXPECT_LT(fastTook, 500ms);
  ASSERT_TRUE(slowReply) << slowReply.error().message;
  EXPECT_EQ(slowReply->outcome, CallOutcome::False); // connect_node gave up after net_setuptime
}

TEST_F(EiConnectorTest, ManyThreadsShareTheConnection) {
  std::unique_ptr<EiConnector> connector = makeConnectedTo({kB});
  ASSERT_NE(connector, nullptr);
  std::atomic<int> good{0};

  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < 16; ++i) {
      threads.emplace_back([&] {
        for (int call = 0; call < 20; ++call) {
          Result<PeerSet> peers = connector->connectedPeers(5s);
          if (peers && peers->contains(kB)) {
            ++good;
          }
        }
      });
    }
  }

  EXPECT_EQ(good.load(), 16 * 20);
  EXPECT_EQ(connector->connectionsMade(), 1U);
}

TEST_F(EiConnectorTest, IdleConnectionOutlivesTheTickTime) {
  std::unique_ptr<EiConnector> connector = makeConnected();
  ASSERT_NE(connector, nullptr);

  // net_ticktime is 2 s: a link that did not answer ticks would be dropped by now.
  std::this_thread::sleep_for(3500ms);

  EXPECT_TRUE(connector->isConnected());
  EXPECT_TRUE(local().connectedNodes().value().contains(connector->agentNode()));
  Result<PeerSet> peers = connector->connectedPeers(5s);
  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(connector->connectionsMade(), 1U);
}

TEST_F(EiConnectorTest, FrozenLocalNodeTimesOutAndRecoversWhenThawed) {
  std::unique_ptr<EiConnector> connector = makeConnected();
  ASSERT_NE(connector, nullptr);

  local().freeze();
  Result<PeerSet> frozen = connector->connectedPeers(300ms);
  local().thaw();
  Result<PeerSet> thawed = connector->connectedPeers(5s);

  ASSERT_FALSE(frozen);
  EXPECT_EQ(frozen.error().code, Error::Code::Timeout);
  ASSERT_TRUE(thawed) << thawed.error().message;
  EXPECT_EQ(connector->connectionsMade(), 1U);
}

TEST_F(EiConnectorTest, SettingUpAConnectionToAFrozenNodeTimesOut) {
  std::unique_ptr<EiConnector> connector = make(options());
  ASSERT_NE(connector, nullptr);
  const auto start = SteadyClock::now();

  local().freeze();
  Result<void> connected = connector->ensureConnected(500ms);
  const auto took = SteadyClock::now() - start;
  local().thaw();

  ASSERT_FALSE(connected);
  EXPECT_EQ(connected.error().code, Error::Code::Timeout);
  EXPECT_LT(took, 2s);
  EXPECT_TRUE(connector->ensureConnected(5s));
}

TEST_F(EiConnectorTest, CallsBeyondTheParallelLimitWaitForASlot) {
  EiConnectorOptions single = options();
  single.maxParallelRpcs = 1;
  std::unique_ptr<EiConnector> connector = makeConnected(single);
  ASSERT_NE(connector, nullptr);

  auto slow = std::async(std::launch::async, [&] { return connector->connect(kBlackhole, 5s); });
  std::this_thread::sleep_for(100ms);
  Result<PeerSet> waiting = connector->connectedPeers(200ms);
  Result<CallReply> slowReply = slow.get();
  Result<PeerSet> afterwards = connector->connectedPeers(5s);

  ASSERT_FALSE(waiting);
  EXPECT_EQ(waiting.error().code, Error::Code::Timeout);
  ASSERT_TRUE(slowReply) << slowReply.error().message;
  EXPECT_TRUE(afterwards) << afterwards.error().message;
}

/// Waits (bounded) for node events until `done` says enough; returns everything seen.
std::vector<NodeEvent> collectEvents(EiConnector& connector,
                                     const std::function<bool(const std::vector<NodeEvent>&)>& done,
                                     std::chrono::milliseconds timeout = 10s) {
  std::vector<NodeEvent> seen;
  const auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline && !done(seen)) {
    Result<NodeEvents> got = connector.waitForNodeEvents(500ms, {});
    if (got) {
      seen.insert(seen.end(), got->events.begin(), got->events.end());
    }
  }
  return seen;
}

bool hasEvent(const std::vector<NodeEvent>& events, NodeEvent::Kind kind, const std::string& node) {
  return std::any_of(events.begin(), events.end(), [&](const NodeEvent& event) {
    return event.kind == kind && event.node == node;
  });
}

/// Whether the connector re-arms its node watcher within 10 s (20 waits of 500 ms).
bool rearms(EiConnector& connector) {
  for (int i = 0; i < 20; ++i) {
    Result<NodeEvents> got = connector.waitForNodeEvents(500ms, {});
    if (got && got->rearmed) {
      return true;
    }
  }
  return false;
}

TEST_F(EiConnectorTest, ReportsNodeupAndNodedownOfTheLocalNodeAsTheyHappen) {
  std::unique_ptr<EiConnector> connector = make(options());
  ASSERT_NE(connector, nullptr);
  Result<NodeEvents> armed = connector->waitForNodeEvents(5s, {});
  ASSERT_TRUE(armed) << armed.error().message;
  ASSERT_TRUE(armed->rearmed);

  // Connections made and cut by the node itself (not through the agent) are heard too.
  ASSERT_TRUE(local().eval("net_kernel:connect_node('app@127.0.0.3')."));
  const std::vector<NodeEvent> up = collectEvents(
      *connector, [](const auto& events) { return hasEvent(events, NodeEvent::Kind::Up, kB); });
  ASSERT_TRUE(local().eval("erlang:disconnect_node('app@127.0.0.3')."));
  const std::vector<NodeEvent> down = collectEvents(
      *connector, [](const auto& events) { return hasEvent(events, NodeEvent::Kind::Down, kB); });

  EXPECT_TRUE(hasEvent(up, NodeEvent::Kind::Up, kB));
  ASSERT_TRUE(hasEvent(down, NodeEvent::Kind::Down, kB));
  EXPECT_THAT(down.back().reason, HasSubstr("disconnect"));
  // The agent is a hidden node: never reported as a peer.
  for (const NodeEvent& event : up) {
    EXPECT_NE(event.node, connector->agentNode());
  }
}

TEST_F(EiConnectorTest, NodeWatcherIsStartedAgainWhenItDiesOrTheLocalNodeRestarts) {
  std::unique_ptr<EiConnector> connector = make(options());
  ASSERT_NE(connector, nullptr);
  ASSERT_TRUE(connector->waitForNodeEvents(5s, {}));

  // Someone kills the watcher (found as the process linked to the agent's hidden node).
  Result<std::string> killed =
      local().eval("[exit(P, kill) || P <- processes(), {links, Ls} <- [process_info(P, links)], "
                   "lists:any(fun(L) -> is_pid(L) andalso node(L) =/= node() end, Ls)], ok.");
  ASSERT_TRUE(killed) << killed.error().message;
  EXPECT_TRUE(rearms(*connector));
  ASSERT_TRUE(local().eval("net_kernel:connect_node('app@127.0.0.4')."));
  EXPECT_TRUE(hasEvent(
      collectEvents(*connector,
                    [](const auto& events) { return hasEvent(events, NodeEvent::Kind::Up, kC); }),
      NodeEvent::Kind::Up, kC));

  ASSERT_TRUE(local().restart());
  EXPECT_TRUE(rearms(*connector));
  ASSERT_TRUE(local().eval("net_kernel:connect_node('app@127.0.0.3')."));
  EXPECT_TRUE(hasEvent(
      collectEvents(*connector,
                    [](const auto& events) { return hasEvent(events, NodeEvent::Kind::Up, kB); }),
      NodeEvent::Kind::Up, kB));
}

TEST_F(EiConnectorTest, MessagesToTheEventPidThatAreNotNodeEventsAreDropped) {
  std::unique_ptr<EiConnector> connector = make(options());
  ASSERT_NE(connector, nullptr);
  ASSERT_TRUE(connector->waitForNodeEvents(5s, {}));

  // Whoever finds the watcher can send it anything; it forwards it all to the agent.
  Result<std::string> sent = local().eval(
      "[[P ! M || M <- [junk, {nodeup}, {nodeup, 42, []}, {nodeup, 'not a node', []}, "
      "{other, 'x@y', []}, {nodeup, 'app@127.0.0.77', [], extra}]] || P <- processes(), "
      "{links, Ls} <- [process_info(P, links)], "
      "lists:any(fun(L) -> is_pid(L) andalso node(L) =/= node() end, Ls)], ok.");
  ASSERT_TRUE(sent) << sent.error().message;
  std::vector<NodeEvent> seen;
  for (int i = 0; i < 4; ++i) {
    Result<NodeEvents> got = connector->waitForNodeEvents(250ms, {});
    ASSERT_TRUE(got) << got.error().message;
    seen.insert(seen.end(), got->events.begin(), got->events.end());
  }

  EXPECT_TRUE(seen.empty());
  EXPECT_TRUE(connector->connectedPeers(5s)); // the connection survived it
}

TEST_F(EiConnectorTest, DisconnectsFromEveryPeerAtOnce) {
  std::unique_ptr<EiConnector> connector = makeConnectedTo({kB, kC});
  ASSERT_NE(connector, nullptr);

  std::optional<Result<void>> left = connector->disconnectAtOnce({kB, kC, kDead}, 5s);

  ASSERT_TRUE(left);
  ASSERT_TRUE(*left) << left->error().message;
  EXPECT_EQ(withoutProbes(local().nodes().value()), std::set<std::string>{});
  // `global` was suspended only meanwhile: it still answers.
  Result<std::string> global = local().eval("global:registered_names(), ok.");
  ASSERT_TRUE(global) << global.error().message;
  EXPECT_THAT(*global, HasSubstr("ok"));
  EXPECT_FALSE(connector->disconnectAtOnce({"not a node"}, 5s)->has_value());
}

TEST_F(EiConnectorTest, ConnectsToEveryPeerAtOnceInOneCall) {
  std::unique_ptr<EiConnector> connector = make(options());
  ASSERT_NE(connector, nullptr);

  Result<ConnectReplies> replies = connector->connectAtOnce({kB, kC, kDead}, 5s);

  ASSERT_TRUE(connector->connectsAtOnce());
  ASSERT_TRUE(replies) << replies.error().message;
  ASSERT_EQ(replies->size(), 3U);
  EXPECT_EQ(replies->at(kB).value().outcome, CallOutcome::True);
  EXPECT_EQ(replies->at(kC).value().outcome, CallOutcome::True);
  EXPECT_EQ(replies->at(kDead).value().outcome, CallOutcome::False);
  EXPECT_EQ(replies->at(kDead).value().term, "false");
  // Asked of the peers themselves.
  EXPECT_EQ(b().nodes().value(), std::set<std::string>{kLocal});
  EXPECT_EQ(c().nodes().value(), std::set<std::string>{kLocal});
  EXPECT_FALSE(connector->connectAtOnce({"not a node"}, 5s));
}

TEST_F(EiConnectorTest, ConnectingAtOnceRunsTheConfiguredCallWithItsArgumentsPerPeer) {
  const ReplyConnectors connectors = makeReplyConnectors();
  ASSERT_TRUE(connectors.made());

  auto ignored = connectors.ignoring->connectAtOnce({kB, kC}, 5s);
  auto printed = connectors.printing->connectAtOnce({kB, kC}, 5s);
  auto crashed = connectors.missing->connectAtOnce({kB, kC}, 5s);

  ASSERT_TRUE(ignored && printed && crashed);
  for (const char* peer : {kB, kC}) {
    EXPECT_EQ(ignored->at(peer).value().outcome, CallOutcome::Ignored);
    EXPECT_EQ(printed->at(peer).value().outcome, CallOutcome::Other);
    EXPECT_EQ(printed->at(peer).value().term, "\"" + std::string(peer) + "\"");
    EXPECT_EQ(crashed->at(peer).value().outcome, CallOutcome::Other);
    EXPECT_THAT(crashed->at(peer).value().term, HasSubstr("undef"));
  }
  EXPECT_EQ(withoutProbes(local().nodes().value()), std::set<std::string>{}); // none connected
}

TEST_F(EiConnectorTest, APeerThatHangsInAConnectAtOnceTimesOutAloneAndTheOthersAnswer) {
  std::unique_ptr<EiConnector> connector = makeConnected();
  ASSERT_NE(connector, nullptr);
  const auto start = SteadyClock::now();

  // The blackholed peer accepts TCP and never answers the handshake (net_setuptime 1 s).
  Result<ConnectReplies> replies = connector->connectAtOnce({kB, kBlackhole}, 500ms);

  ASSERT_TRUE(replies) << replies.error().message;
  EXPECT_EQ(replies->at(kB).value().outcome, CallOutcome::True);
  ASSERT_FALSE(replies->at(kBlackhole));
  EXPECT_EQ(replies->at(kBlackhole).error().code, Error::Code::Timeout);
  EXPECT_LT(SteadyClock::now() - start, 1s);
}

TEST_F(EiConnectorTest, ACustomDisconnectCallIsNotReplacedByDisconnectingAtOnce) {
  EiConnectorOptions custom = options();
  custom.disconnect = Mfa{"erlang", "disconnect_node", {}};
  custom.disconnect.module = "net_kernel";
  custom.disconnect.function = "disconnect";
  std::unique_ptr<EiConnector> connector = make(custom);
  ASSERT_NE(connector, nullptr);

  EXPECT_FALSE(connector->disconnectAtOnce({kB}, 5s).has_value());
}

TEST_F(EiConnectorTest, EachStartIsANewHiddenNode) {
  std::unique_ptr<EiConnector> first = make(options());
  std::unique_ptr<EiConnector> second = make(options());
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);

  ASSERT_TRUE(first->ensureConnected(5s));
  ASSERT_TRUE(second->ensureConnected(5s));

  EXPECT_NE(first->agentNode(), second->agentNode());
  EXPECT_THAT(first->agentNode(), HasSubstr("@127.0.0.2"));
  const std::set<std::string> connected = local().connectedNodes().value();
  EXPECT_TRUE(connected.contains(first->agentNode()));
  EXPECT_TRUE(connected.contains(second->agentNode()));
}

} // namespace
} // namespace libcluster
