// OnceFunc and OnceValue: at most one run under any number of callers, the value
// shared, returned errors kept, exceptions retried (as orca::Once), waiters cancelled.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "sync/sync_test_support.hpp"

using orca::errc;
using orca::OnceFunc;
using orca::OnceValue;
using orca::Result;
using orca::Task;
using orca_test::kOneWorker;
using orca_test::until_parked;

namespace {

constexpr orca::RunOptions kTwoWorkers{.workers = 2};

TEST(OnceFunc, RunsOnceForAThousandConcurrentCallers) {
  constexpr int kCallers = 1000;
  std::atomic<int> runs{0};
  std::atomic<int> saw_it_done{0};
  orca::run(
      [&]() -> Task<void> {
        orca::Channel<int> release;
        bool initialized = false;
        OnceFunc init([&]() -> Task<void> {
          runs.fetch_add(1);
          (void)co_await release.recv();  // every other caller arrives meanwhile
          initialized = true;
        });
        orca::WaitGroup wg;
        wg.add(kCallers);
        for (int i = 0; i < kCallers; ++i) {
          orca::go([&]() -> Task<void> {
            Result<void> r = co_await init(orca::background());
            EXPECT_TRUE(r) << r.error().message();
            if (initialized) saw_it_done.fetch_add(1);
            wg.done();
          });
        }
        co_await until_parked(kCallers);  // the runner on `release`, the rest on the Once
        CO_ASSERT_TRUE(!init.done());
        CO_ASSERT_TRUE(release.try_send(1));
        (void)co_await wg.wait();
        CO_ASSERT_TRUE(init.done());
      },
      kTwoWorkers);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(saw_it_done.load(), kCallers);  // nobody returned before the run ended
}

TEST(OnceFunc, RunsAPlainCallableOnce) {
  orca::run([]() -> Task<void> {
    int runs = 0;
    OnceFunc f([&] { ++runs; });
    for (int i = 0; i < 3; ++i)
      CO_ASSERT_TRUE(co_await f());
    CO_ASSERT_EQ(runs, 1);
    CO_ASSERT_TRUE(f.done());
  });
}

TEST(OnceValue, EveryCallerGetsTheValueOfTheOneRun) {
  constexpr int kCallers = 1000;
  std::atomic<int> runs{0};
  std::atomic<int> right{0};
  orca::run(
      [&]() -> Task<void> {
        orca::Channel<int> release;
        OnceValue answer([&]() -> Task<std::string> {
          runs.fetch_add(1);
          (void)co_await release.recv();
          co_return "forty-two";
        });
        orca::WaitGroup wg;
        wg.add(kCallers);
        for (int i = 0; i < kCallers; ++i) {
          orca::go([&]() -> Task<void> {
            Result<std::string> v = co_await answer(orca::background());
            if (v && *v == "forty-two") right.fetch_add(1);
            wg.done();
          });
        }
        co_await until_parked(kCallers);
        CO_ASSERT_TRUE(release.try_send(1));
        (void)co_await wg.wait();
        Result<std::string> later = co_await answer();  // the fast path: done already
        CO_ASSERT_EQ(*later, std::string("forty-two"));
      },
      kTwoWorkers);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(right.load(), kCallers);
}

TEST(OnceValue, ReturnedErrorIsKeptForEveryCaller) {
  orca::run([]() -> Task<void> {
    int runs = 0;
    OnceValue conn([&]() -> Result<int> {
      ++runs;
      return std::make_error_code(std::errc::connection_refused);
    });
    for (int i = 0; i < 3; ++i) {
      Result<int> r = co_await conn();
      CO_ASSERT_EQ(r.error(), std::make_error_code(std::errc::connection_refused));
    }
    CO_ASSERT_EQ(runs, 1);  // an error returned is a run (Go's OnceValues keeps err)
    CO_ASSERT_TRUE(conn.done());
  });
}

TEST(OnceValue, ThrowingRunIsRetriedByTheNextCaller) {
  orca::run([]() -> Task<void> {
    int runs = 0;
    OnceValue v([&]() -> int {
      if (++runs == 1) throw std::runtime_error("first run fails");
      return 7;
    });
    bool threw = false;
    try {
      (void)co_await v();
    } catch (const std::runtime_error&) {
      threw = true;
    }
    CO_ASSERT_EQ(threw, true);
    CO_ASSERT_TRUE(!v.done());
    Result<int> second = co_await v();
    CO_ASSERT_EQ(*second, 7);
    Result<int> third = co_await v();
    CO_ASSERT_EQ(*third, 7);
    CO_ASSERT_EQ(runs, 2);
  });
}

TEST(OnceValue, CallerParkedDuringAThrowingRunRunsItAgain) {
  orca::run(
      []() -> Task<void> {
        orca::Channel<int> release;
        int runs = 0;
        OnceValue v([&]() -> Task<int> {
          if (++runs == 1) {
            (void)co_await release.recv();
            throw std::runtime_error("first run fails");
          }
          co_return 7;
        });
        bool first_threw = false;
        int second_got = 0;
        orca::go([&]() -> Task<void> {
          try {
            (void)co_await v();
          } catch (const std::runtime_error&) {
            first_threw = true;
          }
        });
        co_await until_parked(1);  // the first caller runs v, parked on `release`
        orca::go([&]() -> Task<void> {
          Result<int> r = co_await v();
          if (r) second_got = *r;
        });
        co_await until_parked(2);  // the second waits for the first run
        CO_ASSERT_TRUE(release.try_send(1));
        co_await orca_test::until_settled();
        CO_ASSERT_EQ(first_threw, true);
        CO_ASSERT_EQ(second_got, 7);
        CO_ASSERT_EQ(runs, 2);
      },
      kOneWorker);
}

TEST(OnceValue, CancelledWaiterLeavesTheRunGoing) {
  orca::run(
      []() -> Task<void> {
        orca::Channel<int> release;
        OnceValue v([&]() -> Task<int> {
          (void)co_await release.recv();
          co_return 5;
        });
        int runner_got = 0;
        orca::go([&]() -> Task<void> {
          Result<int> r = co_await v();
          if (r) runner_got = *r;
        });
        co_await until_parked(1);
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        std::error_code waiter_err;
        orca::go([&, ctx = ctx]() -> Task<void> {
          Result<int> r = co_await v(ctx);
          waiter_err = r.error();
        });
        co_await until_parked(2);
        cancel();
        co_await until_parked(1);
        co_await orca::yield();
        CO_ASSERT_EQ(waiter_err, make_error_code(errc::canceled));
        CO_ASSERT_TRUE(!v.done());
        CO_ASSERT_TRUE(release.try_send(1));
        co_await orca_test::until_settled();
        CO_ASSERT_EQ(runner_got, 5);
        Result<int> after = co_await v(ctx);  // done: the value, even with ctx cancelled
        CO_ASSERT_EQ(*after, 5);
      },
      kOneWorker);
}

TEST(OnceValue, FunctionIsDestroyedAfterItsRun) {
  orca::run([]() -> Task<void> {
    auto captured = std::make_shared<int>(3);
    std::weak_ptr<int> watch = captured;
    OnceValue v([captured = std::move(captured)]() -> Task<int> { co_return *captured * 2; });
    CO_ASSERT_TRUE(!watch.expired());
    Result<int> r = co_await v();
    CO_ASSERT_EQ(*r, 6);
    CO_ASSERT_TRUE(watch.expired());  // Go drops f once it has run
  });
}

}  // namespace
