// FleetRateLimiter against a real redis-server: limiters in different processes (here:
// different clients) that name one key share one limit, by the server's clock.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "orca/redis/rate_limiter.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using orca::redis::Client;
using orca::redis::FleetRateLimiter;
using orca_redis_test::Bounded;
using orca_redis_test::describe;
using orca_redis_test::run_on;
using orca_redis_test::url_of;

namespace {

// One unit an hour, bursts of 5: nothing refills during a test, so every count below
// holds by construction, however slow the machine.
constexpr orca::resilience::RateLimiterOptions kSlow{.events = 1, .per = 1h, .burst = 5};

TEST(FleetRateLimiter, LimitersOnOneKeyShareOneLimit) {
  ORCA_REDIS_SERVER(server);
  int admitted_a = 0, admitted_b = 0, other_key = 0;
  bool refused_waits_most_of_an_hour = false;
  std::error_code too_large;
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client_a = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(client_a);
    auto client_b = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_OK(client_b);
    FleetRateLimiter a(*client_a, "test:limit:", kSlow);
    FleetRateLimiter other(*client_b, "test:limit:", kSlow);
    for (int i = 0; i < 3; ++i) {
      auto d = co_await a.decide(b.ctx, "email");
      if (d && d->allowed) ++admitted_a;
    }
    for (int i = 0; i < 4; ++i) {
      auto d = co_await other.decide(b.ctx, "email");
      if (d && d->allowed) ++admitted_b;
      if (d && !d->allowed) refused_waits_most_of_an_hour = d->retry_after > 59min;
    }
    auto sms = co_await other.decide(b.ctx, "sms");
    if (sms && sms->allowed) ++other_key;
    auto big = co_await a.decide(b.ctx, "email", 6);
    too_large = std::error_code(big.error());
  });
  EXPECT_EQ(admitted_a, 3);
  EXPECT_EQ(admitted_b, 2) << "the second limiter gets what the first left of the burst";
  EXPECT_TRUE(refused_waits_most_of_an_hour);
  EXPECT_EQ(other_key, 1) << "another key has its own limit";
  EXPECT_EQ(too_large, orca::resilience::make_error_code(orca::resilience::errc::too_large));
}

TEST(FleetRateLimiter, TakeUpToGrantsWhatIsLeftAndGiveBackReturnsItToOthers) {
  ORCA_REDIS_SERVER(server);
  std::int64_t first = -1, second = -1, after_give_back = -1, when_spent = -1, zero = -1;
  std::chrono::nanoseconds refused_wait{0};
  run_on(2, [&]() -> orca::Task<void> {
    Bounded b;
    auto client_a = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client_a);
    auto client_b = co_await Client::connect(b.ctx, url_of(server));
    CO_ASSERT_TRUE(client_b);
    FleetRateLimiter a(*client_a, "test:limit:", kSlow);
    FleetRateLimiter other(*client_b, "test:limit:", kSlow);
    auto g1 = co_await a.take_up_to(b.ctx, "email", 3);
    CO_ASSERT_TRUE(g1);
    first = g1->granted;
    auto g2 = co_await other.take_up_to(b.ctx, "email", 10);
    CO_ASSERT_TRUE(g2);
    second = g2->granted;
    auto back = co_await a.give_back(b.ctx, "email", 2);
    CO_ASSERT_TRUE(back);
    auto g3 = co_await other.take_up_to(b.ctx, "email", 10);
    CO_ASSERT_TRUE(g3);
    after_give_back = g3->granted;
    auto g4 = co_await a.take_up_to(b.ctx, "email", 1);
    CO_ASSERT_TRUE(g4);
    when_spent = g4->granted;
    refused_wait = g4->retry_after;
    auto g5 = co_await a.take_up_to(b.ctx, "sms", 0);
    CO_ASSERT_TRUE(g5);
    zero = g5->granted;
  });
  EXPECT_EQ(first, 3);
  EXPECT_EQ(second, 2) << "what the first left of the burst of 5, not the 10 asked";
  EXPECT_EQ(after_give_back, 2) << "the 2 units given back, to another client";
  EXPECT_EQ(when_spent, 0);
  EXPECT_GT(refused_wait, 59min) << "one unit an hour";
  EXPECT_EQ(zero, 0);
}

