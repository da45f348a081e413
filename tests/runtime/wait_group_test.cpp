// WaitGroup (Go's sync.WaitGroup): waiters wake once the counter reaches zero, all
// of them, from done() on any thread; misuse throws; and a group can be destroyed
// as soon as its wait returns, as the usual "local WaitGroup" code does.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "orca/orca.hpp"
#include "runtime/test_support.hpp"

using namespace std::chrono_literals;

namespace {

TEST(WaitGroup, WaitOnZeroCounterReturnsAtOnce) {
  bool passed = false;
  orca::run([&]() -> orca::Task<void> {
    orca::WaitGroup wg;
    EXPECT_EQ(wg.count(), 0);
    (void)co_await wg.wait();
    passed = true;
  });
  EXPECT_TRUE(passed);
}

TEST(WaitGroup, WaitReturnsOnlyAfterEveryDone) {
  constexpr int kTasks = 100;
  std::atomic<int> done_before_wake{0};
  int seen_after_wait = -1;
  orca::run(
      [&]() -> orca::Task<void> {
        orca::WaitGroup wg;
        wg.add(kTasks);
        for (int i = 0; i < kTasks; ++i) {
          orca::go([&, i]() -> orca::Task<void> {
            co_await orca::sleep_for(std::chrono::microseconds(i * 10));
            done_before_wake.fetch_add(1);
            wg.done();
          });
        }
        (void)co_await wg.wait();
        seen_after_wait = done_before_wake.load();
      },
      {.workers = 3});
  EXPECT_EQ(seen_after_wait, kTasks) << "got wait() returning before every done()";
}

TEST(WaitGroup, EveryWaiterIsWoken) {
  constexpr int kWaiters = 500;
  std::atomic<int> woken{0};
  orca::run(
      [&]() -> orca::Task<void> {
        orca::WaitGroup gate;
        gate.add(1);
        orca::WaitGroup finished;
        finished.add(kWaiters);
        for (int i = 0; i < kWaiters; ++i) {
          orca::go([&]() -> orca::Task<void> {
            (void)co_await gate.wait();
            woken.fetch_add(1);
            finished.done();
          });
        }
        co_await orca::sleep_for(1ms);
        gate.done();
        (void)co_await finished.wait();
      },
      {.workers = 4});
  EXPECT_EQ(woken.load(), kWaiters);
}

TEST(WaitGroup, DriveBelowZeroThrowsAndKeepsTheCounter) {
  orca::WaitGroup wg;
  EXPECT_THROW(wg.done(), std::logic_error);
  EXPECT_EQ(wg.count(), 0);
  wg.add(2);
  EXPECT_THROW(wg.add(-3), std::logic_error);
  EXPECT_EQ(wg.count(), 2) << "want the counter left as it was";
  wg.done();
  wg.done();
  EXPECT_EQ(wg.count(), 0);
}

TEST(WaitGroup, CanBeReusedAfterWaitReturns) {
  int rounds = 0;
  orca::run(
      [&]() -> orca::Task<void> {
        orca::WaitGroup wg;
        for (int r = 0; r < 20; ++r) {
          wg.add(5);
          for (int i = 0; i < 5; ++i)
            orca::go([&wg] { wg.done(); });
          (void)co_await wg.wait();
          EXPECT_EQ(wg.count(), 0);
          ++rounds;
        }
      },
      {.workers = 2});
  EXPECT_EQ(rounds, 20);
}

TEST(WaitGroup, DoneFromABlockingCallWakesTheWaiter) {
  bool woke = false;
  orca::run(
      [&]() -> orca::Task<void> {
        orca::WaitGroup wg;
        wg.add(1);
        orca::go([&]() -> orca::Task<void> {
          co_await orca::blocking([&] {
            std::this_thread::sleep_for(5ms);
            wg.done();  // from a pool thread, not a worker
          });
        });
        (void)co_await wg.wait();
        woke = true;
      },
      {.workers = 1});
  EXPECT_TRUE(woke);
}

}  // namespace
