// The scheduler's interface for awaiters: how a task parks, how it is woken, and
// the per-resumption budget. Everything here is out of line on purpose: the
// functions read thread-locals, and Clang may cache a thread-local's address across
// a suspension point (LLVM 47179) while the task moves to another worker.
//
// Parking protocol for an awaiter's await_suspend(h):
//   1. t = current_task(); prepare_park(t, h, "reason")   -- task not yet visible
//   2. publish t to the wait structure (wait list, timer, ...) -- from here on a
//      waker may resume the task on another worker at once
//   3. return without touching the awaiter, the frame or t again.
// A waker calls wake(t) exactly once per prepare_park. If the awaiter finds in
// step 2 that it need not wait after all, it calls cancel_park(t) and returns false.
#pragma once

#include <coroutine>
#include <cstdint>

#include "orca/runtime/detail/task_header.hpp"

namespace orca::detail {

// The task running on this thread, or nullptr outside a task.
[[gnu::noinline]] TaskHeader* current_task() noexcept;

// True when the calling thread is one of the running runtime's workers.
[[gnu::noinline]] bool on_worker() noexcept;

void prepare_park(TaskHeader* task, std::coroutine_handle<> resume_point,
                  const char* reason) noexcept;
void cancel_park(TaskHeader* task) noexcept;

enum class WakeOrder : std::uint8_t {
  kNext,  // run it right after the waker (hand-off: channels, joins)
  kBack,  // queue it behind others (timers, batch wake-ups)
};
void wake(TaskHeader* task, WakeOrder order = WakeOrder::kNext) noexcept;

// Wakes every task of a list linked through TaskHeader::next (free while parked) in
// one step: all are queued, then one idle worker is notified (cancel storms).
void wake_list(TaskHeader* first) noexcept;

// Cooperative budget: each resumption of a task may complete this many operations
// without suspending before an orca awaitable forces it to yield (tokio uses 128).
inline constexpr int kTaskBudget = 128;
// Spends one unit; returns false when the budget is exhausted and the caller
// should suspend through a yield instead of completing at once.
[[gnu::noinline]] bool consume_budget() noexcept;

// Symmetric transfer with a stack guard: returns `next` to be resumed by a tail
// call, or, when the thread stack has grown past a safe depth (builds in which the
// compiler does not emit the tail call, GCC PR 100897), makes the current worker
// resume `next` from its loop and returns std::noop_coroutine().
[[gnu::noinline]] std::coroutine_handle<> transfer_to(std::coroutine_handle<> next) noexcept;

// Requeues the current task at the back of its worker's queue once it has
// suspended at `resume_point` (orca::yield, budget exhaustion).
void yield_current(std::coroutine_handle<> resume_point) noexcept;

// Called by a root task's final awaiter: the worker finishes the task after the
// coroutine has suspended for the last time.
void finish_current(TaskHeader* task) noexcept;

// From a timer callback (which runs with its wheel locked): runs fn(arg) on the
// same worker right after the wheel is unlocked, where it may arm and cancel timers.
void defer_after_timers(void (*fn)(void*), void* arg);

// Schedules a new root task (state kRunnable) on the current worker, or through the
// injection queue from any other thread. Throws std::logic_error with no runtime.
void schedule_new(TaskHeader* task);

// Drops one reference to a root task; the last one destroys its frame and block.
// A task that failed and was never joined is reported then (see spawn.hpp).
void release_task(TaskHeader* task) noexcept;

// Next task id (unique per process, dense per thread).
std::uint64_t next_task_id() noexcept;

}  // namespace orca::detail
