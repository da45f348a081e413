// Conformance of a single context: background and todo, err() and cause(), the
// cancel functions, done() as an awaitable, and what the deadlock detector says
// about a task waiting on a context nobody can cancel.
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "context/context_test_support.hpp"
#include "orca/orca.hpp"

namespace {

using namespace std::chrono_literals;
using orca_ctx_test::canceled;
using orca_ctx_test::deadline_exceeded;
using orca_ctx_test::ErrIs;

// A category of our own, so a cause can be told apart from every orca error.
class TestCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "context_test"; }
  std::string message(int code) const override { return "test cause " + std::to_string(code); }
};
const TestCategory& test_category() {
  static const TestCategory category;
  return category;
}
std::error_code test_cause(int code) {
  return {code, test_category()};
}

void expect_never_done(const orca::Context& ctx, const char* name) {
  EXPECT_TRUE(ErrIs(name, ctx.err(), {}));
  EXPECT_TRUE(ErrIs(name, ctx.cause(), {}));
  EXPECT_FALSE(ctx.is_done()) << name << ".is_done(): got true, want false";
  EXPECT_FALSE(ctx.deadline().has_value()) << name << ".deadline(): got a deadline, want none";
}

TEST(Background, IsNeverDoneAndHasNoDeadline) {
  expect_never_done(orca::background(), "background()");
  expect_never_done(orca::todo(), "todo()");
  expect_never_done(orca::Context{}, "Context{}");
}

TEST(Background, StaysNotDoneWhileDescendantsAreCancelled) {
  const orca::Context bg = orca::background();
  auto [child, cancel] = orca::with_cancel(bg);
  auto [todo_child, cancel_todo] = orca::with_cancel(orca::todo());
  cancel();
  cancel_todo();
  expect_never_done(bg, "background() after a child's cancel");
  expect_never_done(orca::todo(), "todo() after a child's cancel");
}

TEST(Err, IsEmptyBeforeCancelAndCanceledAfter) {
  auto [ctx, cancel] = orca::with_cancel(orca::background());
  EXPECT_TRUE(ErrIs("err() before cancel", ctx.err(), {}));
  EXPECT_TRUE(ErrIs("cause() before cancel", ctx.cause(), {}));
  EXPECT_FALSE(ctx.is_done());
  cancel();
  EXPECT_TRUE(ErrIs("err() after cancel", ctx.err(), canceled()));
  EXPECT_TRUE(ErrIs("cause() after cancel", ctx.cause(), canceled()));
  EXPECT_TRUE(ctx.is_done()) << "is_done() after cancel: got false, want true";
}

TEST(Err, StaysStableAcrossRepeatedCancels) {
  auto [ctx, cancel] = orca::with_cancel(orca::background());
  cancel();
  cancel();
  const orca::CancelFunc copy = cancel;
  copy();
  EXPECT_TRUE(ErrIs("err() after three cancels", ctx.err(), canceled()));
  EXPECT_TRUE(ErrIs("cause() after three cancels", ctx.cause(), canceled()));
}

TEST(Err, FirstCauseWinsOverLaterCancels) {
  auto [ctx, cancel] = orca::with_cancel_cause(orca::background());
  cancel(test_cause(1));
  cancel(test_cause(2));
  cancel();
  EXPECT_TRUE(ErrIs("err()", ctx.err(), canceled()));
  EXPECT_TRUE(ErrIs("cause()", ctx.cause(), test_cause(1)));
}

TEST(Err, CopiesOfAContextShareItsState) {
  auto [ctx, cancel] = orca::with_cancel(orca::background());
  const orca::Context copy = ctx;
  orca::Context moved_into;
  moved_into = orca::Context(ctx);
  cancel();
  EXPECT_TRUE(ErrIs("copy.err()", copy.err(), canceled()));
  EXPECT_TRUE(ErrIs("assigned.err()", moved_into.err(), canceled()));
}

TEST(Cause, ReturnsTheCauseGivenToCancel) {
  auto [ctx, cancel] = orca::with_cancel_cause(orca::background());
  const std::error_code cause = std::make_error_code(std::errc::timed_out);
  cancel(cause);
  EXPECT_TRUE(ErrIs("err()", ctx.err(), canceled()));
  EXPECT_TRUE(ErrIs("cause()", ctx.cause(), cause));
}

TEST(Cause, AcceptsAUserCategory) {
  auto [ctx, cancel] = orca::with_cancel_cause(orca::background());
  cancel(test_cause(7));
  EXPECT_TRUE(ErrIs("err()", ctx.err(), canceled()));
  EXPECT_TRUE(ErrIs("cause()", ctx.cause(), test_cause(7)));
}

