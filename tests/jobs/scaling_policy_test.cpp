// ScalingPolicy: the pool size for a load, up at once, down only after the delay.
#include "orca/jobs/scaling_policy.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

namespace {

using orca::jobs::PoolLoad;
using orca::jobs::ScalingOptions;
using orca::jobs::ScalingPolicy;
using namespace std::chrono_literals;

ScalingOptions pool(int min, int max) {
  ScalingOptions o;
  o.min_workers = min;
  o.max_workers = max;
  o.slots_per_worker = 10;
  o.target_utilization = 0.8;
  o.tolerance = 0.1;
  o.scale_down_delay = 60s;
  return o;
}

PoolLoad load(std::int64_t running, std::int64_t ready, int workers, std::int64_t other = 0) {
  PoolLoad l;
  l.running = running;
  l.ready = ready;
  l.workers = workers;
  l.other_slots = other;
  return l;
}

TEST(ScalingPolicy, WantsEnoughSlotsForTheDemandAtTheTargetUse) {
  ScalingPolicy policy(pool(1, 8));
  EXPECT_EQ(policy.wanted(load(0, 0, 3)), 1) << "an idle pool keeps its minimum";
  EXPECT_EQ(policy.wanted(load(8, 0, 1)), 1) << "8 jobs fill 10 slots to the target";
  EXPECT_EQ(policy.wanted(load(8, 1, 1)), 2);
  EXPECT_EQ(policy.wanted(load(20, 25, 2)), 6) << "45 / 0.8 = 56.25 slots";
  EXPECT_EQ(policy.wanted(load(20, 25, 2, 20)), 4) << "20 of them outside the pool";
  EXPECT_EQ(policy.wanted(load(0, 1000, 2)), 8) << "never above the maximum";
  EXPECT_EQ(policy.wanted(load(0, 5, 0, 100)), 1) << "others have room: the minimum";
  EXPECT_EQ(ScalingPolicy(pool(0, 2)).wanted(load(0, 0, 1)), 0) << "a minimum of 0";
}

TEST(ScalingPolicy, StartsWorkersAtTheFirstObservationThatAsksForThem) {
  ScalingPolicy policy(pool(1, 8));
  const auto t0 = ScalingPolicy::Clock::time_point{} + 1h;
  EXPECT_EQ(policy.decide(load(0, 0, 1), t0), 1);
  EXPECT_EQ(policy.decide(load(10, 30, 1), t0 + 1s), 5);
}

TEST(ScalingPolicy, StopsWorkersOnlyOnceTheLoadStayedLowForTheDelay) {
  ScalingPolicy policy(pool(1, 8));
  const auto t0 = ScalingPolicy::Clock::time_point{} + 1h;
  ASSERT_EQ(policy.decide(load(10, 30, 1), t0), 5);
  EXPECT_EQ(policy.decide(load(0, 0, 5), t0 + 1s), 5) << "a lull does not stop workers";
  EXPECT_EQ(policy.decide(load(0, 0, 5), t0 + 59s), 5);
  EXPECT_EQ(policy.decide(load(0, 0, 5), t0 + 60s), 5) << "the burst is still within the delay";
  EXPECT_EQ(policy.decide(load(0, 0, 5), t0 + 61s), 1) << "low for the whole delay: down";
}

TEST(ScalingPolicy, GoesDownToTheHighestCountTheDelayAskedFor) {
  ScalingPolicy policy(pool(1, 8));
  const auto t0 = ScalingPolicy::Clock::time_point{} + 1h;
  ASSERT_EQ(policy.decide(load(40, 40, 1), t0), 8);
  (void)policy.decide(load(20, 0, 8), t0 + 30s);  // wants 3
  EXPECT_EQ(policy.decide(load(0, 0, 8), t0 + 61s), 3) << "the 8 left the window, the 3 not";
  EXPECT_EQ(policy.decide(load(0, 0, 3), t0 + 91s), 1);
}

TEST(ScalingPolicy, StaysWhileTheUseIsWithinTheTolerance) {
  ScalingPolicy policy(pool(1, 8));
  const auto t0 = ScalingPolicy::Clock::time_point{} + 1h;
  EXPECT_EQ(policy.decide(load(16, 0, 2), t0), 2) << "exactly the target";
  EXPECT_EQ(policy.decide(load(17, 0, 2), t0 + 1s), 2) << "6% above: within 10%";
  EXPECT_EQ(policy.decide(load(19, 0, 2), t0 + 2s), 3) << "19% above: one more";
}

TEST(ScalingPolicy, BurstsCloserThanTheDelayDoNotMakeItFlap) {
  ScalingPolicy policy(pool(1, 8));
  auto t = ScalingPolicy::Clock::time_point{} + 1h;
  int workers = 1;
  int changes = 0;
  for (int second = 0; second < 600; ++second, t += 1s) {
    const bool burst = second % 20 < 5;  // 5 s of work every 20 s
    const int next = policy.decide(load(burst ? 30 : 0, burst ? 20 : 0, workers), t);
    if (next != workers) ++changes;
    workers = next;
  }
  EXPECT_EQ(changes, 1) << "up once at the first burst, and never down between bursts";
  EXPECT_EQ(workers, 7);
}

TEST(ScalingPolicy, RefusesOptionsThatCannotWork) {
  ScalingOptions o = pool(3, 2);
  EXPECT_THROW(ScalingPolicy{o}, std::invalid_argument);
  o = pool(0, 0);
  EXPECT_THROW(ScalingPolicy{o}, std::invalid_argument);
  o = pool(-1, 2);
  EXPECT_THROW(ScalingPolicy{o}, std::invalid_argument);
  o = pool(1, 2);
  o.target_utilization = 0;
  EXPECT_THROW(ScalingPolicy{o}, std::invalid_argument);
  o = pool(1, 2);
  o.slots_per_worker = 0;
  EXPECT_THROW(ScalingPolicy{o}, std::invalid_argument);
}

}  // namespace
