// Bad configuration is refused with a message naming the value and the rule, by
// validate() and by the constructors (std::invalid_argument with the same message).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "orca/resilience/resilience.hpp"

using namespace std::chrono_literals;
namespace res = orca::resilience;

namespace {

template <class Component, class Options>
void expect_refused(const Options& options, const std::string& want) {
  const std::string why = res::validate(options);
  EXPECT_NE(why.find(want), std::string::npos)
      << "got \"" << why << "\", want it to say \"" << want << "\"";
  try {
    Component c(options);
    ADD_FAILURE() << "constructed despite: " << want;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), why);
  }
}

TEST(Config, CircuitBreakerRefusesBadValues) {
  res::CircuitBreakerOptions o;
  o.failure_rate_threshold = 150;
  expect_refused<res::CircuitBreaker>(o, "failure_rate_threshold is 150");
  o.failure_rate_threshold = -1;
  expect_refused<res::CircuitBreaker>(o, "must be above 0 and at most 100");
  o = {};
  o.window_size = 0;
  expect_refused<res::CircuitBreaker>(o, "window_size is 0");
  o = {};
  o.window = res::WindowKind::kTime;
  o.window_duration = 0s;
  expect_refused<res::CircuitBreaker>(o, "window_duration is 0 ns");
  o = {};
  o.minimum_calls = 500;
  expect_refused<res::CircuitBreaker>(o, "minimum_calls (500) exceeds window_size (100)");
  o = {};
  o.half_open_probes = 0;
  expect_refused<res::CircuitBreaker>(o, "half_open_probes is 0");
  o = {};
  o.open_duration = -1s;
  expect_refused<res::CircuitBreaker>(o, "open_duration is -1000000000 ns");
  EXPECT_EQ(res::validate(res::CircuitBreakerOptions{}), "");
}

TEST(Config, RateLimiterRefusesBadValues) {
  expect_refused<res::RateLimiter>(res::RateLimiterOptions{.events = -5}, "events is -5");
  expect_refused<res::RateLimiter>(res::RateLimiterOptions{.events = 0},
                                   "the rate must be above 0");
  expect_refused<res::RateLimiter>(res::RateLimiterOptions{.per = 0s}, "per is 0 ns");
  expect_refused<res::RateLimiter>(res::RateLimiterOptions{.burst = 0}, "burst is 0");
  expect_refused<res::RateLimiter>(res::RateLimiterOptions{.events = 2e9},
                                   "more than one per nanosecond");
  expect_refused<res::KeyedRateLimiter>(res::KeyedRateLimiterOptions{.max_keys = 0},
                                        "max_keys is 0");
}

TEST(Config, RetryRefusesBadValues) {
  expect_refused<res::Retry>(res::RetryOptions{.max_attempts = 0}, "max_attempts is 0");
  expect_refused<res::Retry>(res::RetryOptions{.initial_backoff = 2s, .max_backoff = 1s},
                             "max_backoff (1000000000 ns) is below initial_backoff");
  expect_refused<res::Retry>(res::RetryOptions{.multiplier = 0.5}, "multiplier is 0.5");
  expect_refused<res::RetryBudget>(res::RetryBudgetOptions{.ratio = -0.1}, "ratio is -0.1");
  expect_refused<res::RetryBudget>(res::RetryBudgetOptions{.min_per_second = -1},
                                   "min_per_second is -1");
  expect_refused<res::RetryBudget>(res::RetryBudgetOptions{.ttl = 0s}, "ttl is 0 ns");
}

TEST(Config, BulkheadAndAdaptiveLimiterRefuseBadValues) {
  expect_refused<res::Bulkhead>(res::BulkheadOptions{.max_concurrent = 0}, "max_concurrent is 0");
  expect_refused<res::Bulkhead>(res::BulkheadOptions{.max_queue = -1}, "max_queue is -1");
  expect_refused<res::Bulkhead>(res::BulkheadOptions{.queue_timeout = -1ms},
                                "queue_timeout is negative");
  expect_refused<res::AdaptiveLimiter>(res::AdaptiveLimiterOptions{.min_limit = 0},
                                       "min_limit is 0");
  expect_refused<res::AdaptiveLimiter>(res::AdaptiveLimiterOptions{.initial_limit = 5000},
                                       "initial_limit is 5000");
  expect_refused<res::AdaptiveLimiter>(res::AdaptiveLimiterOptions{.tolerance = 0.5},
                                       "tolerance is 0.5");
  expect_refused<res::AdaptiveLimiter>(res::AdaptiveLimiterOptions{.backoff_ratio = 1.5},
                                       "backoff_ratio is 1.5");
}

}  // namespace
