// RateLimiter and KeyedRateLimiter: exactly rate + burst admitted over a simulated
// interval, reservations, wait() ending on cancellation or a near deadline, the
// decision a gateway needs (Retry-After), per-key limits within a bound, and the
// rate syntax. Time is a ManualClock.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "orca/resilience/keyed_rate_limiter.hpp"
#include "orca/resilience/rate_limiter.hpp"
#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::Task;
using orca::resilience::ManualClock;
using orca::resilience::RateLimiter;
using orca::resilience::RateLimiterOptions;

namespace {

RateLimiterOptions per_second(double events, std::int64_t burst, ManualClock* clock) {
  RateLimiterOptions o;
  o.events = events;
  o.per = 1s;
  o.burst = burst;
  o.clock = clock;
  return o;
}

TEST(RateLimiter, AdmitsExactlyRatePlusBurstOverAnInterval) {
  ManualClock clock;
  RateLimiter limiter(per_second(100, 10, &clock));
  int admitted = 0;
  for (int ms = 0; ms <= 1000; ++ms) {
    while (limiter.allow())
      ++admitted;
    clock.advance(1ms);
  }
  EXPECT_EQ(admitted, 110) << "100/s for 1 s plus a burst of 10";
}

TEST(RateLimiter, RefillsItsBurstAfterIdling) {
  ManualClock clock;
  RateLimiter limiter(per_second(10, 5, &clock));
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(limiter.allow()) << i;
  EXPECT_FALSE(limiter.allow());
  EXPECT_EQ(limiter.retry_after(), 100ms);
  clock.advance(500ms);
  EXPECT_TRUE(limiter.allow(5)) << "idle for burst / rate: the whole burst";
  EXPECT_FALSE(limiter.allow(6)) << "more than the burst can never pass";
}

TEST(RateLimiter, ConcurrentCallersShareOneBudget) {
  ManualClock clock;  // frozen: exactly the burst may pass
  RateLimiter limiter(per_second(1, 1000, &clock));
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (limiter.allow()) admitted.fetch_add(1, std::memory_order_relaxed);
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(admitted.load(), 1000);
}

TEST(RateLimiter, ReservationsQueueAndCancel) {
  ManualClock clock;
  RateLimiter limiter(per_second(10, 1, &clock));
  auto first = limiter.reserve();
  auto second = limiter.reserve();
  auto third = limiter.reserve();
  EXPECT_EQ(first.delay(), 0ms);
  EXPECT_EQ(second.delay(), 100ms);
  EXPECT_EQ(third.delay(), 200ms);
  third.cancel();
  second.cancel();
  EXPECT_EQ(limiter.reserve().delay(), 100ms) << "cancelled reservations are given back";
  EXPECT_FALSE(limiter.reserve(2).ok()) << "above the burst";
}

TEST(RateLimiter, DecisionCarriesRetryAfter) {
  ManualClock clock;
  RateLimiter limiter(per_second(2, 2, &clock));
  auto d1 = limiter.decide_now();
  EXPECT_TRUE(d1.allowed);
  EXPECT_EQ(d1.remaining, 1);
  EXPECT_TRUE(limiter.decide_now().allowed);
  auto d3 = limiter.decide_now();
  EXPECT_FALSE(d3.allowed);
  EXPECT_EQ(d3.retry_after, 500ms);
}

TEST(RateLimiter, TakeUpToGrantsWhatFitsAndGiveBackReturnsIt) {
  ManualClock clock;
  RateLimiter limiter(per_second(10, 5, &clock));
  EXPECT_EQ(limiter.take_up_to_now(3).granted, 3);
  const orca::resilience::Grant rest = limiter.take_up_to_now(8);
  EXPECT_EQ(rest.granted, 2) << "the burst of 5 less the 3 taken";
  EXPECT_EQ(rest.retry_after, 0ns);
  const orca::resilience::Grant none = limiter.take_up_to_now(1);
  EXPECT_EQ(none.granted, 0);
  EXPECT_EQ(none.retry_after, 100ms) << "one unit at 10/s";
  limiter.give_back_now(2);
  EXPECT_EQ(limiter.take_up_to_now(8).granted, 2) << "the units given back, no more";
  clock.advance(300ms);
  EXPECT_EQ(limiter.take_up_to_now(8).granted, 3) << "300 ms at 10/s";
  EXPECT_EQ(limiter.take_up_to_now(0).granted, 0);
  EXPECT_EQ(limiter.take_up_to_now(-4).granted, 0);
}

TEST(RateLimiter, TakeUpToNeverGrantsMoreThanTheLimitToConcurrentCallers) {
  ManualClock clock;  // frozen: exactly the burst may pass, however it is split
  RateLimiter limiter(per_second(1, 1000, &clock));
  std::atomic<std::int64_t> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 400; ++i) {
        const std::int64_t got = limiter.take_up_to_now(1 + (i + t) % 7).granted;
        // Every other grant of several units gives one back, as a claim that found
        // fewer jobs does.
        if (got > 1 && i % 2 == 0) {
          limiter.give_back_now(1);
          granted.fetch_add(got - 1);
        } else {
          granted.fetch_add(got);
        }
      }
    });
  for (auto& th : threads)
    th.join();
  granted.fetch_add(limiter.take_up_to_now(1000).granted);  // what the last give-backs left
  EXPECT_EQ(granted.load(), 1000) << "got " << granted.load() << ", want the burst exactly";
}

