// FleetRateLimiter against a real redis-server: limiters in different processes (here:
// different clients) that name one key share one limit, by the server's clock.
#include <gtest/gtest.h>

#include <string>

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

TEST(FleetRateLimiter, RatesBeyondItsResolutionAreRefused) {
  Client unconnected;
  EXPECT_THROW(FleetRateLimiter(unconnected, "x:", {.events = 2'000'000, .per = 1s}),
               std::invalid_argument);
  EXPECT_THROW(FleetRateLimiter(unconnected, "x:", {.events = -1}), std::invalid_argument);
}

}  // namespace
