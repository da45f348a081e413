// Timer: a TimerEntry whose callback sends the due time into a one-slot channel.
// No stale value (stop and reset, under lock_):
//   1. entry_.cancel(): true if the fire was prevented; false once it has fired (or
//      never armed), and then its callback has returned: its value, if any, is in
//      the channel's slot or was handed to a receiver (received before we returned).
//   2. try_recv() takes back a value still in the slot.
//   3. reset only: arm again. The slot is empty, so the next value is the new one.
// Lock order: lock_, then the wheel's lock (cancel, arm) or the channel's, never
// both; the callback takes the channel's lock inside the wheel's, never lock_.
#include "orca/sync/timer.hpp"

#include <stdexcept>

namespace orca {
namespace {

Clock::time_point due_after(Clock::duration d) noexcept {
  const auto now = Clock::now();
  if (d >= Clock::time_point::max() - now) return Clock::time_point::max();
  return now + d;
}

}  // namespace

Timer::Timer(Clock::duration d) {
  entry_.fire = &Timer::fire;
  entry_.arg = this;
  (void)reset(d);
}

bool Timer::stop() noexcept {
  lock_.lock();
  const bool pending = stop_locked();
  lock_.unlock();
  return pending;
}

bool Timer::reset(Clock::duration d) {
  lock_.lock();
  const bool pending = stop_locked();
  due_ = due_after(d);
  if (due_ == Clock::time_point::max() || entry_.arm(due_)) {
    lock_.unlock();  // never fires, or armed
    return pending;
  }
  if (due_ <= Clock::now()) {
    (void)fired_.try_send(due_);  // due already: the slot is empty, so this succeeds
    lock_.unlock();
    return pending;
  }
  lock_.unlock();
  throw std::logic_error("orca::Timer: timers need a running orca runtime");
}

bool Timer::stop_locked() noexcept {
  const bool prevented = entry_.cancel();
  const bool taken_back = fired_.try_recv().has_value();
  return prevented || taken_back;
}

void Timer::fire(detail::TimerEntry* entry) noexcept {
  auto* timer = static_cast<Timer*>(entry->arg);
  // The slot is empty (stop_locked drained it before arming), so this succeeds.
  (void)timer->fired_.try_send(timer->due_);
}

}  // namespace orca
