// adaptive_limit: an AdaptiveLimiter (the gradient, as `orca worker --concurrency auto`
// uses it) finding the capacity of a simulated dependency; its peer, impl "fixed", is the
// same driver under a fixed limit of 1,000.
//
// The dependency serves kCapacity (100) calls at once, each for 10 ms on average: a FIFO
// Semaphore of 100 held across a sleep uniform in 9..11 ms, so that past 100 calls in
// flight the others queue and a call's latency rises to 10 ms * in_flight / 100 on
// average. (With exactly 10 ms each, the closed loop below stays in the phase it started
// in: calls finish in waves, and a queued call waits for the next wave, a whole service
// time, so that any queue at all makes the p99 2x; measured 2.14x, docs/BENCHMARKS.md.
// Real dependencies vary.) The load never runs dry:
// a driver keeps as many calls in flight as the limiter admits, starting more at every
// completion (as a job node with a deep queue keeps its claims at its limit). One run lasts
// kRun (10 s); the limit is read every 10 ms.
//
// Metrics: converged_limit, the median limit over the last kSteady (5 s); converge_s, from
// the start until the limit entered 80..120 (within 20% of the capacity) for the rest of
// the run, not emitted if it did not stay there for at least the last kSteady; latency_p99_ms, of
// the calls that finished in the last kSteady; unloaded_latency_ms, the median of 50 calls made one
// at a time before the run (what "p99 at most 2x the unloaded latency" is measured against);
// calls_per_sec over the last kSteady (the dependency's ceiling is 100 / 10 ms = 10,000/s).
//
// ORCA_BENCH_MIN_RTT_PERIOD_MS, if set, replaces the limiter's min_rtt_period (e.g. 0: a
// re-measurement every min_rtt_interval samples, as before that option existed), to
// show what the period buys; bench/run never sets it.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <utility>
#include <variant>
#include <vector>

#include "bench_util.hpp"
#include "orca/orca.hpp"
#include "orca/resilience/adaptive_limiter.hpp"

using namespace std::chrono_literals;

