#include "orca/sync/wait_group.hpp"

#include <stdexcept>

namespace orca {

void WaitGroup::add(std::int64_t delta) {
  const std::int64_t now = counter_.fetch_add(delta, std::memory_order_acq_rel) + delta;
  if (now < 0) {
    counter_.fetch_sub(delta, std::memory_order_acq_rel);
    throw std::logic_error("orca::WaitGroup: negative counter (more done() than add())");
  }
  if (now != 0 || delta == 0) return;
  detail::TaskHeader* waiters = nullptr;
  {
    std::lock_guard lock(mutex_);
    // Another add may have raised the counter again; the waiters then keep waiting.
    if (counter_.load(std::memory_order_acquire) != 0) return;
    waiters = waiters_;
    waiters_ = nullptr;
  }
  detail::wake_list(waiters);
}

bool WaitGroup::WaitAwaiter::await_suspend(std::coroutine_handle<> self) {
  detail::TaskHeader* me = detail::current_task();
  std::lock_guard lock(wg_.mutex_);
  // Rechecked under the lock: the zero transition takes the list under it too.
  if (wg_.counter_.load(std::memory_order_acquire) == 0) return false;
  detail::prepare_park(me, self, "WaitGroup.wait");
  me->next = wg_.waiters_;
  wg_.waiters_ = me;
  return true;
}

}  // namespace orca
