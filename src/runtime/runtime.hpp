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
// Netpoller (src/runtime/netpoller.hpp): one epoll instance per runtime. No thread is
// dedicated to it; workers poll it, as Go's findrunnable does:
//   1. A worker out of local and shared work polls with a zero timeout, unless
//      another worker holds the blocking-poller role (the events will reach that one),
//      and queues what it woke in one batch before its steal passes.
//   2. Parking (above, under the idle lock, after the recheck): if tasks wait on I/O
//      (seq_cst read, after n_idle_'s seq_cst increment) and no worker holds the role,
//      the worker takes it (poller_blocked_ = true, w.polling = true, both under the
//      lock) and blocks in epoll_pwait2 until its earliest timer instead of on its
//      futex. Other idle workers futex-park: at most one worker blocks in epoll.
//   3. wake_worker(w) (called by notify_work/stop under the idle lock, or by
//      timer_armed after reading w.sleep_until, which park() stores after
//      w.polling) writes the eventfd when w.polling, else wakes the futex. The
//      eventfd is level-triggered, so a token written before the poller blocks makes
//      epoll_pwait2 return at once; nothing is lost either way.
//   4. notify_work prefers an idle worker that is not polling: waking the poller
//      would leave nobody watching the sockets.
//   5. Back from epoll_pwait2, the poller drains the eventfd (only the blocking poller
//      does: a zero-timeout poll must not eat its token), retakes the idle lock,
//      gives up the role and its idle entry (or counts as a spinner if a producer
//      took it off the list), queues the woken tasks in one batch, and only then
//      subtracts them from the I/O waiter count.
//   6. The first I/O waiter (count 0 -> 1, seq_cst) wakes an idle worker when nobody
//      holds the role (seq_cst read of n_idle_): either that wake happens or the
//      parking worker of step 2 sees the waiter. So a socket is always watched by a
//      blocking poller or by a worker that will poll when it runs out of work.
//
// Deadlock: the last worker to go idle, holding the idle lock, finds every queue
// empty, no timer pending, no task waiting on I/O, no blocking call in flight and no
// external waker: then no task can ever run again, and run() fails with the list of
// parked tasks.
//
// Spare workers (Go hands off a P when its M blocks): a task cannot be preempted, so
// one that computes or blocks without suspending holds its worker. The monitor
// (sysmon.hpp) then activates one of `workers` spare Worker slots on a thread of its
// own. An active spare is an ordinary worker: it steals the held worker's queue,
// fires every shard's timers and takes the poller role. Differences, all because
// the held worker may wake up at any moment and keep using its own state:
//   1. the held worker keeps its `next` slot (owner-only, not stealable);
//   2. a spare arms timers on the foreign shard, so it owns no timers when it retires;
//   3. a spare retires in park() (queue empty, no poller role) once the worker it
//      stands in for has moved on; retiring and activating change n_active_ under
//      the idle lock, so the deadlock check compares n_idle_ with n_active_.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>

#include "blocking_pool.hpp"
#include "local_run_queue.hpp"
#include "netpoller.hpp"
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
  // True while this worker holds the blocking-poller role (set and cleared under the
  // idle lock; read by wake_worker to pick the eventfd over the futex).
  std::atomic<bool> polling{false};
  std::atomic<std::uint64_t> sleep_until{kNever};
  TimerShard timers;
  WorkerCounters counters;

  // What the monitor reads (owner stores, relaxed: a stale value delays a decision
  // by one monitor pass, nothing more): the task running now (0 between tasks), and
  // a count bumped each time the worker runs out of queued work.
  alignas(64) std::atomic<std::uint64_t> running_id{0};
  std::atomic<std::uint64_t> out_of_work{0};
  std::atomic<pthread_t> thread{};
  // Spare slots only (see "Spare workers" above). `active` and `covering` change
  // under the idle lock; `covering` is the worker this spare stands in for, and
  // `covered_polls` that worker's poll count when the spare was activated.
  bool spare = false;
  std::atomic<bool> active{true};
  std::atomic<Worker*> covering{nullptr};
  std::atomic<std::uint64_t> covered_polls{0};
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
  Netpoller& netpoller() noexcept { return netpoll_; }
  // The I/O waiter count went from 0 to 1 (protocol step 6 above).
  void poke_poller() noexcept;
  std::atomic<std::int64_t>& external_wakers() noexcept { return external_wakers_; }
  // Every slot: the `worker_count()` workers first, then as many spare slots.
  const std::vector<std::unique_ptr<Worker>>& workers() const noexcept { return workers_; }
  unsigned worker_count() const noexcept { return n_workers_; }

  // Monitor entry points (sysmon.hpp). Activates a spare for `held` and starts its
  // thread if it has none; returns the spare, or null when none is free or the
  // runtime is stopping.
  Worker* activate_spare(Worker& held);
  // Makes an idle spare look again, so that it retires if its worker has moved on.
  void nudge_spare(Worker& spare) noexcept;
  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  int idle_workers() const noexcept { return n_idle_.load(std::memory_order_relaxed); }
  // Tasks the monitor reported for holding a worker (RuntimeStats::held_tasks).
  std::atomic<std::uint64_t>& held_tasks() noexcept { return held_tasks_; }
  int active_spares() const noexcept {
    return n_active_.load(std::memory_order_relaxed) - static_cast<int>(n_workers_);
  }
  const InjectionQueue& injection() const noexcept { return injection_; }

  // Distinguishes successive runs, even of runtimes at the same address.
  std::uint64_t generation() const noexcept { return generation_; }

  static Runtime* current() noexcept { return current_.load(std::memory_order_acquire); }

 private:
  void worker_main(Worker& w);
  void spare_main(Worker& w);
  bool spare_should_retire(const Worker& w) const noexcept;
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
  // Queues tasks woken by a poll and then drops them from the waiter count.
  void queue_polled(const Netpoller::Polled& polled) noexcept;

  std::vector<std::unique_ptr<Worker>> workers_;
  unsigned n_workers_ = 0;
  // Workers plus active spares (changed under idle_mutex_).
  std::atomic<int> n_active_{0};
  // Threads of the spare slots, started by the monitor on first use (only the
  // monitor thread touches this until run() joins them).
  std::vector<std::thread> spare_threads_;
  std::atomic<std::uint64_t> held_tasks_{0};
  InjectionQueue injection_;
  BlockingPool blocking_;
  WorkerCounters foreign_counters_;  // tasks spawned or woken from non-worker threads

  alignas(64) std::atomic<int> n_spinning_{0};
  alignas(64) std::atomic<int> n_idle_{0};
  std::mutex idle_mutex_;
  std::vector<Worker*> idle_;
  std::atomic<bool> stopping_{false};
  Netpoller netpoll_;
  // A worker blocks in epoll_pwait2 (written under idle_mutex_; read relaxed by
  // busy workers deciding whether to poll themselves: a stale value costs one
  // needless or one skipped zero-timeout poll, never a lost event).
  std::atomic<bool> poller_blocked_{false};
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
