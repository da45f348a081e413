// RedisLock: a lease-based mutual-exclusion lock on one Redis server or, as Redlock,
// on N independent servers (a majority must agree), with a fencing token.
//
//   orca::redis::RedisLock locks({&a, &b, &c}, "orca:lock:");   // or ({&one}, ...)
//   auto lease = co_await locks.acquire(ctx, "item:42", 5s);     // waits until ctx ends
//   if (!lease) return lease.error();
//   co_await store.write(..., lease->fencing_token);   // the store refuses older tokens
//   co_await locks.release(ctx, *lease);
//
// On each server the lock is one key, prefix + "{" + name + "}", holding the owner's
// random 128-bit token with a TTL (SET NX PX), so only its owner can extend or delete
// it (a script compares first). A lease is valid until `valid_until`: the TTL less
// the time the acquisition took and an allowance for clock drift between this
// process and the servers (ttl * drift_factor + 2 ms), as Redlock specifies.
//
// Why a fencing token: a lease can end while its holder still believes it holds it
// (a pause, a slow network, a server that lost the key in a restart without
// persistence). Then two processes act at once, and nothing in the lock can stop the
// older one. The token is a number that grows with every acquisition of the name, so
// the resource written to can refuse a write with a token below the highest it has
// seen: the late holder's write fails instead of corrupting. Each server keeps a
// counter beside the lock key (prefix + "{" + name + "}:fence", no TTL); an attempt
// sends SET NX PX and INCR of the counter in one round trip (no script), and the
// lease's token is the highest counter of the servers that granted (a refused
// attempt only skips numbers: a token has to grow, not to be dense). Before acquire() returns, that
// token is written back (as a maximum) to every server where the lease still holds the key: any
// later acquisition on a majority shares a server with this one, finds the counter at or above the
// token there, and so gets a larger one.
//
// Thread safety: every member from any task at once. The clients must outlive the
// lock object. Cancel safety: acquire() whose context ends leaves with the context's
// error and deletes what it had taken (best effort, without the context); a lease
// that was granted stays valid until released or expired.
// Errors: errc::lock_not_held from extend()/release() when the lease is gone on a
// majority; the clients' errors when a majority could not be asked; invalid_argument
// (std) from the constructor for no servers or a bad drift factor.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/redis/client.hpp"
#include "orca/runtime/clock.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::redis {

struct LockOptions {
  // The wait between two attempts of acquire(), randomized by +-50% so that
  // contenders do not retry in step.
  std::chrono::milliseconds retry_delay{20};
  // Clock drift allowed between this process and the servers, as a fraction of the
  // TTL (Redlock's 0.01).
  double drift_factor = 0.01;
};

struct LockLease {
  std::string name;
  std::string owner;               // the random token the servers hold
  std::int64_t fencing_token = 0;  // grows with every acquisition of `name`
  Clock::time_point valid_until;   // act on the lease only before this
  std::size_t servers = 0;         // servers that granted it
};

class RedisLock {
 public:
  RedisLock(std::vector<Client*> servers, std::string prefix, LockOptions options = {});

  // Takes the lock `name` for `ttl`, trying again every retry_delay until ctx ends.
  Task<Result<LockLease>> acquire(const Context& ctx, std::string_view name,
                                  std::chrono::milliseconds ttl);
  // One attempt: the lease, or nothing when another owner holds the lock.
  Task<Result<std::optional<LockLease>>> try_acquire(const Context& ctx, std::string_view name,
                                                     std::chrono::milliseconds ttl);
  // Sets the lease's TTL to `ttl` from now on every server that still holds it for
  // this owner; lock_not_held unless a majority do in time (the lease may then be
  // gone: stop acting on it).
  Task<Result<void>> extend(const Context& ctx, LockLease& lease, std::chrono::milliseconds ttl);
  // Deletes the key on every server where this owner holds it. lock_not_held when no
  // majority held it any more (it had expired, or another owner had taken it).
  Task<Result<void>> release(const Context& ctx, const LockLease& lease);

  std::size_t quorum() const noexcept { return servers_.size() / 2 + 1; }

 private:
  std::string key_of(std::string_view name) const;
  // Deletes `owner`'s key on every server, without a context of the caller's.
  Task<void> release_everywhere(std::string key, std::string owner);

  std::vector<Client*> servers_;
  std::string prefix_;
  LockOptions options_;
};

}  // namespace orca::redis
