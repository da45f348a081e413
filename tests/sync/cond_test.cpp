// Cond: wait releases the mutex and holds it again on return (also when its
// context ends), signal wakes the oldest waiter, broadcast all, a signal never goes
// to a cancelled waiter, and a producer/consumer queue loses nothing across workers.
#include <gtest/gtest.h>

#include <deque>
#include <stdexcept>
#include <vector>

#include "support/sanitizers.hpp"
#include "sync/sync_test_support.hpp"

using orca::Cond;
using orca::errc;
using orca::Mutex;
using orca::Task;
using orca_test::kOneWorker;
using orca_test::until_parked;
using orca_test::until_settled;

namespace {

TEST(Cond, WaitReleasesTheMutexAndHoldsItAgainOnReturn) {
  orca::run(
      []() -> Task<void> {
        Mutex mu;
        Cond cond;
        bool ready = false;
        bool owned_after_wait = false;
        bool returned = false;
        orca::go([&]() -> Task<void> {
          auto g = co_await mu.lock();
          while (!ready) {
            auto r = co_await cond.wait(g);
            CO_EXPECT_TRUE(r);
          }
          owned_after_wait = g.owns_lock();
          returned = true;
        });
        co_await until_parked(1);
        auto g = mu.try_lock();  // the waiter released it
        CO_ASSERT_TRUE(g.has_value());
        ready = true;
        cond.signal();
        co_await orca::yield();
        CO_ASSERT_EQ(returned, false);  // woken, but the mutex is still ours
        g->unlock();
        co_await until_settled();
        CO_ASSERT_EQ(returned, true);
        CO_ASSERT_EQ(owned_after_wait, true);
        CO_ASSERT_TRUE(mu.try_lock().has_value());  // the waiter's guard released it
      },
      kOneWorker);
}

TEST(Cond, SignalWakesTheOldestWaiterBroadcastWakesAll) {
  orca::run(
      []() -> Task<void> {
        Mutex mu;
        Cond cond;
        std::vector<int> woken;
        for (int i = 0; i < 3; ++i) {
          orca::go([&, i]() -> Task<void> {
            auto g = co_await mu.lock();
            auto r = co_await cond.wait(g);
            CO_EXPECT_TRUE(r);
            woken.push_back(i);
          });
          co_await until_parked(i + 1);
        }
        cond.signal();
        for (int i = 0; i < 5; ++i)
          co_await orca::yield();
        CO_ASSERT_EQ(woken, (std::vector<int>{0}));
        cond.broadcast();
        co_await until_settled();
        CO_ASSERT_EQ(woken, (std::vector<int>{0, 1, 2}));
        cond.signal();  // nobody waits: nothing happens, nothing is remembered
      },
      kOneWorker);
}

TEST(Cond, CancelledWaitReturnsTheErrorHoldingTheMutex) {
  orca::run(
      []() -> Task<void> {
        Mutex mu;
        Cond cond;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        std::error_code err;
        bool owned = false;
        bool still_exclusive = false;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto g = co_await mu.lock();
          auto r = co_await cond.wait(g, ctx);
          err = std::error_code(r.error());
          owned = g.owns_lock();
          still_exclusive = !mu.try_lock().has_value();
        });
        co_await until_parked(1);
        cancel();
        co_await until_settled();
        CO_ASSERT_EQ(err, make_error_code(errc::canceled));
        CO_ASSERT_EQ(owned, true);
        CO_ASSERT_EQ(still_exclusive, true);
        CO_ASSERT_TRUE(mu.try_lock().has_value());
      },
      kOneWorker);
}

TEST(Cond, DoneContextReturnsAtOnceWithoutReleasing) {
  orca::run([]() -> Task<void> {
    Mutex mu;
    Cond cond;
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    cancel();
    auto g = co_await mu.lock();
    auto r = co_await cond.wait(g, ctx);
    CO_ASSERT_EQ(r.error(), make_error_code(errc::canceled));
    CO_ASSERT_EQ(g.owns_lock(), true);
  });
}

TEST(Cond, SignalSkipsACancelledWaiter) {
  orca::run(
      []() -> Task<void> {
        Mutex mu;
        Cond cond;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        std::error_code first_err;
        bool second_woken = false;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto g = co_await mu.lock();
          auto r = co_await cond.wait(g, ctx);
          first_err = std::error_code(r.error());
        });
        co_await until_parked(1);
        orca::go([&]() -> Task<void> {
          auto g = co_await mu.lock();
          auto r = co_await cond.wait(g);
          second_woken = r.has_value();
        });
        co_await until_parked(2);
        cancel();       // the first waiter's context claims it...
        cond.signal();  // ...so the signal goes to the second
        co_await until_settled();
        CO_ASSERT_EQ(first_err, make_error_code(errc::canceled));
        CO_ASSERT_EQ(second_woken, true);
      },
      kOneWorker);
}

TEST(Cond, WaitWithoutTheMutexThrows) {
  orca::run([]() -> Task<void> {
    Cond cond;
    Mutex::Guard none;
    bool threw = false;
    try {
      auto r = co_await cond.wait(none);
      (void)r;
    } catch (const std::logic_error&) {
      threw = true;
    }
    CO_ASSERT_EQ(threw, true);
  });
}

TEST(Cond, QueueAcrossWorkersLosesNothing) {
  const int kItems = orca_test::kSanitized ? 2000 : 20000;
  constexpr int kConsumers = 3;
  long long sum = 0;
  int taken = 0;  // guarded by mu (TSan checks)
  orca::run(
      [&]() -> Task<void> {
        Mutex mu;
        Cond not_empty;
        std::deque<int> queue;
        bool finished = false;
        orca::WaitGroup wg;
        wg.add(kConsumers);
        for (int c = 0; c < kConsumers; ++c) {
          orca::go([&]() -> Task<void> {
            auto g = co_await mu.lock();
            for (;;) {
              while (queue.empty() && !finished) {
                auto r = co_await not_empty.wait(g);
                CO_EXPECT_TRUE(r);
              }
              if (queue.empty()) break;
              sum += queue.front();
              queue.pop_front();
              ++taken;
            }
            g.unlock();
            wg.done();
          });
        }
        for (int i = 1; i <= kItems; ++i) {
          auto g = co_await mu.lock();
          queue.push_back(i);
          not_empty.signal();
          if (i % 100 == 0) {
            g.unlock();
            co_await orca::yield();
          }
        }
        auto g = co_await mu.lock();
        finished = true;
        not_empty.broadcast();
        g.unlock();
        (void)co_await wg.wait();
      },
      orca::RunOptions{.workers = 2});
  EXPECT_EQ(taken, kItems);
  EXPECT_EQ(sum, static_cast<long long>(kItems) * (kItems + 1) / 2);
}

}  // namespace
