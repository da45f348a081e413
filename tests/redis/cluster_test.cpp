// ClusterClient against a local three-master cluster started by the test: keys
// spread over the masters, hash tags keep keys together, scripts on tagged keys,
// and MOVED and ASK followed while a slot is migrated by hand.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "orca/redis/rate_limiter.hpp"
#include "redis_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using orca::redis::cluster_slot;
using orca::redis::ClusterClient;
using orca::redis::Connection;
using orca::redis::RedisUrl;
using orca::redis::Reply;
using orca::redis::Script;
using orca_redis_test::Bounded;
using orca_redis_test::cmd;
using orca_redis_test::describe;
using orca_redis_test::run_on;

// One cluster for every test of this file: making one takes about a second.
class RedisClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!orca_test::RedisCluster::available()) return;
    cluster_ = new orca_test::RedisCluster(3);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ORCA_REQUIRE_REDIS_CLUSTER();
    ASSERT_NE(cluster_, nullptr);
    ASSERT_TRUE(cluster_->running()) << cluster_->error();
  }
  static std::vector<RedisUrl> seeds() {
    std::vector<RedisUrl> out;
    for (std::size_t i = 0; i < cluster_->size(); ++i)
      out.push_back(RedisUrl::loopback(cluster_->node(i).port()));
    return out;
  }
  static inline orca_test::RedisCluster* cluster_ = nullptr;
};

TEST_F(RedisClusterTest, KeysSpreadOverAllMastersAndHashTagsStayTogether) {
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    // One seed is enough: the rest of the map comes from CLUSTER SLOTS.
    std::vector<RedisUrl> one_seed = {seeds()[1]};
    auto cluster = co_await ClusterClient::connect(b.ctx, std::move(one_seed));
    CO_ASSERT_OK(cluster);
    const std::vector<std::string> masters = cluster->masters();
    CO_ASSERT_EQ(masters.size(), 3u);

    constexpr int kKeys = 300;
    for (int i = 0; i < kKeys; ++i) {
      const std::string key = "spread:" + std::to_string(i);
      auto r = co_await cluster->command(b.ctx, key, cmd("SET", key, std::to_string(i)));
      EXPECT_TRUE(r && r->is_ok()) << key << ": " << describe(r);
    }
    long long total = 0;
    for (const std::string& m : masters) {
      auto n = co_await cluster->command_on(b.ctx, m, cmd("DBSIZE"));
      CO_ASSERT_TRUE(n && n->is_integer());
      EXPECT_GT(n->integer(), 0) << "master " << m << " got no keys";
      total += n->integer();
    }
    EXPECT_EQ(total, kKeys);
    for (int i = 0; i < kKeys; i += 37) {
      const std::string key = "spread:" + std::to_string(i);
      auto r = co_await cluster->command(b.ctx, key, cmd("GET", key));
      EXPECT_TRUE(r && r->str() == std::to_string(i)) << key << ": " << describe(r);
    }

    // Hash-tagged keys share a slot, so multi-key commands work on them.
    EXPECT_EQ(cluster_slot("{user:42}:name"), cluster_slot("{user:42}:email"));
    auto mset = co_await cluster->command(
        b.ctx, "{user:42}:name", cmd("MSET", "{user:42}:name", "ann", "{user:42}:email", "a@x"));
    EXPECT_TRUE(mset && mset->is_ok()) << describe(mset);
    auto mget = co_await cluster->command(b.ctx, "{user:42}:name",
                                          cmd("MGET", "{user:42}:name", "{user:42}:email"));
    EXPECT_TRUE(mget && mget->size() == 2 && (*mget)[1].str() == "a@x") << describe(mget);
    const std::string owner = cluster->master_of(cluster_slot("{user:42}"));
    auto keys = co_await cluster->command_on(b.ctx, owner, cmd("KEYS", "{user:42}:*"));
    EXPECT_TRUE(keys && keys->size() == 2) << describe(keys);
    co_await cluster->closed();
  });
}

