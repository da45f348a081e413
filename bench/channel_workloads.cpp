// Channel workloads: pingpong, chan_throughput, select2, worker_pool — orca's side
// of ../shared/peers/go/gobench.go, with the same counts, checks and metrics.
#include <chrono>
#include <cstdint>
#include <vector>

#include "bench_util.hpp"
#include "orca/orca.hpp"

namespace orca::bench {

// Two tasks bounce an int over two rendezvous channels: 10k warm-up round trips,
// then 1M timed. Workers from ORCA_PROCS (bench/run sets 1 or 2).
void pingpong(const char* workload) {
  constexpr int kWarm = 10'000;
  constexpr int kRoundTrips = 1'000'000;
  double elapsed_ms = 0;
  int final_value = 0;
  orca::run([&]() -> Task<void> {
    Channel<int> ping;
    Channel<int> pong;
    WaitGroup wg;
    wg.add(2);
    go([&]() -> Task<void> {  // B: echo v + 1
      while (auto v = co_await ping.recv())
        (void)co_await pong.send(*v + 1);
      wg.done();
    });
    go([&]() -> Task<void> {  // A: drives the round trips
      int x = 0;
      for (int i = 0; i < kWarm; ++i) {
        (void)co_await ping.send(x);
        x = *co_await pong.recv();
      }
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < kRoundTrips; ++i) {
        (void)co_await ping.send(x);
        x = *co_await pong.recv();
      }
      elapsed_ms = ms_since(t0);
      (void)ping.close();
      final_value = x;
      wg.done();
    });
    (void)co_await wg.wait();
  });
  check(final_value == kWarm + kRoundTrips, "pingpong final %d != %d", final_value,
        kWarm + kRoundTrips);
  emit(workload, "ns_per_round_trip", elapsed_ms * 1e6 / kRoundTrips, "ns", "lower");
}

// 10M ints through one channel of capacity 1024, `producers` senders and
// `consumers` receivers; time from the first spawn until every consumer is done.
void chan_throughput(int producers, int consumers, const char* workload) {
  constexpr std::int64_t kTotal = 10'000'000;
  constexpr std::size_t kCapacity = 1024;
  check(kTotal % producers == 0, "total %% producers != 0");
  const std::int64_t per = kTotal / producers;
  double elapsed_ms = 0;
  std::vector<std::int64_t> sums(static_cast<std::size_t>(consumers));
  std::vector<std::int64_t> counts(static_cast<std::size_t>(consumers));
  orca::run([&]() -> Task<void> {
    Channel<std::int64_t> ch(kCapacity);
    WaitGroup pwg;
    WaitGroup cwg;
    pwg.add(producers);
    cwg.add(consumers);
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < consumers; ++k) {
      go([&, k]() -> Task<void> {
        std::int64_t s = 0;
        std::int64_t n = 0;
        while (auto v = co_await ch.recv()) {
          s += *v;
          ++n;
        }
        sums[static_cast<std::size_t>(k)] = s;
        counts[static_cast<std::size_t>(k)] = n;
        cwg.done();
      });
    }
    for (int j = 0; j < producers; ++j) {
      go([&, j]() -> Task<void> {
        const std::int64_t base = j * per;
        for (std::int64_t i = 0; i < per; ++i)
          (void)co_await ch.send(base + i);
        pwg.done();
      });
    }
    (void)co_await pwg.wait();
    (void)ch.close();
    (void)co_await cwg.wait();
    elapsed_ms = ms_since(t0);
  });
  std::int64_t s = 0;
  std::int64_t n = 0;
  for (int k = 0; k < consumers; ++k) {
    s += sums[static_cast<std::size_t>(k)];
    n += counts[static_cast<std::size_t>(k)];
  }
  check(n == kTotal, "received %lld != %lld", static_cast<long long>(n),
        static_cast<long long>(kTotal));
  check(s == kTotal * (kTotal - 1) / 2, "sum %lld != %lld", static_cast<long long>(s),
        static_cast<long long>(kTotal * (kTotal - 1) / 2));
  emit(workload, "items_per_sec", static_cast<double>(kTotal) / (elapsed_ms / 1e3), "1/s",
       "higher");
}

