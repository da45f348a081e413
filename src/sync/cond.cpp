// Cond: one wait queue under a SpinLock. A wait:
//   1. Under the Cond's lock, enqueue the task's node (ParkedWait, with the context)
//      and prepare to park; unlock. A signal can find the node from here on.
//   2. Unlock the mutex. Only now may another task take it and signal; the waiter
//      is already queued, so that signal cannot be missed. The mutex's address is a
//      local of await_suspend: nothing of the parked frame is touched.
//   3. Woken (by a signal's claim, or by the context's), withdraw the other node,
//      then lock the mutex again, without a context: it must be held on return.
#include "orca/sync/cond.hpp"

#include <stdexcept>

namespace orca {

Task<Result<void>> Cond::wait(Mutex::Guard& guard, Context ctx) {
  if (!guard.owns_lock()) throw std::logic_error("orca::Cond: wait without holding the mutex");
  Mutex* mutex = guard.release();  // the awaiter unlocks it once the wait is queued
  ParkAwaiter park(*this, *mutex, ctx.node()->canceller);
  const Result<void> woken = co_await park;
  if (park.unlocked()) {
    // A named awaiter, not a temporary in the co_await operand (GCC PR 101367).
    auto relock = mutex->lock();
    guard = co_await relock;
  } else {
    guard = Mutex::Guard(*mutex);  // never released
  }
  co_return woken;
}

Task<Result<void>> Cond::wait(Mutex::Guard& guard) {
  return wait(guard, background());
}

void Cond::signal() noexcept {
  lock_.lock();
  detail::WaitNode* n = detail::pop_claimed(waiters_);
  detail::TaskHeader* t = n != nullptr ? n->claim->task : nullptr;
  lock_.unlock();
  // At the back: the waiter's next step is the mutex, which the signaller often holds.
  if (t != nullptr) detail::wake(t, detail::WakeOrder::kBack);
}

void Cond::broadcast() noexcept {
  detail::TaskHeader* batch = nullptr;
  lock_.lock();
  while (detail::WaitNode* n = detail::pop_claimed(waiters_))
    detail::add_to_batch(batch, n);
  lock_.unlock();
  detail::wake_batch(batch);
}

Cond::ParkAwaiter::~ParkAwaiter() {
  // Destroyed while parked (runtime teardown; nothing runs concurrently).
  if (state_ == State::kParked && wait_.node().linked) wait_.withdraw(cond_.lock_, cond_.waiters_);
}

bool Cond::ParkAwaiter::await_suspend(std::coroutine_handle<> self) noexcept {
  Mutex* const mutex = &mutex_;  // step 2 runs after the frame is published
  state_ = State::kParked;
  cond_.lock_.lock();
  if (!wait_.park(cond_.lock_, cond_.waiters_, nullptr, self, "cond wait", [] {})) {
    state_ = State::kNotParked;  // the context ended meanwhile: keep the mutex
    return false;
  }
  // The guard owned the mutex (checked by wait), so this unlock cannot throw.
  mutex->unlock();
  return true;
}

Result<void> Cond::ParkAwaiter::await_resume() noexcept {
  if (state_ == State::kNotParked) return wait_.context_error();
  state_ = State::kDone;
  if (wait_.resumed_by_object()) return {};
  wait_.withdraw(cond_.lock_, cond_.waiters_);
  return wait_.context_error();
}

}  // namespace orca
