// Uses each installed orca library once, so that a missing header, library or
// dependency in the install fails to compile, link or run: tasks and a cancel, a
// channel, a circuit breaker and a rate limiter, an HTTP round trip on loopback, a
// job through the embedded broker, and the Redis broker's error for an unreachable
// server.
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "orca/jobs/jobs.hpp"
#include "orca/jobs/redis_broker.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/server.hpp"
#include "orca/orca.hpp"
#include "orca/resilience/resilience.hpp"

using namespace std::chrono_literals;

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

orca::Task<void> tasks_and_channels() {
  auto [ctx, cancel] = orca::with_cancel(orca::background());
  orca::WaitGroup wg;
  wg.add(1000);
  for (int i = 0; i < 1000; ++i)
    orca::go([ctx = ctx, &wg]() -> orca::Task<void> {
      co_await ctx.done();
      wg.done();
    });
  cancel();
  co_await wg.wait();
  orca::Channel<int> ch(1);
  co_await ch.send(42);
  auto got = co_await ch.recv();
  check(got && *got == 42, "1,000 tasks stopped by one cancel; a value through a channel");
}

orca::Task<void> breaker_and_limiter() {
  orca::resilience::CircuitBreaker breaker({.minimum_calls = 1, .open_duration = 1h});
  auto ctx = orca::background();
  auto fail = [](const orca::Context&) -> orca::Task<orca::Result<int>> {
    co_return std::make_error_code(std::errc::connection_refused);
  };
  (void)co_await breaker.call(ctx, fail);
  orca::Result<int> refused = co_await breaker.call(ctx, fail);
  orca::resilience::RateLimiter limiter({.events = 1, .per = 1h, .burst = 1});
  const bool first = limiter.allow();
  const bool second = limiter.allow();
  check(refused.error() == orca::resilience::errc::circuit_open && first && !second,
        "a breaker opens on failures; a rate limiter refuses past its burst");
}

orca::Task<void> http_round_trip() {
  orca::http::Router router;
  router.get("/hello", [](orca::Context, orca::http::Request) -> orca::Task<orca::http::Response> {
    co_return orca::http::Response::text(200, "hello");
  });
  orca::http::Server server(std::move(router));
  if (!server.start(orca::net::Address::loopback_v4(0))) {
    check(false, "HTTP server starts on 127.0.0.1");
    co_return;
  }
  orca::http::Client client;
  auto reply = co_await client.get(
      orca::background(),
      "http://127.0.0.1:" + std::to_string(server.local_address().port()) + "/hello");
  check(reply && reply->status == 200 && reply->body == "hello", "HTTP GET over loopback");
  co_await server.shutdown(orca::background());
}

orca::Task<void> job_on_the_embedded_broker(const std::string& dir) {
  namespace jobs = orca::jobs;
  jobs::SqliteOptions options;
  options.path = dir + "/jobs.db";
  auto opened = jobs::SqliteBroker::open(options);
  check(opened.has_value(), "the embedded broker opens its store");
  if (!opened) co_return;
  jobs::SqliteBroker& broker = **opened;
  auto [ctx, stop] = orca::with_cancel(orca::background());
  jobs::Center center(broker, {});
  jobs::Node node(broker, {});
  node.handle("greet", [](orca::Context, jobs::Job) -> orca::Task<orca::Result<void>> {
    co_return orca::Result<void>{};
  });
  center.attach(node);
  auto center_task = orca::spawn([&center, ctx = ctx] { return center.run(ctx); });
  auto node_task = orca::spawn([&node, ctx = ctx] { return node.run(ctx); });
  jobs::JobSpec spec;
  spec.type = "greet";
  auto submitted = co_await center.submit(orca::background(), spec);
  bool succeeded = false;
  for (int i = 0; submitted && i < 1000 && !succeeded; ++i) {
    auto job = co_await broker.get(orca::background(), submitted->id);
    succeeded = job && job->state == jobs::JobState::kSucceeded;
    if (!succeeded) co_await orca::sleep_for(10ms);
  }
  check(succeeded, "a job submitted, run by a node and acknowledged in SQLite");
  stop();
  (void)co_await std::move(center_task);
  (void)co_await std::move(node_task);
}

orca::Task<void> redis_broker_reports_an_unreachable_server() {
  orca::jobs::RedisBrokerOptions options;
  options.url = "redis://127.0.0.1:1/0";  // nothing listens on port 1
  auto [ctx, cancel] = orca::with_timeout(orca::background(), 2s);
  auto broker = co_await orca::jobs::RedisBroker::connect(ctx, options);
  check(!broker, "the Redis broker reports an unreachable server as an error");
}

}  // namespace

int main() {
  std::string dir = (std::filesystem::temp_directory_path() / "orca-consumer-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return 1;
  orca::run([&]() -> orca::Task<void> {
    co_await tasks_and_channels();
    co_await breaker_and_limiter();
    co_await http_round_trip();
    co_await job_on_the_embedded_broker(dir);
    co_await redis_broker_reports_an_unreachable_server();
  });
  std::filesystem::remove_all(dir);
  std::printf("%s\n", failures == 0 ? "orca consumer: all checks passed" : "orca consumer: FAILED");
  return failures == 0 ? 0 : 1;
}
