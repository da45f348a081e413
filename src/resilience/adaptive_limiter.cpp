// AdaptiveLimiter (include/orca/resilience/adaptive_limiter.hpp).
#include "orca/resilience/adaptive_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace orca::resilience {

namespace {

const AdaptiveLimiterOptions& checked(const AdaptiveLimiterOptions& options) {
  if (std::string why = validate(options); !why.empty()) throw std::invalid_argument(why);
  return options;
}

}  // namespace

std::string validate(const AdaptiveLimiterOptions& o) {
  auto num = [](auto v) { return std::to_string(v); };
  if (o.min_limit < 1)
    return "adaptive limiter: min_limit is " + num(o.min_limit) + "; it must be at least 1";
  if (o.max_limit < o.min_limit)
    return "adaptive limiter: max_limit (" + num(o.max_limit) + ") is below min_limit (" +
           num(o.min_limit) + ")";
  if (o.initial_limit < o.min_limit || o.initial_limit > o.max_limit)
    return "adaptive limiter: initial_limit is " + num(o.initial_limit) + "; it must be within " +
           num(o.min_limit) + ".." + num(o.max_limit);
  if (!(o.tolerance >= 1) || !std::isfinite(o.tolerance))
    return "adaptive limiter: tolerance is " + num(o.tolerance) +
           "; it multiplies the unloaded latency and must be at least 1";
  if (!(o.smoothing > 0 && o.smoothing <= 1))
    return "adaptive limiter: smoothing is " + num(o.smoothing) +
           "; it must be above 0 and at most 1";
  if (o.min_rtt_interval < 1)
    return "adaptive limiter: min_rtt_interval is " + num(o.min_rtt_interval) +
           "; it must be at least 1";
  if (o.min_rtt_period.count() < 0)
    return "adaptive limiter: min_rtt_period is " + num(o.min_rtt_period.count()) +
           " ns; it must not be negative";
  if (o.min_rtt_samples < 1)
    return "adaptive limiter: min_rtt_samples is " + num(o.min_rtt_samples) +
           "; it must be at least 1";
  if (!(o.backoff_ratio > 0 && o.backoff_ratio < 1))
    return "adaptive limiter: backoff_ratio is " + num(o.backoff_ratio) +
           "; it must be above 0 and below 1";
  if (o.aimd_timeout.count() <= 0)
    return "adaptive limiter: aimd_timeout is " + num(o.aimd_timeout.count()) +
           " ns; it must be positive";
  return {};
}

AdaptiveLimiter::AdaptiveLimiter(AdaptiveLimiterOptions options)
    : options_(checked(options)),
      limit_(options_.initial_limit),
      estimate_(options_.initial_limit) {
  if (options_.algorithm == AdaptiveAlgorithm::kGradient) {
    // Measure the unloaded latency first: nothing else tells what "slow" means.
    measuring_ = true;
    saved_estimate_ = estimate_;
    measured_min_ns_ = std::numeric_limits<std::int64_t>::max();
    limit_.store(options_.min_limit, std::memory_order_relaxed);
  }
}

AdaptiveLimiter::Permit AdaptiveLimiter::try_acquire() noexcept {
  // relaxed: the count is the only shared state; the permit publishes nothing else.
  int inflight = inflight_.load(std::memory_order_relaxed);
  for (;;) {
    if (inflight >= limit_.load(std::memory_order_relaxed)) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return Permit();
    }
    if (inflight_.compare_exchange_weak(inflight, inflight + 1, std::memory_order_relaxed))
      return Permit(this, generation_.load(std::memory_order_relaxed), inflight + 1);
  }
}

void AdaptiveLimiter::Permit::release() noexcept {
  if (owner_ == nullptr) return;
  std::exchange(owner_, nullptr)->inflight_.fetch_sub(1, std::memory_order_relaxed);
}

void AdaptiveLimiter::Permit::finish(std::chrono::nanoseconds rtt, bool dropped) noexcept {
  if (owner_ == nullptr) return;
  AdaptiveLimiter* owner = std::exchange(owner_, nullptr);
  owner->inflight_.fetch_sub(1, std::memory_order_relaxed);
  owner->on_sample(*this, rtt, dropped);
}

bool AdaptiveLimiter::measurement_due_locked() noexcept {
  const std::int64_t now = detail::now(options_.clock).time_since_epoch().count();
  if (now - measured_at_ns_ >= options_.min_rtt_period.count()) return true;
  since_measure_ = 0;  // asked again min_rtt_interval samples on: one clock read per interval
  return false;
}

