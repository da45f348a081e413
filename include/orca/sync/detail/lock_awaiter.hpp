// LockAwaiter: co_await of a lock acquisition — Mutex::lock, RWMutex::lock and
// RWMutex::rlock — with an optional context, parking through ParkedWait.
//
// `Side` is the lock as one kind of acquisition sees it (a small view, held by value):
//   using Guard;                            // LockGuard over the lock
//   static constexpr const char* kWaitReason;
//   lock();                                 // the lock the guard releases
//   bool try_acquire() noexcept;            // the fast path: take it if that needs no wait
//   SpinLock& queue_lock() noexcept;        // guards the wait queue
//   bool acquire_locked() noexcept;         // under queue_lock(): take it if free, else
//                                           // prepare for a waiter to be queued
//   WaitQueue& queue() noexcept;            // where this kind of acquisition waits
//   void withdraw(WaitNode&) noexcept;      // leave the queue (undoing that preparation)
// A grant (unlock) claims the waiter's node and completes the acquisition for it
// before waking it; if the context claims first, the waiter withdraws and holds nothing.
#pragma once

#include <coroutine>
#include <cstdint>

#include "orca/runtime/result.hpp"
#include "orca/sync/detail/parked_wait.hpp"

namespace orca::detail {

template <class Side, bool kWithContext>
class LockAwaiter {
 public:
  using Guard = typename Side::Guard;

  LockAwaiter(Side side, CancelNode* cancel) noexcept : side_(side), wait_(cancel) {}
  LockAwaiter(const LockAwaiter&) = delete;
  LockAwaiter& operator=(const LockAwaiter&) = delete;
  ~LockAwaiter() {
    if (state_ != State::kPending || !wait_.parked()) return;
    // Destroyed while parked (runtime teardown; nothing runs concurrently). A lock
    // granted to a task that never resumed stays held: nothing may be woken any more.
    if (wait_.node().linked) side_.withdraw(wait_.node());
  }

  bool await_ready() noexcept {
    if (wait_.context_done()) {
      state_ = State::kCanceled;
      return consume_budget();
    }
    if (!side_.try_acquire()) return false;
    state_ = State::kLocked;
    // Spends budget but never yields holding the lock: a task queued behind others
    // with the lock (a reader with its share, keeping a waiting writer and so every
    // new reader out) turns the fairness yield into a convoy. The next operation
    // that can yield without holding anything does (tokio checks its budget before
    // acquiring, for the same reason).
    (void)consume_budget();
    return true;
  }

  // Out of line: nothing of the frame may be touched once parked (LLVM 56301).
  [[gnu::noinline]] bool await_suspend(std::coroutine_handle<> self) noexcept {
    if (state_ != State::kPending) {  // cancelled in await_ready; the budget is spent
      yield_current(self);
      return true;
    }
    side_.queue_lock().lock();
    if (side_.acquire_locked()) {
      side_.queue_lock().unlock();
      state_ = State::kLocked;
      (void)consume_budget();  // no yield with the lock held (await_ready says why)
      return false;
    }
    if (wait_.park(side_.queue_lock(), side_.queue(), nullptr, self, Side::kWaitReason, [] {}))
      return true;
    side_.withdraw(wait_.node());  // ctx done: nothing queued; undo the preparation
    state_ = State::kCanceled;
    return false;
  }

  auto await_resume() noexcept {
    if (state_ == State::kPending) {
      if (wait_.resumed_by_object()) {
        state_ = State::kLocked;  // granted by an unlock
      } else {
        side_.withdraw(wait_.node());
        state_ = State::kCanceled;
      }
    }
    if constexpr (kWithContext) {
      if (state_ == State::kCanceled) return Result<Guard>(wait_.context_error());
      return Result<Guard>(Guard(side_.lock()));
    } else {
      return Guard(side_.lock());
    }
  }

 private:
  enum class State : std::uint8_t { kPending, kLocked, kCanceled };

  Side side_;
  State state_ = State::kPending;
  ParkedWait<WaitNode> wait_;
};

}  // namespace orca::detail
