// go / spawn / JoinHandle: the callable and its captures move into the task and
// live exactly as long as it; results and exceptions come back through the handle;
// a failure nobody can observe stops the process.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "orca/orca.hpp"
#include "runtime/test_support.hpp"

using namespace std::chrono_literals;
using orca_test::Counted;
using orca_test::LifetimeCounts;

namespace {

// Long enough that the string owns a heap buffer (no small-string storage), so a
// dangling capture would read freed memory under ASan rather than stale bytes.
const std::string kCapturedText = "captured by value into a task that outlives its creator's scope";

struct Seen {
  std::string text;
  int value = 0;
};

// Builds a lambda (a local of this function) capturing a Counted and a string by
// value, hands it to orca::go as an lvalue, and returns before the task runs: the
// task sleeps first, and with one worker it cannot run before this returns anyway.
void start_reader_with_go(LifetimeCounts& counts, orca::WaitGroup& done, Seen& seen) {
  Counted counted(counts, 7);
  std::string text = kCapturedText;
  auto reader = [counted, text, &done, &seen]() -> orca::Task<void> {
    co_await orca::sleep_for(1ms);
    seen.text = text;
    seen.value = counted.value();
    done.done();
  };
  orca::go(reader);  // an lvalue: go must copy it into the task
}

TEST(Go, MovesCallableAndCapturesIntoTheTask) {
  LifetimeCounts counts;
  Seen seen;
  int alive_before_task_ran = 0;
  orca::run(
      [&]() -> orca::Task<void> {
        orca::WaitGroup done;
        done.add(1);
        start_reader_with_go(counts, done, seen);
        // The creator's lambda and locals are gone; only the task's copy remains.
        alive_before_task_ran = counts.alive();
        (void)co_await done.wait();
      },
      {.workers = 1});
  EXPECT_EQ(alive_before_task_ran, 1) << counts.describe();
  EXPECT_EQ(seen.text, kCapturedText);
  EXPECT_EQ(seen.value, 7);
  EXPECT_EQ(counts.constructed, 1);
  EXPECT_EQ(counts.destroyed, 1 + counts.copied + counts.moved)
      << "want every copy and move destroyed exactly once: " << counts.describe();
}

orca::JoinHandle<std::string> start_reader_with_spawn(LifetimeCounts& counts) {
  Counted counted(counts, 8);
  std::string text = kCapturedText;
  return orca::spawn([counted, text]() -> orca::Task<std::string> {
    co_await orca::sleep_for(1ms);
    co_return text + " #" + std::to_string(counted.value());
  });
}

TEST(Spawn, MovesCallableAndCapturesIntoTheTask) {
  LifetimeCounts counts;
  std::string got;
  orca::run(
      [&]() -> orca::Task<void> {
        orca::JoinHandle<std::string> handle = start_reader_with_spawn(counts);
        got = co_await std::move(handle);
      },
      {.workers = 2});
  EXPECT_EQ(got, kCapturedText + " #8");
  EXPECT_EQ(counts.constructed, 1);
  EXPECT_EQ(counts.destroyed, 1 + counts.copied + counts.moved)
      << "want every copy and move destroyed exactly once: " << counts.describe();
}

TEST(Spawn, TakesMoveOnlyCallables) {
  int got = 0;
  orca::run([&]() -> orca::Task<void> {
    auto box = std::make_unique<int>(5);
    auto handle = orca::spawn([box = std::move(box)]() -> orca::Task<int> {
      co_await orca::yield();
      co_return *box * 2;
    });
    got = co_await std::move(handle);
  });
  EXPECT_EQ(got, 10);
}

// A task's callable lives in its root frame, so the root frame is at least as big
// as the captures. Capturing by value is documented as always safe; that must
// hold for a capture larger than a frame-pool size class too.
TEST(Spawn, CallableWithLargeCapturesRuns) {
  int got = -1;
  bool threw = false;
  std::string what;
  orca::run([&]() -> orca::Task<void> {
    // On the heap here, so only the task's copy is large.
    auto source = std::make_unique<std::array<unsigned char, 16 * 1024>>();
    source->front() = 1;
    source->back() = 2;
    try {
      auto handle = orca::spawn([buffer = *source]() -> orca::Task<int> {
        co_await orca::yield();
        co_return buffer.front() + buffer.back();
      });
      got = co_await std::move(handle);
    } catch (const std::exception& e) {
      threw = true;
      what = e.what();
    }
  });
  EXPECT_FALSE(threw) << "got spawn() throwing \"" << what
                      << "\" for a 16 KiB capture, want it to run";
  EXPECT_EQ(got, 3);
}

// The same for a coroutine whose own locals are large (a std::mt19937 holds 5 KB
// of state): with coroutine elision (Clang at -O2) the body's frame is allocated
// inside the root frame, which then exceeds the root pool's largest block.
TEST(Spawn, CoroutineWithLargeLocalsRuns) {
  unsigned got = 0;
  bool threw = false;
  std::string what;
  orca::run([&]() -> orca::Task<void> {
    try {
      auto handle = orca::spawn([]() -> orca::Task<unsigned> {
        std::mt19937 rng(7);
        const unsigned first = static_cast<unsigned>(rng());
        co_await orca::yield();  // `rng` lives across the suspension
        co_return first + static_cast<unsigned>(rng() % 2);
      });
      got = co_await std::move(handle);
    } catch (const std::exception& e) {
      threw = true;
      what = e.what();
    }
  });
  EXPECT_FALSE(threw) << "got spawn() throwing \"" << what << "\", want it to run";
  std::mt19937 expected(7);
  const unsigned first = static_cast<unsigned>(expected());
  EXPECT_EQ(got, first + static_cast<unsigned>(expected() % 2));
}

TEST(Spawn, PlainCallableResultComesBackThroughTheHandle) {
  std::string got;
  orca::run([&]() -> orca::Task<void> {
    auto handle = orca::spawn([] { return std::string("plain result"); });
    got = co_await std::move(handle);
  });
  EXPECT_EQ(got, "plain result");
}

TEST(Spawn, HandleReportsIdAndFinished) {
  bool finished_before = true;
  bool finished_after = false;
  std::uint64_t first_id = 0;
  std::uint64_t second_id = 0;
  orca::run(
      [&]() -> orca::Task<void> {
        orca::WaitGroup gate;
        gate.add(1);
        auto first = orca::spawn([&]() -> orca::Task<int> {
          (void)co_await gate.wait();
          co_return 1;
        });
        auto second = orca::spawn([] { return 2; });
        first_id = first.task_id();
        second_id = second.task_id();
        finished_before = first.finished();
        gate.done();
        while (!first.finished())
          co_await orca::sleep_for(100us);
        finished_after = first.finished();
        EXPECT_EQ(co_await std::move(first), 1);
        EXPECT_EQ(co_await std::move(second), 2);
      },
      {.workers = 2});
  EXPECT_FALSE(finished_before);
  EXPECT_TRUE(finished_after);
  EXPECT_NE(first_id, second_id) << "got two tasks with one id";
}

struct ChildFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

TEST(Spawn, HandleRethrowsTheTasksExceptionWithTypeAndMessage) {
  std::string what;
  orca::run([&]() -> orca::Task<void> {
    auto handle = orca::spawn([]() -> orca::Task<int> {
      co_await orca::sleep_for(1ms);  // thrown after a park and a wake-up
      throw ChildFailure("child failed after sleeping");
    });
    try {
      (void)co_await std::move(handle);
    } catch (const ChildFailure& e) {
      what = orca_test::message_of(e);
    }
  });
  EXPECT_EQ(what, "child failed after sleeping");
}

TEST(Spawn, ExceptionTravelsThroughNestedJoins) {
  std::string what;
  orca::run(
      [&]() -> orca::Task<void> {
        auto outer = orca::spawn([]() -> orca::Task<void> {
          auto inner = orca::spawn([]() -> orca::Task<void> {
            co_await orca::yield();
            throw ChildFailure("innermost");
          });
          co_await std::move(inner);  // rethrows here, ends `outer` with it
        });
        try {
          co_await std::move(outer);
        } catch (const ChildFailure& e) {
          what = orca_test::message_of(e);
        }
      },
      {.workers = 4});
  EXPECT_EQ(what, "innermost");
}

TEST(Spawn, DroppedHandleDetachesTheTaskWhichStillRuns) {
  std::atomic<bool> ran{false};
  orca::run([&]() -> orca::Task<void> {
    orca::WaitGroup done;
    done.add(1);
    {
      auto handle = orca::spawn([&]() -> orca::Task<int> {
        co_await orca::sleep_for(1ms);
        ran = true;
        done.done();
        co_return 3;
      });
    }  // dropped unawaited
    (void)co_await done.wait();
  });
  EXPECT_TRUE(ran);
}

TEST(Spawn, HandleOfFinishedTaskCanBeTakenAfterRunReturns) {
  orca::JoinHandle<std::string> handle =
      orca::run([]() -> orca::Task<orca::JoinHandle<std::string>> {
        auto h = orca::spawn([] { return std::string("kept past run"); });
        while (!h.finished())
          co_await orca::yield();
        co_return h;
      });
  ASSERT_TRUE(handle.valid());
  EXPECT_EQ(std::move(handle).take(), "kept past run");
}

TEST(Spawn, HandleOfTaskAbandonedAtShutdownThrowsTaskAbandoned) {
  orca::JoinHandle<int> handle = orca::run([]() -> orca::Task<orca::JoinHandle<int>> {
    co_return orca::spawn([]() -> orca::Task<int> {
      co_await orca_test::ParkForever{};
      co_return 1;
    });
  });
  ASSERT_TRUE(handle.valid());
  EXPECT_THROW((void)std::move(handle).take(), orca::TaskAbandoned);
}

TEST(Go, TaskStartedFromAForeignThreadRuns) {
  std::thread foreign;
  std::atomic<bool> ran{false};
  orca::run([&]() -> orca::Task<void> {
    orca::WaitGroup done;
    done.add(1);
    // The foreign thread may wake a task: tell the deadlock detector.
    auto waker = std::make_unique<orca::ExternalWaker>();
    foreign = std::thread([&, waker = std::move(waker)]() mutable {
      std::this_thread::sleep_for(5ms);
      orca::go([&]() -> orca::Task<void> {
        co_await orca::yield();
        ran = true;
        done.done();
      });
      waker.reset();
    });
    (void)co_await done.wait();
  });
  foreign.join();
  EXPECT_TRUE(ran);
}

// ---------------------------------------------------------------- unobserved failures

TEST(GoDeathTest, FailingGoTaskTerminatesTheProcessNamingIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(orca::run([]() -> orca::Task<void> {
                 orca::go([]() -> orca::Task<void> {
                   co_await orca::yield();
                   throw std::runtime_error("lost failure");
                 });
                 co_await orca::sleep_for(10s);  // the failure ends the process before this
               }),
               "nobody joined it: lost failure");
}

TEST(GoDeathTest, FailingTaskWithDroppedHandleTerminatesTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(orca::run([]() -> orca::Task<void> {
                 {
                   auto dropped = orca::spawn([]() -> orca::Task<int> {
                     co_await orca::yield();
                     throw std::runtime_error("dropped failure");
                   });
                 }
                 co_await orca::sleep_for(10s);
               }),
               "nobody joined it: dropped failure");
}

}  // namespace
