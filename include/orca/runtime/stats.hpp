// orca::stats(): a snapshot of the running runtime (Go's runtime.NumGoroutine and
// more). Counters are read without stopping the workers, so the figures of a busy
// runtime are each accurate but not mutually consistent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace orca {

struct WorkerStats {
  std::size_t queue_length = 0;  // local run queue
  std::uint64_t polls = 0;       // task resumptions
  std::uint64_t steals = 0;      // successful steals from other workers
  std::uint64_t parks = 0;       // times the worker went to sleep
  std::int64_t timers_pending = 0;
};

struct RuntimeStats {
  bool running = false;
  std::size_t workers = 0;
  std::int64_t live_tasks = 0;    // started and not finished
  std::int64_t parked_tasks = 0;  // waiting on a timer, channel, join, blocking call...
  std::uint64_t tasks_started = 0;
  std::size_t injection_queue_length = 0;
  std::int64_t timers_pending = 0;
  std::size_t blocking_threads = 0;
  std::int64_t blocking_in_flight = 0;
  std::size_t frame_pool_bytes = 0;  // memory held for coroutine frames
  // Tasks the monitor found holding their worker past the threshold while the
  // worker's other work waited (RunOptions::stuck_task), and the spare threads
  // standing in for held workers right now.
  std::uint64_t held_tasks = 0;
  std::size_t spare_workers = 0;
  // Tasks parked on a socket (the netpoller's waiters).
  std::int64_t netpoll_waiters = 0;
  std::vector<WorkerStats> per_worker;
};

// Safe from any thread; all zero when no runtime is running.
RuntimeStats stats();

}  // namespace orca
