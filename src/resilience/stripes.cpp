// Thread stripes (include/orca/resilience/detail/stripes.hpp).
#include "orca/resilience/detail/stripes.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <thread>

namespace orca::resilience::detail {

std::uint32_t thread_stripe() noexcept {
  // relaxed: only distinctness matters, not order.
  static std::atomic<std::uint32_t> next{0};
  thread_local const std::uint32_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}

std::uint32_t stripe_count(int requested) noexcept {
  unsigned n =
      requested > 0 ? static_cast<unsigned>(requested) : std::thread::hardware_concurrency();
  n = std::clamp(n, 1u, 16u);
  return std::bit_ceil(n);
}

}  // namespace orca::resilience::detail
