#include "gossip/replay_guard.h"

#include <chrono>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

using namespace std::chrono_literals;

const Clock::SystemTime kNow{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

ReplayGuard::Nonce nonce(std::uint8_t n) { return ReplayGuard::Nonce{n}; }

TEST(ReplayGuard, AcceptsEachNonceOncePerSender) {
  ReplayGuard guard(30s);

  EXPECT_EQ(guard.admit("a@h", kNow, nonce(1), kNow), GossipOutcome::Accepted);
  EXPECT_EQ(guard.admit("a@h", kNow, nonce(1), kNow), GossipOutcome::Replayed);
  EXPECT_EQ(guard.admit("b@h", kNow, nonce(1), kNow), GossipOutcome::Accepted);
  EXPECT_EQ(guard.admit("a@h", kNow, nonce(2), kNow), GossipOutcome::Accepted);
}

TEST(ReplayGuard, RefusesTimestampsOutsideTheWindowBothWays) {
  ReplayGuard guard(30s);

  EXPECT_EQ(guard.admit("a@h", kNow - 31s, nonce(1), kNow), GossipOutcome::Stale);
  EXPECT_EQ(guard.admit("a@h", kNow + 31s, nonce(2), kNow), GossipOutcome::Stale);
  EXPECT_EQ(guard.admit("a@h", kNow - 30s, nonce(3), kNow), GossipOutcome::Accepted);
  EXPECT_EQ(guard.admit("a@h", kNow + 30s, nonce(4), kNow), GossipOutcome::Accepted);
}

TEST(ReplayGuard, AReplayAfterTheWindowIsStale) {
  ReplayGuard guard(30s);
  ASSERT_EQ(guard.admit("a@h", kNow, nonce(1), kNow), GossipOutcome::Accepted);

  EXPECT_EQ(guard.admit("a@h", kNow, nonce(1), kNow + 31s), GossipOutcome::Stale);
}

TEST(ReplayGuard, EvictionNeverReopensAReplay) {
  ReplayGuard guard(30s, 2);
  ASSERT_EQ(guard.admit("a@h", kNow, nonce(1), kNow), GossipOutcome::Accepted);
  ASSERT_EQ(guard.admit("a@h", kNow + 1s, nonce(2), kNow + 1s), GossipOutcome::Accepted);

  ASSERT_EQ(guard.admit("a@h", kNow + 2s, nonce(3), kNow + 2s), GossipOutcome::Accepted);

  EXPECT_EQ(guard.admit("a@h", kNow, nonce(1), kNow + 3s), GossipOutcome::Replayed);
  EXPECT_EQ(guard.admit("a@h", kNow + 3s, nonce(4), kNow + 3s), GossipOutcome::Accepted);
}

TEST(ReplayGuard, ForgetsSendersSilentForAWholeWindow) {
  ReplayGuard guard(30s);
  ASSERT_EQ(guard.admit("a@h", kNow, nonce(1), kNow), GossipOutcome::Accepted);
  ASSERT_EQ(guard.rememberedSenders(), 1u);

  ASSERT_EQ(guard.admit("b@h", kNow + 61s, nonce(1), kNow + 61s), GossipOutcome::Accepted);

  EXPECT_EQ(guard.rememberedSenders(), 1u);
}

} // namespace
} // namespace libcluster
