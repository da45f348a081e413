// BlockingPool: an elastic set of threads for calls that would block a worker
// (file I/O, SQLite, DNS). A job waits only for a thread: when none is idle a new one
// starts, up to kMaxThreads; a thread idle for kIdleTimeout exits.
//
// Every thread is joined: an exiting thread joins the one that exited before it, and
// shutdown() joins the last. So a thread's exit handlers (thread_local destructors,
// OpenSSL's per-thread state) have run when shutdown() returns, not at some moment
// during the process's exit, and an idle period leaves no unjoined thread's stack
// behind.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "orca/runtime/detail/blocking_job.hpp"

namespace orca::detail {

class BlockingPool {
 public:
  static constexpr std::size_t kMaxThreads = 512;  // Go's default thread limit is 10,000; jobs
                                                   // past 512 queue rather than thrash
  static constexpr std::chrono::seconds kIdleTimeout{10};

  explicit BlockingPool(std::chrono::milliseconds idle_timeout = kIdleTimeout) noexcept
      : idle_timeout_(idle_timeout) {}
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
  // Under mutex_, as the calling pool thread leaves: files its handle as the latest
  // exited thread, and returns the one filed before it, for the caller to join once
  // it has unlocked.
  std::thread retire_locked();

  const std::chrono::milliseconds idle_timeout_;
  std::mutex mutex_;
  std::condition_variable ready_;
  BlockingJob* head_ = nullptr;
  BlockingJob* tail_ = nullptr;
  std::size_t idle_ = 0;
  bool stopping_ = false;
  std::condition_variable exited_;       // signalled when a thread leaves during shutdown
  std::atomic<std::size_t> threads_{0};  // threads running thread_main
  std::unordered_map<std::thread::id, std::thread> running_;  // their handles
  std::thread exited_last_;  // the latest thread out, not joined yet
  std::atomic<std::int64_t> in_flight_{0};
};

}  // namespace orca::detail
