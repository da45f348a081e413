// Mutex and Semaphore: mutual exclusion, FIFO hand-off (no starvation), weighted
// admission in order, and cancellation of parked waits by context and deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <vector>

#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::errc;
using orca::Mutex;
using orca::Semaphore;
using orca::Task;
using orca_test::kFourWorkers;
using orca_test::kOneWorker;
using orca_test::until_parked;

namespace {

TEST(Mutex, ExcludesAcrossWorkers) {
  constexpr int kTasks = 8;
  constexpr int kIncrements = 2000;
  long counter = 0;  // not atomic: the mutex must protect it (TSan checks)
  orca::run(
      [&]() -> Task<void> {
        Mutex mu;
        orca::WaitGroup wg;
        wg.add(kTasks);
        for (int t = 0; t < kTasks; ++t) {
          orca::go([&]() -> Task<void> {
            for (int i = 0; i < kIncrements; ++i) {
              auto g = co_await mu.lock();
              const long seen = counter;
              if (i % 64 == 0) co_await orca::yield();  // hold it across a suspension
              counter = seen + 1;
            }
            wg.done();
          });
        }
        (void)co_await wg.wait();
      },
      kFourWorkers);
  EXPECT_EQ(counter, long{kTasks} * kIncrements);
}

TEST(Mutex, HandsOffInFifoOrder) {
  orca::run(
      []() -> Task<void> {
        Mutex mu;
        std::vector<int> order;
        auto g = co_await mu.lock();
        for (int i = 0; i < 5; ++i) {
          orca::go([&, i]() -> Task<void> {
            auto mine = co_await mu.lock();
            order.push_back(i);
          });
          co_await until_parked(i + 1);  // queued in this order
        }
        CO_ASSERT_TRUE(!mu.try_lock().has_value());
        g.unlock();
        co_await until_parked(0);
        for (int i = 0; i < 3; ++i)
          co_await orca::yield();
        CO_ASSERT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
        CO_ASSERT_TRUE(mu.try_lock().has_value());
      },
      kOneWorker);
}

TEST(Mutex, TryLockAndGuard) {
  Mutex mu;
  {
    auto g = mu.try_lock();
    ASSERT_TRUE(g.has_value());
    EXPECT_TRUE(g->owns_lock());
    EXPECT_FALSE(mu.try_lock().has_value());
    Mutex::Guard moved = std::move(*g);
    EXPECT_FALSE(g->owns_lock());
    EXPECT_TRUE(moved.owns_lock());
  }
  EXPECT_TRUE(mu.try_lock().has_value());  // released by the guard
}

TEST(Mutex, UnlockOfUnlockedMutexThrows) {
  Mutex mu;
  EXPECT_THROW(mu.unlock(), std::logic_error);
}

TEST(Mutex, ParkedLockCancelledByContext) {
  orca::run(
      []() -> Task<void> {
        Mutex mu;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        auto held = co_await mu.lock();
        std::error_code err;
        bool done = false;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto g = co_await mu.lock(ctx);
          err = std::error_code(g.error());
          done = true;
        });
        co_await until_parked(1);
        cancel();
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(done, true);
        CO_ASSERT_EQ(err, make_error_code(errc::canceled));
        held.unlock();
        CO_ASSERT_TRUE(mu.try_lock().has_value());  // the cancelled waiter holds nothing
      },
      kOneWorker);
}

TEST(Mutex, LockDeadlineExceeded) {
  orca::run([]() -> Task<void> {
    Mutex mu;
    auto held = co_await mu.lock();
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 2ms);
    auto g = co_await mu.lock(ctx);
    CO_ASSERT_EQ(g.error(), make_error_code(errc::deadline_exceeded));
    cancel();
  });
}

TEST(Mutex, CancelRaceNeverLosesTheMutex) {
  // Waiters with contexts cancelled at random while the lock is handed around: at
  // the end the mutex is free and every success was exclusive.
  constexpr int kTasks = 16;
  std::atomic<int> inside{0};
  std::atomic<int> acquired{0};
  orca::run(
      [&]() -> Task<void> {
        Mutex mu;
        orca::WaitGroup wg;
        wg.add(kTasks);
        for (int t = 0; t < kTasks; ++t) {
          orca::go([&, t]() -> Task<void> {
            for (int i = 0; i < 200; ++i) {
              auto [ctx, cancel] = orca::with_cancel(orca::background());
              if ((i + t) % 3 == 0) cancel();
              auto g = co_await mu.lock(ctx);
              if (g) {
                EXPECT_EQ(inside.fetch_add(1), 0);
                acquired.fetch_add(1);
                co_await orca::yield();
                inside.fetch_sub(1);
              }
            }
            wg.done();
          });
        }
        (void)co_await wg.wait();
        CO_ASSERT_TRUE(mu.try_lock().has_value());
      },
      kFourWorkers);
  EXPECT_GT(acquired.load(), 0);
}

