// RWMutex: a reader/writer lock for orca tasks (Go's sync.RWMutex), with a context
// on the wait and RAII guards.
//
//   auto r = co_await mu.rlock(ctx);     // Result<RWMutex::ReadGuard>: readers share
//   if (!r) return r.error();            // ctx was cancelled while waiting
//   auto w = co_await mu.lock(ctx);      // Result<RWMutex::Guard>: one writer, no reader
//
// Fairness (Go's): a writer that waits blocks every reader that comes after it, so
// a stream of readers cannot starve writers. When the last reader leaves, the
// oldest waiting writer gets the lock; when a writer unlocks, every reader that
// queued meanwhile is admitted in one batch (so writers cannot starve readers
// either), then the next writer waits for those readers. Writers are served in
// FIFO order. As in Go, a task holding a read lock must not ask for it again while
// a writer may be waiting: it would wait behind that writer, which waits for it.
//
// Cancel safety: a lock or rlock parked with a context wakes when the context is
// done, leaves the queue and returns the context's error; it then holds nothing.
// If the lock is granted in the same instant, the grant wins: the call succeeds and
// the guard unlocks as usual. A writer that leaves the queue lets in the readers
// that were waiting only because of it.
//
// Thread safety: every member from any task; try_lock, try_rlock, unlock and
// runlock also from plain threads. Ownership is not tied to a task (as in Go): a
// guard may be moved to, and released by, another task. unlock() of an RWMutex not
// write-locked and runlock() of one not read-locked are programmer errors and throw
// std::logic_error, as Mutex does (Go: fatal error).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "orca/context/context.hpp"
#include "orca/runtime/result.hpp"
#include "orca/sync/detail/lock_awaiter.hpp"
#include "orca/sync/detail/lock_guard.hpp"
#include "orca/sync/detail/parked_wait.hpp"

namespace orca {

class RWMutex {
  template <bool kShared>
  struct Side;  // one kind of acquisition as detail::LockAwaiter sees it (below)

 public:
  // Each holds the lock until destroyed, moved from into nothing, or unlock()ed.
  using Guard = detail::LockGuard<RWMutex>;            // the write lock
  using ReadGuard = detail::LockGuard<RWMutex, true>;  // a share of the read lock

  template <bool kShared, bool kWithContext>
  using LockAwaiter = detail::LockAwaiter<Side<kShared>, kWithContext>;

  RWMutex() noexcept = default;
  RWMutex(const RWMutex&) = delete;
  RWMutex& operator=(const RWMutex&) = delete;

  // co_await mu.lock(ctx) -> Result<Guard>: ctx's error if it is done first.
  [[nodiscard]] LockAwaiter<false, true> lock(const Context& ctx) noexcept;
  // co_await mu.lock() -> Guard: waits as long as it takes.
  [[nodiscard]] LockAwaiter<false, false> lock() noexcept;
  // co_await mu.rlock(ctx) -> Result<ReadGuard>: ctx's error if it is done first.
  [[nodiscard]] LockAwaiter<true, true> rlock(const Context& ctx) noexcept;
  // co_await mu.rlock() -> ReadGuard: waits as long as it takes.
  [[nodiscard]] LockAwaiter<true, false> rlock() noexcept;

  // The write guard if nobody holds the lock and nobody waits, else nothing.
  std::optional<Guard> try_lock() noexcept {
    if (!try_acquire(false)) return std::nullopt;
    return Guard(*this);
  }
  // A read guard if no writer holds the lock or waits for it, else nothing.
  std::optional<ReadGuard> try_rlock() noexcept {
    if (!try_acquire(true)) return std::nullopt;
    return ReadGuard(*this);
  }
  // Releases the write lock: admits the readers that waited, else the next writer.
  // Prefer the guard.
  void unlock();
  // Releases one read share; the last one out admits the oldest waiting writer.
  // Prefer the guard.
  void runlock() {
    // Acq_rel: release so that our reads come before a writer's writes; acquire
    // so that a grant by runlock_slow sees the other readers' releases.
    const std::uint64_t s = state_.fetch_sub(kShare, std::memory_order_acq_rel);
    // Out of line: no share was held (misuse), or this was the last one and a
    // writer may be waiting for it.
    if (s < kShare || s == kShare + kClosed) [[unlikely]]
      runlock_slow(s);
  }

