// Ticker::tick is a select over the stop channel and a timer at the next grid point.
#include "orca/sync/ticker.hpp"

#include <stdexcept>

#include "orca/sync/select.hpp"

namespace orca {

Ticker::Ticker(Clock::duration period) : period_(period), next_(Clock::now() + period) {
  if (period <= Clock::duration::zero())
    throw std::invalid_argument("orca::Ticker: non-positive period");
}

void Ticker::reset(Clock::duration period) {
  if (period <= Clock::duration::zero())
    throw std::invalid_argument("orca::Ticker: non-positive period");
  period_ = period;
  next_ = Clock::now() + period;
}

Task<Result<Clock::time_point>> Ticker::tick(Context ctx) {
  // A named awaiter, not temporaries in the co_await operand (GCC PR 101367).
  auto wait = select(ctx, recv(stopped_), until(next_));
  auto r = co_await wait;
  if (r.index() == -1) co_return r.error();
  if (r.index() == 0) co_return errc::closed;
  const Clock::time_point at = next_;
  const Clock::time_point now = Clock::now();
  next_ += period_;
  if (next_ <= now) next_ += ((now - next_) / period_ + 1) * period_;  // drop missed ticks
  co_return at;
}

Task<Result<Clock::time_point>> Ticker::tick() {
  return tick(background());
}

}  // namespace orca
