// Request-rate limits as router middleware (rate_limit.hpp): 2xx below a limit and 429
// with Retry-After past it, each client on its own limit (by address, IPv6 by /64; by
// header; by token name inside protect()), the global limit after the client's, a
// failing limiter admitting. Time is a ManualClock: nothing sleeps. One test goes over
// a real socket to see the 429 on the wire.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "http_test_support.hpp"
#include "orca/net/http/access_policy.hpp"
#include "orca/net/http/rate_limit.hpp"
#include "orca/net/http/token_table.hpp"
#include "orca/resilience/keyed_rate_limiter.hpp"
#include "orca/resilience/rate_limiter.hpp"

// Named, not anonymous: the test programs are built in unity batches, where two
// files' anonymous namespaces would be one.
namespace http_rate_limit_test {

using namespace std::chrono_literals;
using http_test::kRun;
using orca::Context;
using orca::Task;
using orca::http::RateLimitKey;
using orca::http::RateLimitOptions;
using orca::http::Request;
using orca::http::Response;
using orca::http::Router;
using orca::resilience::KeyedRateLimiter;
using orca::resilience::ManualClock;
using orca::resilience::RateLimiter;

// Routes that answer 200 and count the requests that reached them.
struct Counted {
  std::shared_ptr<int> reached = std::make_shared<int>(0);
  Router router() const {
    Router r;
    r.get("/api/x", [n = reached](Context, Request) -> Task<Response> {
      ++*n;
      co_return Response::json(200, "{}");
    });
    return r;
  }
};

Request get(std::string remote, std::string header = "", std::string value = "") {
  Request req;
  req.method = "GET";
  req.target = req.path = "/api/x";
  req.remote_address = std::move(remote);
  req.headers.set("Host", "localhost");
  if (!header.empty()) req.headers.set(std::move(header), std::move(value));
  return req;
}

// Runs each request through `router` in order (one orca::run), returning the answers.
std::vector<Response> dispatch_all(const Router& router, std::vector<Request> requests) {
  return orca::run(
      [&]() -> Task<std::vector<Response>> {
        std::vector<Response> out;
        for (Request& req : requests) {
          Task<Response> answered = router.dispatch(orca::background(), std::move(req));
          out.push_back(co_await std::move(answered));
        }
        co_return out;
      },
      kRun);
}

std::shared_ptr<RateLimiter> global_limit(double events, std::chrono::nanoseconds per,
                                          std::int64_t burst, ManualClock* clock) {
  return std::make_shared<RateLimiter>(orca::resilience::RateLimiterOptions{
      .events = events, .per = per, .burst = burst, .clock = clock});
}

std::shared_ptr<KeyedRateLimiter> client_limit(std::int64_t burst, ManualClock* clock) {
  orca::resilience::KeyedRateLimiterOptions o;
  o.limit = {.events = 1, .per = 1min, .burst = burst, .clock = clock};
  return std::make_shared<KeyedRateLimiter>(o);
}

std::string statuses(const std::vector<Response>& rs) {
  std::string out;
  for (const Response& r : rs)
    out.append(out.empty() ? "" : " ").append(std::to_string(r.status));
  return out;
}

TEST(HttpRateLimit, BelowTheLimitPassesPastItIs429WithRetryAfterRoundedUp) {
  ManualClock clock;
  Counted routes;
  RateLimitOptions o;
  o.global = global_limit(5, 1s, 5, &clock);  // one unit every 200 ms, 5 at once
  const Router router = rate_limit(routes.router(), o);
  std::vector<Request> burst;
  for (int i = 0; i < 6; ++i)
    burst.push_back(get("10.0.0.1:4000"));
  const std::vector<Response> first = dispatch_all(router, std::move(burst));
  EXPECT_EQ(statuses(first), "200 200 200 200 200 429");
  EXPECT_EQ(*routes.reached, 5) << "a refused request must not reach the routes";
  const Response& refused = first.back();
  EXPECT_EQ(refused.headers.get("Retry-After").value_or("none"), "1")
      << "200 ms to wait is announced as 1 s, never 0";
  EXPECT_EQ(refused.headers.get("Content-Type").value_or(""), "application/json");
  EXPECT_NE(refused.body.find("\"error\""), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("rate limit"), std::string::npos) << refused.body;
  EXPECT_EQ(refused.headers.get("Cache-Control").value_or(""), "no-store");

  clock.advance(200ms);  // one unit back
  std::vector<Request> again;
  again.push_back(get("10.0.0.1:4000"));
  again.push_back(get("10.0.0.1:4000"));
  EXPECT_EQ(statuses(dispatch_all(router, std::move(again))), "200 429");
}

TEST(HttpRateLimit, RetryAfterIsTheWaitInWholeSecondsRoundedUp) {
  ManualClock clock;
  Counted routes;
  RateLimitOptions o;
  o.global = global_limit(1, 90s, 1, &clock);
  const Router router = rate_limit(routes.router(), o);
  std::vector<Request> two;
  two.push_back(get("10.0.0.1:4000"));
  two.push_back(get("10.0.0.1:4000"));
  std::vector<Response> rs = dispatch_all(router, std::move(two));
  ASSERT_EQ(statuses(rs), "200 429");
  EXPECT_EQ(rs[1].headers.get("Retry-After").value_or("none"), "90");
  clock.advance(89s + 500ms);
  std::vector<Request> one;
  one.push_back(get("10.0.0.1:4000"));
  rs = dispatch_all(router, std::move(one));
  ASSERT_EQ(statuses(rs), "429");
  EXPECT_EQ(rs[0].headers.get("Retry-After").value_or("none"), "1") << "0.5 s rounds up to 1";
}

TEST(HttpRateLimit, EachClientAddressHasItsOwnLimitAnIpv6ClientItsSlash64) {
  ManualClock clock;
  Counted routes;
  RateLimitOptions o;
  o.per_client = client_limit(2, &clock);
  o.counters = std::make_shared<orca::http::RateLimitCounters>();
  const Router router = rate_limit(routes.router(), o);
  std::vector<Request> reqs;
  for (int i = 0; i < 3; ++i)
    reqs.push_back(get("10.0.0.1:" + std::to_string(4000 + i)));  // any port: one client
  reqs.push_back(get("10.0.0.2:4000"));
  reqs.push_back(get("[2001:db8:1:2::1]:4000"));
  reqs.push_back(get("[2001:db8:1:2::ffff]:4001"));
  reqs.push_back(get("[2001:db8:1:2:aaaa::1]:4002"));  // the same /64: its third request
  reqs.push_back(get("[2001:db8:1:3::1]:4000"));       // another /64
  const std::vector<Response> rs = dispatch_all(router, std::move(reqs));
  EXPECT_EQ(statuses(rs), "200 200 429 200 200 200 429 200");
  EXPECT_NE(rs[2].body.find("this client"), std::string::npos) << rs[2].body;
  EXPECT_EQ(o.counters->rejected_per_client.load(), 2u);
  EXPECT_EQ(o.counters->rejected_global.load(), 0u);
}

TEST(HttpRateLimit, KeyedByAHeaderWithTheAddressForRequestsWithoutIt) {
  ManualClock clock;
  Counted routes;
  RateLimitOptions o;
  o.per_client = client_limit(1, &clock);
  o.key = RateLimitKey::kHeader;
  o.key_header = "X-Api-Key";
  const Router router = rate_limit(routes.router(), o);
  std::vector<Request> reqs;
  reqs.push_back(get("10.0.0.1:4000", "X-Api-Key", "alpha"));
  reqs.push_back(get("10.0.0.2:4000", "X-Api-Key", "alpha"));  // the key, not the address
  reqs.push_back(get("10.0.0.1:4000", "X-Api-Key", "beta"));
  reqs.push_back(get("10.0.0.9:4000"));                           // no key: its address
  reqs.push_back(get("10.0.0.1:4000", "X-Api-Key", "10.0.0.9"));  // not the address's budget
  reqs.push_back(get("10.0.0.9:4001"));
  EXPECT_EQ(statuses(dispatch_all(router, std::move(reqs))), "200 429 200 200 200 429");

  const Context none = orca::background();
  EXPECT_EQ(orca::http::rate_limit_key(none, get("[2001:db8::7]:1"), o), "a:2001:db8:0:0::/64");
  EXPECT_EQ(orca::http::rate_limit_key(none, get("1.2.3.4:5", "X-Api-Key", "k"), o), "h:k");
  const std::string long_key(1000, 'k');
  EXPECT_EQ(orca::http::rate_limit_key(none, get("1.2.3.4:5", "X-Api-Key", long_key), o).size(),
            2u + 256u)
      << "a long header value keys by its first 256 bytes";
}

TEST(HttpRateLimit, InsideProtectEachTokenHasItsOwnLimit) {
  ManualClock clock;
  Counted routes;
  RateLimitOptions o;
  o.per_client = client_limit(2, &clock);
  o.key = RateLimitKey::kPrincipal;
  auto tokens = std::make_shared<orca::http::TokenTable>();
  tokens->parse("read ops-token-0123456789ab ops;read graf-token-0123456789ab grafana", "test");
  orca::http::AccessOptions access;
  access.tokens = tokens;
  const Router router = protect(rate_limit(routes.router(), o), access);
  std::vector<Request> reqs;
  for (int i = 0; i < 3; ++i)  // from three addresses: one token, one budget
    reqs.push_back(get("10.0.0." + std::to_string(i + 1) + ":4000", "Authorization",
                       "Bearer ops-token-0123456789ab"));
  reqs.push_back(get("10.0.0.1:4000", "Authorization", "Bearer graf-token-0123456789ab"));
  reqs.push_back(get("10.0.0.1:4000"));  // no token: the policy's 401, before the limit
  const std::vector<Response> rs = dispatch_all(router, std::move(reqs));
  EXPECT_EQ(statuses(rs), "200 200 429 200 401");
  EXPECT_EQ(rs[2].headers.get("X-Frame-Options").value_or(""), "DENY")
      << "a refusal inside protect() carries its headers";
}

TEST(HttpRateLimit, AClientRefusedByItsOwnLimitTakesNothingFromTheGlobalOne) {
  ManualClock clock;
  Counted routes;
  RateLimitOptions o;
  o.per_client = client_limit(1, &clock);
  o.global = global_limit(1, 1min, 3, &clock);
  o.counters = std::make_shared<orca::http::RateLimitCounters>();
  const Router router = rate_limit(routes.router(), o);
  std::vector<Request> reqs;
  for (int i = 0; i < 5; ++i)
    reqs.push_back(get("10.0.0.1:4000"));  // one greedy client: 1 admitted, 4 refused
  reqs.push_back(get("10.0.0.2:4000"));
  reqs.push_back(get("10.0.0.3:4000"));  // the global limit's third unit
  reqs.push_back(get("10.0.0.4:4000"));  // the global limit is spent
  const std::vector<Response> rs = dispatch_all(router, std::move(reqs));
  EXPECT_EQ(statuses(rs), "200 429 429 429 429 200 200 429");
  EXPECT_NE(rs.back().body.find("the server's request rate limit"), std::string::npos)
      << rs.back().body;
  EXPECT_EQ(o.counters->rejected_per_client.load(), 4u);
  EXPECT_EQ(o.counters->rejected_global.load(), 1u);
}

// A limiter whose store is down.
class FailingLimiter final : public orca::resilience::Limiter {
 public:
  Task<orca::Result<orca::resilience::Decision>> decide(const Context&, std::string_view,
                                                        std::int64_t) override {
    co_return std::make_error_code(std::errc::connection_refused);
  }
  Task<orca::Result<orca::resilience::Grant>> take_up_to(const Context&, std::string_view,
                                                         std::int64_t) override {
    co_return std::make_error_code(std::errc::connection_refused);
  }
  Task<orca::Result<void>> give_back(const Context&, std::string_view, std::int64_t) override {
    co_return std::make_error_code(std::errc::connection_refused);
  }
};

TEST(HttpRateLimit, AFailingLimiterAdmitsAndIsCounted) {
  Counted routes;
  RateLimitOptions o;
  o.per_client = std::make_shared<FailingLimiter>();
  o.counters = std::make_shared<orca::http::RateLimitCounters>();
  const Router router = rate_limit(routes.router(), o);
  std::vector<Request> reqs;
  reqs.push_back(get("10.0.0.1:4000"));
  EXPECT_EQ(statuses(dispatch_all(router, std::move(reqs))), "200");
  EXPECT_EQ(o.counters->limiter_errors.load(), 1u);
}

TEST(HttpRateLimit, UnknownPathsAndWrongMethodsPassTheLimitToo) {
  ManualClock clock;
  Counted routes;
  RateLimitOptions o;
  o.global = global_limit(1, 1min, 2, &clock);
  const Router router = rate_limit(routes.router(), o);
  std::vector<Request> reqs;
  reqs.push_back(get("10.0.0.1:4000"));
  reqs.back().path = "/nowhere";
  reqs.push_back(get("10.0.0.1:4000"));
  reqs.back().method = "DELETE";
  reqs.push_back(get("10.0.0.1:4000"));
  EXPECT_EQ(statuses(dispatch_all(router, std::move(reqs))), "404 405 429");
}

// Over a real socket: the 429's status line, Retry-After and JSON body, as a client sees them.
TEST(HttpRateLimit, OverTheWireTheRefusalIs429WithRetryAfterAndAJsonBody) {
  Counted routes;
  RateLimitOptions o;
  o.global = global_limit(1, 1min, 2, nullptr);  // real time: a minute per unit, no race
  orca::run(
      [&]() -> Task<void> {
        orca::http::Server server(rate_limit(routes.router(), o));
        CO_ASSERT_TRUE(server.start(orca::net::Address::loopback_v4(0)).has_value());
        orca::http::Client client;
        std::vector<int> got;
        Response last;
        for (int i = 0; i < 3; ++i) {
          Request req;
          req.target = http_test::url(server, "/api/x");
          Task<orca::Result<Response>> asked = client.request(orca::background(), std::move(req));
          orca::Result<Response> answered = co_await std::move(asked);  // GCC PR 101367
          CO_ASSERT_TRUE(answered.has_value());
          got.push_back(answered->status);
          last = std::move(*answered);
        }
        EXPECT_EQ(got, (std::vector<int>{200, 200, 429}));
        const std::string retry(last.headers.get("Retry-After").value_or("0"));
        EXPECT_TRUE(retry.find_first_not_of("0123456789") == std::string::npos &&
                    std::stoi(retry) >= 1 && std::stoi(retry) <= 60)
            << "Retry-After: " << retry;
        EXPECT_EQ(last.body.substr(0, 10), "{\"error\":\"") << last.body;
        EXPECT_EQ(last.headers.get("X-Content-Type-Options").value_or(""), "nosniff");
        (void)co_await server.shutdown(orca::background());
      },
      kRun);
}

}  // namespace http_rate_limit_test
