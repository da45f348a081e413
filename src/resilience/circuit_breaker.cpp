// CircuitBreaker (include/orca/resilience/circuit_breaker.hpp).
//
// State changes follow one protocol, so that exactly one thread performs each:
//   1. CAS the state word from the observed word to (same generation, kTransition);
//      the loser of a race stops there. Callers seeing kTransition are refused.
//   2. Prepare the new state: clear the window (closed), set the open deadline
//      (open), zero the probe counters (half-open).
//   3. Store (generation + 1, new state) with release: whoever reads it with acquire
//      sees step 2.
//   4. Count the change and call on_state_change.
#include "orca/resilience/circuit_breaker.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <thread>

namespace orca::resilience {

namespace {

constexpr int kBuckets = 10;  // slots per stripe: a time window's resolution is a tenth
// A count window has 5 buckets (of window_size / 5 calls, so its extent is known to a
// fifth): fewer, larger buckets let stripes report to the shared fill count less often.
constexpr int kCountBuckets = 5;
constexpr std::uint64_t kNoEpoch = ~std::uint64_t{0};
constexpr std::uint64_t kOneCall = std::uint64_t{1} << 32;

std::int64_t to_ns(Clock::time_point t) noexcept {
  return t.time_since_epoch().count();
}

}  // namespace

// One thread group's counters: kBuckets slots, each the counts of one epoch (a count
// bucket's number or a time bucket's index) tagged with that epoch.
struct alignas(detail::kStripeAlign) CircuitBreaker::Stripe {
  struct Slot {
    std::atomic<std::uint64_t> epoch{kNoEpoch};
    std::atomic<std::uint64_t> counts{0};  // calls << 32 | failures
  };
  Slot slots[kBuckets];
};

const char* to_string(BreakerState state) noexcept {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "?";
}

std::string validate(const CircuitBreakerOptions& o) {
  auto num = [](auto v) { return std::to_string(v); };
  if (!(o.failure_rate_threshold > 0 && o.failure_rate_threshold <= 100))
    return "circuit breaker: failure_rate_threshold is " + num(o.failure_rate_threshold) +
           "; it is a percentage and must be above 0 and at most 100";
  if (o.window == WindowKind::kCount && o.window_size < 1)
    return "circuit breaker: window_size is " + num(o.window_size) +
           "; a count window must hold at least 1 call";
  if (o.window == WindowKind::kTime && o.window_duration.count() < kBuckets)
    return "circuit breaker: window_duration is " + num(o.window_duration.count()) +
           " ns; a time window must be positive (at least 10 ns)";
  if (o.minimum_calls < 1)
    return "circuit breaker: minimum_calls is " + num(o.minimum_calls) + "; it must be at least 1";
  if (o.window == WindowKind::kCount && o.minimum_calls > o.window_size)
    return "circuit breaker: minimum_calls (" + num(o.minimum_calls) + ") exceeds window_size (" +
           num(o.window_size) + "); the breaker could never open";
  if (o.slow_call_duration.count() < 0)
    return "circuit breaker: slow_call_duration is negative (" + num(o.slow_call_duration.count()) +
           " ns); use 0 to turn it off";
  if (o.open_duration.count() <= 0)
    return "circuit breaker: open_duration is " + num(o.open_duration.count()) +
           " ns; it must be positive";
  if (o.half_open_probes < 1 || o.half_open_probes > 65535)
    return "circuit breaker: half_open_probes is " + num(o.half_open_probes) +
           "; it must be within 1..65535";
  if (o.stripes < 0)
    return "circuit breaker: stripes is " + num(o.stripes) + "; it must be 0 (automatic) or more";
  return {};
}

namespace {
const CircuitBreakerOptions& checked(const CircuitBreakerOptions& options) {
  if (std::string why = validate(options); !why.empty()) throw std::invalid_argument(why);
  return options;
}
}  // namespace

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options)
    : options_(std::move(checked(options))),
      stripe_mask_(detail::stripe_count(options_.stripes) - 1),
      stripes_(new Stripe[stripe_mask_ + 1]) {
  const std::int64_t stripes = stripe_mask_ + 1;
  if (options_.window == WindowKind::kCount) {
    // Fewer buckets when the window is smaller: at least one call per bucket.
    const std::int64_t buckets = std::min<std::int64_t>(kCountBuckets, options_.window_size);
    bucket_calls_ = options_.window_size / buckets;
    // Each stripe tells the shared fill counter about its calls in batches (a power of
    // two, so the test is a mask), so two threads meet on that line only every few
    // calls: at most a bucket's worth unflushed across all stripes.
    flush_mask_ = static_cast<std::int64_t>(std::bit_floor(static_cast<std::uint64_t>(
                      std::max<std::int64_t>(1, bucket_calls_ / stripes)))) -
                  1;
    bucket_ns_ = 0;
  } else {
    bucket_calls_ = 0;
    flush_mask_ = -1;
    bucket_ns_ = options_.window_duration.count() / kBuckets;
  }
}

