// Conformance of after_func: the function runs once, in a task of its own, when
// the context is done (at once if it already is); stop() reports whether it
// prevented the call; a context that can never be cancelled never runs it.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "context/context_test_support.hpp"
#include "orca/orca.hpp"

namespace {

using namespace std::chrono_literals;
using orca_ctx_test::deadline_exceeded;
using orca_ctx_test::ErrIs;
using orca_ctx_test::eventually;
using orca_ctx_test::linked_children;

// Every test fails if a task (say, a wrongly started after_func) outlives the entry.
const orca::RunOptions kNoLeaks{.leak_check = orca::LeakCheck::kFail};

TEST(AfterFunc, RunsOnceWhenTheContextIsCancelled) {
  std::atomic<int> calls{0};
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        auto stop = orca::after_func(ctx, [&calls] { calls.fetch_add(1); });
        co_await orca::sleep_for(1ms);
        EXPECT_EQ(calls.load(), 0) << "calls before the context was done";
        cancel();
        cancel();
        const bool ran = co_await eventually([&] { return calls.load() >= 1; });
        EXPECT_TRUE(ran) << "the function never ran";
        co_await orca::sleep_for(2ms);  // room for a second call to show up
      },
      kNoLeaks);
  EXPECT_EQ(calls.load(), 1) << "calls after two cancels";
}

TEST(AfterFunc, RunsInATaskOfItsOwn) {
  std::atomic<orca::detail::TaskHeader*> ran_on{nullptr};
  orca::detail::TaskHeader* canceller = nullptr;
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        auto stop = orca::after_func(ctx, [&ran_on] { ran_on = orca::detail::current_task(); });
        canceller = orca::detail::current_task();
        cancel();
        const bool ran = co_await eventually([&] { return ran_on.load() != nullptr; });
        EXPECT_TRUE(ran) << "the function never ran in a task";
      },
      kNoLeaks);
  EXPECT_NE(ran_on.load(), nullptr) << "current_task() inside the function: got nullptr";
  EXPECT_NE(ran_on.load(), canceller) << "the function ran inside the cancelling task";
}

TEST(AfterFunc, RunsInATaskWhenAForeignThreadCancels) {
  std::atomic<orca::detail::TaskHeader*> ran_on{nullptr};
  std::atomic<bool> ran_on_foreign_thread{false};
  orca::WaitGroup wg;
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        wg.add(1);
        std::thread::id foreign;  // written by the thread before it cancels
        auto stop = orca::after_func(ctx, [&] {
          ran_on = orca::detail::current_task();
          ran_on_foreign_thread = std::this_thread::get_id() == foreign;
          wg.done();
        });
        const orca::ExternalWaker waker;
        std::thread t([cancel = cancel, &foreign] {
          foreign = std::this_thread::get_id();
          cancel();
        });
        (void)co_await wg.wait();
        t.join();
      },
      kNoLeaks);
  EXPECT_NE(ran_on.load(), nullptr) << "current_task() inside the function: got nullptr";
  EXPECT_FALSE(ran_on_foreign_thread.load()) << "the function ran on the cancelling thread";
}

TEST(AfterFunc, RunsAtOnceOnAContextAlreadyDone) {
  std::atomic<int> calls{0};
  std::atomic<orca::detail::TaskHeader*> ran_on{nullptr};
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        cancel();
        auto stop = orca::after_func(ctx, [&] {
          ran_on = orca::detail::current_task();
          calls.fetch_add(1);
        });
        EXPECT_FALSE(stop()) << "stop() on an already-done context: got true, want false";
        const bool ran = co_await eventually([&] { return calls.load() == 1; });
        EXPECT_TRUE(ran) << "the function never ran";
      },
      kNoLeaks);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_NE(ran_on.load(), nullptr) << "current_task() inside the function: got nullptr";
}

TEST(AfterFunc, RunsWhenTheDeadlinePasses) {
  std::error_code seen;
  orca::WaitGroup wg;
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_timeout(orca::background(), 5ms);
        wg.add(1);
        auto stop = orca::after_func(ctx, [&seen, &wg, ctx = ctx] {
          seen = ctx.err();
          wg.done();
        });
        (void)co_await wg.wait();
        cancel();
      },
      kNoLeaks);
  EXPECT_TRUE(ErrIs("ctx.err() inside the function", seen, deadline_exceeded()));
}

TEST(AfterFunc, RunsWhenAnAncestorIsCancelled) {
  std::error_code seen;
  orca::WaitGroup wg;
  orca::run(
      [&]() -> orca::Task<void> {
        const orca::ContextKey<int> key{"k"};
        auto [root, cancel] = orca::with_cancel_cause(orca::background());
        auto [child, cancel_child] = orca::with_cancel(orca::with_value(root, key, 1));
        const orca::Context grandchild = orca::with_value(child, key, 2);
        wg.add(1);
        auto stop = orca::after_func(grandchild, [&seen, &wg, grandchild] {
          seen = grandchild.cause();
          wg.done();
        });
        cancel(std::make_error_code(std::errc::timed_out));
        (void)co_await wg.wait();
      },
      kNoLeaks);
  EXPECT_TRUE(
      ErrIs("cause() inside the function", seen, std::make_error_code(std::errc::timed_out)));
}