TEST(Semaphore, WeightedAcquireAndRelease) {
  orca::run([]() -> Task<void> {
    Semaphore sem(5);
    CO_ASSERT_TRUE(co_await sem.acquire(3));
    CO_ASSERT_EQ(sem.available(), std::int64_t{2});
    CO_ASSERT_TRUE(!sem.try_acquire(3));
    CO_ASSERT_TRUE(sem.try_acquire(2));
    sem.release(5);
    CO_ASSERT_EQ(sem.available(), std::int64_t{5});
    CO_ASSERT_TRUE(co_await sem.acquire(0));
  });
}

TEST(Semaphore, LargeWaiterIsNotStarvedBySmallOnes) {
  orca::run(
      []() -> Task<void> {
        Semaphore sem(4);
        CO_ASSERT_TRUE(co_await sem.acquire(3));
        std::vector<char> order;
        orca::go([&]() -> Task<void> {
          CO_EXPECT_TRUE(co_await sem.acquire(4));
          order.push_back('A');
          sem.release(4);
        });
        co_await until_parked(1);
        orca::go([&]() -> Task<void> {
          CO_EXPECT_TRUE(co_await sem.acquire(1));  // 1 is free, but A is first in line
          order.push_back('B');
          sem.release(1);
        });
        co_await until_parked(2);
        CO_ASSERT_TRUE(!sem.try_acquire(1));  // FIFO: no barging past the queue
        sem.release(3);
        co_await until_parked(0);
        for (int i = 0; i < 3; ++i)
          co_await orca::yield();
        CO_ASSERT_EQ(order, (std::vector<char>{'A', 'B'}));
        CO_ASSERT_EQ(sem.available(), std::int64_t{4});
      },
      kOneWorker);
}

TEST(Semaphore, CancelledFrontWaiterLetsTheNextIn) {
  orca::run(
      []() -> Task<void> {
        Semaphore sem(4);
        CO_ASSERT_TRUE(co_await sem.acquire(3));
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        std::error_code a_err;
        bool b_in = false;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto r = co_await sem.acquire(ctx, 4);
          a_err = r.error();
        });
        co_await until_parked(1);
        orca::go([&]() -> Task<void> {
          CO_EXPECT_TRUE(co_await sem.acquire(1));
          b_in = true;
        });
        co_await until_parked(2);
        cancel();  // A leaves; B fits in the one free unit
        co_await until_parked(0);
        for (int i = 0; i < 3; ++i)
          co_await orca::yield();
        CO_ASSERT_EQ(a_err, make_error_code(errc::canceled));
        CO_ASSERT_EQ(b_in, true);
        CO_ASSERT_EQ(sem.available(), std::int64_t{0});
      },
      kOneWorker);
}

TEST(Semaphore, AcquireDeadlineExceeded) {
  orca::run([]() -> Task<void> {
    Semaphore sem(1);
    CO_ASSERT_TRUE(sem.try_acquire());
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 2ms);
    auto r = co_await sem.acquire(ctx);
    CO_ASSERT_EQ(r.error(), make_error_code(errc::deadline_exceeded));
    CO_ASSERT_EQ(sem.available(), std::int64_t{0});
    cancel();
  });
}

TEST(Semaphore, BadRequestsAreErrors) {
  orca::run([]() -> Task<void> {
    Semaphore sem(2);
    auto r = co_await sem.acquire(3);
    CO_ASSERT_EQ(r.error(), std::make_error_code(std::errc::invalid_argument));
  });
  Semaphore sem(2);
  EXPECT_THROW(sem.release(1), std::logic_error);
  EXPECT_THROW(Semaphore(-1), std::invalid_argument);
}

TEST(Semaphore, BoundsConcurrencyAcrossWorkers) {
  constexpr int kLimit = 3;
  std::atomic<int> inside{0};
  std::atomic<int> peak{0};
  orca::run(
      [&]() -> Task<void> {
        Semaphore sem(kLimit);
        orca::WaitGroup wg;
        wg.add(32);
        for (int t = 0; t < 32; ++t) {
          orca::go([&]() -> Task<void> {
            for (int i = 0; i < 50; ++i) {
              CO_EXPECT_TRUE(co_await sem.acquire());
              const int now = inside.fetch_add(1) + 1;
              int p = peak.load();
              while (now > p && !peak.compare_exchange_weak(p, now)) {
              }
              co_await orca::yield();
              inside.fetch_sub(1);
              sem.release();
            }
            wg.done();
          });
        }
        (void)co_await wg.wait();
        CO_ASSERT_EQ(sem.available(), std::int64_t{kLimit});
      },
      kFourWorkers);
  EXPECT_LE(peak.load(), kLimit);
}

}  // namespace
