// RateLimiter (include/orca/resilience/rate_limiter.hpp) and the Limiter wait loop.
#include "orca/resilience/rate_limiter.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace orca::resilience {

namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

double interval_of(const RateLimiterOptions& o) {
  return static_cast<double>(o.per.count()) / o.events;
}

const RateLimiterOptions& checked(const RateLimiterOptions& options) {
  if (std::string why = validate(options); !why.empty()) throw std::invalid_argument(why);
  return options;
}

}  // namespace

std::string validate(const RateLimiterOptions& o) {
  if (!(o.events > 0) || !std::isfinite(o.events))
    return "rate limiter: events is " + std::to_string(o.events) + "; the rate must be above 0";
  if (o.per.count() <= 0)
    return "rate limiter: per is " + std::to_string(o.per.count()) + " ns; it must be positive";
  if (o.burst < 1)
    return "rate limiter: burst is " + std::to_string(o.burst) + "; it must be at least 1";
  const double interval = interval_of(o);
  if (interval < 1)
    return "rate limiter: " + std::to_string(o.events) + " events per " +
           std::to_string(o.per.count()) +
           " ns is more than one per nanosecond, the limiter's resolution";
  if (interval * static_cast<double>(o.burst) >= static_cast<double>(kMax / 4))
    return "rate limiter: burst " + std::to_string(o.burst) + " at one event per " +
           std::to_string(interval) + " ns spans more time than the limiter can count";
  return {};
}

Result<RateLimiterOptions> parse_rate(std::string_view text) {
  auto fail = [&](std::string_view reason) -> Result<RateLimiterOptions> {
    std::string why("rate \"");
    why.append(text).append("\": ").append(reason);
    return Error(std::make_error_code(std::errc::invalid_argument), std::move(why));
  };
  RateLimiterOptions o;
  std::string_view rest = text;
  if (auto comma = rest.find(','); comma != std::string_view::npos) {
    std::string_view extra = rest.substr(comma + 1);
    rest = rest.substr(0, comma);
    if (extra.substr(0, 6) != "burst=") return fail("expected \",burst=N\" after the rate");
    extra.remove_prefix(6);
    auto [end, ec] = std::from_chars(extra.data(), extra.data() + extra.size(), o.burst);
    if (ec != std::errc() || end != extra.data() + extra.size())
      return fail("burst is not a whole number");
  }
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return fail("expected COUNT/UNIT, e.g. 1000/s");
  const std::string count(rest.substr(0, slash));
  const std::string_view unit = rest.substr(slash + 1);
  char* end = nullptr;
  o.events = std::strtod(count.c_str(), &end);
  if (count.empty() || end != count.c_str() + count.size())
    return fail("the count is not a number");
  using namespace std::chrono;
  if (unit == "s") {
    o.per = seconds(1);
  } else if (unit == "m" || unit == "min") {
    o.per = minutes(1);
  } else if (unit == "h") {
    o.per = hours(1);
  } else if (unit == "ms") {
    o.per = milliseconds(1);
  } else {
    return fail("the unit must be ms, s, m or h");
  }
  if (std::string bad = validate(o); !bad.empty()) return fail(bad);
  return o;
}

std::string format_rate(const RateLimiterOptions& o) {
  using namespace std::chrono;
  double events = o.events;
  const char* unit = "s";
  if (o.per == milliseconds(1)) {
    unit = "ms";
  } else if (o.per == minutes(1)) {
    unit = "m";
  } else if (o.per == hours(1)) {
    unit = "h";
  } else if (o.per != seconds(1)) {
    events = o.events / duration<double>(o.per).count();
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g/%s", events, unit);
  std::string out = buf;
  if (o.burst != 1) out.append(",burst=").append(std::to_string(o.burst));
  return out;
}

RateLimiter::RateLimiter(RateLimiterOptions options)
    : options_(checked(options)),
      interval_ns_(std::max<std::int64_t>(1, std::llround(interval_of(options_)))),
      tolerance_ns_(interval_ns_ * options_.burst) {}

bool RateLimiter::allow(std::int64_t n) noexcept {
  if (n < 0 || n > options_.burst) return false;
  const std::int64_t now = now_ns();
  const std::int64_t cost = n * interval_ns_;
  std::int64_t tat = tat_.load(std::memory_order_relaxed);
  for (;;) {
    const std::int64_t next = std::max(tat, now) + cost;
    if (next - now > tolerance_ns_) return false;
    if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return true;
  }
}

RateLimiter::Reservation RateLimiter::reserve(std::int64_t n) noexcept {
  Reservation r;
  if (n < 0 || n > options_.burst) return r;
  const std::int64_t now = now_ns();
  const std::int64_t cost = n * interval_ns_;
  std::int64_t tat = tat_.load(std::memory_order_relaxed);
  std::int64_t next;
  do {
    next = std::max(tat, now) + cost;
  } while (!tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed));
  r.limiter_ = this;
  r.units_ns_ = cost;
  r.delay_ = std::chrono::nanoseconds(std::max<std::int64_t>(0, next - tolerance_ns_ - now));
  return r;
}

