// Conformance of deadlines and timeouts: a child's deadline is the earlier of its
// own and its parent's; a past deadline gives a context born done; expiry reports
// deadline_exceeded (and the cause given), an earlier cancel reports canceled; and
// the context-aware sleeps return the context's error early.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "context/context_test_support.hpp"
#include "orca/orca.hpp"

namespace {

using namespace std::chrono_literals;
using orca::Clock;
using orca_ctx_test::canceled;
using orca_ctx_test::deadline_exceeded;
using orca_ctx_test::ErrIs;
using orca_ctx_test::show;

std::string show(std::optional<Clock::time_point> t) {
  if (!t) return "no deadline";
  return std::to_string((*t - Clock::now()) / 1ms) + " ms from now";
}

// EXPECT_TRUE(DeadlineIs("child", child.deadline(), want)).
::testing::AssertionResult DeadlineIs(const char* what, std::optional<Clock::time_point> got,
                                      std::optional<Clock::time_point> want) {
  if (got == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ".deadline(): got " << show(got) << ", want " << show(want);
}

TEST(Deadline, WithDeadlineReportsTheDeadlineGiven) {
  orca::run([]() -> orca::Task<void> {
    const auto when = Clock::now() + 1h;
    auto [ctx, cancel] = orca::with_deadline(orca::background(), when);
    EXPECT_TRUE(DeadlineIs("ctx", ctx.deadline(), when));
    EXPECT_TRUE(ErrIs("err()", ctx.err(), {}));
    cancel();
    EXPECT_TRUE(DeadlineIs("ctx after cancel", ctx.deadline(), when));
    co_return;
  });
}

TEST(Deadline, WithTimeoutDeadlineIsNowPlusTheTimeout) {
  orca::run([]() -> orca::Task<void> {
    const auto before = Clock::now();
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 1h);
    const auto after = Clock::now();
    EXPECT_TRUE(ctx.deadline().has_value()) << "deadline(): got none, want about an hour away";
    if (ctx.deadline()) {
      EXPECT_GE(*ctx.deadline(), before + 1h);
      EXPECT_LE(*ctx.deadline(), after + 1h);
    }
    cancel();
    co_return;
  });
}

TEST(Deadline, ChildDeadlineIsTheEarlierOfItsOwnAndItsParents) {
  orca::run([]() -> orca::Task<void> {
    const orca::ContextKey<int> key{"k"};
    const auto now = Clock::now();
    auto [parent, cancel] = orca::with_deadline(orca::background(), now + 1h);
    auto [later, cancel_later] = orca::with_deadline(parent, now + 2h);
    auto [earlier, cancel_earlier] = orca::with_deadline(parent, now + 30min);
    auto [later_timeout, cancel_later_timeout] = orca::with_timeout(parent, 3h);
    auto [plain, cancel_plain] = orca::with_cancel(parent);
    const orca::Context valued = orca::with_value(parent, key, 1);
    auto [under_value, cancel_under_value] = orca::with_deadline(valued, now + 5h);
    auto [grandchild, cancel_grandchild] = orca::with_deadline(earlier, now + 45min);
    EXPECT_TRUE(DeadlineIs("later child", later.deadline(), now + 1h));
    EXPECT_TRUE(DeadlineIs("earlier child", earlier.deadline(), now + 30min));
    EXPECT_TRUE(DeadlineIs("later with_timeout child", later_timeout.deadline(), now + 1h));
    EXPECT_TRUE(DeadlineIs("with_cancel child", plain.deadline(), now + 1h));
    EXPECT_TRUE(DeadlineIs("with_value child", valued.deadline(), now + 1h));
    EXPECT_TRUE(DeadlineIs("child under a value", under_value.deadline(), now + 1h));
    EXPECT_TRUE(DeadlineIs("grandchild of the earlier child", grandchild.deadline(), now + 30min));
    cancel();
    for (const auto* f : {&cancel_later, &cancel_earlier, &cancel_later_timeout, &cancel_plain,
                          &cancel_under_value, &cancel_grandchild})
      (*f)();
    EXPECT_EQ(orca::stats().timers_pending, 0) << "timers left armed after every cancel";
    co_return;
  });
}

TEST(Deadline, PastDeadlineGivesAContextBornDone) {
  orca::run([]() -> orca::Task<void> {
    const auto past = Clock::now() - 1s;
    auto [ctx, cancel] = orca::with_deadline(orca::background(), past);
    EXPECT_TRUE(ErrIs("with_deadline(past).err()", ctx.err(), deadline_exceeded()));
    EXPECT_TRUE(ErrIs("with_deadline(past).cause()", ctx.cause(), deadline_exceeded()));
    EXPECT_TRUE(DeadlineIs("with_deadline(past)", ctx.deadline(), past));
    auto [zero, cancel_zero] = orca::with_timeout(orca::background(), 0s);
    EXPECT_TRUE(ErrIs("with_timeout(0).err()", zero.err(), deadline_exceeded()));
    auto [negative, cancel_negative] = orca::with_timeout(orca::background(), -5s);
    EXPECT_TRUE(ErrIs("with_timeout(-5s).err()", negative.err(), deadline_exceeded()));
    auto [child, cancel_child] = orca::with_cancel(ctx);
    EXPECT_TRUE(ErrIs("child of a born-expired context", child.err(), deadline_exceeded()));
    const std::error_code got = co_await ctx.done();
    EXPECT_TRUE(ErrIs("co_await done()", got, deadline_exceeded()));
    cancel();
    EXPECT_TRUE(ErrIs("err() after a later cancel", ctx.err(), deadline_exceeded()));
    EXPECT_EQ(orca::stats().timers_pending, 0) << "a born-expired context armed a timer";
  });
}

TEST(Deadline, PastDeadlineWorksWithoutARuntime) {
  auto [ctx, cancel] = orca::with_deadline(orca::background(), Clock::now() - 1ms);
  EXPECT_TRUE(ErrIs("err()", ctx.err(), deadline_exceeded()));
  cancel();
}

TEST(Deadline, PastDeadlineReportsTheCauseGiven) {
  const std::error_code cause = std::make_error_code(std::errc::timed_out);
  auto [ctx, cancel] = orca::with_deadline(orca::background(), Clock::now() - 1s, cause);
  EXPECT_TRUE(ErrIs("err()", ctx.err(), deadline_exceeded()));
  EXPECT_TRUE(ErrIs("cause()", ctx.cause(), cause));
}

TEST(Timeout, ExpirySetsDeadlineExceeded) {
  std::error_code got;
  orca::run([&]() -> orca::Task<void> {
    // Long enough that the check before expiry comes first under TSan with schedule
    // perturbation on a loaded machine (5 ms did not, once).
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 200ms);
    EXPECT_TRUE(ErrIs("err() before expiry", ctx.err(), {}));
    got = co_await ctx.done();
    EXPECT_GE(Clock::now(), *ctx.deadline()) << "done before the deadline";
    EXPECT_TRUE(ErrIs("err()", ctx.err(), deadline_exceeded()));
    EXPECT_TRUE(ErrIs("cause()", ctx.cause(), deadline_exceeded()));
    EXPECT_EQ(orca::stats().timers_pending, 0) << "timer still armed after it fired";
    cancel();
    EXPECT_TRUE(ErrIs("err() after cancel", ctx.err(), deadline_exceeded()));
  });
  EXPECT_TRUE(ErrIs("co_await done()", got, deadline_exceeded()));
}