CircuitBreaker::~CircuitBreaker() = default;

bool CircuitBreaker::is_failure(std::error_code error) const noexcept {
  if (!error) return false;
  if (options_.is_failure) return options_.is_failure(error);
  return error != make_error_code(orca::errc::canceled);
}

BreakerState CircuitBreaker::state() const noexcept {
  std::uint64_t word = word_.load(std::memory_order_acquire);
  // A change under way takes a few stores (clearing a window at most): wait for it,
  // so the answer is a state the breaker was in.
  while ((word & kStateMask) == kTransition) {
    std::this_thread::yield();
    word = word_.load(std::memory_order_acquire);
  }
  return static_cast<BreakerState>(word & kStateMask);
}

CircuitBreakerMetrics CircuitBreaker::metrics() const noexcept {
  return {state(), window_totals(), rejected_.load(std::memory_order_relaxed),
          state_changes_.load(std::memory_order_relaxed), ignored_.load(std::memory_order_relaxed)};
}

std::uint64_t CircuitBreaker::current_epoch() const noexcept {
  if (options_.window == WindowKind::kCount) return epoch_.load(std::memory_order_relaxed);
  return static_cast<std::uint64_t>(to_ns(detail::now(options_.clock)) / bucket_ns_);
}

bool CircuitBreaker::add_to_window(bool failed) noexcept {
  const std::uint64_t epoch = current_epoch();
  Stripe& stripe = stripes_[detail::thread_stripe() & stripe_mask_];
  Stripe::Slot& slot = stripe.slots[epoch % kBuckets];
  // relaxed throughout: the window is statistics; the state word orders what matters.
  std::uint64_t tag = slot.epoch.load(std::memory_order_relaxed);
  if (tag != epoch && slot.epoch.compare_exchange_strong(tag, epoch, std::memory_order_relaxed))
    slot.counts.store(0, std::memory_order_relaxed);
  const std::uint64_t before =
      slot.counts.fetch_add(kOneCall | (failed ? 1 : 0), std::memory_order_relaxed);
  if (flush_mask_ < 0) return false;  // a time window
  const auto mine = static_cast<std::int64_t>(before >> 32) + 1;
  if ((mine & flush_mask_) != 0) return false;
  const std::int64_t batch = flush_mask_ + 1;
  const std::int64_t fill = fill_.fetch_add(batch, std::memory_order_relaxed) + batch;
  if (fill < bucket_calls_) return false;
  std::uint64_t expected = epoch;
  if (!epoch_.compare_exchange_strong(expected, epoch + 1, std::memory_order_relaxed)) return false;
  fill_.fetch_sub(bucket_calls_, std::memory_order_relaxed);
  return true;
}

WindowTotals CircuitBreaker::window_totals() const noexcept {
  const std::uint64_t epoch = current_epoch();
  // A count window: the full buckets that make window_size, and the current one
  // filling up (so it never holds fewer than window_size calls once that many came).
  // A time window: the current bucket and the nine before it.
  const std::uint64_t span =
      options_.window == WindowKind::kCount
          ? static_cast<std::uint64_t>(options_.window_size / bucket_calls_) + 1
          : kBuckets;
  WindowTotals totals;
  for (std::uint32_t s = 0; s <= stripe_mask_; ++s) {
    for (const Stripe::Slot& slot : stripes_[s].slots) {
      const std::uint64_t tag = slot.epoch.load(std::memory_order_relaxed);
      if (tag == kNoEpoch || tag > epoch || epoch - tag >= span) continue;
      const std::uint64_t counts = slot.counts.load(std::memory_order_relaxed);
      totals.calls += counts >> 32;
      totals.failures += counts & 0xffffffffu;
    }
  }
  return totals;
}

void CircuitBreaker::clear_window() noexcept {
  for (std::uint32_t s = 0; s <= stripe_mask_; ++s) {
    for (Stripe::Slot& slot : stripes_[s].slots) {
      slot.epoch.store(kNoEpoch, std::memory_order_relaxed);
      slot.counts.store(0, std::memory_order_relaxed);
    }
  }
  fill_.store(0, std::memory_order_relaxed);
}

