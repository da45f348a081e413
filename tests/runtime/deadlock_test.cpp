// Whole-program outcomes of orca::run: a real deadlock is reported with every
// parked task and its wait reason, a wait that something can still end (a timer, a
// blocking call, an external waker) is not a deadlock, and tasks still alive when
// the entry returns are reported (LeakCheck) and destroyed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "orca/orca.hpp"
#include "runtime/test_support.hpp"

using namespace std::chrono_literals;
using orca_test::Counted;
using orca_test::LifetimeCounts;

namespace {

int occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// Runs `entry` and returns the DeadlockError's message, or "" (after failing the
// test) if run() did not report a deadlock.
template <class F>
std::string deadlock_report(F&& entry, orca::RunOptions options = {}) {
  try {
    orca::run(std::forward<F>(entry), options);
  } catch (const orca::DeadlockError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "got " << e.what() << ", want orca::DeadlockError";
    return "";
  }
  ADD_FAILURE() << "got run() returning, want orca::DeadlockError";
  return "";
}

// ---------------------------------------------------------------- real deadlocks

TEST(Deadlock, EntryWaitingOnWaitGroupNobodyCompletes) {
  const std::string what = deadlock_report([]() -> orca::Task<void> {
    orca::WaitGroup never;
    never.add(1);
    (void)co_await never.wait();
  });
  EXPECT_NE(what.find("deadlock"), std::string::npos) << what;
  EXPECT_NE(what.find("WaitGroup.wait"), std::string::npos) << what;
}

TEST(Deadlock, ReportListsEveryParkedTaskWithItsReason) {
  for (unsigned workers : {1u, 4u}) {
    const std::string what = deadlock_report(
        []() -> orca::Task<void> {
          orca::WaitGroup never;
          never.add(1);
          for (int i = 0; i < 3; ++i)
            orca::go([&]() -> orca::Task<void> { (void)co_await never.wait(); });
          (void)co_await never.wait();
        },
        {.workers = workers});
    EXPECT_EQ(occurrences(what, "[WaitGroup.wait]"), 4)
        << workers << " workers: want the entry and 3 tasks listed:\n"
        << what;
  }
}

// Two tasks that join each other: each one's handle is given to the other.
TEST(Deadlock, TasksJoiningEachOtherInACycle) {
  const std::string what = deadlock_report(
      []() -> orca::Task<void> {
        struct Handles {
          orca::JoinHandle<void> a;
          orca::JoinHandle<void> b;
        } handles;
        orca::WaitGroup ready;  // the handles are in place
        ready.add(1);
        orca::WaitGroup finished;  // never reached
        finished.add(1);
        handles.a = orca::spawn([&]() -> orca::Task<void> {
          (void)co_await ready.wait();
          orca::JoinHandle<void> other = std::move(handles.b);
          co_await std::move(other);
          finished.done();
        });
        handles.b = orca::spawn([&]() -> orca::Task<void> {
          (void)co_await ready.wait();
          orca::JoinHandle<void> other = std::move(handles.a);
          co_await std::move(other);
        });
        ready.done();
        (void)co_await finished.wait();
      },
      {.workers = 2});
  EXPECT_EQ(occurrences(what, "[join]"), 2) << "want both tasks of the cycle listed:\n" << what;
  EXPECT_NE(what.find("WaitGroup.wait"), std::string::npos) << what;
}

TEST(Deadlock, EntryJoiningAParkedTask) {
  const std::string what = deadlock_report([]() -> orca::Task<void> {
    auto h = orca::spawn([]() -> orca::Task<void> { co_await orca_test::ParkForever{}; });
    co_await std::move(h);
  });
  EXPECT_NE(what.find("test: parked forever"), std::string::npos) << what;
  EXPECT_NE(what.find("join"), std::string::npos) << what;
}

TEST(Deadlock, ParkedTasksAreDestroyedAfterTheReport) {
  LifetimeCounts counts;
  (void)deadlock_report(
      [&]() -> orca::Task<void> {
        orca::go([c = Counted(counts, 1)]() -> orca::Task<void> {
          co_await orca_test::ParkForever{};
          (void)c.value();
        });
        co_await orca_test::ParkForever{};
      },
      {.workers = 2});
  EXPECT_EQ(counts.alive(), 0) << "got the deadlocked task's captures alive after run(): "
                               << counts.describe();
}

TEST(Deadlock, RunWorksAgainAfterADeadlock) {
  (void)deadlock_report([]() -> orca::Task<void> { co_await orca_test::ParkForever{}; });
  EXPECT_EQ(orca::run([]() -> orca::Task<int> {
              co_await orca::sleep_for(1ms);
              co_return 5;
            }),
            5);
}

// ---------------------------------------------------------------- waits that are not deadlocks

TEST(Deadlock, NotReportedWhileATaskSleeps) {
  for (unsigned workers : {1u, 3u}) {
    const int got = orca::run(
        []() -> orca::Task<int> {
          auto sleeper = orca::spawn([]() -> orca::Task<int> {
            co_await orca::sleep_for(50ms);
            co_return 7;
          });
          co_return co_await std::move(sleeper);
        },
        {.workers = workers});
    EXPECT_EQ(got, 7) << workers << " workers";
  }
}

TEST(Deadlock, NotReportedWhileABlockingCallRuns) {
  const int got = orca::run(
      []() -> orca::Task<int> {
        co_return co_await orca::blocking([] {
          std::this_thread::sleep_for(50ms);
          return 8;
        });
      },
      {.workers = 1});
  EXPECT_EQ(got, 8);
}

TEST(Deadlock, NotReportedWhileAnExternalWakerLives) {
  std::thread waker_thread;
  bool woke = false;
  orca::run(
      [&]() -> orca::Task<void> {
        orca::WaitGroup wg;
        wg.add(1);
        auto waker = std::make_unique<orca::ExternalWaker>();
        waker_thread = std::thread([&wg, waker = std::move(waker)]() mutable {
          std::this_thread::sleep_for(50ms);
          wg.done();      // wakes the entry from outside the runtime...
          waker.reset();  // ...and only then stops vouching for it
        });
        (void)co_await wg.wait();
        woke = true;
      },
      {.workers = 2});
  waker_thread.join();
  EXPECT_TRUE(woke);
}

TEST(Deadlock, ExternalWakerOutsideRunIsInert) {
  { orca::ExternalWaker inert; }
  // A waker made with no runtime running must not keep the next run from
  // detecting a deadlock.
  orca::ExternalWaker before_run;
  const std::string what = deadlock_report([]() -> orca::Task<void> {
    orca::WaitGroup never;
    never.add(1);
    (void)co_await never.wait();
  });
  EXPECT_NE(what.find("WaitGroup.wait"), std::string::npos) << what;
}

// ---------------------------------------------------------------- leaks

TEST(Leak, FailModeThrowsLeakErrorNamingTheParkedTask) {
  LifetimeCounts counts;
  std::uint64_t leaked_id = 0;
  try {
    orca::run(
        [&]() -> orca::Task<void> {
          orca::WaitGroup never;
          never.add(1);
          auto h = orca::spawn([&never, c = Counted(counts, 1)]() -> orca::Task<void> {
            (void)co_await never.wait();
            (void)c.value();
          });
          leaked_id = h.task_id();
          // Let it park before returning (bounded poll).
          for (int i = 0; i < 10'000 && orca::stats().parked_tasks < 1; ++i)
            co_await orca::sleep_for(100us);
        },
        {.workers = 2, .leak_check = orca::LeakCheck::kFail});
    ADD_FAILURE() << "got run() returning, want orca::LeakError";
  } catch (const orca::LeakError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("task " + std::to_string(leaked_id) + " "), std::string::npos)
        << "want the leaked task's id " << leaked_id << " in:\n"
        << what;
    EXPECT_NE(what.find("WaitGroup.wait"), std::string::npos) << what;
  }
  EXPECT_EQ(counts.alive(), 0) << "got the leaked task's frame not destroyed: "
                               << counts.describe();
}

TEST(Leak, OffModeDestroysLeakedTasksSilently) {
  LifetimeCounts counts;
  EXPECT_NO_THROW(orca::run(
      [&]() -> orca::Task<void> {
        orca::go([c = Counted(counts, 1)]() -> orca::Task<void> {
          co_await orca_test::ParkForever{};
          (void)c.value();
        });
        orca::go([c = Counted(counts, 2)]() -> orca::Task<void> {
          co_await orca::sleep_for(1h);
          (void)c.value();
        });
        co_await orca::sleep_for(1ms);
      },
      {.workers = 2, .leak_check = orca::LeakCheck::kOff}));
  EXPECT_EQ(counts.alive(), 0) << "got leaked frames not destroyed: " << counts.describe();
}

TEST(Leak, ReportModeListsLeakedTasksWithoutThrowing) {
  ::testing::internal::CaptureStderr();
  EXPECT_NO_THROW(orca::run(
      []() -> orca::Task<void> {
        orca::go([]() -> orca::Task<void> {
          orca_test::ParkForever park{"test: leaked on purpose"};
          co_await park;
        });
        co_await orca::sleep_for(1ms);
      },
      {.workers = 1, .leak_check = orca::LeakCheck::kReport}));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("test: leaked on purpose"), std::string::npos) << "stderr:\n" << err;
}

TEST(Leak, FailModeAcceptsFinishedUnjoinedTasks) {
  EXPECT_NO_THROW(orca::run(
      []() -> orca::Task<void> {
        orca::WaitGroup wg;
        wg.add(10);
        std::vector<orca::JoinHandle<int>> unjoined;
        for (int i = 0; i < 10; ++i) {
          orca::go([&] { wg.done(); });
          unjoined.push_back(orca::spawn([] { return 1; }));
        }
        (void)co_await wg.wait();
        for (auto& h : unjoined)
          while (!h.finished())
            co_await orca::yield();
        unjoined.clear();  // dropped without a join
      },
      {.workers = 2, .leak_check = orca::LeakCheck::kFail}));
}

}  // namespace
