// Mutex's slow paths: marking a waiter, FIFO hand-off on unlock, withdrawal.
//
// State word: kLocked (owner exists) | kWaiters (the queue may hold nodes).
//   lock:   CAS 0 -> kLocked; else, under lock_, take it if free or set kWaiters and
//           enqueue (ParkedWait). try_lock fails whenever kWaiters is set: FIFO.
//   unlock: CAS kLocked -> 0; else, under lock_, pop the first claimable waiter and
//           hand it the mutex (still locked), or clear everything if none is left.
// kWaiters changes only under lock_, so the slow unlock sees no concurrent writer:
// while it is set neither fast path's CAS can succeed.
#include "orca/sync/mutex.hpp"

#include <stdexcept>

namespace orca {

bool Mutex::acquire_or_mark_locked() noexcept {
  // Relaxed: a first guess for the CAS loop, which orders what matters.
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((s & kLocked) == 0) {
      // Acquire: the previous owner's critical section happens before ours.
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed))
        return true;
    } else if ((s & kWaiters) != 0) {
      return false;
    } else if (state_.compare_exchange_weak(s, s | kWaiters, std::memory_order_relaxed,
                                            std::memory_order_relaxed)) {
      // Relaxed: only makes the owner's unlock take the slow path, under lock_.
      return false;
    }
  }
}

void Mutex::unlock_slow() {
  detail::TaskHeader* next_owner = nullptr;
  lock_.lock();
  // Relaxed: kWaiters is set, so nobody else writes the word now (see above).
  const std::uint32_t s = state_.load(std::memory_order_relaxed);
  if ((s & kLocked) == 0) {
    lock_.unlock();
    throw std::logic_error("orca::Mutex: unlock of an unlocked mutex");
  }
  if (detail::WaitNode* w = detail::pop_claimed(waiters_)) {
    next_owner = w->claim->task;
    // The mutex stays locked: ownership passes to the waiter. Relaxed: the new
    // owner synchronizes with us through lock_ and its wake-up.
    state_.store(waiters_.empty() ? kLocked : kLocked | kWaiters, std::memory_order_relaxed);
  } else {
    // Release: the critical section happens before the next fast-path acquire.
    state_.store(0, std::memory_order_release);
  }
  lock_.unlock();
  if (next_owner != nullptr) detail::wake(next_owner, detail::WakeOrder::kNext);
}

void Mutex::withdraw(detail::WaitNode& node) noexcept {
  lock_.lock();
  waiters_.remove(&node);
  // Relaxed: kWaiters only steers unlock to the slow path, which takes lock_.
  if (waiters_.empty()) state_.fetch_and(~kWaiters, std::memory_order_relaxed);
  lock_.unlock();
}

}  // namespace orca
