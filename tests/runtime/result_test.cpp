// Error and Result: an error's code and message, comparisons with every kind of
// error enum, checked access (a failed Result aborts with its message), value_or,
// and ORCA_CO_TRY's early return.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <system_error>
#include <type_traits>

#include "orca/orca.hpp"
#include "orca/runtime/result.hpp"

namespace {

// A code alone costs no allocation; copies of a detailed Error share its message.
static_assert(sizeof(orca::Error) <= sizeof(std::error_code) + 2 * sizeof(void*));
static_assert(std::is_nothrow_move_constructible_v<orca::Result<std::string>>);

TEST(ResultError, MessageIsTheCodesThenTheDetail) {
  const orca::Error plain = orca::errc::closed;
  EXPECT_EQ(plain.message(), "channel closed");
  EXPECT_TRUE(plain.detail().empty());
  const orca::Error detailed(make_error_code(orca::errc::closed), "by the producer");
  EXPECT_EQ(detailed.message(), "channel closed: by the producer");
  EXPECT_EQ(detailed.detail(), "by the producer");
  const orca::Error copy = detailed;  // NOLINT: the copy is the point
  EXPECT_EQ(copy.message(), detailed.message());
  const orca::Error none;
  EXPECT_FALSE(none);
  const orca::Error dropped(std::error_code(), "no code");
  EXPECT_TRUE(dropped.detail().empty()) << "a detail without a code was kept";
}

TEST(ResultError, ComparesByCodeWithEveryKindOfEnum) {
  const orca::Error canceled(make_error_code(orca::errc::canceled), "by the user");
  EXPECT_EQ(canceled, orca::errc::canceled);
  EXPECT_EQ(orca::errc::canceled, canceled);
  EXPECT_NE(canceled, orca::errc::closed);
  EXPECT_EQ(canceled, std::errc::operation_canceled);  // an error_condition enum
  EXPECT_EQ(canceled, make_error_code(orca::errc::canceled));
  EXPECT_EQ(canceled, orca::Error(orca::errc::canceled)) << "the detail is not compared";
  const std::error_code code = canceled;  // what code expecting an error_code sees
  EXPECT_EQ(code, orca::errc::canceled);
}

TEST(ResultError, ValueOrAndConstAccess) {
  const orca::Result<std::string> good = std::string("v");
  const orca::Result<std::string> bad = orca::errc::closed;
  EXPECT_EQ(*good, "v");
  EXPECT_EQ(good->size(), 1u);
  EXPECT_EQ(good.value(), "v");
  EXPECT_EQ(good.value_or("fallback"), "v");
  EXPECT_EQ(bad.value_or("fallback"), "fallback");
  EXPECT_EQ(orca::Result<int>(orca::errc::closed).value_or(7), 7);
  EXPECT_FALSE(good.error());
  EXPECT_EQ(bad.error(), orca::errc::closed);
  const orca::Result<std::unique_ptr<int>> moved_out = std::make_unique<int>(3);
  EXPECT_EQ(**moved_out, 3);
}

TEST(ResultErrorDeathTest, AFailedResultAbortsWithItsMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const orca::Result<int> failed =
      orca::Error(make_error_code(orca::errc::closed), "the queue was drained");
  EXPECT_DEATH((void)*failed,
               "orca::Result: \\* on a failed result: channel closed: the queue was drained");
  EXPECT_DEATH((void)failed.value(), "orca::Result: value of a failed result: channel closed");
  const orca::Result<void> failed_void = orca::errc::canceled;
  EXPECT_DEATH(failed_void.value(), "value of a failed result: context canceled");
}

orca::Task<orca::Result<int>> half_of(orca::Result<int> in) {
  ORCA_CO_TRY(n, in);
  if (n % 2 != 0) co_return orca::Error(make_error_code(orca::errc::closed), "odd");
  co_return n / 2;
}

orca::Task<orca::Result<int>> quarter_of(int n) {
  ORCA_CO_TRY(half, co_await half_of(n));
  ORCA_CO_TRY(quarter, co_await half_of(half));
  co_return quarter;
}

orca::Task<orca::Result<void>> check_even(int n) {
  ORCA_CO_TRY_VOID(co_await half_of(n));
  co_return orca::Result<void>{};
}

TEST(ResultError, CoTryReturnsTheFirstErrorWithItsMessage) {
  orca::run([]() -> orca::Task<void> {
    auto four = co_await quarter_of(16);
    EXPECT_EQ(four.value_or(-1), 4);
    auto odd = co_await quarter_of(6);  // 6 / 2 = 3: odd on the second step
    EXPECT_EQ(odd.error().message(), "channel closed: odd");
    auto early = co_await half_of(orca::errc::canceled);
    EXPECT_EQ(early.error(), orca::errc::canceled);
    auto even = co_await check_even(2);
    EXPECT_TRUE(even.has_value());
    auto not_even = co_await check_even(3);
    EXPECT_EQ(not_even.error().detail(), "odd");
  });
}

}  // namespace
