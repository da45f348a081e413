// Runtime: the M:N work-stealing scheduler that runs orca tasks.
//
// Each worker thread owns a LocalRunQueue, a LIFO `next` slot for the task it just
// woke, and a TimerShard. Runnable tasks that no worker owns (spawned or woken from
// outside, local overflow) go to the shared InjectionQueue.
//
// Finding work (Worker loop), in order:
//   1. every 61st tick, one task from the injection queue (so it is never starved);
//   2. the `next` slot, at most kMaxNextStreak times in a row;
//   3. the local queue;
//   4. due timers of the own shard;
//   5. a batch from the injection queue;
//   6. spinning: steal half of a random victim's queue, a few passes; at most half
//      of the busy workers spin at once;
//   7. park.
//
// Parking handshake (no lost wake-ups):
//   worker: lock idle list; n_idle++ (seq_cst); recheck every queue; if empty sleep
//           on its futex word; the recheck is under the idle lock, so a worker that
//           counts as idle has not taken work.
//   producer: publish the task (release); seq_cst fence; if no worker spins and one
//           is idle, wake one, which starts out spinning.
// Either the producer sees the idle count or the worker's recheck sees the task.
//
// Deadlock: the last worker to go idle, holding the idle lock, finds every queue
// empty, no timer pending, no blocking call in flight and no external waker: then no
// task can ever run again, and run() fails with the list of parked tasks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "blocking_pool.hpp"
#include "local_run_queue.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/detail/task_header.hpp"
#include "orca/runtime/run_options.hpp"
#include "timer_wheel.hpp"

namespace orca::detail {

// Counters a worker bumps for itself; others read them relaxed for stats().
struct WorkerCounters {
  std::atomic<std::uint64_t> spawned{0};
  std::atomic<std::uint64_t> finished{0};
  std::atomic<std::uint64_t> polls{0};
  std::atomic<std::uint64_t> steals{0};
  std::atomic<std::uint64_t> parks{0};
  // Parks minus wakes observed on this thread; only the sum over threads is meaningful.
  std::atomic<std::int64_t> parked_delta{0};
};

struct Worker {
  unsigned index = 0;
  LocalRunQueue runq;
  // Owner only.
  TaskHeader* next_slot = nullptr;
  unsigned next_streak = 0;
  std::uint32_t tick = 0;
  std::uint64_t rng = 0;
  bool spinning = false;
  // Idle bookkeeping (guarded by Runtime::idle_mutex_ except the futex word).
  bool idle = false;
  alignas(64) std::atomic<std::uint32_t> wake_word{0};
  std::atomic<std::uint64_t> sleep_until{kNever};
  TimerShard timers;
  WorkerCounters counters;
};

// The runnable tasks nobody owns: a locked FIFO of pointers. An array, not a list
// through the headers: moving a batch then copies pointers instead of chasing one
// cold header after another.
class InjectionQueue {
 public:
  void push(TaskHeader* const* tasks, std::size_t n) noexcept;
  // Pushes a list linked through TaskHeader::next.
  void push_list(TaskHeader* first) noexcept;
  // Pops up to `max` tasks into `out`; returns the count.
  std::size_t pop_batch(TaskHeader** out, std::size_t max) noexcept;
  TaskHeader* pop() noexcept {
    TaskHeader* t = nullptr;
    return pop_batch(&t, 1) == 1 ? t : nullptr;
  }
  std::size_t size() const noexcept { return size_.load(std::memory_order_acquire); }

 private:
  std::mutex mutex_;
  std::deque<TaskHeader*> tasks_;
  std::atomic<std::size_t> size_{0};
};

class Runtime {
 public:
  explicit Runtime(unsigned workers);
  ~Runtime();

  // Runs the entry task (already allocated, refs held by the caller) on the calling
  // thread plus workers-1 others, until it finishes or the runtime deadlocks.
  // Returns the deadlock report, empty if none.
  std::string run(TaskHeader* entry, const RunOptions& options);

  // Scheduling entry points (see scheduling.hpp).
  void schedule(TaskHeader* task, bool from_wake, WakeOrder order) noexcept;
  void schedule_list(TaskHeader* first) noexcept;
  void notify_work() noexcept;
  void timer_armed(std::uint64_t tick) noexcept;

  TimerShard& foreign_timer_shard() noexcept { return workers_[0]->timers; }
  BlockingPool& blocking() noexcept { return blocking_; }
  WorkerCounters& foreign_counters() noexcept { return foreign_counters_; }
  std::atomic<std::int64_t>& external_wakers() noexcept { return external_wakers_; }
  const std::vector<std::unique_ptr<Worker>>& workers() const noexcept { return workers_; }
  const InjectionQueue& injection() const noexcept { return injection_; }

  // Distinguishes successive runs, even of runtimes at the same address.
  std::uint64_t generation() const noexcept { return generation_; }

  static Runtime* current() noexcept { return current_.load(std::memory_order_acquire); }

 private:
  void worker_main(Worker& w);
  TaskHeader* find_runnable(Worker& w);
  void run_task(Worker& w, TaskHeader* task);
  void complete(TaskHeader* task);
  void push_local(Worker& w, TaskHeader* task) noexcept;
  TaskHeader* steal(Worker& w);
  bool run_due_timers(Worker& w, bool all_shards);
  void park(Worker& w);
  bool work_visible() const noexcept;
  bool deadlocked_locked() const noexcept;
  void wake_worker(Worker& w) noexcept;
  void stop() noexcept;
  std::uint64_t earliest_timer() const noexcept;

  std::vector<std::unique_ptr<Worker>> workers_;
  InjectionQueue injection_;
  BlockingPool blocking_;
  WorkerCounters foreign_counters_;  // tasks spawned or woken from non-worker threads

  alignas(64) std::atomic<int> n_spinning_{0};
  alignas(64) std::atomic<int> n_idle_{0};
  std::mutex idle_mutex_;
  std::vector<Worker*> idle_;
  std::atomic<bool> stopping_{false};
  bool deadlocked_ = false;  // guarded by idle_mutex_
  std::atomic<std::int64_t> external_wakers_{0};
  TaskHeader* entry_ = nullptr;
  std::uint64_t generation_ = 0;

  static std::atomic<Runtime*> current_;
};

// Monotonic ticks since the process-wide epoch.
std::uint64_t now_tick() noexcept;
std::uint64_t tick_of(std::chrono::steady_clock::time_point tp) noexcept;

}  // namespace orca::detail
