// Once and Ticker.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>

#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::errc;
using orca::Once;
using orca::Task;
using orca::Ticker;
using orca_test::kFourWorkers;
using orca_test::kOneWorker;
using orca_test::until_parked;

namespace {

TEST(Once, RunsACoroutineOnceForConcurrentCallers) {
  constexpr int kCallers = 40;
  std::atomic<int> runs{0};
  std::atomic<int> saw_done{0};
  orca::run(
      [&]() -> Task<void> {
        Once once;
        bool initialized = false;
        orca::WaitGroup wg;
        wg.add(kCallers);
        for (int i = 0; i < kCallers; ++i) {
          orca::go([&]() -> Task<void> {
            auto r = co_await once.call([&]() -> Task<void> {
              runs.fetch_add(1);
              for (int k = 0; k < 10; ++k)
                co_await orca::yield();  // others arrive meanwhile
              initialized = true;
            });
            EXPECT_TRUE(r);
            if (initialized) saw_done.fetch_add(1);
            wg.done();
          });
        }
        (void)co_await wg.wait();
        CO_ASSERT_TRUE(once.done());
      },
      kFourWorkers);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(saw_done.load(), kCallers);  // nobody returned before it finished
}

TEST(Once, RunsAPlainCallable) {
  orca::run([]() -> Task<void> {
    Once once;
    int runs = 0;
    for (int i = 0; i < 3; ++i)
      CO_ASSERT_TRUE(co_await once.call([&] { ++runs; }));
    CO_ASSERT_EQ(runs, 1);
  });
}

TEST(Once, ThrowingFunctionIsRetriedByTheNextCaller) {
  orca::run([]() -> Task<void> {
    Once once;
    int attempts = 0;
    bool threw = false;
    try {
      (void)co_await once.call([&] {
        ++attempts;
        throw std::runtime_error("first attempt fails");
      });
    } catch (const std::runtime_error&) {
      threw = true;
    }
    CO_ASSERT_EQ(threw, true);
    CO_ASSERT_TRUE(!once.done());
    CO_ASSERT_TRUE(co_await once.call([&] { ++attempts; }));
    CO_ASSERT_EQ(attempts, 2);
    CO_ASSERT_TRUE(once.done());
  });
}

TEST(Once, ParkedCallerCancelledByContext) {
  orca::run(
      []() -> Task<void> {
        Once once;
        orca::Channel<int> release_init;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        orca::go([&]() -> Task<void> {
          (void)co_await once.call([&]() -> Task<void> { (void)co_await release_init.recv(); });
        });
        co_await until_parked(1);
        std::error_code err;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto r = co_await once.call(ctx, [] {});
          err = r.error();
        });
        co_await until_parked(2);
        cancel();
        co_await until_parked(1);
        co_await orca::yield();
        CO_ASSERT_EQ(err, make_error_code(errc::canceled));
        CO_ASSERT_TRUE(!once.done());
        CO_ASSERT_TRUE(release_init.try_send(1));
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_TRUE(once.done());
      },
      kOneWorker);
}

TEST(Ticker, TicksOnItsGridAndStops) {
  orca::run([]() -> Task<void> {
    Ticker t(1ms);
    orca::Clock::time_point last{};
    for (int i = 0; i < 3; ++i) {
      auto at = co_await t.tick();
      CO_ASSERT_TRUE(at.has_value());
      CO_ASSERT_TRUE(*at > last);
      CO_ASSERT_TRUE(*at <= orca::Clock::now());
      last = *at;
    }
    CO_ASSERT_TRUE(t.stop());
    CO_ASSERT_EQ(t.stop().error(), make_error_code(errc::closed));
    auto after_stop = co_await t.tick();
    CO_ASSERT_EQ(after_stop.error(), make_error_code(errc::closed));
  });
}

TEST(Ticker, SlowReaderSkipsMissedTicks) {
  orca::run([]() -> Task<void> {
    Ticker t(1ms);
    co_await orca::sleep_for(5ms);
    auto first = co_await t.tick();  // long overdue: returned at once
    CO_ASSERT_TRUE(first.has_value());
    auto second = co_await t.tick();  // the next grid point after now, not a backlog
    CO_ASSERT_TRUE(second.has_value());
    CO_ASSERT_TRUE(*second - *first >= 5ms);
  });
}

TEST(Ticker, ParkedTickWokenByStop) {
  orca::run(
      []() -> Task<void> {
        Ticker t(1h);
        std::error_code err;
        orca::go([&]() -> Task<void> {
          auto r = co_await t.tick();
          err = r.error();
        });
        co_await until_parked(1);
        CO_ASSERT_TRUE(t.stop());
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(err, make_error_code(errc::closed));
      },
      kOneWorker);
}

TEST(Ticker, TickCancelledByContext) {
  orca::run([]() -> Task<void> {
    Ticker t(1h);
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 2ms);
    auto r = co_await t.tick(ctx);
    CO_ASSERT_EQ(r.error(), make_error_code(errc::deadline_exceeded));
    cancel();
    CO_ASSERT_EQ(orca::stats().timers_pending, 0);
  });
  EXPECT_THROW(Ticker(0ms), std::invalid_argument);
}

}  // namespace
