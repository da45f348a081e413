// Context workloads: park_cancel, tree_cancel, ctx_ops.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "bench_util.hpp"
#include "orca/orca.hpp"

using namespace std::chrono_literals;

namespace orca::bench {

// N tasks each derive a child context and wait on it; one cancel of the root.
void park_cancel(std::size_t n, const char* workload) {
  double bytes_per_task = 0;
  double cancel_ms = 0;
  std::atomic<std::size_t> exited{0};
  std::atomic<std::size_t> via_ctx{0};
  orca::run([&]() -> Task<void> {
    const long rss_before = proc_status_bytes("VmRSS");
    auto [ctx, cancel] = with_cancel(background());
    WaitGroup started;
    WaitGroup done;
    started.add(static_cast<std::int64_t>(n));
    done.add(static_cast<std::int64_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
      go([ctx = ctx, &started, &done, &exited, &via_ctx]() -> Task<void> {
        auto [child, child_cancel] = with_cancel(ctx);
        started.done();
        const std::error_code err = co_await child.done();
        if (err == errc::canceled) via_ctx.fetch_add(1, std::memory_order_relaxed);
        child_cancel();
        exited.fetch_add(1, std::memory_order_relaxed);
        done.done();
      });
    }
    co_await started.wait();
    co_await sleep_for(200ms);  // as the Go peer: let the last ones park
    check(exited.load() == 0, "tasks exited before cancel");
    const long rss_parked = proc_status_bytes("VmRSS");
    const auto t0 = std::chrono::steady_clock::now();
    cancel();
    co_await done.wait();
    cancel_ms = ms_since(t0);
    bytes_per_task = static_cast<double>(rss_parked - rss_before) / static_cast<double>(n);
  });
  check(exited.load() == n, "exited %zu != %zu", exited.load(), n);
  check(via_ctx.load() == n, "woken via ctx %zu != %zu", via_ctx.load(), n);
  emit(workload, "bytes_per_parked_task", bytes_per_task, "bytes", "lower");
  emit(workload, "cancel_to_all_exited_ms", cancel_ms, "ms", "lower");
}

// root -> 100 children -> 1000 grandchildren each, one task per grandchild.
void tree_cancel() {
  constexpr std::size_t kChildren = 100;
  constexpr std::size_t kGrand = 1000;
  constexpr std::size_t kTotal = kChildren * kGrand;
  double bytes_per_task = 0;
  double cancel_ms = 0;
  std::atomic<std::size_t> exited{0};
  orca::run([&]() -> Task<void> {
    const long rss_before = proc_status_bytes("VmRSS");
    auto [root, root_cancel] = with_cancel(background());
    WaitGroup started;
    WaitGroup done;
    started.add(kTotal);
    done.add(kTotal);
    std::vector<CancelFunc> child_cancels;
    for (std::size_t c = 0; c < kChildren; ++c) {
      auto [child, cc] = with_cancel(root);
      child_cancels.push_back(cc);
      for (std::size_t g = 0; g < kGrand; ++g) {
        auto [grand, gc] = with_cancel(child);
        go([grand = grand, gc = gc, &started, &done, &exited]() -> Task<void> {
          started.done();
          co_await grand.done();
          if (grand.err() == errc::canceled) exited.fetch_add(1, std::memory_order_relaxed);
          gc();
          done.done();
        });
      }
    }
    co_await started.wait();
    co_await sleep_for(200ms);
    check(exited.load() == 0, "tasks exited before cancel");
    const long rss_parked = proc_status_bytes("VmRSS");
    const auto t0 = std::chrono::steady_clock::now();
    root_cancel();
    co_await done.wait();
    cancel_ms = ms_since(t0);
    for (auto& cc : child_cancels)
      cc();
    bytes_per_task = static_cast<double>(rss_parked - rss_before) / kTotal;
  });
  check(exited.load() == kTotal, "exited(canceled) %zu != %zu", exited.load(), kTotal);
  emit("tree_cancel", "bytes_per_parked_task", bytes_per_task, "bytes", "lower");
  emit("tree_cancel", "cancel_to_all_exited_ms", cancel_ms, "ms", "lower");
}

// N tasks, each with a timeout uniform in [10 ms, 100 ms] (fixed seed), wait on
// their context; lateness = wake-up time minus deadline.
void timeout_storm(std::size_t n) {
  std::vector<Clock::duration> timeouts(n);
  std::uint64_t seed = 42;
  for (auto& d : timeouts) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;  // Knuth's LCG
    d = 10ms + std::chrono::nanoseconds((seed >> 11) % (90'000'000 + 1));
  }
  std::vector<double> late_us(n);
  std::atomic<std::size_t> exceeded{0};
  double total_ms = 0;
  orca::run([&]() -> Task<void> {
    WaitGroup wg;
    wg.add(static_cast<std::int64_t>(n));
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      go([&, i]() -> Task<void> {
        auto [ctx, cancel] = with_timeout(background(), timeouts[i]);
        const auto deadline = *ctx.deadline();
        co_await ctx.done();
        late_us[i] = std::chrono::duration<double, std::micro>(Clock::now() - deadline).count();
        if (ctx.err() == errc::deadline_exceeded) exceeded.fetch_add(1, std::memory_order_relaxed);
        cancel();
        wg.done();
      });
    }
    co_await wg.wait();
    total_ms = ms_since(t0);
  });
  check(exceeded.load() == n, "deadline_exceeded %zu != %zu", exceeded.load(), n);
  std::sort(late_us.begin(), late_us.end());
  check(late_us.front() >= 0, "woke %.1f us before the deadline", -late_us.front());
  auto pct = [&](double p) { return late_us[static_cast<std::size_t>(p * (n - 1))]; };
  emit("timeout_storm_100k", "lateness_p50_us", pct(0.50), "us", "lower");
  emit("timeout_storm_100k", "lateness_p99_us", pct(0.99), "us", "lower");
  emit("timeout_storm_100k", "lateness_max_us", late_us.back(), "us", "lower");
  emit("timeout_storm_100k", "total_wall_ms", total_ms, "ms", "lower");
}

