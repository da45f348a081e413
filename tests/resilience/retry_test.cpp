// Retry, RetryBudget and hedge: at most max_attempts, only retryable errors, never an
// attempt that cannot finish before the deadline, retries bounded by the budget's
// ratio and floor, full-jitter backoff, and hedging keeping the first answer. Time is
// a ManualClock; backoffs are drawn as 0 (no sleeping) unless a test says otherwise.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <tuple>

#include "orca/resilience/errors.hpp"
#include "orca/resilience/hedge.hpp"
#include "orca/resilience/retry.hpp"
#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::Result;
using orca::Task;
using orca::resilience::ManualClock;
using orca::resilience::Retry;
using orca::resilience::RetryBudget;
using orca::resilience::RetryOptions;

namespace {

const std::error_code kRefused = std::make_error_code(std::errc::connection_refused);

RetryOptions no_wait(ManualClock* clock) {
  RetryOptions o;
  o.random = [] { return 0.0; };
  o.clock = clock;
  return o;
}

// Runs retry.call on a function failing `failures` times, then answering 42.
// `deadline`, if given, is the call's context's.
Result<int> run_call(Retry& retry, int failures, int& attempts,
                     std::optional<orca::Clock::time_point> deadline = {},
                     std::error_code error = kRefused, std::function<void()> each = {}) {
  Result<int> out = std::make_error_code(std::errc::io_error);
  orca::run([&]() -> Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    if (deadline) std::tie(ctx, cancel) = orca::with_deadline(orca::background(), *deadline);
    out = co_await retry.call(ctx, [&](const orca::Context&) -> Task<Result<int>> {
      ++attempts;
      if (each) each();
      if (attempts <= failures) co_return error;
      co_return 42;
    });
  });
  return out;
}

TEST(Retry, StopsAfterMaxAttempts) {
  ManualClock clock;
  Retry retry(no_wait(&clock));  // max_attempts 3 by default
  int attempts = 0;
  auto r = run_call(retry, 100, attempts);
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(r.error(), kRefused) << "the last attempt's error";
  EXPECT_EQ(retry.metrics().retries, 2u);
}

TEST(Retry, ReturnsTheFirstSuccess) {
  ManualClock clock;
  Retry retry(no_wait(&clock));
  int attempts = 0;
  auto r = run_call(retry, 2, attempts);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(attempts, 3);
}

TEST(Retry, DoesNotRetryWhatIsNotRetryable) {
  ManualClock clock;
  auto o = no_wait(&clock);
  o.retryable = [](std::error_code e) { return e == std::errc::connection_refused; };
  Retry retry(o);
  int attempts = 0;
  auto r = run_call(retry, 100, attempts, {}, std::make_error_code(std::errc::permission_denied));
  EXPECT_EQ(r.error(), std::errc::permission_denied);
  EXPECT_EQ(attempts, 1);
  attempts = 0;
  Retry defaults(no_wait(&clock));
  (void)run_call(defaults, 100, attempts, {},
                 orca::resilience::make_error_code(orca::resilience::errc::circuit_open));
  EXPECT_EQ(attempts, 1) << "an open breaker is not retried by default";
}

TEST(Retry, NeverStartsAnAttemptThatCannotFinishBeforeTheDeadline) {
  ManualClock clock;
  auto o = no_wait(&clock);
  o.expected_attempt = 40min;
  Retry retry(o);
  int attempts = 0;
  // Each attempt takes 30 simulated minutes: a second would end at 30 + 40 > 60.
  auto r =
      run_call(retry, 100, attempts, clock.now() + 1h, kRefused, [&] { clock.advance(30min); });
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(r.error(), kRefused);
  EXPECT_EQ(retry.metrics().deadline_refused, 1u);
}

TEST(Retry, DoesNotSleepPastTheDeadline) {
  ManualClock clock;
  auto o = no_wait(&clock);
  o.random = [] { return 0.999; };
  o.initial_backoff = 1h;
  o.max_backoff = 1h;
  Retry retry(o);
  int attempts = 0;
  auto r = run_call(retry, 100, attempts, clock.now() + 1min);
  EXPECT_EQ(attempts, 1) << "a backoff of ~1 h would pass a deadline 1 min away";
  EXPECT_EQ(r.error(), kRefused);
}

