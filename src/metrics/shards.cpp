// Per-thread shards (detail/shards.hpp) and the counter over them.
#include <algorithm>
#include <bit>
#include <thread>

#include "orca/metrics/counter.hpp"

namespace orca::metrics {

namespace detail {

std::size_t shard_count() noexcept {
  static const std::size_t count = [] {
    const std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
    return std::min<std::size_t>(std::bit_ceil(threads), 32);
  }();
  return count;
}

std::size_t this_shard() noexcept {
  // Threads take shards round robin in the order they first count something: the
  // runtime's workers start together, so they spread over the shards.
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine =
      next.fetch_add(1, std::memory_order_relaxed) & (shard_count() - 1);
  return mine;
}

}  // namespace detail

Counter::Counter() : cells_(new detail::PaddedCount[detail::shard_count()]) {}

std::uint64_t Counter::value() const noexcept {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < detail::shard_count(); ++i)
    sum += cells_[i].value.load(std::memory_order_relaxed);
  return sum;
}

}  // namespace orca::metrics
