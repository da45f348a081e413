// CircuitBreaker: stops calling a dependency whose recent calls mostly fail, lets it
// recover, then probes it with a few calls before trusting it again.
//
//   orca::resilience::CircuitBreaker breaker({.failure_rate_threshold = 15});
//   auto permit = breaker.try_acquire();
//   if (!permit) return orca::resilience::errc::circuit_open;
//   auto t0 = orca::Clock::now();
//   auto r = co_await call_dependency(ctx);
//   permit.record(static_cast<bool>(r), orca::Clock::now() - t0);
// or, the same in one step:  auto r = co_await breaker.call(ctx, call_dependency);
//
// States (resilience4j's):
//  - closed: every call passes; outcomes go into a sliding window (the last N calls,
//    or the calls of the last D). Once the window holds at least `minimum_calls` and
//    failures (errors the failure predicate accepts, and calls slower than
//    `slow_call_duration`) make up at least `failure_rate_threshold` percent of it,
//    the breaker opens. The rate is checked at every failure and every bucket change.
//  - open: every call is refused (errc::circuit_open) for `open_duration`; the first
//    call after it moves the breaker to half-open.
//  - half-open: exactly `half_open_probes` calls are admitted, the rest refused. When
//    all of them have reported, the breaker closes (fresh window) if their failure
//    rate is below the threshold, else opens again for another `open_duration`.
//
// Hot path (a closed breaker): try_acquire is one acquire load of the state word;
// record is one relaxed read-modify-write of a counter on the calling thread's own
// cache line (stripes), plus, for a count window, one shared add every few calls to
// find when the current bucket is full. No lock anywhere; failures and state changes
// take the slow path. A count window of N calls is kept in 5 buckets: it holds the last
// N calls plus those of the bucket filling up (N to N + N/5), a bucket ending up to a
// bucket late with several threads (each stripe reports its calls to the shared fill
// count in batches); a time window of D, in 10 buckets, covers the last 0.9D to D and
// reads the clock on every record. Exact for one thread; under concurrency a
// call landing on a bucket boundary may be counted in the bucket before, or lost.
//
// Thread safety: every member from any thread or task. A Permit belongs to one call:
// move it, do not share it. Permits of a previous state (issued before a state
// change) are ignored when they report.
//
// Cancel safety: call(ctx, fn) reports a call that ended with the context's
// cancellation (orca::errc::canceled) as neither success nor failure, by default.
//
// Errors: the constructor throws std::invalid_argument for bad options (validate()
// says which value and why); call() returns errc::circuit_open when refused, else
// fn's own result.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/resilience/detail/stripes.hpp"
#include "orca/resilience/errors.hpp"
#include "orca/resilience/time_source.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::resilience {

enum class BreakerState : std::uint8_t { kClosed = 0, kOpen = 1, kHalfOpen = 2 };
const char* to_string(BreakerState state) noexcept;

enum class WindowKind : std::uint8_t {
  kCount,  // the last `window_size` calls
  kTime,   // the calls of the last `window_duration`
};

// A snapshot of the sliding window (failures include slow calls).
struct WindowTotals {
  std::uint64_t calls = 0;
  std::uint64_t failures = 0;
  double failure_rate() const noexcept {  // percent; 0 for an empty window
    return calls == 0 ? 0.0 : 100.0 * static_cast<double>(failures) / static_cast<double>(calls);
  }
};

struct StateChange {
  const std::string* name;  // the breaker's name
  BreakerState from;
  BreakerState to;
  WindowTotals window;  // what made it open (for closed -> open), else the probes
};