void AdaptiveLimiter::set_limit_locked(double value) noexcept {
  estimate_ = std::clamp(value, static_cast<double>(options_.min_limit),
                         static_cast<double>(options_.max_limit));
  limit_.store(static_cast<int>(estimate_), std::memory_order_relaxed);
}

void AdaptiveLimiter::on_sample(const Permit& permit, std::chrono::nanoseconds rtt,
                                bool dropped) noexcept {
  int before;
  int after;
  {
    std::lock_guard lock(mu_);
    before = limit_.load(std::memory_order_relaxed);
    if (options_.algorithm == AdaptiveAlgorithm::kAimd) {
      // As TCP: at most one decrease and one increase per window (about a round trip),
      // or the samples of one overload would cut the limit `limit` times.
      ++window_samples_;
      window_max_inflight_ = std::max(window_max_inflight_, permit.inflight_);
      if (dropped || rtt >= options_.aimd_timeout) ++window_dropped_;
      if (window_samples_ >= std::max(10, before)) {
        if (window_dropped_ > 0) {
          set_limit_locked(std::floor(estimate_ * options_.backoff_ratio));
        } else if (window_max_inflight_ * 2 >= before) {
          set_limit_locked(estimate_ + 1);
        }
        window_samples_ = 0;
        window_dropped_ = 0;
        window_max_inflight_ = 0;
      }
    } else if (measuring_) {
      // Only calls admitted under the measurement's low limit see an unloaded system.
      if (permit.generation_ == generation_.load(std::memory_order_relaxed) && !dropped) {
        measured_min_ns_ = std::min<std::int64_t>(measured_min_ns_, rtt.count());
        if (++measured_samples_ >= options_.min_rtt_samples) {
          min_rtt_ns_.store(std::max<std::int64_t>(1, measured_min_ns_), std::memory_order_relaxed);
          measuring_ = false;
          since_measure_ = 0;
          measured_at_ns_ = detail::now(options_.clock).time_since_epoch().count();
          set_limit_locked(saved_estimate_);
        }
      }
    } else if (++since_measure_ >= options_.min_rtt_interval && measurement_due_locked()) {
      measuring_ = true;
      saved_estimate_ = estimate_;
      measured_min_ns_ = std::numeric_limits<std::int64_t>::max();
      measured_samples_ = 0;
      generation_.fetch_add(1, std::memory_order_relaxed);
      limit_.store(options_.min_limit, std::memory_order_relaxed);
    } else {
      // One update per window of max(10, limit) samples, about one round trip's worth
      // at full use, from the window's mean latency: updating at every sample would
      // move the limit `limit` times per round trip on feedback one round trip old,
      // and it swings between the bounds instead of settling.
      ++window_samples_;
      window_max_inflight_ = std::max(window_max_inflight_, permit.inflight_);
      if (dropped) {
        ++window_dropped_;
      } else {
        window_sum_ns_ += static_cast<double>(rtt.count());
      }
      if (window_samples_ >= std::max(10, before)) {
        const double min_rtt = static_cast<double>(min_rtt_ns_.load(std::memory_order_relaxed));
        const int answered = window_samples_ - window_dropped_;
        const double mean = answered > 0 ? std::max(1.0, window_sum_ns_ / answered) : min_rtt;
        // A drop is overload: the gradient's floor.
        const double gradient =
            window_dropped_ > 0 ? 0.5 : std::clamp(options_.tolerance * min_rtt / mean, 0.5, 2.0);
        // App-limited: a caller using under half the limit says nothing about capacity.
        if (gradient < 1 || window_max_inflight_ * 2 >= before) {
          const double target = estimate_ * gradient + std::sqrt(estimate_);
          set_limit_locked(estimate_ + options_.smoothing * (target - estimate_));
        }
        window_samples_ = 0;
        window_dropped_ = 0;
        window_sum_ns_ = 0;
        window_max_inflight_ = 0;
      }
    }
    after = limit_.load(std::memory_order_relaxed);
  }
  if (before != after && options_.on_limit_change) options_.on_limit_change(before, after);
}

AdaptiveLimiterMetrics AdaptiveLimiter::metrics() const noexcept {
  return {limit(), inflight(), rejected_.load(std::memory_order_relaxed),
          std::chrono::nanoseconds(min_rtt_ns_.load(std::memory_order_relaxed))};
}

}  // namespace orca::resilience
