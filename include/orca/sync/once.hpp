// Once: runs a function exactly once, however many tasks ask (Go's sync.Once).
//
//   orca::Once init;
//   auto r = co_await init.call(ctx, [&]() -> orca::Task<void> { co_await load(); });
//   if (!r) return r.error();   // ctx ended while another task was running it
//
// The function may be a plain callable or return Task<void>. The first caller runs
// it; callers arriving meanwhile park until it finishes; later callers return at
// once (one atomic load). If the function throws, the exception reaches the caller
// that ran it and the Once stays not-done: the parked callers wake and the next one
// runs it again (std::call_once's rule; Go's Once would count it as done).
//
// Cancel safety: a caller parked with a context returns the context's error when
// the context is done first; the function keeps running in the task that started
// it. A caller running the function is not interrupted by its context: the
// function sees the context only if it captures it.
//
// Thread safety: call from any task; done() from anywhere.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/runtime/task.hpp"
#include "orca/sync/detail/parked_wait.hpp"

namespace orca {

class Once {
 public:
  template <class F>
  class CallAwaiter;

  Once() noexcept = default;
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;

  // True once the function has returned (normally).
  // Acquire: pairs with the release in finish(); the function's effects are visible.
  bool done() const noexcept { return done_.load(std::memory_order_acquire); }

  // co_await once.call(ctx, fn) -> Result<void>: runs fn unless it has run; ctx's
  // error if ctx ends while waiting for another caller's run. Rethrows fn's exception.
  template <class F>
  [[nodiscard]] CallAwaiter<std::decay_t<F>> call(const Context& ctx, F&& fn) {
    return CallAwaiter<std::decay_t<F>>(*this, ctx.node()->canceller, std::forward<F>(fn));
  }
  // As call(ctx, fn), without cancellation.
  template <class F>
  [[nodiscard]] CallAwaiter<std::decay_t<F>> call(F&& fn) {
    return CallAwaiter<std::decay_t<F>>(*this, nullptr, std::forward<F>(fn));
  }

 private:
  enum class State : std::uint8_t { kIdle, kRunning, kDone };
  class WaitAwaiter;

  template <class F>
  Task<Result<void>> run(detail::CancelNode* cancel, F fn);
  // Under lock_ on entry... see once.cpp. True if the caller must run the function.
  bool begin() noexcept;
  void finish(bool ran) noexcept;

  detail::SpinLock lock_;
  State state_ = State::kIdle;  // guarded by lock_
  std::atomic<bool> done_{false};
  detail::WaitQueue waiters_;  // guarded by lock_
};

// Parks while another caller runs the function; Result<void>: ctx's error if it ends first.
class Once::WaitAwaiter {
 public:
  WaitAwaiter(Once& once, detail::CancelNode* cancel) noexcept : once_(once), wait_(cancel) {}
  WaitAwaiter(const WaitAwaiter&) = delete;
  WaitAwaiter& operator=(const WaitAwaiter&) = delete;
  ~WaitAwaiter();

  bool await_ready() const noexcept { return wait_.context_done(); }
  // Out of line: nothing of the frame may be touched once parked (LLVM 56301).
  bool await_suspend(std::coroutine_handle<> self) noexcept;
  Result<void> await_resume() noexcept;

 private:
  Once& once_;
  bool parked_ = false;
  detail::ParkedWait<detail::WaitNode> wait_;
};

template <class F>
Task<Result<void>> Once::run(detail::CancelNode* cancel, F fn) {
  for (;;) {
    if (begin()) {
      try {
        if constexpr (detail::IsTask<std::invoke_result_t<F&>>::value) {
          auto task = std::invoke(fn);  // a named local, not a co_await temporary (GCC PR 101367)
          co_await std::move(task);
        } else {
          std::invoke(fn);
        }
      } catch (...) {
        finish(false);
        throw;
      }
      finish(true);
      co_return Result<void>();
    }
    if (done()) co_return Result<void>();
    Result<void> waited = co_await WaitAwaiter(*this, cancel);
    if (!waited) co_return waited;
  }
}

// co_await once.call(...): one atomic load once done; otherwise runs Once::run.
template <class F>
class Once::CallAwaiter {
 public:
  CallAwaiter(Once& once, detail::CancelNode* cancel, F fn)
      : once_(once), cancel_(cancel), fn_(std::move(fn)) {}
  CallAwaiter(const CallAwaiter&) = delete;
  CallAwaiter& operator=(const CallAwaiter&) = delete;

  bool await_ready() noexcept {
    if (!once_.done()) return false;
    done_at_start_ = true;
    return detail::consume_budget();
  }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> self) {
    if (done_at_start_) {  // done, but the budget is spent
      detail::yield_current(self);
      return std::noop_coroutine();
    }
    task_ = once_.run(cancel_, std::move(fn_));
    inner_.emplace(std::move(task_).operator co_await());
    return inner_->await_suspend(self);
  }
  Result<void> await_resume() {
    if (!inner_) return {};
    return inner_->await_resume();
  }

 private:
  using Inner = decltype(std::declval<Task<Result<void>>>().operator co_await());

  Once& once_;
  detail::CancelNode* cancel_;
  F fn_;
  bool done_at_start_ = false;
  Task<Result<void>> task_;
  std::optional<Inner> inner_;
};

}  // namespace orca
