// Helpers for the sync tests: coroutine-safe assertions (gtest's ASSERT_* return,
// which a coroutine cannot), a deterministic "wait until N tasks are parked", and
// the lifetime-counting value of the runtime tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "orca/orca.hpp"
#include "runtime/test_support.hpp"

// Fails the test and leaves the coroutine (Task<void>) when `cond` is false.
// `cond` may contain a co_await: it is evaluated into a named local first, never
// as an `if` condition, which GCC 12 can miscompile when it holds a co_await.
#define CO_ASSERT_TRUE(cond)                           \
  do {                                                 \
    const bool co_assert_ok = static_cast<bool>(cond); \
    if (!co_assert_ok) {                               \
      ADD_FAILURE() << "got false, want true: " #cond; \
      co_return;                                       \
    }                                                  \
  } while (0)

// EXPECT_TRUE for a condition holding a co_await (evaluated into a local first).
#define CO_EXPECT_TRUE(cond)                           \
  do {                                                 \
    const bool co_expect_ok = static_cast<bool>(cond); \
    EXPECT_TRUE(co_expect_ok) << #cond;                \
  } while (0)

// Fails the test with "got X, want Y" and leaves the coroutine when got != want.
#define CO_ASSERT_EQ(got, want)                                                       \
  do {                                                                                \
    const auto got_value = (got);                                                     \
    const auto want_value = (want);                                                   \
    if (!(got_value == want_value)) {                                                 \
      ADD_FAILURE() << #got " = " << ::testing::PrintToString(got_value) << ", want " \
                    << ::testing::PrintToString(want_value);                          \
      co_return;                                                                      \
    }                                                                                 \
  } while (0)

namespace orca_test {

// Yields until at least `n` tasks are parked (on anything). With one worker this
// is exact; with several it still never returns early, since a task counts as
// parked only once it is about to publish its wait under its object's lock.
inline orca::Task<void> until_parked(std::int64_t n) {
  while (orca::stats().parked_tasks < n)
    co_await orca::yield();
}

// With one worker: lets every woken task run on to its next park or its end.
inline orca::Task<void> until_settled() {
  co_await until_parked(0);
  for (int i = 0; i < 3; ++i)
    co_await orca::yield();
}

inline constexpr orca::RunOptions kOneWorker{.workers = 1};
inline constexpr orca::RunOptions kFourWorkers{.workers = 4};

}  // namespace orca_test
