// TtlCache<Key, T>: a read-through cache in front of a slow or fragile store, the
// reference text's advice for hot reads: entries live for a TTL spread by jitter, and
// concurrent misses of one key make one load (SingleFlight), so a hot key's expiry
// does not send a stampede to the store.
//
//   orca::resilience::TtlCache<std::string, Item> items({.ttl = 5s, .jitter = 0.2});
//   Result<Item> item = co_await items.get(ctx, id, [id](Context c) -> Task<Result<Item>> {
//     co_return co_await load_item(c, id);           // the store, on a miss only
//   });
//
// get(ctx, key, load): the entry if present and not expired (a hit); otherwise a
// miss: the caller joins the load in flight for key, or starts load(c) on a task of
// its own (SingleFlight's rules: c carries the first caller's values but not its
// cancellation, and is cancelled once every caller has left). A value load returns is
// stored with a lifetime of ttl * (1 + jitter * u), u uniform in [-1, 1], so entries
// loaded together do not all expire in the same instant; an error is returned to
// every caller of that load and not stored (the next get loads again). A caller whose
// ctx ends first gets ctx's error; the load goes on for the others and still stores.
//
// Bounds: at most max_entries entries; a store beyond evicts the least recently used
// one. Expired entries are dropped when found. invalidate(key) drops an entry, and a
// load under way when invalidate() or clear() is called does not store its (possibly
// stale) value: the store it read may predate the change that called invalidate.
//
// Counters (stats()): hits, misses, loads begun, loads failed, evictions, and
// entries found expired; export them with a metrics::Registry callback.
//
// Thread safety: every member from any task or thread (one mutex, never held across a
// suspension or while a load runs). The cache may be destroyed while loads are in
// flight: they share its state and finish for their callers.
//
// T must be copyable (every hit copies it out) and nothrow move constructible.
// load(Context) must return Task<Result<T>>.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/resilience/time_source.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"
#include "orca/sync/single_flight.hpp"

namespace orca::resilience {

struct TtlCacheOptions {
  std::chrono::milliseconds ttl{std::chrono::seconds(60)};
  double jitter = 0.1;  // 0..1: each entry lives ttl * (1 +- jitter)
  std::size_t max_entries = 10'000;
  const TimeSource* clock = nullptr;  // null: orca::Clock
};

struct TtlCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t loads = 0;        // loads begun (a miss that joins one begins none)
  std::uint64_t load_errors = 0;  // loads that returned an error
  std::uint64_t evictions = 0;    // entries dropped for max_entries
  std::uint64_t expired = 0;      // entries found past their lifetime
  std::size_t size = 0;           // entries held now
};

template <class Key, class T, class Hash = std::hash<Key>>
class TtlCache {
 public:
  // Throws std::invalid_argument for a ttl not above 0, jitter outside 0..1 or a
  // max_entries of 0.
  explicit TtlCache(TtlCacheOptions options = {}) : state_(std::make_shared<State>(options)) {
    if (options.ttl.count() <= 0) throw std::invalid_argument("TtlCache: ttl must be above 0");
    if (!(options.jitter >= 0.0 && options.jitter <= 1.0))
      throw std::invalid_argument("TtlCache: jitter must be within 0..1");
    if (options.max_entries == 0)
      throw std::invalid_argument("TtlCache: max_entries must be at least 1");
  }
  TtlCache(const TtlCache&) = delete;
  TtlCache& operator=(const TtlCache&) = delete;

  // The entry for key, or what load returns (one load per key at a time).
  template <class F>
  [[nodiscard]] Task<Result<T>> get(Context ctx, Key key, F load) {
    if (std::optional<T> hit = state_->lookup(key, true)) co_return std::move(*hit);
    // Named, not a temporary of the co_await expression (GCC PR 101367).
    auto loader = [state = state_, key, load = std::move(load),
                   generation = state_->generation()](Context c) mutable -> Task<Result<T>> {
      // Another load may have stored it since this caller missed.
      if (std::optional<T> now = state->lookup(key, false)) co_return std::move(*now);
      state->loads.fetch_add(1, std::memory_order_relaxed);
      Result<T> r = co_await load(c);
      if (r)
        state->store(key, *r, generation);
      else
        state->load_errors.fetch_add(1, std::memory_order_relaxed);
      co_return r;
    };
    SharedResult<T> got = co_await flight_.call(ctx, key, std::move(loader));
    if (!got.has_value()) co_return got.error();
    co_return std::move(got).value();
  }

