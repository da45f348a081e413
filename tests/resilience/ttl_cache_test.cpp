// TtlCache: a hit until the entry's jittered lifetime ends, one load for concurrent
// misses of a key, errors not stored, LRU eviction, and no stale store after an
// invalidation.
#include "orca/resilience/ttl_cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "orca/orca.hpp"

namespace {

using orca::Context;
using orca::Result;
using orca::Task;
using orca::resilience::ManualClock;
using orca::resilience::TtlCache;
using orca::resilience::TtlCacheOptions;
using namespace std::chrono_literals;

TtlCacheOptions options(const ManualClock& clock, std::size_t max_entries = 100) {
  TtlCacheOptions o;
  o.ttl = 10s;
  o.jitter = 0.2;
  o.max_entries = max_entries;
  o.clock = &clock;
  return o;
}

// A load that counts its calls and returns "v<key>".
auto counted(std::atomic<int>& calls) {
  return [&calls](int key) {
    return [&calls, key](Context) -> Task<Result<std::string>> {
      calls.fetch_add(1);
      co_return "v" + std::to_string(key);
    };
  };
}

TEST(TtlCache, HitsUntilTheJitteredLifetimeEnds) {
  ManualClock clock;
  TtlCache<int, std::string> cache(options(clock, 1000));
  std::atomic<int> calls{0};
  auto load = counted(calls);
  int alive_at_10s = 0;
  orca::run([&]() -> Task<void> {
    for (int k = 0; k < 200; ++k)
      EXPECT_EQ(*co_await cache.get(orca::background(), k, load(k)), "v" + std::to_string(k));
    clock.advance(7900ms);  // below every lifetime (at least 8 s)
    for (int k = 0; k < 200; ++k)
      EXPECT_TRUE(cache.peek(k).has_value()) << k;
    clock.advance(2100ms);  // 10 s: lifetimes spread over 8..12 s
    for (int k = 0; k < 200; ++k)
      alive_at_10s += cache.peek(k).has_value() ? 1 : 0;
    clock.advance(2001ms);  // past every lifetime
    EXPECT_EQ(*co_await cache.get(orca::background(), 7, load(7)), "v7");
  });
  EXPECT_GT(alive_at_10s, 0) << "jitter: some entries outlive the ttl";
  EXPECT_LT(alive_at_10s, 200) << "jitter: some entries end before the ttl";
  EXPECT_EQ(calls.load(), 201);
  const auto s = cache.stats();
  EXPECT_EQ(s.misses, 201u);
  EXPECT_EQ(s.loads, 201u);
  EXPECT_EQ(s.expired, 1u);
  EXPECT_EQ(s.hits, 0u);
}

TEST(TtlCache, ASecondGetIsAHit) {
  ManualClock clock;
  TtlCache<int, std::string> cache(options(clock));
  std::atomic<int> calls{0};
  auto load = counted(calls);
  orca::run([&]() -> Task<void> {
    EXPECT_EQ(*co_await cache.get(orca::background(), 1, load(1)), "v1");
    clock.advance(5s);
    EXPECT_EQ(*co_await cache.get(orca::background(), 1, load(1)), "v1");
  });
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 1u);
}

// 100 callers miss one key while its load is held: one load, and every caller gets
// its value.
TEST(TtlCache, ConcurrentMissesOfAKeyMakeOneLoad) {
  ManualClock clock;
  TtlCache<int, std::string> cache(options(clock));
  std::atomic<int> calls{0};
  std::atomic<int> got{0};
  orca::run([&]() -> Task<void> {
    orca::Channel<int> started(1);
    orca::Channel<int> release(1);
    auto load = [&](Context) -> Task<Result<std::string>> {
      calls.fetch_add(1);
      (void)co_await started.send(1);
      (void)co_await release.recv();
      co_return std::string("hot");
    };
    orca::WaitGroup wg;
    wg.add(100);
    for (int i = 0; i < 100; ++i)
      orca::go([&]() -> Task<void> {
        auto r = co_await cache.get(orca::background(), 42, load);
        if (r && *r == "hot") got.fetch_add(1);
        wg.done();
      });
    (void)co_await started.recv();
    // Every caller has missed once the misses are all counted; then let the load end.
    while (cache.stats().misses < 100)
      co_await orca::yield();
    (void)co_await release.send(1);
    co_await wg.wait();
  });
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(got.load(), 100);
  EXPECT_EQ(cache.stats().loads, 1u);
}

