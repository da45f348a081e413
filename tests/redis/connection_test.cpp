// Connection against a real redis-server: every reply type, auto-pipelining under
// many concurrent callers, cancellation mid-flight, AUTH and SELECT, large values,
// and a fake server whose bytes are not RESP.
#include <gtest/gtest.h>

#include <atomic>
#include <span>
#include <string>
#include <vector>

#include "orca/net/tcp_listener.hpp"
#include "orca/trace/tracer.hpp"
#include "redis_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using orca::redis::Connection;
using orca::redis::errc;
using orca::redis::RedisUrl;
using orca::redis::Reply;
using orca_redis_test::Bounded;
using orca_redis_test::cmd;
using orca_redis_test::describe;
using orca_redis_test::run_on;
using orca_redis_test::url_of;

TEST(RedisConnection, DecodesEveryReplyType) {
  ORCA_REDIS_SERVER(server);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto conn = co_await Connection::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(conn);
    auto status = co_await conn->command(b.ctx, cmd("SET", "k", "v"));
    EXPECT_TRUE(status && status->is_ok()) << describe(status);
    auto bulk = co_await conn->command(b.ctx, cmd("GET", "k"));
    EXPECT_TRUE(bulk && bulk->is_string() && bulk->str() == "v") << describe(bulk);
    auto nil = co_await conn->command(b.ctx, cmd("GET", "missing"));
    EXPECT_TRUE(nil && nil->is_nil()) << describe(nil);
    auto integer = co_await conn->command(b.ctx, cmd("INCRBY", "n", "41"));
    EXPECT_TRUE(integer && integer->is_integer() && integer->integer() == 41) << describe(integer);
    auto error = co_await conn->command(b.ctx, cmd("INCR", "k"));
    EXPECT_TRUE(error && error->is_error() && error->str().rfind("ERR", 0) == 0) << describe(error);
    (void)co_await conn->command(b.ctx, cmd("RPUSH", "list", "a", "b", "c"));
    auto array = co_await conn->command(b.ctx, cmd("LRANGE", "list", "0", "-1"));
    EXPECT_TRUE(array) << describe(array);
    if (array) {
      EXPECT_EQ(*array, Reply::array({Reply::string("a"), Reply::string("b"), Reply::string("c")}));
    }
    // Nested arrays and an empty bulk string, from a script.
    auto nested = co_await conn->command(b.ctx, cmd("EVAL", "return {1, {'x', ''}, {}}", "0"));
    EXPECT_TRUE(nested) << describe(nested);
    if (nested) {
      EXPECT_EQ(*nested, Reply::array({Reply::integer(1),
                                       Reply::array({Reply::string("x"), Reply::string("")}),
                                       Reply::array({})}));
    }
    // Binary-safe values: NUL and CRLF inside.
    const std::string binary("a\0b\r\nc", 6);
    std::vector<std::string> set = {"SET", "bin", binary};
    (void)co_await conn->command(b.ctx, std::move(set));
    auto back = co_await conn->command(b.ctx, cmd("GET", "bin"));
    EXPECT_TRUE(back && back->str() == binary) << describe(back);
    co_await conn->closed();
  });
}

TEST(RedisConnection, PipelineReturnsRepliesInOrder) {
  ORCA_REDIS_SERVER(server);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto conn = co_await Connection::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(conn);
    std::vector<std::vector<std::string>> commands;
    for (int i = 0; i < 1000; ++i)
      commands.push_back({"RPUSH", "seq", std::to_string(i)});
    commands.push_back({"LLEN", "seq"});
    auto replies = co_await conn->pipeline(b.ctx, std::move(commands));
    CO_ASSERT_OK(replies);
    CO_ASSERT_EQ(replies->size(), 1001u);
    for (int i = 0; i < 1000; ++i)
      EXPECT_EQ((*replies)[i].integer(), i + 1) << "reply " << i;
    EXPECT_EQ(replies->back().integer(), 1000);
    co_await conn->closed();
  });
}

// 100 tasks x 100 INCRs on one connection: every increment lands exactly once and
// every caller gets its own reply (strictly increasing values per caller).
TEST(RedisConnection, ManyConcurrentCallersArePipelined) {
  ORCA_REDIS_SERVER(server);
  run_on(4, [&]() -> orca::Task<void> {
    Bounded b;
    auto conn = co_await Connection::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(conn);
    Connection* c = &*conn;
    constexpr int kTasks = 100;
    constexpr int kEach = 100;
    std::atomic<int> failures{0};
    orca::WaitGroup wg;
    wg.add(kTasks);
    for (int t = 0; t < kTasks; ++t) {
      orca::go([&, c]() -> orca::Task<void> {
        long long last = 0;
        for (int i = 0; i < kEach; ++i) {
          auto r = co_await c->command(b.ctx, cmd("INCR", "counter"));
          if (!r || !r->is_integer() || r->integer() <= last) {
            failures.fetch_add(1);
          } else {
            last = r->integer();
          }
        }
        wg.done();
      });
    }
    co_await wg.wait();
    EXPECT_EQ(failures.load(), 0);
    auto total = co_await c->command(b.ctx, cmd("GET", "counter"));
    EXPECT_TRUE(total && total->str() == std::to_string(kTasks * kEach))
        << "got " << describe(total) << ", want " << kTasks * kEach;
    co_await c->closed();
  });
}