TEST(Timeout, ExpiryReachesDescendants) {
  orca::run([]() -> orca::Task<void> {
    const orca::ContextKey<int> key{"k"};
    auto [parent, cancel] = orca::with_timeout(orca::background(), 5ms);
    auto [child, cancel_child] = orca::with_cancel(orca::with_value(parent, key, 1));
    auto [longer, cancel_longer] = orca::with_timeout(parent, 1h);
    const std::error_code got = co_await child.done();
    EXPECT_TRUE(ErrIs("child.done()", got, deadline_exceeded()));
    EXPECT_TRUE(ErrIs("longer child.err()", longer.err(), deadline_exceeded()));
    cancel();
    cancel_child();
    cancel_longer();
  });
}

TEST(Timeout, CancelBeforeExpiryGivesCanceled) {
  orca::run([]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 1h);
    auto [child, cancel_child] = orca::with_cancel(ctx);
    cancel();
    EXPECT_TRUE(ErrIs("err()", ctx.err(), canceled()));
    EXPECT_TRUE(ErrIs("cause()", ctx.cause(), canceled()));
    EXPECT_TRUE(ErrIs("child.err()", child.err(), canceled()));
    const std::error_code got = co_await ctx.done();
    EXPECT_TRUE(ErrIs("co_await done()", got, canceled()));
    EXPECT_EQ(orca::stats().timers_pending, 0) << "cancel left the deadline timer armed";
  });
}

TEST(Timeout, CancelledContextStaysCanceledAfterItsDeadlinePasses) {
  orca::run([]() -> orca::Task<void> {
    // A loaded machine (or the perturbation delays) can let the deadline pass before
    // cancel() runs; then the context is rightly done by its deadline, so the timeout
    // doubles until cancel() came first.
    for (auto timeout = 2ms;; timeout *= 2) {
      auto [ctx, cancel] = orca::with_timeout(orca::background(), timeout);
      cancel();
      if (ctx.err() != canceled()) {
        if (timeout > 10s) {
          ADD_FAILURE() << "the deadline always passed before cancel()";
          co_return;
        }
        continue;
      }
      co_await orca::sleep_for(timeout * 5);
      EXPECT_TRUE(ErrIs("err() after the deadline passed", ctx.err(), canceled()));
      co_return;
    }
  });
}

