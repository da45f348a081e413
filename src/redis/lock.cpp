// RedisLock (lock.hpp): SET NX PX plus a fencing counter per server, a majority for a
// lease, the token written back before the lease is handed out.
#include "orca/redis/lock.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <utility>

#include "orca/redis/error.hpp"
#include "orca/redis/script.hpp"
#include "orca/runtime/spawn.hpp"

namespace orca::redis {
namespace {

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

// 128 random bits as 32 hex digits: an owner no other process will draw. The bytes
// come from getrandom(2), 4 KiB per call into a per-thread buffer (one system call
// per 256 owners).
std::string random_owner() {
  struct Pool {
    unsigned char bytes[4096];
    std::size_t used = sizeof bytes;
  };
  thread_local Pool pool;
  if (pool.used + 16 > sizeof pool.bytes) {
    std::size_t got = 0;
    while (got < sizeof pool.bytes) {
      const ssize_t n = ::getrandom(pool.bytes + got, sizeof pool.bytes - got, 0);
      if (n > 0) got += static_cast<std::size_t>(n);
    }
    pool.used = 0;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    const unsigned char b = pool.bytes[pool.used + i];
    out[2 * i] = kHex[b >> 4];
    out[2 * i + 1] = kHex[b & 0xf];
  }
  // Used bytes are overwritten, so that no later owner repeats them.
  std::memset(pool.bytes + pool.used, 0, 16);
  pool.used += 16;
  return out;
}

// How long one server may take to answer before it counts as not granting: short
// against the TTL (Redlock's advice), so that a dead server costs little of it.
std::chrono::milliseconds per_server_timeout(std::size_t servers, std::chrono::milliseconds ttl) {
  if (servers == 1) return std::chrono::milliseconds::zero();
  return std::clamp(ttl / 10, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}

std::chrono::milliseconds drift_of(std::chrono::milliseconds ttl, double factor) {
  return std::chrono::milliseconds(
             static_cast<std::int64_t>(static_cast<double>(ttl.count()) * factor)) +
         std::chrono::milliseconds(2);
}

// Bounds one server's call by `timeout`; zero: the caller's context alone (one
// server, where nothing is gained by giving up on it early).
Context bounded(const Context& ctx, std::chrono::milliseconds timeout, CancelFunc& cancel) {
  if (timeout == std::chrono::milliseconds::zero()) return ctx;
  auto [c, stop] = with_timeout(ctx, timeout);
  cancel = std::move(stop);
  return c;
}

// One script call on one server (by-value parameters: a spawned task's frame refers
// to nothing of its caller's).
Task<Result<Reply>> eval_on(const Script* script, Client* server, Context ctx,
                            std::vector<std::string> keys, std::vector<std::string> args,
                            std::chrono::milliseconds timeout) {
  CancelFunc cancel;
  Context c = bounded(ctx, timeout, cancel);
  auto r = co_await script->eval(c, *server, std::move(keys), std::move(args));
  cancel();
  co_return r;
}

// One server's grant, in one round trip without a script: SET NX PX, and INCR of the
// fence counter pipelined behind it. The reply is the new token if the SET took the
// lock, else 0. The INCR runs either way: a token only has to grow, and the numbers
// a refused attempt used up are simply never handed out.
Task<Result<Reply>> grant_on(Client* server, Context ctx, std::string key, std::string fence,
                             std::string owner, std::string ttl_ms,
                             std::chrono::milliseconds timeout) {
  CancelFunc cancel;
  Context c = bounded(ctx, timeout, cancel);
  std::vector<std::vector<std::string>> commands(2);
  commands[0] = {"SET", std::move(key), std::move(owner), "NX", "PX", std::move(ttl_ms)};
  commands[1] = {"INCR", std::move(fence)};
  auto r = co_await server->pipeline(c, std::move(commands));
  cancel();
  if (!r) co_return r.error();
  if (r->size() != 2) co_return make_error_code(errc::unexpected_reply);
  const Reply& set = (*r)[0];
  const Reply& incr = (*r)[1];
  if (set.is_error() || incr.is_error() || !incr.is_integer())
    co_return make_error_code(errc::server_error);
  co_return Reply::integer(set.is_ok() ? incr.integer() : 0);
}

// Runs `call(server)` on every server at once; the replies in server order.
using ServerCall = std::function<Task<Result<Reply>>(Client*)>;
Task<std::vector<Result<Reply>>> on_all(const std::vector<Client*>& servers, ServerCall call) {
  std::vector<Result<Reply>> out;
  out.reserve(servers.size());
  if (servers.size() == 1) {
    Task<Result<Reply>> only = call(servers[0]);
    out.push_back(co_await std::move(only));
    co_return out;
  }
  std::vector<JoinHandle<Result<Reply>>> calls;
  calls.reserve(servers.size());
  for (Client* server : servers)
    calls.push_back(spawn([call, server] { return call(server); }));
  for (auto& c : calls)
    out.push_back(co_await std::move(c));
  co_return out;
}

// `script` on every server at once, each bounded by `timeout` (zero: see bounded()).
Task<std::vector<Result<Reply>>> on_all(const Context& ctx, const std::vector<Client*>& servers,
                                        const Script& script, std::vector<std::string> keys,
                                        std::vector<std::string> args,
                                        std::chrono::milliseconds timeout) {
  ServerCall call = [script = &script, ctx, keys = std::move(keys), args = std::move(args),
                     timeout](Client* server) {
    return eval_on(script, server, ctx, keys, args, timeout);
  };
  Task<std::vector<Result<Reply>>> all = on_all(servers, std::move(call));
  co_return co_await std::move(all);
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
  const auto timeout = per_server_timeout(servers_.size(), ttl);
  ServerCall grant = [ctx, key, fence, owner = lease.owner, ttl_ms = std::to_string(ttl.count()),
                      timeout](Client* server) {
    return grant_on(server, ctx, key, fence, owner, ttl_ms, timeout);
  };
  auto replies = co_await on_all(servers_, std::move(grant));
  const Tally got = tally(replies);
  const auto deadline = start + ttl - drift_of(ttl, options_.drift_factor);
  bool held = got.yes >= quorum() && Clock::now() < deadline;
  if (held && servers_.size() > 1) {
    // The token back to every server that granted, as a maximum (lock.hpp says why).
    std::vector<std::string> raise_args{lease.owner, std::to_string(got.highest)};
    // Named vectors, not braced lists, in a co_await expression (GCC 12).
    std::vector<std::string> keys{key, fence};
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
  for (;;) {
    auto attempt = co_await try_acquire(ctx, owned_name, ttl);
    if (!attempt) co_return attempt.error();
    if (*attempt) co_return std::move(**attempt);
    // Held by someone else: wait retry_delay +-50% and try again.
    // Seeded once per thread (a random_device costs more than a lock round trip).
    thread_local std::minstd_rand rng(std::random_device{}());
    std::uniform_int_distribution<std::int64_t> jitter(options_.retry_delay.count() / 2,
                                                       options_.retry_delay.count() * 3 / 2);
    const auto wait = std::chrono::milliseconds(jitter(rng));
    auto slept = co_await sleep_for(ctx, wait);
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
  auto replies = co_await on_all(ctx, servers_, kExtend, keys, std::move(args),
                                 per_server_timeout(servers_.size(), ttl));
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
