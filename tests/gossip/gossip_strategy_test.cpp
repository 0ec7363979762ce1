// GossipStrategy over real sockets, inside network namespaces this test creates (root only): a
// lo-only namespace per test, and for the bridged cases one namespace per node joined by a
// bridge in another namespace. The root namespace's interfaces and routes are never touched.
#include "gossip/gossip_strategy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <atomic>
#include <future>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "gossip/gossip_test_support.h"
#include "gossip/network_namespace.h"
#include "support/eventually.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

constexpr const char* kKeyA = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr const char* kKeyB = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

GossipOptions fastOptions() {
  GossipOptions options;
  options.mode = GossipMode::Plain;
  options.heartbeatMin = 20ms;
  options.heartbeatMax = 100ms;
  return options;
}

/// Datagrams counted under any outcome but Accepted and Self.
std::uint64_t dropped(const GossipStrategy& strategy) {
  std::uint64_t total = 0;
  for (GossipOutcome outcome : kGossipOutcomes) {
    if (outcome != GossipOutcome::Accepted && outcome != GossipOutcome::Self) {
      total += strategy.packets(outcome);
    }
  }
  return total;
}

PeerSet peersOf(GossipStrategy& strategy) {
  Result<PeerSet> peers = strategy.discoverPeers(std::stop_token{});
  return peers ? *peers : PeerSet{};
}

class GossipStrategyTest : public testing::Test {
protected:
  void SetUp() override {
    std::string whyNot;
    namespace_ = NetworkNamespace::create(whyNot);
    if (!namespace_) {
      GTEST_SKIP() << whyNot;
    }
  }

  /// Starts a strategy whose socket lives in `where` (default: this test's namespace).
  Result<std::unique_ptr<GossipStrategy>>
  startIn(const NetworkNamespace& where, const GossipOptions& options, const std::string& self) {
    std::optional<Result<std::unique_ptr<GossipStrategy>>> started;
    bool entered = where.enter(
        [&] { started.emplace(GossipStrategy::start(options, self, "gossip", clock_, metrics_)); });
    if (!entered || !started) {
      return Error{Error::Code::Internal, "could not enter " + where.name(), {}};
    }
    return std::move(*started);
  }

  std::unique_ptr<GossipStrategy> start(const GossipOptions& options, const std::string& self) {
    Result<std::unique_ptr<GossipStrategy>> started = startIn(*namespace_, options, self);
    EXPECT_TRUE(started) << (started ? "" : started.error().message);
    return started ? std::move(started).value() : nullptr;
  }

  /// A plain UDP socket in the namespace, to throw arbitrary datagrams at the group.
  int rawSocket() {
    int fd = -1;
    namespace_->enter([&] { fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); });
    return fd;
  }

  /// A raw socket whose datagrams come from `source` (any 127/8 address is on lo).
  int rawSocketFrom(const char* source) {
    int fd = rawSocket();
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, source, &local.sin_addr);
    EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local), 0);
    return fd;
  }

  /// Sends one plain heartbeat per name, in batches of 32 each waited for (until the strategies
  /// have counted that many more datagrams, or 5 s), so that no receive buffer overflows. The
  /// strategies of one test share their counters: `receivers` is how many hear the group.
  void flood(int fd, GossipStrategy& strategy, const std::vector<std::string>& names,
             std::uint64_t receivers = 1) {
    auto total = [&] {
      std::uint64_t sum = 0;
      for (GossipOutcome outcome : kGossipOutcomes) {
        sum += strategy.packets(outcome);
      }
      return sum;
    };
    std::uint64_t before = total();
    std::uint64_t sent = 0;
    for (const std::string& name : names) {
      sendTo(fd, encodeHeartbeat(name));
      if (++sent % 32 == 0 || sent == names.size()) {
        EXPECT_TRUE(eventually([&] { return total() - before >= sent * receivers; })) << sent;
      }
    }
  }

  void sendTo(int fd, const std::vector<std::uint8_t>& datagram,
              const char* address = "233.252.1.32", int port = 45892) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, address, &to.sin_addr);
    ASSERT_GE(::sendto(fd, datagram.data(), datagram.size(), 0,
                       reinterpret_cast<const sockaddr*>(&to), sizeof to),
              0);
  }

  SystemClock clock_;
  MetricsRegistry metrics_;
  std::optional<NetworkNamespace> namespace_;
};