TEST(AfterFunc, AcceptsAFunctionReturningATask) {
  std::atomic<int> steps{0};
  orca::WaitGroup wg;
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        wg.add(1);
        auto stop = orca::after_func(ctx, [&steps, &wg]() -> orca::Task<void> {
          steps.fetch_add(1);
          co_await orca::sleep_for(1ms);
          steps.fetch_add(1);
          wg.done();
        });
        cancel();
        (void)co_await wg.wait();
      },
      kNoLeaks);
  EXPECT_EQ(steps.load(), 2) << "steps of the task-returning function";
}

TEST(AfterFunc, CancelDoesNotWaitForTheFunction) {
  // The function waits for something that happens only after cancel() returns: had
  // cancel run it inline, this would never finish.
  std::atomic<bool> finished{false};
  orca::WaitGroup wg;
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        auto [gate, open_gate] = orca::with_cancel(orca::background());
        wg.add(1);
        auto stop = orca::after_func(ctx, [gate = gate, &finished, &wg]() -> orca::Task<void> {
          (void)co_await gate.done();
          finished = true;
          wg.done();
        });
        cancel();
        EXPECT_FALSE(finished.load()) << "the function finished inside cancel()";
        open_gate();
        (void)co_await wg.wait();
      },
      kNoLeaks);
  EXPECT_TRUE(finished.load());
}

TEST(AfterFunc, StopBeforeCancelPreventsTheCall) {
  std::atomic<int> calls{0};
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        auto stop = orca::after_func(ctx, [&calls] { calls.fetch_add(1); });
        EXPECT_TRUE(stop()) << "stop() before cancel: got false, want true";
        EXPECT_FALSE(stop()) << "second stop(): got true, want false";
        cancel();
        co_await orca::sleep_for(2ms);  // room for a wrong call to show up
      },
      kNoLeaks);
  EXPECT_EQ(calls.load(), 0) << "calls after a successful stop";
}

TEST(AfterFunc, StopAfterCancelReturnsFalse) {
  std::atomic<int> calls{0};
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        auto stop = orca::after_func(ctx, [&calls] { calls.fetch_add(1); });
        cancel();
        EXPECT_FALSE(stop()) << "stop() after cancel: got true, want false";
        const bool ran = co_await eventually([&] { return calls.load() == 1; });
        EXPECT_TRUE(ran) << "the function never ran";
      },
      kNoLeaks);
  EXPECT_EQ(calls.load(), 1);
}

TEST(AfterFunc, StopFromInsideTheFunctionReturnsFalse) {
  std::optional<orca::AfterFuncStop> stop;
  std::atomic<int> stop_result{-1};
  orca::WaitGroup wg;
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        wg.add(1);
        stop.emplace(orca::after_func(ctx, [&] {
          stop_result = (*stop)() ? 1 : 0;
          wg.done();
        }));
        cancel();
        (void)co_await wg.wait();
      },
      kNoLeaks);
  EXPECT_EQ(stop_result.load(), 0) << "stop() from inside the running function (1 = true)";
}

TEST(AfterFunc, StopOnAContextThatCanNeverBeCancelledReturnsTrue) {
  std::atomic<int> calls{0};
  auto [parent, cancel] = orca::with_cancel(orca::background());
  const orca::Context detached = orca::without_cancel(parent);
  const std::vector<std::pair<const char*, orca::Context>> never = {
      {"background()", orca::background()},
      {"todo()", orca::todo()},
      {"without_cancel(ctx)", detached}};
  for (const auto& [name, ctx] : never) {
    auto stop = orca::after_func(ctx, [&calls] { calls.fetch_add(1); });
    EXPECT_TRUE(stop()) << "stop() on " << name << ": got false, want true";
    EXPECT_FALSE(stop()) << "second stop() on " << name << ": got true, want false";
  }
  cancel();  // does not reach `detached`
  EXPECT_EQ(calls.load(), 0);
}

TEST(AfterFunc, DroppingTheStopHandleDoesNotStopTheCall) {
  std::atomic<int> calls{0};
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        (void)orca::after_func(ctx, [&calls] { calls.fetch_add(1); });
        cancel();
        const bool ran = co_await eventually([&] { return calls.load() == 1; });
        EXPECT_TRUE(ran) << "the function never ran";
      },
      kNoLeaks);
  EXPECT_EQ(calls.load(), 1);
}

