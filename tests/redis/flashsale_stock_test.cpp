// The flash sale's stock strategies (examples/flashsale/stock.hpp) against real
// redis-servers: 350 concurrent purchases of 50 units sell exactly 50, one per user,
// with the atomic script and with Redlock over three servers while one of them stops;
// and a holder whose lease ran out cannot write behind a newer one (fencing).
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "orca/redis/lock.hpp"
#include "redis_test_support.hpp"
#include "stock.hpp"

using namespace std::chrono_literals;
using flashsale::Purchase;
using orca::redis::Client;
using orca_redis_test::Bounded;
using orca_redis_test::run_on;
using orca_redis_test::url_of;

namespace {

constexpr int kUnits = 50;
constexpr int kBuyers = 300;  // and 50 of them try a second time

struct Sale {
  std::map<Purchase, int> outcomes;
  std::map<std::string, int> reserved_by;  // user -> reservations
  int errors = 0;
  flashsale::StockFigures after;
};

// Every buyer at once (each a task), then the item's figures.
orca::Task<void> sell(flashsale::Stock& stock, Client& redis, Sale& sale,
                      std::function<void(int)> after_each = nullptr) {
  Bounded b(60s);
  std::mutex mu;
  orca::WaitGroup wg;
  std::atomic<int> done{0};
  for (int i = 0; i < kBuyers + kUnits; ++i) {
    const std::string user = "user" + std::to_string(i % kBuyers);
    wg.add(1);
    orca::go([&, user]() -> orca::Task<void> {
      auto r = co_await stock.reserve(b.ctx, "item1", user);
      {
        std::lock_guard lock(mu);
        if (!r) {
          ++sale.errors;
        } else {
          ++sale.outcomes[r->outcome];
          if (r->outcome == Purchase::kReserved) ++sale.reserved_by[user];
        }
      }
      if (after_each) after_each(done.fetch_add(1) + 1);
      wg.done();
    });
  }
  co_await wg.wait();
  auto figures = co_await flashsale::read_stock(b.ctx, redis, "item1");
  if (figures) sale.after = *figures;
}

int count(const Sale& sale, Purchase p) {
  auto it = sale.outcomes.find(p);
  return it == sale.outcomes.end() ? 0 : it->second;
}

// Never oversold, never twice to one user, and every unit accounted for: sold or left.
// `all_decided`: no purchase ended busy (the script takes no lock; with Redlock a
// loaded machine may let leases run out, fencing refuses the late writes, and buyers
// that lose three races are told busy, the gateway's 503).
void expect_exact(const Sale& sale, bool all_decided) {
  EXPECT_EQ(sale.errors, 0);
  const int reserved = count(sale, Purchase::kReserved);
  const int busy = count(sale, Purchase::kBusy);
  if (all_decided) {
    EXPECT_EQ(busy, 0);
    EXPECT_EQ(reserved, kUnits) << "oversold or undersold";
  }
  EXPECT_LE(reserved, kUnits) << "oversold";
  EXPECT_EQ(sale.after.buyers, reserved);
  EXPECT_EQ(sale.after.left + reserved, kUnits) << "a unit neither sold nor left";
  for (const auto& [user, n] : sale.reserved_by)
    EXPECT_EQ(n, 1) << user << " bought twice";
  EXPECT_EQ(
      reserved + busy + count(sale, Purchase::kSoldOut) + count(sale, Purchase::kAlreadyBought),
      kBuyers + kUnits);
}

TEST(FlashsaleStock, TheScriptSellsExactlyTheStockOncePerUser) {
  ORCA_REDIS_SERVER(server);
  Sale sale;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto redis = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(redis);
    CO_ASSERT_OK(co_await flashsale::load_stock(b.ctx, *redis, "item1", kUnits));
    flashsale::ScriptStock stock(*redis);
    co_await sell(stock, *redis, sale);
    co_await redis->closed();
  });
  expect_exact(sale, true);
}

// Redlock over three servers, the stock on the first; the third stops after 20
// purchases: a majority still grants, and the count is still exact.
TEST(FlashsaleStock, RedlockSellsExactlyTheStockWhileALockServerStops) {
  ORCA_REDIS_SERVER(a);
  ORCA_REDIS_SERVER(b2);
  ORCA_REDIS_SERVER(c);
  Sale sale;
  std::atomic<bool> stopped{false};
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto ra = co_await Client::connect(b.ctx, url_of(a));
    auto rb = co_await Client::connect(b.ctx, url_of(b2));
    auto rc = co_await Client::connect(b.ctx, url_of(c));
    CO_ASSERT_TRUE(ra && rb && rc);
    CO_ASSERT_OK(co_await flashsale::load_stock(b.ctx, *ra, "item1", kUnits));
    orca::redis::RedisLock locks({&*ra, &*rb, &*rc}, "fs:lock:");
    flashsale::LockedStockOptions options;
    options.lock_wait = 60s;  // a loaded machine: the test is about counts, not waits
    options.lease = 10s;
    flashsale::LockedStock stock(*ra, locks, options);
    // Named, not a temporary of the co_await expression (GCC PR 101367).
    std::function<void(int)> stop_third = [&](int done) {
      if (done == 20 && !stopped.exchange(true))
        orca::go(
            [&]() -> orca::Task<void> { (void)co_await orca::blocking([&] { return c.stop(); }); });
    };
    co_await sell(stock, *ra, sale, stop_third);
    co_await ra->closed();
    co_await rb->closed();
    co_await rc->closed();
  });
  EXPECT_TRUE(stopped.load());
  expect_exact(sale, false);
  EXPECT_GT(count(sale, Purchase::kReserved), 0);
}

// A holder whose lease expired while it paused writes after a newer holder: the
// stock's server refuses its token, and the unit is sold once.
TEST(FlashsaleStock, AWriteWithAnOlderFencingTokenIsRefused) {
  ORCA_REDIS_SERVER(server);
  flashsale::FencedWrite late = flashsale::FencedWrite::kWritten;
  flashsale::FencedWrite newer = flashsale::FencedWrite::kStaleToken;
  flashsale::StockFigures after;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto redis = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(redis);
    CO_ASSERT_OK(co_await flashsale::load_stock(b.ctx, *redis, "item1", 1));
    orca::redis::RedisLock locks({&*redis}, "fs:lock:");
    auto first = co_await locks.acquire(b.ctx, "item:item1", 100ms);
    CO_ASSERT_OK(first);
    (void)co_await orca::sleep_for(b.ctx, 300ms);  // the pause: its lease runs out
    auto second = co_await locks.acquire(b.ctx, "item:item1", 10s);
    CO_ASSERT_OK(second);
    auto w2 =
        co_await flashsale::fenced_reserve(b.ctx, *redis, "item1", "bob", second->fencing_token, 1);
    CO_ASSERT_OK(w2);
    newer = *w2;
    auto w1 = co_await flashsale::fenced_reserve(b.ctx, *redis, "item1", "alice",
                                                 first->fencing_token, 1);
    CO_ASSERT_OK(w1);
    late = *w1;
    auto figures = co_await flashsale::read_stock(b.ctx, *redis, "item1");
    CO_ASSERT_OK(figures);
    after = *figures;
    co_await redis->closed();
  });
  EXPECT_EQ(newer, flashsale::FencedWrite::kWritten);
  EXPECT_EQ(late, flashsale::FencedWrite::kStaleToken);
  EXPECT_EQ(after.left, 0);
  EXPECT_EQ(after.buyers, 1);
}

}  // namespace
