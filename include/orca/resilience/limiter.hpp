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
// Thread safety: implementations are safe to call from any task concurrently.
// Cancel safety: decide() that ends with the context's error consumed nothing that
// anyone can observe (local limiters never wait; a store's limiter may have spent the
// units if the request reached the store: it cannot know).
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
};

// Waits until `limiter` admits n units of `key`: decides, and while refused sleeps for
// the retry_after it gives, until admitted or ctx is done (its error). A wait that
// cannot end before ctx's deadline stops at once with resilience::errc::rate_limited.
Task<Result<void>> wait(const Context& ctx, Limiter& limiter, std::string key, std::int64_t n = 1);

}  // namespace orca::resilience