TEST_F(GossipStrategyTest, TwoNodesDiscoverEachOtherOverMulticast) {
  auto a = start(fastOptions(), "app@10.0.0.1");
  auto b = start(fastOptions(), "app@10.0.0.2");
  ASSERT_TRUE(a && b);

  EXPECT_TRUE(eventually([&] { return peersOf(*a) == PeerSet{"app@10.0.0.2"}; }));
  EXPECT_TRUE(eventually([&] { return peersOf(*b) == PeerSet{"app@10.0.0.1"}; }));
  EXPECT_FALSE(a->prunes());
  EXPECT_GT(a->packets(GossipOutcome::Self), 0u);
  EXPECT_GT(a->heartbeatsSent(), 0u);
}

TEST_F(GossipStrategyTest, FiveNodesAllFindEachOtherOnTheDefaultGroupAndPort) {
  std::vector<std::unique_ptr<GossipStrategy>> nodes;
  PeerSet all;
  for (int i = 1; i <= 5; ++i) {
    all.insert("app@10.0.0." + std::to_string(i));
    nodes.push_back(start(fastOptions(), "app@10.0.0." + std::to_string(i)));
    ASSERT_TRUE(nodes.back());
  }

  for (int i = 1; i <= 5; ++i) {
    PeerSet expected = all;
    expected.erase("app@10.0.0." + std::to_string(i));
    EXPECT_TRUE(eventually([&] { return peersOf(*nodes[i - 1]) == expected; })) << i;
  }
}

