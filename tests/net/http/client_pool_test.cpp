// The client's keep-alive pool (reuse, growth under concurrency, connections the
// server closed or asked to close) and its opt-in breaker and retries, against
// orca's server and a scripted raw server on loopback.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "http_test_support.hpp"
#include "orca/net/http/retry_after.hpp"
#include "orca/net/tcp_listener.hpp"
#include "orca/resilience/errors.hpp"

namespace {

using namespace http_test;
using namespace std::chrono_literals;
using orca::http::Client;
using orca::http::ClientOptions;
using orca::http::Router;
using orca::http::Server;
using orca::net::Address;

// The client addresses ("127.0.0.1:51234") a server's handlers saw: one per
// connection the server accepted and served.
struct Peers {
  std::mutex mu;
  std::set<std::string> seen;
  void add(const std::string& a) {
    std::lock_guard lock(mu);
    seen.insert(a);
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return seen.size();
  }
};

Router counting_router(Peers* peers) {
  Router router;
  router.get("/hi", sync_handler([peers](const Request& req) {
               peers->add(req.remote_address);
               return Response::text(200, "hi");
             }));
  return router;
}

TEST(HttpClientPool, SequentialGetsShareOneConnection) {
  orca::run(
      []() -> Task<void> {
        Peers peers;
        Server server(counting_router(&peers));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        auto [timed, cancel] = orca::with_timeout(orca::background(), 10s);
        const Context ctx = timed;  // not a binding: Clang 14 lambdas cannot capture those
        Client client;
        for (int i = 0; i < 10; ++i) {
          auto got = co_await client.get(ctx, url(server, "/hi"));
          CO_ASSERT_TRUE(got);
          CO_ASSERT_EQ(got->body, std::string("hi"));
        }
        EXPECT_EQ(peers.count(), 1u);
        const orca::http::ClientStats s = client.stats();
        EXPECT_EQ(s.dials, 1u);
        EXPECT_EQ(s.reuses, 9u);
        EXPECT_EQ(s.idle, 1u);
        client.close_idle();
        EXPECT_EQ(client.stats().idle, 0u);
        auto done = co_await server.shutdown(ctx);
        CO_EXPECT_TRUE(done);
        cancel();
      },
      kRun);
}

TEST(HttpClientPool, ConcurrentRequestsOpenWhatTheyNeedThenReuse) {
  orca::run(
      []() -> Task<void> {
        constexpr int kCallers = 4;
        Peers peers;
        orca::WaitGroup all_in;  // each /together handler waits for the others
        all_in.add(kCallers);
        Router router = counting_router(&peers);
        router.get("/together", [&](Context, Request req) -> Task<Response> {
          peers.add(req.remote_address);
          all_in.done();
          co_await all_in.wait();
          co_return Response::text(200, "together");
        });
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        auto [timed, cancel] = orca::with_timeout(orca::background(), 10s);
        const Context ctx = timed;  // not a binding: Clang 14 lambdas cannot capture those
        Client client;
        const auto wave = [&](std::string path) -> Task<int> {
          std::vector<orca::JoinHandle<Result<Response>>> calls;
          for (int i = 0; i < kCallers; ++i)
            calls.push_back(
                orca::spawn([&client, &ctx, u = url(server, path)] { return client.get(ctx, u); }));
          int ok = 0;
          for (auto& c : calls) {
            Result<Response> r = co_await std::move(c);
            if (r && r->status == 200) ++ok;
          }
          co_return ok;
        };
        // All four in flight at once: four connections.
        Task<int> together = wave("/together");  // a named local: GCC PR 101367
        const int first = co_await std::move(together);
        CO_ASSERT_EQ(first, kCallers);
        EXPECT_EQ(client.stats().dials, static_cast<std::uint64_t>(kCallers));
        EXPECT_EQ(client.stats().idle, static_cast<std::size_t>(kCallers));
        // Four more at once: the four idle ones serve them, none is opened.
        Task<int> again = wave("/hi");
        const int second = co_await std::move(again);
        CO_ASSERT_EQ(second, kCallers);
        EXPECT_EQ(client.stats().dials, static_cast<std::uint64_t>(kCallers));
        EXPECT_EQ(client.stats().reuses, static_cast<std::uint64_t>(kCallers));
        EXPECT_EQ(peers.count(), static_cast<std::size_t>(kCallers));
        auto done = co_await server.shutdown(ctx);
        CO_EXPECT_TRUE(done);
        cancel();
      },
      kRun);
}

// A raw server that answers requests (GETs: a head without body) with `steps` in
// order, on the connections it accepts one after the other; a step may close its
// connection after its reply. Counts the connections it accepted.
struct Step {
  std::string reply;
  bool close_after = false;
};
constexpr const char* kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

Task<void> serve_steps(Context ctx, orca::net::TcpListener* listener, std::vector<Step> steps,
                       int* accepted, orca::WaitGroup* closed) {
  std::size_t next = 0;
  std::vector<std::byte> buf(4096);
  while (next < steps.size()) {
    Result<orca::net::TcpStream> s = co_await listener->accept(ctx);
    if (!s) co_return;
    ++*accepted;
    std::string pending;
    while (next < steps.size()) {
      bool eof = false;
      while (pending.find("\r\n\r\n") == std::string::npos) {
        Result<std::size_t> n = co_await s->read(ctx, std::span(buf));
        if (!n || *n == 0) {
          eof = true;
          break;
        }
        pending.append(reinterpret_cast<const char*>(buf.data()), *n);
      }
      if (eof) break;  // the client let this connection go: take the next one
      pending.erase(0, pending.find("\r\n\r\n") + 4);
      (void)co_await s->write_all(ctx, bytes(steps[next].reply));
      const bool close = steps[next].close_after;
      ++next;
      if (close) {
        s->close();
        closed->done();
        break;
      }
    }
  }
}

TEST(HttpClientPool, ServerClosedIdleConnectionIsNotReused) {
  orca::run(
      []() -> Task<void> {
        auto l = orca::net::TcpListener::listen(Address::loopback_v4(0));
        CO_ASSERT_TRUE(l);
        auto [timed, cancel] = orca::with_timeout(orca::background(), 10s);
        const Context ctx = timed;  // not a binding: Clang 14 lambdas cannot capture those
        int accepted = 0;
        orca::WaitGroup closed;
        closed.add(1);
        std::vector<Step> steps{{kOk, true}, {kOk, false}};
        auto server =
            orca::spawn([&, steps] { return serve_steps(ctx, &*l, steps, &accepted, &closed); });
        const std::string u = "http://127.0.0.1:" + std::to_string(l->local_address().port());
        Client client;
        auto first = co_await client.get(ctx, u + "/a");
        CO_ASSERT_TRUE(first);
        EXPECT_EQ(client.stats().idle, 1u);  // kept: the server said nothing of closing
        co_await closed.wait();              // ...then closed it while idle
        auto second = co_await client.get(ctx, u + "/b");
        CO_ASSERT_TRUE(second);
        EXPECT_EQ(second->body, std::string("ok"));
        co_await std::move(server);
        EXPECT_EQ(accepted, 2);
        const orca::http::ClientStats s = client.stats();
        EXPECT_EQ(s.dials, 2u);
        // Seen closed by the peek before sending (the usual case), or, if the FIN
        // was still on its way, by the failed exchange and sent again.
        EXPECT_EQ(s.stale_closed + s.stale_resends, 1u);
        cancel();
      },
      kRun);
}

TEST(HttpClientPool, ConnectionCloseResponseIsNotPooled) {
  orca::run(
      []() -> Task<void> {
        auto l = orca::net::TcpListener::listen(Address::loopback_v4(0));
        CO_ASSERT_TRUE(l);
        auto [timed, cancel] = orca::with_timeout(orca::background(), 10s);
        const Context ctx = timed;  // not a binding: Clang 14 lambdas cannot capture those
        int accepted = 0;
        orca::WaitGroup unused;
        // The server keeps the connection open after "Connection: close": only the
        // client's respect for the header sends the second request elsewhere.
        std::vector<Step> steps{
            {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", false},
            {kOk, false}};
        auto server =
            orca::spawn([&, steps] { return serve_steps(ctx, &*l, steps, &accepted, &unused); });
        const std::string u = "http://127.0.0.1:" + std::to_string(l->local_address().port());
        Client client;
        auto first = co_await client.get(ctx, u + "/a");
        CO_ASSERT_TRUE(first);
        EXPECT_EQ(client.stats().idle, 0u);
        auto second = co_await client.get(ctx, u + "/b");
        CO_ASSERT_TRUE(second);
        co_await std::move(server);
        EXPECT_EQ(accepted, 2);
        EXPECT_EQ(client.stats().dials, 2u);
        EXPECT_EQ(client.stats().reuses, 0u);
        cancel();
      },
      kRun);
}

TEST(HttpClientPool, BreakerOpensAfterFailuresAndFailsFast) {
  orca::run(
      []() -> Task<void> {
        std::atomic<int> calls{0};
        Router router;
        router.get("/down", sync_handler([&](const Request&) {
                     calls.fetch_add(1);
                     return Response::text(500, "down");
                   }));
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        auto [timed, cancel] = orca::with_timeout(orca::background(), 10s);
        const Context ctx = timed;  // not a binding: Clang 14 lambdas cannot capture those
        ClientOptions options;
        options.breakers.emplace();
        options.breakers->breaker.failure_rate_threshold = 50;
        options.breakers->breaker.window_size = 10;
        options.breakers->breaker.minimum_calls = 4;
        options.breakers->breaker.open_duration = std::chrono::hours(1);
        options.breakers->breaker.stripes = 1;
        Client client(options);
        for (int i = 0; i < 4; ++i) {
          auto got = co_await client.get(ctx, url(server, "/down"));
          CO_ASSERT_TRUE(got);  // a 5xx is an answer: returned as it came
          CO_ASSERT_EQ(got->status, 500);
        }
        auto refused = co_await client.get(ctx, url(server, "/down"));
        CO_ASSERT_TRUE(!refused);
        CO_EXPECT_TRUE(refused.error() == orca::resilience::errc::circuit_open);
        EXPECT_EQ(calls.load(), 4);  // the fifth never reached the server
        auto breaker = client.breaker(url(server, "/"));
        CO_ASSERT_TRUE(breaker != nullptr);
        CO_EXPECT_TRUE(breaker->state() == orca::resilience::BreakerState::kOpen);
        auto done = co_await server.shutdown(ctx);
        CO_EXPECT_TRUE(done);
        cancel();
      },
      kRun);
}

TEST(HttpClientPool, RetriesIdempotentRequestsOnly) {
  orca::run(
      []() -> Task<void> {
        std::atomic<int> flaky{0}, always{0}, posts{0};
        Router router;
        router.get("/flaky", sync_handler([&](const Request&) {
                     return flaky.fetch_add(1) == 0 ? Response::text(503, "busy")
                                                    : Response::text(200, "ok");
                   }));
        router.get("/always", sync_handler([&](const Request&) {
                     always.fetch_add(1);
                     return Response::text(503, "busy");
                   }));
        router.post("/order", sync_handler([&](const Request&) {
                      posts.fetch_add(1);
                      return Response::text(503, "busy");
                    }));
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        auto [timed, cancel] = orca::with_timeout(orca::background(), 10s);
        const Context ctx = timed;  // not a binding: Clang 14 lambdas cannot capture those
        ClientOptions options;
        options.retry.emplace();
        options.retry->max_attempts = 3;
        options.retry->random = [] { return 0.0; };  // no backoff: the test does not wait
        Client client(options);

        auto got = co_await client.get(ctx, url(server, "/flaky"));
        CO_ASSERT_TRUE(got);
        EXPECT_EQ(got->status, 200);
        EXPECT_EQ(flaky.load(), 2);

        auto gave_up = co_await client.get(ctx, url(server, "/always"));
        CO_ASSERT_TRUE(gave_up);  // the last answer, as it came
        EXPECT_EQ(gave_up->status, 503);
        EXPECT_EQ(gave_up->body, std::string("busy"));
        EXPECT_EQ(always.load(), 3);

        auto posted = co_await client.post(ctx, url(server, "/order"), "{}", "application/json");
        CO_ASSERT_TRUE(posted);
        EXPECT_EQ(posted->status, 503);
        EXPECT_EQ(posts.load(), 1);  // never sent twice
        auto done = co_await server.shutdown(ctx);
        CO_EXPECT_TRUE(done);
        cancel();
      },
      kRun);
}

// A response with a Retry-After header.
Response busy(int status, std::string retry_after) {
  Response r = Response::text(status, "busy");
  r.headers.set("Retry-After", std::move(retry_after));
  return r;
}

TEST(HttpClientPool, RetriesHonourRetryAfterWithinMaxBackoffAndOnlySafeStatuses) {
  orca::run(
      []() -> Task<void> {
        std::atomic<int> unavailable{0}, limited{0}, dated{0}, broken{0};
        Router router;
        // 503 asking for 2 s, then 200.
        router.get("/unavailable", sync_handler([&](const Request&) {
                     return unavailable.fetch_add(1) == 0 ? busy(503, "2")
                                                          : Response::text(200, "ok");
                   }));
        // 429 asking for a date already past, then 200.
        router.get("/limited", sync_handler([&](const Request&) {
                     return limited.fetch_add(1) == 0 ? busy(429, "Sun, 06 Nov 1994 08:49:37 GMT")
                                                      : Response::text(200, "ok");
                   }));
        router.get("/dated", sync_handler([&](const Request&) {
                     dated.fetch_add(1);
                     return busy(503, "Sun, 06 Nov 1994 08:49:37 GMT");
                   }));
        router.get("/broken", sync_handler([&](const Request&) {
                     broken.fetch_add(1);
                     return Response::text(500, "bug");
                   }));
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        auto [timed, cancel] = orca::with_timeout(orca::background(), 10s);
        const Context ctx = timed;  // not a binding: Clang 14 lambdas cannot capture those
        std::mutex mu;
        std::vector<std::chrono::nanoseconds> backoffs;
        ClientOptions options;
        options.retry.emplace();
        options.retry->max_attempts = 3;
        options.retry->initial_backoff = 1ms;
        options.retry->max_backoff = 3ms;            // caps the 2 s asked for
        options.retry->random = [] { return 1.0; };  // the jittered backoff would be its ceiling
        options.retry->on_retry = [&](const orca::resilience::RetryEvent& e) {
          std::lock_guard lock(mu);
          backoffs.push_back(e.backoff);
        };
        Client client(options);

        auto got = co_await client.get(ctx, url(server, "/unavailable"));
        CO_ASSERT_TRUE(got);
        EXPECT_EQ(got->status, 200);
        EXPECT_EQ(unavailable.load(), 2);
        auto ok = co_await client.get(ctx, url(server, "/limited"));
        CO_ASSERT_TRUE(ok);
        EXPECT_EQ(ok->status, 200);
        EXPECT_EQ(limited.load(), 2);
        {
          std::lock_guard lock(mu);
          CO_ASSERT_EQ(backoffs.size(), 2u);
          EXPECT_EQ(backoffs[0], std::chrono::nanoseconds(3ms)) << "Retry-After: 2, capped";
          EXPECT_EQ(backoffs[1], std::chrono::nanoseconds(0)) << "a date already past";
        }
        // A 500 is a bug in the server: never retried by default.
        auto bug = co_await client.get(ctx, url(server, "/broken"));
        CO_ASSERT_TRUE(bug);
        EXPECT_EQ(bug->status, 500);
        EXPECT_EQ(broken.load(), 1);
        // Out of attempts: the last answer, its header kept.
        auto gave_up = co_await client.get(ctx, url(server, "/dated"));
        CO_ASSERT_TRUE(gave_up);
        EXPECT_EQ(gave_up->status, 503);
        EXPECT_TRUE(gave_up->headers.get("Retry-After").has_value());
        EXPECT_EQ(dated.load(), 3);
        auto done = co_await server.shutdown(ctx);
        CO_EXPECT_TRUE(done);
        cancel();
      },
      kRun);
}

TEST(HttpClientPool, RetryAfterPastTheDeadlineReturnsTheAnswerAtOnce) {
  orca::run(
      []() -> Task<void> {
        std::atomic<int> calls{0};
        Router router;
        router.get("/later", sync_handler([&](const Request&) {
                     calls.fetch_add(1);
                     return busy(503, "3600");
                   }));
        Server server(std::move(router));
        CO_ASSERT_TRUE(server.start(Address::loopback_v4(0)));
        auto [timed, cancel] = orca::with_timeout(orca::background(), 10s);
        const Context ctx = timed;  // not a binding: Clang 14 lambdas cannot capture those
        ClientOptions options;
        options.retry.emplace();
        options.retry->max_attempts = 3;
        options.retry->max_backoff = std::chrono::hours(2);  // the hour asked for is allowed...
        Client client(options);
        // ... but it would end past this call's deadline: no sleep, no retry.
        auto got = co_await client.get(ctx, url(server, "/later"));
        CO_ASSERT_TRUE(got);
        EXPECT_EQ(got->status, 503);
        EXPECT_EQ(calls.load(), 1);
        EXPECT_FALSE(ctx.is_done());
        auto done = co_await server.shutdown(ctx);
        CO_EXPECT_TRUE(done);
        cancel();
      },
      kRun);
}

TEST(RetryAfter, SecondsAndTheThreeHttpDateForms) {
  using orca::http::parse_retry_after;
  using std::chrono::seconds;
  // Sun, 06 Nov 1994 08:49:37 GMT, and 100 s before it.
  const auto then = std::chrono::system_clock::time_point(seconds(784111777));
  const auto now = then - seconds(100);
  EXPECT_EQ(parse_retry_after("120", now), std::chrono::nanoseconds(seconds(120)));
  EXPECT_EQ(parse_retry_after(" 0 ", now), std::chrono::nanoseconds(0));
  EXPECT_EQ(parse_retry_after("99999999999999999999", now),
            std::chrono::nanoseconds(seconds(1'000'000'000)));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            std::chrono::nanoseconds(seconds(100)));
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            std::chrono::nanoseconds(seconds(100)));
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now),
            std::chrono::nanoseconds(seconds(100)));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", then + seconds(5)),
            std::chrono::nanoseconds(0));  // already past
  for (const char* bad :
       {"", "-1", "1.5", "soon", "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 UTC"})
    EXPECT_FALSE(parse_retry_after(bad, now).has_value()) << bad;
}

TEST(HttpClientPool, BadOptionsAreRefused) {
  ClientOptions zero_idle;
  zero_idle.idle_timeout = std::chrono::seconds(0);
  EXPECT_THROW(Client{zero_idle}, std::invalid_argument);
  ClientOptions bad_retry;
  bad_retry.retry.emplace();
  bad_retry.retry->max_attempts = 0;
  EXPECT_THROW(Client{bad_retry}, std::invalid_argument);
}

}  // namespace
