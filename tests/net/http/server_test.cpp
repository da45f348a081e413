// The server over loopback: routing, keep-alive, pipelining, bodies, limits,
// malformed input, handler failures, and the handler context of a client that left.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "http_test_support.hpp"

namespace {

using namespace http_test;
using orca::http::Router;
using orca::http::Server;
using orca::net::Address;

Router echo_router() {
  Router r;
  r.get("/hello", sync_handler([](const Request&) { return Response::text(200, "hello\n"); }));
  r.get("/api/jobs/{id}", sync_handler([](const Request& req) {
          return Response::json(200, "{\"id\":\"" + std::string(*req.path_param("id")) + "\"}");
        }));
  r.post("/echo", sync_handler([](const Request& req) {
           Response resp = Response::text(200, req.body);
           resp.headers.set("X-Method", req.method);
           return resp;
         }));
  r.get("/query", sync_handler([](const Request& req) {
          return Response::text(200, req.query_param("q").value_or("none"));
        }));
  r.get("/remote",
        sync_handler([](const Request& req) { return Response::text(200, req.remote_address); }));
  return r;
}

TEST(HttpServer, RoutesPathParamsNotFoundAndMethodNotAllowed) {
  orca::run(
      []() -> Task<void> {
        Server server(echo_router());
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        CO_ASSERT_TRUE(server.local_address().port() != 0);
        orca::http::Client client;
        auto ok = co_await client.get(orca::background(), url(server, "/hello"));
        CO_ASSERT_TRUE(ok);
        CO_EXPECT_TRUE(ok->status == 200);
        CO_EXPECT_TRUE(ok->body == "hello\n");
        CO_EXPECT_TRUE(ok->headers.get("content-type") == "text/plain; charset=utf-8");
        auto job = co_await client.get(orca::background(), url(server, "/api/jobs/a%2Fb"));
        CO_ASSERT_TRUE(job);
        CO_ASSERT_EQ(job->body, std::string("{\"id\":\"a/b\"}"));
        auto q = co_await client.get(orca::background(), url(server, "/query?q=a+b%21"));
        CO_ASSERT_TRUE(q);
        CO_ASSERT_EQ(q->body, std::string("a b!"));
        auto missing = co_await client.get(orca::background(), url(server, "/nope"));
        CO_ASSERT_TRUE(missing);
        CO_ASSERT_EQ(missing->status, 404);
        auto wrong = co_await client.post(orca::background(), url(server, "/hello"), "x", "");
        CO_ASSERT_TRUE(wrong);
        CO_ASSERT_EQ(wrong->status, 405);
        CO_ASSERT_EQ(std::string(wrong->headers.get("Allow").value_or("")),
                     std::string("GET, HEAD"));
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  orca::run(
      []() -> Task<void> {
        Server server(echo_router());
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        orca::net::TcpStream s = co_await dial(ctx, server);
        std::string first_remote;
        for (int i = 0; i < 5; ++i) {
          auto w = co_await s.write_all(ctx, bytes("GET /remote HTTP/1.1\r\nHost: t\r\n\r\n"));
          CO_ASSERT_TRUE(w);
          Responses r = co_await read_responses(ctx, &s, 1);
          CO_ASSERT_EQ(r.list.size(), std::size_t{1});
          CO_ASSERT_EQ(r.list[0].status, 200);
          CO_ASSERT_TRUE(r.list[0].keep_alive);
          if (i == 0) first_remote = r.list[0].body;
          CO_ASSERT_EQ(r.list[0].body, first_remote);  // the same connection every time
        }
        CO_ASSERT_EQ(server.connection_count(), std::size_t{1});
        s.close();
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  orca::run(
      []() -> Task<void> {
        Router router;
        // Earlier requests take longer: a server answering out of order would show it.
        router.get("/n/{i}", [](Context ctx, Request req) -> Task<Response> {
          const int i = std::stoi(std::string(*req.path_param("i")));
          for (int k = 0; k < 20 - i; ++k)
            co_await orca::yield();
          (void)ctx;
          co_return Response::text(200, std::to_string(i));
        });
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        orca::net::TcpStream s = co_await dial(ctx, server);
        std::string wire;
        for (int i = 0; i < 20; ++i)
          wire.append("GET /n/").append(std::to_string(i)).append(" HTTP/1.1\r\nHost: t\r\n\r\n");
        auto w = co_await s.write_all(ctx, bytes(wire));
        CO_ASSERT_TRUE(w);
        Responses r = co_await read_responses(ctx, &s, 20);
        CO_ASSERT_EQ(r.list.size(), std::size_t{20});
        for (int i = 0; i < 20; ++i)
          CO_ASSERT_EQ(r.list[i].body, std::to_string(i));
        s.close();
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpServer, ContentLengthAndChunkedBodiesReachTheHandler) {
  orca::run(
      []() -> Task<void> {
        Server server(echo_router());
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        orca::net::TcpStream s = co_await dial(ctx, server);
        const std::string big(100'000, 'z');
        const std::string wire =
            "POST /echo HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world"
            "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            "6\r\nchunky\r\n1\r\n!\r\n0\r\n\r\n"
            "POST /echo HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" +
            big;
        auto w = co_await s.write_all(ctx, bytes(wire));
        CO_ASSERT_TRUE(w);
        Responses r = co_await read_responses(ctx, &s, 3);
        CO_ASSERT_EQ(r.list.size(), std::size_t{3});
        CO_ASSERT_EQ(r.list[0].body, std::string("hello world"));
        CO_ASSERT_EQ(r.list[1].body, std::string("chunky!"));
        CO_ASSERT_EQ(r.list[2].body.size(), big.size());
        CO_EXPECT_TRUE(r.list[2].body == big);
        s.close();
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpServer, ConnectionCloseAndHttp10EndTheConnection) {
  orca::run(
      []() -> Task<void> {
        Server server(echo_router());
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        for (const char* wire :
             {"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n", "GET /hello HTTP/1.0\r\n\r\n"}) {
          // No half-close: the server itself must end the connection.
          Received got = co_await exchange(orca::background(), &server, wire, false);
          CO_ASSERT_TRUE(got.eof);
          Responses r = parse_responses(got.data, true);
          CO_ASSERT_EQ(r.list.size(), std::size_t{1});
          CO_ASSERT_EQ(r.list[0].status, 200);
          CO_ASSERT_EQ(std::string(r.list[0].headers.get("Connection").value_or("")),
                       std::string("close"));
        }
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpServer, Http10KeepAliveAndHandlerConnectionClose) {
  orca::run(
      []() -> Task<void> {
        Router router = echo_router();
        router.get("/bye", sync_handler([](const Request&) {
                     Response r = Response::text(200, "bye");
                     r.headers.set("Connection", "close");
                     return r;
                   }));
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        orca::net::TcpStream s = co_await dial(ctx, server);
        auto w = co_await s.write_all(
            ctx, bytes("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                       "GET /bye HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n"));
        CO_ASSERT_TRUE(w);
        Received got = co_await read_to_end(ctx, &s);
        s.close();
        Responses r = parse_responses(got.data, true);
        // The HTTP/1.0 client is told the connection stays; the handler's close ends
        // it before the third request.
        CO_ASSERT_EQ(r.list.size(), std::size_t{2});
        CO_EXPECT_TRUE(r.list[0].headers.get("Connection") == "keep-alive");
        CO_EXPECT_TRUE(r.list[1].headers.get("Connection") == "close");
        CO_ASSERT_EQ(r.list[1].body, std::string("bye"));
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpServer, HeadGetsHeadersWithoutBody) {
  orca::run(
      []() -> Task<void> {
        Server server(echo_router());
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Received got =
            co_await exchange(orca::background(), &server,
                              "HEAD /hello HTTP/1.1\r\nConnection: close\r\n\r\n", false);
        CO_ASSERT_TRUE(got.eof);
        Responses r = parse_responses(got.data, true, /*head=*/true);
        CO_ASSERT_EQ(r.list.size(), std::size_t{1});
        CO_ASSERT_EQ(std::string(r.list[0].headers.get("Content-Length").value_or("")),
                     std::string("6"));
        CO_ASSERT_TRUE(got.data.ends_with("\r\n\r\n"));  // nothing after the headers
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpServer, OversizeHeaderIs431AndOversizeBodyIs413) {
  orca::run(
      []() -> Task<void> {
        orca::http::ServerOptions options;
        options.limits.max_header_bytes = 1024;
        options.limits.max_header_count = 20;
        options.limits.max_body_bytes = 1000;
        Server server(echo_router(), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        struct Case {
          std::string wire;
          int status;
          const char* says;
        };
        std::string many = "GET /hello HTTP/1.1\r\n";
        for (int i = 0; i < 21; ++i)
          many.append("X-").append(std::to_string(i)).append(": 1\r\n");
        const Case cases[] = {
            {"GET /hello HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n", 431,
             "request header fields too large"},
            {many + "\r\n", 431, "too many header fields"},
            {"POST /echo HTTP/1.1\r\nContent-Length: 1001\r\n\r\n" + std::string(1001, 'b'), 413,
             "request body too large"},
            {"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" +
                 std::string(1000, 'c') + "\r\n1\r\nd\r\n0\r\n\r\n",
             413, "request body too large"},
        };
        for (const Case& c : cases) {
          Received got = co_await exchange(orca::background(), &server, c.wire, false);
          CO_ASSERT_TRUE(got.eof);  // the server closes after refusing
          Responses r = parse_responses(got.data, true);
          CO_ASSERT_EQ(r.list.size(), std::size_t{1});
          CO_ASSERT_EQ(r.list[0].status, c.status);
          CO_EXPECT_TRUE(r.list[0].body.find(c.says) != std::string::npos);
          CO_EXPECT_TRUE(r.list[0].headers.get("Connection") == "close");
        }
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpServer, MalformedRequestIs400AndOthersAreStillServed) {
  orca::run(
      []() -> Task<void> {
        Server server(echo_router());
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        // A keep-alive client stays connected while another sends garbage.
        orca::net::TcpStream good = co_await dial(ctx, server);
        for (const char* wire : {"NONSENSE\r\n\r\n", "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
                                 "GET /hello HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                                 "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"}) {
          Received got = co_await exchange(ctx, &server, wire, false);
          CO_ASSERT_TRUE(got.eof);
          Responses r = parse_responses(got.data, true);
          CO_ASSERT_EQ(r.list.size(), std::size_t{1});
          CO_ASSERT_EQ(r.list[0].status, 400);
          CO_EXPECT_TRUE(r.list[0].body.find("malformed request") != std::string::npos);
          auto w = co_await good.write_all(ctx, bytes("GET /hello HTTP/1.1\r\n\r\n"));
          CO_ASSERT_TRUE(w);
          Responses ok = co_await read_responses(ctx, &good, 1);
          CO_ASSERT_EQ(ok.list.size(), std::size_t{1});
          CO_ASSERT_EQ(ok.list[0].status, 200);
        }
        // A valid request pipelined before the garbage is still answered, in order.
        Received got = co_await exchange(ctx, &server,
                                         "GET /hello HTTP/1.1\r\n\r\nBROKEN LINE\r\n\r\n", false);
        Responses r = parse_responses(got.data, true);
        CO_ASSERT_EQ(r.list.size(), std::size_t{2});
        CO_ASSERT_EQ(r.list[0].status, 200);
        CO_ASSERT_EQ(r.list[1].status, 400);
        good.close();
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpServer, HandlerExceptionIs500AndTheConnectionGoesOn) {
  orca::run(
      []() -> Task<void> {
        Router router = echo_router();
        router.get("/throw", [](Context, Request) -> Task<Response> {
          throw std::runtime_error("handler bug");
          co_return Response::text(200, "unreachable");
        });
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        orca::net::TcpStream s = co_await dial(ctx, server);
        auto w = co_await s.write_all(
            ctx, bytes("GET /throw HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n"));
        CO_ASSERT_TRUE(w);
        Responses r = co_await read_responses(ctx, &s, 2);
        CO_ASSERT_EQ(r.list.size(), std::size_t{2});
        CO_ASSERT_EQ(r.list[0].status, 500);
        CO_ASSERT_EQ(r.list[1].status, 200);
        s.close();
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpServer, ClientGoneCancelsTheHandlersContext) {
  orca::run(
      []() -> Task<void> {
        orca::WaitGroup started, finished;
        std::error_code seen;
        Router router;
        router.get("/wait", [&](Context ctx, Request) -> Task<Response> {
          started.done();
          seen = co_await ctx.done();  // only the client leaving can end this
          finished.done();
          co_return Response::text(200, "too late");
        });
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        for (bool reset : {false, true}) {
          started.add(1);
          finished.add(1);
          orca::net::TcpStream s = co_await dial(ctx, server);
          auto w = co_await s.write_all(ctx, bytes("GET /wait HTTP/1.1\r\n\r\n"));
          CO_ASSERT_TRUE(w);
          co_await started.wait();
          if (reset) {  // SO_LINGER 0: the close sends RST instead of FIN
            linger l{1, 0};
            ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
          }
          s.close();
          co_await finished.wait();
          CO_ASSERT_EQ(seen, std::error_code(orca::errc::canceled));
        }
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpServer, IdleTimeoutClosesQuietKeepAliveConnectionsOnly) {
  orca::run(
      []() -> Task<void> {
        orca::WaitGroup started;
        auto [release, do_release] = orca::with_cancel(orca::background());
        Router router = echo_router();
        router.get("/slow", [&, release = release](Context, Request) -> Task<Response> {
          started.done();
          (void)co_await release.done();
          co_return Response::text(200, "slow");
        });
        orca::http::ServerOptions options;
        options.idle_timeout = std::chrono::milliseconds(20);
        Server server(std::move(router), options);
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Context ctx;
        // A quiet keep-alive connection is closed by the server.
        orca::net::TcpStream quiet = co_await dial(ctx, server);
        auto w = co_await quiet.write_all(ctx, bytes("GET /hello HTTP/1.1\r\n\r\n"));
        CO_ASSERT_TRUE(w);
        Received rest = co_await read_to_end(ctx, &quiet);
        CO_ASSERT_TRUE(rest.eof);
        CO_ASSERT_EQ(parse_responses(rest.data, true).list.size(), std::size_t{1});
        // A connection whose handler runs longer than the timeout is not idle.
        started.add(1);
        orca::net::TcpStream busy = co_await dial(ctx, server);
        w = co_await busy.write_all(ctx, bytes("GET /slow HTTP/1.1\r\n\r\n"));
        CO_ASSERT_TRUE(w);
        co_await started.wait();
        (void)co_await orca::sleep_for(ctx, std::chrono::milliseconds(60));  // 3 timeouts
        do_release();
        Responses r = co_await read_responses(ctx, &busy, 1);
        CO_ASSERT_EQ(r.list.size(), std::size_t{1});
        CO_ASSERT_EQ(r.list[0].body, std::string("slow"));
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

}  // namespace
