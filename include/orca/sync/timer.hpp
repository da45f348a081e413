// Timer: a one-shot timer that can be stopped and reset (Go's time.Timer, with
// Go 1.23's guarantee: once stop() or reset() returns, no value from before it is
// ever received).
//
//   orca::Timer idle(30s);
//   for (;;) {
//     auto r = co_await orca::select(ctx, orca::recv(requests), orca::recv(idle.channel()));
//     if (r.index() != 0) break;   // idle for 30 s (index 1), or ctx is done (-1)
//     idle.reset(30s);             // no stale tick can follow
//     handle(*r.get<0>());
//   }
//
// When the timer fires, the time it was due is sent on channel() (a receive in a
// select, co_await channel().recv(ctx), or try_recv()); it is received at most
// once. For a fixed wait in a select, orca::after(d) needs no Timer.
//
// stop() and reset() take back a value that fired but was not yet received, so a
// receiver never sees a tick from an earlier period (Go 1.23). Both return true if
// the timer was pending: not yet fired, or fired but not yet received (Go 1.23's
// Stop counts the latter as stopped too).
//
// Errors: the constructor and reset() throw std::logic_error for a future deadline
// when no orca runtime is running (a timer needs one); a duration <= 0 fires at once.
//
// Cancel safety: a receive cancelled by its context takes no value: the tick stays
// in the channel for the next receive (or until stop/reset takes it back).
//
// Thread safety: stop() and reset() from any task or thread, serialized inside;
// any number of tasks may receive from channel(). channel() is for receiving only:
// sending to it or closing it breaks the timer.
#pragma once

#include <chrono>

#include "orca/context/context.hpp"
#include "orca/runtime/detail/timer.hpp"
#include "orca/runtime/detail/wait_node.hpp"
#include "orca/sync/channel.hpp"

namespace orca {

class Timer {
 public:
  // Fires `d` from now.
  explicit Timer(Clock::duration d);
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  // Stops the timer (destroying entry_ cancels it before the channel goes).
  ~Timer() = default;

  // Where the due time is delivered when the timer fires.
  Channel<Clock::time_point>& channel() noexcept { return fired_; }
  // Prevents a pending fire, and takes back a value fired but not yet received.
  // True if either happened.
  bool stop() noexcept;
  // Stops the timer (as stop(), whose result it returns) and starts it again to
  // fire `d` from now.
  bool reset(Clock::duration d);

 private:
  static void fire(detail::TimerEntry* entry) noexcept;
  // Under lock_.
  bool stop_locked() noexcept;

  // Declared first, destroyed last: entry_'s destructor cancels the timer (waiting
  // out a callback in flight) before the channel it sends on goes away.
  Channel<Clock::time_point> fired_{1};
  detail::SpinLock lock_;  // serializes stop and reset (but reset's extend, timer.cpp)
  detail::TimerEntry entry_;
};

}  // namespace orca
