// The flash sale's stock strategies (stock.hpp).
#include "stock.hpp"

#include <vector>

#include "orca/redis/error.hpp"
#include "orca/redis/script.hpp"

namespace flashsale {
namespace {

using orca::Context;
using orca::Result;
using orca::Task;
using orca::redis::Reply;

std::string key(const std::string& item, const char* what) {
  return "fs:{" + item + "}:" + what;
}

// KEYS: stock, buyers. ARGV: user. Returns the units left after the reservation, -1
// sold out, -2 already bought.
const orca::redis::Script kReserve(R"lua(
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -2 end
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left <= 0 then return -1 end
redis.call('DECR', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
return left - 1
)lua");

// KEYS: stock, buyers, fence. ARGV: user, token, expected left. Returns the units
// left after the reservation, -1 sold out, -2 already bought, -3 a newer token wrote
// first, -4 the count is not the one expected.
const orca::redis::Script kFencedReserve(R"lua(
local token = tonumber(ARGV[2])
if token < tonumber(redis.call('GET', KEYS[3]) or '0') then return -3 end
redis.call('SET', KEYS[3], ARGV[2])
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -2 end
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left <= 0 then return -1 end
if left ~= tonumber(ARGV[3]) then return -4 end
redis.call('DECR', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
return left - 1
)lua");

Result<std::int64_t> integer_of(const Result<Reply>& r, const char* what) {
  if (!r) return r.error();
  if (!r->is_integer())
    return orca::Error(orca::redis::errc::unexpected_reply,
                       std::string(what) + ": " + (r->is_error() ? r->str() : "not an integer"));
  return static_cast<std::int64_t>(r->integer());
}

}  // namespace

const char* to_string(Purchase p) noexcept {
  switch (p) {
    case Purchase::kReserved:
      return "reserved";
    case Purchase::kSoldOut:
      return "sold out";
    case Purchase::kAlreadyBought:
      return "already bought";
    case Purchase::kBusy:
      return "busy";
  }
  return "?";
}

Task<Result<void>> load_stock(Context ctx, orca::redis::Client& redis, std::string item,
                              std::int64_t units) {
  std::vector<std::vector<std::string>> commands{{"SET", key(item, "stock"), std::to_string(units)},
                                                 {"DEL", key(item, "buyers"), key(item, "fence")}};
  auto r = co_await redis.pipeline(ctx, std::move(commands));
  if (!r) co_return r.error();
  for (const Reply& reply : *r)
    if (reply.is_error())
      co_return orca::Error(orca::redis::errc::unexpected_reply, "load_stock: " + reply.str());
  co_return Result<void>{};
}

Task<Result<std::vector<std::string>>> read_buyers(Context ctx, orca::redis::Client& redis,
                                                   std::string item) {
  std::vector<std::string> command{"SMEMBERS", key(item, "buyers")};
  auto r = co_await redis.command(ctx, std::move(command));
  if (!r) co_return r.error();
  std::vector<std::string> users;
  for (const Reply& e : r->elements())
    if (e.is_string()) users.push_back(e.str());
  co_return users;
}

Task<Result<StockFigures>> read_stock(Context ctx, orca::redis::Client& redis, std::string item) {
  std::vector<std::vector<std::string>> commands{{"GET", key(item, "stock")},
                                                 {"SCARD", key(item, "buyers")}};
  auto r = co_await redis.pipeline(ctx, std::move(commands));
  if (!r) co_return r.error();
  StockFigures f;
  const Reply& left = (*r)[0];
  if (left.is_string()) f.left = std::stoll(left.str());
  if ((*r)[1].is_integer()) f.buyers = (*r)[1].integer();
  co_return f;
}

Task<Result<Reservation>> ScriptStock::reserve(Context ctx, std::string item, std::string user) {
  std::vector<std::string> keys{key(item, "stock"), key(item, "buyers")};
  std::vector<std::string> args{std::move(user)};
  auto r = co_await kReserve.eval(ctx, redis_, std::move(keys), std::move(args));
  auto n = integer_of(r, "reserve");
  if (!n) co_return n.error();
  Reservation out;
  out.outcome = *n >= 0    ? Purchase::kReserved
                : *n == -1 ? Purchase::kSoldOut
                           : Purchase::kAlreadyBought;
  if (*n >= 0) out.left = *n;
  co_return out;
}

Task<Result<FencedWrite>> fenced_reserve(Context ctx, orca::redis::Client& redis, std::string item,
                                         std::string user, std::int64_t token,
                                         std::int64_t expected_left) {
  std::vector<std::string> keys{key(item, "stock"), key(item, "buyers"), key(item, "fence")};
  std::vector<std::string> args{std::move(user), std::to_string(token),
                                std::to_string(expected_left)};
  auto r = co_await kFencedReserve.eval(ctx, redis, std::move(keys), std::move(args));
  auto n = integer_of(r, "fenced reserve");
  if (!n) co_return n.error();
  switch (*n) {
    case -1:
      co_return FencedWrite::kSoldOut;
    case -2:
      co_return FencedWrite::kAlreadyBought;
    case -3:
      co_return FencedWrite::kStaleToken;
    case -4:
      co_return FencedWrite::kChanged;
    default:
      co_return FencedWrite::kWritten;
  }
}

Task<Result<Reservation>> LockedStock::try_once(Context ctx, const std::string& item,
                                                const std::string& user, bool* lost_race) {
  *lost_race = false;
  auto [wait_ctx, stop_waiting] = orca::with_timeout(ctx, options_.lock_wait);
  auto lease = co_await locks_.acquire(wait_ctx, "item:" + item, options_.lease);
  stop_waiting();
  if (!lease) {
    if (ctx.is_done()) co_return ctx.err();
    Reservation busy;  // the lock was not had in time (or a majority was unreachable)
    co_return busy;
  }
  Reservation out;
  out.fencing_token = lease->fencing_token;
  // The optimistic read, under the lock: what the write expects to find.
  std::vector<std::vector<std::string>> reads{{"GET", key(item, "stock")},
                                              {"SISMEMBER", key(item, "buyers"), user}};
  auto read = co_await redis_.pipeline(ctx, std::move(reads));
  Result<FencedWrite> wrote = FencedWrite::kChanged;
  if (!read) {
    wrote = read.error();
  } else if ((*read)[1].is_integer() && (*read)[1].integer() == 1) {
    wrote = FencedWrite::kAlreadyBought;
  } else {
    const std::int64_t left = (*read)[0].is_string() ? std::stoll((*read)[0].str()) : 0;
    if (left <= 0)
      wrote = FencedWrite::kSoldOut;
    else
      wrote = co_await fenced_reserve(ctx, redis_, item, user, lease->fencing_token, left);
    if (wrote && *wrote == FencedWrite::kWritten) out.left = left - 1;
  }
  (void)co_await locks_.release(orca::background(), *lease);  // expired: nothing to do
  if (!wrote) co_return wrote.error();
  switch (*wrote) {
    case FencedWrite::kWritten:
      out.outcome = Purchase::kReserved;
      break;
    case FencedWrite::kSoldOut:
      out.outcome = Purchase::kSoldOut;
      break;
    case FencedWrite::kAlreadyBought:
      out.outcome = Purchase::kAlreadyBought;
      break;
    case FencedWrite::kStaleToken:
    case FencedWrite::kChanged:
      *lost_race = true;
      out.outcome = Purchase::kBusy;
      break;
  }
  co_return out;
}

Task<Result<Reservation>> LockedStock::reserve(Context ctx, std::string item, std::string user) {
  // Sold out is read without the lock: the count only falls, so a reader that sees
  // none left is right, and the buyers that come after the last unit do not queue
  // for the lock.
  auto figures = co_await read_stock(ctx, redis_, item);
  if (figures && figures->left <= 0) {
    Reservation sold_out;
    sold_out.outcome = Purchase::kSoldOut;
    co_return sold_out;
  }
  Result<Reservation> last = Reservation{};
  for (int attempt = 0; attempt < options_.attempts; ++attempt) {
    bool lost_race = false;
    last = co_await try_once(ctx, item, user, &lost_race);
    if (!last || !lost_race) break;
  }
  co_return last;
}

}  // namespace flashsale
