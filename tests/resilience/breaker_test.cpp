// CircuitBreaker and KeyedBreakers: opening at the configured failure rate and not
// below, the minimum number of calls, slow calls, the open period and exactly N
// half-open probes, stale permits, callbacks, and the keyed map's bound. Time is a
// ManualClock; one stripe makes the count window exact.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "orca/resilience/circuit_breaker.hpp"
#include "orca/resilience/keyed_breakers.hpp"
#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::Task;
using orca::resilience::BreakerState;
using orca::resilience::CircuitBreaker;
using orca::resilience::CircuitBreakerOptions;
using orca::resilience::ManualClock;
using orca::resilience::WindowKind;

namespace {

CircuitBreakerOptions count_window(int size, int minimum, ManualClock* clock) {
  CircuitBreakerOptions o;
  o.failure_rate_threshold = 15;
  o.window = WindowKind::kCount;
  o.window_size = size;
  o.minimum_calls = minimum;
  o.open_duration = 10s;
  o.half_open_probes = 3;
  o.clock = clock;
  o.stripes = 1;
  return o;
}

void record(CircuitBreaker& b, bool success, int times = 1) {
  for (int i = 0; i < times; ++i) {
    auto permit = b.try_acquire();
    ASSERT_TRUE(permit) << "refused at call " << i << " in state " << to_string(b.state());
    permit.record(success);
  }
}

TEST(CircuitBreaker, OpensAtTheThresholdRate) {
  ManualClock clock;
  CircuitBreaker b(count_window(100, 100, &clock));
  record(b, true, 85);
  record(b, false, 14);
  EXPECT_EQ(b.state(), BreakerState::kClosed) << "99 calls is below minimum_calls";
  record(b, false, 1);  // 15 of 100: 15%
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  EXPECT_FALSE(b.try_acquire());
  EXPECT_EQ(b.metrics().rejected, 1u);
}

TEST(CircuitBreaker, StaysClosedJustBelowTheThreshold) {
  ManualClock clock;
  CircuitBreaker b(count_window(100, 100, &clock));
  record(b, false, 14);
  record(b, true, 86);  // 14 of 100: 14%
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  const auto m = b.metrics();
  EXPECT_EQ(m.window.calls, 100u);
  EXPECT_EQ(m.window.failures, 14u);
  // The window slides: 100 more successes push the failures out entirely.
  record(b, true, 100);
  record(b, false, 14);
  EXPECT_EQ(b.state(), BreakerState::kClosed)
      << "got " << b.metrics().window.failures << " failures in the window";
}

TEST(CircuitBreaker, RespectsMinimumCalls) {
  ManualClock clock;
  CircuitBreaker b(count_window(100, 20, &clock));
  record(b, false, 19);
  EXPECT_EQ(b.state(), BreakerState::kClosed) << "19 failures, minimum_calls 20";
  record(b, false, 1);
  EXPECT_EQ(b.state(), BreakerState::kOpen);
}

TEST(CircuitBreaker, SlowCallsCountAsFailures) {
  ManualClock clock;
  auto o = count_window(10, 10, &clock);
  o.slow_call_duration = 100ms;
  CircuitBreaker b(o);
  for (int i = 0; i < 8; ++i)
    b.try_acquire().record(true, 10ms);
  b.try_acquire().record(true, 99ms);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  b.try_acquire().record(true, 100ms);  // slow: 2 of 10 with the next
  b.try_acquire().record(true, 250ms);
  EXPECT_EQ(b.state(), BreakerState::kOpen) << "window failures " << b.metrics().window.failures;
}

TEST(CircuitBreaker, HalfOpenAdmitsExactlyTheProbes) {
  ManualClock clock;
  CircuitBreaker b(count_window(10, 5, &clock));
  record(b, false, 5);
  ASSERT_EQ(b.state(), BreakerState::kOpen);
  clock.advance(9999ms);
  EXPECT_FALSE(b.try_acquire()) << "open period not over";
  clock.advance(1ms);
  std::vector<CircuitBreaker::Permit> probes;
  for (int i = 0; i < 3; ++i) {
    probes.push_back(b.try_acquire());
    EXPECT_TRUE(probes.back()) << "probe " << i;
  }
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
  EXPECT_FALSE(b.try_acquire()) << "a fourth probe";
  // A probe given back unreported frees its slot for another caller.
  probes.back().release();
  probes.back() = b.try_acquire();
  EXPECT_TRUE(probes.back());
  EXPECT_FALSE(b.try_acquire());
  for (auto& p : probes)
    p.record(true);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  EXPECT_EQ(b.metrics().window.calls, 0u) << "closing starts a fresh window";
}

TEST(CircuitBreaker, FailedProbesReopen) {
  ManualClock clock;
  CircuitBreaker b(count_window(10, 5, &clock));
  record(b, false, 5);
  clock.advance(10s);
  auto p1 = b.try_acquire();
  auto p2 = b.try_acquire();
  auto p3 = b.try_acquire();
  p1.record(true);
  p2.record(false);  // 1 of 3 failed: 33% >= 15%
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen) << "decides once every probe reported";
  p3.record(true);
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  EXPECT_FALSE(b.try_acquire());
  clock.advance(10s);
  EXPECT_TRUE(b.try_acquire()) << "a second open period ends too";
}

