// ErrGroup: a group of tasks working on subtasks of one job (Go's errgroup.Group).
//
//   auto [group, ctx] = orca::ErrGroup::with_context(parent);
//   for (auto& url : urls)
//     group.go([ctx, url]() -> orca::Task<std::error_code> { co_return co_await fetch(ctx, url);
//     });
//   std::error_code err = co_await group.wait();  // the first error, if any
//
// A task fails by returning a non-empty std::error_code or by throwing. The first
// failure is kept and, with with_context, cancels the derived context so the
// siblings can stop early; the context is also cancelled when wait() returns.
// wait() yields the first error; if the first failure was an exception, wait()
// rethrows it. set_limit(n) bounds how many of the group's functions run at once:
// extra tasks park until a slot frees (go() itself never blocks).
//
// Thread safety: go/try_go/wait from any task; the group must outlive its tasks,
// which wait() guarantees. Not copyable; movable before the first go().
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/runtime/task.hpp"
#include "orca/sync/wait_group.hpp"

namespace orca {

class ErrGroup {
 public:
  ErrGroup() : state_(std::make_unique<State>()) {}
  ErrGroup(ErrGroup&&) noexcept = default;
  ErrGroup& operator=(ErrGroup&&) noexcept = default;

  // A group whose context is cancelled on the first failure (or when wait returns).
  static std::pair<ErrGroup, Context> with_context(const Context& parent);

  // At most n functions of the group run at once; n <= 0 removes the limit. Call it
  // before go() (Go forbids changing it while tasks are active; so does orca:
  // std::logic_error).
  void set_limit(int n);

  // Starts fn in a new task. fn returns Task<std::error_code>, Task<void>,
  // std::error_code or void.
  template <class F>
  void go(F&& fn) {
    start(std::forward<F>(fn), true);
  }
  // Starts fn only if a slot is free under the limit; returns whether it did.
  template <class F>
  bool try_go(F&& fn) {
    return start(std::forward<F>(fn), false);
  }

  class WaitAwaiter;
  // Waits for every task; yields the first error (empty if none), rethrows the
  // first exception if that was the first failure.
  [[nodiscard]] Task<std::error_code> wait();

 private:
  struct State {
    WaitGroup running;
    detail::SpinLock lock;
    int limit = 0;
    int active = 0;
    detail::WaitQueue slot_waiters;
    bool failed = false;
    std::error_code first_error;
    std::exception_ptr first_exception;
    CancelFunc cancel;
  };

  struct SlotAwaiter {
    State& s;
    detail::WaitClaim claim;
    detail::WaitNode node;
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> self) noexcept;
    void await_resume() const noexcept {}
  };

  // Takes a slot if one is free (or there is no limit).
  static bool try_acquire(State& s) noexcept;
  // Returns the slot, handing it to a parked task if one waits.
  static void release_slot(State& s) noexcept;
  static void fail(State& s, std::error_code err, std::exception_ptr exc) noexcept;

  template <class F>
  static Task<void> run_one(State* s, F fn, bool have_slot) {
    if (!have_slot) co_await SlotAwaiter{*s, {}, {}};
    try {
      using R = std::invoke_result_t<F&>;
      std::error_code err;
      if constexpr (detail::IsTask<R>::value) {
        auto task = std::invoke(fn);  // named local: GCC PR 101367
        if constexpr (std::is_void_v<typename R::value_type>) {
          co_await std::move(task);
        } else {
          err = co_await std::move(task);
        }
      } else if constexpr (std::is_void_v<R>) {
        std::invoke(fn);
      } else {
        err = std::invoke(fn);
      }
      if (err) fail(*s, err, nullptr);
    } catch (...) {
      fail(*s, {}, std::current_exception());
    }
    release_slot(*s);
    s->running.done();
  }

  template <class F>
  bool start(F&& fn, bool may_queue) {
    State* s = state_.get();
    const bool have_slot = try_acquire(*s);
    if (!have_slot && !may_queue) return false;
    s->running.add(1);
    orca::go([s, have_slot, fn = std::forward<F>(fn)]() mutable {
      return run_one(s, std::move(fn), have_slot);
    });
    return true;
  }

  std::unique_ptr<State> state_;
};

}  // namespace orca
