// TimeSource: where the resilience layer reads the time, so that tests drive windows,
// open periods and rate limits with a ManualClock instead of sleeping.
//
// Every option struct of this layer has `const TimeSource* clock = nullptr`: null reads
// orca::Clock (steady_clock) directly, with no virtual call; a ManualClock moves only
// when told. Waits (RateLimiter::wait, Retry's backoff) still sleep on the runtime's
// real timers for the durations computed from this time.
//
// Thread safety: ManualClock may be read and advanced from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "orca/runtime/clock.hpp"

namespace orca::resilience {

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  virtual Clock::time_point now() const noexcept = 0;
};

// A clock that starts at a given point (default: the real now) and moves by advance().
class ManualClock final : public TimeSource {
 public:
  explicit ManualClock(Clock::time_point start = Clock::now()) noexcept
      : ns_(start.time_since_epoch().count()) {}
  Clock::time_point now() const noexcept override {
    // relaxed: a test's thread advances the clock and reads it; other threads only
    // need some recent value, as with a real clock.
    return Clock::time_point(Clock::duration(ns_.load(std::memory_order_relaxed)));
  }
  void advance(Clock::duration d) noexcept { ns_.fetch_add(d.count(), std::memory_order_relaxed); }
  void set(Clock::time_point t) noexcept {
    ns_.store(t.time_since_epoch().count(), std::memory_order_relaxed);
  }

 private:
  std::atomic<Clock::rep> ns_;
};

namespace detail {

inline Clock::time_point now(const TimeSource* clock) noexcept {
  return clock == nullptr ? Clock::now() : clock->now();
}

}  // namespace detail
}  // namespace orca::resilience
