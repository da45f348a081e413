// RateLimiter: a local rate limit by GCRA (the generic cell rate algorithm, a token
// bucket kept as one number): `events` per `per` on average, up to `burst` at once.
//
//   orca::resilience::RateLimiter limiter({.events = 1000, .per = 1s, .burst = 50});
//   if (!limiter.allow()) return reply_429(limiter.retry_after());
//   if (auto r = co_await limiter.wait(ctx); !r) return r.error();   // or wait for it
//
// State: one atomic, the theoretical arrival time (TAT) of the next unit. A request
// for n units at time t computes tat' = max(TAT, t) + n*T (T = per/events, the
// emission interval) and is admitted iff tat' - t <= burst*T, by a CAS of TAT to tat'.
// So over any interval of length L at most burst + L/T units are admitted, and a
// limiter idle for burst*T has its whole burst again. Lock-free: a decision is one
// clock read, one load and one CAS (retried only when another thread won the CAS).
//
// Thread safety: every member from any thread or task.
// Cancel safety: wait() that ends with the context's error gives back what it reserved
// (TAT moves back by n*T; a later reservation keeps its place). give_back(n) moves TAT
// back the same way: the units are free again for whoever asks next.
// Errors: the constructor throws std::invalid_argument for bad options (validate());
// wait() returns errc::too_large for n above the burst, the context's error, or
// errc::rate_limited when ctx's deadline comes before the units would be available.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "orca/resilience/detail/stripes.hpp"
#include "orca/resilience/errors.hpp"
#include "orca/resilience/limiter.hpp"
#include "orca/resilience/time_source.hpp"

namespace orca::resilience {

struct RateLimiterOptions {
  double events = 100;                                     // per `per`; > 0
  std::chrono::nanoseconds per = std::chrono::seconds(1);  // > 0
  std::int64_t burst = 1;  // units admitted at once after idling; >= 1
  const TimeSource* clock = nullptr;
};

// Empty if usable, else one line naming the value and the rule (a rate at or below 0,
// an emission interval below 1 ns, burst < 1, burst * interval overflowing).
std::string validate(const RateLimiterOptions& options);

// "1000/s", "50/m", "3/h", "20/ms" (events per unit; the count may have a fraction:
// "0.5/s"), with an optional burst: "1000/s,burst=50". Errors: std::errc::invalid_argument,
// with the reason as the Error's detail() ("rate \"5/fortnight\": the unit must be ms, s,
// m or h").
Result<RateLimiterOptions> parse_rate(std::string_view text);
// The text parse_rate reads back: "100/s", "50/m,burst=5" (per ms, s, m or h; any
// other period as a rate per second).
std::string format_rate(const RateLimiterOptions& options);

// The configuration only: a decision counts nothing, since a shared counter would be
// a second contended write on every decision. Callers count their refusals (the
// caller that answers 429 knows); KeyedRateLimiter counts its own.
struct RateLimiterMetrics {
  double events;
  std::chrono::nanoseconds per;
  std::int64_t burst;
};

class RateLimiter final : public Limiter {
 public:
  // A reservation made by reserve(): admitted after delay(); cancel() gives it back.
  class Reservation {
   public:
    bool ok() const noexcept { return limiter_ != nullptr; }
    std::chrono::nanoseconds delay() const noexcept { return delay_; }
    // Returns the units (TAT moves back by their interval). Once; no-op if !ok().
    void cancel() noexcept;

   private:
    friend class RateLimiter;
    RateLimiter* limiter_ = nullptr;
    std::int64_t units_ns_ = 0;
    std::chrono::nanoseconds delay_{0};
  };

  explicit RateLimiter(RateLimiterOptions options = {});

  // Takes n units if available now.
  bool allow(std::int64_t n = 1) noexcept;
  // Takes n units now or later: the reservation's delay says when they are due. Not ok
  // (nothing taken) for n above the burst.
  Reservation reserve(std::int64_t n = 1) noexcept;
  // Waits until n units are available and takes them (see the errors above).
  Task<Result<void>> wait(const Context& ctx, std::int64_t n = 1);
  // How long until n units would be available (0: now). A snapshot.
  std::chrono::nanoseconds retry_after(std::int64_t n = 1) const noexcept;

  // Limiter: one limit, whatever the key.
  Task<Result<Decision>> decide(const Context& ctx, std::string_view key,
                                std::int64_t n = 1) override;
  // The same decision without a task (what decide() returns inside it).
  Decision decide_now(std::int64_t n = 1) noexcept;
  // Takes up to `max` units available now (one CAS), or none with the wait for one.
  Task<Result<Grant>> take_up_to(const Context& ctx, std::string_view key,
                                 std::int64_t max) override;
  Task<Result<void>> give_back(const Context& ctx, std::string_view key, std::int64_t n) override;
  // The same without a task: what take_up_to() and give_back() do inside.
  Grant take_up_to_now(std::int64_t max) noexcept;
  void give_back_now(std::int64_t n) noexcept;

  RateLimiterMetrics metrics() const noexcept;
  const RateLimiterOptions& options() const noexcept { return options_; }

 private:
  std::int64_t now_ns() const noexcept {
    return detail::now(options_.clock).time_since_epoch().count();
  }

  const RateLimiterOptions options_;
  std::int64_t interval_ns_;   // T
  std::int64_t tolerance_ns_;  // burst * T
  // The theoretical arrival time, in the clock's nanoseconds. relaxed everywhere: it
  // guards a count, not the publication of other data.
  alignas(detail::kStripeAlign) std::atomic<std::int64_t> tat_{0};
};

}  // namespace orca::resilience
