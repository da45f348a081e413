// Histogram: observations (durations, sizes) counted into fixed buckets, with their
// sum and count, as Prometheus' histogram: a bucket `le` counts the observations
// <= le, and the last bucket (+Inf) counts them all. The bounds are fixed when the
// histogram is made, so a scrape's figures can be summed across processes and
// histogram_quantile() works on them.
//
//   auto& latency = registry.histogram("app_latency_seconds", "Time to answer.",
//                                      orca::metrics::latency_buckets());
//   latency.observe(0.042);
//   latency.observe(0.731, trace_id);   // with an exemplar (OpenMetrics only)
//
// Exemplars: an observation may carry a trace id; each bucket keeps the latest one
// it got (with its value and time), so that a slow bucket on a dashboard links to one
// real slow request or job. They are written to the OpenMetrics format only (the
// Prometheus text format 0.0.4 has no syntax for them). A trace id longer than
// kMaxExemplarId bytes is not kept. Keeping an exemplar never waits: if another
// thread writes the same bucket's slot at that moment, this one is dropped.
//
// Cost: observe() finds the bucket by binary search and makes two relaxed adds (the
// bucket, the sum) on the calling thread's shard (detail/shards.hpp): no lock, no
// shared cache line. A NaN observation is ignored (it would poison the sum).
//
// Thread safety: observe() and snapshot() from any thread, concurrently. A snapshot
// is each figure as it was when read: count and sum may differ by the observations
// in flight.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orca/metrics/detail/shards.hpp"

namespace orca::metrics {

// Prometheus' default buckets, in seconds: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10.
std::vector<double> default_buckets();
// orca's latency buckets, in seconds: 100 us to 5 min, about 2.5x apart, for HTTP
// requests (a local "hello" answers in well under a millisecond) and jobs (minutes).
// They include 0.5 s, the P99 threshold of the shipped alert.
std::vector<double> latency_buckets();
// `count` bounds: start, start*factor, ... (start > 0, factor > 1).
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);

// Bounds must be finite and strictly increasing (+Inf is always added): throws
// std::invalid_argument naming the fault otherwise.
void check_buckets(const std::vector<double>& bounds);

inline constexpr std::size_t kMaxExemplarId = 64;

struct Exemplar {
  std::string trace_id;
  double value = 0;
  double timestamp = 0;  // seconds since the Unix epoch
};

struct HistogramSnapshot {
  std::vector<double> bounds;          // without +Inf
  std::vector<std::uint64_t> buckets;  // cumulative, bounds.size() + 1 entries (+Inf last)
  double sum = 0;
  std::uint64_t count = 0;                         // == buckets.back()
  std::vector<std::optional<Exemplar>> exemplars;  // per bucket, latest
};

class Histogram {
 public:
  // `bounds` must pass check_buckets (the registry checks them once per family).
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);
  ~Histogram();
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(double value) noexcept;
  // With an exemplar: `trace_id` (empty: none) is kept on the bucket of `value`.
  void observe(double value, std::string_view trace_id) noexcept;
  // Observes a duration in seconds.
  template <class Rep, class Period>
  void observe(std::chrono::duration<Rep, Period> d, std::string_view trace_id = {}) noexcept {
    observe(std::chrono::duration<double>(d).count(), trace_id);
  }

  HistogramSnapshot snapshot() const;
  const std::vector<double>& bounds() const noexcept { return *bounds_; }

 private:
  struct ExemplarSlot;
  std::size_t bucket_of(double value) const noexcept;
  void keep_exemplar(std::size_t shard, std::size_t bucket, double value,
                     std::string_view trace_id) noexcept;

  std::shared_ptr<const std::vector<double>> bounds_;
  // Per shard, `stride_` words on whole cache lines: the bucket counts (not
  // cumulative; bounds + 1 of them), then the sum as a double's bits.
  struct alignas(64) Line {
    std::atomic<std::uint64_t> word[8];
  };
  std::atomic<std::uint64_t>& word(std::size_t shard, std::size_t i) const noexcept {
    const std::size_t k = shard * stride_ + i;
    return lines_[k / 8].word[k % 8];
  }
  std::size_t stride_;  // a multiple of 8
  std::unique_ptr<Line[]> lines_;
  // Per shard, its exemplar slots (one per bucket), made at its first exemplar.
  std::unique_ptr<std::atomic<ExemplarSlot*>[]> exemplars_;
};

}  // namespace orca::metrics
