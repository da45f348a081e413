// Stripes: which of a component's per-thread counters the calling thread uses, so
// that threads bump different cache lines and the hot path shares nothing it writes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace orca::resilience::detail {

// Counter lines are this far apart: two lines, since x86's adjacent-line prefetcher
// pairs 64-byte lines and would otherwise move a neighbour's line too.
inline constexpr std::size_t kStripeAlign = 128;

// A small number fixed per thread (threads numbered in order of first use).
// Out of line: Clang may cache a thread_local's address across a suspension point
// (LLVM 47179), so coroutine code reads it only through a call.
[[gnu::noinline]] std::uint32_t thread_stripe() noexcept;

// A power of two: `requested` rounded up, or (0) the hardware threads rounded up,
// at most 16.
std::uint32_t stripe_count(int requested) noexcept;

}  // namespace orca::resilience::detail
