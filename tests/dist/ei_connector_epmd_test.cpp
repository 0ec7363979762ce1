// EiConnector finding the local node through epmd, as a sidecar beside a release does. ei reads
// ERL_EPMD_PORT once per process, so this suite has an executable of its own and sets it first.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "beam/beam_suite.h"
#include "dist/ei_connector.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;

constexpr const char* kLocal = "app@127.0.0.1";
constexpr const char* kPeer = "peer@127.0.0.1";

class EiConnectorEpmdTest : public BeamSuite<EiConnectorEpmdTest> {
protected:
  static void SetUpTestSuite() { startNodesWithEpmd({kLocal, kPeer}); }

  static EiConnectorOptions options(const std::string& localNode) {
    EiConnectorOptions options;
    options.localNode = localNode;
    options.cookie = testbed_->cookie();
    return options;
  }
};

TEST_F(EiConnectorEpmdTest, FindsTheLocalNodeThroughEpmd) {
  Result<std::unique_ptr<EiConnector>> connector = EiConnector::create(options(kLocal));
  ASSERT_TRUE(connector) << connector.error().message;

  Result<CallReply> reply = (*connector)->connect(kPeer, 5s);

  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->outcome, CallOutcome::True);
  EXPECT_TRUE(node(kPeer).nodes().value().contains(kLocal));
}

TEST_F(EiConnectorEpmdTest, NodeThatEpmdDoesNotKnowIsUnavailable) {
  Result<std::unique_ptr<EiConnector>> connector = EiConnector::create(options("ghost@127.0.0.1"));
  ASSERT_TRUE(connector) << connector.error().message;

  Result<PeerSet> peers = (*connector)->connectedPeers(2s);

  ASSERT_FALSE(peers);
  EXPECT_EQ(peers.error().code, Error::Code::Unavailable);
  EXPECT_THAT(peers.error().message, HasSubstr("ghost@127.0.0.1"));
  EXPECT_THAT(peers.error().message, HasSubstr("epmd"));
}

} // namespace
} // namespace libcluster
