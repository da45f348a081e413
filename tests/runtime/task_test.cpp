// Task<T> and orca::run: laziness, ownership, results of every kind, exceptions
// through await chains, frames destroyed exactly once, and await chains a million
// deep that run in constant stack; run()'s result, errors and restart.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "orca/orca.hpp"
#include "runtime/test_support.hpp"

using namespace std::chrono_literals;
using orca_test::Counted;
using orca_test::LifetimeCounts;

namespace {

// ---------------------------------------------------------------- Task<T>

static_assert(!std::is_copy_constructible_v<orca::Task<int>>);
static_assert(!std::is_copy_assignable_v<orca::Task<int>>);
static_assert(std::is_nothrow_move_constructible_v<orca::Task<int>>);
static_assert(std::is_nothrow_move_assignable_v<orca::Task<int>>);
static_assert(std::is_same_v<orca::Task<>, orca::Task<void>>);

orca::Task<int> mark_started(bool& started, int value) {
  started = true;
  co_return value;
}

TEST(Task, BodyDoesNotRunUntilAwaited) {
  bool started = false;
  bool started_before_await = true;
  int got = 0;
  orca::run([&]() -> orca::Task<void> {
    orca::Task<int> task = mark_started(started, 7);
    co_await orca::yield();  // give an eager task every chance to run
    started_before_await = started;
    got = co_await std::move(task);
  });
  EXPECT_FALSE(started_before_await) << "got the body running before co_await, want lazy";
  EXPECT_TRUE(started);
  EXPECT_EQ(got, 7);
}

TEST(Task, MovedTaskRunsOnceFromItsNewOwner) {
  bool started = false;
  bool source_valid = true;
  int got = 0;
  orca::run([&]() -> orca::Task<void> {
    orca::Task<int> first = mark_started(started, 11);
    orca::Task<int> second = std::move(first);
    source_valid = first.valid();  // NOLINT(bugprone-use-after-move): checking the moved-from state
    orca::Task<int> third;
    third = std::move(second);
    got = co_await std::move(third);
  });
  EXPECT_FALSE(source_valid) << "got a moved-from Task still valid, want empty";
  EXPECT_EQ(got, 11);
}

orca::Task<void> append(std::string& out, const char* text) {
  out += text;
  co_return;
}

TEST(Task, VoidTaskRunsItsBody) {
  std::string out;
  orca::run([&]() -> orca::Task<void> {
    co_await append(out, "a");
    co_await append(out, "b");
  });
  EXPECT_EQ(out, "ab");
}

struct Registry {
  std::string entries[3] = {"zero", "one", "two"};
};

orca::Task<std::string&> entry_of(Registry& registry, int i) {
  co_await orca::yield();  // the reference survives a suspension
  co_return registry.entries[i];
}

TEST(Task, ReferenceTaskReturnsTheReferredObject) {
  Registry registry;
  std::string* got = nullptr;
  orca::run([&]() -> orca::Task<void> {
    std::string& ref = co_await entry_of(registry, 1);
    ref += "!";  // writes through to the registry
    got = &ref;
  });
  EXPECT_EQ(got, &registry.entries[1]) << "got a reference to a copy, want the registry's object";
  EXPECT_EQ(registry.entries[1], "one!");
}

orca::Task<std::unique_ptr<int>> make_boxed(int v) {
  auto box = std::make_unique<int>(v);
  co_await orca::yield();
  co_return box;
}

orca::Task<std::unique_ptr<int>> forward_boxed(int v) {
  std::unique_ptr<int> box = co_await make_boxed(v);
  *box += 1;
  co_return box;
}

TEST(Task, MoveOnlyResultIsHandedOver) {
  std::unique_ptr<int> got;
  orca::run([&]() -> orca::Task<void> { got = co_await forward_boxed(41); });
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, 42);
}

TEST(Task, MoveOnlyResultLeavesRunThroughItsReturnValue) {
  std::unique_ptr<int> got =
      orca::run([]() -> orca::Task<std::unique_ptr<int>> { co_return co_await make_boxed(9); });
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, 9);
}

// An exception type of the test's own, so a wrong type cannot pass by accident.
struct DeepFailure : std::runtime_error {
  explicit DeepFailure(int depth)
      : std::runtime_error("failed at depth " + std::to_string(depth)), depth(depth) {}
  int depth;
};

orca::Task<int> fail_at(int depth, int failing_depth) {
  if (depth == failing_depth) {
    co_await orca::yield();  // thrown after a suspension, from a resumed frame
    throw DeepFailure(depth);
  }
  orca::Task<int> child = fail_at(depth + 1, failing_depth);
  co_return 1 + co_await std::move(child);
}