TEST(Cause, WithoutACauseIsErr) {
  auto [ctx, cancel] = orca::with_cancel_cause(orca::background());
  cancel();
  EXPECT_TRUE(ErrIs("cause() after cancel()", ctx.cause(), canceled()));
  auto [plain, plain_cancel] = orca::with_cancel(orca::background());
  plain_cancel();
  EXPECT_TRUE(ErrIs("cause() of with_cancel", plain.cause(), canceled()));
}

TEST(Cause, IsEmptyBeforeDone) {
  auto [ctx, cancel] = orca::with_cancel_cause(orca::background());
  EXPECT_TRUE(ErrIs("cause() before cancel", ctx.cause(), {}));
  cancel(test_cause(1));
}

TEST(Cause, DescendantsCancelledThroughParentReportParentsCause) {
  auto [parent, cancel] = orca::with_cancel_cause(orca::background());
  auto [child, cancel_child] = orca::with_cancel(parent);
  auto [cause_child, cancel_cause_child] = orca::with_cancel_cause(child);
  const orca::ContextKey<int> key{"k"};
  const orca::Context value_child = orca::with_value(cause_child, key, 1);
  cancel(test_cause(3));
  EXPECT_TRUE(ErrIs("child.err()", child.err(), canceled()));
  EXPECT_TRUE(ErrIs("child.cause()", child.cause(), test_cause(3)));
  EXPECT_TRUE(ErrIs("grandchild.cause()", cause_child.cause(), test_cause(3)));
  EXPECT_TRUE(ErrIs("value child.cause()", value_child.cause(), test_cause(3)));
}

TEST(Cause, ChildCancelledFirstKeepsItsOwnCause) {
  auto [parent, cancel] = orca::with_cancel_cause(orca::background());
  auto [child, cancel_child] = orca::with_cancel_cause(parent);
  cancel_child(test_cause(1));
  cancel(test_cause(2));
  EXPECT_TRUE(ErrIs("child.cause()", child.cause(), test_cause(1)));
  EXPECT_TRUE(ErrIs("parent.cause()", parent.cause(), test_cause(2)));
}

TEST(CancelFunc, DefaultConstructedDoesNothing) {
  const orca::CancelFunc cancel;
  cancel();
  const orca::CancelCauseFunc cancel_cause;
  cancel_cause(test_cause(1));
}

TEST(CancelFunc, OutlivesItsContext) {
  orca::CancelFunc cancel;
  std::optional<orca::Context> ctx;
  {
    auto pair = orca::with_cancel(orca::background());
    ctx = pair.first;
    cancel = pair.second;
  }
  ctx.reset();
  cancel();  // the function holds its own reference: nothing to crash on
  cancel();
}

TEST(CancelFunc, CancelsATreeOutsideAnyRuntime) {
  // No orca::run anywhere: cancelling is plain code, callable from any thread.
  auto [root, cancel] = orca::with_cancel(orca::background());
  auto [a, cancel_a] = orca::with_cancel(root);
  auto [b, cancel_b] = orca::with_cancel_cause(a);
  auto [c, cancel_c] = orca::with_deadline(b, orca::Clock::now() - 1s);  // born expired
  cancel();
  EXPECT_TRUE(ErrIs("root.err()", root.err(), canceled()));
  EXPECT_TRUE(ErrIs("a.err()", a.err(), canceled()));
  EXPECT_TRUE(ErrIs("b.err()", b.err(), canceled()));
  EXPECT_TRUE(ErrIs("c.err() (expired before its parent's cancel)", c.err(), deadline_exceeded()));
}

TEST(CancelFunc, CancelsFromAForeignThreadOutsideAnyRuntime) {
  auto [ctx, cancel] = orca::with_cancel(orca::background());
  auto [child, cancel_child] = orca::with_cancel(ctx);
  std::thread t([cancel = cancel] { cancel(); });
  t.join();
  EXPECT_TRUE(ErrIs("err()", ctx.err(), canceled()));
  EXPECT_TRUE(ErrIs("child.err()", child.err(), canceled()));
}

TEST(Done, ReturnsTheErrorOfAnAlreadyCancelledContext) {
  std::error_code got;
  orca::run([&]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_cancel_cause(orca::background());
    cancel(test_cause(4));
    got = co_await ctx.done();
  });
  EXPECT_TRUE(ErrIs("co_await done()", got, canceled()));
}