// N tasks sleep 10 s under an ErrGroup's context; one more fails after 1 ms; time
// from that failure until every task has returned.
void fanout_first_error() {
  constexpr std::size_t kSleepers = 10'000;
  std::atomic<std::size_t> canceled{0};
  std::atomic<std::size_t> timed_out{0};
  double error_to_all_ms = 0;
  orca::run([&]() -> Task<void> {
    auto [group, ctx] = ErrGroup::with_context(background());
    for (std::size_t i = 0; i < kSleepers; ++i) {
      group.go([ctx = ctx, &canceled, &timed_out]() -> Task<std::error_code> {
        const Result<void> slept = co_await sleep_for(ctx, 10s);
        if (slept) {
          timed_out.fetch_add(1, std::memory_order_relaxed);
          co_return std::error_code{};
        }
        canceled.fetch_add(1, std::memory_order_relaxed);
        co_return slept.error();
      });
    }
    Clock::time_point error_at;
    group.go([&error_at]() -> Task<std::error_code> {
      co_await sleep_for(1ms);
      error_at = Clock::now();
      co_return std::make_error_code(std::errc::io_error);
    });
    const std::error_code err = co_await group.wait();
    error_to_all_ms = ms_since(error_at);
    check(err == std::errc::io_error, "first error = %s", err.message().c_str());
  });
  check(canceled.load() == kSleepers && timed_out.load() == 0, "canceled=%zu timed_out=%zu",
        canceled.load(), timed_out.load());
  emit("fanout_first_error", "error_to_all_returned_ms", error_to_all_ms, "ms", "lower");
}

namespace {

const ContextKey<int> kBenchKeys[10] = {
    ContextKey<int>("k0"), ContextKey<int>("k1"), ContextKey<int>("k2"), ContextKey<int>("k3"),
    ContextKey<int>("k4"), ContextKey<int>("k5"), ContextKey<int>("k6"), ContextKey<int>("k7"),
    ContextKey<int>("k8"), ContextKey<int>("k9")};

// Median over 5 reps of f(iters), after a warm-up of iters/10; ns per operation.
template <class F>
double ns_per_op(std::size_t iters, F&& f) {
  f(iters / 10);
  std::vector<double> times;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f(iters);
    times.push_back(ms_since(t0) * 1e6 / static_cast<double>(iters));
  }
  std::sort(times.begin(), times.end());
  return times[2];
}

}  // namespace

void ctx_ops() {
  constexpr std::size_t kIters = 2'000'000;
  orca::run([&]() -> Task<void> {
    const Context bg = background();
    const double cancel_ns = ns_per_op(kIters, [&](std::size_t n) {
      Context c;
      for (std::size_t i = 0; i < n; ++i) {
        auto [ctx, cancel] = with_cancel(bg);
        cancel();
        c = std::move(ctx);
      }
      check(c.err() == errc::canceled, "with_cancel: err %d", c.err().value());
    });
    const double timeout_ns = ns_per_op(kIters, [&](std::size_t n) {
      Context c;
      for (std::size_t i = 0; i < n; ++i) {
        auto [ctx, cancel] = with_timeout(bg, 1h);
        cancel();
        c = std::move(ctx);
      }
      check(c.err() == errc::canceled, "with_timeout: err %d", c.err().value());
    });
    const double value_ns = ns_per_op(kIters, [&](std::size_t n) {
      Context c;
      for (std::size_t i = 0; i < n; ++i)
        c = with_value(bg, kBenchKeys[1], 12345);
      check(c.value(kBenchKeys[1]) != nullptr && *c.value(kBenchKeys[1]) == 12345,
            "with_value: lookup failed");
    });
    Context leaf = bg;
    for (int k = 0; k < 10; ++k)
      leaf = with_value(leaf, kBenchKeys[k], k * 100);
    const double lookup_ns = ns_per_op(kIters * 5, [&](std::size_t n) {
      std::size_t miss = 0;
      const int* v = nullptr;
      for (std::size_t i = 0; i < n; ++i) {
        v = leaf.value(kBenchKeys[0]);
        asm volatile("" : : "r"(v) : "memory");  // keep the lookup in the loop
        if (v == nullptr) ++miss;
      }
      check(miss == 0 && *v == 0, "value lookup: miss=%zu", miss);
    });
    emit("ctx_ops", "with_cancel_cancel_ns", cancel_ns, "ns", "lower");
    emit("ctx_ops", "with_timeout_cancel_ns", timeout_ns, "ns", "lower");
    emit("ctx_ops", "with_value_ns", value_ns, "ns", "lower");
    emit("ctx_ops", "value_depth10_ns", lookup_ns, "ns", "lower");
    co_return;
  });
}

}  // namespace orca::bench
