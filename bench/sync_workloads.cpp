// Sync workloads: rwmutex_read and timer_reset — orca's side of
// bench/peers/go/syncbench.go, with the same counts, checks and metrics.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "bench_util.hpp"
#include "orca/orca.hpp"

using namespace std::chrono_literals;

namespace orca::bench {
namespace {

// The shared structure of rwmutex_read: one cache line of counters that a writer
// bumps together, so a reader that sees them differ caught a torn write. It and
// the lock each have a cache line of their own (so does the Go peer), so that no
// other variable's writes move them between cores: what is measured is the lock.
struct alignas(64) Shared {
  std::array<std::int64_t, 8> fields{};

  // One read: whether the counters differ (a function, so that the comparisons
  // run in registers rather than on the coroutine frame).
  bool torn() const noexcept {
    bool differ = false;
    for (std::int64_t v : fields)
      differ |= v != fields[0];
    return differ;
  }
};
struct alignas(64) PaddedRWMutex {
  RWMutex mu;
};

// Per task: kCycles times, 1,000 reads under rlock, then one write under lock.
constexpr int kReadsPerWrite = 1'000;

// `tasks` tasks each run `cycles` cycles; returns the elapsed time from the first
// spawn until every task is done, and checks what the readers saw.
Task<double> rwmutex_round(int tasks, std::int64_t cycles) {
  // Not in this coroutine's frame: frames are not allocated 64-byte aligned, and
  // they hold the variables below.
  const auto mu_box = std::make_unique<PaddedRWMutex>();
  const auto shared_box = std::make_unique<Shared>();
  RWMutex& mu = mu_box->mu;
  Shared& shared = *shared_box;
  std::vector<std::int64_t> sums(static_cast<std::size_t>(tasks));
  std::vector<std::int64_t> torn(static_cast<std::size_t>(tasks));
  WaitGroup wg;
  wg.add(tasks);
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < tasks; ++k) {
    go([&, k]() -> Task<void> {
      std::int64_t sum = 0;
      std::int64_t bad = 0;
      for (std::int64_t c = 0; c < cycles; ++c) {
        for (int r = 0; r < kReadsPerWrite; ++r) {
          auto guard = co_await mu.rlock();
          bad += shared.torn();
          sum += shared.fields[0];
        }
        auto guard = co_await mu.lock();
        for (std::int64_t& v : shared.fields)
          ++v;
      }
      sums[static_cast<std::size_t>(k)] = sum;
      torn[static_cast<std::size_t>(k)] = bad;
      wg.done();
    });
  }
  co_await wg.wait();
  const double elapsed_ms = ms_since(t0);
  const std::int64_t writes = tasks * cycles;
  for (std::int64_t v : shared.fields)
    check(v == writes, "rwmutex_read: field %lld != %lld writes", static_cast<long long>(v),
          static_cast<long long>(writes));
  for (int k = 0; k < tasks; ++k) {
    const auto i = static_cast<std::size_t>(k);
    check(torn[i] == 0, "rwmutex_read: task %d saw %lld torn reads", k,
          static_cast<long long>(torn[i]));
    // Every read sees between 0 and all the writes.
    check(sums[i] >= 0 && sums[i] <= cycles * kReadsPerWrite * writes,
          "rwmutex_read: task %d read sum %lld out of range", k, static_cast<long long>(sums[i]));
  }
  co_return elapsed_ms;
}

}  // namespace

// 2 x workers tasks (4 with bench/run's ORCA_PROCS=2) share one RWMutex guarding
// one cache line of counters. Each task repeats 1,000 cycles of: 1,000 reads (rlock,
// read and compare the 8 counters, runlock), then one write (lock, bump all 8,
// unlock). A warm-up round of 10 cycles per task first. Metric: reads of every task
// per second of wall time, from the first spawn until the last task is done (the
// writes' time included).
void rwmutex_read() {
  constexpr std::int64_t kCycles = 1'000;
  const int tasks = 2 * static_cast<int>(default_workers());
  double elapsed_ms = 0;
  orca::run([&]() -> Task<void> {
    (void)co_await rwmutex_round(tasks, 10);  // warm-up
    elapsed_ms = co_await rwmutex_round(tasks, kCycles);
  });
  const double reads = static_cast<double>(tasks) * kCycles * kReadsPerWrite;
  emit("rwmutex_read", "reads_per_sec", reads / (elapsed_ms / 1e3), "1/s", "higher");
}

// One task resets one Timer 1,000,000 times, each time to fire one hour from now,
// so it never fires; 10,000 resets of warm-up first. Metric: wall time per reset.
// reset() also takes back a fired, unreceived tick (Go 1.23's Reset); the Go peer
// measures Go 1.19's bare Reset, which does not (see syncbench.go).
void timer_reset() {
  constexpr int kWarm = 10'000;
  constexpr int kResets = 1'000'000;
  double elapsed_ms = 0;
  int pending = 0;
  bool stopped = false;
  bool received = false;
  orca::run([&]() -> Task<void> {
    Timer timer(1h);
    for (int i = 0; i < kWarm; ++i)
      pending += timer.reset(1h);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kResets; ++i)
      pending += timer.reset(1h);
    elapsed_ms = ms_since(t0);
    received = timer.channel().try_recv().has_value();
    stopped = timer.stop();
    co_return;
  });
  check(pending == kWarm + kResets, "timer_reset: %d resets found the timer pending, want %d",
        pending, kWarm + kResets);
  check(!received && stopped, "timer_reset: the timer fired (received %d, stopped %d)",
        static_cast<int>(received), static_cast<int>(stopped));
  emit("timer_reset", "ns_per_reset", elapsed_ms * 1e6 / kResets, "ns", "lower");
}

}  // namespace orca::bench
