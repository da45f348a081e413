// Timer: a TimerEntry whose callback sends the due time into a one-slot channel.
// No stale value (stop and reset, under lock_):
//   1. entry_.cancel(): true if the fire was prevented; false once it has fired (or
//      never armed), and then its callback has returned: its value, if any, is in
//      the channel's slot or was handed to a receiver (received before we returned).
//   2. Only if it was not prevented: try_recv() takes back a value still in the
//      slot. A prevented fire leaves the slot empty: every earlier value was taken
//      back before the entry was armed.
//   3. reset only: arm again. The slot is empty, so the next value is the new one.
// reset to a later deadline while the timer is pending is one step instead, without
// lock_: entry_.extend() moves the deadline under the wheel's lock, so the entry
// never fires for the old one and nothing was sent (Go's reset of a running timer).
// Lock order: lock_, then the wheel's lock (cancel, arm) or the channel's, never
// both; the callback takes the channel's lock inside the wheel's, never lock_.
#include "orca/sync/timer.hpp"

#include <stdexcept>

namespace orca {
namespace {

Clock::time_point due_after(Clock::time_point now, Clock::duration d) noexcept {
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
  const Clock::time_point now = Clock::now();
  const Clock::time_point due = due_after(now, d);
  // Pending, now due later. No lock_ needed: extend() works under the wheel's
  // lock, which the steps above that change the entry (cancel, arm) also take, and
  // succeeds only on an armed entry, that is between a step 3 and the next step 1,
  // when the slot is empty and stays so.
  if (due > now && due != Clock::time_point::max() && entry_.extend(due)) return true;
  lock_.lock();
  const bool pending = stop_locked();
  if (due == Clock::time_point::max() || entry_.arm(due)) {
    lock_.unlock();  // never fires, or armed
    return pending;
  }
  if (due <= Clock::now()) {
    (void)fired_.try_send(due);  // due already: the slot is empty, so this succeeds
    lock_.unlock();
    return pending;
  }
  lock_.unlock();
  throw std::logic_error("orca::Timer: timers need a running orca runtime");
}

bool Timer::stop_locked() noexcept {
  if (entry_.cancel()) return true;  // prevented: the slot is empty (step 2)
  return fired_.try_recv().has_value();
}

void Timer::fire(detail::TimerEntry* entry) noexcept {
  auto* timer = static_cast<Timer*>(entry->arg);
  // The slot is empty (stop_locked drained it before arming), so this succeeds.
  (void)timer->fired_.try_send(entry->deadline_);
}

}  // namespace orca
