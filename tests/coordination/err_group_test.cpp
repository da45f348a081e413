// ErrGroup, WaitGroup::wait(ctx) and signal_context: the coordination pieces of the
// context issue.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <stdexcept>
#include <string>
#include <thread>

#include "orca/orca.hpp"

using namespace std::chrono_literals;

namespace {

TEST(ErrGroup, WaitReturnsEmptyErrorWhenAllSucceed) {
  std::atomic<int> ran{0};
  std::error_code got = make_error_code(orca::errc::closed);
  orca::run([&]() -> orca::Task<void> {
    orca::ErrGroup group;
    for (int i = 0; i < 1000; ++i)
      group.go([&ran]() -> orca::Task<std::error_code> {
        ran.fetch_add(1);
        co_return std::error_code{};
      });
    got = co_await group.wait();
  });
  EXPECT_FALSE(got) << "got " << got.message() << ", want no error";
  EXPECT_EQ(ran.load(), 1000);
}

TEST(ErrGroup, FirstErrorCancelsContextAndIsReturned) {
  std::atomic<int> cancelled{0};
  std::error_code got;
  orca::run([&]() -> orca::Task<void> {
    auto [group, ctx] = orca::ErrGroup::with_context(orca::background());
    for (int i = 0; i < 100; ++i)
      group.go([ctx = ctx, &cancelled]() -> orca::Task<std::error_code> {
        const orca::Result<void> slept = co_await orca::sleep_for(ctx, 1h);
        if (!slept) cancelled.fetch_add(1);
        co_return slept.error();
      });
    group.go([]() -> orca::Task<std::error_code> {
      co_await orca::sleep_for(1ms);
      co_return std::make_error_code(std::errc::io_error);
    });
    got = co_await group.wait();
    EXPECT_EQ(ctx.err(), orca::errc::canceled);
  });
  EXPECT_EQ(got, std::errc::io_error) << "got " << got.message();
  EXPECT_EQ(cancelled.load(), 100);
}

TEST(ErrGroup, ExceptionCountsAsFailureAndIsRethrownByWait) {
  std::string what;
  bool ctx_cancelled = false;
  orca::run([&]() -> orca::Task<void> {
    auto [group, ctx] = orca::ErrGroup::with_context(orca::background());
    group.go([]() -> orca::Task<void> {
      throw std::runtime_error("boom");
      co_return;
    });
    group.go([ctx = ctx, &ctx_cancelled]() -> orca::Task<void> {
      auto done = co_await ctx.done();
      ctx_cancelled = done == orca::errc::canceled;
    });
    try {
      (void)co_await group.wait();
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
  });
  EXPECT_EQ(what, "boom");
  EXPECT_TRUE(ctx_cancelled);
}

TEST(ErrGroup, SetLimitBoundsConcurrentFunctions) {
  std::atomic<int> active{0};
  std::atomic<int> peak{0};
  std::atomic<int> ran{0};
  orca::run(
      [&]() -> orca::Task<void> {
        orca::ErrGroup group;
        group.set_limit(3);
        for (int i = 0; i < 50; ++i)
          group.go([&]() -> orca::Task<void> {
            const int now = active.fetch_add(1) + 1;
            int seen = peak.load();
            while (now > seen && !peak.compare_exchange_weak(seen, now)) {
            }
            co_await orca::sleep_for(1ms);
            active.fetch_sub(1);
            ran.fetch_add(1);
          });
        (void)co_await group.wait();
      },
      orca::RunOptions{.workers = 4});
  EXPECT_EQ(ran.load(), 50);
  EXPECT_LE(peak.load(), 3) << "got a peak of " << peak.load()
                            << " concurrent functions, want <= 3";
  EXPECT_GE(peak.load(), 1);
}

TEST(ErrGroup, TryGoRefusesWhenLimitReached) {
  bool first = false;
  bool second = true;
  orca::run([&]() -> orca::Task<void> {
    orca::ErrGroup group;
    group.set_limit(1);
    first = group.try_go([]() -> orca::Task<void> { co_await orca::sleep_for(5ms); });
    second = group.try_go([] {});
    (void)co_await group.wait();
  });
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
}

TEST(ErrGroup, SetLimitWhileActiveIsAnError) {
  bool threw = false;
  orca::run([&]() -> orca::Task<void> {
    orca::ErrGroup group;
    group.go([]() -> orca::Task<void> { co_await orca::sleep_for(5ms); });
    try {
      group.set_limit(2);
    } catch (const std::logic_error&) {
      threw = true;
    }
    (void)co_await group.wait();
  });
  EXPECT_TRUE(threw);
}

TEST(WaitGroup, WaitWithContextReturnsItsErrorEarly) {
  std::error_code got;
  orca::run([&]() -> orca::Task<void> {
    orca::WaitGroup wg;
    wg.add(1);
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 5ms);
    const orca::Result<void> r = co_await wg.wait(ctx);
    got = r.error();
    wg.done();
    const orca::Result<void> after = co_await wg.wait(ctx);  // ctx done: reports it at once
    EXPECT_EQ(after.error(), orca::errc::deadline_exceeded);
  });
  EXPECT_EQ(got, orca::errc::deadline_exceeded) << "got " << got.message();
}

TEST(WaitGroup, WaitWithContextSucceedsWhenCounterReachesZeroFirst) {
  bool ok = false;
  orca::run([&]() -> orca::Task<void> {
    orca::WaitGroup wg;
    wg.add(10);
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    for (int i = 0; i < 10; ++i)
      orca::go([&wg]() -> orca::Task<void> {
        co_await orca::sleep_for(1ms);
        wg.done();
      });
    const orca::Result<void> r = co_await wg.wait(ctx);
    ok = r.has_value();
    cancel();  // after the wait: must not disturb anything
  });
  EXPECT_TRUE(ok);
}

TEST(WaitGroup, NegativeCounterThrowsAndKeepsCount) {
  orca::WaitGroup wg;
  wg.add(1);
  wg.done();
  EXPECT_THROW(wg.done(), std::logic_error);
  EXPECT_EQ(wg.count(), 0);
  EXPECT_THROW(wg.add(-5), std::logic_error);
  EXPECT_EQ(wg.count(), 0);
}

TEST(SignalContext, SignalCancelsContextWithSignalCause) {
  std::error_code cause;
  std::error_code err;
  orca::run([&]() -> orca::Task<void> {
    auto [ctx, stop] = orca::signal_context(orca::background(), {SIGUSR1});
    orca::go([]() -> orca::Task<void> {
      co_await orca::sleep_for(2ms);
      std::raise(SIGUSR1);
    });
    err = co_await ctx.done();  // not a deadlock: the signal may still arrive
    cause = ctx.cause();
    stop();
  });
  EXPECT_EQ(err, orca::errc::canceled);
  EXPECT_EQ(cause.category().name(), std::string("signal"));
  EXPECT_EQ(cause.value(), SIGUSR1);
}

TEST(SignalContext, StopRestoresPreviousDisposition) {
  static std::atomic<int> handled{0};
  struct sigaction mine {};
  mine.sa_handler = [](int) { handled.fetch_add(1); };
  sigemptyset(&mine.sa_mask);
  struct sigaction old {};
  ASSERT_EQ(sigaction(SIGUSR2, &mine, &old), 0);
  {
    auto [ctx, stop] = orca::signal_context(orca::background(), {SIGUSR2});
    stop();  // like Go's stop, also cancels the context, without a signal cause
    EXPECT_EQ(ctx.err(), orca::errc::canceled);
    EXPECT_NE(ctx.cause().category().name(), std::string("signal"));
  }
  std::raise(SIGUSR2);
  EXPECT_EQ(handled.load(), 1) << "the handler installed before signal_context must be back";
  sigaction(SIGUSR2, &old, nullptr);
}

TEST(SignalContext, ParentCancellationReachesSignalContext) {
  auto [parent, cancel] = orca::with_cancel(orca::background());
  auto [ctx, stop] = orca::signal_context(parent, {SIGUSR1});
  cancel();
  EXPECT_EQ(ctx.err(), orca::errc::canceled);
}

}  // namespace
