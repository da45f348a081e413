// Retry: runs an operation again when it fails with a retryable error, at most
// `max_attempts` times in all, sleeping an exponential backoff with full jitter
// between attempts, within the context's deadline and an optional RetryBudget.
//
//   orca::resilience::Retry retry({.max_attempts = 3});
//   auto attempt = [&](const orca::Context& c) { return fetch(c); };  // a named local:
//   Result<Reply> r = co_await retry.call(ctx, attempt);              // GCC PR 101367
//
// Attempt k (k >= 2) waits uniform(0, min(max_backoff, initial_backoff *
// multiplier^(k-2))) first (AWS's "full jitter": retries of many callers spread out
// instead of arriving in waves). An attempt is never started when it could not finish
// before ctx's deadline: now + backoff + expected_attempt must not pass it (with
// expected_attempt = 0, the backoff alone must end before it). Each call deposits in
// the budget, each retry withdraws; a refused withdrawal ends the call.
//
// Asked-for delays: fn may take a second parameter, RetryAfter&, and set it when its
// failure says how long to wait (an HTTP 429 or 503's Retry-After): the next backoff is
// then that delay instead of the jittered one, capped by max_backoff (a server cannot
// hold a caller longer than its own policy allows), and, as every backoff, not slept
// at all when it cannot end before ctx's deadline (the call then returns that
// attempt's result).
//
// Outcome: the first success; else the last attempt's result (its error), also when
// the attempts, the budget or the deadline stop the retries; the context's error if
// it ends during a backoff (or deadline_exceeded if no attempt fits at all).
// on_retry and metrics() say why retries stopped.
//
// Thread safety: a Retry is immutable apart from its counters: call() from any number
// of tasks at once. Cancel safety: cancelling ctx during an attempt is fn's business
// (it gets ctx); during a backoff the sleep ends at once with ctx's error.
// Errors: the constructor throws std::invalid_argument for bad options (validate()).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/resilience/retry_budget.hpp"
#include "orca/resilience/time_source.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::resilience {

// Why one more attempt is (or is not) made; passed to on_retry.
struct RetryEvent {
  int attempt;                       // the attempt that failed (1 = the first)
  std::error_code error;             // its error
  std::chrono::nanoseconds backoff;  // the sleep before the next attempt
};

// The delay a failed attempt asks for before the next one (see call()); nothing: the
// policy's backoff.
using RetryAfter = std::optional<std::chrono::nanoseconds>;

namespace detail {
// What fn(ctx) or fn(ctx, retry_after) returns: Task<R>, and R.
template <class F, bool = std::is_invocable_v<F&, const Context&, RetryAfter&>>
struct AttemptOf {
  using type = typename std::invoke_result_t<F&, const Context&, RetryAfter&>::value_type;
};
template <class F>
struct AttemptOf<F, false> {
  using type = typename std::invoke_result_t<F&, const Context&>::value_type;
};

template <class F>
auto start_attempt(F& fn, const Context& ctx, RetryAfter& retry_after) {
  if constexpr (std::is_invocable_v<F&, const Context&, RetryAfter&>) {
    return fn(ctx, retry_after);
  } else {
    (void)retry_after;
    return fn(ctx);
  }
}
}  // namespace detail

struct RetryOptions {
  int max_attempts = 3;  // in all, the first included; 1..1000
  std::chrono::nanoseconds initial_backoff = std::chrono::milliseconds(100);  // >= 0
  std::chrono::nanoseconds max_backoff = std::chrono::seconds(10);            // >= initial_backoff
  double multiplier = 2.0;                                                    // >= 1
  // Which errors are worth another attempt (null: every error but the context's own,
  // errc::circuit_open and errc::too_large: retrying those soon cannot help).
  std::function<bool(std::error_code)> retryable{};
  // How long an attempt is expected to take: no attempt starts unless it fits before
  // the context's deadline. 0: only the backoff must fit.
  std::chrono::nanoseconds expected_attempt{0};
  RetryBudget* budget = nullptr;  // shared; must outlive the Retry
  // A uniform number in [0, 1) for the jitter (null: a per-thread generator).
  std::function<double()> random{};
  std::function<void(const RetryEvent&)> on_retry{};  // before each backoff
  const TimeSource* clock = nullptr;
};

std::string validate(const RetryOptions& options);

struct RetryMetrics {
  std::uint64_t calls;             // call()s
  std::uint64_t retries;           // attempts after the first
  std::uint64_t budget_refused;    // retries the budget refused
  std::uint64_t deadline_refused;  // retries that would not have fit before the deadline
};

class Retry {
 public:
  explicit Retry(RetryOptions options = {});

  // fn(ctx) -> Task<Result<T>>, or fn(ctx, RetryAfter&) (above), called once per
  // attempt (so it must be callable again).
  template <class F>
  auto call(const Context& ctx, F&& fn) -> Task<typename detail::AttemptOf<F>::type>;

  // The backoff before attempt `attempt` (>= 2), jitter drawn.
  std::chrono::nanoseconds backoff(int attempt) const;
  bool is_retryable(std::error_code error) const noexcept;
  RetryMetrics metrics() const noexcept;
  const RetryOptions& options() const noexcept { return options_; }

 private:
  enum class Verdict { kRetry, kStop, kBudget, kDeadline };
  // Whether attempt `next` may run after `error`, and its backoff.
  Verdict next_attempt(const Context& ctx, int next, std::error_code error,
                       const RetryAfter& retry_after, std::chrono::nanoseconds& backoff);
  bool fits_before_deadline(const Context& ctx, std::chrono::nanoseconds wait) const noexcept;

  const RetryOptions options_;
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::uint64_t> budget_refused_{0};
  std::atomic<std::uint64_t> deadline_refused_{0};
};

// Sleeps d on ctx (Result<void>); out of line so the template below stays small.
Task<Result<void>> backoff_sleep(const Context& ctx, std::chrono::nanoseconds d);

template <class F>
auto Retry::call(const Context& ctx, F&& fn) -> Task<typename detail::AttemptOf<F>::type> {
  using R = typename detail::AttemptOf<F>::type;
  calls_.fetch_add(1, std::memory_order_relaxed);
  if (options_.budget != nullptr) options_.budget->deposit();
  if (auto err = ctx.err()) co_return R(err);
  if (!fits_before_deadline(ctx, std::chrono::nanoseconds(0)))
    co_return R(make_error_code(orca::errc::deadline_exceeded));
  for (int attempt = 1;; ++attempt) {
    RetryAfter retry_after;
    auto task = detail::start_attempt(fn, ctx, retry_after);  // a named local: GCC PR 101367
    R result = co_await std::move(task);
    if (result) co_return result;
    std::chrono::nanoseconds wait{0};
    const Verdict verdict = next_attempt(ctx, attempt + 1, result.error(), retry_after, wait);
    if (verdict != Verdict::kRetry) co_return result;
    if (wait.count() > 0) {
      Result<void> slept = co_await backoff_sleep(ctx, wait);
      if (!slept) co_return R(slept.error());
    }
  }
}

}  // namespace orca::resilience
