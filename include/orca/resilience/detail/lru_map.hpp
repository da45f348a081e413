// LruMap<V>: shared values by string key, at most `capacity` of them, the least
// recently used dropped first. The keyed breakers and limiters are built on it.
//
// Invariant: each shard holds at most its share of the capacity; a value handed out
// stays alive (shared_ptr) after it is dropped from the map, so an eviction never
// pulls a component from under a running call — the next lookup of that key makes a
// fresh one.
//
// Thread safety: every member from any thread; one short lock per lookup, on one of
// 16 shards chosen by the key's hash.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace orca::resilience::detail {

template <class V>
class LruMap {
 public:
  static constexpr std::size_t kShards = 16;

  // `capacity` >= 1 (checked by the owners' validate()).
  LruMap(std::size_t capacity, std::function<std::shared_ptr<V>(std::string_view)> make)
      : per_shard_((capacity + kShards - 1) / kShards), make_(std::move(make)) {}

  // The key's value, made (and the shard's least recently used dropped) if absent.
  std::shared_ptr<V> get(std::string_view key) {
    Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
    std::lock_guard lock(shard.mu);
    if (auto it = shard.index.find(key); it != shard.index.end()) {
      shard.order.splice(shard.order.begin(), shard.order, it->second);
      return it->second->second;
    }
    if (shard.order.size() >= per_shard_) {
      shard.index.erase(std::string_view(shard.order.back().first));
      shard.order.pop_back();
      ++shard.evicted;
    }
    shard.order.emplace_front(std::string(key), make_(key));
    shard.index.emplace(std::string_view(shard.order.front().first), shard.order.begin());
    return shard.order.front().second;
  }

  // The key's value if present (does not count as a use).
  std::shared_ptr<V> find(std::string_view key) const {
    const Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
    std::lock_guard lock(shard.mu);
    auto it = shard.index.find(key);
    return it == shard.index.end() ? nullptr : it->second->second;
  }

  // Calls fn(key, value) for each entry, shard by shard (under that shard's lock).
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Shard& shard : shards_) {
      std::lock_guard lock(shard.mu);
      for (const auto& [key, value] : shard.order)
        fn(std::string_view(key), *value);
    }
  }

  std::size_t size() const {
    std::size_t n = 0;
    for (const Shard& shard : shards_) {
      std::lock_guard lock(shard.mu);
      n += shard.order.size();
    }
    return n;
  }
  std::size_t evicted() const {
    std::size_t n = 0;
    for (const Shard& shard : shards_) {
      std::lock_guard lock(shard.mu);
      n += shard.evicted;
    }
    return n;
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<V>>;
  struct Shard {
    mutable std::mutex mu;
    std::list<Entry> order;  // most recent first
    std::unordered_map<std::string_view, typename std::list<Entry>::iterator> index;
    std::size_t evicted = 0;
  };

  const std::size_t per_shard_;
  const std::function<std::shared_ptr<V>(std::string_view)> make_;
  Shard shards_[kShards];
};

}  // namespace orca::resilience::detail