TEST(Task, ExceptionThrownDeepInAwaitChainReachesAwaiterWithItsTypeAndMessage) {
  std::string what;
  int depth = -1;
  bool caught_as_other = false;
  orca::run([&]() -> orca::Task<void> {
    try {
      (void)co_await fail_at(0, 50);
    } catch (const DeepFailure& e) {
      what = e.what();
      depth = e.depth;
    } catch (...) {
      caught_as_other = true;
    }
  });
  EXPECT_FALSE(caught_as_other) << "got another exception type, want DeepFailure";
  EXPECT_EQ(what, "failed at depth 50");
  EXPECT_EQ(depth, 50);
}

TEST(Task, AwaiterContinuesAfterCatchingAChildsException) {
  int after = 0;
  orca::run([&]() -> orca::Task<void> {
    for (int i = 0; i < 3; ++i) {
      bool failed = false;  // co_await is not allowed inside a handler
      try {
        (void)co_await fail_at(0, 2);
      } catch (const DeepFailure&) {
        failed = true;
      }
      if (failed) after += co_await mark_started(failed, 10);
    }
  });
  EXPECT_EQ(after, 30);
}

TEST(Task, RunRethrowsExceptionEscapingEntryChain) {
  try {
    orca::run([]() -> orca::Task<int> { co_return co_await fail_at(0, 3); });
    ADD_FAILURE() << "got run() returning, want DeepFailure";
  } catch (const DeepFailure& e) {
    EXPECT_STREQ(e.what(), "failed at depth 3");
  }
}

orca::Task<void> hold(Counted held) {
  (void)held.value();
  co_return;
}

TEST(Task, UnawaitedTaskDestroysItsFrameAndParameters) {
  // The body never starts, so only the by-value parameter (moved into the frame
  // before the initial suspension) can show whether the frame was destroyed.
  LifetimeCounts counts;
  int alive_while_task_exists = 0;
  orca::run([&]() -> orca::Task<void> {
    {
      orca::Task<void> task = hold(Counted(counts, 1));
      alive_while_task_exists = counts.alive();
    }
    co_return;
  });
  EXPECT_EQ(alive_while_task_exists, 1) << counts.describe();
  EXPECT_EQ(counts.alive(), 0) << "got the frame's parameter not destroyed: " << counts.describe();
  EXPECT_EQ(counts.destroyed, counts.constructed + counts.copied + counts.moved)
      << counts.describe();
}

TEST(Task, UnawaitedTaskOutsideRunDestroysItsFrame) {
  LifetimeCounts counts;
  { orca::Task<void> task = hold(Counted(counts, 1)); }
  EXPECT_EQ(counts.alive(), 0) << counts.describe();
}

TEST(Task, MoveAssigningOverAnUnstartedTaskDestroysItsFrame) {
  LifetimeCounts first;
  LifetimeCounts second;
  orca::run([&]() -> orca::Task<void> {
    orca::Task<void> task = hold(Counted(first, 1));
    task = hold(Counted(second, 2));
    EXPECT_EQ(first.alive(), 0) << "got the overwritten task's frame alive: " << first.describe();
    co_await std::move(task);
  });
  EXPECT_EQ(first.alive(), 0) << first.describe();
  EXPECT_EQ(second.alive(), 0) << second.describe();
}

TEST(Task, AwaitedTaskDestroysItsFrameOnceWithTheTaskObject) {
  LifetimeCounts counts;
  int alive_after_await = -1;
  orca::run([&]() -> orca::Task<void> {
    orca::Task<void> task = hold(Counted(counts, 1));
    co_await std::move(task);
    // The frame (and its parameter) lives until the Task object goes.
    alive_after_await = counts.alive();
  });
  EXPECT_EQ(alive_after_await, 1) << counts.describe();
  EXPECT_EQ(counts.alive(), 0) << counts.describe();
  EXPECT_EQ(counts.destroyed, counts.constructed + counts.copied + counts.moved)
      << "got a double destroy or a leak: " << counts.describe();
}

// ---------------------------------------------------------------- deep chains

// Each level awaits the next: a million nested frames, each completing
// synchronously. Without symmetric transfer (or the stack guard's trampoline in
// debug and sanitizer builds, GCC PR 100897) this overflows the stack.
orca::Task<std::uint64_t> depth(std::uint64_t n) {
  if (n == 0) co_return 0;
  orca::Task<std::uint64_t> child = depth(n - 1);  // a named local (GCC PR 101367)
  co_return 1 + co_await std::move(child);
}

TEST(Task, MillionDeepAwaitChainCompletesWithoutStackOverflow) {
  constexpr std::uint64_t kDepth = 1'000'000;
  const std::uint64_t got = orca::run(
      []() -> orca::Task<std::uint64_t> { co_return co_await depth(kDepth); }, {.workers = 1});
  EXPECT_EQ(got, kDepth);
}

orca::Task<std::uint64_t> ready_value(std::uint64_t i) {
  co_return i;
}

