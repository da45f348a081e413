#include "orca/runtime/sleep.hpp"

namespace orca::detail {

bool SleepAwaiter::await_suspend(std::coroutine_handle<> self) noexcept {
  TaskHeader* task = current_task();
  if (deadline_ <= Clock::now()) {
    yield_current(self);  // due, but the budget is spent: let others run first
    return true;
  }
  entry_.fire = &SleepAwaiter::on_fire;
  entry_.arg = task;
  prepare_park(task, self, "sleep");
  if (entry_.arm(deadline_)) return true;  // from here the timer owns the wake-up
  cancel_park(task);                       // the deadline passed meanwhile
  return false;
}

void SleepAwaiter::on_fire(TimerEntry* entry) noexcept {
  wake(static_cast<TaskHeader*>(entry->arg), WakeOrder::kBack);
}

}  // namespace orca::detail
