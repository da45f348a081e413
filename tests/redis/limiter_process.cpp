// orca_redis_limiter_process: one process of the FleetRateLimiter accuracy test
// (rate_limiter_test.cpp). CALLERS tasks take units of one limit as fast as Redis
// answers for MS milliseconds, each in turn asking decide for 1 unit, take_up_to for 3,
// decide for 1, take_up_to for 1, and giving one back from every other grant of 3 (as
// a claim that found fewer jobs does). Half the calls are decide(), so concurrent ones
// are coalesced into batches (rate_limiter.hpp) beside the single take_up_to calls.
// The processes start drawing together: each counts itself in on KEY:arrived and
// waits until PROCS have (so their intervals of demand coincide to a millisecond).
// Prints one line, "result KEPT FIRST LAST REFUSED": the units kept, the server's TIME
// (microseconds) just before the first call and just after the last, so the test can tell the
// interval the limit was under demand by the server's own clock, and the units asked for and
// refused (how far demand exceeded the limit).
//
//   orca_redis_limiter_process URL KEY RATE BURST CALLERS MS PROCS
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "orca/orca.hpp"
#include "orca/redis/rate_limiter.hpp"
#include "orca/redis/redis.hpp"

namespace {

orca::Task<std::int64_t> server_time_us(const orca::Context& ctx, orca::redis::Client& client) {
  std::vector<std::string> time{"TIME"};
  auto r = co_await client.command(ctx, std::move(time));
  if (!r || r->elements().size() != 2) co_return -1;
  co_return std::atoll(r->elements()[0].str().c_str()) * 1'000'000 +
      std::atoll(r->elements()[1].str().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: %s URL KEY RATE BURST CALLERS MS PROCS\n", argv[0]);
    return 2;
  }
  const std::string key = argv[2];
  orca::resilience::RateLimiterOptions options;
  options.events = std::atof(argv[3]);
  options.burst = std::atoll(argv[4]);
  const int callers = std::atoi(argv[5]);
  const auto run_for = std::chrono::milliseconds(std::atoll(argv[6]));
  const long long procs = std::atoll(argv[7]);
  auto url = orca::redis::RedisUrl::parse(argv[1]);
  if (!url) return 2;
  return orca::run([&]() -> orca::Task<int> {
    auto [ctx, stop] = orca::with_timeout(orca::background(), run_for + std::chrono::seconds(30));
    orca::redis::ClientOptions co;
    co.pool_size = 2;
    auto client = co_await orca::redis::Client::connect(ctx, *url, co);
    if (!client) {
      std::fprintf(stderr, "connect: %s\n", client.error().message().c_str());
      co_return 1;
    }
    orca::redis::FleetRateLimiter limiter(*client, "test:limit:", options);
    std::atomic<std::int64_t> kept{0};
    std::atomic<std::int64_t> refused{0};  // units asked for and not granted
    std::atomic<int> failures{0};
    std::vector<std::string> arrive{"INCR", key + ":arrived"};
    auto arrived = co_await client->command(ctx, std::move(arrive));
    for (;;) {
      if (!arrived || arrived->is_error()) {
        std::fprintf(stderr, "waiting for the other processes failed\n");
        co_return 1;
      }
      if (arrived->integer() >= procs) break;
      co_await orca::sleep_for(std::chrono::milliseconds(1));
      std::vector<std::string> get{"INCRBY", key + ":arrived", "0"};
      arrived = co_await client->command(ctx, std::move(get));
    }
    const std::int64_t first = co_await server_time_us(ctx, *client);
    const auto until = orca::Clock::now() + run_for;
    std::vector<orca::JoinHandle<void>> tasks;
    for (int c = 0; c < callers; ++c)
      tasks.push_back(orca::spawn([&, ctx = ctx]() -> orca::Task<void> {
        for (int i = 0; orca::Clock::now() < until; ++i) {
          if (i % 2 == 1) {
            auto d = co_await limiter.decide(ctx, key);
            if (!d) {
              failures.fetch_add(1);
              co_return;
            }
            (d->allowed ? kept : refused).fetch_add(1);
            continue;
          }
          const std::int64_t want = i % 4 == 0 ? 3 : 1;
          auto g = co_await limiter.take_up_to(ctx, key, want);
          if (!g) {
            failures.fetch_add(1);
            co_return;
          }
          std::int64_t got = g->granted;
          refused.fetch_add(want - got);
          if (got == 3 && i % 8 == 0) {
            auto back = co_await limiter.give_back(ctx, key, 1);
            if (!back) failures.fetch_add(1);
            --got;
          }
          kept.fetch_add(got);
        }
      }));
    for (auto& t : tasks)
      co_await std::move(t);
    const std::int64_t last = co_await server_time_us(ctx, *client);
    stop();
    co_await client->closed();
    if (failures.load() > 0 || first < 0 || last < 0) {
      std::fprintf(stderr, "%d calls failed\n", failures.load());
      co_return 1;
    }
    // One tagged line, flushed at once: the output file also takes stderr, where the
    // runtime may write (e.g. its held-worker notice under a sanitizer).
    std::printf("result %lld %lld %lld %lld\n", static_cast<long long>(kept.load()),
                static_cast<long long>(first), static_cast<long long>(last),
                static_cast<long long>(refused.load()));
    std::fflush(stdout);
    co_return 0;
  });
}
