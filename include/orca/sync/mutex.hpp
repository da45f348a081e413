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
#include "orca/sync/detail/lock_awaiter.hpp"
#include "orca/sync/detail/lock_guard.hpp"
#include "orca/sync/detail/parked_wait.hpp"

namespace orca {

class Mutex {
  struct Exclusive;  // the mutex as detail::LockAwaiter sees it (below)

 public:
  // Holds the mutex until destroyed, moved from into nothing, or unlock()ed;
  // release() gives up ownership without unlocking.
  using Guard = detail::LockGuard<Mutex>;

  template <bool kWithContext>
  using LockAwaiter = detail::LockAwaiter<Exclusive, kWithContext>;

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

  struct Exclusive {
    using Guard = Mutex::Guard;
    static constexpr const char* kWaitReason = "mutex lock";
    Mutex& mutex;
    Mutex& lock() const noexcept { return mutex; }
    bool try_acquire() const noexcept { return mutex.try_acquire(); }
    detail::SpinLock& queue_lock() const noexcept { return mutex.lock_; }
    // Marks kWaiters when it cannot take the mutex; withdraw() clears it again.
    bool acquire_locked() const noexcept { return mutex.acquire_or_mark_locked(); }
    detail::WaitQueue& queue() const noexcept { return mutex.waiters_; }
    void withdraw(detail::WaitNode& node) const noexcept { mutex.withdraw(node); }
  };

  // kLocked is set and cleared by CAS anywhere (fast paths); kWaiters only changes
  // under lock_, which also guards waiters_.
  std::atomic<std::uint32_t> state_{0};
  detail::SpinLock lock_;
  detail::WaitQueue waiters_;
};

inline Mutex::LockAwaiter<true> Mutex::lock(const Context& ctx) noexcept {
  return LockAwaiter<true>(Exclusive{*this}, ctx.node()->canceller);
}
inline Mutex::LockAwaiter<false> Mutex::lock() noexcept {
  return LockAwaiter<false>(Exclusive{*this}, nullptr);
}

}  // namespace orca