TEST(Timeout, CauseIsReportedWhenTheDeadlinePasses) {
  orca::run([]() -> orca::Task<void> {
    const std::error_code cause = std::make_error_code(std::errc::timed_out);
    auto [ctx, cancel] = orca::with_deadline(orca::background(), Clock::now() + 5ms, cause);
    auto [child, cancel_child] = orca::with_cancel(ctx);
    auto [by_timeout, cancel_by_timeout] =
        orca::with_timeout(orca::background(), 5ms, std::make_error_code(std::errc::io_error));
    const std::error_code got = co_await ctx.done();
    EXPECT_TRUE(ErrIs("co_await done()", got, deadline_exceeded()));
    EXPECT_TRUE(ErrIs("err()", ctx.err(), deadline_exceeded()));
    EXPECT_TRUE(ErrIs("cause()", ctx.cause(), cause));
    EXPECT_TRUE(ErrIs("child.cause()", child.cause(), cause));
    (void)co_await by_timeout.done();
    EXPECT_TRUE(ErrIs("with_timeout cause()", by_timeout.cause(),
                      std::make_error_code(std::errc::io_error)));
    cancel();
    cancel_by_timeout();
  });
}

TEST(Timeout, CancelBeforeExpiryReportsCanceledNotTheDeadlineCause) {
  orca::run([]() -> orca::Task<void> {
    auto [ctx, cancel] =
        orca::with_timeout(orca::background(), 1h, std::make_error_code(std::errc::timed_out));
    cancel();
    EXPECT_TRUE(ErrIs("cause()", ctx.cause(), canceled()));
    co_return;
  });
}

TEST(Timeout, ManyTimeoutsExpireAndReleaseTheirTimers) {
  orca::run([]() -> orca::Task<void> {
    std::vector<std::pair<orca::Context, orca::CancelFunc>> all;
    for (int i = 0; i < 1000; ++i)
      all.push_back(orca::with_timeout(orca::background(), std::chrono::microseconds(100 * i)));
    int wrong = 0;
    for (const auto& [ctx, cancel] : all) {
      const std::error_code err = co_await ctx.done();
      if (err != deadline_exceeded()) ++wrong;
    }
    EXPECT_EQ(wrong, 0) << "timeouts that did not end with deadline_exceeded";
    EXPECT_EQ(orca::stats().timers_pending, 0) << "timers left after every deadline passed";
  });
}

TEST(SleepWithContext, ReturnsTheErrorEarlyWhenCancelled) {
  orca::Result<void> got;
  orca::run([&]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    auto canceller = orca::spawn([cancel = cancel]() -> orca::Task<void> {
      co_await orca::sleep_for(1ms);
      cancel();
    });
    got = co_await orca::sleep_for(ctx, 1h);
    co_await std::move(canceller);
    EXPECT_EQ(orca::stats().timers_pending, 0) << "the sleep's timer is still armed";
  });
  EXPECT_TRUE(ErrIs("sleep_for(ctx, 1h)", got.error(), canceled()));
}

TEST(SleepWithContext, ReturnsTheDeadlineErrorOfAnExpiringContext) {
  orca::Result<void> got;
  orca::run([&]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 3ms);
    got = co_await orca::sleep_for(ctx, 1h);
    cancel();
  });
  EXPECT_TRUE(ErrIs("sleep_for(ctx, 1h)", got.error(), deadline_exceeded()));
}

TEST(SleepWithContext, SucceedsWhenTheDurationPassesFirst) {
  orca::run([]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    const auto start = Clock::now();
    const orca::Result<void> got = co_await orca::sleep_for(ctx, 2ms);
    EXPECT_TRUE(got.has_value()) << "sleep_for(ctx, 2ms): got " << show(got.error())
                                 << ", want success";
    EXPECT_GE(Clock::now() - start, 2ms) << "woke before the duration passed";
    cancel();  // after the sleep: its wait must already be gone
    const orca::Result<void> on_background = co_await orca::sleep_for(orca::background(), 1ms);
    EXPECT_TRUE(on_background.has_value())
        << "sleep_for(background, 1ms): got " << show(on_background.error());
  });
}