 private:
  // Takes the lock if that needs no wait (see the fairness rules above). Inline:
  // a read lock while no writer holds or waits is one atomic add.
  bool try_acquire(bool shared) noexcept {
    if (shared) {
      // Acquire: pairs with the release by which the last writer's unlock cleared
      // kClosed (later adds and drops of shares continue its release sequence).
      const std::uint64_t s = state_.fetch_add(kShare, std::memory_order_acquire);
      if ((s & kClosed) == 0) [[likely]]
        return true;
    }
    return try_acquire_slow(shared);
  }
  // try_acquire when a read share did not count (it is given back), or for a writer.
  bool try_acquire_slow(bool shared) noexcept;
  void runlock_slow(std::uint64_t before);
  // Under lock_: takes the lock if the fairness rules let it be granted at once;
  // for a writer that must wait, closes the fast path (the caller queues it).
  bool acquire_locked(bool shared) noexcept;
  // Under lock_: takes the write lock if nobody holds it or waits, else nothing.
  bool acquire_free_locked() noexcept;
  // Gives back a share that did not count (a writer held or waited).
  void drop_share() noexcept;
  // The last share is gone while a writer may wait: grants what the state allows.
  void grant() noexcept;
  // Under lock_: grants whatever the state now allows; woken tasks join `batch`.
  void admit_locked(detail::TaskHeader*& batch) noexcept;
  // Under lock_: admits every claimable waiting reader.
  void admit_readers_locked(detail::TaskHeader*& batch) noexcept;
  void withdraw(detail::WaitNode& node, bool shared) noexcept;

  template <bool kShared>
  struct Side {
    using Guard = detail::LockGuard<RWMutex, kShared>;
    static constexpr const char* kWaitReason = kShared ? "rwmutex rlock" : "rwmutex lock";
    RWMutex& mutex;
    RWMutex& lock() const noexcept { return mutex; }
    bool try_acquire() const noexcept { return mutex.try_acquire(kShared); }
    detail::SpinLock& queue_lock() const noexcept { return mutex.lock_; }
    bool acquire_locked() const noexcept { return mutex.acquire_locked(kShared); }
    detail::WaitQueue& queue() const noexcept {
      return kShared ? mutex.readers_waiting_ : mutex.writers_waiting_;
    }
    void withdraw(detail::WaitNode& node) const noexcept { mutex.withdraw(node, kShared); }
  };

  // Invariant: a reader waits only while a writer holds the lock or waits for it,
  // and a writer waits only while someone holds the lock.
  //
  // kShare per read share held, plus kClosed: set exactly when a writer holds the
  // lock or waits for it, whenever lock_ is free. Readers add and drop shares
  // without lock_ (see rw_mutex.cpp).
  static constexpr std::uint64_t kClosed = 1;
  static constexpr std::uint64_t kShare = 2;
  std::atomic<std::uint64_t> state_{0};
  // The rest guarded by lock_.
  detail::SpinLock lock_;
  bool writer_ = false;  // the write lock is held
  detail::WaitQueue readers_waiting_;
  detail::WaitQueue writers_waiting_;
};

inline RWMutex::LockAwaiter<false, true> RWMutex::lock(const Context& ctx) noexcept {
  return LockAwaiter<false, true>(Side<false>{*this}, ctx.node()->canceller);
}
inline RWMutex::LockAwaiter<false, false> RWMutex::lock() noexcept {
  return LockAwaiter<false, false>(Side<false>{*this}, nullptr);
}
inline RWMutex::LockAwaiter<true, true> RWMutex::rlock(const Context& ctx) noexcept {
  return LockAwaiter<true, true>(Side<true>{*this}, ctx.node()->canceller);
}
inline RWMutex::LockAwaiter<true, false> RWMutex::rlock() noexcept {
  return LockAwaiter<true, false>(Side<true>{*this}, nullptr);
}

}  // namespace orca
