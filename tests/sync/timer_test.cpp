// Timer: fires once with its due time, stop() and reset() report a pending timer
// and take back a value nobody received (Go 1.23: no stale value), a select case,
// and a cancelled receive that leaves the value for the next one.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::Clock;
using orca::errc;
using orca::Task;
using orca::Timer;

namespace {

// Sleeps until the timer has surely fired into its channel (len() == 1).
Task<void> until_fired(Timer& t) {
  while (t.channel().len() == 0)
    co_await orca::sleep_for(1ms);
}

TEST(Timer, FiresOnceWithItsDueTime) {
  orca::run([]() -> Task<void> {
    const Clock::time_point start = Clock::now();
    Timer t(2ms);
    auto at = co_await t.channel().recv();
    CO_ASSERT_TRUE(at.has_value());
    CO_ASSERT_TRUE(*at >= start + 2ms);
    CO_ASSERT_TRUE(*at <= Clock::now());
    CO_ASSERT_EQ(t.channel().try_recv().error(), make_error_code(errc::would_block));
    CO_ASSERT_EQ(t.stop(), false);  // fired and received: nothing pending
  });
}

TEST(Timer, StopBeforeFirePreventsIt) {
  orca::run([]() -> Task<void> {
    Timer t(1h);
    CO_ASSERT_EQ(t.stop(), true);
    CO_ASSERT_EQ(t.stop(), false);  // already stopped
    CO_ASSERT_EQ(t.channel().try_recv().error(), make_error_code(errc::would_block));
  });
}

TEST(Timer, StopTakesBackAnUnreceivedValue) {
  orca::run([]() -> Task<void> {
    Timer t(1ms);
    co_await until_fired(t);
    CO_ASSERT_EQ(t.stop(), true);  // fired, but nobody received it (Go 1.23)
    CO_ASSERT_EQ(t.channel().try_recv().error(), make_error_code(errc::would_block));
  });
}

TEST(Timer, ResetDropsTheStaleValueAndFiresAgain) {
  orca::run([]() -> Task<void> {
    Timer t(1ms);
    co_await until_fired(t);
    CO_ASSERT_EQ(t.reset(1h), true);
    CO_ASSERT_EQ(t.channel().try_recv().error(), make_error_code(errc::would_block));
    const Clock::time_point before_reset = Clock::now();
    CO_ASSERT_EQ(t.reset(1ms), true);  // the 1 h timer was pending
    auto at = co_await t.channel().recv();
    CO_ASSERT_TRUE(at.has_value());
    CO_ASSERT_TRUE(*at >= before_reset + 1ms);  // the new period's value, not an old one
    CO_ASSERT_EQ(t.reset(1h), false);           // fired and received
    CO_ASSERT_EQ(t.stop(), true);
  });
}

// A pending timer reset later keeps its wheel slot and only moves its deadline
// (TimerEntry::extend): it must neither fire at the old time nor send the old due
// time when it fires at the new one.
TEST(Timer, ResetLaterWhilePendingFiresOnlyAtTheNewTime) {
  orca::run([]() -> Task<void> {
    const Clock::time_point start = Clock::now();
    Timer t(5ms);
    for (int i = 0; i < 1000; ++i)
      CO_ASSERT_EQ(t.reset(5ms), true);  // pending every time
    const Clock::time_point last_reset = Clock::now();
    CO_ASSERT_EQ(t.reset(30ms), true);
    co_await orca::sleep_for(10ms);  // past the 5 ms slot the entry still sits in
    CO_ASSERT_EQ(t.channel().len(), 0u);
    auto at = co_await t.channel().recv();
    CO_ASSERT_TRUE(at.has_value());
    CO_ASSERT_TRUE(*at >= last_reset + 30ms);
    CO_ASSERT_TRUE(*at <= Clock::now());
    CO_ASSERT_TRUE(Clock::now() >= start + 30ms);
    CO_ASSERT_EQ(t.stop(), false);
  });
}

// Reset earlier than the pending deadline cannot stay in the later slot.
TEST(Timer, ResetEarlierWhilePendingFiresAtTheEarlierTime) {
  orca::run([]() -> Task<void> {
    Timer t(1h);
    const Clock::time_point before = Clock::now();
    CO_ASSERT_EQ(t.reset(2ms), true);
    auto at = co_await t.channel().recv();
    CO_ASSERT_TRUE(at.has_value());
    CO_ASSERT_TRUE(*at >= before + 2ms);
    CO_ASSERT_TRUE(Clock::now() < before + 1h);
  });
}

TEST(Timer, NonPositiveDurationFiresAtOnce) {
  orca::run([]() -> Task<void> {
    Timer t(0ms);
    CO_ASSERT_TRUE(t.channel().try_recv().has_value());
    CO_ASSERT_EQ(t.reset(-5ms), false);
    CO_ASSERT_TRUE(t.channel().try_recv().has_value());
  });
}

TEST(Timer, IsASelectCase) {
  orca::run([]() -> Task<void> {
    Timer t(1ms);
    orca::Channel<int> never;
    auto r = co_await orca::select(orca::recv(never), orca::recv(t.channel()), orca::after(1h));
    CO_ASSERT_EQ(r.index(), 1);
    CO_ASSERT_TRUE(r.get<1>().has_value());
  });
}

TEST(Timer, CancelledReceiveLeavesTheValue) {
  orca::run([]() -> Task<void> {
    Timer t(50ms);  // long after the receive's deadline
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 1ms);
    auto r = co_await t.channel().recv(ctx);
    CO_ASSERT_EQ(r.error(), make_error_code(errc::deadline_exceeded));
    cancel();
    auto at = co_await t.channel().recv();
    CO_ASSERT_TRUE(at.has_value());
  });
}

TEST(Timer, NeedsARuntimeForAFutureDeadline) {
  EXPECT_THROW({ Timer later(1s); }, std::logic_error);
  Timer now(0s);  // due at once: no runtime needed
  EXPECT_TRUE(now.channel().try_recv().has_value()) << "got no value, want the due time";
}

}  // namespace
