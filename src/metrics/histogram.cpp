// Histogram: per-shard bucket counts and sum; exemplar slots made on first use.
#include "orca/metrics/histogram.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <new>
#include <stdexcept>
#include <thread>

namespace orca::metrics {

std::vector<double> default_buckets() {
  return {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
}

std::vector<double> latency_buckets() {
  return {.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1,
          .25,   .5,     1,     2.5,  5,     10,   30,  60,   300};
}

std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  if (!(start > 0) || !(factor > 1) || count == 0)
    throw std::invalid_argument(
        "orca::metrics::exponential_buckets: needs start > 0, factor > 1 and count > 0");
  std::vector<double> out;
  for (double b = start; out.size() < count; b *= factor)
    out.push_back(b);
  return out;
}

void check_buckets(const std::vector<double>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]))
      throw std::invalid_argument("histogram bucket bounds must be finite (+Inf is implied)");
    if (i > 0 && !(bounds[i - 1] < bounds[i]))
      throw std::invalid_argument("histogram bucket bounds must increase strictly");
  }
}

// One bucket's latest exemplar. `busy` is a try-lock: a writer that finds it taken
// drops its exemplar (keeping one is best effort and must never wait); the scrape
// waits for it (a writer holds it for a copy of a few dozen bytes).
struct Histogram::ExemplarSlot {
  std::atomic<bool> busy{false};
  bool set = false;
  std::uint8_t length = 0;
  char id[kMaxExemplarId];
  double value = 0;
  double timestamp = 0;
};

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)),
      // counts (bounds + 1, +Inf included) and the sum, rounded up to whole lines
      stride_((bounds_->size() + 2 + 7) / 8 * 8),
      lines_(new Line[detail::shard_count() * stride_ / 8]),
      exemplars_(new std::atomic<ExemplarSlot*>[detail::shard_count()]) {
  for (std::size_t i = 0; i < detail::shard_count() * stride_; ++i)
    lines_[i / 8].word[i % 8].store(0, std::memory_order_relaxed);
  for (std::size_t s = 0; s < detail::shard_count(); ++s)
    exemplars_[s].store(nullptr, std::memory_order_relaxed);
}

Histogram::~Histogram() {
  for (std::size_t s = 0; s < detail::shard_count(); ++s)
    delete[] exemplars_[s].load(std::memory_order_acquire);
}

std::size_t Histogram::bucket_of(double value) const noexcept {
  // The first bound >= value (le is inclusive); past them all, +Inf.
  const std::vector<double>& b = *bounds_;
  return static_cast<std::size_t>(std::lower_bound(b.begin(), b.end(), value) - b.begin());
}

void Histogram::observe(double value) noexcept {
  if (std::isnan(value)) return;
  const std::size_t shard = detail::this_shard();
  // relaxed: the figures are read at scrape time, each on its own.
  word(shard, bucket_of(value)).fetch_add(1, std::memory_order_relaxed);
  detail::add_double(word(shard, bounds_->size() + 1), value);
}

void Histogram::observe(double value, std::string_view trace_id) noexcept {
  if (std::isnan(value)) return;
  const std::size_t shard = detail::this_shard();
  const std::size_t bucket = bucket_of(value);
  word(shard, bucket).fetch_add(1, std::memory_order_relaxed);
  detail::add_double(word(shard, bounds_->size() + 1), value);
  if (!trace_id.empty() && trace_id.size() <= kMaxExemplarId)
    keep_exemplar(shard, bucket, value, trace_id);
}

void Histogram::keep_exemplar(std::size_t shard, std::size_t bucket, double value,
                              std::string_view trace_id) noexcept {
  // acquire: a slot array made by another thread of this shard is seen initialised.
  ExemplarSlot* slots = exemplars_[shard].load(std::memory_order_acquire);
  if (slots == nullptr) {
    ExemplarSlot* made = new (std::nothrow) ExemplarSlot[bounds_->size() + 1];
    if (made == nullptr) return;
    // acq_rel: publish `made`'s initialisation, or see the winner's.
    if (exemplars_[shard].compare_exchange_strong(slots, made, std::memory_order_acq_rel,
                                                  std::memory_order_acquire)) {
      slots = made;
    } else {
      delete[] made;
    }
  }
  ExemplarSlot& slot = slots[bucket];
  // acquire/release: the slot's fields are handed between writer and scrape by `busy`.
  if (slot.busy.exchange(true, std::memory_order_acquire)) return;
  std::memcpy(slot.id, trace_id.data(), trace_id.size());
  slot.length = static_cast<std::uint8_t>(trace_id.size());
  slot.value = value;
  slot.timestamp =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  slot.set = true;
  slot.busy.store(false, std::memory_order_release);
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot out;
  const std::size_t n = bounds_->size() + 1;
  out.bounds = *bounds_;
  out.buckets.assign(n, 0);
  out.exemplars.assign(n, std::nullopt);
  for (std::size_t s = 0; s < detail::shard_count(); ++s) {
    for (std::size_t b = 0; b < n; ++b)
      out.buckets[b] += word(s, b).load(std::memory_order_relaxed);
    out.sum += std::bit_cast<double>(word(s, bounds_->size() + 1).load(std::memory_order_relaxed));
    ExemplarSlot* slots = exemplars_[s].load(std::memory_order_acquire);
    if (slots == nullptr) continue;
    for (std::size_t b = 0; b < n; ++b) {
      ExemplarSlot& slot = slots[b];
      while (slot.busy.exchange(true, std::memory_order_acquire))
        std::this_thread::yield();
      if (slot.set && (!out.exemplars[b] || out.exemplars[b]->timestamp < slot.timestamp))
        out.exemplars[b] = Exemplar{std::string(slot.id, slot.length), slot.value, slot.timestamp};
      slot.busy.store(false, std::memory_order_release);
    }
  }
  for (std::size_t b = 1; b < n; ++b)
    out.buckets[b] += out.buckets[b - 1];
  out.count = out.buckets.back();
  return out;
}

}  // namespace orca::metrics
