#include "blocking_pool.hpp"

#include <utility>

namespace orca::detail {

void BlockingPool::submit(BlockingJob* job) {
  job->next = nullptr;
  // Counted before the job is visible, uncounted only after its task is woken, so
  // the deadlock check never sees a gap.
  in_flight_.fetch_add(1, std::memory_order_acq_rel);
  std::unique_lock lock(mutex_);
  if (tail_ != nullptr) {
    tail_->next = job;
  } else {
    head_ = job;
  }
  tail_ = job;
  if (idle_ > 0) {
    lock.unlock();
    ready_.notify_one();
    return;
  }
  if (threads_.load(std::memory_order_relaxed) < kMaxThreads) {
    threads_.fetch_add(1, std::memory_order_relaxed);
    // Filed under the lock, which the new thread takes before anything else: its
    // handle is in running_ before it could leave.
    std::thread t([this] { thread_main(); });
    const std::thread::id id = t.get_id();
    running_.emplace(id, std::move(t));
  }
}

void BlockingPool::thread_main() {
  std::unique_lock lock(mutex_);
  for (;;) {
    while (head_ == nullptr && !stopping_) {
      ++idle_;
      const bool woke = ready_.wait_for(lock, idle_timeout_, [&] { return head_ || stopping_; });
      --idle_;
      if (!woke) {  // idle too long: leave
        std::thread previous = retire_locked();
        lock.unlock();
        if (previous.joinable()) previous.join();
        return;
      }
    }
    if (stopping_) break;
    BlockingJob* job = head_;
    head_ = job->next;
    if (head_ == nullptr) tail_ = nullptr;
    lock.unlock();
    job->run(job);  // wakes the task; `job` may be gone afterwards
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    lock.lock();
  }
  std::thread previous = retire_locked();
  lock.unlock();
  if (previous.joinable()) previous.join();
}

std::thread BlockingPool::retire_locked() {
  // Under the lock: shutdown() cannot return (and free the pool) before the caller
  // unlocks, and after unlocking the caller touches nothing of the pool.
  auto self = running_.find(std::this_thread::get_id());
  std::thread previous = std::exchange(exited_last_, std::move(self->second));
  running_.erase(self);
  threads_.fetch_sub(1, std::memory_order_relaxed);
  exited_.notify_all();
  return previous;
}

void BlockingPool::shutdown() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  head_ = tail_ = nullptr;
  ready_.notify_all();
  exited_.wait(lock, [&] { return threads_.load(std::memory_order_relaxed) == 0; });
  // Every thread has filed itself and joins the one before it: joining the last one
  // out waits for them all (each finishes its join before it can finish).
  std::thread last = std::move(exited_last_);
  lock.unlock();
  if (last.joinable()) last.join();
}

}  // namespace orca::detail
