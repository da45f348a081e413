// Assertions that a Result (or anything with has_value() and error(), such as
// SharedResult) holds a value, printing the error's message when it does not:
//
//   EXPECT_OK(r);     // records a failure, goes on
//   ASSERT_OK(r);     // records a failure and returns (a plain function only)
//   CO_ASSERT_OK(r);  // records a failure and co_returns (a Task<void> coroutine)
//
// A test that reads a Result's value must assert the Result first: reading a failed
// Result aborts the whole test program (result.hpp), and a check of the value alone
// (EXPECT_TRUE(list->empty())) would blame the wrong thing.
//
// CO_ASSERT_OK also takes a call whose value is not needed, co_await included:
// CO_ASSERT_OK(co_await broker.register_node(ctx, n)). Its argument is evaluated into
// a local first, never inside an `if` condition (which GCC 12 can miscompile with a
// co_await in it); EXPECT_OK and ASSERT_OK expand to one, so give them a named Result.
#pragma once

#include <gtest/gtest.h>

namespace orca::test_support {

template <class R>
::testing::AssertionResult result_holds_value(const char* text, const R& result) {
  if (result.has_value()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << text << ": got error \"" << result.error().message() << "\", want a value";
}

}  // namespace orca::test_support

#define EXPECT_OK(result) EXPECT_PRED_FORMAT1(::orca::test_support::result_holds_value, result)
#define ASSERT_OK(result) ASSERT_PRED_FORMAT1(::orca::test_support::result_holds_value, result)
#define CO_ASSERT_OK(result)                                                         \
  do {                                                                               \
    decltype(auto) co_assert_ok_result = (result); /* a named Result: a reference */ \
    const ::testing::AssertionResult co_assert_ok_holds =                            \
        ::orca::test_support::result_holds_value(#result, co_assert_ok_result);      \
    if (!co_assert_ok_holds) {                                                       \
      ADD_FAILURE() << co_assert_ok_holds.message();                                 \
      co_return;                                                                     \
    }                                                                                \
  } while (0)
