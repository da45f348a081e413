// Streamed responses (Response::stream): chunks as they are written, over a real
// socket; the stream ends when its client leaves, when shutdown begins (gracefully:
// the body is ended properly and shutdown does not wait for the stream), and when a
// client stops reading (stream_write_timeout); max_streams refuses one too many.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "http_test_support.hpp"

namespace {

using namespace http_test;
using orca::http::BodyWriter;
using orca::http::Router;
using orca::http::Server;
using orca::http::ServerOptions;
using orca::net::Address;
using namespace std::chrono_literals;

// A guard on the test's waits, not a timing assertion: passing runs end long before.
Context stream_test_guard() {
  auto [ctx, cancel] = orca::with_timeout(orca::background(), 60s);
  return ctx;
}

// Writes `first`, then waits for its context; counts its end.
struct HeldStream {
  std::atomic<int> ended{0};
  orca::WaitGroup done;
};

Task<void> hold_stream(HeldStream* held, Context ctx, BodyWriter& out, std::string first) {
  Result<void> w = co_await out.write(first);
  if (w) (void)co_await ctx.done();
  held->ended.fetch_add(1);
  held->done.done();
}

Response held_response(HeldStream* held, std::string first) {
  Response r;
  r.headers.set("Content-Type", "text/event-stream");
  r.stream = [held, first](Context c, BodyWriter& w) {
    return hold_stream(held, std::move(c), w, first);
  };
  return r;
}

// Reads until `data` holds `want` (or EOF/error).
Task<std::string> read_until(Context ctx, orca::net::TcpStream* s, std::string want) {
  std::string data;
  std::vector<std::byte> buf(4096);
  while (data.find(want) == std::string::npos) {
    Result<std::size_t> n = co_await s->read(ctx, std::span(buf.data(), buf.size()));
    if (!n || *n == 0) break;
    data.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  co_return data;
}

Task<void> three_chunks(Context, BodyWriter& out) {
  for (const char* part : {"one,", "two,", "three"}) {
    Result<void> w = co_await out.write(part);
    if (!w) co_return;
  }
}

TEST(HttpStream, ChunksArriveAndTheBodyEndsWhenTheFunctionReturns) {
  orca::run(
      []() -> Task<void> {
        Router router;
        router.get("/s", [](Context, Request) -> Task<Response> {
          Response r;
          r.stream = [](Context c, BodyWriter& w) { return three_chunks(std::move(c), w); };
          co_return r;
        });
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Received got = co_await exchange(stream_test_guard(), &server,
                                         "GET /s HTTP/1.1\r\nHost: x\r\n\r\n", false);
        EXPECT_TRUE(got.eof) << got.error.message();
        Responses r = parse_responses(got.data, got.eof);
        CO_ASSERT_EQ(r.list.size(), std::size_t{1});
        EXPECT_EQ(r.list[0].status, 200);
        EXPECT_EQ(r.list[0].body, "one,two,three");
        EXPECT_TRUE(r.list[0].headers.has_token("Transfer-Encoding", "chunked"));
        EXPECT_TRUE(r.list[0].headers.has_token("Connection", "close"));
        EXPECT_NE(got.data.find("\r\n0\r\n\r\n"), std::string::npos) << "no final chunk";
        EXPECT_EQ(server.stream_count(), std::size_t{0});
        (void)co_await server.shutdown(orca::background());
      },
      kRun);
}

TEST(HttpStream, ShutdownEndsOpenStreamsGracefully) {
  orca::run(
      []() -> Task<void> {
        HeldStream held;
        held.done.add(1);
        Router router;
        router.get("/s", [&held](Context, Request) -> Task<Response> {
          co_return held_response(&held, "hello\n");
        });
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context guard = stream_test_guard();
        orca::net::TcpStream s = co_await dial(guard, server);
        CO_ASSERT_TRUE(co_await s.write_all(guard, bytes("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")));
        std::string head = co_await read_until(guard, &s, "hello\n");
        CO_ASSERT_TRUE(head.find("hello\n") != std::string::npos);
        EXPECT_EQ(server.stream_count(), std::size_t{1});
        // Graceful: the guard is far away; shutdown must not wait for it.
        auto shutdown = orca::spawn([&server, guard] { return server.shutdown(guard); });
        Received rest = co_await read_to_end(guard, &s);
        EXPECT_TRUE(rest.eof) << rest.error.message();
        s.close();  // as a client does at the end: the server need not linger
        Result<void> down = co_await std::move(shutdown);
        EXPECT_TRUE(down.has_value()) << "shutdown had to cut: " << down.error().message();
        Responses r = parse_responses(head + rest.data, rest.eof);
        CO_ASSERT_EQ(r.list.size(), std::size_t{1});
        EXPECT_TRUE(r.complete);
        EXPECT_EQ(r.list[0].body, "hello\n");
        EXPECT_EQ(held.ended.load(), 1);
      },
      kRun);
}

TEST(HttpStream, ClientLeavingEndsItsStream) {
  orca::run(
      []() -> Task<void> {
        HeldStream held;
        held.done.add(1);
        Router router;
        router.get("/s", [&held](Context, Request) -> Task<Response> {
          co_return held_response(&held, "hello\n");
        });
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context guard = stream_test_guard();
        {
          orca::net::TcpStream s = co_await dial(guard, server);
          CO_ASSERT_TRUE(co_await s.write_all(guard, bytes("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")));
          std::string head = co_await read_until(guard, &s, "hello\n");
          CO_ASSERT_TRUE(head.find("hello\n") != std::string::npos);
          s.close();
        }
        Result<void> ended = co_await held.done.wait(guard);  // the stream function returned
        EXPECT_TRUE(ended.has_value()) << "the stream outlived its client";
        EXPECT_EQ(held.ended.load(), 1);
        Result<void> down = co_await server.shutdown(guard);
        EXPECT_TRUE(down.has_value());
        EXPECT_EQ(server.stream_count(), std::size_t{0});
      },
      kRun);
}

// Writes 64 KiB chunks until a write fails; records that it did.
Task<void> flood(std::atomic<bool>* write_failed, orca::WaitGroup* done, Context, BodyWriter& out) {
  const std::string chunk(64 * 1024, 'x');
  while (true) {
    Result<void> w = co_await out.write(chunk);
    if (!w) break;
  }
  write_failed->store(true);
  done->done();
}

TEST(HttpStream, ClientThatStopsReadingIsDropped) {
  orca::run(
      []() -> Task<void> {
        std::atomic<bool> write_failed{false};
        orca::WaitGroup done;
        done.add(1);
        Router router;
        router.get("/s", [&](Context, Request) -> Task<Response> {
          Response r;
          r.stream = [&](Context c, BodyWriter& w) {
            return flood(&write_failed, &done, std::move(c), w);
          };
          co_return r;
        });
        ServerOptions o;
        o.stream_write_timeout = 100ms;  // how long a full socket may stay full
        Server server(std::move(router), o);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context guard = stream_test_guard();
        // Connects and asks, then reads nothing: the socket buffers fill.
        orca::net::TcpStream s = co_await dial(guard, server);
        CO_ASSERT_TRUE(co_await s.write_all(guard, bytes("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")));
        Result<void> ended = co_await done.wait(guard);
        EXPECT_TRUE(ended.has_value()) << "the stream to a client not reading never ended";
        EXPECT_TRUE(write_failed.load());
        EXPECT_EQ(server.stats().stream_write_timeouts, std::uint64_t{1});
        s.close();
        Result<void> down = co_await server.shutdown(guard);
        EXPECT_TRUE(down.has_value());
      },
      kRun);
}

TEST(HttpStream, OneStreamOverMaxStreamsIsRefused) {
  orca::run(
      []() -> Task<void> {
        HeldStream held;
        held.done.add(1);
        Router router;
        router.get("/s", [&held](Context, Request) -> Task<Response> {
          co_return held_response(&held, "hello\n");
        });
        ServerOptions o;
        o.max_streams = 1;
        Server server(std::move(router), o);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context guard = stream_test_guard();
        orca::net::TcpStream s = co_await dial(guard, server);
        CO_ASSERT_TRUE(co_await s.write_all(guard, bytes("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")));
        std::string head = co_await read_until(guard, &s, "hello\n");
        CO_ASSERT_TRUE(head.find("hello\n") != std::string::npos);
        Received second =
            co_await exchange(guard, &server, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n", false);
        Responses r = parse_responses(second.data, second.eof);
        CO_ASSERT_EQ(r.list.size(), std::size_t{1});
        EXPECT_EQ(r.list[0].status, 503);
        EXPECT_NE(r.list[0].body.find("too many streams"), std::string::npos) << r.list[0].body;
        EXPECT_EQ(server.stats().stream_refusals, std::uint64_t{1});
        auto shutdown = orca::spawn([&server, guard] { return server.shutdown(guard); });
        Received rest = co_await read_to_end(guard, &s);
        EXPECT_TRUE(rest.eof) << rest.error.message();
        s.close();
        Result<void> down = co_await std::move(shutdown);
        EXPECT_TRUE(down.has_value());
        EXPECT_EQ(held.ended.load(), 1);
      },
      kRun);
}

}  // namespace