orca::Task<long long> blocked_clients(Connection* admin, orca::Context ctx) {
  auto info = co_await admin->command(ctx, cmd("INFO", "clients"));
  if (!info || !info->is_string()) co_return -1;
  const std::string& text = info->str();
  const std::size_t at = text.find("blocked_clients:");
  if (at == std::string::npos) co_return -1;
  co_return std::stoll(text.substr(at + 16));
}

// A caller cancelled while its BLPOP is blocked in Redis returns at once; the
// BLPOP's reply, when it comes, is read and dropped, and the next caller gets its
// own reply, not the stale one.
TEST(RedisConnection, CancelledCallerLeavesTheConnectionInStep) {
  ORCA_REDIS_SERVER(server);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto conn = co_await Connection::connect(b.ctx, url_of(server));
    auto admin = co_await Connection::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(conn);
    CO_ASSERT_OK(admin);
    auto [ctx, cancel] = orca::with_cancel(b.ctx);
    Connection* c = &*conn;
    auto blpop = orca::spawn([c, ctx = ctx]() { return c->command(ctx, cmd("BLPOP", "q", "0")); });
    // Queued behind the BLPOP on the same connection, not cancelled.
    auto echo = orca::spawn([c, &b]() { return c->command(b.ctx, cmd("ECHO", "mine")); });
    for (int i = 0; i < 2000; ++i) {  // bounded poll until Redis has the BLPOP blocked
      const long long n = co_await blocked_clients(&*admin, b.ctx);
      if (n == 1) break;
      co_await orca::sleep_for(1ms);
    }
    cancel();
    auto cancelled = co_await std::move(blpop);
    EXPECT_EQ(cancelled.error(), make_error_code(orca::errc::canceled))
        << "got " << describe(cancelled);
    EXPECT_FALSE(conn->broken());
    // Unblock the BLPOP from the other connection; its reply goes nowhere.
    auto pushed = co_await admin->command(b.ctx, cmd("RPUSH", "q", "item"));
    EXPECT_TRUE(pushed && pushed->integer() == 1) << describe(pushed);
    auto mine = co_await std::move(echo);
    EXPECT_TRUE(mine && mine->str() == "mine") << "got " << describe(mine) << ", want \"mine\"";
    auto next = co_await conn->command(b.ctx, cmd("ECHO", "next"));
    EXPECT_TRUE(next && next->str() == "next") << "got " << describe(next);
    // The item was popped by the cancelled BLPOP: the command did run.
    auto left = co_await admin->command(b.ctx, cmd("LLEN", "q"));
    EXPECT_TRUE(left && left->integer() == 0) << describe(left);
    co_await conn->closed();
    co_await admin->closed();
  });
}

TEST(RedisConnection, AuthWithPasswordAndWrongPassword) {
  orca_test::RedisServerOptions options;
  options.extra_args = {"--requirepass", "s3cret"};
  ORCA_REDIS_SERVER(server, options);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    RedisUrl good = url_of(server);
    good.password = "s3cret";
    auto conn = co_await Connection::connect(b.ctx, good);
    CO_ASSERT_OK(conn);
    auto pong = co_await conn->command(b.ctx, cmd("PING"));
    EXPECT_TRUE(pong && pong->str() == "PONG") << describe(pong);
    co_await conn->closed();

    RedisUrl bad = good;
    bad.password = "wrong";
    auto refused = co_await Connection::connect(b.ctx, bad);
    EXPECT_EQ(refused.error(), make_error_code(errc::auth_failed)) << describe(refused.error());

    // No password at all: the connection works, commands get NOAUTH replies.
    auto anonymous = co_await Connection::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(anonymous);
    auto noauth = co_await anonymous->command(b.ctx, cmd("GET", "x"));
    EXPECT_TRUE(noauth && noauth->is_error_kind("NOAUTH")) << describe(noauth);
    co_await anonymous->closed();
  });
}

