// Timers as tasks see them: sleeps end in deadline order and never before their
// deadline, zero and negative sleeps complete, cancelled timer entries never fire,
// and a far-future sleep does not stall the timers of others.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <vector>

#include "orca/orca.hpp"
#include "orca/runtime/detail/timer.hpp"
#include "runtime/test_support.hpp"

using namespace std::chrono_literals;
using orca::Clock;

namespace {

// 200 sleepers with deadlines 2 ms apart, started in shuffled order, must finish in
// deadline order. One worker: timers due together fire in tick order and run FIFO,
// so the order does not depend on how fast the machine is.
TEST(Timer, SleepsEndInDeadlineOrder) {
  constexpr int kSleepers = 200;
  std::vector<int> spawn_order(kSleepers);
  std::iota(spawn_order.begin(), spawn_order.end(), 0);
  std::shuffle(spawn_order.begin(), spawn_order.end(), std::mt19937(12345));

  std::mutex mutex;
  std::vector<int> finish_order;
  orca::run(
      [&]() -> orca::Task<void> {
        // Far enough ahead that every sleeper is parked before the first deadline.
        const Clock::time_point base = Clock::now() + 50ms;
        orca::WaitGroup done;
        done.add(kSleepers);
        for (int i : spawn_order) {
          orca::go([&, i]() -> orca::Task<void> {
            co_await orca::sleep_until(base + i * 2ms);
            {
              std::lock_guard lock(mutex);
              finish_order.push_back(i);
            }
            done.done();
          });
        }
        (void)co_await done.wait();
      },
      {.workers = 1});
  ASSERT_EQ(finish_order.size(), static_cast<std::size_t>(kSleepers));
  for (int i = 0; i < kSleepers; ++i) {
    if (finish_order[i] != i) {
      ADD_FAILURE() << "position " << i << ": got sleeper " << finish_order[i] << ", want sleeper "
                    << i << " (deadlines are 2 ms apart)";
      break;
    }
  }
}

// Many sleeps of assorted lengths on four workers: none may end before its
// deadline (the wheel rounds deadlines up to its 64 us tick, never down).
TEST(Timer, SleepNeverEndsBeforeItsDeadline) {
  constexpr int kSleepers = 300;
  std::atomic<int> early{0};
  std::atomic<long> worst_early_ns{0};
  orca::run(
      [&]() -> orca::Task<void> {
        orca::WaitGroup done;
        done.add(kSleepers);
        std::minstd_rand rng(7);  // small: its state lives in the coroutine frame
        for (int i = 0; i < kSleepers; ++i) {
          const auto length = std::chrono::microseconds(rng() % 5000);
          const bool use_until = (i % 2) == 0;
          orca::go([&, length, use_until]() -> orca::Task<void> {
            const Clock::time_point start = Clock::now();
            const Clock::time_point deadline = start + length;
            if (use_until) {
              co_await orca::sleep_until(deadline);
            } else {
              co_await orca::sleep_for(length);
            }
            const Clock::time_point end = Clock::now();
            if (end < deadline) {
              early.fetch_add(1);
              const long ns = std::chrono::nanoseconds(deadline - end).count();
              long seen = worst_early_ns.load();
              while (ns > seen && !worst_early_ns.compare_exchange_weak(seen, ns)) {
              }
            }
            done.done();
          });
        }
        (void)co_await done.wait();
      },
      {.workers = 4});
  EXPECT_EQ(early.load(), 0) << "got sleeps ending up to " << worst_early_ns.load()
                             << " ns before their deadline, want none";
}

TEST(Timer, SleepLastsAtLeastItsDuration) {
  Clock::duration slept{};
  orca::run([&]() -> orca::Task<void> {
    const Clock::time_point start = Clock::now();
    co_await orca::sleep_for(20ms);
    slept = Clock::now() - start;
  });
  EXPECT_GE(slept, 20ms);
}

TEST(Timer, ZeroNegativeAndPastSleepsComplete) {
  int completed = 0;
  orca::run([&]() -> orca::Task<void> {
    co_await orca::sleep_for(0ms);
    ++completed;
    co_await orca::sleep_for(-5ms);
    ++completed;
    co_await orca::sleep_for(std::chrono::hours(-1000));
    ++completed;
    co_await orca::sleep_until(Clock::now() - 1s);
    ++completed;
    co_await orca::sleep_until(Clock::time_point::min());
    ++completed;
    co_await orca::sleep_for(1ns);
    ++completed;
  });
  EXPECT_EQ(completed, 6);
}

// ---------------------------------------------------------------- TimerEntry

struct FireCount {
  std::atomic<int> fires{0};
};

void count_fire(orca::detail::TimerEntry* entry) noexcept {
  static_cast<FireCount*>(entry->arg)->fires.fetch_add(1, std::memory_order_relaxed);
}

TEST(TimerEntry, CancelledEntriesNeverFire) {
  constexpr int kEntries = 1000;
  auto entries = std::make_unique<orca::detail::TimerEntry[]>(kEntries);
  auto counts = std::make_unique<FireCount[]>(kEntries);
  int armed = 0;
  int cancel_true = 0;
  int cancel_fired_false = 0;
  orca::run(
      [&]() -> orca::Task<void> {
        // Spread over 20 ms (about 300 ticks, several entries per tick), starting far
        // enough ahead that arming and cancelling finish before the first deadline.
        const Clock::time_point base = Clock::now() + 100ms;
        for (int i = 0; i < kEntries; ++i) {
          entries[i].fire = &count_fire;
          entries[i].arg = &counts[i];
          if (entries[i].arm(base + i * 20us)) ++armed;
        }
        for (int i = 0; i < kEntries; i += 2)
          if (entries[i].cancel()) ++cancel_true;
        // Armed by this task on this worker's wheel, with no suspension in between,
        // so they share a wheel with this sleep's later deadline: all have fired when
        // it ends.
        co_await orca::sleep_until(base + kEntries * 20us + 5ms);
        for (int i = 1; i < kEntries; i += 2)
          if (!entries[i].cancel()) ++cancel_fired_false;
      },
      {.workers = 2});
  EXPECT_EQ(armed, kEntries);
  EXPECT_EQ(cancel_true, kEntries / 2) << "want cancel() true for every entry not yet fired";
  int fired_total = 0;
  int cancelled_that_fired = 0;
  int kept_that_did_not_fire_once = 0;
  for (int i = 0; i < kEntries; ++i) {
    const int fires = counts[i].fires.load();
    fired_total += fires;
    if (i % 2 == 0 && fires != 0) ++cancelled_that_fired;
    if (i % 2 == 1 && fires != 1) ++kept_that_did_not_fire_once;
  }
  EXPECT_EQ(fired_total, kEntries / 2);
  EXPECT_EQ(cancelled_that_fired, 0) << "got cancelled entries firing";
  EXPECT_EQ(kept_that_did_not_fire_once, 0) << "got kept entries not firing exactly once";
  EXPECT_EQ(cancel_fired_false, kEntries / 2) << "want cancel() false on every fired entry";
  for (int i = 0; i < kEntries; ++i)
    EXPECT_FALSE(entries[i].armed()) << "entry " << i;
}

TEST(TimerEntry, ArmRefusesPastDeadlinesAndNoRuntime) {
  FireCount count;
  orca::detail::TimerEntry outside;
  outside.fire = &count_fire;
  outside.arg = &count;
  EXPECT_FALSE(outside.arm(Clock::now() + 1s)) << "want false with no runtime running";
  EXPECT_FALSE(outside.cancel());
  bool armed_past = true;
  orca::run([&]() -> orca::Task<void> {
    orca::detail::TimerEntry past;
    past.fire = &count_fire;
    past.arg = &count;
    armed_past = past.arm(Clock::now() - 1ms);
    co_return;
  });
  EXPECT_FALSE(armed_past);
  EXPECT_EQ(count.fires.load(), 0);
}

TEST(TimerEntry, DestroyingAnArmedEntryCancelsIt) {
  FireCount count;
  orca::run([&]() -> orca::Task<void> {
    {
      orca::detail::TimerEntry entry;
      entry.fire = &count_fire;
      entry.arg = &count;
      EXPECT_TRUE(entry.arm(Clock::now() + 2ms));
    }
    co_await orca::sleep_for(10ms);
  });
  EXPECT_EQ(count.fires.load(), 0);
}

// extend() moves an armed entry's deadline later in place: the wheel reaches the
// old slot, finds the deadline not yet due and re-links the entry, which then
// fires once, not before the new deadline.
TEST(TimerEntry, ExtendedEntryFiresOnceAtTheLaterDeadline) {
  FireCount count;
  Clock::time_point fired_at{};
  bool extend_unarmed = true;
  bool extend_earlier = true;
  bool extend_later = false;
  orca::run([&]() -> orca::Task<void> {
    orca::detail::TimerEntry entry;
    entry.fire = &count_fire;
    entry.arg = &count;
    extend_unarmed = entry.extend(Clock::now() + 1ms);
    const Clock::time_point first = Clock::now() + 2ms;
    EXPECT_TRUE(entry.arm(first));
    extend_earlier = entry.extend(first - 1ms);
    const Clock::time_point later = first + 20ms;
    extend_later = entry.extend(later);
    co_await orca::sleep_until(first + 5ms);  // the old slot has been reached
    EXPECT_EQ(count.fires.load(), 0) << "fired at the deadline it was extended from";
    EXPECT_TRUE(entry.armed());
    while (count.fires.load() == 0)
      co_await orca::sleep_for(1ms);
    fired_at = Clock::now();
    EXPECT_GE(fired_at, later);
    EXPECT_FALSE(entry.armed());
    EXPECT_EQ(entry.deadline_, later);
  });
  EXPECT_FALSE(extend_unarmed) << "want false for an entry not armed";
  EXPECT_FALSE(extend_earlier) << "want false for an earlier deadline";
  EXPECT_TRUE(extend_later);
  EXPECT_EQ(count.fires.load(), 1);
}

// ---------------------------------------------------------------- far deadlines

void set_flag(orca::detail::TimerEntry* entry) noexcept {
  static_cast<std::atomic<bool>*>(entry->arg)->store(true);
}

// A sleep further away than the wheel's span (2^36 ticks, ~51 days), started after
// the worker's wheel has advanced, must neither fire nor stop the worker's other
// timers. Run in a child process: the failure mode is a worker stuck for good.
TEST(Timer, FarFutureSleepDoesNotStallOtherTimers) {
  orca_test::expect_finishes_in_child(10s, "run() with a 1-year sleeper", [] {
    int short_sleeps = 0;
    bool sleeper_woke = false;
    orca::run(
        [&]() -> orca::Task<void> {
          // First make the (only) worker's wheel advance: a probe timer fires. A
          // sleep alone would not do: it may complete without the wheel when
          // arming comes after its deadline.
          std::atomic<bool> fired{false};
          orca::detail::TimerEntry probe;
          probe.fire = &set_flag;
          probe.arg = &fired;
          while (!probe.arm(Clock::now() + 1ms)) {
          }
          while (!fired.load())
            co_await orca::sleep_for(1ms);
          orca::go([&]() -> orca::Task<void> {
            co_await orca::sleep_for(24h * 365);
            sleeper_woke = true;
          });
          co_await orca::yield();  // the sleeper arms its timer on this worker
          for (int i = 0; i < 5; ++i) {
            co_await orca::sleep_for(1ms);
            ++short_sleeps;
          }
        },
        {.workers = 1});
    EXPECT_EQ(short_sleeps, 5);
    EXPECT_FALSE(sleeper_woke);
  });
}

// sleep_for(hours::max()) saturates to the largest deadline instead of overflowing
// into the past, and the sleeper, still parked when the entry returns, is torn
// down with its timer. One worker, and the sleeper arms before this worker's wheel
// has ever advanced: this test is about saturation and teardown, and leaves the
// far-deadline-on-an-advanced-wheel case to the test above.
TEST(Timer, SaturatedSleepNeverEndsAndIsCancelledAtShutdown) {
  orca_test::expect_finishes_in_child(10s, "run() with a sleep_for(hours::max()) sleeper", [] {
    bool sleeper_woke = false;
    bool entry_done = false;
    orca::run(
        [&]() -> orca::Task<void> {
          orca::go([&]() -> orca::Task<void> {
            co_await orca::sleep_for(std::chrono::hours::max());
            sleeper_woke = true;
          });
          co_await orca::yield();  // the sleeper parks first
          co_await orca::sleep_for(2ms);
          entry_done = true;
        },
        {.workers = 1});
    EXPECT_TRUE(entry_done);
    EXPECT_FALSE(sleeper_woke) << "got a sleep_for(hours::max()) ending, want it to never end";
  });
}

}  // namespace
