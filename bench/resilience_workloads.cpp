// Resilience workloads: limiter_local_t1/_t2 (orca's side of bench/peers/go's
// limiterbench.go, Go's golang.org/x/time/rate) and breaker_overhead_t1/_t2.
//
// Both run on plain threads (the decisions never park), each thread making a fixed
// number of decisions between two barriers; the metric is the per-thread cost,
// wall time * threads / decisions, so perfect scaling keeps it at the one-thread
// figure and contention shows as a rise.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "orca/resilience/circuit_breaker.hpp"
#include "orca/resilience/rate_limiter.hpp"

using namespace std::chrono_literals;

namespace orca::bench {
namespace {

// Runs body(thread_index) on `threads` threads started together; returns the wall
// time from the start signal until the last one finished, in ns.
template <class Body>
double timed_threads(int threads, Body body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      body(t);
    });
  while (ready.load() < threads) {
  }
  const auto t0 = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : pool)
    th.join();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// A limiter of 1,000,000/s with a burst of 1,000 (the Go peer's rate.NewLimiter(1e6,
// 1000)), asked as fast as the threads can: most decisions are refusals, as at a
// gateway under overload, and about a million a second are admissions.
void limiter_local(int threads, const char* workload) {
  constexpr std::int64_t kDecisions = 10'000'000;  // per thread
  resilience::RateLimiter limiter({.events = 1e6, .per = 1s, .burst = 1000, .clock = nullptr});
  std::vector<std::int64_t> admitted(static_cast<std::size_t>(threads));
  const double ns = timed_threads(threads, [&](int t) {
    std::int64_t mine = 0;
    for (std::int64_t i = 0; i < kDecisions; ++i)
      mine += limiter.allow() ? 1 : 0;
    admitted[static_cast<std::size_t>(t)] = mine;
  });
  std::int64_t total = 0;
  for (auto a : admitted)
    total += a;
  // At most the burst plus the rate over the run (a millisecond of slack for the
  // threads' start), and some admissions at all.
  const double most = 1000 + 1e6 * (ns / 1e9) + 1000;
  check(total > 0 && static_cast<double>(total) <= most, "%s: admitted %lld, at most %.0f allowed",
        workload, static_cast<long long>(total), most);
  emit(workload, "ns_per_decision", ns * threads / static_cast<double>(kDecisions * threads), "ns",
       "lower");
}

// Calls through a closed breaker (default options: a count window of 100, 15%): each
// call is try_acquire() and Permit::record(true, elapsed) with an elapsed the caller
// measured anyway (the clock reads are the caller's, not the breaker's).
void breaker_overhead(int threads, const char* workload) {
  constexpr std::int64_t kCalls = 20'000'000;  // per thread
  resilience::CircuitBreaker breaker;
  std::atomic<std::int64_t> refused{0};
  const double ns = timed_threads(threads, [&](int) {
    std::int64_t mine = 0;
    for (std::int64_t i = 0; i < kCalls; ++i) {
      auto permit = breaker.try_acquire();
      if (!permit) {
        ++mine;
        continue;
      }
      permit.record(true, 1ms);
    }
    refused.fetch_add(mine);
  });
  check(refused.load() == 0 && breaker.state() == resilience::BreakerState::kClosed,
        "%s: a breaker seeing only successes refused %lld calls", workload,
        static_cast<long long>(refused.load()));
  emit(workload, "ns_per_call", ns * threads / static_cast<double>(kCalls * threads), "ns",
       "lower");
}

}  // namespace orca::bench
