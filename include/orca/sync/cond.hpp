// Cond: a condition variable for orca tasks over orca::Mutex (Go's sync.Cond):
// tasks wait, with the mutex released, until another task signals a change.
//
//   auto g = co_await mu.lock();
//   while (queue.empty()) {                      // always re-check: see below
//     if (auto r = co_await ready.wait(g, ctx); !r) return r.error();
//   }
//   take(queue);                                 // g still holds mu
//
// wait(guard, ctx) releases the guard's mutex, parks, and re-acquires the mutex
// before it returns, whatever ended the wait: the guard owns the mutex again when
// the co_await completes. signal() wakes the oldest waiter, broadcast() all of
// them. A waiter that was woken must re-check its condition (as in Go): another
// task may have taken the mutex first and changed the state again.
//
// A wait is registered before the mutex is released, so a signal sent by any task
// that takes the mutex after the waiter released it is never missed. Signals are
// not remembered: signal() with nobody waiting does nothing.
//
// Errors: wait returns the context's error when the context is done before a
// signal (it is checked first: a context already done returns at once, the mutex
// never released). wait throws std::logic_error if the guard does not own a mutex.
//
// Cancel safety: a wait ended by its context consumes no signal: a signal that
// picks it in the same instant goes to the next waiter instead, unless it was
// claimed first, in which case the wait succeeds. Either way the mutex is held
// again on return.
//
// Thread safety: wait from any task; signal and broadcast from any task or plain
// thread, with or without the mutex held (as in Go).
#pragma once

#include <coroutine>
#include <cstdint>

#include "orca/context/context.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"
#include "orca/sync/detail/parked_wait.hpp"
#include "orca/sync/mutex.hpp"

namespace orca {

class Cond {
 public:
  Cond() noexcept = default;
  Cond(const Cond&) = delete;
  Cond& operator=(const Cond&) = delete;

  // co_await cond.wait(guard, ctx) -> Result<void>: releases guard's mutex, waits
  // for a signal (or ctx), re-acquires the mutex into guard. The guard must outlive
  // the wait (a named local of the waiting task does); ctx is kept by the wait.
  [[nodiscard]] Task<Result<void>> wait(Mutex::Guard& guard, Context ctx);
  // As wait(guard, ctx), without cancellation.
  [[nodiscard]] Task<Result<void>> wait(Mutex::Guard& guard);
  // Wakes the oldest waiter, if any.
  void signal() noexcept;
  // Wakes every waiter.
  void broadcast() noexcept;

 private:
  class ParkAwaiter;

  detail::SpinLock lock_;
  detail::WaitQueue waiters_;  // guarded by lock_
};

// Parks on the Cond, then (the wait published) unlocks the mutex. Result<void>:
// empty if signalled, else the context's error. unlocked() tells whether the mutex
// was released (not when the context was already done).
class Cond::ParkAwaiter {
 public:
  ParkAwaiter(Cond& cond, Mutex& mutex, detail::CancelNode* cancel) noexcept
      : cond_(cond), mutex_(mutex), wait_(cancel) {}
  ParkAwaiter(const ParkAwaiter&) = delete;
  ParkAwaiter& operator=(const ParkAwaiter&) = delete;
  ~ParkAwaiter();

  bool await_ready() const noexcept { return wait_.context_done(); }
  // Out of line: nothing of the frame may be touched once parked (LLVM 56301).
  [[gnu::noinline]] bool await_suspend(std::coroutine_handle<> self) noexcept;
  Result<void> await_resume() noexcept;
  bool unlocked() const noexcept { return state_ != State::kNotParked; }

 private:
  enum class State : std::uint8_t { kNotParked, kParked, kDone };

  Cond& cond_;
  Mutex& mutex_;
  State state_ = State::kNotParked;
  detail::ParkedWait<detail::WaitNode> wait_;
};

}  // namespace orca