TEST(SleepWithContext, PastOrZeroDeadlineReturnsAtOnce) {
  orca::run([]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    const orca::Result<void> past = co_await orca::sleep_until(ctx, Clock::now() - 1h);
    EXPECT_TRUE(past.has_value()) << "sleep_until(ctx, past): got " << show(past.error());
    const orca::Result<void> zero = co_await orca::sleep_for(ctx, 0ms);
    EXPECT_TRUE(zero.has_value()) << "sleep_for(ctx, 0): got " << show(zero.error());
    // A loop of immediate sleeps completes (through the budget's yields).
    for (int i = 0; i < 1000; ++i)
      (void)co_await orca::sleep_until(ctx, Clock::now() - 1s);
    cancel();
  });
}

TEST(SleepWithContext, AlreadyCancelledContextReturnsAtOnce) {
  orca::Result<void> got;
  orca::run([&]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    cancel();
    got = co_await orca::sleep_for(ctx, 1h);  // no other task: a park would be a deadlock
  });
  EXPECT_TRUE(ErrIs("sleep_for(cancelled ctx, 1h)", got.error(), canceled()));
}

TEST(SleepWithContext, ForeignThreadCancelWakesTheSleeper) {
  orca::Result<void> got;
  orca::run([&]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    std::thread canceller([cancel = cancel] {
      std::this_thread::sleep_for(1ms);
      cancel();
    });
    got = co_await orca::sleep_for(ctx, 1h);
    canceller.join();
  });
  EXPECT_TRUE(ErrIs("sleep_for(ctx, 1h)", got.error(), canceled()));
}

TEST(SleepWithContext, OneCancelWakesEverySleeper) {
  constexpr int kSleepers = 1000;
  std::atomic<int> canceled_count{0};
  orca::WaitGroup wg;
  orca::run([&]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    wg.add(kSleepers);
    for (int i = 0; i < kSleepers; ++i)
      orca::go([ctx = ctx, &canceled_count, &wg]() -> orca::Task<void> {
        const orca::Result<void> r = co_await orca::sleep_for(ctx, 1h);
        if (r.error() == canceled()) canceled_count.fetch_add(1);
        wg.done();
      });
    co_await orca::sleep_for(1ms);
    cancel();
    (void)co_await wg.wait();
    EXPECT_EQ(orca::stats().timers_pending, 0) << "sleepers' timers still armed";
  });
  EXPECT_EQ(canceled_count.load(), kSleepers) << "sleepers that returned canceled";
}

TEST(SleepWithContext, TimerAndCancelRacingWakeTheSleeperOnce) {
  // Each round's sleep ends by its timer or by the cancel, whichever comes first;
  // either answer is right, and the loser must leave nothing behind.
  std::atomic<int> succeeded{0};
  std::atomic<int> cancelled{0};
  orca::WaitGroup wg;
  orca::run([&]() -> orca::Task<void> {
    constexpr int kRounds = 300;
    for (int round = 0; round < kRounds; ++round) {
      auto [ctx, cancel] = orca::with_cancel(orca::background());
      wg.add(1);
      orca::go([ctx = ctx, &succeeded, &cancelled, &wg]() -> orca::Task<void> {
        const orca::Result<void> r = co_await orca::sleep_for(ctx, 200us);
        (r ? succeeded : cancelled).fetch_add(1);
        wg.done();
      });
      co_await orca::sleep_for(200us);
      cancel();
      (void)co_await wg.wait();
    }
    EXPECT_EQ(succeeded + cancelled, kRounds);
    EXPECT_EQ(orca::stats().timers_pending, 0) << "sleep timers left armed";
  });
}

// The context outlives the runtime; a task sleeping on it is destroyed when the
// entry returns. Cancelling afterwards must not touch the dead task's wait node.
bool cancel_after_a_sleeper_was_destroyed_at_shutdown() {
  auto [ctx, cancel] = orca::with_cancel(orca::background());
  std::atomic<bool> sleeping{false};
  bool parked = false;
  orca::run([&, ctx = ctx]() -> orca::Task<void> {
    orca::go([ctx, &sleeping]() -> orca::Task<void> {
      sleeping.store(true);
      (void)co_await orca::sleep_for(ctx, 1h);
      std::fprintf(stderr, "the sleeper resumed, but nobody cancelled its context\n");
    });
    parked = co_await orca_ctx_test::eventually(
        [&] { return sleeping.load() && orca::stats().parked_tasks >= 1; });
  });
  if (!parked) std::fprintf(stderr, "the sleeper never parked\n");
  cancel();  // with a dangling wait node this wakes a destroyed task
  if (ctx.err() != canceled()) {
    std::fprintf(stderr, "err() after the runtime stopped: got %s, want canceled\n",
                 show(ctx.err()).c_str());
    return false;
  }
  return parked;
}

TEST(SleepWithContext, TaskDestroyedAtShutdownWithdrawsItsWait) {
  EXPECT_SURVIVES(cancel_after_a_sleeper_was_destroyed_at_shutdown);
}

}  // namespace