TEST_F(GossipStrategyTest, WaitForChangeWakesAsSoonAsANewNodeIsHeard) {
  GossipOptions slow = fastOptions();
  slow.heartbeatMin = slow.heartbeatMax = 60s; // only the immediate first heartbeat
  auto a = start(slow, "app@10.0.0.1");
  ASSERT_TRUE(a);
  ASSERT_EQ(peersOf(*a), PeerSet{});
  auto began = std::chrono::steady_clock::now();
  auto woke = std::async(std::launch::async, [&] {
    return a->waitForChange(clock_.now() + 30s, std::stop_token{}, clock_);
  });

  auto b = start(slow, "app@10.0.0.2");

  ASSERT_EQ(woke.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(woke.get());
  EXPECT_LT(std::chrono::steady_clock::now() - began, 2s);
  EXPECT_EQ(peersOf(*a), PeerSet{"app@10.0.0.2"});
}

TEST_F(GossipStrategyTest, WaitForChangeReturnsFalseWhenStopped) {
  auto a = start(fastOptions(), "app@10.0.0.1");
  ASSERT_TRUE(a);
  std::stop_source stop;
  auto woke = std::async(std::launch::async, [&] {
    return a->waitForChange(clock_.now() + 30s, stop.get_token(), clock_);
  });

  stop.request_stop();

  ASSERT_EQ(woke.wait_for(2s), std::future_status::ready);
  EXPECT_FALSE(woke.get());
}

TEST_F(GossipStrategyTest, RemembersPeersThatFellSilentAsLibclusterDoes) {
  auto a = start(fastOptions(), "app@10.0.0.1");
  auto b = start(fastOptions(), "app@10.0.0.2");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(eventually([&] { return peersOf(*a).contains("app@10.0.0.2"); }));

  b.reset();
  std::this_thread::sleep_for(500ms);

  EXPECT_EQ(peersOf(*a), PeerSet{"app@10.0.0.2"});
}

TEST_F(GossipStrategyTest, PeerExpiryForgetsSilentPeersAndRelearnsThem) {
  GossipOptions expiring = fastOptions();
  expiring.peerExpiry = 400ms;
  auto a = start(expiring, "app@10.0.0.1");
  auto b = start(fastOptions(), "app@10.0.0.2");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(eventually([&] { return peersOf(*a).contains("app@10.0.0.2"); }));

  b.reset();

  EXPECT_TRUE(eventually([&] { return peersOf(*a).empty(); }, 3s));
  b = start(fastOptions(), "app@10.0.0.2");
  EXPECT_TRUE(eventually([&] { return peersOf(*a) == PeerSet{"app@10.0.0.2"}; }));
}

TEST_F(GossipStrategyTest, SecretModeNodesFindEachOtherAndIgnorePlainOnes) {
  GossipOptions secret = fastOptions();
  secret.secret = "somepassword";
  secret.mode.reset();
  auto a = start(secret, "app@10.0.0.1");
  auto b = start(secret, "app@10.0.0.2");
  auto plain = start(fastOptions(), "app@10.0.0.3");
  ASSERT_TRUE(a && b && plain);

  EXPECT_TRUE(eventually([&] { return peersOf(*a) == PeerSet{"app@10.0.0.2"}; }));
  EXPECT_TRUE(eventually([&] { return a->packets(GossipOutcome::DecryptFailed) > 0; }));
  EXPECT_TRUE(eventually([&] { return plain->packets(GossipOutcome::NotHeartbeat) > 0; }));
  EXPECT_EQ(peersOf(*plain), PeerSet{});
  EXPECT_EQ(peersOf(*a), PeerSet{"app@10.0.0.2"});
}

TEST_F(GossipStrategyTest, AuthenticatedClustersWithAnotherLabelOrKeyStayApart) {
  GossipOptions blue = fastOptions();
  blue.keys = {kKeyA};
  blue.mode.reset();
  blue.label = "blue";
  GossipOptions green = blue;
  green.label = "green";
  GossipOptions otherKey = blue;
  otherKey.keys = {kKeyB};
  auto a = start(blue, "app@10.0.0.1");
  auto b = start(blue, "app@10.0.0.2");
  auto c = start(green, "app@10.0.0.3");
  auto d = start(otherKey, "app@10.0.0.4");
  auto plain = start(fastOptions(), "app@10.0.0.5");
  ASSERT_TRUE(a && b && c && d && plain);

  EXPECT_TRUE(eventually([&] { return peersOf(*a) == PeerSet{"app@10.0.0.2"}; }));
  EXPECT_TRUE(eventually([&] {
    return a->packets(GossipOutcome::AuthFailed) > 0 && a->packets(GossipOutcome::Foreign) > 0;
  }));
  EXPECT_EQ(peersOf(*a), PeerSet{"app@10.0.0.2"});
  EXPECT_EQ(peersOf(*c), PeerSet{});
  EXPECT_EQ(peersOf(*d), PeerSet{});
  EXPECT_EQ(a->packets(GossipOutcome::Replayed), 0u);
}

TEST_F(GossipStrategyTest, AuthenticatedModeRotatesKeysWithoutLosingPeers) {
  GossipOptions old = fastOptions();
  old.keys = {kKeyA};
  old.mode.reset();
  GossipOptions rotating = fastOptions();
  rotating.keys = {kKeyB, kKeyA}; // the new key seals, the old one still opens
  rotating.mode.reset();
  auto a = start(old, "app@10.0.0.1");
  auto b = start(rotating, "app@10.0.0.2");
  ASSERT_TRUE(a && b);

  EXPECT_TRUE(eventually([&] { return peersOf(*b) == PeerSet{"app@10.0.0.1"}; }));
  EXPECT_TRUE(eventually([&] { return a->packets(GossipOutcome::AuthFailed) > 0; }));
  EXPECT_EQ(peersOf(*a), PeerSet{});
}

TEST_F(GossipStrategyTest, ReplayedAuthenticatedDatagramsAreCountedAndDropped) {
  GossipOptions sealed = fastOptions();
  sealed.keys = {kKeyA};
  sealed.mode.reset();
  auto a = start(sealed, "app@10.0.0.1");
  ASSERT_TRUE(a);
  GossipSecurity security = gossipSecurity(sealed);
  GossipCodec sender(security);
  std::vector<std::uint8_t> datagram = sender.encode("app@10.0.0.9", clock_.systemNow()).value();
  std::vector<std::uint8_t> old = sender.encode("app@10.0.0.8", clock_.systemNow() - 60s).value();
  int fd = rawSocket();
  ASSERT_GE(fd, 0);

  for (int i = 0; i < 3; ++i) {
    sendTo(fd, datagram);
  }
  sendTo(fd, old);

  EXPECT_TRUE(eventually([&] { return a->packets(GossipOutcome::Replayed) == 2; }));
  EXPECT_TRUE(eventually([&] { return a->packets(GossipOutcome::Stale) == 1; }));
  EXPECT_EQ(peersOf(*a), PeerSet{"app@10.0.0.9"});
  ::close(fd);
}

TEST_F(GossipStrategyTest, MalformedDatagramsAreCountedAndNeverStopDiscovery) {
  auto a = start(fastOptions(), "app@10.0.0.1");
  ASSERT_TRUE(a);
  int fd = rawSocket();
  ASSERT_GE(fd, 0);
  std::vector<std::uint8_t> truncated = fromHex(kPlainMyappHex);
  truncated.resize(truncated.size() - 5);
  std::vector<std::uint8_t> badName =
      concat(bytesOf("heartbeat::"), fromHex("8374000000016400046e6f6465640003612062"));
  std::vector<std::uint8_t> notAMap = concat(bytesOf("heartbeat::"), fromHex("8364000161"));

  // In batches, each waited for: a burst larger than the receive buffer would just be lost.
  std::uint64_t sent = 0;
  auto send = [&](const std::vector<std::uint8_t>& datagram) {
    sendTo(fd, datagram);
    if (++sent % 50 == 0) {
      EXPECT_TRUE(eventually([&] { return dropped(*a) >= sent; })) << sent;
    }
  };
  send(bytesOf("hello"));
  send({});
  send(truncated);
  send(badName);
  send(notAMap);
  std::mt19937 random(1);
  for (int i = 0; i < 495; ++i) {
    std::vector<std::uint8_t> noise = bytesOf("heartbeat::");
    noise.resize(12 + random() % 200);
    for (std::size_t j = 11; j < noise.size(); ++j) {
      noise[j] = static_cast<std::uint8_t>(random());
    }
    if (i % 2 == 0) {
      noise[11] = 131; // past the version byte, into the term decoder
    }
    send(noise);
  }

  EXPECT_TRUE(eventually([&] { return dropped(*a) == 500; }));
  EXPECT_TRUE(eventually([&] { return a->packets(GossipOutcome::NotHeartbeat) >= 2; }));
  EXPECT_GE(a->packets(GossipOutcome::Malformed), 240u);
  EXPECT_GE(a->packets(GossipOutcome::InvalidNode), 1u);
  EXPECT_GE(a->packets(GossipOutcome::UnexpectedTerm), 1u); // noise can be a valid term too
  auto b = start(fastOptions(), "app@10.0.0.2");
  EXPECT_TRUE(eventually([&] { return peersOf(*a) == PeerSet{"app@10.0.0.2"}; }));
  EXPECT_NE(metrics_.render().find(
                "libcluster_gossip_packets_total{outcome=\"malformed\",topology=\"gossip\"}"),
            std::string::npos);
  ::close(fd);
}

TEST_F(GossipStrategyTest, StopsRememberingNewPeersAtTheLimit) {
  GossipOptions limited = fastOptions();
  limited.maxPeers = 2;
  auto a = start(limited, "app@10.0.0.1");
  ASSERT_TRUE(a);
  int fd = rawSocket();
  ASSERT_GE(fd, 0);

  for (int i = 2; i <= 4; ++i) {
    sendTo(fd, encodeHeartbeat("app@10.0.0." + std::to_string(i)));
  }

  EXPECT_TRUE(eventually([&] { return a->packets(GossipOutcome::PeerLimit) == 1; }));
  EXPECT_EQ(peersOf(*a), (PeerSet{"app@10.0.0.2", "app@10.0.0.3"}));
  ::close(fd);
}

// Issue 9 M3: 4 096 forged names filled the table and locked a real node out for ever.
TEST_F(GossipStrategyTest, AFloodOfForgedNamesCannotLockOutOrEvictRealPeers) {
  auto a = start(fastOptions(), "app@10.0.0.1");
  auto b = start(fastOptions(), "app@10.0.0.2");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(eventually([&] { return peersOf(*a).contains("app@10.0.0.2"); }));
  int attacker = rawSocketFrom("127.0.0.2");
  ASSERT_GE(attacker, 0);
  std::vector<std::string> forged;
  for (int i = 0; i < 4200; ++i) { // more than max_peers (4096)
    forged.push_back("forged" + std::to_string(i) + "@10.66.0.1");
  }

  flood(attacker, *a, forged, 2); // a and b hear it
  auto c = start(fastOptions(), "app@10.0.0.3");
  ASSERT_TRUE(c);

  EXPECT_TRUE(eventually([&] { return peersOf(*a).contains("app@10.0.0.3"); }));
  PeerSet peers = peersOf(*a);
  EXPECT_TRUE(peers.contains("app@10.0.0.2"));
  // One sender introduces at most max_peers_per_source (16) names.
  EXPECT_LE(peers.size(), 2u + 16u);
  ::close(attacker);
}

TEST_F(GossipStrategyTest, ForgedNamesFromManySendersAreBoundedByTheNewPeerRate) {
  GossipOptions limited = fastOptions();
  limited.newPeersPerSecond = 1;
  auto a = start(limited, "app@10.0.0.1");
  ASSERT_TRUE(a);
  auto began = std::chrono::steady_clock::now();

  // 40 senders × 16 names: each within its per-sender quota, together beyond the burst.
  for (int source = 2; source < 42; ++source) {
    std::string address = "127.0.1." + std::to_string(source);
    int fd = rawSocketFrom(address.c_str());
    ASSERT_GE(fd, 0);
    std::vector<std::string> names;
    for (int i = 0; i < 16; ++i) {
      names.push_back("forged" + std::to_string(i) + "@" + address);
    }
    flood(fd, *a, names);
    ::close(fd);
  }

  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  EXPECT_GT(a->packets(GossipOutcome::RateLimited), 0u);
  EXPECT_LE(peersOf(*a).size(), static_cast<std::size_t>(kNewPeerBurst + seconds + 2));
}

TEST_F(GossipStrategyTest, ANewPeerIsRememberedWhenTheTableHoldsOnlySilentNames) {
  GossipOptions limited = fastOptions();
  limited.maxPeers = 2;
  limited.peerExpiry = 300ms;
  auto a = start(limited, "app@10.0.0.1");
  ASSERT_TRUE(a);
  int fd = rawSocket();
  ASSERT_GE(fd, 0);
  sendTo(fd, encodeHeartbeat("app@10.0.0.8"));
  sendTo(fd, encodeHeartbeat("app@10.0.0.9"));
  ASSERT_TRUE(eventually([&] { return peersOf(*a).size() == 2; }));
  sendTo(fd, encodeHeartbeat("app@10.0.0.7")); // table full of live names: dropped
  ASSERT_TRUE(eventually([&] { return a->packets(GossipOutcome::PeerLimit) == 1; }));

  auto b = start(fastOptions(), "app@10.0.0.2"); // heard again and again once those fall silent

  EXPECT_TRUE(eventually([&] { return peersOf(*a) == PeerSet{"app@10.0.0.2"}; }));
  ::close(fd);
}

TEST_F(GossipStrategyTest, UnicastHeartbeatsAreNotHeardUnlessIfAddrAsksForThem) {
  auto a = start(fastOptions(), "app@10.0.0.1");
  GossipOptions wildcard = fastOptions();
  wildcard.ifAddr = "0.0.0.0"; // libcluster's default, now a choice
  wildcard.port = 45893;
  auto w = start(wildcard, "app@10.0.0.1");
  ASSERT_TRUE(a && w);
  int fd = rawSocket();
  ASSERT_GE(fd, 0);

  sendTo(fd, encodeHeartbeat("app@10.0.0.8"), "127.0.0.1", 45892);
  sendTo(fd, encodeHeartbeat("app@10.0.0.8"), "127.0.0.1", 45893);
  sendTo(fd, encodeHeartbeat("app@10.0.0.9")); // to the group, sent after: once it is heard,
                                                // the unicast one would have been too

  EXPECT_TRUE(eventually([&] { return peersOf(*a).contains("app@10.0.0.9"); }));
  EXPECT_FALSE(peersOf(*a).contains("app@10.0.0.8"));
  EXPECT_TRUE(eventually([&] { return peersOf(*w).contains("app@10.0.0.8"); }));
  ::close(fd);
}

TEST_F(GossipStrategyTest, AStreamOfNewNamesWakesTheRunnerAboutOncePerSecond) {
  auto a = start(fastOptions(), "app@10.0.0.1");
  ASSERT_TRUE(a);
  std::stop_source stop;
  std::atomic<int> wakes{0};
  std::jthread waiter([&] {
    while (a->waitForChange(clock_.now() + 30s, stop.get_token(), clock_)) {
      ++wakes;
    }
  });
  std::vector<std::string> names;
  for (int i = 0; i < 60; ++i) {
    names.push_back("app@10.1.0." + std::to_string(i));
  }
  auto began = std::chrono::steady_clock::now();

  // 60 new names over about 1.5 s, from four senders (each within its quota).
  for (int batch = 0; batch < 4; ++batch) {
    std::string source = "127.0.2." + std::to_string(batch + 1);
    int fd = rawSocketFrom(source.c_str());
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 15; ++i) {
      sendTo(fd, encodeHeartbeat(names[static_cast<std::size_t>(batch * 15 + i)]));
      std::this_thread::sleep_for(25ms);
    }
    ::close(fd);
  }
  ASSERT_TRUE(eventually([&] { return peersOf(*a).size() == 60; }));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  stop.request_stop();
  waiter.join();

  EXPECT_GE(wakes.load(), 1);
  EXPECT_LE(wakes.load(), static_cast<int>(seconds) + 2) << seconds;
}

