// Helpers for the orca_redis tests: run a body on a runtime, print errors, and
// start a RedisServer or skip the test when redis-server is not installed.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <system_error>

#include "orca/orca.hpp"
#include "orca/redis/redis.hpp"
#include "support/redis_server.hpp"
#include "support/result_assertions.hpp"
#include "sync/sync_test_support.hpp"

namespace orca_redis_test {

inline std::string describe(std::error_code ec) {
  return ec ? ec.category().name() + std::string(":") + std::to_string(ec.value()) + " (" +
                  ec.message() + ")"
            : "success";
}

template <class T>
std::string describe(const orca::Result<T>& r) {
  if constexpr (std::is_same_v<T, orca::redis::Reply>) {
    if (r) return r->to_string();
  }
  return r ? std::string("a value") : describe(r.error());
}

// Runs `entry` on a runtime of `workers` threads. Inside it, use EXPECT_* and the
// CO_ASSERT_* macros (ASSERT_* would return from the coroutine).
template <class F>
void run_on(unsigned workers, F&& entry) {
  orca::RunOptions options;
  options.workers = workers;
  orca::run(std::forward<F>(entry), options);
}

inline orca::redis::RedisUrl url_of(const orca_test::RedisServer& server) {
  return orca::redis::RedisUrl::loopback(server.port());
}

// A context that ends after `limit`: every call in a test gets one, so a bug that
// makes a call hang fails the test instead of stalling the suite. Not a timing
// assertion: the limits are far above what the calls take.
struct Bounded {
  explicit Bounded(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    auto [c, cancel] = orca::with_timeout(orca::background(), limit);
    ctx = std::move(c);
    stop = std::move(cancel);
  }
  ~Bounded() { stop(); }
  orca::Context ctx;
  orca::CancelFunc stop;
};

// A command (or list of keys) from its words: cmd("SET", "k", "v"). Variadic
// rather than an initializer list: no braced list inside a co_await operand (GCC
// PR 101367 and relatives, see STYLE.md).
template <class... Words>
std::vector<std::string> cmd(Words&&... words) {
  std::vector<std::string> out;
  out.reserve(sizeof...(words));
  (out.emplace_back(std::forward<Words>(words)), ...);
  return out;
}

}  // namespace orca_redis_test

// Starts `server` (declared by the macro) with `options`, or fails the test; without
// redis-server, skips it or fails it as ORCA_REQUIRE_REDIS says.
#define ORCA_REDIS_SERVER(server, ...)        \
  ORCA_REQUIRE_REDIS();                       \
  orca_test::RedisServer server{__VA_ARGS__}; \
  ASSERT_TRUE(server.running()) << server.error()
