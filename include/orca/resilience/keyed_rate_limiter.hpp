// KeyedRateLimiter: one RateLimiter per key (per user, per API key, per client
// address), all with the same rate, at most `max_keys` alive.
//
//   orca::resilience::KeyedRateLimiter limits({.limit = {.events = 10, .burst = 20}});
//   if (!limits.allow(api_key)) return reply_429(...);
//
// Memory: bounded by max_keys limiters (~0.5 KB each with the key and the map's
// nodes); the least recently used key is dropped first. A dropped key comes back with
// its whole burst, which it would have had anyway once idle for burst/rate, so
// eviction only matters when more than max_keys keys are active within that time:
// size max_keys for it.
//
// Thread safety: every member from any thread; a lookup takes one of 16 shard locks,
// then the key's limiter decides lock-free.
// Errors: the constructor throws std::invalid_argument for bad options (validate()).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "orca/resilience/detail/lru_map.hpp"
#include "orca/resilience/rate_limiter.hpp"

namespace orca::resilience {

struct KeyedRateLimiterOptions {
  RateLimiterOptions limit{};      // each key's
  std::size_t max_keys = 100'000;  // at least 1
};

std::string validate(const KeyedRateLimiterOptions& options);

class KeyedRateLimiter final : public Limiter {
 public:
  explicit KeyedRateLimiter(KeyedRateLimiterOptions options = {});

  bool allow(std::string_view key, std::int64_t n = 1) {
    const bool ok = map_.get(key)->allow(n);
    if (!ok) rejected_.fetch_add(1, std::memory_order_relaxed);
    return ok;
  }
  std::shared_ptr<RateLimiter> get(std::string_view key) { return map_.get(key); }
  Task<Result<Decision>> decide(const Context& ctx, std::string_view key,
                                std::int64_t n = 1) override;
  // A key given back to after its limiter was evicted gets nothing back (it came
  // back with its whole burst anyway).
  Task<Result<Grant>> take_up_to(const Context& ctx, std::string_view key,
                                 std::int64_t max) override;
  Task<Result<void>> give_back(const Context& ctx, std::string_view key, std::int64_t n) override;

  std::size_t size() const { return map_.size(); }
  std::size_t evicted() const { return map_.evicted(); }
  // Refusals by allow() and decide() since construction.
  std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }

 private:
  const KeyedRateLimiterOptions options_;
  detail::LruMap<RateLimiter> map_;
  std::atomic<std::uint64_t> rejected_{0};  // relaxed: a count
};

}  // namespace orca::resilience
