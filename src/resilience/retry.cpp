// Retry and RetryBudget (include/orca/resilience/retry.hpp, retry_budget.hpp).
#include "orca/resilience/retry.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

#include "orca/resilience/errors.hpp"

namespace orca::resilience {

namespace {

template <class Options>
const Options& checked(const Options& options) {
  if (std::string why = validate(options); !why.empty()) throw std::invalid_argument(why);
  return options;
}

double thread_random() {
  // Seeded per thread from random_device: jitter must differ between processes too.
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

}  // namespace

// ---- RetryBudget ----

std::string validate(const RetryBudgetOptions& o) {
  if (!(o.ratio >= 0 && o.ratio <= 1000))
    return "retry budget: ratio is " + std::to_string(o.ratio) +
           "; it is retries per call and must be within 0..1000";
  if (!(o.min_per_second >= 0) || !std::isfinite(o.min_per_second))
    return "retry budget: min_per_second is " + std::to_string(o.min_per_second) +
           "; it must not be negative";
  if (o.ttl.count() < 10)
    return "retry budget: ttl is " + std::to_string(o.ttl.count()) +
           " ns; the window must be positive (at least 10 ns)";
  return {};
}

RetryBudget::RetryBudget(RetryBudgetOptions options)
    : options_(checked(options)),
      bucket_ns_(options_.ttl.count() / kBuckets),
      reserve_(options_.min_per_second * std::chrono::duration<double>(options_.ttl).count()) {}

std::int64_t RetryBudget::epoch_now() const noexcept {
  return detail::now(options_.clock).time_since_epoch().count() / bucket_ns_;
}

void RetryBudget::add(Slot (&ring)[kBuckets], std::int64_t epoch) noexcept {
  Slot& slot = ring[epoch % kBuckets];
  // relaxed: counts only. A call at a bucket's turn may be lost (the reset races it):
  // the budget is an estimate.
  std::int64_t tag = slot.epoch.load(std::memory_order_relaxed);
  if (tag != epoch && slot.epoch.compare_exchange_strong(tag, epoch, std::memory_order_relaxed))
    slot.count.store(0, std::memory_order_relaxed);
  slot.count.fetch_add(1, std::memory_order_relaxed);
}

std::int64_t RetryBudget::sum(const Slot (&ring)[kBuckets], std::int64_t epoch) noexcept {
  std::int64_t total = 0;
  for (const Slot& slot : ring) {
    const std::int64_t tag = slot.epoch.load(std::memory_order_relaxed);
    if (tag < 0 || tag > epoch || epoch - tag >= kBuckets) continue;
    total += slot.count.load(std::memory_order_relaxed);
  }
  return total;
}

double RetryBudget::balance_at(std::int64_t epoch) const noexcept {
  return reserve_ + options_.ratio * static_cast<double>(sum(deposits_, epoch)) -
         static_cast<double>(sum(withdrawals_, epoch));
}

void RetryBudget::deposit() noexcept {
  add(deposits_, epoch_now());
}

bool RetryBudget::try_withdraw() noexcept {
  const std::int64_t epoch = epoch_now();
  std::lock_guard lock(withdraw_mu_);
  // A small epsilon: 10 calls at ratio 0.1 make exactly one retry despite rounding.
  if (balance_at(epoch) < 1.0 - 1e-9) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  add(withdrawals_, epoch);
  withdrawn_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

double RetryBudget::balance() const noexcept {
  return balance_at(epoch_now());
}

RetryBudgetMetrics RetryBudget::metrics() const noexcept {
  return {balance(), withdrawn_.load(std::memory_order_relaxed),
          refused_.load(std::memory_order_relaxed)};
}

// ---- Retry ----

std::string validate(const RetryOptions& o) {
  if (o.max_attempts < 1 || o.max_attempts > 1000)
    return "retry: max_attempts is " + std::to_string(o.max_attempts) +
           "; it counts the first attempt too and must be within 1..1000";
  if (o.initial_backoff.count() < 0)
    return "retry: initial_backoff is negative (" + std::to_string(o.initial_backoff.count()) +
           " ns)";
  if (o.max_backoff < o.initial_backoff)
    return "retry: max_backoff (" + std::to_string(o.max_backoff.count()) +
           " ns) is below initial_backoff (" + std::to_string(o.initial_backoff.count()) + " ns)";
  if (!(o.multiplier >= 1) || !std::isfinite(o.multiplier))
    return "retry: multiplier is " + std::to_string(o.multiplier) +
           "; backoffs must not shrink, so it must be at least 1";
  if (o.expected_attempt.count() < 0)
    return "retry: expected_attempt is negative (" + std::to_string(o.expected_attempt.count()) +
           " ns)";
  return {};
}

Retry::Retry(RetryOptions options) : options_(checked(options)) {}

bool Retry::is_retryable(std::error_code error) const noexcept {
  if (!error) return false;
  if (options_.retryable) return options_.retryable(error);
  return error != make_error_code(orca::errc::canceled) &&
         error != make_error_code(orca::errc::deadline_exceeded) &&
         error != make_error_code(errc::circuit_open) && error != make_error_code(errc::too_large);
}

std::chrono::nanoseconds Retry::backoff(int attempt) const {
  const double ceiling = std::min(static_cast<double>(options_.max_backoff.count()),
                                  static_cast<double>(options_.initial_backoff.count()) *
                                      std::pow(options_.multiplier, std::max(0, attempt - 2)));
  const double r = options_.random ? options_.random() : thread_random();
  return std::chrono::nanoseconds(static_cast<std::int64_t>(ceiling * std::clamp(r, 0.0, 1.0)));
}

bool Retry::fits_before_deadline(const Context& ctx, std::chrono::nanoseconds wait) const noexcept {
  const auto deadline = ctx.deadline();
  if (!deadline) return true;
  return detail::now(options_.clock) + wait + options_.expected_attempt <= *deadline;
}

Retry::Verdict Retry::next_attempt(const Context& ctx, int next, std::error_code error,
                                   const RetryAfter& retry_after, std::chrono::nanoseconds& wait) {
  if (next > options_.max_attempts || !is_retryable(error) || ctx.err()) return Verdict::kStop;
  // An asked-for delay replaces the jittered backoff, within max_backoff (retry.hpp).
  wait = retry_after ? std::clamp(*retry_after, std::chrono::nanoseconds(0), options_.max_backoff)
                     : backoff(next);
  if (!fits_before_deadline(ctx, wait)) {
    deadline_refused_.fetch_add(1, std::memory_order_relaxed);
    return Verdict::kDeadline;
  }
  if (options_.budget != nullptr && !options_.budget->try_withdraw()) {
    budget_refused_.fetch_add(1, std::memory_order_relaxed);
    return Verdict::kBudget;
  }
  retries_.fetch_add(1, std::memory_order_relaxed);
  if (options_.on_retry) options_.on_retry(RetryEvent{next - 1, error, wait});
  return Verdict::kRetry;
}

RetryMetrics Retry::metrics() const noexcept {
  return {calls_.load(std::memory_order_relaxed), retries_.load(std::memory_order_relaxed),
          budget_refused_.load(std::memory_order_relaxed),
          deadline_refused_.load(std::memory_order_relaxed)};
}

Task<Result<void>> backoff_sleep(const Context& ctx, std::chrono::nanoseconds d) {
  co_return co_await sleep_for(ctx, d);
}

}  // namespace orca::resilience