struct CircuitBreakerOptions {
  std::string name{};                    // for callbacks and metrics
  double failure_rate_threshold = 15.0;  // percent, above 0 and at most 100
  WindowKind window = WindowKind::kCount;
  std::int64_t window_size = 100;  // calls, for kCount; at least 1
  std::chrono::nanoseconds window_duration = std::chrono::seconds(10);  // for kTime; > 0
  std::int64_t minimum_calls = 20;  // in the window before it may open; 1..window_size
  // A call at least this slow counts as failed whatever its outcome (0: off).
  std::chrono::nanoseconds slow_call_duration{0};
  std::chrono::nanoseconds open_duration = std::chrono::seconds(30);  // > 0
  int half_open_probes = 5;                                           // 1..65535
  // Which errors count as failures (null: every error but orca::errc::canceled).
  // Errors it rejects count as successes: the dependency answered.
  std::function<bool(std::error_code)> is_failure{};
  // Called after each state change, by the thread that made it, outside any lock.
  // Keep it short; it may read the breaker but should not block.
  std::function<void(const StateChange&)> on_state_change{};
  const TimeSource* clock = nullptr;  // null: orca::Clock
  int stripes = 0;                    // counter stripes; 0: one per hardware thread (max 16)
};

// Empty if the options are usable, else one line naming the value and the rule.
std::string validate(const CircuitBreakerOptions& options);

struct CircuitBreakerMetrics {
  BreakerState state;
  WindowTotals window;          // the current window (closed state)
  std::uint64_t rejected;       // calls refused since construction
  std::uint64_t state_changes;  // transitions since construction
  std::uint64_t ignored;        // reports from permits of an earlier state
};

class CircuitBreaker {
 public:
  class Permit;

  // Throws std::invalid_argument (the message of validate()) for bad options.
  explicit CircuitBreaker(CircuitBreakerOptions options = {});
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;
  ~CircuitBreaker();

  // A permit to make one call (true), or a refusal (false). Never waits.
  Permit try_acquire() noexcept;

  // Runs fn(ctx) -> Task<Result<T>> through the breaker: errc::circuit_open without
  // running it when refused; else its result, recorded with its duration. An
  // exception from fn is recorded as a failure and rethrown.
  template <class F>
  auto call(const Context& ctx, F&& fn)
      -> Task<typename std::invoke_result_t<F&, const Context&>::value_type>;

  BreakerState state() const noexcept;
  CircuitBreakerMetrics metrics() const noexcept;
  const CircuitBreakerOptions& options() const noexcept { return options_; }
  // Whether `error` counts as a failure under the options' predicate.
  bool is_failure(std::error_code error) const noexcept;

  // Operator overrides: closed with a fresh window, or open for open_duration.
  void reset() noexcept;
  void trip() noexcept;

 private:
  friend class Permit;
  struct Stripe;

  static constexpr std::uint64_t kStateMask = 3;
  static constexpr std::uint64_t kTransition = 3;  // a change under way: refuse

  Permit acquire_slow(std::uint64_t word) noexcept;
  void record(std::uint64_t word, bool failed) noexcept;
  void release_probe(std::uint64_t word) noexcept;
  // Adds one outcome to the window; returns true when a count bucket filled up.
  bool add_to_window(bool failed) noexcept;
  WindowTotals window_totals() const noexcept;
  std::uint64_t current_epoch() const noexcept;
  void clear_window() noexcept;
  // Moves from state word `from` to `to` (closing clears the window, opening sets the
  // open deadline, half-open clears the probes); false if another thread moved first.
  bool transition(std::uint64_t from, BreakerState to, const WindowTotals& why) noexcept;
  void evaluate(std::uint64_t word) noexcept;

  const CircuitBreakerOptions options_;
  const std::uint32_t stripe_mask_;
  std::int64_t bucket_calls_;  // count window: calls per bucket
  std::int64_t flush_mask_;    // count window: a stripe adds to fill_ every mask + 1 calls;
                               // -1 for a time window
  std::int64_t bucket_ns_;     // time window: the length of a bucket
  std::unique_ptr<Stripe[]> stripes_;

