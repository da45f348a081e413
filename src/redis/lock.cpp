// RedisLock (lock.hpp): SET NX PX plus a fencing counter per server, a majority for a
// lease, the token written back before the lease is handed out.
#include "orca/redis/lock.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <utility>

#include "orca/redis/error.hpp"
#include "orca/redis/script.hpp"
#include "orca/runtime/spawn.hpp"

namespace orca::redis {
namespace {

// KEYS: the lock, its fence counter. ARGV: owner, TTL (ms). The new fencing token
// (>= 1) if the lock was free and is now the owner's; 0 if someone holds it.
const Script kAcquire(R"lua(
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
)lua");

// KEYS: the lock, its fence counter. ARGV: owner, token. While the owner holds the
// lock here, raises the counter to the token (never lowers it). 1 if it holds.
const Script kFenceUp(R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local f = tonumber(redis.call('GET', KEYS[2]) or '0')
if f < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2]) end
return 1
)lua");

// KEYS: the lock. ARGV: owner, TTL (ms). 1 if the owner held it (its TTL is now ARGV[2]).
const Script kExtend(R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua");

// KEYS: the lock. ARGV: owner. 1 if the owner held it (it is deleted).
const Script kRelease(R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
)lua");

// 128 random bits as 32 hex digits: an owner no other process will draw.
std::string random_owner() {
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  char hex[33];
  for (std::size_t i = 0; i < sizeof bytes; ++i)
    std::snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
  return std::string(hex, 32);
}

// How long one server may take to answer before it counts as not granting: short
// against the TTL (Redlock's advice), so that a dead server costs little of it.
std::chrono::milliseconds per_server_timeout(std::chrono::milliseconds ttl) {
  return std::clamp(ttl / 10, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}

std::chrono::milliseconds drift_of(std::chrono::milliseconds ttl, double factor) {
  return std::chrono::milliseconds(
             static_cast<std::int64_t>(static_cast<double>(ttl.count()) * factor)) +
         std::chrono::milliseconds(2);
}

// One script call on one server, bounded by `timeout` (by-value parameters: a
// spawned task's frame refers to nothing of its caller's).
Task<Result<Reply>> eval_on(const Script* script, Client* server, Context ctx,
                            std::vector<std::string> keys, std::vector<std::string> args,
                            std::chrono::milliseconds timeout) {
  auto [c, cancel] = with_timeout(ctx, timeout);
  auto r = co_await script->eval(c, *server, std::move(keys), std::move(args));
  cancel();
  co_return r;
}

// Runs `script` on every server at once, each bounded by `timeout`; the replies in
// server order.
Task<std::vector<Result<Reply>>> on_all(const Context& ctx, const std::vector<Client*>& servers,
                                        const Script& script, std::vector<std::string> keys,
                                        std::vector<std::string> args,
                                        std::chrono::milliseconds timeout) {
  std::vector<Result<Reply>> out;
  out.reserve(servers.size());
  if (servers.size() == 1) {
    Task<Result<Reply>> only =
        eval_on(&script, servers[0], ctx, std::move(keys), std::move(args), timeout);
    out.push_back(co_await std::move(only));
    co_return out;
  }
  std::vector<JoinHandle<Result<Reply>>> calls;
  calls.reserve(servers.size());
  for (Client* server : servers)
    calls.push_back(spawn([script = &script, server, ctx, keys, args, timeout] {
      return eval_on(script, server, ctx, keys, args, timeout);
    }));
  for (auto& call : calls)
    out.push_back(co_await std::move(call));
  co_return out;
}

// How many replies say 1 (or, for acquisition, a token >= 1); the highest integer.
struct Tally {
  std::size_t yes = 0;
  std::size_t answered = 0;  // replies that were not errors
  long long highest = 0;
  std::error_code first_error;
};

Tally tally(const std::vector<Result<Reply>>& replies) {
  Tally t;
  for (const auto& r : replies) {
    if (!r) {
      if (!t.first_error) t.first_error = r.error();
      continue;
    }
    if (r->is_error() || !r->is_integer()) {
      if (!t.first_error) t.first_error = make_error_code(errc::server_error);
      continue;
    }
    ++t.answered;
    if (r->integer() >= 1) {
      ++t.yes;
      t.highest = std::max(t.highest, r->integer());
    }
  }
  return t;
}

}  // namespace

RedisLock::RedisLock(std::vector<Client*> servers, std::string prefix, LockOptions options)
    : servers_(std::move(servers)), prefix_(std::move(prefix)), options_(options) {
  if (servers_.empty()) throw std::invalid_argument("redis lock: no servers");
  for (Client* s : servers_)
    if (s == nullptr) throw std::invalid_argument("redis lock: a null server");
  if (!(options_.drift_factor >= 0 && options_.drift_factor < 0.5))
    throw std::invalid_argument("redis lock: drift_factor must be in [0, 0.5)");
  if (options_.retry_delay <= std::chrono::milliseconds::zero())
    throw std::invalid_argument("redis lock: retry_delay must be positive");
}

std::string RedisLock::key_of(std::string_view name) const {
  std::string k = prefix_;
  k.append("{").append(name).append("}");
  return k;
}

Task<Result<std::optional<LockLease>>> RedisLock::try_acquire(const Context& ctx,
                                                              std::string_view name,
                                                              std::chrono::milliseconds ttl) {
  if (ttl <= std::chrono::milliseconds::zero())
    co_return Error(make_error_code(std::errc::invalid_argument),
                    "redis lock: ttl must be positive");
  if (auto err = ctx.err()) co_return err;
  const std::string key = key_of(name);
  const std::string fence = key + ":fence";
  LockLease lease;
  lease.name = std::string(name);
  lease.owner = random_owner();
  const auto start = Clock::now();
  const auto timeout = per_server_timeout(ttl);
  // Named vectors, not braced lists, in a co_await expression (GCC 12).
  std::vector<std::string> keys{key, fence};
  std::vector<std::string> args{lease.owner, std::to_string(ttl.count())};
  auto replies = co_await on_all(ctx, servers_, kAcquire, keys, std::move(args), timeout);
  const Tally got = tally(replies);
  const auto deadline = start + ttl - drift_of(ttl, options_.drift_factor);
  bool held = got.yes >= quorum() && Clock::now() < deadline;
  if (held && servers_.size() > 1) {
    // The token back to every server that granted, as a maximum (lock.hpp says why).
    std::vector<std::string> raise_args{lease.owner, std::to_string(got.highest)};
    auto raised = co_await on_all(ctx, servers_, kFenceUp, keys, std::move(raise_args), timeout);
    held = tally(raised).yes >= quorum() && Clock::now() < deadline;
  }
  if (held) {
    lease.fencing_token = got.highest;
    lease.valid_until = deadline;
    lease.servers = got.yes;
    co_return std::optional<LockLease>(std::move(lease));
  }
  if (got.yes > 0) co_await release_everywhere(key, lease.owner);
  if (auto err = ctx.err()) co_return err;
  // Not enough servers answered to tell whether the lock is free: an error, not a
  // refusal.
  if (got.answered < quorum() && got.first_error) co_return got.first_error;
  co_return std::optional<LockLease>();
}

Task<Result<LockLease>> RedisLock::acquire(const Context& ctx, std::string_view name,
                                           std::chrono::milliseconds ttl) {
  const std::string owned_name(name);
  std::minstd_rand rng(std::random_device{}());
  for (;;) {
    auto attempt = co_await try_acquire(ctx, owned_name, ttl);
    if (!attempt) co_return attempt.error();
    if (*attempt) co_return std::move(**attempt);
    // Held by someone else: wait retry_delay +-50% and try again.
    std::uniform_int_distribution<std::int64_t> jitter(options_.retry_delay.count() / 2,
                                                       options_.retry_delay.count() * 3 / 2);
    auto slept = co_await sleep_for(ctx, std::chrono::milliseconds(jitter(rng)));
    if (!slept) co_return slept.error();
  }
}

Task<Result<void>> RedisLock::extend(const Context& ctx, LockLease& lease,
                                     std::chrono::milliseconds ttl) {
  if (ttl <= std::chrono::milliseconds::zero())
    co_return Error(make_error_code(std::errc::invalid_argument),
                    "redis lock: ttl must be positive");
  if (auto err = ctx.err()) co_return err;
  std::vector<std::string> keys{key_of(lease.name)};
  std::vector<std::string> args{lease.owner, std::to_string(ttl.count())};
  const auto start = Clock::now();
  auto replies =
      co_await on_all(ctx, servers_, kExtend, keys, std::move(args), per_server_timeout(ttl));
  const Tally got = tally(replies);
  const auto deadline = start + ttl - drift_of(ttl, options_.drift_factor);
  if (got.yes >= quorum() && Clock::now() < deadline) {
    lease.valid_until = deadline;
    lease.servers = got.yes;
    co_return Result<void>();
  }
  if (auto err = ctx.err()) co_return err;
  if (got.answered < quorum() && got.first_error) co_return got.first_error;
  co_return make_error_code(errc::lock_not_held);
}

Task<Result<void>> RedisLock::release(const Context& ctx, const LockLease& lease) {
  if (auto err = ctx.err()) co_return err;
  std::vector<std::string> keys{key_of(lease.name)};
  std::vector<std::string> args{lease.owner};
  auto replies = co_await on_all(ctx, servers_, kRelease, keys, std::move(args),
                                 std::chrono::milliseconds(1000));
  const Tally got = tally(replies);
  if (got.yes >= quorum()) co_return Result<void>();
  if (auto err = ctx.err()) co_return err;
  if (got.answered < quorum() && got.first_error) co_return got.first_error;
  co_return make_error_code(errc::lock_not_held);
}

Task<void> RedisLock::release_everywhere(std::string key, std::string owner) {
  auto [ctx, cancel] = with_timeout(background(), std::chrono::seconds(1));
  std::vector<std::string> keys{std::move(key)};
  std::vector<std::string> args{std::move(owner)};
  (void)co_await on_all(ctx, servers_, kRelease, std::move(keys), std::move(args),
                        std::chrono::milliseconds(1000));
  cancel();
}

}  // namespace orca::redis