TEST_F(GossipStrategyTest, BroadcastOnlyNodesFindEachOther) {
  GossipOptions broadcast = fastOptions();
  broadcast.broadcastOnly = true;
  broadcast.multicastAddr = "127.255.255.255";
  auto a = start(broadcast, "app@10.0.0.1");
  auto b = start(broadcast, "app@10.0.0.2");
  ASSERT_TRUE(a && b);

  EXPECT_TRUE(eventually([&] { return peersOf(*a) == PeerSet{"app@10.0.0.2"}; }));
  EXPECT_TRUE(eventually([&] { return peersOf(*b) == PeerSet{"app@10.0.0.1"}; }));
}

TEST_F(GossipStrategyTest, StartFailsWithAnErrorWhereLibclusterCrashed) {
  GossipOptions badInterface = fastOptions();
  badInterface.multicastIf = "192.168.1.1"; // libcluster issue #189: not an address of this host
  GossipOptions badBind = fastOptions();
  badBind.ifAddr = "10.9.9.9";
  GossipOptions busy = fastOptions();
  busy.port = 45999;
  int exclusive = rawSocket(); // bound without SO_REUSEADDR, as a foreign program would be
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(45999);
  ASSERT_EQ(::bind(exclusive, reinterpret_cast<const sockaddr*>(&local), sizeof local), 0);

  auto interfaceResult = startIn(*namespace_, badInterface, "app@10.0.0.1");
  auto bindResult = startIn(*namespace_, badBind, "app@10.0.0.1");
  auto busyResult = startIn(*namespace_, busy, "app@10.0.0.1");
  auto badName = startIn(*namespace_, fastOptions(), "not a node");

  ASSERT_FALSE(interfaceResult);
  EXPECT_EQ(interfaceResult.error().code, Error::Code::Invalid);
  EXPECT_NE(interfaceResult.error().message.find("multicast_if 192.168.1.1"), std::string::npos)
      << interfaceResult.error().message;
  ASSERT_FALSE(bindResult);
  EXPECT_EQ(bindResult.error().code, Error::Code::Invalid);
  ASSERT_FALSE(busyResult);
  EXPECT_EQ(busyResult.error().code, Error::Code::Unavailable);
  ASSERT_FALSE(badName);
  EXPECT_EQ(badName.error().code, Error::Code::Invalid);
  ::close(exclusive);
}

