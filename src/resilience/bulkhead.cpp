// Bulkhead (include/orca/resilience/bulkhead.hpp).
#include "orca/resilience/bulkhead.hpp"

#include <stdexcept>

namespace orca::resilience {

std::string validate(const BulkheadOptions& o) {
  if (o.max_concurrent < 1)
    return "bulkhead: max_concurrent is " + std::to_string(o.max_concurrent) +
           "; it must be at least 1";
  if (o.max_queue < 0)
    return "bulkhead: max_queue is " + std::to_string(o.max_queue) + "; it must not be negative";
  if (o.queue_timeout.count() < 0)
    return "bulkhead: queue_timeout is negative (" + std::to_string(o.queue_timeout.count()) +
           " ns); use 0 to wait as long as the context allows";
  return {};
}

namespace {
const BulkheadOptions& checked(const BulkheadOptions& options) {
  if (std::string why = validate(options); !why.empty()) throw std::invalid_argument(why);
  return options;
}
}  // namespace

Bulkhead::Bulkhead(BulkheadOptions options)
    : options_(checked(options)), slots_(options_.max_concurrent) {}

Bulkhead::Permit Bulkhead::try_acquire() noexcept {
  return slots_.try_acquire(1) ? Permit(this) : Permit();
}

Task<Result<Bulkhead::Permit>> Bulkhead::acquire(const Context& ctx) {
  if (auto err = ctx.err()) co_return err;
  if (slots_.try_acquire(1)) co_return Permit(this);
  // relaxed: the count bounds the queue; the semaphore orders the slots themselves.
  if (waiting_.fetch_add(1, std::memory_order_relaxed) >= options_.max_queue) {
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    rejected_.fetch_add(1, std::memory_order_relaxed);
    co_return make_error_code(errc::bulkhead_full);
  }
  Result<void> got;
  if (options_.queue_timeout.count() > 0) {
    auto [queued, stop] = with_timeout(ctx, options_.queue_timeout);
    got = co_await slots_.acquire(queued, 1);
    stop();
  } else {
    got = co_await slots_.acquire(ctx, 1);
  }
  waiting_.fetch_sub(1, std::memory_order_relaxed);
  if (got) co_return Permit(this);
  if (!ctx.err()) {
    timed_out_.fetch_add(1, std::memory_order_relaxed);
    co_return make_error_code(errc::queue_timeout);
  }
  co_return ctx.err();
}

BulkheadMetrics Bulkhead::metrics() noexcept {
  return {slots_.size() - slots_.available(), waiting_.load(std::memory_order_relaxed),
          rejected_.load(std::memory_order_relaxed), timed_out_.load(std::memory_order_relaxed)};
}

}  // namespace orca::resilience
