// Ticker: a periodic tick for orca tasks (Go's time.Ticker), without a goroutine
// or a channel behind it: each tick() is one timer wait.
//
//   orca::Ticker t(100ms);
//   while (auto at = co_await t.tick(ctx)) refresh(*at);   // ends on ctx or stop()
//
// Ticks are on the grid start + k*period (k = 1, 2, ...). A reader that falls
// behind skips the ticks it missed, as Go's ticker drops them for a slow reader:
// the next tick() waits for the next grid point after now, it never bursts.
//
// Errors: tick() returns the tick's scheduled time, errc::closed once stop() was
// called (a tick() parked at that moment wakes with it), or the context's error.
//
// Cancel safety: a cancelled tick() consumes no tick; the next one is unchanged.
//
// Thread safety: tick() and reset() from one task at a time (the ticker's owner);
// stop() from any task or thread.
#pragma once

#include <chrono>
#include <variant>

#include "orca/context/context.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"
#include "orca/sync/channel.hpp"

namespace orca {

class Ticker {
 public:
  // First tick one period from now. Throws std::invalid_argument if period <= 0.
  explicit Ticker(Clock::duration period);
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // Waits for the next tick; its scheduled time, errc::closed after stop(), or
  // ctx's error. Takes the context by value: the waiting task keeps it alive.
  [[nodiscard]] Task<Result<Clock::time_point>> tick(Context ctx);
  [[nodiscard]] Task<Result<Clock::time_point>> tick();
  // New period; the next tick is one new period from now.
  void reset(Clock::duration period);
  // Ends the ticker: pending and later tick()s return errc::closed. errc::closed if
  // it was already stopped.
  Result<void> stop() noexcept { return stopped_.close(); }

 private:
  Clock::duration period_;
  Clock::time_point next_;
  Channel<std::monostate> stopped_;  // closed by stop(); a select case of every tick
};

}  // namespace orca
