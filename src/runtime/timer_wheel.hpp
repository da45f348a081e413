// TimerWheel: a hierarchical timing wheel, 6 levels of 64 slots (tokio's layout).
// Level L slot covers 64^L ticks of kTickNs; insert and cancel are O(1), finding
// the next expiry is O(levels) with one bitmap per level.
//
// Invariant: every entry's tick is >= `elapsed_` and within the top level's current
// rotation, and it lives at the level of the highest 6-bit digit in which its tick
// differed from `elapsed_` when it was linked, so occupied slots are always at or
// after each level's current position: no wrap-around. A higher level's slot can
// sit at the current position (advance() stopped inside it); the next expiry is
// therefore the minimum over all levels, not the first occupied level.
// Not thread-safe: TimerShard wraps it with a lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>

#include "orca/runtime/detail/timer.hpp"

namespace orca::detail {

// 64 us ticks: fine enough that timer lateness stays well under a millisecond,
// coarse enough that 6 levels span 2^36 ticks (about 51 days); later deadlines are
// parked at the far edge and re-inserted when reached.
inline constexpr std::uint64_t kTickNs = 65536;
inline constexpr std::uint64_t kNever = ~std::uint64_t{0};

class TimerWheel {
 public:
  static constexpr int kLevels = 6;
  static constexpr int kSlots = 64;
  static constexpr std::uint64_t kSpan = std::uint64_t{1} << (6 * kLevels);

  void insert(TimerEntry* e) noexcept;
  void remove(TimerEntry* e) noexcept;
  // Fires every entry with tick <= now (callbacks run inside); returns how many.
  std::size_t advance(std::uint64_t now) noexcept;
  // Earliest tick at which something must happen (fire or cascade), or kNever.
  std::uint64_t next_expiry() const noexcept;
  std::uint64_t elapsed() const noexcept { return elapsed_; }
  std::size_t size() const noexcept { return size_; }

 private:
  struct Slot {
    TimerEntry* head = nullptr;
  };
  void link(TimerEntry* e) noexcept;
  bool level_expiry(int level, std::uint64_t& tick, int& slot) const noexcept;
  bool earliest(int& level, std::uint64_t& tick, int& slot) const noexcept;

  std::uint64_t elapsed_ = 0;
  std::size_t size_ = 0;
  std::array<std::uint64_t, kLevels> occupied_{};
  std::array<std::array<Slot, kSlots>, kLevels> slots_{};
};

// One worker's wheel with its lock and a lock-free summary for other workers.
class TimerShard {
 public:
  std::mutex mutex;
  TimerWheel wheel;
  // Mirrors wheel.next_expiry() (written under the lock, read without it).
  std::atomic<std::uint64_t> next_expiry{kNever};
  std::atomic<std::int64_t> pending{0};

  void publish() noexcept {
    next_expiry.store(wheel.next_expiry(), std::memory_order_release);
    pending.store(static_cast<std::int64_t>(wheel.size()), std::memory_order_relaxed);
  }
};

}  // namespace orca::detail
