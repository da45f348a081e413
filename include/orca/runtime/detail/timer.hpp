// TimerEntry: one pending timer in the runtime's timing wheels.
//
// Protocol: the owner fills `fire` and `arg` and calls arm(deadline). `fire` runs on
// a worker with the entry's wheel locked; it must be short and must not arm or
// cancel timers itself (it typically wakes a task, which may then run at once on
// another worker). cancel() returning false means the callback has run to
// completion: if the wheel is running it at that moment, cancel() waits for it to
// return. Destroying an entry cancels it, so an owner woken by its own timer may
// free the entry straight away.
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
  // Moves the deadline of an armed entry later without relinking it (Go's
  // "modified later" timers): the wheel re-links the entry when it reaches the
  // old slot, so a timer reset again and again costs one lock and no wheel work.
  // False, changing nothing, if the entry is not armed, is firing, or `deadline`
  // is earlier than its current one: then cancel() and arm() instead.
  bool extend(Clock::time_point deadline) noexcept;
  bool armed() const noexcept { return shard_.load(std::memory_order_acquire) != nullptr; }

  // Wheel bookkeeping, owned by the shard.
  TimerEntry* prev_ = nullptr;
  TimerEntry* next_ = nullptr;
  std::uint64_t tick_ = 0;  // first tick at which the entry may fire
  // The deadline it was armed or extended to; `fire` may read it (the time due).
  Clock::time_point deadline_{};
  std::uint8_t level_ = 0;
  std::uint8_t slot_ = 0;
  // Non-null while armed, and kFiring while the wheel runs `fire`. Written under
  // the shard's lock; read without it by cancel() to find which lock to take (an
  // entry never moves between shards) and to wait out a callback in progress.
  std::atomic<TimerShard*> shard_{nullptr};
  static TimerShard* firing() noexcept {
    return reinterpret_cast<TimerShard*>(std::uintptr_t{1});  // never a shard's address
  }
};

}  // namespace orca::detail
