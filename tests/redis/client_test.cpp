// Client (the self-healing pool), Script and Subscriber against a real
// redis-server, including stopping and restarting it under them.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "redis_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using orca::redis::Client;
using orca::redis::ClientOptions;
using orca::redis::errc;
using orca::redis::Reply;
using orca::redis::Script;
using orca::redis::Subscriber;
using orca_redis_test::Bounded;
using orca_redis_test::cmd;
using orca_redis_test::describe;
using orca_redis_test::run_on;
using orca_redis_test::url_of;

// Backoff short enough that recovery takes milliseconds after the server is back.
ClientOptions fast_reconnect() {
  ClientOptions o;
  o.pool_size = 3;
  o.min_backoff = 5ms;
  o.max_backoff = 100ms;
  return o;
}

// Sends `args` until it succeeds (bounded: the hang guard is the context).
orca::Task<orca::Result<Reply>> until_ok(Client* client, orca::Context ctx,
                                         std::vector<std::string> args) {
  for (;;) {
    auto r = co_await client->command(ctx, args);
    // A restarted server answers LOADING while it replays its AOF: not ready yet.
    const bool ready = r && !r->is_error_kind("LOADING");
    if (ready || ctx.is_done()) co_return r;
    co_await orca::sleep_for(5ms);
  }
}

TEST(RedisClient, SpreadsCallsOverThePool) {
  ORCA_REDIS_SERVER(server);
  run_on(4, [&]() -> orca::Task<void> {
    Bounded b;
    auto client = co_await Client::connect(b.ctx, url_of(server), fast_reconnect());
    CO_ASSERT_OK(client);
    EXPECT_EQ(client->live_connections(), 3u);
    Client* c = &*client;
    constexpr int kTasks = 100;
    constexpr int kEach = 100;
    std::atomic<int> failures{0};
    orca::WaitGroup wg;
    wg.add(kTasks);
    for (int t = 0; t < kTasks; ++t) {
      orca::go([&, c]() -> orca::Task<void> {
        for (int i = 0; i < kEach; ++i) {
          auto r = co_await c->command(b.ctx, cmd("INCR", "counter"));
          if (!r || !r->is_integer()) failures.fetch_add(1);
        }
        wg.done();
      });
    }
    co_await wg.wait();
    EXPECT_EQ(failures.load(), 0);
    auto total = co_await c->command(b.ctx, cmd("GET", "counter"));
    EXPECT_TRUE(total && total->str() == "10000") << "got " << describe(total) << ", want 10000";
    // Every pool connection served some of them.
    auto clients = co_await c->command(b.ctx, cmd("CLIENT", "LIST"));
    CO_ASSERT_TRUE(clients && clients->is_string());
    std::size_t lines = 0;
    for (char ch : clients->str())
      lines += ch == '\n';
    EXPECT_EQ(lines, 3u) << clients->str();
    std::vector<std::vector<std::string>> both = {cmd("SET", "a", "1"), cmd("GET", "a")};
    auto replies = co_await c->pipeline(b.ctx, std::move(both));
    CO_ASSERT_TRUE(replies && replies->size() == 2);
    EXPECT_EQ((*replies)[1].str(), "1");
    co_await c->closed();
    auto after = co_await c->command(b.ctx, cmd("PING"));
    EXPECT_EQ(after.error(), make_error_code(errc::closed)) << describe(after);
  });
}

TEST(RedisClient, ConnectReportsTheFirstError) {
  ORCA_REDIS_SERVER(server);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto refused = co_await Client::connect(
        b.ctx, orca::redis::RedisUrl::loopback(orca_test::redis_detail::kernel_port()));
    EXPECT_TRUE(refused.error() == std::errc::connection_refused) << describe(refused.error());
    auto url = url_of(server);
    url.password = "nope";
    auto bad = co_await Client::connect(b.ctx, url);
    EXPECT_EQ(bad.error(), make_error_code(errc::auth_failed)) << describe(bad.error());
  });
}

// Redis stops: calls fail with connection_lost (within their context, never a
// hang); Redis comes back on the same port: calls work again with no action here,
// and the AOF kept the data.
TEST(RedisClient, RecoversAfterTheServerRestarts) {
  orca_test::RedisServerOptions options;
  options.appendonly = true;
  ORCA_REDIS_SERVER(server, options);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client = co_await Client::connect(b.ctx, url_of(server), fast_reconnect());
    CO_ASSERT_OK(client);
    auto set = co_await client->command(b.ctx, cmd("SET", "durable", "yes"));
    CO_ASSERT_TRUE(set && set->is_ok());

    co_await orca::blocking([&] { server.stop(); });
    for (int i = 0; i < 20; ++i) {
      auto [call_ctx, cancel] = orca::with_timeout(b.ctx, 5s);
      auto r = co_await client->command(call_ctx, cmd("GET", "durable"));
      cancel();
      EXPECT_EQ(r.error(), make_error_code(errc::connection_lost))
          << "call " << i << " while Redis is down: got " << describe(r);
    }
    EXPECT_EQ(client->live_connections(), 0u);

    bool up = false;
    co_await orca::blocking([&] { up = server.restart(); });
    CO_ASSERT_TRUE(up);
    auto back = co_await until_ok(&*client, b.ctx, cmd("GET", "durable"));
    EXPECT_TRUE(back && back->str() == "yes") << "after restart: got " << describe(back);
    // Every connection of the pool comes back.
    while (client->live_connections() < 3 && !b.ctx.is_done())
      co_await orca::sleep_for(5ms);
    EXPECT_EQ(client->live_connections(), 3u);
    co_await client->closed();
  });
}