void RateLimiter::Reservation::cancel() noexcept {
  if (limiter_ == nullptr) return;
  limiter_->tat_.fetch_sub(units_ns_, std::memory_order_relaxed);
  limiter_ = nullptr;
}

std::chrono::nanoseconds RateLimiter::retry_after(std::int64_t n) const noexcept {
  const std::int64_t now = now_ns();
  const std::int64_t next = std::max(tat_.load(std::memory_order_relaxed), now) + n * interval_ns_;
  return std::chrono::nanoseconds(std::max<std::int64_t>(0, next - tolerance_ns_ - now));
}

Decision RateLimiter::decide_now(std::int64_t n) noexcept {
  Decision d;
  d.allowed = allow(n);
  if (!d.allowed) {
    d.retry_after = retry_after(n);
    return d;
  }
  const std::int64_t now = now_ns();
  const std::int64_t used = std::max<std::int64_t>(0, tat_.load(std::memory_order_relaxed) - now);
  d.remaining = std::max<std::int64_t>(0, (tolerance_ns_ - used) / interval_ns_);
  return d;
}

Grant RateLimiter::take_up_to_now(std::int64_t max) noexcept {
  Grant g;
  if (max <= 0) return g;
  const std::int64_t now = now_ns();
  std::int64_t tat = tat_.load(std::memory_order_relaxed);
  for (;;) {
    const std::int64_t base = std::max(tat, now);
    // Units that fit under the tolerance now: base + k*T - now <= burst*T.
    const std::int64_t room = tolerance_ns_ - (base - now);
    const std::int64_t k = room < interval_ns_ ? 0 : std::min(max, room / interval_ns_);
    if (k == 0) {
      g.retry_after = std::chrono::nanoseconds(base + interval_ns_ - tolerance_ns_ - now);
      return g;
    }
    if (tat_.compare_exchange_weak(tat, base + k * interval_ns_, std::memory_order_relaxed)) {
      g.granted = k;
      return g;
    }
  }
}

void RateLimiter::give_back_now(std::int64_t n) noexcept {
  // As Reservation::cancel: a TAT that falls into the past counts as now.
  if (n > 0) tat_.fetch_sub(n * interval_ns_, std::memory_order_relaxed);
}

Task<Result<Grant>> RateLimiter::take_up_to(const Context& ctx, std::string_view,
                                            std::int64_t max) {
  if (auto err = ctx.err()) co_return err;
  co_return take_up_to_now(max);
}

Task<Result<void>> RateLimiter::give_back(const Context&, std::string_view, std::int64_t n) {
  give_back_now(n);  // even on a done context: the units were not used
  co_return Result<void>{};
}

Task<Result<Decision>> RateLimiter::decide(const Context& ctx, std::string_view, std::int64_t n) {
  if (n > options_.burst || n < 0) co_return make_error_code(errc::too_large);
  if (auto err = ctx.err()) co_return err;
  co_return decide_now(n);
}

Task<Result<void>> RateLimiter::wait(const Context& ctx, std::int64_t n) {
  if (n > options_.burst || n < 0) co_return make_error_code(errc::too_large);
  if (auto err = ctx.err()) co_return err;
  Reservation r = reserve(n);
  if (r.delay().count() == 0) co_return Result<void>{};
  const auto due = Clock::now() + r.delay();
  if (auto deadline = ctx.deadline(); deadline && *deadline < due) {
    r.cancel();
    co_return make_error_code(errc::rate_limited);
  }
  Result<void> slept = co_await sleep_until(ctx, due);
  if (!slept) {
    r.cancel();
    co_return slept.error();
  }
  co_return Result<void>{};
}

RateLimiterMetrics RateLimiter::metrics() const noexcept {
  return {options_.events, options_.per, options_.burst};
}

Task<Result<void>> wait(const Context& ctx, Limiter& limiter, std::string key, std::int64_t n) {
  for (;;) {
    Result<Decision> d = co_await limiter.decide(ctx, key, n);
    if (!d) co_return d.error();
    if (d->allowed) co_return Result<void>{};
    const auto due = Clock::now() + d->retry_after;
    if (auto deadline = ctx.deadline(); deadline && *deadline < due)
      co_return make_error_code(errc::rate_limited);
    Result<void> slept = co_await sleep_until(ctx, due);
    if (!slept) co_return slept.error();
  }
}

}  // namespace orca::resilience
