// with_fallback: run a primary operation; if it fails, is refused by an open breaker
// or is rejected by a limiter or bulkhead, run a fallback instead (serve a stale copy,
// skip a non-core step), and say which of those happened.
//
//   auto primary = [&](const orca::Context& c) { return breaker.call(c, fetch_recs); };
//   auto stale = [&](const orca::Context&, std::error_code) -> orca::Task<Result<List>> {
//     co_return cached_recs();
//   };  // named locals, not temporaries in the co_await: GCC PR 101367
//   auto out = co_await orca::resilience::with_fallback(ctx, primary, stale, &stats);
//   log(to_string(out.reason));   // "none", "failure", "circuit_open", "rejected"
//
// The fallback gets the primary's error. It is not run when the caller's own context
// is done (nobody waits for the answer): the primary's result is returned as it is,
// with reason kNone. An exception from the primary propagates; it is not a fallback
// case (exceptions are programmer errors in orca).
//
// Thread safety: a function; FallbackStats may be shared by any number of callers.
#pragma once

#include <atomic>
#include <cstdint>
#include <system_error>
#include <type_traits>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/resilience/errors.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::resilience {

enum class FallbackReason : std::uint8_t {
  kNone,         // the primary's result is returned
  kFailure,      // the primary ran and failed
  kCircuitOpen,  // a circuit breaker refused the primary
  kRejected,     // a rate limiter, bulkhead or adaptive limiter refused it
};

const char* to_string(FallbackReason reason) noexcept;
// The reason an error of the primary gives for falling back.
FallbackReason fallback_reason(std::error_code error) noexcept;

template <class R>
struct FallbackOutcome {
  R result;                       // the primary's, or the fallback's
  FallbackReason reason;          // kNone: the primary's
  std::error_code primary_error;  // what the primary returned (empty on success)
  bool fell_back() const noexcept { return reason != FallbackReason::kNone; }
};

// Counts of fallbacks by reason, for a metrics exporter. relaxed counters.
struct FallbackStats {
  std::atomic<std::uint64_t> primary_ok{0};
  std::atomic<std::uint64_t> failure{0};
  std::atomic<std::uint64_t> circuit_open{0};
  std::atomic<std::uint64_t> rejected{0};
};

// primary(ctx) -> Task<R>, fallback(ctx, primary_error) -> Task<R>, R a Result<T>.
template <class P, class G>
auto with_fallback(const Context& ctx, P&& primary, G&& fallback, FallbackStats* stats = nullptr)
    -> Task<FallbackOutcome<typename std::invoke_result_t<P&, const Context&>::value_type>> {
  using R = typename std::invoke_result_t<P&, const Context&>::value_type;
  auto first = primary(ctx);  // a named local: GCC PR 101367
  R result = co_await std::move(first);
  const std::error_code error = result.error();
  if (!error || ctx.err()) {
    if (stats != nullptr && !error) stats->primary_ok.fetch_add(1, std::memory_order_relaxed);
    co_return FallbackOutcome<R>{std::move(result), FallbackReason::kNone, error};
  }
  const FallbackReason reason = fallback_reason(error);
  if (stats != nullptr) {
    auto& counter = reason == FallbackReason::kCircuitOpen ? stats->circuit_open
                    : reason == FallbackReason::kRejected  ? stats->rejected
                                                           : stats->failure;
    counter.fetch_add(1, std::memory_order_relaxed);
  }
  auto second = fallback(ctx, error);
  R alternative = co_await std::move(second);
  co_return FallbackOutcome<R>{std::move(alternative), reason, error};
}

}  // namespace orca::resilience