TEST(Task, MillionSequentialSynchronousAwaitsComplete) {
  constexpr std::uint64_t kAwaits = 1'000'000;
  const std::uint64_t got = orca::run(
      []() -> orca::Task<std::uint64_t> {
        std::uint64_t sum = 0;
        for (std::uint64_t i = 0; i < kAwaits; ++i)
          sum += co_await ready_value(i);
        co_return sum;
      },
      {.workers = 1});
  EXPECT_EQ(got, kAwaits * (kAwaits - 1) / 2);
}

// ---------------------------------------------------------------- orca::run

TEST(Run, ReturnsEntryCoroutineResult) {
  EXPECT_EQ(orca::run([]() -> orca::Task<int> { co_return 42; }), 42);
}

TEST(Run, AcceptsPlainCallableEntry) {
  EXPECT_EQ(orca::run([] { return std::string("plain"); }), "plain");
  bool ran = false;
  orca::run([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(Run, RethrowsEntryException) {
  try {
    orca::run([]() -> orca::Task<void> {
      co_await orca::yield();
      throw std::invalid_argument("entry gave up");
    });
    ADD_FAILURE() << "got run() returning, want std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "entry gave up");
  }
}

TEST(Run, RethrowsPlainEntryException) {
  EXPECT_THROW(orca::run([]() -> int { throw std::out_of_range("plain entry"); }),
               std::out_of_range);
}

TEST(Run, UsesTheConfiguredWorkerCount) {
  for (unsigned workers : {1u, 2u, 3u}) {
    const auto got = orca::run([] { return orca::stats().workers; }, {.workers = workers});
    EXPECT_EQ(got, workers);
  }
}

TEST(Run, RunInsideRunThrowsLogicError) {
  bool threw_logic_error = false;
  std::string what;
  orca::run([&]() -> orca::Task<void> {
    try {
      orca::run([] { return 1; });
    } catch (const std::logic_error& e) {
      threw_logic_error = true;
      what = e.what();
    }
    co_return;
  });
  EXPECT_TRUE(threw_logic_error) << "got nested run() " << (what.empty() ? "returning" : what)
                                 << ", want std::logic_error";
}

// A nested run() that failed must not leave its never-started entry behind: its
// callable (and captures) should be destroyed, and the outer run must not find a
// stray task at shutdown.
TEST(Run, FailedNestedRunLeavesNoTaskBehind) {
  LifetimeCounts counts;
  int alive_after_failed_run = -1;
  try {
    orca::run(
        [&]() -> orca::Task<void> {
          try {
            orca::run([c = Counted(counts, 1)] { return c.value(); });
          } catch (const std::logic_error&) {
          }
          alive_after_failed_run = counts.alive();
          co_return;
        },
        {.leak_check = orca::LeakCheck::kFail});
  } catch (const orca::LeakError& e) {
    ADD_FAILURE() << "got LeakError from the outer run, want none:\n" << e.what();
  }
  EXPECT_EQ(alive_after_failed_run, 0)
      << "got the failed run's entry callable still alive, want destroyed: " << counts.describe();
  EXPECT_EQ(counts.alive(), 0) << counts.describe();
}

TEST(Run, GoAndSpawnOutsideRunThrowLogicErrorAndDestroyTheCallable) {
  LifetimeCounts counts;
  EXPECT_THROW(orca::go([c = Counted(counts, 1)]() -> orca::Task<void> { co_return; }),
               std::logic_error);
  EXPECT_THROW(
      {
        auto h = orca::spawn([c = Counted(counts, 2)] { return c.value(); });
        (void)h;
      },
      std::logic_error);
  EXPECT_EQ(counts.alive(), 0) << "got the rejected callables leaked: " << counts.describe();
}

TEST(Run, StatsOutsideRunReportNotRunning) {
  const orca::RuntimeStats s = orca::stats();
  EXPECT_FALSE(s.running);
  EXPECT_EQ(s.workers, 0u);
  EXPECT_TRUE(s.per_worker.empty());
  EXPECT_EQ(s.live_tasks, 0);
}

TEST(Run, ConsecutiveRunsEachStartAFreshRuntime) {
  for (unsigned workers : {2u, 1u, 4u}) {
    const long got = orca::run(
        []() -> orca::Task<long> {
          std::vector<orca::JoinHandle<long>> handles;
          for (long i = 1; i <= 100; ++i)
            handles.push_back(orca::spawn([i]() -> orca::Task<long> {
              co_await orca::sleep_for(100us);
              co_return i;
            }));
          long sum = 0;
          for (auto& h : handles)
            sum += co_await std::move(h);
          co_return sum;
        },
        {.workers = workers});
    EXPECT_EQ(got, 5050) << "run with " << workers << " workers";
    EXPECT_FALSE(orca::stats().running) << "got a runtime still running after run() returned";
  }
}

}  // namespace
