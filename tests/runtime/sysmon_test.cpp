// The monitor (src/runtime/sysmon.hpp): a task that holds its worker without
// suspending does not stall timers and other tasks once no other worker is free.
// Each spinning task stops by itself after kSpinBound, so a broken monitor fails
// the test ("the loops ended first") instead of hanging it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "orca/orca.hpp"

namespace {

using namespace std::chrono_literals;

constexpr auto kSpinBound = 20s;

// Spins until `release` is set or kSpinBound passes; true if it was released.
bool spin_until_released(const std::atomic<bool>& release, std::atomic<int>& spinning) {
  spinning.fetch_add(1);
  const auto give_up = std::chrono::steady_clock::now() + kSpinBound;
  while (!release.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() > give_up) return false;
  }
  return true;
}

orca::RunOptions options_with(unsigned workers, orca::StuckTask action) {
  orca::RunOptions o;
  o.workers = workers;
  o.stuck_task = action;
  o.stuck_task_after = 10ms;
  return o;
}

TEST(Sysmon, TimerFiresWhileEveryWorkerIsHeld) {
  std::atomic<bool> release{false};
  std::atomic<int> spinning{0};
  bool released_a = false;
  bool released_b = false;
  bool timer_fired_while_held = false;
  std::uint64_t held_reported = 0;
  orca::run(
      [&]() -> orca::Task<void> {
        auto a = orca::spawn([&] { released_a = spin_until_released(release, spinning); });
        auto b = orca::spawn([&] { released_b = spin_until_released(release, spinning); });
        // Once both loops run, both workers are held: only a spare can fire this
        // timer (or the one after it) before the loops give up.
        while (spinning.load() < 2)
          co_await orca::sleep_for(1ms);
        co_await orca::sleep_for(10ms);
        timer_fired_while_held = spinning.load() == 2 && !release.load();
        held_reported = orca::stats().held_tasks;
        release.store(true, std::memory_order_release);
        co_await std::move(a);
        co_await std::move(b);
      },
      options_with(2, orca::StuckTask::kReport));
  EXPECT_TRUE(timer_fired_while_held) << "the 10 ms timer fired only after the loops ended";
  EXPECT_TRUE(released_a && released_b) << "a loop ran out its " << kSpinBound.count()
                                        << " s bound: the timer never fired while it held";
  EXPECT_GE(held_reported, 1u) << "got no held task in stats(), want at least 1";
}

TEST(Sysmon, HeldOnlyWorkerLetsAQueuedTaskRun) {
  std::atomic<bool> release{false};
  std::atomic<int> spinning{0};
  bool released = false;
  orca::run(
      [&]() -> orca::Task<void> {
        // Queued behind the spinning entry task on the only worker.
        orca::go([&] { release.store(true, std::memory_order_release); });
        released = spin_until_released(release, spinning);
        co_return;
      },
      options_with(1, orca::StuckTask::kReport));
  EXPECT_TRUE(released) << "the queued task ran only after the loop gave up";
}

// One task holds the only worker for 100 ms, then the entry lets the monitor see
// the worker back; returns what the run wrote on stderr.
std::string hold_the_worker_once(const orca::RunOptions& options) {
  std::atomic<bool> release{false};
  testing::internal::CaptureStderr();
  orca::run(
      [&]() -> orca::Task<void> {
        orca::go([&] {
          const auto until = std::chrono::steady_clock::now() + 100ms;
          while (std::chrono::steady_clock::now() < until) {
          }
          release.store(true, std::memory_order_release);
        });
        while (!release.load(std::memory_order_acquire))
          co_await orca::sleep_for(1ms);
        co_await orca::sleep_for(50ms);
      },
      options);
  return testing::internal::GetCapturedStderr();
}

