// KeyedBreakers: one CircuitBreaker per key (per downstream host, per job type), all
// with the same options, at most `max_keys` of them alive in the map.
//
//   orca::resilience::KeyedBreakers breakers({.max_keys = 1024});
//   auto breaker = breakers.get("10.0.0.7:8080");
//   auto r = co_await breaker->call(ctx, fetch);
//
// Memory: bounded by max_keys breakers (each ~0.5 KB plus 256 bytes per stripe, and
// stripes = hardware threads unless breaker.stripes says fewer: set it to 1 or 2 for
// many keys of light traffic); the least recently used key is dropped first, and comes back closed
// with an empty window if used again. A caller that holds the shared_ptr keeps using its breaker
// after an eviction. on_state_change receives the key as StateChange::name.
//
// Thread safety: every member from any thread; get() takes one shard lock, so a hot
// caller should keep the shared_ptr rather than look the key up per call.
//
// Errors: the constructor throws std::invalid_argument for bad options (validate()).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "orca/resilience/circuit_breaker.hpp"
#include "orca/resilience/detail/lru_map.hpp"

namespace orca::resilience {

struct KeyedBreakersOptions {
  CircuitBreakerOptions breaker{};  // each key's options (name: the key)
  std::size_t max_keys = 1024;      // at least 1
};

std::string validate(const KeyedBreakersOptions& options);

class KeyedBreakers {
 public:
  explicit KeyedBreakers(KeyedBreakersOptions options = {});

  // The key's breaker, made on first use.
  std::shared_ptr<CircuitBreaker> get(std::string_view key);
  // The key's breaker if it exists (no new one, no LRU touch): for metrics.
  std::shared_ptr<CircuitBreaker> find(std::string_view key) const { return map_.find(key); }
  std::size_t size() const { return map_.size(); }
  std::size_t evicted() const { return map_.evicted(); }
  // Calls fn(key, breaker) for each live breaker: for a metrics exporter.
  template <class Fn>
  void for_each(Fn&& fn) const {
    map_.for_each(std::forward<Fn>(fn));
  }

 private:
  const KeyedBreakersOptions options_;
  detail::LruMap<CircuitBreaker> map_;
};

}  // namespace orca::resilience