TEST(AfterFunc, ManyFunctionsOnOneContextEachRunOnce) {
  constexpr int kFuncs = 1000;
  std::vector<std::atomic<int>> calls(kFuncs);
  std::atomic<int> total{0};
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        std::vector<orca::AfterFuncStop> stops;
        stops.reserve(kFuncs);
        for (int i = 0; i < kFuncs; ++i)
          stops.push_back(orca::after_func(ctx, [&calls, &total, i] {
            calls[i].fetch_add(1);
            total.fetch_add(1);
          }));
        int stopped = 0;
        for (int i = 0; i < kFuncs; i += 10)
          stopped += stops[i]() ? 1 : 0;
        EXPECT_EQ(stopped, kFuncs / 10) << "stops that prevented their call";
        cancel();
        const bool all = co_await eventually([&] { return total.load() == kFuncs - stopped; });
        EXPECT_TRUE(all) << "calls: got " << total << ", want " << kFuncs - stopped;
        co_await orca::sleep_for(2ms);
      },
      kNoLeaks);
  int wrong = 0;
  for (int i = 0; i < kFuncs; ++i)
    if (calls[i] != (i % 10 == 0 ? 0 : 1)) ++wrong;
  EXPECT_EQ(wrong, 0) << "functions not called exactly once (or called after a stop)";
}

TEST(AfterFunc, TheFunctionIsDestroyedExactlyOnce) {
  orca_ctx_test::LifetimeCounts ran_counts;
  orca_ctx_test::LifetimeCounts stopped_counts;
  orca::WaitGroup wg;
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        wg.add(1);
        auto run_stop = orca::after_func(
            ctx, [held = orca_ctx_test::Counted(ran_counts, 1), &wg] { wg.done(); });
        {
          auto stopped =
              orca::after_func(ctx, [held = orca_ctx_test::Counted(stopped_counts, 2)] {});
          EXPECT_TRUE(stopped());
        }
        cancel();
        (void)co_await wg.wait();
        co_await orca::sleep_for(1ms);  // let the function's task finish and free it
      },
      kNoLeaks);
  EXPECT_EQ(ran_counts.alive(), 0)
      << "captures of the function that ran: " << ran_counts.describe();
  EXPECT_EQ(stopped_counts.alive(), 0)
      << "captures of the stopped function: " << stopped_counts.describe();
}

TEST(AfterFunc, StoppedRegistrationReleasesTheContext) {
  auto [parent, cancel] = orca::with_cancel(orca::background());
  {
    auto [child, cancel_child] = orca::with_cancel(parent);
    auto stop = orca::after_func(child, [] {});
    EXPECT_TRUE(stop());
  }
  EXPECT_EQ(linked_children(parent), 0u)
      << "a child whose after_func was stopped is still linked after every handle died";
  cancel();
}

TEST(AfterFunc, RegisteredFromAForeignThreadOnADoneContextRunsInATask) {
  std::atomic<orca::detail::TaskHeader*> ran_on{nullptr};
  orca::WaitGroup wg;
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        cancel();
        wg.add(1);
        const orca::ExternalWaker waker;
        std::thread t([&, ctx = ctx] {
          (void)orca::after_func(ctx, [&] {
            ran_on = orca::detail::current_task();
            wg.done();
          });
        });
        (void)co_await wg.wait();
        t.join();
      },
      kNoLeaks);
  EXPECT_NE(ran_on.load(), nullptr) << "current_task() inside the function: got nullptr";
}

TEST(AfterFunc, StopRacingCancelEitherPreventsOrLetsRunEachCall) {
  constexpr int kPairs = 2000;
  std::atomic<int> ran{0};
  std::atomic<int> stopped{0};
  orca::run(
      [&]() -> orca::Task<void> {
        std::vector<std::pair<orca::Context, orca::CancelFunc>> ctxs;
        std::vector<orca::AfterFuncStop> stops;
        ctxs.reserve(kPairs);
        stops.reserve(kPairs);
        for (int i = 0; i < kPairs; ++i) {
          ctxs.push_back(orca::with_cancel(orca::background()));
          stops.push_back(orca::after_func(ctxs.back().first, [&ran] { ran.fetch_add(1); }));
        }
        std::atomic<bool> go{false};
        std::thread canceller([&] {
          while (!go.load()) {
          }
          for (const auto& [ctx, cancel] : ctxs)
            cancel();
        });
        std::thread stopper([&] {
          while (!go.load()) {
          }
          for (const auto& stop : stops)
            if (stop()) stopped.fetch_add(1);
        });
        go = true;
        canceller.join();
        stopper.join();
        const bool settled = co_await eventually([&] { return ran + stopped == kPairs; });
        EXPECT_TRUE(settled) << "ran " << ran << " + stopped " << stopped << ", want " << kPairs;
        co_await orca::sleep_for(2ms);
      },
      kNoLeaks);
  EXPECT_EQ(ran + stopped, kPairs) << "ran " << ran << ", stopped " << stopped;
}

}  // namespace