namespace {

constexpr std::size_t kSelectCapacity = 1024;

// A filler alternates sends on a and b; the selecting task receives n values with
// a two-case select. Returns the selector's elapsed time.
Task<double> select_recv_round(std::int64_t n) {
  Channel<std::int64_t> a(kSelectCapacity);
  Channel<std::int64_t> b(kSelectCapacity);
  WaitGroup wg;
  wg.add(2);
  double elapsed_ms = 0;
  std::int64_t sum = 0;
  std::int64_t na = 0;
  std::int64_t nb = 0;
  go([&]() -> Task<void> {  // filler
    for (std::int64_t i = 0; i < n; ++i) {
      if ((i & 1) == 0) {
        (void)co_await a.send(i);
      } else {
        (void)co_await b.send(i);
      }
    }
    wg.done();
  });
  go([&]() -> Task<void> {  // selecting receiver
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t k = 0; k < n; ++k) {
      auto r = co_await select(recv(a), recv(b));
      if (r.index() == 0) {
        sum += *r.get<0>();
        ++na;
      } else {
        sum += *r.get<1>();
        ++nb;
      }
    }
    elapsed_ms = ms_since(t0);
    wg.done();
  });
  (void)co_await wg.wait();
  check(sum == n * (n - 1) / 2, "select sum %lld != %lld", static_cast<long long>(sum),
        static_cast<long long>(n * (n - 1) / 2));
  check(na == (n + 1) / 2 && nb == n / 2, "select counts a=%lld b=%lld", static_cast<long long>(na),
        static_cast<long long>(nb));
  co_return elapsed_ms;
}

// n selects with a default case on two empty channels.
Task<double> select_default_round(std::int64_t n) {
  Channel<std::int64_t> a(kSelectCapacity);
  Channel<std::int64_t> b(kSelectCapacity);
  std::int64_t got = 0;
  std::int64_t dflt = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    auto r = co_await select(recv(a), recv(b), default_case());
    switch (r.index()) {
      case 0:
        got += *r.get<0>();
        break;
      case 1:
        got += *r.get<1>();
        break;
      default:
        ++dflt;
    }
  }
  const double elapsed_ms = ms_since(t0);
  check(dflt == n && got == 0, "select default: dflt=%lld got=%lld", static_cast<long long>(dflt),
        static_cast<long long>(got));
  co_return elapsed_ms;
}

}  // namespace

void select2_ready() {
  constexpr std::int64_t kN = 10'000'000;
  double elapsed_ms = 0;
  orca::run([&]() -> Task<void> {
    (void)co_await select_recv_round(100'000);  // warm-up
    elapsed_ms = co_await select_recv_round(kN);
  });
  emit("select2_ready", "ns_per_select", elapsed_ms * 1e6 / kN, "ns", "lower");
}

void select2_default() {
  constexpr std::int64_t kN = 10'000'000;
  double elapsed_ms = 0;
  orca::run([&]() -> Task<void> {
    (void)co_await select_default_round(100'000);  // warm-up
    elapsed_ms = co_await select_default_round(kN);
  });
  emit("select2_default", "ns_per_select", elapsed_ms * 1e6 / kN, "ns", "lower");
}

// 1M tiny tasks (sum lo..hi over [0, 64)) through a channel of capacity 1024 to
// 2 x workers consumers; the entry task sends them all, then closes.
void worker_pool() {
  struct Job {
    int lo;
    int hi;
  };
  constexpr std::int64_t kTasks = 1'000'000;
  constexpr std::size_t kCapacity = 1024;
  const int workers = 2 * static_cast<int>(default_workers());
  std::vector<std::int64_t> sums(static_cast<std::size_t>(workers));
  std::vector<std::int64_t> counts(static_cast<std::size_t>(workers));
  double elapsed_ms = 0;
  orca::run([&]() -> Task<void> {
    Channel<Job> tasks(kCapacity);
    WaitGroup wg;
    wg.add(workers);
    const auto t0 = std::chrono::steady_clock::now();
    for (int w = 0; w < workers; ++w) {
      go([&, w]() -> Task<void> {
        std::int64_t s = 0;
        std::int64_t c = 0;
        while (auto t = co_await tasks.recv()) {
          std::int64_t x = 0;
          for (int j = t->lo; j < t->hi; ++j)
            x += j;
          s += x;
          ++c;
        }
        sums[static_cast<std::size_t>(w)] = s;
        counts[static_cast<std::size_t>(w)] = c;
        wg.done();
      });
    }
    for (std::int64_t i = 0; i < kTasks; ++i)
      (void)co_await tasks.send(Job{0, 64});
    (void)tasks.close();
    (void)co_await wg.wait();
    elapsed_ms = ms_since(t0);
  });
  std::int64_t s = 0;
  std::int64_t c = 0;
  for (int w = 0; w < workers; ++w) {
    s += sums[static_cast<std::size_t>(w)];
    c += counts[static_cast<std::size_t>(w)];
  }
  check(c == kTasks, "tasks done %lld != %lld", static_cast<long long>(c),
        static_cast<long long>(kTasks));
  check(s == kTasks * 2016, "task sum %lld != %lld", static_cast<long long>(s),
        static_cast<long long>(kTasks * 2016));
  emit("worker_pool", "tasks_per_sec", static_cast<double>(kTasks) / (elapsed_ms / 1e3), "1/s",
       "higher");
}

}  // namespace orca::bench
