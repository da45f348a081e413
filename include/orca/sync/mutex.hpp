// Mutex: mutual exclusion for orca tasks (Go's sync.Mutex), with a context on the
// wait and an RAII guard.
//
//   auto g = co_await mu.lock(ctx);      // Result<Mutex::Guard>
//   if (!g) return g.error();            // ctx was cancelled while waiting
//   ... critical section; may co_await ...
//   // unlocked when the guard goes out of scope (or g->unlock())
//
// Fairness: strict FIFO hand-off under contention. An unlock with waiters passes
// ownership straight to the oldest waiter (which runs next on the unlocker's
// worker); the mutex is never free in between, so no newcomer can barge in and no
// waiter starves. Uncontended lock and unlock are one atomic instruction each.
//
// Cancel safety: a lock parked with a context wakes when the context is done,
// leaves the queue and returns the context's error; it then does not hold the
// mutex. If ownership is handed over in the same instant, the hand-over wins: the
// lock succeeds and the guard unlocks it as usual. The mutex is never lost.
//
// Thread safety: lock/try_lock/unlock from any task; try_lock and unlock also from
// plain threads. Ownership is not tied to a task or thread: a guard may be moved
// to, and released by, another task (as in Go). unlock() of an unlocked mutex is a
// programmer error and throws std::logic_error (Go: fatal error).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <optional>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/runtime/result.hpp"
#include "orca/sync/detail/parked_wait.hpp"

namespace orca {

class Mutex {
 public:
  // Holds the mutex until destroyed, moved from into nothing, or unlock()ed.
  class [[nodiscard]] Guard {
   public:
    Guard() noexcept = default;
    explicit Guard(Mutex& mutex) noexcept : mutex_(&mutex) {}
    Guard(Guard&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
    Guard& operator=(Guard&& other) noexcept {
      if (this != &other) {
        unlock();
        mutex_ = std::exchange(other.mutex_, nullptr);
      }
      return *this;
    }
    ~Guard() { unlock(); }

    bool owns_lock() const noexcept { return mutex_ != nullptr; }
    explicit operator bool() const noexcept { return owns_lock(); }
    void unlock() noexcept {
      if (mutex_ != nullptr) std::exchange(mutex_, nullptr)->unlock();
    }

   private:
    Mutex* mutex_ = nullptr;
  };

  template <bool kWithContext>
  class LockAwaiter;

  Mutex() noexcept = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // co_await mu.lock(ctx) -> Result<Guard>: ctx's error if it is done first.
  [[nodiscard]] LockAwaiter<true> lock(const Context& ctx) noexcept;
  // co_await mu.lock() -> Guard: waits as long as it takes.
  [[nodiscard]] LockAwaiter<false> lock() noexcept;
  // The guard if the mutex was free (and nobody was queued), else nothing.
  std::optional<Guard> try_lock() noexcept {
    if (!try_acquire()) return std::nullopt;
    return Guard(*this);
  }
  // Releases the mutex, handing it to the oldest waiter if any. Prefer the guard.
  void unlock() {
    std::uint32_t locked = kLocked;
    // Release: the critical section happens before the next owner's acquire.
    if (state_.compare_exchange_strong(locked, 0, std::memory_order_release,
                                       std::memory_order_relaxed))
      return;
    unlock_slow();
  }

 private:
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kWaiters = 2;  // the queue may be non-empty

  bool try_acquire() noexcept {
    std::uint32_t free = 0;
    // Acquire: the previous owner's critical section happens before ours.
    return state_.compare_exchange_strong(free, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  void unlock_slow();
  // Under lock_: takes the mutex if free, else marks that a waiter is coming.
  bool acquire_or_mark_locked() noexcept;
  void withdraw(detail::WaitNode& node) noexcept;

  // kLocked is set and cleared by CAS anywhere (fast paths); kWaiters only changes
  // under lock_, which also guards waiters_.
  std::atomic<std::uint32_t> state_{0};
  detail::SpinLock lock_;
  detail::WaitQueue waiters_;
};

template <bool kWithContext>
class Mutex::LockAwaiter {
 public:
  LockAwaiter(Mutex& mutex, detail::CancelNode* cancel) noexcept : mutex_(mutex), wait_(cancel) {}
  LockAwaiter(const LockAwaiter&) = delete;
  LockAwaiter& operator=(const LockAwaiter&) = delete;
  ~LockAwaiter() {
    if (state_ != State::kPending || !wait_.parked()) return;
    // Destroyed while parked (runtime teardown; nothing runs concurrently).
    // A mutex handed over to a task that never resumed stays locked: nothing may
    // be woken any more.
    if (wait_.node().linked) mutex_.withdraw(wait_.node());
  }

  bool await_ready() noexcept {
    if (wait_.context_done()) {
      state_ = State::kCanceled;
      return detail::consume_budget();
    }
    if (!mutex_.try_acquire()) return false;
    state_ = State::kLocked;
    return detail::consume_budget();
  }

  // Out of line: nothing of the frame may be touched once parked (LLVM 56301).
  [[gnu::noinline]] bool await_suspend(std::coroutine_handle<> self) noexcept {
    if (state_ != State::kPending) {  // completed in await_ready; the budget is spent
      detail::yield_current(self);
      return true;
    }
    mutex_.lock_.lock();
    if (mutex_.acquire_or_mark_locked()) {
      mutex_.lock_.unlock();
      state_ = State::kLocked;
      return detail::suspend_if_budget_spent(self);
    }
    if (wait_.park(mutex_.lock_, mutex_.waiters_, nullptr, self, "mutex lock", [] {})) return true;
    mutex_.withdraw(wait_.node());  // ctx done: we marked kWaiters but enqueued nothing
    state_ = State::kCanceled;
    return false;
  }

  auto await_resume() noexcept {
    if (state_ == State::kPending) {
      if (wait_.resumed_by_object()) {
        state_ = State::kLocked;  // handed over by unlock()
      } else {
        mutex_.withdraw(wait_.node());
        state_ = State::kCanceled;
      }
    }
    if constexpr (kWithContext) {
      if (state_ == State::kCanceled) return Result<Guard>(wait_.context_error());
      return Result<Guard>(Guard(mutex_));
    } else {
      return Guard(mutex_);
    }
  }

 private:
  using Wait = detail::ParkedWait<detail::WaitNode>;
  enum class State : std::uint8_t { kPending, kLocked, kCanceled };

  Mutex& mutex_;
  State state_ = State::kPending;
  Wait wait_;
};

inline Mutex::LockAwaiter<true> Mutex::lock(const Context& ctx) noexcept {
  return LockAwaiter<true>(*this, ctx.node()->canceller);
}
inline Mutex::LockAwaiter<false> Mutex::lock() noexcept {
  return LockAwaiter<false>(*this, nullptr);
}

}  // namespace orca
