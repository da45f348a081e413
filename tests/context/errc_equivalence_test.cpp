// orca's context errors as generic code sees them: errc::canceled is
// std::errc::operation_canceled and errc::deadline_exceeded is std::errc::timed_out,
// compared either way round, and nothing else is.
#include <gtest/gtest.h>

#include <system_error>

#include "context/context_test_support.hpp"
#include "orca/orca.hpp"

namespace {

using orca_ctx_test::canceled;
using orca_ctx_test::deadline_exceeded;
using orca_ctx_test::show;

// EXPECT_TRUE(Equal(ec, cond, want)) checks ec == cond and cond == ec (and the
// matching !=), failing with "got X, want Y".
::testing::AssertionResult Equal(std::error_code ec, std::error_condition cond, bool want) {
  const bool code_first = ec == cond;
  const bool cond_first = cond == ec;
  const bool code_first_ne = ec != cond;
  const bool cond_first_ne = cond != ec;
  if (code_first == want && cond_first == want && code_first_ne == !want && cond_first_ne == !want)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << show(ec) << " vs " << cond.category().name() << ":" << cond.value() << " ("
         << cond.message() << "): got ec == cond " << code_first << ", cond == ec " << cond_first
         << ", ec != cond " << code_first_ne << ", cond != ec " << cond_first_ne
         << "; want == " << want;
}

TEST(ErrcEquivalence, CanceledIsOperationCanceled) {
  EXPECT_TRUE(Equal(canceled(), std::errc::operation_canceled, true));
  EXPECT_TRUE(Equal(canceled(), std::errc::timed_out, false));
}

TEST(ErrcEquivalence, DeadlineExceededIsTimedOut) {
  EXPECT_TRUE(Equal(deadline_exceeded(), std::errc::timed_out, true));
  EXPECT_TRUE(Equal(deadline_exceeded(), std::errc::operation_canceled, false));
}

TEST(ErrcEquivalence, OtherErrorsMatchNoGenericCondition) {
  for (const orca::errc e :
       {orca::errc::closed, orca::errc::would_block, orca::errc::negative_counter}) {
    const std::error_code ec = make_error_code(e);
    EXPECT_TRUE(Equal(ec, std::errc::operation_canceled, false));
    EXPECT_TRUE(Equal(ec, std::errc::timed_out, false));
  }
}

TEST(ErrcEquivalence, CodesStillCompareByCategory) {
  // error_code == error_code compares category and value: equivalence is for conditions.
  EXPECT_NE(canceled(), std::make_error_code(std::errc::operation_canceled));
  EXPECT_EQ(canceled(), make_error_code(orca::errc::canceled));
  EXPECT_EQ(canceled(), orca::errc::canceled);
}

TEST(ErrcEquivalence, ContextErrorsFromRealContexts) {
  orca::run([]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    cancel();
    EXPECT_TRUE(Equal(ctx.err(), std::errc::operation_canceled, true));
    auto [timed, cancel_timed] =
        orca::with_timeout(orca::background(), std::chrono::milliseconds(1));
    co_await timed.done();
    EXPECT_TRUE(Equal(timed.err(), std::errc::timed_out, true));
    cancel_timed();
  });
}

}  // namespace