namespace orca::bench {
namespace {

constexpr int kCapacity = 100;
constexpr auto kServiceMin = 9ms;
constexpr auto kServiceSpread = 2ms;  // uniform in kServiceMin + [0, kServiceSpread)
constexpr auto kRun = 10s;
constexpr auto kSteady = 5s;
constexpr auto kLimitEvery = 10ms;
constexpr int kFixedLimit = 1000;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Driver {
  explicit Driver(resilience::AdaptiveLimiter& l) : limiter(l) {}

  Semaphore dependency{kCapacity};
  resilience::AdaptiveLimiter& limiter;
  Channel<std::monostate> freed{1};  // a call finished: the driver refills
  WaitGroup calls;
  Clock::time_point start{};
  std::mutex mu;
  std::vector<std::pair<double, double>> finished;  // (seconds since start, latency ms); mu
};

// One call's service time (a fixed seed per thread: the same sequence each run).
Clock::duration service_time() {
  thread_local std::minstd_rand rng(20261207);
  std::uniform_int_distribution<std::int64_t> spread(
      0, std::chrono::duration_cast<std::chrono::microseconds>(kServiceSpread).count() - 1);
  return kServiceMin + std::chrono::microseconds(spread(rng));
}

// One call of the dependency: its latency, queueing included.
Task<Clock::duration> call_dependency(Semaphore& dependency) {
  const auto t0 = Clock::now();
  (void)co_await dependency.acquire();
  (void)co_await sleep_for(service_time());
  dependency.release();
  co_return Clock::now() - t0;
}

Task<void> one_call(Driver* d, resilience::AdaptiveLimiter::Permit permit) {
  const Clock::duration latency = co_await call_dependency(d->dependency);
  permit.record(latency);
  const auto now = Clock::now();
  {
    std::lock_guard lock(d->mu);
    d->finished.emplace_back(seconds_between(d->start, now),
                             std::chrono::duration<double, std::milli>(latency).count());
  }
  (void)d->freed.try_send(std::monostate{});  // full: a refill is due anyway
  d->calls.done();
}

// Keeps the limiter's limit of calls in flight until ctx ends; returns the limit read
// every kLimitEvery, as (seconds since start, limit).
Task<std::vector<std::pair<double, int>>> drive(Context ctx, Driver* d) {
  std::vector<std::pair<double, int>> limits;
  auto next_read = d->start;
  while (!ctx.is_done()) {
    for (;;) {
      resilience::AdaptiveLimiter::Permit permit = d->limiter.try_acquire();
      if (!permit) break;
      d->calls.add(1);
      go([d, p = std::move(permit)]() mutable { return one_call(d, std::move(p)); });
    }
    const auto now = Clock::now();
    if (now >= next_read) {
      limits.emplace_back(seconds_between(d->start, now), d->limiter.limit());
      next_read += kLimitEvery;
    }
    auto woke = co_await select(ctx, recv(d->freed), after(1ms));
    (void)woke;
  }
  co_await d->calls.wait();
  co_return limits;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

}  // namespace

void adaptive_limit(bool fixed) {
  const char* impl = fixed ? "fixed" : "orca";
  resilience::AdaptiveLimiterOptions options;
  if (fixed) {
    // A limit that never moves: AIMD between equal bounds.
    options.algorithm = resilience::AdaptiveAlgorithm::kAimd;
    options.initial_limit = options.min_limit = options.max_limit = kFixedLimit;
  }  // else the defaults: gradient, 1..1000, from 20, tolerance 1.05
  if (const char* period = std::getenv("ORCA_BENCH_MIN_RTT_PERIOD_MS"))
    options.min_rtt_period = std::chrono::milliseconds(std::atoll(period));
  resilience::AdaptiveLimiter limiter(options);
  Driver driver(limiter);
  double unloaded_ms = 0;
  std::vector<std::pair<double, int>> limits;
  orca::run([&]() -> Task<void> {
    std::vector<double> alone;
    for (int i = 0; i < 50; ++i) {
      const Clock::duration latency = co_await call_dependency(driver.dependency);
      alone.push_back(std::chrono::duration<double, std::milli>(latency).count());
    }
    unloaded_ms = percentile(alone, 0.5);
    driver.start = Clock::now();
    auto [ctx, stop] = with_timeout(background(), kRun);
    limits = co_await drive(ctx, &driver);
    stop();
  });

  const double run_s = std::chrono::duration<double>(kRun).count();
  const double steady_from = run_s - std::chrono::duration<double>(kSteady).count();
  std::vector<double> steady_limits;
  for (const auto& [t, limit] : limits)
    if (t >= steady_from) steady_limits.push_back(limit);
  std::vector<double> steady_latencies;
  for (const auto& [t, ms] : driver.finished)
    if (t >= steady_from && t <= run_s) steady_latencies.push_back(ms);
  check(!steady_limits.empty() && !steady_latencies.empty(),
        "adaptive_limit: no calls or limit readings in the last %g s", run_s - steady_from);
  // Converged: the limit is within 20% of the capacity from this reading to the end.
  double converged_at = -1;
  for (auto it = limits.rbegin(); it != limits.rend(); ++it) {
    if (it->second < kCapacity * 8 / 10 || it->second > kCapacity * 12 / 10) break;
    converged_at = it->first;
  }
  emit_as(impl, "adaptive_limit", "converged_limit", percentile(steady_limits, 0.5), "calls",
          "lower");
  if (converged_at >= 0 && converged_at <= steady_from) {
    emit_as(impl, "adaptive_limit", "converge_s", converged_at, "s", "lower");
  } else {
    std::fprintf(stderr,
                 "adaptive_limit %s: the limit did not stay within 20%% of %d for the last %g s\n",
                 impl, kCapacity, run_s - steady_from);
  }
  const double p99 = percentile(steady_latencies, 0.99);
  emit_as(impl, "adaptive_limit", "latency_p99_ms", p99, "ms", "lower");
  emit_as(impl, "adaptive_limit", "unloaded_latency_ms", unloaded_ms, "ms", "lower");
  emit_as(impl, "adaptive_limit", "p99_over_unloaded", p99 / unloaded_ms, "x", "lower");
  emit_as(impl, "adaptive_limit", "calls_per_sec",
          static_cast<double>(steady_latencies.size()) / (run_s - steady_from), "1/s", "higher");
}

}  // namespace orca::bench