  // The state (low 2 bits) and a generation that every change increments, so a
  // permit's report can tell whether the state it was issued in still holds.
  alignas(detail::kStripeAlign) std::atomic<std::uint64_t> word_{0};
  std::atomic<std::int64_t> open_until_ns_{0};   // open: when half-open may start
  std::atomic<std::uint32_t> probes_issued_{0};  // half-open
  std::atomic<std::uint64_t> probe_results_{0};  // half-open: reported << 32 | failed
  // Count window: the current bucket's number (read on every record) and the calls
  // flushed into it (written every few records): on lines of their own, so the writes
  // do not evict the readers' copy of epoch_.
  alignas(detail::kStripeAlign) std::atomic<std::uint64_t> epoch_{0};
  alignas(detail::kStripeAlign) std::atomic<std::int64_t> fill_{0};
  alignas(detail::kStripeAlign) std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> state_changes_{0};
  std::atomic<std::uint64_t> ignored_{0};
};

// One call's admission. Report its outcome with record(); a permit destroyed
// unreported is released (counted nowhere, and a half-open probe slot is returned).
class CircuitBreaker::Permit {
 public:
  Permit() noexcept = default;
  Permit(Permit&& other) noexcept
      : breaker_(std::exchange(other.breaker_, nullptr)), word_(other.word_) {}
  Permit& operator=(Permit&& other) noexcept {
    if (this != &other) {
      release();
      breaker_ = std::exchange(other.breaker_, nullptr);
      word_ = other.word_;
    }
    return *this;
  }
  ~Permit() { release(); }

  explicit operator bool() const noexcept { return breaker_ != nullptr; }

  // The call's outcome; `elapsed` at or above slow_call_duration counts as failed.
  void record(bool success, std::chrono::nanoseconds elapsed = {}) noexcept {
    if (breaker_ == nullptr) return;
    CircuitBreaker* b = std::exchange(breaker_, nullptr);
    const auto slow = b->options_.slow_call_duration;
    const bool failed = !success || (slow.count() > 0 && elapsed >= slow);
    b->record(word_, failed);
  }
  // As record(), deciding success with the breaker's failure predicate.
  void record_error(std::error_code error, std::chrono::nanoseconds elapsed = {}) noexcept {
    if (breaker_ == nullptr) return;
    record(!breaker_->is_failure(error), elapsed);
  }
  // The call did not happen (or its outcome says nothing about the dependency).
  void release() noexcept {
    if (breaker_ == nullptr) return;
    CircuitBreaker* b = std::exchange(breaker_, nullptr);
    if ((word_ & kStateMask) == static_cast<std::uint64_t>(BreakerState::kHalfOpen))
      b->release_probe(word_);
  }

 private:
  friend class CircuitBreaker;
  Permit(CircuitBreaker* breaker, std::uint64_t word) noexcept : breaker_(breaker), word_(word) {}

  CircuitBreaker* breaker_ = nullptr;
  std::uint64_t word_ = 0;
};

inline CircuitBreaker::Permit CircuitBreaker::try_acquire() noexcept {
  // acquire: pairs with the release store that publishes a state, so a half-open or
  // open reader sees the probes and the open deadline set before it.
  const std::uint64_t word = word_.load(std::memory_order_acquire);
  if ((word & kStateMask) == static_cast<std::uint64_t>(BreakerState::kClosed))
    return Permit(this, word);
  return acquire_slow(word);
}

template <class F>
auto CircuitBreaker::call(const Context& ctx, F&& fn)
    -> Task<typename std::invoke_result_t<F&, const Context&>::value_type> {
  using R = typename std::invoke_result_t<F&, const Context&>::value_type;
  Permit permit = try_acquire();
  if (!permit) co_return R(make_error_code(errc::circuit_open));
  const auto start = detail::now(options_.clock);
  std::exception_ptr thrown;
  std::optional<R> result;
  try {
    auto task = fn(ctx);  // a named local: GCC PR 101367
    result.emplace(co_await std::move(task));
  } catch (...) {
    thrown = std::current_exception();
  }
  const auto elapsed = detail::now(options_.clock) - start;
  if (thrown) {
    permit.record(false, elapsed);
    std::rethrow_exception(thrown);
  }
  const std::error_code error = result->error();
  if (error == make_error_code(orca::errc::canceled) && !options_.is_failure) {
    permit.release();
  } else {
    permit.record_error(error, elapsed);
  }
  co_return std::move(*result);
}

}  // namespace orca::resilience
