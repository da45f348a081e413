// RedisLock against real redis-servers: one server, and three independent ones
// (Redlock) with servers stopped under it. Leases exclude each other, only their
// owner can extend or release them, and fencing tokens grow with every acquisition
// even when the majority that grants changes.
#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "orca/redis/error.hpp"
#include "orca/redis/lock.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using orca::redis::Client;
using orca::redis::LockLease;
using orca::redis::RedisLock;
using orca_redis_test::Bounded;
using orca_redis_test::cmd;
using orca_redis_test::describe;
using orca_redis_test::run_on;
using orca_redis_test::url_of;

namespace {

TEST(RedisLock, ALeaseExcludesOthersUntilReleasedAndTokensGrow) {
  ORCA_REDIS_SERVER(server);
  std::optional<LockLease> first, second;
  bool other_refused = false, wrong_owner_refused = false, other_name_free = false;
  std::optional<std::string> value_after_wrong_release;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client);
    RedisLock a({&*client}, "test:lock:");
    RedisLock other({&*client}, "test:lock:");
    auto got = co_await a.acquire(b.ctx, "item:1", 10s);
    CO_ASSERT_OK(got);
    first = *got;
    auto refused = co_await other.try_acquire(b.ctx, "item:1", 10s);
    other_refused = refused && !refused->has_value();
    auto free_name = co_await other.try_acquire(b.ctx, "item:2", 10s);
    other_name_free = free_name && free_name->has_value();
    // Another owner's release deletes nothing.
    LockLease impostor = *got;
    impostor.owner = "not-the-owner";
    auto wrong = co_await other.release(b.ctx, impostor);
    wrong_owner_refused = !wrong && wrong.error() == orca::redis::errc::lock_not_held;
    auto value = co_await client->command(b.ctx, cmd("GET", "test:lock:{item:1}"));
    if (value && value->is_string()) value_after_wrong_release = value->str();
    auto released = co_await a.release(b.ctx, *got);
    CO_ASSERT_OK(released);
    auto again = co_await other.try_acquire(b.ctx, "item:1", 10s);
    CO_ASSERT_TRUE(again && again->has_value());
    second = **again;
    co_await client->closed();
  });
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(other_refused) << "a held lock is refused to another owner";
  EXPECT_TRUE(other_name_free) << "another name is another lock";
  EXPECT_TRUE(wrong_owner_refused);
  EXPECT_EQ(value_after_wrong_release, first->owner) << "the owner's key is still there";
  EXPECT_EQ(first->fencing_token, 1);
  EXPECT_GT(second->fencing_token, first->fencing_token);
  EXPECT_NE(first->owner, second->owner);
  EXPECT_EQ(first->servers, 1u);
}

// A lease that expired is taken by another owner; the old owner can neither extend
// nor release the new owner's lease, and its token is below the new one.
TEST(RedisLock, AnExpiredLeaseCannotBeExtendedOrReleasedByItsOldOwner) {
  ORCA_REDIS_SERVER(server);
  std::optional<LockLease> old_lease, new_lease;
  std::error_code extend_error, release_error;
  bool new_owner_still_holds = false;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client);
    RedisLock locks({&*client}, "test:lock:");
    auto got = co_await locks.acquire(b.ctx, "job", 50ms);
    CO_ASSERT_TRUE(got);
    old_lease = *got;
    // acquire() waits (retrying) until the key has expired on the server.
    auto taken = co_await locks.acquire(b.ctx, "job", 10s);
    CO_ASSERT_OK(taken);
    new_lease = *taken;
    auto extended = co_await locks.extend(b.ctx, *old_lease, 10s);
    extend_error = extended ? std::error_code() : std::error_code(extended.error());
    auto released = co_await locks.release(b.ctx, *old_lease);
    release_error = released ? std::error_code() : std::error_code(released.error());
    auto renewed = co_await locks.extend(b.ctx, *new_lease, 20s);
    new_owner_still_holds = renewed.has_value();
    co_await client->closed();
  });
  ASSERT_TRUE(old_lease && new_lease);
  EXPECT_EQ(extend_error, orca::redis::errc::lock_not_held);
  EXPECT_EQ(release_error, orca::redis::errc::lock_not_held);
  EXPECT_TRUE(new_owner_still_holds);
  EXPECT_GT(new_lease->fencing_token, old_lease->fencing_token);
}

