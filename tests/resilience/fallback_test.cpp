// with_fallback: the primary's answer when it succeeds; the fallback's, with the
// reason (failure, open breaker, rejection), when not; nothing when the caller's own
// context is done; counts by reason. And the call() templates composed, for a
// function returning Result<void>.
#include <gtest/gtest.h>

#include "orca/resilience/resilience.hpp"
#include "sync/sync_test_support.hpp"

using orca::Result;
using orca::Task;
using orca::resilience::FallbackReason;
namespace rerr = orca::resilience;

namespace {

orca::resilience::FallbackOutcome<Result<int>> run_with(std::error_code primary_error,
                                                        orca::resilience::FallbackStats* stats,
                                                        bool cancel_first = false) {
  std::optional<orca::resilience::FallbackOutcome<Result<int>>> out;
  orca::run([&]() -> Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    if (cancel_first) cancel();
    auto o = co_await orca::resilience::with_fallback(
        ctx,
        [&](const orca::Context&) -> Task<Result<int>> {
          if (primary_error) co_return primary_error;
          co_return 1;
        },
        [](const orca::Context&, std::error_code) -> Task<Result<int>> { co_return 2; }, stats);
    out.emplace(std::move(o));
  });
  return std::move(*out);
}

TEST(Fallback, ObservesWhyItFellBack) {
  orca::resilience::FallbackStats stats;
  auto ok = run_with({}, &stats);
  EXPECT_EQ(*ok.result, 1);
  EXPECT_EQ(ok.reason, FallbackReason::kNone);

  auto failed = run_with(std::make_error_code(std::errc::connection_reset), &stats);
  EXPECT_EQ(*failed.result, 2);
  EXPECT_EQ(failed.reason, FallbackReason::kFailure);
  EXPECT_EQ(failed.primary_error, std::make_error_code(std::errc::connection_reset));

  auto open = run_with(make_error_code(rerr::errc::circuit_open), &stats);
  EXPECT_EQ(open.reason, FallbackReason::kCircuitOpen);
  EXPECT_STREQ(to_string(open.reason), "circuit_open");

  auto shed = run_with(make_error_code(rerr::errc::bulkhead_full), &stats);
  EXPECT_EQ(shed.reason, FallbackReason::kRejected);
  EXPECT_TRUE(shed.fell_back());

  EXPECT_EQ(stats.primary_ok.load(), 1u);
  EXPECT_EQ(stats.failure.load(), 1u);
  EXPECT_EQ(stats.circuit_open.load(), 1u);
  EXPECT_EQ(stats.rejected.load(), 1u);
}

TEST(Fallback, NotForACallerThatGaveUp) {
  auto out = run_with(make_error_code(orca::errc::canceled), nullptr, /*cancel_first=*/true);
  EXPECT_EQ(out.reason, FallbackReason::kNone);
  EXPECT_EQ(out.result.error(), make_error_code(orca::errc::canceled));
}

}  // namespace

namespace {

// Every call() template accepts a function returning Task<Result<void>>.
TEST(Composition, ResultVoidThroughEveryCall) {
  orca::resilience::CircuitBreaker breaker;
  orca::resilience::Retry retry(
      {.max_attempts = 2, .initial_backoff = std::chrono::nanoseconds(0)});
  orca::resilience::Bulkhead bulkhead;
  orca::resilience::AdaptiveLimiter limiter(
      {.algorithm = orca::resilience::AdaptiveAlgorithm::kAimd});
  int calls = 0;
  orca::run([&]() -> Task<void> {
    auto ctx = orca::background();
    auto once = [&](const orca::Context&) -> Task<Result<void>> {
      ++calls;
      co_return Result<void>{};
    };
    auto through_all = [&](const orca::Context& c) -> Task<Result<void>> {
      auto in_bulkhead = [&](const orca::Context& c2) { return breaker.call(c2, once); };
      auto limited = [&](const orca::Context& c3) { return bulkhead.call(c3, in_bulkhead); };
      co_return co_await limiter.call(c, limited);
    };
    Result<void> r = co_await retry.call(ctx, through_all);
    CO_ASSERT_TRUE(r.has_value());
    auto hedged = co_await orca::resilience::hedge(ctx, {}, once);
    CO_ASSERT_TRUE(hedged.has_value());
  });
  EXPECT_EQ(calls, 2);
}

}  // namespace
