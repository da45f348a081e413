// BlockingPool (src/runtime/blocking_pool.hpp), driven directly: threads that leave
// when idle are joined, and when shutdown() returns every thread the pool ever ran
// has finished its exit, thread_local destructors included (OpenSSL frees its
// per-thread state there; a destructor still running during the process's exit is a
// race with the process's own exit handlers).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "../../src/runtime/blocking_pool.hpp"

namespace {

using namespace std::chrono_literals;
using orca::detail::BlockingJob;
using orca::detail::BlockingPool;

std::atomic<int> pool_thread_exits{0};

// One per pool thread that ran a job; counts the thread's exit when destroyed.
struct PoolThreadExitCounter {
  bool touched = false;
  ~PoolThreadExitCounter() {
    if (touched) pool_thread_exits.fetch_add(1);
  }
};
thread_local PoolThreadExitCounter pool_thread_exit_counter;

// A job that marks its thread, then waits until `release` lets every job of its
// group go (so that a group of N jobs needs N threads at once).
struct GroupJob : BlockingJob {
  std::mutex* mu = nullptr;
  std::condition_variable* cv = nullptr;
  int* started = nullptr;
  bool* release = nullptr;
  std::atomic<int>* done = nullptr;
};

void run_group_job(BlockingJob* base) noexcept {
  auto* job = static_cast<GroupJob*>(base);
  pool_thread_exit_counter.touched = true;
  {
    std::unique_lock lock(*job->mu);
    ++*job->started;
    job->cv->notify_all();
    job->cv->wait(lock, [&] { return *job->release; });
  }
  job->done->fetch_add(1);
}

// Runs `n` jobs that hold `n` threads at once; returns when all have finished.
void run_group(BlockingPool& pool, int n) {
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  bool release = false;
  std::atomic<int> done{0};
  std::vector<GroupJob> jobs(static_cast<std::size_t>(n));
  for (GroupJob& j : jobs) {
    j.run = run_group_job;
    j.mu = &mu;
    j.cv = &cv;
    j.started = &started;
    j.release = &release;
    j.done = &done;
    pool.submit(&j);
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return started == n; });
    release = true;
    cv.notify_all();
  }
  while (done.load() != n)
    std::this_thread::yield();
}

TEST(BlockingPool, ThreadsThatLeaveWhenIdleAndAtShutdownHaveAllExitedWhenShutdownReturns) {
  pool_thread_exits.store(0);
  {
    BlockingPool pool(20ms);  // idle threads leave after 20 ms
    run_group(pool, 3);       // three threads at once
    // All three leave when idle; each joins the one that left before it.
    while (pool.threads() != 0)
      std::this_thread::sleep_for(5ms);
    // New threads after the idle ones left, still running at shutdown.
    run_group(pool, 2);
    pool.shutdown();
    EXPECT_EQ(pool.threads(), 0u);
    EXPECT_EQ(pool_thread_exits.load(), 5)
        << "every pool thread's thread_local destructors ran before shutdown() returned";
  }
}

TEST(BlockingPool, ShutdownOfAPoolThatNeverRanAThreadReturnsAtOnceAndTwice) {
  BlockingPool pool;
  pool.shutdown();
  pool.shutdown();
  EXPECT_EQ(pool.threads(), 0u);
}

}  // namespace