// Eight tasks on two workers take one lock in turn: never two inside at once, and
// the tokens they hold, in the order they held them, strictly grow.
TEST(RedisLock, ContendersTakeTurnsWithGrowingTokens) {
  ORCA_REDIS_SERVER(server);
  int inside = 0, overlaps = 0, turns = 0;
  std::vector<std::int64_t> tokens;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client);
    RedisLock locks({&*client}, "test:lock:", {.retry_delay = 2ms});
    std::mutex mu;
    std::vector<orca::JoinHandle<void>> tasks;
    for (int t = 0; t < 8; ++t)
      tasks.push_back(orca::spawn([&]() -> orca::Task<void> {
        for (int i = 0; i < 10; ++i) {
          auto lease = co_await locks.acquire(b.ctx, "counter", 10s);
          if (!lease) co_return;
          {
            std::lock_guard lock(mu);
            if (++inside > 1) ++overlaps;
            tokens.push_back(lease->fencing_token);
          }
          co_await orca::yield();
          {
            std::lock_guard lock(mu);
            --inside;
            ++turns;
          }
          (void)co_await locks.release(b.ctx, *lease);
        }
      }));
    for (auto& t : tasks)
      co_await std::move(t);
    co_await client->closed();
  });
  EXPECT_EQ(turns, 80);
  EXPECT_EQ(overlaps, 0);
  for (std::size_t i = 1; i < tokens.size(); ++i)
    EXPECT_GT(tokens[i], tokens[i - 1]) << "at turn " << i;
}

TEST(RedisLock, AcquireWaitingForAHeldLockEndsWithItsContext) {
  ORCA_REDIS_SERVER(server);
  std::error_code waited;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client);
    RedisLock locks({&*client}, "test:lock:");
    auto held = co_await locks.acquire(b.ctx, "busy", 10s);
    CO_ASSERT_TRUE(held);
    auto [ctx, cancel] = orca::with_timeout(b.ctx, 100ms);
    auto got = co_await locks.acquire(ctx, "busy", 10s);
    cancel();
    waited = got ? std::error_code() : std::error_code(got.error());
    co_await client->closed();
  });
  EXPECT_EQ(waited, make_error_code(orca::errc::deadline_exceeded)) << waited.message();
}

TEST(RedisLock, BadArgumentsAreRefused) {
  EXPECT_THROW(RedisLock({}, "x:"), std::invalid_argument);
  EXPECT_THROW(RedisLock({nullptr}, "x:"), std::invalid_argument);
  ORCA_REDIS_SERVER(server);
  std::error_code zero_ttl;
  bool bad_drift_refused = false;
  run_on(1, [&]() -> orca::Task<void> {
    Bounded b;
    auto client = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client);
    try {
      RedisLock bad({&*client}, "x:", {.drift_factor = 0.9});
    } catch (const std::invalid_argument&) {
      bad_drift_refused = true;
    }
    RedisLock locks({&*client}, "x:");
    auto got = co_await locks.try_acquire(b.ctx, "n", 0ms);
    zero_ttl = got ? std::error_code() : std::error_code(got.error());
    co_await client->closed();
  });
  EXPECT_TRUE(bad_drift_refused);
  EXPECT_EQ(zero_ttl, std::errc::invalid_argument);
}

// Redlock on three independent servers: a lease needs two. With one server stopped
// the lock still works; with two stopped it fails with an error (it cannot tell).
// The fencing token grows across a change of majority even when the servers'
// counters differ: the first lease's token (from the server whose counter was
// highest) is written back to the others before acquire() returns, so the next
// majority, without that server, still counts on from it.
TEST(RedisLock, ThreeServersGrantOnAMajorityAndTokensGrowAcrossMajorities) {
  ORCA_REDIS_SERVER(a);
  ORCA_REDIS_SERVER(b_server);
  ORCA_REDIS_SERVER(c);
  std::optional<LockLease> first, second;
  std::error_code with_two_down;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto ca = co_await Client::connect(b.ctx, url_of(a));
    auto cb = co_await Client::connect(b.ctx, url_of(b_server));
    auto cc = co_await Client::connect(b.ctx, url_of(c));
    CO_ASSERT_TRUE(ca && cb && cc);
    // Server a's counter is far ahead of the others' (as after many leases that
    // b and c missed).
    auto ahead = co_await ca->command(b.ctx, cmd("SET", "test:lock:{stock}:fence", "100"));
    CO_ASSERT_TRUE(ahead && ahead->is_ok());
    RedisLock locks({&*ca, &*cb, &*cc}, "test:lock:");
    EXPECT_EQ(locks.quorum(), 2u);
    auto got = co_await locks.acquire(b.ctx, "stock", 10s);
    CO_ASSERT_OK(got);
    first = *got;
    auto released = co_await locks.release(b.ctx, *got);
    CO_ASSERT_TRUE(released);
    a.stop();  // the server with the highest counter is gone
    auto next = co_await locks.acquire(b.ctx, "stock", 10s);
    CO_ASSERT_OK(next);
    second = *next;
    (void)co_await locks.release(b.ctx, *next);
    b_server.stop();
    auto none = co_await locks.try_acquire(b.ctx, "stock", 10s);
    with_two_down = none ? std::error_code() : std::error_code(none.error());
    co_await ca->closed();
    co_await cb->closed();
    co_await cc->closed();
  });
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->fencing_token, 101);
  EXPECT_EQ(first->servers, 3u);
  EXPECT_EQ(second->servers, 2u);
  EXPECT_GT(second->fencing_token, first->fencing_token)
      << "the majority without server a counted on from the first lease's token";
  EXPECT_TRUE(with_two_down) << "one server of three cannot grant, nor tell that it would";
}

}  // namespace