  // The entry for key if present and not expired; counts nothing and loads nothing.
  std::optional<T> peek(const Key& key) const { return state_->find(key); }
  // Stores value under key (a write-through after the store changed).
  void put(const Key& key, T value) { state_->store(key, std::move(value), std::nullopt); }
  // Drops key's entry; a load of any key under way does not store. True if there was
  // an entry.
  bool invalidate(const Key& key) {
    flight_.forget(key);
    return state_->erase(key);
  }
  // Drops every entry; loads under way do not store.
  void clear() { state_->clear(); }

  TtlCacheStats stats() const { return state_->stats(); }

 private:
  struct Entry {
    T value;
    Clock::time_point expires;
    typename std::list<Key>::iterator recent;  // its place in State::order
  };

  struct State {
    explicit State(const TtlCacheOptions& o) : options(o) {}

    TtlCacheOptions options;
    mutable std::mutex mu;
    std::unordered_map<Key, Entry, Hash> entries;    // guarded by mu
    std::list<Key> order;                            // most recently used first; guarded by mu
    std::uint64_t generation_ = 0;                   // guarded by mu: invalidate and clear
    std::mt19937_64 random{std::random_device{}()};  // guarded by mu
    mutable std::atomic<std::uint64_t> hits{0}, misses{0}, expired{0};
    std::atomic<std::uint64_t> loads{0}, load_errors{0}, evictions{0};

    Clock::time_point now() const { return detail::now(options.clock); }

    std::uint64_t generation() const {
      std::lock_guard lock(mu);
      return generation_;
    }

    // The live entry for key, moved to the front; an expired one is dropped. `count`:
    // a hit or miss of get().
    std::optional<T> lookup(const Key& key, bool count) {
      std::optional<T> out;
      {
        std::lock_guard lock(mu);
        auto it = entries.find(key);
        if (it != entries.end()) {
          if (it->second.expires > now()) {
            order.splice(order.begin(), order, it->second.recent);
            out.emplace(it->second.value);
          } else {
            order.erase(it->second.recent);
            entries.erase(it);
            expired.fetch_add(1, std::memory_order_relaxed);
          }
        }
      }
      if (count) (out ? hits : misses).fetch_add(1, std::memory_order_relaxed);
      return out;
    }

    std::optional<T> find(const Key& key) const {
      std::lock_guard lock(mu);
      auto it = entries.find(key);
      if (it == entries.end() || it->second.expires <= now()) return std::nullopt;
      return it->second.value;
    }

    // Stores, unless an invalidate or clear came after the load began (`since`).
    void store(const Key& key, T value, std::optional<std::uint64_t> since) {
      std::lock_guard lock(mu);
      if (since && *since != generation_) return;
      const double spread = options.jitter * std::uniform_real_distribution<double>(-1, 1)(random);
      const auto life = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double, std::milli>(options.ttl.count() * (1.0 + spread)));
      const Clock::time_point expires = now() + std::max(life, Clock::duration(1));
      auto it = entries.find(key);
      if (it != entries.end()) {
        it->second.value = std::move(value);
        it->second.expires = expires;
        order.splice(order.begin(), order, it->second.recent);
        return;
      }
      if (entries.size() >= options.max_entries) {
        entries.erase(order.back());
        order.pop_back();
        evictions.fetch_add(1, std::memory_order_relaxed);
      }
      order.push_front(key);
      entries.emplace(key, Entry{std::move(value), expires, order.begin()});
    }

    bool erase(const Key& key) {
      std::lock_guard lock(mu);
      ++generation_;
      auto it = entries.find(key);
      if (it == entries.end()) return false;
      order.erase(it->second.recent);
      entries.erase(it);
      return true;
    }

    void clear() {
      std::lock_guard lock(mu);
      ++generation_;
      entries.clear();
      order.clear();
    }

    TtlCacheStats stats() const {
      TtlCacheStats s;
      s.hits = hits.load(std::memory_order_relaxed);
      s.misses = misses.load(std::memory_order_relaxed);
      s.loads = loads.load(std::memory_order_relaxed);
      s.load_errors = load_errors.load(std::memory_order_relaxed);
      s.evictions = evictions.load(std::memory_order_relaxed);
      s.expired = expired.load(std::memory_order_relaxed);
      std::lock_guard lock(mu);
      s.size = entries.size();
      return s;
    }
  };

  std::shared_ptr<State> state_;
  SingleFlight<Key, T, Hash> flight_;
};

}  // namespace orca::resilience
