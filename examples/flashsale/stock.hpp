// The flash sale's stock: items with a count in Redis, bought at most once per user,
// never oversold, by one of two strategies (docs/FLASHSALE.md):
//
//   ScriptStock  one Lua script checks the buyer, checks the count and decrements,
//                atomically on the stock's server: nothing to lock.
//   LockedStock  the text's Redlock recipe: a lock per item across independent
//                servers (orca::redis::RedisLock), an optimistic read, then a write
//                that the stock's server refuses when its fencing token is older than
//                one it has seen (a holder whose lease ran out while it paused) or
//                when the count changed since the read.
//
// Keys on the stock's server, one hash tag per item: fs:{ITEM}:stock (units left),
// fs:{ITEM}:buyers (users who bought), fs:{ITEM}:fence (the highest fencing token a
// write carried).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/redis/client.hpp"
#include "orca/redis/lock.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace flashsale {

enum class Purchase {
  kReserved,       // one unit is the user's
  kSoldOut,        // none left
  kAlreadyBought,  // this user has one already
  kBusy,           // the item's lock was not had in time, or every try lost a race
};
const char* to_string(Purchase p) noexcept;

struct Reservation {
  Purchase outcome = Purchase::kBusy;
  std::int64_t left = -1;          // units left after it, when reserved
  std::int64_t fencing_token = 0;  // LockedStock: the lease's token the write carried
};

// What a fenced write answered (LockedStock's last step; public for tests).
enum class FencedWrite {
  kWritten,
  kSoldOut,
  kAlreadyBought,
  kStaleToken,  // a write with a newer token came first: this holder's lease is over
  kChanged,     // the count is not the one read: someone wrote without the lock
};

struct StockFigures {
  std::int64_t left = 0;
  std::int64_t buyers = 0;
};

// Sets ITEM's count to `units` and forgets its buyers and fence.
orca::Task<orca::Result<void>> load_stock(orca::Context ctx, orca::redis::Client& redis,
                                          std::string item, std::int64_t units);
// The users who bought ITEM (SMEMBERS of its buyers set).
orca::Task<orca::Result<std::vector<std::string>>> read_buyers(orca::Context ctx,
                                                               orca::redis::Client& redis,
                                                               std::string item);
orca::Task<orca::Result<StockFigures>> read_stock(orca::Context ctx, orca::redis::Client& redis,
                                                  std::string item);

class Stock {
 public:
  virtual ~Stock() = default;
  // Tries to reserve one unit of `item` for `user`. Errors: Redis's (the purchase
  // may or may not have happened: the buyers set tells).
  virtual orca::Task<orca::Result<Reservation>> reserve(orca::Context ctx, std::string item,
                                                        std::string user) = 0;
};

class ScriptStock final : public Stock {
 public:
  explicit ScriptStock(orca::redis::Client& redis) : redis_(redis) {}
  orca::Task<orca::Result<Reservation>> reserve(orca::Context ctx, std::string item,
                                                std::string user) override;

 private:
  orca::redis::Client& redis_;
};

struct LockedStockOptions {
  std::chrono::milliseconds lease{2000};      // the item lock's TTL
  std::chrono::milliseconds lock_wait{5000};  // how long a purchase waits for the lock
  int attempts = 3;                           // tries after a lost race (kStaleToken, kChanged)
};

class LockedStock final : public Stock {
 public:
  LockedStock(orca::redis::Client& redis, orca::redis::RedisLock& locks,
              LockedStockOptions options = {})
      : redis_(redis), locks_(locks), options_(options) {}
  orca::Task<orca::Result<Reservation>> reserve(orca::Context ctx, std::string item,
                                                std::string user) override;

 private:
  orca::Task<orca::Result<Reservation>> try_once(orca::Context ctx, const std::string& item,
                                                 const std::string& user, bool* lost_race);

  orca::redis::Client& redis_;
  orca::redis::RedisLock& locks_;
  LockedStockOptions options_;
};

// The write of LockedStock: refused when `token` is below the item's fence or the
// count is not `expected_left`; otherwise one unit goes to `user`.
orca::Task<orca::Result<FencedWrite>> fenced_reserve(orca::Context ctx, orca::redis::Client& redis,
                                                     std::string item, std::string user,
                                                     std::int64_t token,
                                                     std::int64_t expected_left);

}  // namespace flashsale
