#include "runtime.hpp"

#include "sysmon.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "orca/runtime/detail/frame_allocator.hpp"
#include "orca/runtime/detail/perturb.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/detail/timer.hpp"
#include "orca/runtime/detail/wait_node.hpp"

namespace orca::detail {

std::atomic<Runtime*> Runtime::current_{nullptr};

namespace {

// A woken task may run from the `next` slot this many times in a row before the
// worker goes back to its queue (ping-pong pairs would otherwise starve the rest).
constexpr unsigned kMaxNextStreak = 3;
// Go checks the global queue every 61 ticks: prime, so it does not fall into step
// with periodic task patterns.
constexpr std::uint32_t kInjectionCheckInterval = 61;
// Steal passes over all victims before a spinning worker gives up and parks.
constexpr int kStealPasses = 4;
// Stack growth past which transfer_to() stops nesting and trampolines through the
// worker loop; far below the 8 MiB thread stacks, far above one resume's frame.
constexpr std::ptrdiff_t kMaxNestedStack = 128 * 1024;

struct ThreadState {
  Runtime* rt = nullptr;
  Worker* worker = nullptr;
  TaskHeader* current = nullptr;
  char* stack_base = nullptr;
  enum class After : std::uint8_t {
    kNothing,
    kResumeAgain,
    kYield,
    kFinish
  } after = After::kNothing;
  int budget = 0;
  // While timers fire, wake-ups only queue tasks; one notification follows.
  bool batching_wakes = false;
  bool wake_pending = false;
  // Work that timer callbacks handed over, run once the wheel is unlocked.
  std::vector<std::pair<void (*)(void*), void*>> deferred;
};
thread_local ThreadState tls;

const std::chrono::steady_clock::time_point kEpoch = std::chrono::steady_clock::now();

// The relative timeout until `until_tick` in `ts`; null for kNever. Sets `passed`
// when the tick is already due.
timespec* timeout_until(std::uint64_t until_tick, timespec& ts, bool& passed) {
  passed = false;
  if (until_tick == kNever) return nullptr;
  const std::uint64_t now =
      static_cast<std::uint64_t>((std::chrono::steady_clock::now() - kEpoch).count());
  const std::uint64_t target = until_tick * kTickNs;
  const std::uint64_t rel = target > now ? target - now : 0;
  passed = rel == 0;
  ts.tv_sec = static_cast<time_t>(rel / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(rel % 1'000'000'000);
  return &ts;
}

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::uint64_t until_tick) {
  timespec ts{};
  bool passed = false;
  timespec* timeout = timeout_until(until_tick, ts, passed);
  if (passed) return;
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, timeout,
          nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr,
          nullptr, 0);
}

std::uint64_t xorshift(std::uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// Adds to one of this thread's counters. A worker's counters have a single writer
// (their worker), so a plain load and store suffice and spare a locked
// instruction on every spawn, park and wake; other threads share the foreign set
// and need the atomic add.
template <class T>
void bump(std::atomic<T> WorkerCounters::*counter, T delta) {
  if (tls.worker != nullptr) {
    std::atomic<T>& c = tls.worker->counters.*counter;
    c.store(c.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  } else {
    (Runtime::current()->foreign_counters().*counter).fetch_add(delta, std::memory_order_relaxed);
  }
}

}  // namespace

std::uint64_t now_tick() noexcept {
  return static_cast<std::uint64_t>((std::chrono::steady_clock::now() - kEpoch).count()) / kTickNs;
}

std::uint64_t tick_of(std::chrono::steady_clock::time_point tp) noexcept {
  if (tp <= kEpoch) return 0;
  const auto ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(tp - kEpoch).count());
  return (ns + kTickNs - 1) / kTickNs;  // round up: a timer never fires early
}

// ---------------------------------------------------------------- InjectionQueue

void InjectionQueue::push(TaskHeader* const* tasks, std::size_t n) noexcept {
  std::lock_guard lock(mutex_);
  tasks_.insert(tasks_.end(), tasks, tasks + n);
  size_.fetch_add(n, std::memory_order_release);
}

void InjectionQueue::push_list(TaskHeader* first) noexcept {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (TaskHeader* t = first; t != nullptr; t = t->next, ++n)
    tasks_.push_back(t);
  size_.fetch_add(n, std::memory_order_release);
}

std::size_t InjectionQueue::pop_batch(TaskHeader** out, std::size_t max) noexcept {
  std::lock_guard lock(mutex_);
  const std::size_t n = std::min(max, tasks_.size());
  std::copy_n(tasks_.begin(), n, out);
  tasks_.erase(tasks_.begin(), tasks_.begin() + static_cast<std::ptrdiff_t>(n));
  size_.fetch_sub(n, std::memory_order_release);
  return n;
}

// ---------------------------------------------------------------- Runtime

Runtime::Runtime(unsigned workers) {
  if (workers == 0) workers = 1;
  n_workers_ = workers;
  n_active_.store(static_cast<int>(workers), std::memory_order_relaxed);
  // One spare slot per worker: enough to stand in for every worker at once.
  workers_.reserve(2 * workers);
  for (unsigned i = 0; i < 2 * workers; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    w->rng = 0x9E3779B97F4A7C15ull * (i + 1);
    if (i >= workers) {
      w->spare = true;
      w->active.store(false, std::memory_order_relaxed);
    }
    workers_.push_back(std::move(w));
  }
  spare_threads_.resize(workers);
}

Runtime::~Runtime() = default;

void Runtime::push_local(Worker& w, TaskHeader* task) noexcept {
  while (!w.runq.push(task)) {
    // Full: move half of it plus nothing else to the shared queue, then retry.
    std::array<TaskHeader*, LocalRunQueue::kCapacity / 2> half;
    const std::uint32_t n = w.runq.take_half(half);
    if (n > 0) injection_.push(half.data(), n);
  }
}

void Runtime::schedule(TaskHeader* task, bool from_wake, WakeOrder order) noexcept {
  task->state.store(TaskState::kRunnable, std::memory_order_relaxed);
  Worker* w = tls.rt == this ? tls.worker : nullptr;
  if (w == nullptr) {
    injection_.push(&task, 1);
    notify_work();
    return;
  }
  if (from_wake && order == WakeOrder::kNext && tls.current != nullptr) {
    // Hand-off: the woken task runs as soon as the waker suspends. The slot is not
    // stealable, so nobody else needs waking unless it displaced a task.
    TaskHeader* displaced = std::exchange(w->next_slot, task);
    if (displaced == nullptr) return;
    task = displaced;
  }
  push_local(*w, task);
  notify_work();
}

void Runtime::schedule_list(TaskHeader* first) noexcept {
  Worker* w = tls.rt == this ? tls.worker : nullptr;
  if (w == nullptr) {
    for (TaskHeader* t = first; t != nullptr; t = t->next)
      t->state.store(TaskState::kRunnable, std::memory_order_relaxed);
    injection_.push_list(first);
  } else {
    for (TaskHeader* t = first; t != nullptr;) {
      TaskHeader* next = t->next;
      t->state.store(TaskState::kRunnable, std::memory_order_relaxed);
      push_local(*w, t);
      t = next;
    }
  }
  notify_work();
}

void Runtime::notify_work() noexcept {
  // From another thread: read both counters with seq_cst read-modify-writes, which
  // are ordered with the RMWs by which park() counts a worker idle and steal()/park()
  // stop counting a spinner, each followed by a last look at the queues. So either we
  // see the idle worker (or the spinner) or it sees the task we just published. (An
  // RMW rather than a fence: TSan does not model fences.) A worker skips this (the
  // cost of a spawn is otherwise dominated by it): whatever it queued it will run
  // itself if nobody else does, so a missed wake-up costs parallelism until its next
  // push, never progress (Go makes the same trade).
  int spinning = 0;
  int idle = 0;
  if (tls.rt != this) {
    spinning = n_spinning_.fetch_add(0, std::memory_order_seq_cst);
    idle = n_idle_.fetch_add(0, std::memory_order_seq_cst);
  } else if (tls.batching_wakes) {
    tls.wake_pending = true;  // run_due_timers notifies once for the whole batch
    return;
  } else {
    spinning = n_spinning_.load(std::memory_order_relaxed);
    idle = n_idle_.load(std::memory_order_relaxed);
  }
  if (spinning != 0 || idle == 0) return;
  Worker* w = nullptr;
  {
    std::lock_guard lock(idle_mutex_);
    if (idle_.empty() || n_spinning_.load(std::memory_order_relaxed) != 0) return;
    // Prefer a futex sleeper: the worker blocked in epoll keeps watching the sockets
    // (protocol step 4 in runtime.hpp).
    auto it = std::find_if(idle_.rbegin(), idle_.rend(),
                           [](Worker* x) { return !x->polling.load(std::memory_order_relaxed); });
    if (it == idle_.rend()) it = idle_.rbegin();
    w = *it;
    idle_.erase(std::next(it).base());
    w->idle = false;
    n_idle_.fetch_sub(1, std::memory_order_seq_cst);
    // The woken worker starts out spinning, so further producers do not wake more.
    n_spinning_.fetch_add(1, std::memory_order_seq_cst);
  }
  wake_worker(*w);
}

void Runtime::wake_worker(Worker& w) noexcept {
  w.wake_word.store(1, std::memory_order_release);
  // Acquire: pairs with park()'s release store of sleep_until, which follows the
  // store of `polling` (timer_armed reads sleep_until without the idle lock).
  if (w.polling.load(std::memory_order_acquire)) {
    netpoll_.interrupt();
  } else {
    futex_wake(w.wake_word);
  }
}

void Runtime::poke_poller() noexcept {
  // The first I/O waiter: if nobody blocks in epoll, make sure an idle worker comes
  // round to take the role (protocol step 6); a busy worker might not run out of
  // work for a long time.
  if (poller_blocked_.load(std::memory_order_seq_cst)) return;
  if (n_idle_.load(std::memory_order_seq_cst) == 0) return;
  notify_work();
}

void Runtime::queue_polled(const Netpoller::Polled& polled) noexcept {
  if (polled.ready != nullptr) wake_list(polled.ready);
  netpoll_.remove_waiters(polled.removed);
}

void Runtime::timer_armed(std::uint64_t tick) noexcept {
  // An idle worker sleeping past the new deadline recomputes its timeout.
  for (auto& w : workers_) {
    if (w->sleep_until.load(std::memory_order_acquire) > tick &&
        w->sleep_until.load(std::memory_order_acquire) != kNever) {
      wake_worker(*w);
      return;
    }
  }
  // No sleeper has a deadline; a worker sleeping without one must look too.
  if (n_idle_.load(std::memory_order_acquire) > 0 &&
      n_idle_.load(std::memory_order_acquire) == n_active_.load(std::memory_order_acquire)) {
    std::lock_guard lock(idle_mutex_);
    if (!idle_.empty()) wake_worker(*idle_.back());
  } else if (tls.rt != this) {
    std::lock_guard lock(idle_mutex_);
    if (!idle_.empty()) wake_worker(*idle_.back());
  }
}

void Runtime::stop() noexcept {
  stopping_.store(true, std::memory_order_seq_cst);
  std::lock_guard lock(idle_mutex_);
  for (auto& w : workers_)
    wake_worker(*w);
}

bool Runtime::work_visible() const noexcept {
  if (injection_.size() > 0) return true;
  for (const auto& w : workers_)
    if (!w->runq.empty()) return true;
  return false;
}

std::uint64_t Runtime::earliest_timer() const noexcept {
  std::uint64_t earliest = kNever;
  for (const auto& w : workers_)
    earliest = std::min(earliest, w->timers.next_expiry.load(std::memory_order_acquire));
  return earliest;
}

bool Runtime::deadlocked_locked() const noexcept {
  if (n_idle_.load(std::memory_order_seq_cst) != n_active_.load(std::memory_order_relaxed))
    return false;
  if (stopping_.load(std::memory_order_acquire)) return false;
  if (external_wakers_.load(std::memory_order_acquire) != 0) return false;
  // Blocking calls first: one finishing pushes its task before it stops counting.
  if (blocking_.in_flight() != 0) return false;
  // A task parked on a socket waits for the outside world, like one on a timer.
  if (netpoll_.waiters() != 0) return false;
  for (const auto& w : workers_)
    if (w->timers.pending.load(std::memory_order_acquire) != 0) return false;
  return !work_visible();
}

bool Runtime::run_due_timers(Worker& w, bool all_shards) {
  const std::uint64_t now = now_tick();
  bool fired = false;
  // A storm of expiring timers wakes one task each: queue them all here, and
  // notify an idle worker once at the end instead of once per timer.
  tls.batching_wakes = true;
  auto run_shard = [&](TimerShard& s, bool wait_for_lock) {
    if (s.next_expiry.load(std::memory_order_acquire) > now) return;
    std::unique_lock lock(s.mutex, std::defer_lock);
    if (wait_for_lock) {
      lock.lock();
    } else if (!lock.try_lock()) {
      return;  // its owner or another idle worker is on it
    }
    fired |= s.wheel.advance(now) > 0;
    s.publish();
    lock.unlock();
    // Swap out first: a deferred job may fire more timers through its own work.
    if (!tls.deferred.empty()) {
      std::vector<std::pair<void (*)(void*), void*>> jobs;
      jobs.swap(tls.deferred);
      for (auto [fn, arg] : jobs)
        fn(arg);
    }
  };
  if (!all_shards) {
    run_shard(w.timers, true);
  } else {
    for (auto& other : workers_)
      run_shard(other->timers, other.get() == &w);
  }
  tls.batching_wakes = false;
  if (std::exchange(tls.wake_pending, false)) notify_work();
  return fired;
}

TaskHeader* Runtime::steal(Worker& w) {
  const int n = static_cast<int>(workers_.size());
  const int active = n_active_.load(std::memory_order_relaxed);
  if (active == 1) return nullptr;
  if (!w.spinning) {
    // At most half of the busy workers search at once; the rest park at once.
    const int busy = active - n_idle_.load(std::memory_order_relaxed);
    if (2 * n_spinning_.load(std::memory_order_relaxed) >= busy) return nullptr;
    w.spinning = true;
    n_spinning_.fetch_add(1, std::memory_order_seq_cst);
  }
  for (int pass = 0; pass < kStealPasses; ++pass) {
    const auto start = static_cast<int>(xorshift(w.rng) % static_cast<std::uint64_t>(n));
    for (int i = 0; i < n; ++i) {
      Worker& victim = *workers_[(start + i) % n];
      if (&victim == &w || !victim.active.load(std::memory_order_relaxed)) continue;
      if (TaskHeader* t = victim.runq.steal_into(w.runq)) {
        bump(&WorkerCounters::steals, std::uint64_t{1});
        return t;
      }
    }
    if (injection_.size() > 0) {
      if (TaskHeader* t = injection_.pop()) return t;
    }
    for (int spin = 0; spin < 32; ++spin)
      cpu_relax();
  }
  return nullptr;
}

void Runtime::park(Worker& w) {
  if (w.spinning) {
    // Stop counting as a spinner before the last look, else a producer could skip
    // waking anyone while we go to sleep (Go's "delicate dance").
    w.spinning = false;
    n_spinning_.fetch_sub(1, std::memory_order_seq_cst);
    if (work_visible()) return;
  }
  const std::uint64_t until = earliest_timer();
  bool polling = false;
  {
    std::unique_lock lock(idle_mutex_);
    if (stopping_.load(std::memory_order_acquire)) return;
    if (w.spare && spare_should_retire(w)) {
      // Its queue is empty (find_runnable got here) and it owns no timers (they go
      // to the foreign shard): nothing is left behind.
      w.active.store(false, std::memory_order_relaxed);
      w.covering.store(nullptr, std::memory_order_relaxed);
      n_active_.fetch_sub(1, std::memory_order_seq_cst);
      // A worker that parks sleeps until the earliest timer it saw and takes the
      // poller role if sockets wait; a timer this spare armed, or the role it held,
      // is noticed by nobody asleep before it: wake one to park again and look.
      if (!idle_.empty()) {
        Worker* other = idle_.back();
        idle_.pop_back();
        other->idle = false;
        n_idle_.fetch_sub(1, std::memory_order_seq_cst);
        n_spinning_.fetch_add(1, std::memory_order_seq_cst);  // as notify_work counts it
        wake_worker(*other);
      }
      // The others may all have gone idle while this spare still counted as active:
      // the deadlock check is then this spare's to make.
      if (deadlocked_locked()) {
        deadlocked_ = true;
        lock.unlock();
        stop();
      }
      return;
    }
    w.idle = true;
    idle_.push_back(&w);
    n_idle_.fetch_add(1, std::memory_order_seq_cst);
    w.wake_word.store(0, std::memory_order_relaxed);
    const bool timer_due = until != kNever && until <= now_tick();
    if (work_visible() || timer_due) {
      idle_.erase(std::find(idle_.begin(), idle_.end(), &w));
      w.idle = false;
      n_idle_.fetch_sub(1, std::memory_order_seq_cst);
      return;
    }
    if (deadlocked_locked()) {
      deadlocked_ = true;
      idle_.erase(std::find(idle_.begin(), idle_.end(), &w));
      w.idle = false;
      n_idle_.fetch_sub(1, std::memory_order_seq_cst);
      lock.unlock();
      stop();
      return;
    }
    // Protocol step 2: the blocking-poller role, if tasks wait on I/O and nobody
    // holds it. Relaxed stores: the idle lock orders them for notify_work and stop;
    // timer_armed reaches `polling` through sleep_until's release below.
    polling = !poller_blocked_.load(std::memory_order_relaxed) && netpoll_.waiters() != 0;
    if (polling) {
      poller_blocked_.store(true, std::memory_order_relaxed);
      w.polling.store(true, std::memory_order_relaxed);
    }
    w.sleep_until.store(until, std::memory_order_release);
  }
  bump(&WorkerCounters::parks, std::uint64_t{1});
  Netpoller::Polled polled;
  if (polling) {
    timespec ts{};
    bool passed = false;
    const timespec* timeout = timeout_until(until, ts, passed);
    polled = netpoll_.poll(true, timeout);
  } else {
    futex_wait(w.wake_word, 0, until);
  }
  w.sleep_until.store(kNever, std::memory_order_release);
  {
    std::lock_guard lock(idle_mutex_);
    if (polling) {
      w.polling.store(false, std::memory_order_relaxed);
      poller_blocked_.store(false, std::memory_order_relaxed);
    }
    if (w.idle) {
      // Timeout, an event or a poke: still on the idle list; take ourselves off.
      idle_.erase(std::find(idle_.begin(), idle_.end(), &w));
      w.idle = false;
      n_idle_.fetch_sub(1, std::memory_order_seq_cst);
    } else {
      w.spinning = true;  // notify_work() counted us as spinning
    }
  }
  // Step 5: queued after leaving the idle list, so the tasks are in a queue before
  // the waiter count drops (the deadlock check sees one or the other).
  queue_polled(polled);
}

TaskHeader* Runtime::find_runnable(Worker& w) {
  auto found = [&](TaskHeader* t) {
    if (w.spinning) {
      w.spinning = false;
      // The last spinner to find work wakes another to keep looking (Go's resetspinning).
      if (n_spinning_.fetch_sub(1, std::memory_order_seq_cst) == 1) notify_work();
    }
    return t;
  };
  for (;;) {
    if (stopping_.load(std::memory_order_acquire)) return nullptr;
    if (w.spare && !w.active.load(std::memory_order_relaxed)) return nullptr;  // retired
    ++w.tick;
    if (w.tick % kInjectionCheckInterval == 0 && injection_.size() > 0) {
      if (TaskHeader* t = injection_.pop()) return found(t);
    }
    if (w.timers.next_expiry.load(std::memory_order_relaxed) != kNever) run_due_timers(w, false);
    if (w.next_slot != nullptr) {
      TaskHeader* t = std::exchange(w.next_slot, nullptr);
      if (w.next_streak < kMaxNextStreak) {
        ++w.next_streak;
        return found(t);
      }
      push_local(w, t);
    }
    w.next_streak = 0;
    if (TaskHeader* t = w.runq.pop()) {
      // Start pulling the following task's header and frame (often written on
      // another core) while this one runs.
      if (TaskHeader* following = w.runq.peek()) {
        __builtin_prefetch(following);
        __builtin_prefetch(following->frame());
      }
      return found(t);
    }
    if (const std::size_t waiting = injection_.size(); waiting > 0) {
      // A fair share of the shared queue, at most half a local queue.
      std::array<TaskHeader*, LocalRunQueue::kCapacity / 2> batch;
      const auto active = static_cast<std::size_t>(n_active_.load(std::memory_order_relaxed));
      const std::size_t want = std::min<std::size_t>(waiting / active + 1, batch.size());
      const std::size_t got = injection_.pop_batch(batch.data(), want);
      if (got > 0) {
        for (std::size_t i = 1; i < got; ++i)
          push_local(w, batch[i]);
        return found(batch[0]);
      }
    }
    // Protocol step 1: ready sockets before stealing (Go's findrunnable order).
    if (netpoll_.waiters() != 0 && !poller_blocked_.load(std::memory_order_relaxed)) {
      const Netpoller::Polled polled = netpoll_.poll(false, nullptr);
      queue_polled(polled);
      if (polled.ready != nullptr) continue;
    }
    w.out_of_work.store(w.out_of_work.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
    if (run_due_timers(w, true)) continue;
    if (TaskHeader* t = steal(w)) return found(t);
    park(w);
  }
}

void Runtime::run_task(Worker& w, TaskHeader* task) {
  bump(&WorkerCounters::polls, std::uint64_t{1});
  tls.current = task;
  tls.budget = kTaskBudget;
  w.running_id.store(task->id, std::memory_order_relaxed);
  task->state.store(TaskState::kRunning, std::memory_order_relaxed);
  tls.stack_base = static_cast<char*>(__builtin_frame_address(0));
  for (;;) {
    tls.after = ThreadState::After::kNothing;
    task->resume_point.resume();
    // From here `task` may be parked and running elsewhere: touch it only when the
    // task told us (through tls.after) that it is still ours.
    if (tls.after != ThreadState::After::kResumeAgain) break;
  }
  tls.current = nullptr;
  w.running_id.store(0, std::memory_order_relaxed);
  switch (tls.after) {
    case ThreadState::After::kYield: {
      // Alone in the queue, the task simply runs again next: nobody to wake.
      const bool alone = w.runq.empty();
      task->state.store(TaskState::kRunnable, std::memory_order_relaxed);
      push_local(w, task);
      if (!alone) notify_work();
      break;
    }
    case ThreadState::After::kFinish:
      complete(task);
      break;
    default:
      break;
  }
}

void Runtime::complete(TaskHeader* task) {
  bump(&WorkerCounters::finished, std::uint64_t{1});
  // Release: a joiner that reads kFinished sees the result.
  task->state.store(TaskState::kFinished, std::memory_order_release);
  TaskHeader* joiner =
      task->joiner.exchange(TaskHeader::joiner_closed(), std::memory_order_acq_rel);
  if (joiner != nullptr) {
    bump(&WorkerCounters::parked_delta, std::int64_t{-1});
    schedule(joiner, true, WakeOrder::kBack);
  }
  if (task == entry_) stop();
  release_task(task);
}

void Runtime::worker_main(Worker& w) {
  tls.rt = this;
  tls.worker = &w;
  w.thread.store(pthread_self(), std::memory_order_relaxed);
  while (TaskHeader* t = find_runnable(w))
    run_task(w, t);
  tls = ThreadState{};
}

void Runtime::spare_main(Worker& w) {
  tls.rt = this;
  tls.worker = &w;
  w.thread.store(pthread_self(), std::memory_order_relaxed);
  for (;;) {
    // Inactive: sleep until activate_spare() or stop(). Clearing the word before
    // looking at the flags, both seq_cst, means a wake that raced with the look
    // leaves the word set and the futex wait returns at once.
    for (;;) {
      w.wake_word.store(0, std::memory_order_seq_cst);
      if (stopping_.load(std::memory_order_seq_cst) || w.active.load(std::memory_order_seq_cst))
        break;
      futex_wait(w.wake_word, 0, kNever);
    }
    if (stopping_.load(std::memory_order_acquire)) break;
    while (TaskHeader* t = find_runnable(w))
      run_task(w, t);
    if (stopping_.load(std::memory_order_acquire)) break;
  }
  tls = ThreadState{};
}

bool Runtime::spare_should_retire(const Worker& w) const noexcept {
  const Worker* held = w.covering.load(std::memory_order_relaxed);
  if (held == nullptr) return true;
  // The held worker resumed another task (or finished this one): it is back.
  return held->counters.polls.load(std::memory_order_relaxed) !=
             w.covered_polls.load(std::memory_order_relaxed) ||
         held->running_id.load(std::memory_order_relaxed) == 0;
}

Worker* Runtime::activate_spare(Worker& held) {
  Worker* spare = nullptr;
  {
    std::lock_guard lock(idle_mutex_);
    if (stopping_.load(std::memory_order_acquire)) return nullptr;
    for (unsigned i = n_workers_; i < workers_.size(); ++i) {
      Worker& s = *workers_[i];
      if (!s.active.load(std::memory_order_relaxed)) {
        spare = &s;
        break;
      }
    }
    if (spare == nullptr) return nullptr;
    spare->covering.store(&held, std::memory_order_relaxed);
    spare->covered_polls.store(held.counters.polls.load(std::memory_order_relaxed),
                               std::memory_order_relaxed);
    n_active_.fetch_add(1, std::memory_order_seq_cst);
    spare->active.store(true, std::memory_order_seq_cst);
  }
  std::thread& thread = spare_threads_[spare->index - n_workers_];
  if (thread.joinable()) {
    spare->wake_word.store(1, std::memory_order_seq_cst);
    futex_wake(spare->wake_word);
  } else {
    thread = std::thread([this, spare] { spare_main(*spare); });
  }
  return spare;
}

void Runtime::nudge_spare(Worker& spare) noexcept {
  std::lock_guard lock(idle_mutex_);
  if (spare.idle) wake_worker(spare);
}

namespace {

std::string describe(TaskHeader& t) {
  std::ostringstream out;
  out << "  task " << t.id << " [";
  switch (t.state.load(std::memory_order_acquire)) {
    case TaskState::kParked: {
      const char* reason = t.wait_reason.load(std::memory_order_relaxed);
      out << (reason != nullptr ? reason : "parked");
      break;
    }
    case TaskState::kRunnable:
      out << "runnable";
      break;
    case TaskState::kRunning:
      out << "running";
      break;
    case TaskState::kFinished:
      out << "finished";
      break;
    case TaskState::kFree:
      out << "free";
      break;
  }
  out << "]\n";
  return out.str();
}

LeakCheck leak_check_from_env() {
  const char* v = std::getenv("ORCA_LEAK_CHECK");
  if (v == nullptr) return LeakCheck::kOff;
  if (std::strcmp(v, "report") == 0) return LeakCheck::kReport;
  if (std::strcmp(v, "fail") == 0) return LeakCheck::kFail;
  return LeakCheck::kOff;
}

}  // namespace

std::string Runtime::run(TaskHeader* entry, const RunOptions& options) {
  static std::atomic<std::uint64_t> runs{0};
  generation_ = runs.fetch_add(1, std::memory_order_relaxed) + 1;  // before publishing
  Runtime* expected = nullptr;
  if (!current_.compare_exchange_strong(expected, this, std::memory_order_acq_rel)) {
    release_task(entry);  // never started: drop its own reference (the caller's handle keeps one)
    throw std::logic_error("orca::run: a runtime is already running in this process");
  }
  entry_ = entry;
  entry->id = next_task_id();
  // A failure leaves the netpoller closed: the run goes on, and every socket wait
  // reports the error (a program that does no I/O does not need it).
  (void)netpoll_.open();
  std::vector<std::thread> threads;
  threads.reserve(n_workers_ - 1);
  for (std::size_t i = 1; i < n_workers_; ++i)
    threads.emplace_back([this, i] { worker_main(*workers_[i]); });
  Sysmon sysmon(*this, SysmonSettings::resolve(options));
  sysmon.start();
  {
    tls.rt = this;
    tls.worker = workers_[0].get();
    schedule(entry, false, WakeOrder::kBack);
    worker_main(*workers_[0]);
  }
  for (auto& t : threads)
    t.join();
  // No spare is activated after the monitor stops; stop() woke the started ones.
  sysmon.stop();
  for (auto& t : spare_threads_)
    if (t.joinable()) t.join();
  blocking_.shutdown();

  // Quiescent from here: no worker runs, no pool thread touches a task.
  std::vector<TaskHeader*> live;
  for_each_live_root([&](TaskHeader& t) { live.push_back(&t); });
  std::string report;
  if (deadlocked_) {
    report = "orca: all tasks are asleep - deadlock!\n";
    for (TaskHeader* t : live)
      if (t->state.load(std::memory_order_relaxed) != TaskState::kFinished) report += describe(*t);
  } else {
    LeakCheck check = options.leak_check;
    if (check == LeakCheck::kOff) check = leak_check_from_env();
    std::string leaks;
    for (TaskHeader* t : live)
      if (t != entry && t->state.load(std::memory_order_relaxed) != TaskState::kFinished)
        leaks += describe(*t);
    if (!leaks.empty() && check != LeakCheck::kOff) {
      std::fprintf(stderr, "orca: tasks still alive when the entry task returned:\n%s",
                   leaks.c_str());
      if (check == LeakCheck::kFail) report = "leak:" + leaks;
    }
  }
  // Tear down unfinished tasks. Pin every live block first: destroying one frame
  // may drop the last JoinHandle of another task.
  for (TaskHeader* t : live) {
    t->flags.fetch_or(TaskHeader::kJoinable);  // count references from here on
    t->refs.fetch_add(1, std::memory_order_relaxed);
  }
  for (TaskHeader* t : live) {
    if (t->state.load(std::memory_order_relaxed) == TaskState::kFinished) continue;
    t->flags.fetch_or(TaskHeader::kAbandoned | TaskHeader::kFrameDestroyed);
    t->state.store(TaskState::kFinished, std::memory_order_relaxed);
    std::coroutine_handle<>::from_address(t->frame()).destroy();
    release_task(t);  // the task's own reference
  }
  for (TaskHeader* t : live)
    release_task(t);
  tls = ThreadState{};
  current_.store(nullptr, std::memory_order_release);
  return report;
}

// ---------------------------------------------------------------- scheduling.hpp

TaskHeader* current_task() noexcept {
  return tls.current;
}

bool on_worker() noexcept {
  return tls.worker != nullptr;
}

void prepare_park(TaskHeader* task, std::coroutine_handle<> resume_point,
                  const char* reason) noexcept {
  task->resume_point = resume_point;
  task->wait_reason.store(reason, std::memory_order_relaxed);
  task->state.store(TaskState::kParked, std::memory_order_relaxed);
  bump(&WorkerCounters::parked_delta, std::int64_t{1});
  ORCA_PERTURB("park.prepared");
}

void cancel_park(TaskHeader* task) noexcept {
  task->state.store(TaskState::kRunning, std::memory_order_relaxed);
  bump(&WorkerCounters::parked_delta, std::int64_t{-1});
}

void wake(TaskHeader* task, WakeOrder order) noexcept {
  ORCA_PERTURB("park.wake");
  Runtime* rt = tls.rt != nullptr ? tls.rt : Runtime::current();
  bump(&WorkerCounters::parked_delta, std::int64_t{-1});
  rt->schedule(task, true, order);
}

void wake_list(TaskHeader* first) noexcept {
  if (first == nullptr) return;
  ORCA_PERTURB("park.wake");
  Runtime* rt = tls.rt != nullptr ? tls.rt : Runtime::current();
  std::int64_t n = 0;
  for (TaskHeader* t = first; t != nullptr; t = t->next)
    ++n;
  bump(&WorkerCounters::parked_delta, -n);
  rt->schedule_list(first);
}

bool consume_budget() noexcept {
  if (tls.current == nullptr) return true;
  return --tls.budget > 0;
}

std::coroutine_handle<> transfer_to(std::coroutine_handle<> next) noexcept {
  if (tls.current == nullptr) return next;
  const char* sp = static_cast<char*>(__builtin_frame_address(0));
  if (tls.stack_base - sp < kMaxNestedStack) return next;
  tls.current->resume_point = next;
  tls.after = ThreadState::After::kResumeAgain;
  return std::noop_coroutine();
}

void yield_current(std::coroutine_handle<> resume_point) noexcept {
  tls.current->resume_point = resume_point;
  tls.after = ThreadState::After::kYield;
}

void finish_current(TaskHeader* task) noexcept {
  (void)task;
  tls.after = ThreadState::After::kFinish;
}

void schedule_new(TaskHeader* task) {
  Runtime* rt = tls.rt != nullptr ? tls.rt : Runtime::current();
  if (rt == nullptr) throw std::logic_error("orca: go/spawn called with no runtime running");
  task->id = next_task_id();
  bump(&WorkerCounters::spawned, std::uint64_t{1});
  rt->schedule(task, false, WakeOrder::kBack);
}

std::uint64_t next_task_id() noexcept {
  // Ids in blocks of 1024 per thread: no shared counter on the spawn path.
  static std::atomic<std::uint64_t> next_block{1};
  thread_local std::uint64_t next = 0;
  thread_local std::uint64_t end = 0;
  if (next == end) {
    next = next_block.fetch_add(1024, std::memory_order_relaxed);
    end = next + 1024;
  }
  return next++;
}

void release_task(TaskHeader* task) noexcept {
  // A task nobody can join holds its only reference: no locked instruction needed.
  const bool shared = task->flags.load(std::memory_order_relaxed) & TaskHeader::kJoinable;
  if (shared && task->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  const std::uint32_t flags = task->flags.load(std::memory_order_acquire);
  if ((flags & TaskHeader::kFrameDestroyed) == 0) {
    if (task->on_unjoined_failure != nullptr && (flags & TaskHeader::kJoined) == 0)
      task->on_unjoined_failure(task);
    std::coroutine_handle<>::from_address(task->frame()).destroy();
  }
  deallocate_root(task, task->frame_size);
}

// ---------------------------------------------------------------- timers

bool TimerEntry::arm(Clock::time_point deadline) {
  Runtime* rt = tls.rt != nullptr ? tls.rt : Runtime::current();
  if (rt == nullptr || deadline <= Clock::now()) return false;
  // A spare's timers go to the foreign shard: it may retire before they fire.
  TimerShard& shard =
      tls.worker != nullptr && !tls.worker->spare ? tls.worker->timers : rt->foreign_timer_shard();
  const std::uint64_t tick = tick_of(deadline);
  tick_ = tick;
  deadline_ = deadline;
  bool earliest = false;
  {
    std::lock_guard lock(shard.mutex);
    const std::uint64_t before = shard.wheel.next_expiry();
    shard.wheel.insert(this);
    shard_.store(&shard, std::memory_order_release);
    shard.publish();
    earliest = tick < before;
  }
  if (earliest) rt->timer_armed(tick);
  return true;
}

bool TimerEntry::cancel() noexcept {
  TimerShard* shard = shard_.load(std::memory_order_acquire);
  // Its callback is running: wait it out, since the owner may free the entry as
  // soon as cancel() returns. The callback is short (it wakes a task).
  for (SpinWait w; shard == TimerEntry::firing(); shard = shard_.load(std::memory_order_acquire))
    w.once();
  if (shard == nullptr) return false;
  std::lock_guard lock(shard->mutex);
  if (shard_.load(std::memory_order_relaxed) != shard) return false;  // fired meanwhile
  shard->wheel.remove(this);
  shard_.store(nullptr, std::memory_order_relaxed);
  shard->publish();
  return true;
}

void defer_after_timers(void (*fn)(void*), void* arg) {
  tls.deferred.emplace_back(fn, arg);
}

// ---------------------------------------------------------------- blocking

void submit_blocking(BlockingJob* job) {
  Runtime* rt = tls.rt != nullptr ? tls.rt : Runtime::current();
  if (rt == nullptr) throw std::logic_error("orca::blocking used with no runtime running");
  rt->blocking().submit(job);
}

}  // namespace orca::detail
