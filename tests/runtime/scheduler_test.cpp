// The scheduler's promises to tasks: yield() lets the others run, the cooperative
// budget stops a task that never really suspends from starving the rest, and
// stats() describes what is running. (Wake storms are in stress_test.cpp.)
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "orca/orca.hpp"
#include "runtime/test_support.hpp"

using namespace std::chrono_literals;

namespace {

// A loop cap far above any legitimate iteration count (a budget of 128 stops a
// spinning task after ~128 zero-cost awaits): reaching it means the loop would have
// spun forever without the budget, and the test fails instead of hanging.
constexpr long kSpinCap = 10'000'000;

TEST(Scheduler, YieldInterleavesTwoTasksOnOneWorker) {
  std::string trace;  // one worker: only one task touches it at a time
  orca::run(
      [&]() -> orca::Task<void> {
        auto a = orca::spawn([&]() -> orca::Task<void> {
          for (int i = 0; i < 5; ++i) {
            trace += 'a';
            co_await orca::yield();
          }
        });
        auto b = orca::spawn([&]() -> orca::Task<void> {
          for (int i = 0; i < 5; ++i) {
            trace += 'b';
            co_await orca::yield();
          }
        });
        co_await std::move(a);
        co_await std::move(b);
      },
      {.workers = 1});
  ASSERT_EQ(trace.size(), 10u) << trace;
  for (std::size_t i = 1; i < trace.size(); ++i)
    EXPECT_NE(trace[i], trace[i - 1]) << "got trace " << trace << ", want a and b alternating";
}

TEST(Scheduler, YieldWithNothingElseToRunResumesAtOnce) {
  int yields = 0;
  orca::run(
      [&]() -> orca::Task<void> {
        for (int i = 0; i < 1000; ++i) {
          co_await orca::yield();
          ++yields;
        }
      },
      {.workers = 1});
  EXPECT_EQ(yields, 1000);
}

// Task A spins on zero-length sleeps, each of which completes at once; only the
// budget makes A give the single worker to B, the task that ends A's loop.
TEST(Scheduler, BudgetStopsZeroSleepLoopFromStarvingOtherTasks) {
  std::atomic<bool> flag{false};
  long iterations = 0;
  bool saw_flag = false;
  orca::run(
      [&]() -> orca::Task<void> {
        auto spinner = orca::spawn([&]() -> orca::Task<void> {
          while (!flag.load()) {
            co_await orca::sleep_for(0ms);
            if (++iterations >= kSpinCap) co_return;
          }
          saw_flag = true;
        });
        auto setter = orca::spawn([&] { flag = true; });
        co_await std::move(spinner);
        co_await std::move(setter);
      },
      {.workers = 1});
  EXPECT_TRUE(saw_flag) << "got " << iterations
                        << " zero sleeps without the other task running, want the budget to "
                           "yield after about "
                        << orca::detail::kTaskBudget;
}

TEST(Scheduler, BudgetStopsReadyWaitGroupLoopFromStarvingOtherTasks) {
  std::atomic<bool> flag{false};
  long iterations = 0;
  bool saw_flag = false;
  orca::run(
      [&]() -> orca::Task<void> {
        auto spinner = orca::spawn([&]() -> orca::Task<void> {
          orca::WaitGroup zero;  // always ready
          while (!flag.load()) {
            (void)co_await zero.wait();
            if (++iterations >= kSpinCap) co_return;
          }
          saw_flag = true;
        });
        auto setter = orca::spawn([&] { flag = true; });
        co_await std::move(spinner);
        co_await std::move(setter);
      },
      {.workers = 1});
  EXPECT_TRUE(saw_flag) << "got " << iterations
                        << " ready waits without the other task running, want the budget to yield";
}

TEST(Scheduler, BudgetStopsFinishedJoinLoopFromStarvingOtherTasks) {
  constexpr int kHandles = 2000;  // far more than one budget's worth
  std::atomic<bool> flag{false};
  int joined_before_flag = 0;
  bool saw_flag = false;
  orca::run(
      [&]() -> orca::Task<void> {
        std::vector<orca::JoinHandle<int>> handles;
        for (int i = 0; i < kHandles; ++i)
          handles.push_back(orca::spawn([] { return 1; }));
        for (auto& h : handles)
          while (!h.finished())
            co_await orca::yield();
        // Every handle is ready now; the setter is queued behind us.
        auto setter = orca::spawn([&] { flag = true; });
        for (auto& h : handles) {
          if (flag.load()) {
            saw_flag = true;
            break;
          }
          joined_before_flag += co_await std::move(h);  // ready: only the budget yields
        }
        co_await std::move(setter);
      },
      {.workers = 1});
  EXPECT_TRUE(saw_flag) << "got all " << joined_before_flag
                        << " ready joins done without the other task running, want the budget "
                           "to yield";
}

// ---------------------------------------------------------------- stats()

TEST(Stats, DescribeParkedTasksWorkersAndTimers) {
  constexpr int kParked = 50;
  constexpr unsigned kWorkers = 3;
  orca::RuntimeStats parked_snapshot;
  orca::RuntimeStats timer_snapshot;
  bool saw_parked = false;
  bool saw_timer = false;
  orca::run(
      [&]() -> orca::Task<void> {
        orca::WaitGroup gate;
        gate.add(1);
        orca::WaitGroup finished;
        finished.add(kParked);
        for (int i = 0; i < kParked; ++i) {
          orca::go([&]() -> orca::Task<void> {
            (void)co_await gate.wait();
            finished.done();
          });
        }
        // Parking takes the other workers a moment; poll (bounded) until all did.
        for (int i = 0; i < 10'000 && !saw_parked; ++i) {
          parked_snapshot = orca::stats();
          saw_parked = parked_snapshot.parked_tasks >= kParked;
          if (!saw_parked) co_await orca::sleep_for(1ms);
        }
        gate.done();
        (void)co_await finished.wait();

        // A task asleep on a long timer shows as a pending timer. It never wakes:
        // run() destroys it when the entry returns.
        orca::go([]() -> orca::Task<void> { co_await orca::sleep_for(1h); });
        for (int i = 0; i < 10'000 && !saw_timer; ++i) {
          timer_snapshot = orca::stats();
          saw_timer = timer_snapshot.timers_pending > 0;
          if (!saw_timer) co_await orca::yield();
        }
      },
      {.workers = kWorkers, .leak_check = orca::LeakCheck::kOff});

  EXPECT_TRUE(saw_parked) << "got parked_tasks " << parked_snapshot.parked_tasks
                          << ", want >= " << kParked;
  EXPECT_TRUE(parked_snapshot.running);
  EXPECT_GE(parked_snapshot.live_tasks, kParked + 1) << "the parked tasks plus the entry";
  EXPECT_GE(parked_snapshot.tasks_started, static_cast<std::uint64_t>(kParked + 1));
  EXPECT_EQ(parked_snapshot.workers, kWorkers);
  EXPECT_EQ(parked_snapshot.per_worker.size(), kWorkers);
  EXPECT_GT(parked_snapshot.frame_pool_bytes, 0u);

  EXPECT_TRUE(saw_timer) << "got timers_pending " << timer_snapshot.timers_pending
                         << " while a task sleeps, want > 0";
  std::int64_t per_worker_timers = 0;
  for (const auto& w : timer_snapshot.per_worker)
    per_worker_timers += w.timers_pending;
  EXPECT_EQ(per_worker_timers, timer_snapshot.timers_pending)
      << "want the total to be the sum over workers";

  const orca::RuntimeStats after = orca::stats();
  EXPECT_FALSE(after.running);
  EXPECT_EQ(after.live_tasks, 0);
}

TEST(Stats, CountPollsOfTheWorkers) {
  std::uint64_t polls = 0;
  orca::run(
      [&]() -> orca::Task<void> {
        for (int i = 0; i < 100; ++i)
          co_await orca::yield();
        for (const auto& w : orca::stats().per_worker)
          polls += w.polls;
      },
      {.workers = 2});
  EXPECT_GE(polls, 100u) << "want at least one poll per resumption of the entry";
}

}  // namespace
