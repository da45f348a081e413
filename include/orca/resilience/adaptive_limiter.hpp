// AdaptiveLimiter: a concurrency limit that finds the dependency's capacity from the
// latency it observes, for load shedding (refuse what would only queue) and for
// sizing a worker's concurrency. Two algorithms:
//
//  - kGradient (after Envoy's adaptive concurrency filter and Netflix's Gradient):
//    once per window of max(10, limit) samples (about a round trip), from the window's
//    mean latency rtt: gradient = clamp(tolerance * min_rtt / rtt, 0.5, 2) (0.5 if a
//    call was dropped); new = limit * gradient + sqrt(limit) (headroom to keep
//    probing); the limit moves a `smoothing` share of the way to it. min_rtt is the unloaded
//    latency, measured at the start and then every `min_rtt_interval` samples, and no
//    sooner than `min_rtt_period` after the last, by holding the limit at `min_limit`
//    until `min_rtt_samples` calls admitted under it have reported (a measurement taken
//    at full load would only see the queue). Where latency grows with concurrency past a
//    capacity C, the limit settles near tolerance * C + sqrt(C).
//  - kAimd (TCP's): per window of max(10, limit) samples, a drop or a sample at or
//    above `aimd_timeout` multiplies the limit by `backoff_ratio`, else it grows by 1
//    (while at least half the limit was in use).
//
// Samples the limit ignores: from permits released unreported, and from calls admitted
// before a min_rtt measurement began; while fewer than half the limit is in use the
// gradient does not raise it (the caller, not the dependency, is the bottleneck).
//
//   orca::resilience::AdaptiveLimiter limiter({});
//   auto permit = limiter.try_acquire();
//   if (!permit) return reply_503();           // shed
//   ... call ...; permit.record(elapsed);      // or permit.record_dropped()
//
// Thread safety: every member from any thread or task. try_acquire is a CAS on the
// in-flight count; a report takes a short lock to update the algorithm's state.
// Errors: the constructor throws std::invalid_argument for bad options (validate());
// call() returns errc::limit_exceeded when shed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/resilience/errors.hpp"
#include "orca/resilience/time_source.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::resilience {

enum class AdaptiveAlgorithm : std::uint8_t { kGradient, kAimd };

struct AdaptiveLimiterOptions {
  std::string name{};
  AdaptiveAlgorithm algorithm = AdaptiveAlgorithm::kGradient;
  int initial_limit = 20;  // min_limit..max_limit
  int min_limit = 1;       // >= 1
  int max_limit = 1000;    // >= min_limit
  // kGradient
  double tolerance = 1.05;        // latency above min_rtt * this lowers the limit; >= 1
  double smoothing = 0.2;         // 0 < s <= 1
  int min_rtt_interval = 10'000;  // samples between min_rtt measurements; >= 1
  int min_rtt_samples = 25;       // samples per measurement; >= 1
  // At least this long between measurements too (by `clock`); >= 0. A count alone re-measures
  // every second at 10,000 calls/s, and each measurement runs min_limit calls at once
  // for min_rtt_samples calls: a quarter of the throughput lost, and a limit that
  // never stays put (bench adaptive_limit). Envoy's filter re-measures every 60 s.
  std::chrono::nanoseconds min_rtt_period = std::chrono::seconds(30);
  // kAimd
  double backoff_ratio = 0.9;                                       // 0 < r < 1
  std::chrono::nanoseconds aimd_timeout = std::chrono::seconds(5);  // slower = dropped; > 0
  // Called after the limit changes (from the reporting thread, under no lock).
  std::function<void(int old_limit, int new_limit)> on_limit_change{};
  const TimeSource* clock = nullptr;
};

std::string validate(const AdaptiveLimiterOptions& options);

struct AdaptiveLimiterMetrics {
  int limit;
  int inflight;
  std::uint64_t rejected;            // shed since construction
  std::chrono::nanoseconds min_rtt;  // gradient's current estimate (0: not measured yet)
};