TEST(TtlCache, AnErrorReachesItsCallersAndIsNotStored) {
  ManualClock clock;
  TtlCache<int, std::string> cache(options(clock));
  std::atomic<int> calls{0};
  orca::run([&]() -> Task<void> {
    auto failing = [&](Context) -> Task<Result<std::string>> {
      calls.fetch_add(1);
      co_return orca::Error(std::make_error_code(std::errc::io_error), "store away");
    };
    auto first = co_await cache.get(orca::background(), 1, failing);
    EXPECT_FALSE(first.has_value());
    if (!first) {
      EXPECT_EQ(first.error().detail(), "store away");
    }
    auto second = co_await cache.get(orca::background(), 1, failing);
    EXPECT_FALSE(second.has_value());
  });
  EXPECT_EQ(calls.load(), 2) << "a failed load is not cached";
  EXPECT_EQ(cache.stats().load_errors, 2u);
  EXPECT_EQ(cache.stats().size, 0u);
}

TEST(TtlCache, EvictsTheLeastRecentlyUsedBeyondItsBound) {
  ManualClock clock;
  TtlCache<int, std::string> cache(options(clock, 3));
  std::atomic<int> calls{0};
  auto load = counted(calls);
  orca::run([&]() -> Task<void> {
    for (int k : {1, 2, 3})
      (void)co_await cache.get(orca::background(), k, load(k));
    (void)co_await cache.get(orca::background(), 1, load(1));  // 2 is now the oldest used
    (void)co_await cache.get(orca::background(), 4, load(4));
  });
  EXPECT_TRUE(cache.peek(1).has_value());
  EXPECT_FALSE(cache.peek(2).has_value());
  EXPECT_TRUE(cache.peek(3).has_value());
  EXPECT_TRUE(cache.peek(4).has_value());
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.stats().size, 3u);
}

// A load that read the store before an invalidation must not put its value back
// afterwards: its caller gets it, the cache keeps nothing, the next get loads anew.
TEST(TtlCache, ALoadUnderWayWhenInvalidatedDoesNotStore) {
  ManualClock clock;
  TtlCache<int, std::string> cache(options(clock));
  std::atomic<int> calls{0};
  std::string first;
  std::string second;
  orca::run([&]() -> Task<void> {
    orca::Channel<int> started(1);
    orca::Channel<int> release(1);
    auto old_read = [&](Context) -> Task<Result<std::string>> {
      calls.fetch_add(1);
      (void)co_await started.send(1);
      (void)co_await release.recv();
      co_return std::string("old");
    };
    auto loading = orca::spawn([&]() -> Task<Result<std::string>> {
      co_return co_await cache.get(orca::background(), 9, old_read);
    });
    (void)co_await started.recv();
    EXPECT_FALSE(cache.invalidate(9));  // nothing stored yet
    (void)co_await release.send(1);
    first = *co_await std::move(loading);
    EXPECT_FALSE(cache.peek(9).has_value());
    auto fresh = [&](Context) -> Task<Result<std::string>> {
      calls.fetch_add(1);
      co_return std::string("new");
    };
    second = *co_await cache.get(orca::background(), 9, fresh);
  });
  EXPECT_EQ(first, "old");
  EXPECT_EQ(second, "new");
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(cache.peek(9), std::optional<std::string>("new"));
}

TEST(TtlCache, PutAndClear) {
  ManualClock clock;
  TtlCache<int, std::string> cache(options(clock));
  cache.put(1, "a");
  EXPECT_EQ(cache.peek(1), std::optional<std::string>("a"));
  cache.clear();
  EXPECT_FALSE(cache.peek(1).has_value());
}

TEST(TtlCache, RefusesOptionsThatCannotWork) {
  TtlCacheOptions o;
  o.ttl = 0ms;
  EXPECT_THROW((TtlCache<int, int>(o)), std::invalid_argument);
  o = TtlCacheOptions{};
  o.jitter = 1.5;
  EXPECT_THROW((TtlCache<int, int>(o)), std::invalid_argument);
  o = TtlCacheOptions{};
  o.max_entries = 0;
  EXPECT_THROW((TtlCache<int, int>(o)), std::invalid_argument);
}

}  // namespace
