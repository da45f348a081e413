// Per-thread shards of the metrics' hot path: each thread adds to its own cache line,
// and a scrape sums the lines. A thread's shard is fixed at its first use.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace orca::metrics::detail {

// Shards per metric: the hardware threads rounded up to a power of two, at most 32.
// orca runs one worker thread per hardware thread, so the workers get a line each;
// other threads (the blocking pool, a foreign thread) share lines with them, which
// is still correct (the adds are atomic), only slower under contention. The cap bounds
// a series' memory on big machines (32 lines = 2 KiB per counter).
std::size_t shard_count() noexcept;

// The calling thread's shard, in [0, shard_count()). Out of line on purpose: a
// thread_local's address must not be cached across a coroutine's suspension (LLVM
// 47179), and callers may be coroutines.
std::size_t this_shard() noexcept;

// One counter on a cache line of its own.
struct alignas(64) PaddedCount {
  std::atomic<std::uint64_t> value{0};
};

// Adds `d` to a double kept as its bits (a CAS loop; uncontended on a thread's own
// shard, so it succeeds at once).
inline void add_double(std::atomic<std::uint64_t>& bits, double d) noexcept {
  std::uint64_t old = bits.load(std::memory_order_relaxed);
  // relaxed: a sum is read only at scrape time, as a figure on its own.
  while (!bits.compare_exchange_weak(old,
                                     std::bit_cast<std::uint64_t>(std::bit_cast<double>(old) + d),
                                     std::memory_order_relaxed, std::memory_order_relaxed)) {
  }
}

}  // namespace orca::metrics::detail