TEST(RedisConnection, AuthWithUserAndPassword) {
  ORCA_REDIS_SERVER(server);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto admin = co_await Connection::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(admin);
    auto made = co_await admin->command(
        b.ctx, cmd("ACL", "SETUSER", "alice", "on", ">wonderland", "~*", "&*", "+@all"));
    CO_ASSERT_TRUE(made && made->is_ok());
    auto url =
        RedisUrl::parse("redis://alice:wonderland@127.0.0.1:" + std::to_string(server.port()));
    CO_ASSERT_TRUE(url);
    auto conn = co_await Connection::connect(b.ctx, *url);
    CO_ASSERT_OK(conn);
    auto who = co_await conn->command(b.ctx, cmd("ACL", "WHOAMI"));
    EXPECT_TRUE(who && who->str() == "alice") << describe(who);
    url->password = "rabbit";
    auto refused = co_await Connection::connect(b.ctx, *url);
    EXPECT_EQ(refused.error(), make_error_code(errc::auth_failed)) << describe(refused.error());
    co_await conn->closed();
    co_await admin->closed();
  });
}

TEST(RedisConnection, SelectsTheDatabaseOfTheUrl) {
  ORCA_REDIS_SERVER(server);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    RedisUrl db3 = url_of(server);
    db3.db = 3;
    auto three = co_await Connection::connect(b.ctx, db3);
    auto zero = co_await Connection::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(three);
    CO_ASSERT_OK(zero);
    (void)co_await three->command(b.ctx, cmd("SET", "where", "three"));
    auto in_zero = co_await zero->command(b.ctx, cmd("GET", "where"));
    EXPECT_TRUE(in_zero && in_zero->is_nil()) << describe(in_zero);
    auto moved = co_await zero->command(b.ctx, cmd("SELECT", "3"));
    EXPECT_TRUE(moved && moved->is_ok());
    auto in_three = co_await zero->command(b.ctx, cmd("GET", "where"));
    EXPECT_TRUE(in_three && in_three->str() == "three") << describe(in_three);
    // A database the server does not have.
    RedisUrl db99 = url_of(server);
    db99.db = 99;
    auto refused = co_await Connection::connect(b.ctx, db99);
    EXPECT_EQ(refused.error(), make_error_code(errc::server_error)) << describe(refused.error());
    co_await three->closed();
    co_await zero->closed();
  });
}

TEST(RedisConnection, LargeValuesRoundTrip) {
  ORCA_REDIS_SERVER(server);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto conn = co_await Connection::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(conn);
    std::string big(1 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
      big[i] = static_cast<char>('a' + i % 23);
    std::vector<std::string> set = {"SET", "big", big};
    auto ok = co_await conn->command(b.ctx, std::move(set));
    EXPECT_TRUE(ok && ok->is_ok()) << describe(ok);
    // Several readers at once, pipelined: each gets the whole value.
    std::vector<orca::JoinHandle<orca::Result<Reply>>> gets;
    Connection* c = &*conn;
    for (int i = 0; i < 4; ++i)
      gets.push_back(orca::spawn([c, &b]() { return c->command(b.ctx, cmd("GET", "big")); }));
    for (auto& g : gets) {
      auto r = co_await std::move(g);
      EXPECT_TRUE(r && r->str() == big) << (r ? "wrong bytes" : describe(r.error()));
    }
    auto len = co_await conn->command(b.ctx, cmd("STRLEN", "big"));
    EXPECT_TRUE(len && len->integer() == (1 << 20));
    co_await conn->closed();
  });
}

// redis://localhost:PORT: the name is resolved when the connection opens, and the
// addresses tried in turn (::1 first where the hosts file lists it: the server
// listens on 127.0.0.1 only, so that one is refused and the next one answers).
TEST(RedisConnection, ConnectsByHostName) {
  ORCA_REDIS_SERVER(server);
  std::string text("redis://localhost:");
  text.append(std::to_string(server.port()));
  auto url = RedisUrl::parse(text);
  ASSERT_TRUE(url);
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto conn = co_await Connection::connect(b.ctx, *url);
    CO_ASSERT_OK(conn);
    auto pong = co_await conn->command(b.ctx, cmd("PING"));
    EXPECT_TRUE(pong && pong->str() == "PONG") << describe(pong);
    co_await conn->closed();
  });
}

TEST(RedisConnection, RefusedConnectIsASystemError) {
  const std::uint16_t port = orca_test::redis_detail::kernel_port();
  run_on(1, [&]() -> orca::Task<void> {
    Bounded b;
    auto conn = co_await Connection::connect(b.ctx, RedisUrl::loopback(port));
    EXPECT_TRUE(conn.error() == std::errc::connection_refused) << describe(conn.error());
  });
}