// Seeds may be names (a Kubernetes service, a Compose host), and so may the nodes
// a redirection names (MOVED 3999 redis-1:6379 with cluster-announce-hostname):
// both go through the same node pool, resolved when its connection opens.
TEST_F(RedisClusterTest, SeedsAndRedirectTargetsMayBeHostNames) {
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    std::string text("redis://localhost:");
    text.append(std::to_string(cluster_->node(0).port()));
    auto seed = RedisUrl::parse(text);
    CO_ASSERT_TRUE(seed);
    std::vector<RedisUrl> seeds = {*seed};
    auto cluster = co_await ClusterClient::connect(b.ctx, std::move(seeds));
    CO_ASSERT_OK(cluster);
    EXPECT_EQ(cluster->masters().size(), 3u);
    auto set = co_await cluster->command(b.ctx, "named", cmd("SET", "named", "v"));
    EXPECT_TRUE(set && set->is_ok()) << describe(set);
    std::string node("localhost:");
    node.append(std::to_string(cluster_->node(1).port()));
    auto pong = co_await cluster->command_on(b.ctx, node, cmd("PING"));
    EXPECT_TRUE(pong && pong->str() == "PONG") << node << ": " << describe(pong);
    co_await cluster->closed();
  });
}

TEST_F(RedisClusterTest, ScriptOnKeysWithOneHashTag) {
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto cluster = co_await ClusterClient::connect(b.ctx, seeds());
    CO_ASSERT_OK(cluster);
    const Script transfer(
        "local from = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
        "local amount = tonumber(ARGV[1])\n"
        "if from < amount then return redis.error_reply('INSUFFICIENT') end\n"
        "redis.call('DECRBY', KEYS[1], amount)\n"
        "return redis.call('INCRBY', KEYS[2], amount)\n");
    (void)co_await cluster->command(b.ctx, "{acct}:a", cmd("SET", "{acct}:a", "100"));
    // Flush every master's script cache: the first EVALSHA gets NOSCRIPT.
    for (const std::string& m : cluster->masters())
      (void)co_await cluster->command_on(b.ctx, m, cmd("SCRIPT", "FLUSH"));
    auto moved = co_await transfer.eval(b.ctx, *cluster, cmd("{acct}:a", "{acct}:b"), cmd("30"));
    EXPECT_TRUE(moved && moved->integer() == 30) << describe(moved);
    auto again = co_await transfer.eval(b.ctx, *cluster, cmd("{acct}:a", "{acct}:b"), cmd("30"));
    EXPECT_TRUE(again && again->integer() == 60) << describe(again);
    auto refused = co_await transfer.eval(b.ctx, *cluster, cmd("{acct}:a", "{acct}:b"), cmd("50"));
    EXPECT_TRUE(refused && refused->is_error() &&
                refused->str().find("INSUFFICIENT") != std::string::npos)
        << describe(refused);
    auto left = co_await cluster->command(b.ctx, "{acct}:a", cmd("GET", "{acct}:a"));
    EXPECT_TRUE(left && left->str() == "40") << describe(left);
    co_await cluster->closed();
  });
}

// A fleet limit on a cluster: each limit's key is its own hash tag, so its scripts
// run on the one master that owns it; limits on keys of different slots are apart.
TEST_F(RedisClusterTest, FleetRateLimiterSharesOneLimitPerKey) {
  std::int64_t first = -1, second = -1, after_give_back = -1, other = -1;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto cluster = co_await ClusterClient::connect(b.ctx, seeds());
    CO_ASSERT_TRUE(cluster);
    // One unit an hour, a burst of 4: nothing refills during the test.
    orca::redis::FleetRateLimiter a(*cluster, "cl:limit:", {.events = 1, .per = 1h, .burst = 4});
    orca::redis::FleetRateLimiter b2(*cluster, "cl:limit:", {.events = 1, .per = 1h, .burst = 4});
    auto g1 = co_await a.take_up_to(b.ctx, "email", 3);
    auto g2 = co_await b2.take_up_to(b.ctx, "email", 3);
    CO_ASSERT_TRUE(g1 && g2);
    first = g1->granted;
    second = g2->granted;
    auto back = co_await a.give_back(b.ctx, "email", 1);
    CO_ASSERT_TRUE(back);
    auto g3 = co_await b2.take_up_to(b.ctx, "email", 3);
    auto g4 = co_await a.take_up_to(b.ctx, "sms", 9);
    CO_ASSERT_TRUE(g3 && g4);
    after_give_back = g3->granted;
    other = g4->granted;
    co_await cluster->closed();
  });
  EXPECT_EQ(first, 3);
  EXPECT_EQ(second, 1) << "what is left of the burst of 4";
  EXPECT_EQ(after_give_back, 1) << "the unit given back";
  EXPECT_EQ(other, 4) << "another key, another limit (and likely another master)";
}

std::string node_id(orca_test::RedisServer& node) {
  auto id = orca_test::redis_detail::raw_command(node.port(), {"CLUSTER", "MYID"});
  return id ? *id : std::string();
}