TEST(RedisScript, EvalShaFallsBackToEvalAfterScriptFlush) {
  ORCA_REDIS_SERVER(server);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(client);
    const Script incr_by("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    // The local SHA1 is the one Redis computes.
    std::vector<std::string> load = {"SCRIPT", "LOAD", incr_by.source()};
    auto loaded = co_await client->command(b.ctx, std::move(load));
    CO_ASSERT_OK(loaded);
    EXPECT_EQ(loaded->str(), incr_by.sha1());

    auto first = co_await incr_by.eval(b.ctx, *client, cmd("n"), cmd("5"));
    EXPECT_TRUE(first && first->integer() == 5) << describe(first);
    auto flushed = co_await client->command(b.ctx, cmd("SCRIPT", "FLUSH"));
    EXPECT_TRUE(flushed && flushed->is_ok());
    // EVALSHA now says NOSCRIPT; eval() falls back to EVAL, which caches it again.
    auto second = co_await incr_by.eval(b.ctx, *client, cmd("n"), cmd("7"));
    EXPECT_TRUE(second && second->integer() == 12) << describe(second);
    std::vector<std::string> exists = {"SCRIPT", "EXISTS", incr_by.sha1()};
    auto cached = co_await client->command(b.ctx, std::move(exists));
    EXPECT_TRUE(cached && cached->size() == 1 && (*cached)[0].integer() == 1) << describe(cached);
    // A script error is a reply, not a failed call.
    const Script broken("return redis.call('NOSUCHCOMMAND')");
    auto err = co_await broken.eval(b.ctx, *client, cmd(), cmd());
    EXPECT_TRUE(err && err->is_error()) << describe(err);
    co_await client->closed();
  });
}

orca::Task<void> expect_message(Subscriber* sub, orca::Context ctx, std::string channel,
                                std::string pattern, std::string payload) {
  auto m = co_await sub->next(ctx);
  EXPECT_TRUE(m) << describe(m.error());
  if (!m) co_return;
  EXPECT_EQ(m->channel, channel);
  EXPECT_EQ(m->pattern, pattern);
  EXPECT_EQ(m->payload, payload);
}

TEST(RedisSubscriber, DeliversAndResubscribesAfterRestart) {
  ORCA_REDIS_SERVER(server);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    orca::redis::SubscriberOptions so;
    so.min_backoff = 5ms;
    so.max_backoff = 100ms;
    auto sub = co_await Subscriber::connect(b.ctx, url_of(server), so);
    auto client = co_await Client::connect(b.ctx, url_of(server), fast_reconnect());
    CO_ASSERT_OK(sub);
    CO_ASSERT_OK(client);
    auto subscribed = co_await sub->subscribe(b.ctx, cmd("news", "sport"));
    EXPECT_TRUE(subscribed) << describe(subscribed.error());
    auto psubscribed = co_await sub->psubscribe(b.ctx, cmd("wea*"));
    EXPECT_TRUE(psubscribed) << describe(psubscribed.error());

    auto receivers = co_await client->command(b.ctx, cmd("PUBLISH", "news", "hello"));
    EXPECT_TRUE(receivers && receivers->integer() == 1) << describe(receivers);
    co_await expect_message(&*sub, b.ctx, "news", "", "hello");
    (void)co_await client->command(b.ctx, cmd("PUBLISH", "weather", "rain"));
    co_await expect_message(&*sub, b.ctx, "weather", "wea*", "rain");

    auto unsubscribed = co_await sub->unsubscribe(b.ctx, cmd("sport"));
    EXPECT_TRUE(unsubscribed) << describe(unsubscribed.error());
    auto nobody = co_await client->command(b.ctx, cmd("PUBLISH", "sport", "goal"));
    EXPECT_TRUE(nobody && nobody->integer() == 0) << describe(nobody);

    // Restart: the subscriber comes back and subscribes to news and wea* again.
    bool up = false;
    co_await orca::blocking([&] { up = server.restart(); });
    CO_ASSERT_TRUE(up);
    long long got = 0;
    while (got < 1 && !b.ctx.is_done()) {  // until the resubscription is in place
      auto n = co_await until_ok(&*client, b.ctx, cmd("PUBLISH", "news", "again"));
      got = n ? n->integer() : 0;
      if (got < 1) co_await orca::sleep_for(5ms);
    }
    EXPECT_EQ(got, 1);
    co_await expect_message(&*sub, b.ctx, "news", "", "again");
    EXPECT_GE(sub->connections_made(), 2u);
    auto pattern = co_await client->command(b.ctx, cmd("PUBLISH", "weather", "sun"));
    EXPECT_TRUE(pattern && pattern->integer() == 1) << describe(pattern);
    co_await expect_message(&*sub, b.ctx, "weather", "wea*", "sun");
    auto gone = co_await client->command(b.ctx, cmd("PUBLISH", "sport", "goal"));
    EXPECT_TRUE(gone && gone->integer() == 0) << describe(gone);

    co_await sub->closed();
    auto after = co_await sub->next(b.ctx);
    EXPECT_EQ(after.error(), make_error_code(errc::closed)) << describe(after.error());
    co_await client->closed();
  });
}

}  // namespace
