// Adaptive load shedding as router middleware (load_shedding.hpp): past the limiter's
// concurrency limit a request is 503 with Retry-After, low-priority requests are shed
// first (past their share of the limit), and what the responses teach the limiter
// (a 503 from the handler is a drop, a 4xx no sample). Requests are held in flight by
// a handler that waits until the test releases it: no sleeps, no timing.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "http_test_support.hpp"
#include "orca/net/http/load_shedding.hpp"

// Named, not anonymous: the test programs are built in unity batches, where two
// files' anonymous namespaces would be one.
namespace http_load_shedding_test {

using http_test::kRun;
using orca::Context;
using orca::Task;
using orca::http::LoadSheddingOptions;
using orca::http::Request;
using orca::http::Response;
using orca::http::Router;
using orca::resilience::AdaptiveLimiter;
using orca::resilience::AdaptiveLimiterOptions;

Request get(std::string path, bool low = false) {
  Request req;
  req.method = "GET";
  req.target = req.path = std::move(path);
  req.remote_address = "127.0.0.1:4000";
  if (low) req.headers.set("X-Priority", "Low");  // compared without case
  return req;
}

// "/block" waits for `gate` after counting itself in `entered`; "/fast" answers at once;
// "/status/{code}" answers that status.
struct Routes {
  orca::WaitGroup entered;
  orca::WaitGroup gate;
  Router router() {
    Router r;
    r.get("/block", [this](Context ctx, Request) -> Task<Response> {
      entered.done();
      (void)co_await gate.wait(ctx);
      co_return Response::json(200, "{}");
    });
    r.get("/fast", [](Context, Request) -> Task<Response> { co_return Response::json(200, "{}"); });
    r.get("/status/{code}", [](Context, Request req) -> Task<Response> {
      co_return Response::error(std::stoi(std::string(req.path_param("code").value_or("500"))),
                                "as asked");
    });
    return r;
  }
};

Task<Response> call(const Router* router, Request req) {
  Task<Response> answered = router->dispatch(orca::background(), std::move(req));
  co_return co_await std::move(answered);
}

std::shared_ptr<AdaptiveLimiter> fixed_limit(int limit) {
  AdaptiveLimiterOptions o;
  o.initial_limit = o.min_limit = o.max_limit = limit;  // held: the test needs it fixed
  return std::make_shared<AdaptiveLimiter>(o);
}

TEST(HttpLoadShedding, PastTheLimitIs503AndLowPriorityIsShedFirst) {
  Routes routes;
  LoadSheddingOptions o;
  o.limiter = fixed_limit(4);
  o.low_priority_share = 0.5;  // low priority: at most 2 in flight, itself included
  o.counters = std::make_shared<orca::http::LoadSheddingCounters>();
  const Router router = shed_load(routes.router(), o);
  orca::run(
      [&]() -> Task<void> {
        auto hold = [&](int n) {
          routes.entered.add(n);
          std::vector<orca::JoinHandle<Response>> held;
          for (int i = 0; i < n; ++i)
            held.push_back(orca::spawn([&router] { return call(&router, get("/block")); }));
          return held;
        };
        routes.gate.add(1);
        Task<Response> idle = call(&router, get("/fast", true));  // named: GCC PR 101367
        Response r = co_await std::move(idle);
        EXPECT_EQ(r.status, 200) << "low priority passes on an idle server";

        std::vector<orca::JoinHandle<Response>> held = hold(2);
        co_await routes.entered.wait();
        Task<Response> low = call(&router, get("/fast", true));
        r = co_await std::move(low);
        EXPECT_EQ(r.status, 503) << "2 in flight: a low-priority one would be the third";
        EXPECT_NE(r.body.find("low-priority"), std::string::npos) << r.body;
        EXPECT_EQ(r.headers.get("Retry-After").value_or("none"), "1");
        Task<Response> normal = call(&router, get("/fast"));
        r = co_await std::move(normal);
        EXPECT_EQ(r.status, 200) << "the rest may use the whole limit";

        for (auto& h : hold(2))
          held.push_back(std::move(h));
        co_await routes.entered.wait();
        EXPECT_EQ(o.limiter->inflight(), 4);
        Task<Response> over = call(&router, get("/fast"));
        r = co_await std::move(over);
        EXPECT_EQ(r.status, 503) << "4 in flight: the limit";
        EXPECT_NE(r.body.find("overloaded"), std::string::npos) << r.body;
        EXPECT_EQ(r.headers.get("Content-Type").value_or(""), "application/json");

        routes.gate.done();
        for (auto& h : held) {
          Response done = co_await std::move(h);
          EXPECT_EQ(done.status, 200);
        }
        EXPECT_EQ(o.limiter->inflight(), 0) << "every permit is given back";
        Task<Response> after = call(&router, get("/fast", true));
        r = co_await std::move(after);
        EXPECT_EQ(r.status, 200);
      },
      kRun);
  EXPECT_EQ(o.counters->shed.load(), 1u);
  EXPECT_EQ(o.counters->shed_low_priority.load(), 1u);
}

TEST(HttpLoadShedding, TheHandlersOverloadLowersTheLimitABadRequestDoesNot) {
  Routes routes;
  AdaptiveLimiterOptions aimd;
  aimd.algorithm = orca::resilience::AdaptiveAlgorithm::kAimd;
  aimd.initial_limit = aimd.max_limit = 10;
  aimd.backoff_ratio = 0.5;
  LoadSheddingOptions o;
  o.limiter = std::make_shared<AdaptiveLimiter>(aimd);
  const Router router = shed_load(routes.router(), o);
  orca::run(
      [&]() -> Task<void> {
        // AIMD decides once per 10 samples: 10 bad requests are none.
        for (int i = 0; i < 10; ++i) {
          Task<Response> answered = call(&router, get("/status/400"));
          const Response r = co_await std::move(answered);
          EXPECT_EQ(r.status, 400);
        }
        EXPECT_EQ(o.limiter->limit(), 10) << "a 4xx says nothing about capacity";
        for (int i = 0; i < 10; ++i) {
          Task<Response> answered = call(&router, get("/status/503"));
          const Response r = co_await std::move(answered);
          EXPECT_EQ(r.status, 503);
        }
        EXPECT_EQ(o.limiter->limit(), 5) << "the handler's 503s are drops: the limit halves";
      },
      kRun);
}

TEST(HttpLoadShedding, BadOptionsAreRefusedNamingTheValue) {
  LoadSheddingOptions o;
  EXPECT_THROW((void)shed_load(Router(), o), std::invalid_argument) << "no limiter";
  o.limiter = fixed_limit(4);
  o.low_priority_share = 1.5;
  try {
    (void)shed_load(Router(), o);
    ADD_FAILURE() << "a share of 1.5 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("low_priority_share is 1.5"), std::string::npos)
        << e.what();
  }
  o.low_priority_share = 0.5;
  o.retry_after = std::chrono::seconds(0);
  EXPECT_THROW((void)shed_load(Router(), o), std::invalid_argument);
}

}  // namespace http_load_shedding_test
