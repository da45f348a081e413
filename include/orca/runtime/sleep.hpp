// sleep_for / sleep_until / yield: suspend the current task for a while, or let
// others run.
//
// A sleep parks the task on the runtime's timing wheel (O(1) insert and cancel,
// 64 us resolution; never wakes early). A zero or past duration completes at once
// but counts against the task's cooperative budget, so a loop of zero sleeps still
// lets other tasks run. Must be awaited inside a task.
#pragma once

#include <chrono>
#include <coroutine>

#include "orca/runtime/clock.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/detail/timer.hpp"

namespace orca {

namespace detail {

class SleepAwaiter {
 public:
  explicit SleepAwaiter(Clock::time_point deadline) noexcept : deadline_(deadline) {}

  bool await_ready() const noexcept { return deadline_ <= Clock::now() && consume_budget(); }
  bool await_suspend(std::coroutine_handle<> self) noexcept;
  void await_resume() const noexcept {}

 private:
  static void on_fire(TimerEntry* entry) noexcept;

  Clock::time_point deadline_;
  TimerEntry entry_;
};

struct YieldAwaiter {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> self) const noexcept { yield_current(self); }
  void await_resume() const noexcept {}
};

}  // namespace detail

// co_await orca::sleep_for(10ms);
template <class Rep, class Period>
[[nodiscard]] detail::SleepAwaiter sleep_for(std::chrono::duration<Rep, Period> d) noexcept {
  const auto now = Clock::now();
  // Saturate instead of overflowing for huge durations (Go's time.Sleep(math.MaxInt64)).
  if (d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(Clock::time_point::max() -
                                                                          now))
    return detail::SleepAwaiter(Clock::time_point::max());
  return detail::SleepAwaiter(now + std::chrono::duration_cast<Clock::duration>(d));
}

[[nodiscard]] inline detail::SleepAwaiter sleep_until(Clock::time_point deadline) noexcept {
  return detail::SleepAwaiter(deadline);
}

// Puts the task at the back of its worker's queue (Go's runtime.Gosched).
[[nodiscard]] inline detail::YieldAwaiter yield() noexcept {
  return {};
}

}  // namespace orca
