// The client: GET/POST against the server, a timeout through the context, bodies
// delimited by Content-Length, chunks or the connection's end (served raw), URLs.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "http_test_support.hpp"
#include "orca/net/tcp_listener.hpp"
#include "orca/sync/channel.hpp"

namespace {

using namespace http_test;
using orca::http::Client;
using orca::http::Router;
using orca::http::Server;
using orca::net::Address;

TEST(HttpClient, GetAndPostAgainstTheServer) {
  orca::run(
      []() -> Task<void> {
        Router router;
        router.get("/hi", sync_handler([](const Request& req) {
                     return Response::text(200, "hi " + req.query_param("name").value_or("?"));
                   }));
        router.post("/echo", sync_handler([](const Request& req) {
                      Response r = Response::text(201, req.body);
                      r.headers.set("X-Type",
                                    std::string(req.headers.get("Content-Type").value_or("")));
                      return r;
                    }));
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Client client;
        auto got = co_await client.get(orca::background(), url(server, "/hi?name=orca"));
        CO_ASSERT_TRUE(got);
        CO_ASSERT_EQ(got->status, 200);
        CO_ASSERT_EQ(got->body, std::string("hi orca"));
        const std::string payload(50'000, 'p');
        auto posted = co_await client.post(orca::background(), url(server, "/echo"), payload,
                                           "application/octet-stream");
        CO_ASSERT_TRUE(posted);
        CO_ASSERT_EQ(posted->status, 201);
        CO_EXPECT_TRUE(posted->body == payload);
        CO_EXPECT_TRUE(posted->headers.get("X-Type") == "application/octet-stream");
        // A name: "localhost" resolved through getaddrinfo, then each address tried
        // (::1 first where the hosts file lists it: refused, then 127.0.0.1).
        auto local = co_await client.get(
            orca::background(),
            "http://localhost:" + std::to_string(server.local_address().port()) + "/hi");
        CO_ASSERT_TRUE(local);
        CO_ASSERT_EQ(local->body, std::string("hi ?"));
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

TEST(HttpClient, TimeoutThroughTheContext) {
  orca::run(
      []() -> Task<void> {
        // The handler counts its entries; one that entered waits until the client
        // gives up and goes, then says so (a buffer room for every attempt below).
        std::atomic<int> entered{0};
        orca::Channel<int> saw_cancel(64);
        Router router;
        router.get("/stuck", [&](Context ctx, Request) -> Task<Response> {
          entered.fetch_add(1);
          (void)co_await ctx.done();
          (void)saw_cancel.try_send(1);
          co_return Response::text(200, "never read");
        });
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        Client client;
        // A deadline can pass before the request is even written on a loaded
        // machine (under TSan, 20 ms did): then no handler runs. The timeout
        // doubles until one did, so the server's side is checked every time.
        for (auto timeout = std::chrono::milliseconds(20); entered.load() == 0; timeout *= 2) {
          auto [ctx, cancel] = orca::with_timeout(orca::background(), timeout);
          auto got = co_await client.get(ctx, url(server, "/stuck"));
          cancel();
          CO_ASSERT_TRUE(!got);
          CO_ASSERT_EQ(got.error(), std::error_code(orca::errc::deadline_exceeded));
        }
        auto saw = co_await saw_cancel.recv(orca::background());  // the server noticed
        CO_ASSERT_TRUE(saw);
        auto done = co_await server.shutdown(orca::background());
        CO_EXPECT_TRUE(done);
      },
      kRun);
}

// Serves one canned response per connection, whatever the request, then closes.
Task<void> serve_raw(orca::net::TcpListener* listener, std::string canned, int connections) {
  for (int i = 0; i < connections; ++i) {
    Result<orca::net::TcpStream> s = co_await listener->accept(orca::background());
    if (!s) co_return;
    std::string req;
    std::vector<std::byte> buf(4096);
    while (req.find("\r\n\r\n") == std::string::npos) {
      Result<std::size_t> n = co_await s->read(orca::background(), std::span(buf));
      if (!n || *n == 0) break;
      req.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    (void)co_await s->write_all(orca::background(), bytes(canned));
    s->close();
  }
}

TEST(HttpClient, ChunkedCloseDelimitedAndMalformedResponses) {
  orca::run(
      []() -> Task<void> {
        struct Case {
          std::string canned;
          bool ok;
          std::string body;
        };
        const Case cases[] = {
            {"HTTP/1.1 200 OK\r\nTransfer-Encoding: "
             "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
             true, "abcde"},
            {"HTTP/1.1 200 OK\r\n\r\nuntil the end", true, "until the end"},
            {"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nfour", true, "four"},
            {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", true, ""},
            {"SMTP ready\r\n", false, ""},
            {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", false, ""},
            {"", false, ""},
        };
        for (const Case& c : cases) {
          Result<orca::net::TcpListener> l =
              orca::net::TcpListener::listen(Address::loopback_v4(0));
          CO_ASSERT_TRUE(l);
          auto server = orca::spawn([&l, canned = c.canned] { return serve_raw(&*l, canned, 1); });
          Client client;
          auto got = co_await client.get(
              orca::background(),
              "http://127.0.0.1:" + std::to_string(l->local_address().port()) + "/x");
          co_await std::move(server);
          CO_ASSERT_EQ(static_cast<bool>(got), c.ok);
          if (c.ok) CO_ASSERT_EQ(got->body, c.body);
        }
      },
      kRun);
}

TEST(HttpClient, BadUrlsAndRefusedConnections) {
  orca::run(
      []() -> Task<void> {
        Client client;
        for (const char* bad :
             {"ftp://127.0.0.1/", "not a url", "http://127.0.0.1:0/", "http:///path"}) {
          auto got = co_await client.get(orca::background(), bad);
          CO_ASSERT_TRUE(!got);
          CO_ASSERT_EQ(got.error(), std::error_code(orca::http::errc::bad_url));
        }
        // A port nobody listens on: take one from a listener and close it.
        auto l = orca::net::TcpListener::listen(Address::loopback_v4(0));
        CO_ASSERT_TRUE(l);
        const auto port = l->local_address().port();
        l->close();
        auto refused =
            co_await client.get(orca::background(), "http://127.0.0.1:" + std::to_string(port));
        CO_ASSERT_TRUE(!refused);
        CO_EXPECT_TRUE(refused.error() == std::errc::connection_refused);
      },
      kRun);
}

TEST(HttpClient, ParseUrl) {
  auto u = orca::http::parse_url("http://127.0.0.1:8080/a/b?x=1&y=2");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->path_and_query, "/a/b?x=1&y=2");
  EXPECT_FALSE(u->https);
  auto tls = orca::http::parse_url("https://localhost/x");
  ASSERT_TRUE(tls);
  EXPECT_TRUE(tls->https);
  EXPECT_EQ(tls->host, "localhost");  // as written: what the certificate must name
  EXPECT_EQ(tls->port, 443);
  auto v6 = orca::http::parse_url("http://[::1]:81");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->authority(), "[::1]:81");
  EXPECT_EQ(v6->path_and_query, "/");
  auto dflt = orca::http::parse_url("http://127.0.0.1/");
  ASSERT_TRUE(dflt);
  EXPECT_EQ(dflt->port, 80);
}

}  // namespace
