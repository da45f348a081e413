// Counter: a count that only grows (requests served, jobs finished), as Prometheus'
// counter. Invariant: value() is the sum of every inc() that returned before it
// was called (increments in flight may or may not be seen).
//
//   orca::metrics::Counter& served = registry.counter("app_served_total", "Requests served.");
//   served.inc();
//
// Cost: one relaxed fetch_add on the calling thread's own cache line (its shard,
// detail/shards.hpp); value() sums the shards. Nothing is allocated after
// construction.
//
// Thread safety: inc() and value() from any thread, concurrently.
#pragma once

#include <cstdint>
#include <memory>

#include "orca/metrics/detail/shards.hpp"

namespace orca::metrics {

class Counter {
 public:
  Counter();
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void inc(std::uint64_t n = 1) noexcept {
    // relaxed: a counter orders nothing; a scrape reads each shard on its own.
    cells_[detail::this_shard()].value.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept;

 private:
  std::unique_ptr<detail::PaddedCount[]> cells_;
};

}  // namespace orca::metrics
