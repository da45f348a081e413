#include "blocking_pool.hpp"

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
    std::thread([this] { thread_main(); }).detach();
  }
}

void BlockingPool::thread_main() {
  std::unique_lock lock(mutex_);
  for (;;) {
    while (head_ == nullptr && !stopping_) {
      ++idle_;
      const bool woke = ready_.wait_for(lock, kIdleTimeout, [&] { return head_ || stopping_; });
      --idle_;
      if (!woke) {
        threads_.fetch_sub(1, std::memory_order_relaxed);  // idle too long: leave
        exited_.notify_all();
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
  // Under the lock: shutdown() cannot return (and free the pool) before we unlock,
  // and after unlocking this thread touches nothing of the pool.
  threads_.fetch_sub(1, std::memory_order_relaxed);
  exited_.notify_all();
}

void BlockingPool::shutdown() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  head_ = tail_ = nullptr;
  ready_.notify_all();
  exited_.wait(lock, [&] { return threads_.load(std::memory_order_relaxed) == 0; });
}

}  // namespace orca::detail
