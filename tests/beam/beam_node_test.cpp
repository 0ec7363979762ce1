#include "beam/beam_node.h"

#include <signal.h>

#include <chrono>

#include <gtest/gtest.h>

#include "beam/beam_suite.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

// Two nodes with the same basename on 127.0.0.2 and 127.0.0.3, as libcluster's app@<pod-ip>.
class BeamNodeTest : public BeamSuite<BeamNodeTest> {
protected:
  static void SetUpTestSuite() { startNodes({"app@127.0.0.2", "app@127.0.0.3"}); }

  BeamNode& a() { return node("app@127.0.0.2"); }
  BeamNode& b() { return node("app@127.0.0.3"); }
};

TEST_F(BeamNodeTest, NodesWithOneBasenameConnectWithoutEpmd) {
  Result<std::string> connected = a().eval("net_kernel:connect_node('app@127.0.0.3').");

  ASSERT_TRUE(connected) << connected.error().message;
  EXPECT_EQ(*connected, "true");
  Result<std::set<std::string>> seen = b().nodes();
  ASSERT_TRUE(seen) << seen.error().message;
  EXPECT_EQ(*seen, std::set<std::string>{"app@127.0.0.2"});
}

TEST_F(BeamNodeTest, ProbesAreNotListedAsConnectedNodes) {
  Result<std::set<std::string>> connected = a().connectedNodes();

  ASSERT_TRUE(connected) << connected.error().message;
  EXPECT_TRUE(connected->empty());
}

TEST_F(BeamNodeTest, KilledNodeRestartsUnderTheSameName) {
  const pid_t before = b().pid();

  b().kill();
  EXPECT_FALSE(b().isRunning());
  EXPECT_NE(::kill(before, 0), 0); // gone, and reaped
  Result<void> restarted = b().start();

  ASSERT_TRUE(restarted) << restarted.error().message;
  EXPECT_NE(b().pid(), before);
  Result<std::string> name = b().eval("node().");
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, "'app@127.0.0.3'");
}

TEST_F(BeamNodeTest, DeadAddressIsRefusedAtOnce) {
  const auto start = std::chrono::steady_clock::now();

  Result<std::string> connected = a().eval("net_kernel:connect_node('app@127.0.0.99').");

  ASSERT_TRUE(connected);
  EXPECT_EQ(*connected, "false");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(BeamNodeTest, BlackholedPeerBlocksConnectUntilTheErlCallTimeout) {
  BlackholePeer blackhole("127.0.0.98", testbed_->port());
  ASSERT_TRUE(blackhole.listening());

  Result<std::string> connected = a().eval("net_kernel:connect_node('app@127.0.0.98').", 1s);

  EXPECT_FALSE(connected); // connect_node would block for net_setuptime (7 s)
}

} // namespace
} // namespace libcluster
