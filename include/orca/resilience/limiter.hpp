// Limiter: the interface every rate limiter offers to the code it protects (the HTTP
// middleware, the job nodes), whether its state is in this process (RateLimiter,
// KeyedRateLimiter) or shared by a fleet in a store (a Redis-backed GCRA, which lives
// beside the Redis client and implements this same interface, so layers stay one-way).
//
//   orca::resilience::Limiter& limiter = ...;
//   auto d = co_await limiter.decide(ctx, api_key);
//   if (!d) return d.error();                 // the store failed, or ctx ended
//   if (!d->allowed) return reply_429(d->retry_after);
//
// A caller that can use up to N units but does not know yet how many (a job node that
// claims at most as many jobs of a limited queue as it has free slots, and finds
// fewer) takes what is there and gives back what it did not use:
//
//   auto g = co_await limiter.take_up_to(ctx, "email", free_slots);   // 0..free_slots
//   ... use k <= g->granted units ...
//   if (k < g->granted) (void)co_await limiter.give_back(ctx, "email", g->granted - k);
//
// Thread safety: implementations are safe to call from any task concurrently.
// Cancel safety: decide() or take_up_to() that ends with the context's error consumed
// nothing that anyone can observe (local limiters never wait; a store's limiter may
// have spent the units if the request reached the store: it cannot know). give_back()
// that ends so may or may not have returned them: the limit errs on the strict side.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "orca/context/context.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::resilience {

struct Decision {
  bool allowed = false;
  // Refused: how long until the same request would be admitted (HTTP Retry-After).
  // Allowed: zero.
  std::chrono::nanoseconds retry_after{0};
  // Allowed: how many more units could be taken at once right now (best effort).
  std::int64_t remaining = 0;
};

// What take_up_to() granted.
struct Grant {
  std::int64_t granted = 0;  // 0..max units, taken
  // Nothing granted: how long until one unit would be. Otherwise zero.
  std::chrono::nanoseconds retry_after{0};
};

class Limiter {
 public:
  virtual ~Limiter() = default;

  // Takes n units of `key`'s limit if they are available now, and says so; never
  // waits for capacity. `key` names the limit (a user, an API key, a queue); a limiter
  // with one limit ignores it. `key` must stay valid until the task completes.
  // Errors: resilience::errc::too_large for n above the burst; the context's error;
  // a store's errors.
  virtual Task<Result<Decision>> decide(const Context& ctx, std::string_view key,
                                        std::int64_t n = 1) = 0;

  // Takes as many units of `key`'s limit as are available now, at most `max` (0 if
  // none, or max <= 0), in one decision (a store's limiter: one round trip); never
  // waits. So a caller never holds more than it was granted, and never asks twice.
  // Errors: the context's error; a store's errors (nothing is granted then: a
  // caller that cannot reach the store takes nothing, which fails closed).
  virtual Task<Result<Grant>> take_up_to(const Context& ctx, std::string_view key,
                                         std::int64_t max) = 0;

  // Returns n units taken from `key`'s limit and not used (n <= what was taken): the
  // limit is as if they had never been taken, for whoever asks next. Errors: the
  // context's error; a store's errors (the units are then lost for this period: the
  // limit errs on the strict side).
  virtual Task<Result<void>> give_back(const Context& ctx, std::string_view key,
                                       std::int64_t n) = 0;
};

// Waits until `limiter` admits n units of `key`: decides, and while refused sleeps for
// the retry_after it gives, until admitted or ctx is done (its error). A wait that
// cannot end before ctx's deadline stops at once with resilience::errc::rate_limited.
Task<Result<void>> wait(const Context& ctx, Limiter& limiter, std::string key, std::int64_t n = 1);

}  // namespace orca::resilience
