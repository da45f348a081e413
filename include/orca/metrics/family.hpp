// Family: the series of one metric name told apart by label values, as
// Prometheus' CounterVec/GaugeVec/HistogramVec. Invariant: a series, once made,
// lives as long as its family (references to it stay valid), and a family holds at
// most FamilyOptions::max_series of them.
//
//   auto& finished = registry.counter_family("app_jobs_finished_total", "Jobs finished.",
//                                            {"queue", "state"});
//   finished.with({"email", "succeeded"}).inc();
//
// Bounded cardinality: label values often come from outside (a job type, a queue
// name), so a family refuses to grow past max_series. Past it, every new label set
// is counted into one overflow series whose label values are all "__overflow__"
// (kOverflowValue), and overflowed() counts the observations that went there; the
// series already made go on as before. A scrape thus stays bounded in size whatever
// the callers send, and the overflow shows up on a dashboard instead of vanishing.
//
// Label values are kept as valid UTF-8 (the exposition formats require it): invalid
// bytes become U+FFFD. They are escaped when written, so any text is safe.
//
// Cost of with(): a hash of the label values and a look into an open-addressing
// table (twice max_series slots, never shrunk) without a lock: one acquire load per
// probe. Only the first use of a label set takes the family's mutex to make its
// series, and so does every use of a label set past the cap (it has no slot), so
// an overflowing family is slower, never larger. Callers on a hot path may keep the
// returned reference instead of calling with() each time. Label values that are not
// valid UTF-8 also take the mutex each time (they are looked up once cleaned).
//
// Thread safety: every member from any thread, concurrently.
// Errors: with() throws std::invalid_argument when given the wrong number of values.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "orca/metrics/counter.hpp"
#include "orca/metrics/gauge.hpp"
#include "orca/metrics/histogram.hpp"

namespace orca::metrics {

inline constexpr std::string_view kOverflowValue = "__overflow__";

struct FamilyOptions {
  // Series (label sets) at most; past them, the overflow series (above). 1000 keeps a
  // family's scrape under ~100 KB for counters, and far more than bounded labels need
  // (queue x type x state for dozens of queues and types).
  std::size_t max_series = 1000;
};

enum class MetricType { kCounter, kGauge, kHistogram };

namespace detail {

std::uint64_t hash_labels(std::span<const std::string_view> values) noexcept;
// `value` as valid UTF-8 (each invalid byte replaced by U+FFFD).
std::string clean_label_value(std::string_view value);
[[noreturn]] void throw_label_count(std::string_view family, std::size_t want, std::size_t got);

// What a scrape reads of a family, whatever its metric type.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  virtual MetricType type() const noexcept = 0;
  const std::vector<std::string>& label_names() const noexcept { return label_names_; }

 protected:
  explicit FamilyBase(std::vector<std::string> label_names)
      : label_names_(std::move(label_names)) {}
  std::vector<std::string> label_names_;
};

}  // namespace detail

template <class M>
class Family final : public detail::FamilyBase {
  static_assert(std::is_same_v<M, Counter> || std::is_same_v<M, Gauge> ||
                std::is_same_v<M, Histogram>);

 public:
  struct Series {
    std::uint64_t hash;
    std::vector<std::string> values;
    M metric;
  };

  // Made by the Registry (registry.hpp); `bounds` for histograms only.
  Family(std::string name, std::vector<std::string> label_names, FamilyOptions options,
         std::shared_ptr<const std::vector<double>> bounds = nullptr)
      : detail::FamilyBase(std::move(label_names)),
        name_(std::move(name)),
        max_series_(options.max_series),
        bounds_(std::move(bounds)) {
    std::size_t capacity = 16;
    while (capacity < 2 * max_series_)
      capacity *= 2;  // load <= 1/2: probes stay short
    mask_ = capacity - 1;
    slots_.reset(new std::atomic<Series*>[capacity]);
    for (std::size_t i = 0; i < capacity; ++i)
      slots_[i].store(nullptr, std::memory_order_relaxed);
  }

  MetricType type() const noexcept override {
    if constexpr (std::is_same_v<M, Counter>) return MetricType::kCounter;
    if constexpr (std::is_same_v<M, Gauge>) return MetricType::kGauge;
    return MetricType::kHistogram;
  }

  M& with(std::initializer_list<std::string_view> values) {
    return with(std::span<const std::string_view>(values.begin(), values.size()));
  }
  M& with(std::span<const std::string_view> values) {
    if (values.size() != label_names_.size())
      detail::throw_label_count(name_, label_names_.size(), values.size());
    const std::uint64_t h = detail::hash_labels(values);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      // acquire: the series' fields were written before its release store below.
      Series* s = slots_[i].load(std::memory_order_acquire);
      if (s == nullptr) return make(values);
      if (s->hash == h && same(s->values, values)) return s->metric;
    }
  }

  // Series made, not counting the overflow series.
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return series_.size();
  }
  // Observations sent to the overflow series (with() calls past max_series).
  std::uint64_t overflowed() const noexcept { return overflowed_.load(std::memory_order_relaxed); }

  // Every series (the overflow series last, if any), for a scrape.
  std::vector<const Series*> all() const {
    std::lock_guard lock(mu_);
    std::vector<const Series*> out;
    out.reserve(series_.size() + 1);
    for (const auto& s : series_)
      out.push_back(s.get());
    if (overflow_) out.push_back(overflow_.get());
    return out;
  }

 private:
  static bool same(const std::vector<std::string>& a, std::span<const std::string_view> b) {
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i]) return false;
    return true;
  }

  std::unique_ptr<Series> new_series(std::uint64_t hash, std::vector<std::string> values) const {
    if constexpr (std::is_same_v<M, Histogram>)
      return std::unique_ptr<Series>(new Series{hash, std::move(values), M(bounds_)});
    else
      return std::unique_ptr<Series>(new Series{hash, std::move(values), {}});
  }

  // The slow path: the first use of a label set (or one past the cap).
  M& make(std::span<const std::string_view> raw) {
    std::vector<std::string> values;
    std::vector<std::string_view> views;
    values.reserve(raw.size());
    for (std::string_view v : raw)
      values.push_back(detail::clean_label_value(v));
    for (const std::string& v : values)
      views.emplace_back(v);
    const std::uint64_t h = detail::hash_labels(views);
    std::lock_guard lock(mu_);
    std::size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      Series* s = slots_[i].load(std::memory_order_relaxed);  // writers hold mu_
      if (s == nullptr) break;
      if (s->hash == h && same(s->values, views)) return s->metric;
    }
    if (series_.size() >= max_series_) {
      overflowed_.fetch_add(1, std::memory_order_relaxed);
      if (!overflow_)
        overflow_ = new_series(
            0, std::vector<std::string>(label_names_.size(), std::string(kOverflowValue)));
      return overflow_->metric;
    }
    series_.push_back(new_series(h, std::move(values)));
    // release: readers that find the pointer see the series built.
    slots_[i].store(series_.back().get(), std::memory_order_release);
    return series_.back()->metric;
  }

  std::string name_;
  std::size_t max_series_;
  std::shared_ptr<const std::vector<double>> bounds_;
  std::size_t mask_ = 0;
  std::unique_ptr<std::atomic<Series*>[]> slots_;
  mutable std::mutex mu_;  // guards series_, overflow_ and slot writes
  std::vector<std::unique_ptr<Series>> series_;
  std::unique_ptr<Series> overflow_;
  std::atomic<std::uint64_t> overflowed_{0};
};

}  // namespace orca::metrics
