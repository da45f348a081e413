// Semaphore: everything under one SpinLock; waiters are served strictly in order.
#include "orca/sync/semaphore.hpp"

#include <stdexcept>

namespace orca {

Semaphore::Semaphore(std::int64_t size) : size_(size) {
  if (size < 0) throw std::invalid_argument("orca::Semaphore: negative size");
}

bool Semaphore::try_acquire(std::int64_t n) noexcept {
  if (n < 0) return false;
  lock_.lock();
  const bool ok = waiters_.empty() && size_ - held_ >= n;
  if (ok) held_ += n;
  lock_.unlock();
  return ok;
}

std::int64_t Semaphore::available() noexcept {
  lock_.lock();
  const std::int64_t free = size_ - held_;
  lock_.unlock();
  return free;
}

void Semaphore::release(std::int64_t n) {
  detail::TaskHeader* batch = nullptr;
  lock_.lock();
  if (n < 0 || n > held_) {
    lock_.unlock();
    throw std::logic_error("orca::Semaphore: released more than held");
  }
  held_ -= n;
  admit_locked(batch);
  lock_.unlock();
  detail::wake_batch(batch);
}

void Semaphore::admit_locked(detail::TaskHeader*& batch) noexcept {
  while (detail::WaitNode* n = waiters_.front()) {
    const std::int64_t want = *static_cast<const std::int64_t*>(n->slot);
    if (size_ - held_ < want) return;  // FIFO: the front waiter blocks the rest
    waiters_.remove(n);
    if (!n->claim->try_claim(n->index)) continue;  // its context won: it leaves
    held_ += want;
    detail::add_to_batch(batch, n);
  }
}

void Semaphore::withdraw(detail::WaitNode& node) noexcept {
  detail::TaskHeader* batch = nullptr;
  lock_.lock();
  const bool was_front = waiters_.front() == &node;
  waiters_.remove(&node);
  if (was_front) admit_locked(batch);  // those behind it may fit now
  lock_.unlock();
  detail::wake_batch(batch);
}

bool Semaphore::AcquireAwaiter::await_suspend(std::coroutine_handle<> self) noexcept {
  if (state_ != State::kPending) {  // completed in await_ready; the budget is spent
    detail::yield_current(self);
    return true;
  }
  sem_.lock_.lock();
  if (sem_.waiters_.empty() && sem_.size_ - sem_.held_ >= n_) {
    sem_.held_ += n_;
    sem_.lock_.unlock();
    state_ = State::kAcquired;
    return detail::suspend_if_budget_spent(self);
  }
  if (wait_.park(sem_.lock_, sem_.waiters_, &n_, self, "semaphore acquire", [] {})) return true;
  state_ = State::kCanceled;
  return false;
}

}  // namespace orca