// A loop over an already-done context never parks; only the cooperative budget
// gives the single worker to the task that ends the loop.
TEST(Done, LoopOnADoneContextYieldsWhenTheBudgetIsSpent) {
  constexpr long kSpinCap = 10'000'000;  // far above one budget: reaching it means no yield
  std::atomic<bool> flag{false};
  long iterations = 0;
  bool saw_flag = false;
  orca::run(
      [&]() -> orca::Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        cancel();
        auto spinner = orca::spawn([&, ctx = ctx]() -> orca::Task<void> {
          while (!flag.load()) {
            (void)co_await ctx.done();
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
                        << " waits on a done context without the other task running, want "
                           "the budget to yield";
}

TEST(Done, WakesATaskWhenAnotherTaskCancels) {
  std::error_code got;
  orca::run([&]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    auto waiter = orca::spawn(
        [ctx = ctx]() -> orca::Task<std::error_code> { co_return co_await ctx.done(); });
    co_await orca::sleep_for(1ms);
    cancel();
    got = co_await std::move(waiter);
  });
  EXPECT_TRUE(ErrIs("co_await done()", got, canceled()));
}

TEST(Done, WakesATaskWhenAForeignThreadCancels) {
  std::error_code got;
  orca::run([&]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_cancel(orca::background());
    // The thread may wake us: tell the deadlock detector not to give up meanwhile.
    const orca::ExternalWaker waker;
    std::thread canceller([cancel = cancel] {
      std::this_thread::sleep_for(1ms);
      cancel();
    });
    got = co_await ctx.done();
    canceller.join();
  });
  EXPECT_TRUE(ErrIs("co_await done()", got, canceled()));
}

TEST(Done, AwaitsAContextMadeBeforeTheRuntimeStarted) {
  auto [ctx, cancel] = orca::with_cancel(orca::background());
  std::error_code got;
  orca::run([&, ctx = ctx, cancel = cancel]() -> orca::Task<void> {
    auto waiter =
        orca::spawn([ctx]() -> orca::Task<std::error_code> { co_return co_await ctx.done(); });
    co_await orca::sleep_for(1ms);
    cancel();
    got = co_await std::move(waiter);
  });
  EXPECT_TRUE(ErrIs("co_await done()", got, canceled()));
}

TEST(Done, TaskDestroyedAtShutdownWithdrawsItsWait) {
  // The context outlives the runtime; the task parked on it is destroyed when the
  // entry returns. Cancelling afterwards must not touch the dead task.
  auto [ctx, cancel] = orca::with_cancel(orca::background());
  std::atomic<bool> waiting{false};
  orca::run([&, ctx = ctx]() -> orca::Task<void> {
    orca::go([ctx, &waiting]() -> orca::Task<void> {
      waiting.store(true);
      (void)co_await ctx.done();
      ADD_FAILURE() << "the waiter resumed, but nobody cancelled its context";
    });
    const bool parked = co_await orca_ctx_test::eventually(
        [&] { return waiting.load() && orca::stats().parked_tasks >= 1; });
    EXPECT_TRUE(parked) << "the waiter never parked";
  });
  cancel();
  EXPECT_TRUE(ErrIs("err() after the runtime stopped", ctx.err(), canceled()));
}

TEST(DeadlockDetector, ReportsATaskWaitingOnAContextNobodyCancels) {
  try {
    orca::run([]() -> orca::Task<void> {
      auto [ctx, cancel] = orca::with_cancel(orca::background());
      auto waiter = orca::spawn([ctx = ctx]() -> orca::Task<void> { (void)co_await ctx.done(); });
      co_await std::move(waiter);  // the cancel function sits unused in this frame
    });
    ADD_FAILURE() << "orca::run returned; want orca::DeadlockError";
  } catch (const orca::DeadlockError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("context done"), std::string::npos)
        << "DeadlockError::what(): got\n"
        << what << "\nwant it to contain \"context done\"";
  }
}

TEST(DeadlockDetector, ReportsATaskWaitingOnBackground) {
  try {
    orca::run([]() -> orca::Task<void> { (void)co_await orca::background().done(); });
    ADD_FAILURE() << "orca::run returned; want orca::DeadlockError";
  } catch (const orca::DeadlockError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("context done"), std::string::npos)
        << "DeadlockError::what(): got\n"
        << what << "\nwant it to contain \"context done\"";
  }
}

TEST(DeadlockDetector, ReportsAWaitOnAContextWithoutCancel) {
  try {
    orca::run([]() -> orca::Task<void> {
      auto [ctx, cancel] = orca::with_cancel(orca::background());
      const orca::Context detached = orca::without_cancel(ctx);
      cancel();  // does not reach `detached`
      (void)co_await detached.done();
    });
    ADD_FAILURE() << "orca::run returned; want orca::DeadlockError";
  } catch (const orca::DeadlockError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("context done"), std::string::npos)
        << "DeadlockError::what(): got\n"
        << what << "\nwant it to contain \"context done\"";
  }
}

TEST(DeadlockDetector, DoesNotFireWhileADeadlineIsPending) {
  std::error_code got;
  EXPECT_NO_THROW(orca::run([&]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 5ms);
    got = co_await ctx.done();
    cancel();
  }));
  EXPECT_TRUE(ErrIs("co_await done()", got, deadline_exceeded()));
}

}  // namespace
