// Gauge: a value that goes up and down (connections open, a queue's depth), as
// Prometheus' gauge. One atomic double: a gauge is set or moved by a few callers
// (connections opening and closing), not on every operation, so it is not sharded
// (a set() could not be split over shards anyway). For a figure the program already
// keeps, prefer a callback (Registry::callback), read at scrape time for free.
//
// Thread safety: every member from any thread, concurrently.
#pragma once

#include <atomic>

namespace orca::metrics {

class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  // relaxed throughout: a gauge is a figure on its own, ordering nothing.
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
  void inc() noexcept { add(1.0); }
  void dec() noexcept { add(-1.0); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

}  // namespace orca::metrics
