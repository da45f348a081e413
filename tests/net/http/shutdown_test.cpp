// Server::shutdown, as Go's http.Server.Shutdown: in-flight requests finish and
// are answered in full while new connections are refused; idle keep-alive
// connections are closed; when the context ends first, the rest are cut and their
// handlers' contexts cancelled.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http_test_support.hpp"

namespace {

using namespace http_test;
using orca::http::Router;
using orca::http::Server;
using orca::net::Address;

TEST(HttpShutdown, InFlightRequestsAllCompleteWhileNewConnectionsAreRefused) {
  orca::run(
      []() -> Task<void> {
        constexpr int kClients = 16;
        orca::WaitGroup started;
        started.add(kClients);
        auto [release, do_release] = orca::with_cancel(orca::background());
        Router router;
        router.get("/slow/{i}", [&, release = release](Context, Request req) -> Task<Response> {
          started.done();
          (void)co_await release.done();  // held until the test lets go
          // A body large enough to need several writes.
          co_return Response::text(200,
                                   std::string(*req.path_param("i")) + std::string(200'000, '.'));
        });
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        const std::uint16_t port = server.local_address().port();

        std::vector<orca::JoinHandle<Received>> clients;
        for (int i = 0; i < kClients; ++i) {
          clients.push_back(orca::spawn([&server, i]() {
            return exchange(orca::background(), &server,
                            "GET /slow/" + std::to_string(i) + " HTTP/1.1\r\n\r\n", false);
          }));
        }
        co_await started.wait();  // every request is in its handler

        auto shutdown = orca::spawn([&server] { return server.shutdown(orca::background()); });
        // New connections are refused once the listener is closed. Until then a
        // connection may still be accepted, and is closed without an answer.
        while (true) {
          Result<orca::net::TcpStream> late = co_await orca::net::TcpStream::connect(
              orca::background(), Address::loopback_v4(port));
          if (!late) {
            // Refused; or reset, when the listener closed with it in the backlog.
            const bool refused = late.error() == std::errc::connection_refused ||
                                 late.error() == std::errc::connection_reset;
            if (!refused) ADD_FAILURE() << "connect: " << late.error().message();
            break;
          }
          Received nothing = co_await read_to_end(orca::background(), &*late);
          CO_ASSERT_EQ(nothing.data, std::string());
          co_await orca::yield();
        }
        CO_ASSERT_TRUE(!shutdown.finished());  // still waiting for the handlers
        do_release();
        for (int i = 0; i < kClients; ++i) {
          Received got = co_await std::move(clients[i]);
          CO_ASSERT_TRUE(got.eof);
          Responses r = parse_responses(got.data, true);
          CO_ASSERT_EQ(r.list.size(), std::size_t{1});
          CO_ASSERT_EQ(r.list[0].status, 200);
          CO_ASSERT_EQ(r.list[0].body, std::to_string(i) + std::string(200'000, '.'));
          // Shutting down: the server says it will close.
          CO_EXPECT_TRUE(r.list[0].headers.get("Connection") == "close");
        }
        Result<void> done = co_await std::move(shutdown);
        CO_EXPECT_TRUE(done);
        CO_ASSERT_EQ(server.connection_count(), std::size_t{0});
      },
      kRun);
}

TEST(HttpShutdown, IdleKeepAliveConnectionsAreClosed) {
  orca::run(
      []() -> Task<void> {
        Router router;
        router.get("/", sync_handler([](const Request&) { return Response::text(200, "x"); }));
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        std::vector<orca::net::TcpStream> idle;
        for (int i = 0; i < 4; ++i) {
          idle.push_back(co_await dial(ctx, server));
          auto w = co_await idle.back().write_all(ctx, bytes("GET / HTTP/1.1\r\n\r\n"));
          CO_ASSERT_TRUE(w);
          Responses r = co_await read_responses(ctx, &idle.back(), 1);
          CO_ASSERT_EQ(r.list.size(), std::size_t{1});
        }
        // An expired context would cut them: background() proves they close as idle.
        Result<void> done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
        for (auto& s : idle) {
          Received rest = co_await read_to_end(ctx, &s);
          CO_EXPECT_TRUE(rest.eof && rest.data.empty());
        }
      },
      kRun);
}

TEST(HttpShutdown, ExpiredContextCutsLongHandlersAndCancelsTheirContexts) {
  orca::run(
      []() -> Task<void> {
        constexpr int kClients = 6;
        orca::WaitGroup started, finished;
        started.add(kClients);
        finished.add(kClients);
        std::atomic<int> cancelled{0};
        Router router;
        router.get("/forever", [&](Context ctx, Request) -> Task<Response> {
          started.done();
          const std::error_code e = co_await ctx.done();
          if (e == orca::errc::canceled) cancelled.fetch_add(1);
          finished.done();
          co_return Response::text(503, "cut\n");
        });
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        std::vector<orca::JoinHandle<Received>> clients;
        for (int i = 0; i < kClients; ++i)
          clients.push_back(orca::spawn([&server] {
            return exchange(orca::background(), &server, "GET /forever HTTP/1.1\r\n\r\n", false);
          }));
        co_await started.wait();

        auto [expired, cancel] = orca::with_cancel(orca::background());
        cancel();
        Result<void> done = co_await server.shutdown(expired);
        CO_ASSERT_TRUE(!done);
        CO_ASSERT_EQ(done.error(), std::error_code(orca::errc::canceled));  // ctx's error
        co_await finished.wait();
        CO_ASSERT_EQ(cancelled.load(), kClients);
        CO_ASSERT_EQ(server.connection_count(), std::size_t{0});
        for (auto& c : clients) {
          Received got = co_await std::move(c);
          // Cut: the connection ends without a complete 200.
          Responses r = parse_responses(got.data, true);
          for (const Response& resp : r.list)
            CO_EXPECT_TRUE(resp.status != 200);
        }
      },
      kRun);
}

TEST(HttpShutdown, DestroyingARunningServerCutsItWithoutHanging) {
  orca::run(
      []() -> Task<void> {
        Context ctx;
        orca::net::TcpStream s;
        {
          Router router;
          router.get("/", sync_handler([](const Request&) { return Response::text(200, "x"); }));
          Server server(std::move(router));
          CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
          s = co_await dial(ctx, server);
        }
        Received rest = co_await read_to_end(ctx, &s);  // the connection is cut
        CO_EXPECT_TRUE(rest.eof || rest.error);
      },
      kRun);
}

}  // namespace
