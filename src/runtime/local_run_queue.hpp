// LocalRunQueue: a worker's bounded ring of runnable tasks (Go's runq).
// Invariants: only the owning worker pushes (advances `tail_`); the owner and
// thieves take from `head_` by CAS, so each entry is taken exactly once. The ring
// holds 256 entries: large enough to absorb bursts, small enough that stealing half
// is cheap; overflow goes to the shared injection queue in batches of half.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "orca/runtime/detail/task_header.hpp"

namespace orca::detail {

class LocalRunQueue {
 public:
  static constexpr std::uint32_t kCapacity = 256;

  // Owner only. Returns false when full; the caller then calls `take_half_for_overflow`.
  bool push(TaskHeader* task) noexcept {
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
    // Acquire pairs with thieves' CAS so we see slots they have finished reading.
    const std::uint32_t head = head_.load(std::memory_order_acquire);
    if (tail - head >= kCapacity) return false;
    slots_[tail % kCapacity].store(task, std::memory_order_relaxed);
    // Release publishes the slot to thieves that acquire `tail_`.
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Owner only: moves half the queue into `out` for the injection queue. Returns
  // the number moved (0 if a thief raced us; the caller retries push).
  std::uint32_t take_half(std::array<TaskHeader*, kCapacity / 2>& out) noexcept {
    std::uint32_t head = head_.load(std::memory_order_acquire);
    const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
    const std::uint32_t n = (tail - head) / 2;
    if (n == 0) return 0;
    for (std::uint32_t i = 0; i < n; ++i)
      out[i] = slots_[(head + i) % kCapacity].load(std::memory_order_relaxed);
    if (!head_.compare_exchange_strong(head, head + n, std::memory_order_acq_rel)) return 0;
    return n;
  }

  // Owner only: the task pop() would return next, without taking it (for prefetching).
  TaskHeader* peek() const noexcept {
    const std::uint32_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_.load(std::memory_order_relaxed)) return nullptr;
    return slots_[head % kCapacity].load(std::memory_order_relaxed);
  }

  // Owner only.
  TaskHeader* pop() noexcept {
    std::uint32_t head = head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t tail = tail_.load(std::memory_order_relaxed);
      if (head == tail) return nullptr;
      TaskHeader* task = slots_[head % kCapacity].load(std::memory_order_relaxed);
      // acq_rel: the slot read above must happen before our claim is visible.
      if (head_.compare_exchange_weak(head, head + 1, std::memory_order_acq_rel)) return task;
    }
  }

  // Any thread: moves about half of this queue into `dst` (owned by the caller) and
  // returns one stolen task to run at once, or nullptr.
  TaskHeader* steal_into(LocalRunQueue& dst) noexcept {
    const std::uint32_t dst_tail = dst.tail_.load(std::memory_order_relaxed);
    std::uint32_t head = head_.load(std::memory_order_acquire);
    std::uint32_t n = 0;
    for (;;) {
      const std::uint32_t tail = tail_.load(std::memory_order_acquire);
      n = tail - head;
      n -= n / 2;
      if (n == 0 || n > kCapacity / 2 + 1) {
        if (n == 0) return nullptr;
        head = head_.load(std::memory_order_acquire);  // inconsistent snapshot: reread
        continue;
      }
      for (std::uint32_t i = 0; i < n; ++i) {
        TaskHeader* t = slots_[(head + i) % kCapacity].load(std::memory_order_relaxed);
        dst.slots_[(dst_tail + i) % kCapacity].store(t, std::memory_order_relaxed);
      }
      if (head_.compare_exchange_weak(head, head + n, std::memory_order_acq_rel)) break;
    }
    // Keep the last stolen task to run now; publish the rest in dst.
    const std::uint32_t kept = dst_tail + n - 1;
    TaskHeader* run_now = dst.slots_[kept % kCapacity].load(std::memory_order_relaxed);
    if (n > 1) dst.tail_.store(kept, std::memory_order_release);
    return run_now;
  }

  std::uint32_t size() const noexcept {
    const std::uint32_t head = head_.load(std::memory_order_acquire);
    const std::uint32_t tail = tail_.load(std::memory_order_acquire);
    return tail - head;
  }
  bool empty() const noexcept { return size() == 0; }

 private:
  // Separate lines: thieves hammer head_, the owner writes tail_.
  alignas(64) std::atomic<std::uint32_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  alignas(64) std::array<std::atomic<TaskHeader*>, kCapacity> slots_{};
};

}  // namespace orca::detail
