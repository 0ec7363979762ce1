#include "agent/repair_schedule.h"

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using testing::ElementsAre;
using testing::IsEmpty;

constexpr const char* kDownA = "app@10.0.0.2";
constexpr const char* kDownB = "app@10.0.0.3";

const Backoff::Options kRepairBackoff{
    .initial = 100ms, .max = 10'000ms, .factor = 2.0, .jitter = 0.0, .resetAfter = 60'000ms};

bool anyPeer(const NodeName&) { return true; }

class RepairScheduleTest : public testing::Test {
protected:
  FakeClock clock_;
  RepairSchedule repairs_{clock_, kRepairBackoff, 150ms};
};

TEST_F(RepairScheduleTest, APeerThatWentDownIsReconnectedOnlyAfterTheGrace) {
  repairs_.wentDown(kDownA);
  EXPECT_THAT(repairs_.due(anyPeer), IsEmpty());
  EXPECT_EQ(repairs_.waitFor(1000ms), 150ms);
  clock_.advance(149ms);
  EXPECT_THAT(repairs_.due(anyPeer), IsEmpty());
  EXPECT_EQ(repairs_.waitFor(1000ms), 1ms);
  clock_.advance(1ms);
  EXPECT_THAT(repairs_.due(anyPeer), ElementsAre(kDownA));
  EXPECT_EQ(repairs_.waitFor(1000ms), 0ms);
}

// The flap this prevents: a removed node's own agent cut it; this agent's sync learns of the
// removal within the grace, and the reconnect never happens.
TEST_F(RepairScheduleTest, APeerRemovedWithinTheGraceIsNeverReconnected) {
  repairs_.wentDown(kDownA);
  repairs_.wentDown(kDownB);
  clock_.advance(100ms);
  const auto stillWanted = [](const NodeName& peer) { return peer != kDownA; };
  EXPECT_THAT(repairs_.due(stillWanted), IsEmpty());
  EXPECT_FALSE(repairs_.planned(kDownA));
  clock_.advance(50ms);
  EXPECT_THAT(repairs_.due(anyPeer), ElementsAre(kDownB)); // forgotten, even if wanted again
}

TEST_F(RepairScheduleTest, APeerMissingOnAFreshLookIsReconnectedAtOnce) {
  repairs_.missing(kDownA);
  EXPECT_THAT(repairs_.due(anyPeer), ElementsAre(kDownA));
}

TEST_F(RepairScheduleTest, AFailedReconnectWaitsTheBackoffAndASuccessForgetsThePeer) {
  repairs_.wentDown(kDownA);
  clock_.advance(150ms);
  ASSERT_THAT(repairs_.due(anyPeer), ElementsAre(kDownA));
  repairs_.attempted(kDownA, /*connected=*/false);
  EXPECT_EQ(repairs_.waitFor(1000ms), 100ms);
  clock_.advance(100ms);
  ASSERT_THAT(repairs_.due(anyPeer), ElementsAre(kDownA));
  repairs_.attempted(kDownA, /*connected=*/false);
  EXPECT_EQ(repairs_.waitFor(1000ms), 200ms); // doubled
  clock_.advance(200ms);
  ASSERT_THAT(repairs_.due(anyPeer), ElementsAre(kDownA));
  repairs_.attempted(kDownA, /*connected=*/true);
  EXPECT_FALSE(repairs_.planned(kDownA));
  EXPECT_EQ(repairs_.waitFor(1000ms), 1000ms);
}

TEST_F(RepairScheduleTest, APeerThatCameUpIsForgottenAndItsBackoffStartsOver) {
  repairs_.wentDown(kDownA);
  clock_.advance(150ms);
  repairs_.attempted(kDownA, false);
  repairs_.cameUp(kDownA);
  EXPECT_FALSE(repairs_.planned(kDownA));
  repairs_.wentDown(kDownA); // down again: the grace, then the first backoff step
  clock_.advance(150ms);
  ASSERT_THAT(repairs_.due(anyPeer), ElementsAre(kDownA));
  repairs_.attempted(kDownA, false);
  EXPECT_EQ(repairs_.waitFor(1000ms), 100ms);
}

TEST_F(RepairScheduleTest, ASecondNodedownDoesNotPostponeAPlannedReconnect) {
  repairs_.wentDown(kDownA);
  clock_.advance(100ms);
  repairs_.wentDown(kDownA);
  clock_.advance(50ms);
  EXPECT_THAT(repairs_.due(anyPeer), ElementsAre(kDownA));
}

} // namespace
} // namespace libcluster