// Migrates a slot by hand under a client whose map is stale: while migrating, a
// key already moved gets ASK (followed with ASKING); after the slot is handed
// over, the old owner answers MOVED (followed, and the map is updated).
TEST_F(RedisClusterTest, FollowsAskDuringMigrationAndMovedAfter) {
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto cluster = co_await ClusterClient::connect(b.ctx, seeds());
    CO_ASSERT_OK(cluster);
    const std::string key = "migrating-key";
    const std::uint16_t slot = cluster_slot(key);
    const std::string source_name = cluster->master_of(slot);
    // The source and target nodes as fixture servers, and direct connections.
    orca_test::RedisServer* source = nullptr;
    orca_test::RedisServer* target = nullptr;
    for (std::size_t i = 0; i < cluster_->size(); ++i) {
      if (cluster_->node(i).authority() == source_name) {
        source = &cluster_->node(i);
      } else if (target == nullptr) {
        target = &cluster_->node(i);
      }
    }
    CO_ASSERT_TRUE(source != nullptr && target != nullptr);
    auto src = co_await Connection::connect(b.ctx, RedisUrl::loopback(source->port()));
    auto dst = co_await Connection::connect(b.ctx, RedisUrl::loopback(target->port()));
    CO_ASSERT_OK(src);
    CO_ASSERT_OK(dst);
    const std::string source_id = node_id(*source);
    const std::string target_id = node_id(*target);
    CO_ASSERT_TRUE(!source_id.empty() && !target_id.empty());

    auto set = co_await cluster->command(b.ctx, key, cmd("SET", key, "value"));
    CO_ASSERT_TRUE(set && set->is_ok());
    // Calling the wrong node directly gets MOVED; the cluster client does not.
    auto direct = co_await dst->command(b.ctx, cmd("GET", key));
    EXPECT_TRUE(direct && direct->is_error_kind("MOVED")) << describe(direct);

    // 1. Mark the slot importing on the target and migrating on the source.
    const std::string s = std::to_string(slot);
    auto importing =
        co_await dst->command(b.ctx, cmd("CLUSTER", "SETSLOT", s, "IMPORTING", source_id));
    CO_ASSERT_TRUE(importing && importing->is_ok());
    auto migrating =
        co_await src->command(b.ctx, cmd("CLUSTER", "SETSLOT", s, "MIGRATING", target_id));
    CO_ASSERT_TRUE(migrating && migrating->is_ok());
    // 2. Move the key: the source now answers ASK for it.
    auto migrated = co_await src->command(
        b.ctx, cmd("MIGRATE", "127.0.0.1", std::to_string(target->port()), key, "0", "5000"));
    CO_ASSERT_TRUE(migrated && migrated->is_ok());
    auto ask = co_await src->command(b.ctx, cmd("GET", key));
    EXPECT_TRUE(ask && ask->is_error_kind("ASK")) << describe(ask);
    auto during = co_await cluster->command(b.ctx, key, cmd("GET", key));
    EXPECT_TRUE(during && during->str() == "value") << "during migration: " << describe(during);
    EXPECT_EQ(cluster->master_of(slot), source_name) << "ASK must not change the map";

    // 3. Hand the slot over on every node: the source now answers MOVED.
    for (std::size_t i = 0; i < cluster_->size(); ++i) {
      auto node = co_await Connection::connect(b.ctx, RedisUrl::loopback(cluster_->node(i).port()));
      CO_ASSERT_OK(node);
      auto handed = co_await node->command(b.ctx, cmd("CLUSTER", "SETSLOT", s, "NODE", target_id));
      EXPECT_TRUE(handed && handed->is_ok()) << describe(handed);
      co_await node->closed();
    }
    auto moved = co_await src->command(b.ctx, cmd("GET", key));
    EXPECT_TRUE(moved && moved->is_error_kind("MOVED")) << describe(moved);
    auto after = co_await cluster->command(b.ctx, key, cmd("GET", key));
    EXPECT_TRUE(after && after->str() == "value") << "after MOVED: " << describe(after);
    EXPECT_EQ(cluster->master_of(slot), target->authority()) << "MOVED updates the map";
    auto write = co_await cluster->command(b.ctx, key, cmd("SET", key, "new"));
    EXPECT_TRUE(write && write->is_ok()) << describe(write);
    auto on_target = co_await dst->command(b.ctx, cmd("GET", key));
    EXPECT_TRUE(on_target && on_target->str() == "new") << describe(on_target);
    co_await src->closed();
    co_await dst->closed();
    co_await cluster->closed();
  });
}

}  // namespace
