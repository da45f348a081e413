// BlockingPool: an elastic set of threads for calls that would block a worker
// (file I/O, SQLite, DNS). A job waits only for a thread: when none is idle a new one
// starts, up to kMaxThreads; a thread idle for kIdleTimeout exits.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "orca/runtime/detail/blocking_job.hpp"

namespace orca::detail {

class BlockingPool {
 public:
  static constexpr std::size_t kMaxThreads = 512;  // Go's default thread limit is 10,000; jobs
                                                   // past 512 queue rather than thrash
  static constexpr std::chrono::seconds kIdleTimeout{10};

  BlockingPool() = default;
  ~BlockingPool() { shutdown(); }

  void submit(BlockingJob* job);
  // Waits for running jobs to finish and joins every thread. Jobs still queued are
  // dropped: their tasks are being torn down with the runtime.
  void shutdown();

  // Jobs submitted and not yet finished (queued or running), for deadlock detection.
  std::int64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_acquire); }
  std::size_t threads() const noexcept { return threads_.load(std::memory_order_relaxed); }

 private:
  void thread_main();

  std::mutex mutex_;
  std::condition_variable ready_;
  BlockingJob* head_ = nullptr;
  BlockingJob* tail_ = nullptr;
  std::size_t idle_ = 0;
  bool stopping_ = false;
  std::condition_variable exited_;       // signalled when a thread leaves during shutdown
  std::atomic<std::size_t> threads_{0};  // threads are detached; this counts them
  std::atomic<std::int64_t> in_flight_{0};
};

}  // namespace orca::detail
