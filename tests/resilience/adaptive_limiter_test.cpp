// AdaptiveLimiter: shedding at the limit, and convergence toward a simulated
// dependency's capacity. The dependency is a discrete-event simulation (no real
// time): a call admitted with k calls in flight takes base latency while k is within
// the capacity, and proportionally longer past it (it queues).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <queue>
#include <vector>

#include "orca/resilience/adaptive_limiter.hpp"

using namespace std::chrono_literals;
using orca::resilience::AdaptiveAlgorithm;
using orca::resilience::AdaptiveLimiter;
using orca::resilience::AdaptiveLimiterOptions;

namespace {

struct Simulation {
  int capacity;
  std::chrono::nanoseconds base = 10ms;
  // Called with every sample: latency of a call admitted at `inflight`.
  std::chrono::nanoseconds latency(int inflight) const {
    if (inflight <= capacity) return base;
    return base * inflight / capacity;
  }
};

// Keeps the limiter full (unbounded demand) for `samples` completions; returns the
// limits seen after each completion.
std::vector<int> drive(AdaptiveLimiter& limiter, const Simulation& sim, int samples) {
  struct InFlight {
    std::int64_t done_at;
    std::int64_t rtt;
    AdaptiveLimiter::Permit* permit;
    bool operator>(const InFlight& o) const { return done_at > o.done_at; }
  };
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> calls;
  std::vector<std::unique_ptr<AdaptiveLimiter::Permit>> permits;
  std::int64_t now = 0;
  std::vector<int> limits;
  for (int i = 0; i < samples; ++i) {
    for (;;) {
      auto p = limiter.try_acquire();
      if (!p) break;
      const auto rtt = sim.latency(limiter.inflight()).count();
      permits.push_back(std::make_unique<AdaptiveLimiter::Permit>(std::move(p)));
      calls.push({now + rtt, rtt, permits.back().get()});
    }
    if (calls.empty()) break;
    InFlight next = calls.top();
    calls.pop();
    now = next.done_at;
    next.permit->record(std::chrono::nanoseconds(next.rtt));
    limits.push_back(limiter.limit());
  }
  return limits;
}

TEST(AdaptiveLimiter, ShedsAtTheLimit) {
  AdaptiveLimiter limiter({.algorithm = AdaptiveAlgorithm::kAimd, .initial_limit = 2});
  auto a = limiter.try_acquire();
  auto b = limiter.try_acquire();
  EXPECT_TRUE(a && b);
  EXPECT_FALSE(limiter.try_acquire());
  EXPECT_EQ(limiter.metrics().rejected, 1u);
  a.release();
  EXPECT_TRUE(limiter.try_acquire());
}

TEST(AdaptiveLimiter, GradientConvergesTowardTheCapacity) {
  AdaptiveLimiter limiter({.initial_limit = 20, .max_limit = 1000});
  const Simulation sim{.capacity = 100};
  auto limits = drive(limiter, sim, 24'000);
  ASSERT_EQ(limits.size(), 24'000u);
  // The last 12,000 samples: a median near C.
  std::vector<int> tail(limits.end() - 12'000, limits.end());
  std::nth_element(tail.begin(), tail.begin() + tail.size() / 2, tail.end());
  const int median = tail[tail.size() / 2];
  EXPECT_GE(median, 90) << "got a median limit of " << median << ", want near 100";
  EXPECT_LE(median, 125) << "got a median limit of " << median << ", want near 100";
  EXPECT_EQ(limiter.metrics().min_rtt, 10ms);
}

TEST(AdaptiveLimiter, GradientFollowsACapacityThatDrops) {
  AdaptiveLimiter limiter({.initial_limit = 20, .max_limit = 1000});
  (void)drive(limiter, Simulation{.capacity = 200}, 15'000);
  const int before = limiter.limit();
  auto limits = drive(limiter, Simulation{.capacity = 50}, 12'000);
  std::vector<int> tail(limits.end() - 5'000, limits.end());
  std::nth_element(tail.begin(), tail.begin() + tail.size() / 2, tail.end());
  EXPECT_GT(before, 180) << "got " << before;
  EXPECT_EQ(limits.size(), 12'000u);
  EXPECT_LE(tail[tail.size() / 2], 70) << "got a median of " << tail[tail.size() / 2];
}

TEST(AdaptiveLimiter, GradientMeasuresMinRttAgainOnlyAfterItsPeriod) {
  orca::resilience::ManualClock clock;
  AdaptiveLimiter limiter({.initial_limit = 20,
                           .max_limit = 1000,
                           .min_rtt_interval = 100,
                           .min_rtt_samples = 5,
                           .min_rtt_period = 30s,
                           .clock = &clock});
  const Simulation sim{.capacity = 100};
  auto at_min = [](const std::vector<int>& limits) {
    return std::count(limits.begin(), limits.end(), 1);
  };
  // The first measurement, then 2,000 samples (20 intervals) within the period: none.
  auto first = drive(limiter, sim, 2'000);
  std::vector<int> after(first.begin() + 100, first.end());
  EXPECT_EQ(at_min(after), 0) << "the limit went back to min_limit within min_rtt_period";
  clock.advance(31s);
  auto later = drive(limiter, sim, 500);
  EXPECT_GT(at_min(later), 0) << "no measurement once min_rtt_period had passed";
}

TEST(AdaptiveLimiter, AimdBacksOffOnDropsAndGrowsOtherwise) {
  AdaptiveLimiter limiter({.algorithm = AdaptiveAlgorithm::kAimd,
                           .initial_limit = 10,
                           .backoff_ratio = 0.5,
                           .aimd_timeout = 100ms});
  // One window (max(10, limit) samples), taken in rounds that fill the limit.
  auto window = [&](std::chrono::nanoseconds rtt, bool drop_one) {
    const int n = limiter.limit();
    for (int left = std::max(10, n); left > 0;) {
      std::vector<AdaptiveLimiter::Permit> held;
      for (int i = 0; i < n && i < left; ++i)
        held.push_back(limiter.try_acquire());
      for (auto& p : held) {
        if (drop_one) {
          p.record_dropped();
          drop_one = false;
        } else {
          p.record(rtt);
        }
        --left;
      }
    }
  };
  window(10ms, false);
  EXPECT_EQ(limiter.limit(), 11);
  window(10ms, true);
  EXPECT_EQ(limiter.limit(), 5) << "one drop in a window halves the limit once";
  window(200ms, false);  // slower than aimd_timeout: drops
  EXPECT_EQ(limiter.limit(), 2);
  std::vector<std::pair<int, int>> changes;
  AdaptiveLimiter watched(
      {.algorithm = AdaptiveAlgorithm::kAimd,
       .initial_limit = 4,
       .on_limit_change = [&](int from, int to) { changes.emplace_back(from, to); }});
  for (int i = 0; i < 10; ++i)
    watched.try_acquire().record_dropped();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0], std::make_pair(4, 3));
}

TEST(AdaptiveLimiter, AimdSettlesAroundTheCapacity) {
  AdaptiveLimiter limiter(
      {.algorithm = AdaptiveAlgorithm::kAimd, .initial_limit = 10, .aimd_timeout = 15ms});
  auto limits = drive(limiter, Simulation{.capacity = 100}, 20'000);
  std::vector<int> tail(limits.end() - 5'000, limits.end());
  const auto [lo, hi] = std::minmax_element(tail.begin(), tail.end());
  EXPECT_GE(*lo, 50) << "got a low of " << *lo;
  EXPECT_LE(*hi, 160) << "got a high of " << *hi;
}

}  // namespace