void CircuitBreaker::record(std::uint64_t word, bool failed) noexcept {
  // relaxed: a stale read only lets a report through just after a change, which the
  // window tolerates; the state itself changes only by CAS.
  const std::uint64_t current = word_.load(std::memory_order_relaxed);
  if (current != word) {
    ignored_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if ((word & kStateMask) == static_cast<std::uint64_t>(BreakerState::kHalfOpen)) {
    const std::uint64_t results =
        probe_results_.fetch_add(kOneCall | (failed ? 1 : 0), std::memory_order_acq_rel) +
        (kOneCall | (failed ? 1 : 0));
    const auto reported = static_cast<int>(results >> 32);
    if (reported != options_.half_open_probes) return;
    const WindowTotals probes{results >> 32, results & 0xffffffffu};
    const bool reopen = probes.failure_rate() >= options_.failure_rate_threshold;
    transition(word, reopen ? BreakerState::kOpen : BreakerState::kClosed, probes);
    return;
  }
  const bool bucket_filled = add_to_window(failed);
  if (failed || bucket_filled) evaluate(word);
}

void CircuitBreaker::evaluate(std::uint64_t word) noexcept {
  const WindowTotals totals = window_totals();
  if (totals.calls < static_cast<std::uint64_t>(options_.minimum_calls)) return;
  if (totals.failure_rate() < options_.failure_rate_threshold) return;
  transition(word, BreakerState::kOpen, totals);
}

CircuitBreaker::Permit CircuitBreaker::acquire_slow(std::uint64_t word) noexcept {
  for (;;) {
    const auto state = word & kStateMask;
    if (state == static_cast<std::uint64_t>(BreakerState::kClosed)) return Permit(this, word);
    if (state == static_cast<std::uint64_t>(BreakerState::kOpen)) {
      const std::int64_t until = open_until_ns_.load(std::memory_order_relaxed);
      if (to_ns(detail::now(options_.clock)) < until) break;
      transition(word, BreakerState::kHalfOpen, {});
      word = word_.load(std::memory_order_acquire);
      continue;
    }
    if (state == static_cast<std::uint64_t>(BreakerState::kHalfOpen)) {
      std::uint32_t issued = probes_issued_.load(std::memory_order_relaxed);
      while (issued < static_cast<std::uint32_t>(options_.half_open_probes)) {
        if (probes_issued_.compare_exchange_weak(issued, issued + 1, std::memory_order_relaxed)) {
          // The state may have moved on since `word` was read: such a probe's report
          // is ignored, and its slot belongs to a generation nobody counts any more.
          return Permit(this, word);
        }
      }
    }
    break;  // half-open with every probe out, or a transition under way
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);
  return Permit();
}

void CircuitBreaker::release_probe(std::uint64_t word) noexcept {
  if (word_.load(std::memory_order_relaxed) != word) return;
  probes_issued_.fetch_sub(1, std::memory_order_relaxed);
}

bool CircuitBreaker::transition(std::uint64_t from, BreakerState to,
                                const WindowTotals& why) noexcept {
  const std::uint64_t generation = from >> 2;
  std::uint64_t expected = from;
  // acq_rel: acquire the previous state's writes; the marker itself publishes nothing.
  if (!word_.compare_exchange_strong(expected, (generation << 2) | kTransition,
                                     std::memory_order_acq_rel))
    return false;
  switch (to) {
    case BreakerState::kClosed:
      clear_window();
      break;
    case BreakerState::kOpen:
      open_until_ns_.store(to_ns(detail::now(options_.clock)) + options_.open_duration.count(),
                           std::memory_order_relaxed);
      break;
    case BreakerState::kHalfOpen:
      probes_issued_.store(0, std::memory_order_relaxed);
      probe_results_.store(0, std::memory_order_relaxed);
      break;
  }
  // release: publishes step 2 to try_acquire's acquire load.
  word_.store(((generation + 1) << 2) | static_cast<std::uint64_t>(to), std::memory_order_release);
  state_changes_.fetch_add(1, std::memory_order_relaxed);
  if (options_.on_state_change) {
    const StateChange change{&options_.name, static_cast<BreakerState>(from & kStateMask), to, why};
    options_.on_state_change(change);
  }
  return true;
}

void CircuitBreaker::reset() noexcept {
  for (;;) {
    std::uint64_t word = word_.load(std::memory_order_acquire);
    if ((word & kStateMask) == kTransition) {  // another change finishes first
      std::this_thread::yield();
      continue;
    }
    if ((word & kStateMask) == static_cast<std::uint64_t>(BreakerState::kClosed)) {
      clear_window();
      return;
    }
    if (transition(word, BreakerState::kClosed, {})) return;
  }
}

void CircuitBreaker::trip() noexcept {
  for (;;) {
    std::uint64_t word = word_.load(std::memory_order_acquire);
    if ((word & kStateMask) == kTransition) {
      std::this_thread::yield();
      continue;
    }
    if (transition(word, BreakerState::kOpen, window_totals())) return;
  }
}

}  // namespace orca::resilience