// A fake server written with orca::net: reads a request, answers with `answer`,
// then closes the connection (`hang_up`) or holds it until the client leaves.
orca::Task<void> fake_server(orca::net::TcpListener* listener, std::string answer,
                             bool hang_up = false) {
  auto conn = co_await listener->accept(orca::background());
  if (!conn) co_return;
  std::vector<std::byte> buf(4096);
  auto n = co_await conn->read(orca::background(), buf);
  if (!n || *n == 0) co_return;
  const auto bytes = std::as_bytes(std::span(answer.data(), answer.size()));
  (void)co_await conn->write_all(orca::background(), bytes);
  if (hang_up) co_return;
  for (;;) {
    auto more = co_await conn->read(orca::background(), buf);
    if (!more || *more == 0) co_return;
  }
}

void expect_reply_fails(std::string answer, std::error_code want, bool hang_up = false) {
  run_on(2, [&]() -> orca::Task<void> {
    auto listener = orca::net::TcpListener::listen(orca::net::Address::loopback_v4(0));
    CO_ASSERT_TRUE(listener);
    auto server = orca::spawn(
        [l = &*listener, answer, hang_up]() { return fake_server(l, answer, hang_up); });
    Bounded b;
    auto conn =
        co_await Connection::connect(b.ctx, RedisUrl::loopback(listener->local_address().port()));
    CO_ASSERT_OK(conn);
    auto r = co_await conn->command(b.ctx, cmd("PING"));
    EXPECT_EQ(r.error(), want) << "answer " << ::testing::PrintToString(answer) << ": got "
                               << describe(r);
    EXPECT_TRUE(conn->broken());
    auto later = co_await conn->command(b.ctx, cmd("PING"));
    EXPECT_EQ(later.error(), make_error_code(errc::connection_lost)) << describe(later);
    co_await conn->closed();
    co_await std::move(server);
  });
}

TEST(RedisConnection, GarbageFromTheServerIsAProtocolError) {
  expect_reply_fails("?what is this\r\n", make_error_code(errc::protocol_error));
  expect_reply_fails("HTTP/1.1 400 Bad Request\r\n\r\n", make_error_code(errc::protocol_error));
  // Nested deeper than hiredis's reader supports.
  expect_reply_fails("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
                     make_error_code(errc::protocol_error));
}

// A reply nobody asked for (after the one that was) puts the stream out of step:
// the connection breaks with protocol_error.
TEST(RedisConnection, UnsolicitedReplyBreaksTheConnection) {
  run_on(2, [&]() -> orca::Task<void> {
    auto listener = orca::net::TcpListener::listen(orca::net::Address::loopback_v4(0));
    CO_ASSERT_TRUE(listener);
    auto server = orca::spawn([l = &*listener]() { return fake_server(l, "+PONG\r\n+EXTRA\r\n"); });
    Bounded b;
    auto conn =
        co_await Connection::connect(b.ctx, RedisUrl::loopback(listener->local_address().port()));
    CO_ASSERT_OK(conn);
    auto r = co_await conn->command(b.ctx, cmd("PING"));
    EXPECT_TRUE(r && r->str() == "PONG") << describe(r);
    const orca::Context broken = conn->broken_context();
    (void)co_await broken.done();
    EXPECT_EQ(conn->error(), make_error_code(errc::protocol_error)) << describe(conn->error());
    co_await conn->closed();
    co_await std::move(server);
  });
}

TEST(RedisConnection, PeerClosingMidReplyIsConnectionLost) {
  expect_reply_fails("$10\r\nabc", make_error_code(errc::connection_lost), true);
}

}  // namespace

namespace {

// Inside a trace a command records a client span named after it (an error reply is
// an error); outside one it records nothing (src/redis/connection.cpp).
TEST(RedisConnection, ACommandInsideATraceRecordsASpan) {
  ORCA_REDIS_SERVER(server);
  auto tracer = std::make_shared<orca::trace::Tracer>(orca::trace::TracerOptions{});
  orca::trace::set_global_tracer(tracer);
  const auto parent =
      *orca::trace::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto conn = co_await Connection::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(conn);
    (void)co_await conn->command(b.ctx, cmd("SET", "k", "v"));  // untraced
    const orca::Context traced = orca::trace::with_span_context(b.ctx, parent);
    (void)co_await conn->command(traced, cmd("GET", "k"));
    (void)co_await conn->command(traced, cmd("INCR", "k"));  // an error reply
  });
  orca::trace::set_global_tracer(nullptr);
  const auto spans = tracer->recent();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].name, "redis GET");
  EXPECT_EQ(spans[0].parent_span_id, parent.span_id);
  EXPECT_EQ(spans[0].kind, orca::trace::SpanKind::kClient);
  EXPECT_EQ(spans[1].name, "redis INCR");
  EXPECT_EQ(spans[1].status, orca::trace::SpanStatus::kError);
}

}  // namespace