TEST_F(GossipStrategyTest, SharesThePortWithAnotherReuseAddrSocket) {
  int shared = rawSocket(); // e.g. an Elixir node's gen_udp socket (reuseaddr: true)
  int on = 1;
  ASSERT_EQ(::setsockopt(shared, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(45892);
  ASSERT_EQ(::bind(shared, reinterpret_cast<const sockaddr*>(&local), sizeof local), 0);

  auto a = start(fastOptions(), "app@10.0.0.1");

  EXPECT_TRUE(a);
  ::close(shared);
}

/// Nodes in separate namespaces, each with its own address on a veth into a bridge that lives in
/// yet another namespace: datagrams cross interfaces and arrive from the sender's address.
class GossipBridgeTest : public testing::Test {
protected:
  void SetUp() override {
    std::string whyNot;
    bridge_ = NetworkNamespace::create(whyNot);
    if (!bridge_) {
      GTEST_SKIP() << whyNot;
    }
    ASSERT_TRUE(bridge_->ip("link add br0 type bridge mcast_snooping 0") &&
                bridge_->ip("link set br0 up"))
        << bridge_->failed();
    for (int i = 1; i <= 3; ++i) {
      std::optional<NetworkNamespace> node = NetworkNamespace::create(whyNot);
      ASSERT_TRUE(node) << whyNot;
      std::string port = "p" + std::to_string(i);
      ASSERT_TRUE(
          node->ip("link add eth0 type veth peer name " + port + " netns " + bridge_->name()) &&
          node->ip("addr add 10.77.0." + std::to_string(i) + "/24 dev eth0") &&
          node->ip("link set eth0 up") && node->ip("route replace 224.0.0.0/4 dev eth0") &&
          bridge_->ip("link set " + port + " master br0") &&
          bridge_->ip("link set " + port + " up"))
          << node->failed() << bridge_->failed();
      nodes_.push_back(std::move(*node));
    }
  }

  std::unique_ptr<GossipStrategy> startOn(int node, const GossipOptions& options) {
    std::optional<Result<std::unique_ptr<GossipStrategy>>> started;
    nodes_[node - 1].enter([&] {
      started.emplace(GossipStrategy::start(options, "app@10.77.0." + std::to_string(node),
                                            "gossip", clock_, metrics_));
    });
    EXPECT_TRUE(started && *started) << (started && !*started ? started->error().message : "");
    return started && *started ? std::move(*started).value() : nullptr;
  }

  void expectEveryoneFindsEveryone(std::vector<std::unique_ptr<GossipStrategy>>& strategies) {
    for (int i = 1; i <= 3; ++i) {
      PeerSet expected{"app@10.77.0.1", "app@10.77.0.2", "app@10.77.0.3"};
      expected.erase("app@10.77.0." + std::to_string(i));
      EXPECT_TRUE(eventually([&] { return peersOf(*strategies[i - 1]) == expected; })) << i;
    }
  }

  SystemClock clock_;
  MetricsRegistry metrics_;
  std::optional<NetworkNamespace> bridge_;
  std::vector<NetworkNamespace> nodes_;
};

TEST_F(GossipBridgeTest, ThreeNodesInSeparateNamespacesFindEachOtherOverMulticast) {
  std::vector<std::unique_ptr<GossipStrategy>> strategies;
  for (int i = 1; i <= 3; ++i) {
    strategies.push_back(startOn(i, fastOptions()));
    ASSERT_TRUE(strategies.back());
  }

  expectEveryoneFindsEveryone(strategies);
}

TEST_F(GossipBridgeTest, MulticastIfPicksTheInterface) {
  std::vector<std::unique_ptr<GossipStrategy>> strategies;
  for (int i = 1; i <= 3; ++i) {
    GossipOptions options = fastOptions();
    options.multicastIf = "10.77.0." + std::to_string(i);
    strategies.push_back(startOn(i, options));
    ASSERT_TRUE(strategies.back());
  }

  expectEveryoneFindsEveryone(strategies);
}

TEST_F(GossipBridgeTest, ThreeNodesFindEachOtherByBroadcastOnly) {
  std::vector<std::unique_ptr<GossipStrategy>> strategies;
  for (int i = 1; i <= 3; ++i) {
    GossipOptions options = fastOptions();
    options.broadcastOnly = true;
    options.multicastAddr = "10.77.0.255";
    strategies.push_back(startOn(i, options));
    ASSERT_TRUE(strategies.back());
  }

  expectEveryoneFindsEveryone(strategies);
}

} // namespace
} // namespace libcluster