TEST(Retry, BackoffIsExponentialWithFullJitter) {
  ManualClock clock;
  auto o = no_wait(&clock);
  double draw = 0.5;
  o.random = [&] { return draw; };
  o.initial_backoff = 100ms;
  o.max_backoff = 1s;
  o.max_attempts = 10;
  Retry retry(o);
  EXPECT_EQ(retry.backoff(2), 50ms);
  EXPECT_EQ(retry.backoff(3), 100ms);
  EXPECT_EQ(retry.backoff(4), 200ms);
  EXPECT_EQ(retry.backoff(9), 500ms) << "capped at max_backoff";
  draw = 0;
  EXPECT_EQ(retry.backoff(4), 0ms) << "full jitter starts at zero";
}

TEST(RetryBudget, RetriesAtMostTheRatioOfCalls) {
  ManualClock clock;
  RetryBudget budget({.ratio = 0.1, .min_per_second = 0, .ttl = 10s, .clock = &clock});
  auto o = no_wait(&clock);
  o.budget = &budget;
  Retry retry(o);
  int attempts = 0;
  for (int call = 0; call < 20; ++call)
    (void)run_call(retry, 1000, attempts);
  EXPECT_EQ(attempts, 22) << "20 calls, 10% of them retried once";
  EXPECT_EQ(retry.metrics().retries, 2u);
  EXPECT_EQ(retry.metrics().budget_refused, 20u) << "every call asks once more than it gets";
}

TEST(RetryBudget, HasAFloorPerSecondAndForgetsOldCalls) {
  ManualClock clock;
  RetryBudget budget({.ratio = 0, .min_per_second = 1, .ttl = 10s, .clock = &clock});
  int granted = 0;
  while (budget.try_withdraw())
    ++granted;
  EXPECT_EQ(granted, 10) << "1 per second over a 10 s window";
  clock.advance(11s);
  EXPECT_TRUE(budget.try_withdraw()) << "withdrawals older than ttl are forgotten";

  RetryBudget ratio({.ratio = 0.5, .min_per_second = 0, .ttl = 1s, .clock = &clock});
  for (int i = 0; i < 4; ++i)
    ratio.deposit();
  clock.advance(2s);
  EXPECT_FALSE(ratio.try_withdraw()) << "deposits older than ttl are forgotten";
}

TEST(Hedge, SecondAttemptWinsWhenTheFirstHangs) {
  std::atomic<int> started{0};
  Result<int> out = std::make_error_code(std::errc::io_error);
  bool first_cancelled = false;
  orca::run([&]() -> Task<void> {
    auto ctx = orca::background();
    out = co_await orca::resilience::hedge(
        ctx, {.delay = 1ms, .max_attempts = 2}, [&](const orca::Context& c) -> Task<Result<int>> {
          const int me = started.fetch_add(1);
          if (me == 0) {
            std::error_code e = co_await c.done();  // hangs until cancelled
            first_cancelled = e == make_error_code(orca::errc::canceled);
            co_return e;
          }
          co_return 7;
        });
  });
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, 7);
  EXPECT_EQ(started.load(), 2);
  EXPECT_TRUE(first_cancelled) << "the slower attempt is cancelled";
}

TEST(Hedge, NoExtraAttemptWhenTheFirstAnswers) {
  std::atomic<int> started{0};
  Result<int> out = std::make_error_code(std::errc::io_error);
  orca::run([&]() -> Task<void> {
    auto ctx = orca::background();
    out = co_await orca::resilience::hedge(ctx, {.delay = 1h},
                                           [&](const orca::Context&) -> Task<Result<int>> {
                                             started.fetch_add(1);
                                             co_return 1;
                                           });
  });
  ASSERT_TRUE(out);
  EXPECT_EQ(started.load(), 1);
}

}  // namespace