class AdaptiveLimiter {
 public:
  class Permit {
   public:
    Permit() noexcept = default;
    Permit(Permit&& o) noexcept
        : owner_(std::exchange(o.owner_, nullptr)),
          generation_(o.generation_),
          inflight_(o.inflight_) {}
    Permit& operator=(Permit&& o) noexcept {
      if (this != &o) {
        release();
        owner_ = std::exchange(o.owner_, nullptr);
        generation_ = o.generation_;
        inflight_ = o.inflight_;
      }
      return *this;
    }
    ~Permit() { release(); }
    explicit operator bool() const noexcept { return owner_ != nullptr; }
    // The call answered after `rtt`.
    void record(std::chrono::nanoseconds rtt) noexcept { finish(rtt, false); }
    // The call timed out or was refused downstream: overload.
    void record_dropped() noexcept { finish(std::chrono::nanoseconds(0), true); }
    // The outcome says nothing about capacity (e.g. a bad request): no sample.
    void release() noexcept;

   private:
    friend class AdaptiveLimiter;
    Permit(AdaptiveLimiter* owner, std::uint64_t generation, int inflight) noexcept
        : owner_(owner), generation_(generation), inflight_(inflight) {}
    void finish(std::chrono::nanoseconds rtt, bool dropped) noexcept;

    AdaptiveLimiter* owner_ = nullptr;
    std::uint64_t generation_ = 0;
    int inflight_ = 0;  // in flight when admitted, this call included
  };

  explicit AdaptiveLimiter(AdaptiveLimiterOptions options = {});
  AdaptiveLimiter(const AdaptiveLimiter&) = delete;
  AdaptiveLimiter& operator=(const AdaptiveLimiter&) = delete;

  // A permit if fewer than limit() calls are in flight; never waits.
  Permit try_acquire() noexcept;
  // Runs fn(ctx) -> Task<Result<T>> under a permit: limit_exceeded if shed; a result
  // reports its latency, deadline_exceeded and rejections downstream report a drop,
  // other errors (and exceptions) no sample.
  template <class F>
  auto call(const Context& ctx, F&& fn)
      -> Task<typename std::invoke_result_t<F&, const Context&>::value_type>;

  int limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  int inflight() const noexcept { return inflight_.load(std::memory_order_relaxed); }
  AdaptiveLimiterMetrics metrics() const noexcept;
  const AdaptiveLimiterOptions& options() const noexcept { return options_; }

 private:
  void on_sample(const Permit& permit, std::chrono::nanoseconds rtt, bool dropped) noexcept;
  void set_limit_locked(double value) noexcept;
  // Whether min_rtt_period has passed since the last measurement (else the sample
  // count starts over).
  bool measurement_due_locked() noexcept;

  const AdaptiveLimiterOptions options_;
  std::atomic<int> limit_;
  std::atomic<int> inflight_{0};
  std::atomic<std::uint64_t> generation_{0};  // bumped when a min_rtt measurement starts
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::int64_t> min_rtt_ns_{0};

  std::mutex mu_;              // guards what follows
  double estimate_;            // the limit before rounding
  bool measuring_ = false;     // gradient: holding the limit at min_limit
  double saved_estimate_ = 0;  // the estimate to return to after measuring
  std::int64_t measured_min_ns_ = 0;
  int measured_samples_ = 0;
  int since_measure_ = 0;
  std::int64_t measured_at_ns_ = 0;  // when the last measurement ended, by the clock
  int window_samples_ = 0;           // gradient: the samples of the current update window
  int window_dropped_ = 0;
  int window_max_inflight_ = 0;
  double window_sum_ns_ = 0;
};

template <class F>
auto AdaptiveLimiter::call(const Context& ctx, F&& fn)
    -> Task<typename std::invoke_result_t<F&, const Context&>::value_type> {
  using R = typename std::invoke_result_t<F&, const Context&>::value_type;
  Permit permit = try_acquire();
  if (!permit) co_return R(make_error_code(errc::limit_exceeded));
  const auto start = detail::now(options_.clock);
  auto task = fn(ctx);  // a named local: GCC PR 101367
  R result = co_await std::move(task);
  const std::error_code error = result.error();
  if (!error) {
    permit.record(detail::now(options_.clock) - start);
  } else if (error == make_error_code(orca::errc::deadline_exceeded) || is_rejection(error)) {
    permit.record_dropped();
  }
  co_return result;
}

}  // namespace orca::resilience
