// Once: state changes under lock_; `done_` mirrors kDone for the lock-free fast path.
//   begin():  kIdle -> kRunning (the caller runs the function); else false.
//   finish(): kRunning -> kDone (or back to kIdle if the function threw), then every
//             parked caller wakes in one batch; each re-checks (and one may re-run).
//   wait:     under lock_, parks only while kRunning, so finish() cannot be missed.
#include "orca/sync/once.hpp"

namespace orca {

bool Once::begin() noexcept {
  lock_.lock();
  const bool mine = state_ == State::kIdle;
  if (mine) state_ = State::kRunning;
  lock_.unlock();
  return mine;
}

void Once::finish(bool ran) noexcept {
  detail::TaskHeader* batch = nullptr;
  lock_.lock();
  state_ = ran ? State::kDone : State::kIdle;
  // Release: the function's effects happen before a done() that reads true.
  if (ran) done_.store(true, std::memory_order_release);
  while (detail::WaitNode* n = detail::pop_claimed(waiters_)) {
    detail::add_to_batch(batch, n);
  }
  lock_.unlock();
  detail::wake_list(batch);
}

Once::WaitAwaiter::~WaitAwaiter() {
  // Destroyed while parked (runtime teardown; nothing runs concurrently).
  if (parked_ && wait_.node().linked) wait_.withdraw(once_.lock_, once_.waiters_);
}

bool Once::WaitAwaiter::await_suspend(std::coroutine_handle<> self) noexcept {
  once_.lock_.lock();
  if (once_.state_ != State::kRunning) {  // finished meanwhile: look again
    once_.lock_.unlock();
    return false;
  }
  parked_ = true;
  if (wait_.park(once_.lock_, once_.waiters_, nullptr, self, "once", [] {})) return true;
  parked_ = false;
  return false;
}

Result<void> Once::WaitAwaiter::await_resume() noexcept {
  if (!parked_) {
    if (wait_.context_done()) return wait_.context_error();
    return {};
  }
  parked_ = false;
  if (wait_.resumed_by_object()) return {};
  wait_.withdraw(once_.lock_, once_.waiters_);
  return wait_.context_error();
}

}  // namespace orca