TEST(Sysmon, ReportsAHeldTaskOnceAndWhenItGivesTheWorkerBack) {
  const std::string err = hold_the_worker_once(options_with(1, orca::StuckTask::kReport));
  const auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (auto at = err.find(what); at != std::string::npos; at = err.find(what, at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(count("has held its worker"), 1u) << "stderr:\n" << err;
  EXPECT_EQ(count("gave its worker back"), 1u) << "stderr:\n" << err;
}

// RunOptions::report takes the lines in place of stderr (the orca command sends them
// into its log, so a JSON log stays JSON).
std::mutex reported_mu;
std::vector<std::string> reported_lines;

TEST(Sysmon, ReportsGoWhereRunOptionsSay) {
  orca::RunOptions options = options_with(1, orca::StuckTask::kReport);
  options.report = [](std::string_view line) {
    std::lock_guard lock(reported_mu);
    reported_lines.emplace_back(line);
  };
  const std::string err = hold_the_worker_once(options);
  EXPECT_EQ(err.find("has held"), std::string::npos) << err;
  std::lock_guard lock(reported_mu);
  const std::vector<std::string>& lines = reported_lines;
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("has held its worker"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("gave its worker back"), std::string::npos) << lines[1];
  for (const std::string& line : lines)
    EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(Sysmon, SpareRetiresOnceTheWorkerIsBack) {
  std::atomic<bool> release{false};
  std::atomic<int> spinning{0};
  std::size_t spares_while_held = 0;
  std::size_t spares_after = 1;
  orca::run(
      [&]() -> orca::Task<void> {
        auto spinner = orca::spawn([&] { (void)spin_until_released(release, spinning); });
        // Wait (on a timer only a spare can fire) until the monitor stood one in.
        for (int i = 0; i < 2000 && orca::stats().spare_workers == 0; ++i)
          co_await orca::sleep_for(1ms);
        spares_while_held = orca::stats().spare_workers;
        release.store(true, std::memory_order_release);
        co_await std::move(spinner);
        for (int i = 0; i < 2000 && orca::stats().spare_workers != 0; ++i)
          co_await orca::sleep_for(1ms);
        spares_after = orca::stats().spare_workers;
      },
      options_with(1, orca::StuckTask::kReport));
  EXPECT_EQ(spares_while_held, 1u) << "spare workers while the only worker was held";
  EXPECT_EQ(spares_after, 0u) << "spare workers after the worker came back";
}

// Whichever goes idle last, the worker or its retiring spare, sees the deadlock.
TEST(Sysmon, DeadlockAfterAHeldTaskIsStillReported) {
  std::string what;
  try {
    orca::run(
        []() -> orca::Task<void> {
          orca::WaitGroup never;
          never.add(1);
          orca::go([] {
            const auto until = std::chrono::steady_clock::now() + 50ms;
            while (std::chrono::steady_clock::now() < until) {
            }
          });
          (void)co_await never.wait();
        },
        options_with(1, orca::StuckTask::kReport));
  } catch (const orca::DeadlockError& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("WaitGroup.wait"), std::string::npos)
      << "got \"" << what << "\", want a deadlock report naming the WaitGroup wait";
}

TEST(Sysmon, OffStartsNoSpare) {
  std::atomic<bool> release{false};
  std::vector<int> order;
  std::uint64_t held = 1;
  orca::run(
      [&]() -> orca::Task<void> {
        orca::go([&] { order.push_back(2); });
        // Holds the only worker for 50 ms: with the monitor off, nothing else runs.
        const auto until = std::chrono::steady_clock::now() + 50ms;
        while (std::chrono::steady_clock::now() < until) {
        }
        order.push_back(1);
        co_await orca::yield();
        held = orca::stats().held_tasks;
        release.store(true);
      },
      options_with(1, orca::StuckTask::kOff));
  EXPECT_EQ(order, (std::vector<int>{1, 2})) << "the queued task ran during the loop";
  EXPECT_EQ(held, 0u);
}

TEST(Sysmon, MalformedSettingIsNamedAndTheDefaultUsed) {
  ::setenv("ORCA_STUCK_TASK_MS", "ten", 1);
  testing::internal::CaptureStderr();
  orca::RunOptions o;
  o.workers = 1;
  orca::run([]() -> orca::Task<void> { co_return; }, o);
  const std::string err = testing::internal::GetCapturedStderr();
  ::unsetenv("ORCA_STUCK_TASK_MS");
  EXPECT_NE(err.find("ORCA_STUCK_TASK_MS=ten is not a whole number of milliseconds"),
            std::string::npos)
      << "stderr:\n"
      << err;
}

TEST(SysmonDeathTest, AbortStopsTheProcessInTheHeldThread) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::atomic<bool> never{false};
        std::atomic<int> spinning{0};
        orca::run([&] { (void)spin_until_released(never, spinning); },
                  options_with(1, orca::StuckTask::kAbort));
      },
      "has held its worker");
}

}  // namespace