TEST(FleetRateLimiter, AnUnreachableServerGrantsNothingAtOnce) {
  std::int64_t granted = -1;
  std::error_code error;
  {
    ORCA_REDIS_SERVER(server);
    run_on(1, [&]() -> orca::Task<void> {
      Bounded b;
      auto client = co_await Client::connect(b.ctx, url_of(server));
      CO_ASSERT_TRUE(client);
      FleetRateLimiter limiter(*client, "test:limit:", kSlow);
      co_await orca::blocking([&] { server.stop(); });
      // Until the client has seen the connection go, a call may still be in flight:
      // each fails once the server is gone, and none waits for it to come back.
      for (int i = 0; i < 3; ++i) {
        auto g = co_await limiter.take_up_to(b.ctx, "email", 5);
        if (g) {
          granted = g->granted;
          continue;
        }
        error = g.error();
        break;
      }
      co_await client->closed();
    });
  }
  EXPECT_TRUE(error) << "take_up_to on a stopped server must fail, got " << granted << " granted";
  EXPECT_NE(error, make_error_code(orca::errc::deadline_exceeded)) << "it failed at once";
}

// Three processes (limiter_process.cpp) draw on one limit for a second each, as fast
// as Redis answers. GCRA on the server's clock admits exactly burst + rate * t over
// an interval t of unbroken demand (±1), so the units they kept, against what the
// limit allows over the interval by the server's clock (from just before the first
// call to just after the last), must agree within 1%. The burst (25 ms of the rate)
// absorbs a scheduling pause of all three processes, so a slow machine does not
// leave the limit idle; the interval is measured, so it does not make the count off.
TEST(FleetRateLimiter, ThreeProcessesAdmitWithinOnePercentOfTheLimit) {
  ORCA_REDIS_SERVER(server);
  constexpr double kRate = 2000;
  constexpr std::int64_t kBurst = 50;
  std::vector<pid_t> pids;
  std::vector<std::string> outs;
  for (int p = 0; p < 3; ++p) {
    outs.push_back(server.dir() + "/limiter" + std::to_string(p) + ".out");
    pids.push_back(
        orca_test::redis_detail::spawn({ORCA_REDIS_LIMITER_PROCESS, server.url(), "accuracy",
                                        std::to_string(kRate), std::to_string(kBurst), "8", "1000"},
                                       server.dir(), outs.back()));
    ASSERT_GT(pids.back(), 0) << "fork failed";
  }
  std::int64_t kept = 0, first = 0, last = 0, latest_first = 0, earliest_last = 0;
  for (int p = 0; p < 3; ++p) {
    int status = 0;
    if (!orca_test::redis_detail::reap_within(pids[p], std::chrono::seconds(60), &status)) {
      for (pid_t pid : pids)
        ::kill(pid, SIGKILL);
      FAIL() << "limiter process " << p << " did not finish";
    }
    // Its "result KEPT FIRST LAST" line, among whatever else it wrote.
    std::ifstream in(outs[p]);
    std::string line, all;
    std::int64_t k = -1, f = -1, l = -1;
    while (std::getline(in, line)) {
      all.append(line).append("\n");
      long long kk = -1, ff = -1, ll = -1;
      if (std::sscanf(line.c_str(), "result %lld %lld %lld", &kk, &ff, &ll) == 3) {
        k = kk;
        f = ff;
        l = ll;
      }
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0 && k >= 0 && f > 0 && l > 0)
        << "limiter process " << p << " failed; it wrote:\n"
        << all;
    kept += k;
    first = p == 0 ? f : std::min(first, f);
    last = p == 0 ? l : std::max(last, l);
    latest_first = p == 0 ? f : std::max(latest_first, f);
    earliest_last = p == 0 ? l : std::min(earliest_last, l);
  }
  ASSERT_LT(latest_first, earliest_last) << "the processes' intervals must overlap (unbroken "
                                            "demand); one started after another ended";
  const double seconds = static_cast<double>(last - first) / 1e6;
  const double allowed = static_cast<double>(kBurst) + kRate * seconds;
  const double error_pct = 100.0 * (static_cast<double>(kept) - allowed) / allowed;
  EXPECT_LE(kept, static_cast<std::int64_t>(allowed) + 1)
      << "kept " << kept << " units over " << seconds << " s, the limit allows " << allowed;
  EXPECT_LT(std::abs(error_pct), 1.0)
      << "kept " << kept << " units over " << seconds << " s, want " << allowed << " within 1%";
}

TEST(FleetRateLimiter, RatesBeyondItsResolutionAreRefused) {
  Client unconnected;
  EXPECT_THROW(FleetRateLimiter(unconnected, "x:", {.events = 2'000'000, .per = 1s}),
               std::invalid_argument);
  EXPECT_THROW(FleetRateLimiter(unconnected, "x:", {.events = -1}), std::invalid_argument);
}

}  // namespace
