// TimerEntry: one pending timer in the runtime's timing wheels.
//
// Protocol: the owner fills `fire` and `arg`, calls arm(deadline) and keeps the
// entry alive until either `fire` has been called or cancel() returned true. `fire`
// runs on a worker with the entry's wheel locked, so cancel() returning false means
// the callback has already run to completion; it must be short and must not arm or
// cancel timers itself (it typically wakes a task). Destroying an armed entry
// cancels it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace orca::detail {

class TimerShard;

struct TimerEntry {
  using Clock = std::chrono::steady_clock;

  void (*fire)(TimerEntry*) noexcept = nullptr;
  void* arg = nullptr;

  TimerEntry() = default;
  TimerEntry(const TimerEntry&) = delete;
  TimerEntry& operator=(const TimerEntry&) = delete;
  ~TimerEntry() {
    if (armed()) cancel();
  }

  // Inserts the entry, O(1). Returns false (and does not arm) when the deadline has
  // already passed, or when no runtime is running.
  bool arm(Clock::time_point deadline);
  // Removes the entry if it has not fired, O(1). True if this call prevented `fire`.
  bool cancel() noexcept;
  bool armed() const noexcept { return shard_.load(std::memory_order_acquire) != nullptr; }

  // Wheel bookkeeping, owned by the shard.
  TimerEntry* prev_ = nullptr;
  TimerEntry* next_ = nullptr;
  std::uint64_t tick_ = 0;  // first tick at which the entry may fire
  std::uint8_t level_ = 0;
  std::uint8_t slot_ = 0;
  // Non-null while armed. Written under the shard's lock; read without it by
  // cancel() to find which lock to take (an entry never moves between shards).
  std::atomic<TimerShard*> shard_{nullptr};
  // The shard of the last arm(), kept after firing: the wheel clears shard_ just
  // before it calls `fire`, so a cancel() that finds shard_ null takes this shard's
  // lock to wait out a callback still running. Owner-side only.
  TimerShard* armed_in_ = nullptr;
};

}  // namespace orca::detail