TEST(CircuitBreaker, IgnoresPermitsOfAnEarlierState) {
  ManualClock clock;
  CircuitBreaker b(count_window(10, 5, &clock));
  auto stale = b.try_acquire();
  record(b, false, 5);
  clock.advance(10s);
  record(b, true, 3);  // probes: closed again, fresh window
  ASSERT_EQ(b.state(), BreakerState::kClosed);
  stale.record(false);
  EXPECT_EQ(b.metrics().window.calls, 0u);
  EXPECT_EQ(b.metrics().ignored, 1u);
}

TEST(CircuitBreaker, TimeWindowForgetsOldCalls) {
  ManualClock clock;
  CircuitBreakerOptions o;
  o.window = WindowKind::kTime;
  o.window_duration = 10s;
  o.minimum_calls = 10;
  o.clock = &clock;
  o.stripes = 1;
  CircuitBreaker b(o);
  record(b, false, 9);
  clock.advance(11s);
  record(b, true, 9);
  record(b, false, 1);  // 1 of 10 in the last 10 s
  EXPECT_EQ(b.state(), BreakerState::kClosed) << "window " << b.metrics().window.calls;
  record(b, false, 1);  // 2 of 11: 18%
  EXPECT_EQ(b.state(), BreakerState::kOpen);
}

TEST(CircuitBreaker, ReportsStateChanges) {
  ManualClock clock;
  std::vector<std::string> seen;
  auto o = count_window(10, 5, &clock);
  o.name = "db";
  o.on_state_change = [&](const orca::resilience::StateChange& c) {
    seen.push_back(*c.name + ":" + to_string(c.from) + "->" + to_string(c.to));
  };
  CircuitBreaker b(o);
  record(b, false, 5);
  clock.advance(10s);
  record(b, true, 3);
  const std::vector<std::string> want = {"db:closed->open", "db:open->half-open",
                                         "db:half-open->closed"};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(b.metrics().state_changes, 3u);
}

TEST(CircuitBreaker, FailurePredicateDecidesWhatCounts) {
  ManualClock clock;
  auto o = count_window(10, 5, &clock);
  o.is_failure = [](std::error_code e) { return e != std::errc::invalid_argument; };
  CircuitBreaker b(o);
  for (int i = 0; i < 10; ++i)
    b.try_acquire().record_error(std::make_error_code(std::errc::invalid_argument));
  EXPECT_EQ(b.state(), BreakerState::kClosed) << "a bad request is the caller's failure";
  for (int i = 0; i < 5; ++i)
    b.try_acquire().record_error(std::make_error_code(std::errc::connection_refused));
  EXPECT_EQ(b.state(), BreakerState::kOpen);
}

TEST(CircuitBreaker, CallRunsThroughAndRefusesWhenOpen) {
  ManualClock clock;
  CircuitBreaker b(count_window(10, 2, &clock));
  int ran = 0;
  orca::run([&]() -> Task<void> {
    auto fail = [&](const orca::Context&) -> Task<orca::Result<int>> {
      ++ran;
      co_return std::make_error_code(std::errc::connection_refused);
    };
    auto ctx = orca::background();
    orca::Result<int> r1 = co_await b.call(ctx, fail);
    orca::Result<int> r2 = co_await b.call(ctx, fail);
    orca::Result<int> r3 = co_await b.call(ctx, fail);
    CO_ASSERT_EQ(r1.error(), std::make_error_code(std::errc::connection_refused));
    CO_ASSERT_EQ(r2.error(), std::make_error_code(std::errc::connection_refused));
    CO_ASSERT_EQ(r3.error(), make_error_code(orca::resilience::errc::circuit_open));
  });
  EXPECT_EQ(ran, 2);
}

TEST(CircuitBreaker, CountsFromTwoThreadsWithoutOpening) {
  CircuitBreakerOptions o;
  o.stripes = 2;
  CircuitBreaker b(o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i)
        b.try_acquire().record(true);
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  const auto calls = b.metrics().window.calls;
  EXPECT_GE(calls, 90u) << "the window holds about window_size calls";
  EXPECT_LE(calls, 200u);
}

TEST(CircuitBreaker, OpensWhenTwoThreadsFail) {
  CircuitBreakerOptions o;
  o.stripes = 2;
  CircuitBreaker b(o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        auto permit = b.try_acquire();
        if (!permit) continue;
        permit.record(i % 2 == 0);  // 50% failures
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  EXPECT_EQ(b.metrics().state_changes, 1u) << "exactly one thread opened it";
  EXPECT_GT(b.metrics().rejected, 0u);
}

TEST(KeyedBreakers, OneBreakerPerKeyWithinTheBound) {
  orca::resilience::KeyedBreakersOptions o;
  o.max_keys = 32;
  o.breaker.minimum_calls = 1;
  o.breaker.window_size = 1;
  orca::resilience::KeyedBreakers breakers(o);
  auto a = breakers.get("10.0.0.1:80");
  a->try_acquire().record(false);
  EXPECT_EQ(breakers.get("10.0.0.1:80"), a);
  EXPECT_EQ(breakers.get("10.0.0.1:80")->state(), BreakerState::kOpen);
  EXPECT_EQ(breakers.get("10.0.0.2:80")->state(), BreakerState::kClosed);
  for (int i = 0; i < 1000; ++i)
    (void)breakers.get("host-" + std::to_string(i));
  EXPECT_LE(breakers.size(), 32u);
  EXPECT_GE(breakers.evicted(), 1000u - 32u);
  EXPECT_EQ(a->options().name, "10.0.0.1:80") << "each breaker is named by its key";
}

}  // namespace
