#include "gossip/replay_guard.h"

#include <chrono>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

using namespace std::chrono_literals;

const Clock::SystemTime kGuardNow{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

ReplayGuard::Nonce nonce(std::uint8_t n) { return ReplayGuard::Nonce{n}; }

TEST(ReplayGuard, AcceptsEachNonceOncePerSender) {
  ReplayGuard guard(30s);

  EXPECT_EQ(guard.admit("a@h", kGuardNow, nonce(1), kGuardNow), GossipOutcome::Accepted);
  EXPECT_EQ(guard.admit("a@h", kGuardNow, nonce(1), kGuardNow), GossipOutcome::Replayed);
  EXPECT_EQ(guard.admit("b@h", kGuardNow, nonce(1), kGuardNow), GossipOutcome::Accepted);
  EXPECT_EQ(guard.admit("a@h", kGuardNow, nonce(2), kGuardNow), GossipOutcome::Accepted);
}

TEST(ReplayGuard, RefusesTimestampsOutsideTheWindowBothWays) {
  ReplayGuard guard(30s);

  EXPECT_EQ(guard.admit("a@h", kGuardNow - 31s, nonce(1), kGuardNow), GossipOutcome::Stale);
  EXPECT_EQ(guard.admit("a@h", kGuardNow + 31s, nonce(2), kGuardNow), GossipOutcome::Stale);
  EXPECT_EQ(guard.admit("a@h", kGuardNow - 30s, nonce(3), kGuardNow), GossipOutcome::Accepted);
  EXPECT_EQ(guard.admit("a@h", kGuardNow + 30s, nonce(4), kGuardNow), GossipOutcome::Accepted);
}

TEST(ReplayGuard, AReplayAfterTheWindowIsStale) {
  ReplayGuard guard(30s);
  ASSERT_EQ(guard.admit("a@h", kGuardNow, nonce(1), kGuardNow), GossipOutcome::Accepted);

  EXPECT_EQ(guard.admit("a@h", kGuardNow, nonce(1), kGuardNow + 31s), GossipOutcome::Stale);
}

TEST(ReplayGuard, EvictionNeverReopensAReplay) {
  ReplayGuard guard(30s, 2);
  ASSERT_EQ(guard.admit("a@h", kGuardNow, nonce(1), kGuardNow), GossipOutcome::Accepted);
  ASSERT_EQ(guard.admit("a@h", kGuardNow + 1s, nonce(2), kGuardNow + 1s), GossipOutcome::Accepted);

  ASSERT_EQ(guard.admit("a@h", kGuardNow + 2s, nonce(3), kGuardNow + 2s), GossipOutcome::Accepted);

  EXPECT_EQ(guard.admit("a@h", kGuardNow, nonce(1), kGuardNow + 3s), GossipOutcome::Replayed);
  EXPECT_EQ(guard.admit("a@h", kGuardNow + 3s, nonce(4), kGuardNow + 3s), GossipOutcome::Accepted);
}

TEST(ReplayGuard, ForgetsSendersSilentForAWholeWindow) {
  ReplayGuard guard(30s);
  ASSERT_EQ(guard.admit("a@h", kGuardNow, nonce(1), kGuardNow), GossipOutcome::Accepted);
  ASSERT_EQ(guard.rememberedSenders(), 1u);

  ASSERT_EQ(guard.admit("b@h", kGuardNow + 61s, nonce(1), kGuardNow + 61s), GossipOutcome::Accepted);

  EXPECT_EQ(guard.rememberedSenders(), 1u);
}

} // namespace
} // namespace libcluster
