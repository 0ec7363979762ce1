// EiConnector finding the local node through epmd, as a sidecar beside a release does. ei reads
// ERL_EPMD_PORT once per process, so this suite has an executable of its own and sets it first.
#include <cstdlib>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "beam/beam_node.h"
#include "dist/ei_connector.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;

constexpr const char* kLocal = "app@127.0.0.1";
constexpr const char* kPeer = "peer@127.0.0.1";

class EiConnectorEpmdTest : public testing::Test {
protected:
  static void SetUpTestSuite() {
    const int port = pickDistributionPort({});
    ASSERT_NE(port, 0);
    ::setenv("ERL_EPMD_PORT", std::to_string(port).c_str(), 1);
    char pattern[] = "/tmp/libcluster-epmd-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    logDir_ = pattern;
    epmd_ = new EpmdDaemon(port);
    Result<void> epmdUp = epmd_->start();
    ASSERT_TRUE(epmdUp) << epmdUp.error().message;
    for (auto [slot, name] : {std::pair{&local_, kLocal}, std::pair{&peer_, kPeer}}) {
      *slot = new BeamNode({.name = name,
                            .cookie = "epmdcookie" + std::to_string(port),
                            .port = 0,
                            .epmdPort = port,
                            .isolated = true,
                            .extraArgs = {},
                            .logDir = logDir_});
      ASSERT_TRUE((*slot)->spawn());
    }
    for (BeamNode* node : {local_, peer_}) {
      Result<void> up = node->waitUntilUp();
      ASSERT_TRUE(up) << up.error().message;
    }
  }
  static void TearDownTestSuite() {
    delete local_;
    delete peer_;
    delete epmd_;
    std::error_code ignored;
    std::filesystem::remove_all(logDir_, ignored);
  }

  static EiConnectorOptions options(const std::string& localNode) {
    EiConnectorOptions options;
    options.localNode = localNode;
    options.cookie = local_->cookie();
    return options;
  }

  static inline std::string logDir_;
  static EpmdDaemon* epmd_;
  static BeamNode* local_;
  static BeamNode* peer_;
};

EpmdDaemon* EiConnectorEpmdTest::epmd_ = nullptr;
BeamNode* EiConnectorEpmdTest::local_ = nullptr;
BeamNode* EiConnectorEpmdTest::peer_ = nullptr;

TEST_F(EiConnectorEpmdTest, FindsTheLocalNodeThroughEpmd) {
  ASSERT_NE(local_, nullptr);
  Result<std::unique_ptr<EiConnector>> connector = EiConnector::create(options(kLocal));
  ASSERT_TRUE(connector) << connector.error().message;

  Result<CallReply> reply = (*connector)->connect(kPeer, 5s);

  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->outcome, CallOutcome::True);
  EXPECT_TRUE(peer_->nodes().value().contains(kLocal));
}

TEST_F(EiConnectorEpmdTest, NodeThatEpmdDoesNotKnowIsUnavailable) {
  ASSERT_NE(local_, nullptr);
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