TEST(RateLimiter, WaitReturnsCanceledOnCancel) {
  ManualClock clock;
  RateLimiter limiter(per_second(1, 1, &clock));
  ASSERT_TRUE(limiter.allow());
  orca::run(
      [&]() -> Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        auto waiter = orca::spawn(
            [&, ctx = ctx]() -> Task<orca::Result<void>> { co_return co_await limiter.wait(ctx); });
        co_await orca_test::until_parked(1);
        cancel();
        orca::Result<void> r = co_await std::move(waiter);
        CO_ASSERT_EQ(r.error(), make_error_code(orca::errc::canceled));
      },
      orca_test::kOneWorker);
  EXPECT_EQ(limiter.retry_after(), 1s) << "the cancelled wait gave its unit back";
}

TEST(RateLimiter, WaitTakesTheUnitWhenDue) {
  RateLimiter limiter(per_second(1000, 1, nullptr));  // the real clock: a 1 ms wait
  ASSERT_TRUE(limiter.allow());
  orca::run([&]() -> Task<void> {
    auto ctx = orca::background();
    orca::Result<void> r = co_await limiter.wait(ctx);
    CO_ASSERT_TRUE(r.has_value());
  });
}

TEST(RateLimiter, WaitFailsFastPastTheDeadline) {
  ManualClock clock;
  RateLimiter limiter(RateLimiterOptions{.events = 1, .per = 1h, .burst = 1, .clock = &clock});
  ASSERT_TRUE(limiter.allow());
  orca::run([&]() -> Task<void> {
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 1min);
    orca::Result<void> r = co_await limiter.wait(ctx);
    CO_ASSERT_EQ(r.error(), make_error_code(orca::resilience::errc::rate_limited));
    orca::Result<void> big = co_await limiter.wait(ctx, 2);
    CO_ASSERT_EQ(big.error(), make_error_code(orca::resilience::errc::too_large));
  });
}

TEST(KeyedRateLimiter, EachKeyHasItsOwnLimitWithinTheBound) {
  ManualClock clock;
  orca::resilience::KeyedRateLimiterOptions o;
  o.limit = per_second(1, 2, &clock);
  o.max_keys = 64;
  orca::resilience::KeyedRateLimiter limits(o);
  EXPECT_TRUE(limits.allow("alice"));
  EXPECT_TRUE(limits.allow("alice"));
  EXPECT_FALSE(limits.allow("alice"));
  EXPECT_TRUE(limits.allow("bob"));
  for (int i = 0; i < 1000; ++i)
    (void)limits.allow("user-" + std::to_string(i));
  EXPECT_LE(limits.size(), 64u);
  EXPECT_EQ(limits.rejected(), 1u);
  orca::run([&]() -> Task<void> {
    orca::resilience::Limiter& limiter = limits;
    auto ctx = orca::background();
    auto d = co_await limiter.decide(ctx, "carol");
    CO_ASSERT_TRUE(d && d->allowed);
  });
}

TEST(RateLimiter, ParsesRates) {
  auto r = orca::resilience::parse_rate("1000/s,burst=50");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->events, 1000);
  EXPECT_EQ(r->per, 1s);
  EXPECT_EQ(r->burst, 50);
  auto m = orca::resilience::parse_rate("30/m");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->per, 1min);
  EXPECT_EQ(orca::resilience::format_rate(*r), "1000/s,burst=50");
  EXPECT_EQ(orca::resilience::format_rate(*m), "30/m");
  EXPECT_EQ(orca::resilience::format_rate({.events = 1, .per = 250ms}), "4/s");
  auto negative = orca::resilience::parse_rate("-5/s");
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error(), std::errc::invalid_argument) << negative.error();
  EXPECT_NE(negative.error().detail().find("above 0"), std::string::npos) << negative.error();
  auto fortnight = orca::resilience::parse_rate("5/fortnight");
  ASSERT_FALSE(fortnight);
  EXPECT_EQ(fortnight.error().detail(), "rate \"5/fortnight\": the unit must be ms, s, m or h");
}

}  // namespace
