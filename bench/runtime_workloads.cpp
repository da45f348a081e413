// Runtime workloads: spawn_join and the parked-task memory of park_cancel.
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "bench_util.hpp"
#include "orca/orca.hpp"

namespace orca::bench {

long proc_status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t len = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, len, field) == 0 && line[len] == ':')
      return std::stol(line.substr(len + 1)) * 1024;  // "VmRSS:   1234 kB"
  }
  return 0;
}

// N tasks each bump a counter and call done(); time from the first spawn until the
// waiter resumes. Cold round in a fresh process, like the Go peer.
void spawn_join(std::size_t n, const char* workload) {
  double elapsed_ms = 0;
  std::atomic<std::size_t> counter{0};
  orca::run([&]() -> Task<void> {
    WaitGroup wg;
    wg.add(static_cast<std::int64_t>(n));
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      orca::go([&counter, &wg] {
        counter.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    co_await wg.wait();
    elapsed_ms = ms_since(t0);
  });
  check(counter.load() == n, "spawn_join counter %zu != %zu", counter.load(), n);
  emit(workload, "ns_per_task", elapsed_ms * 1e6 / static_cast<double>(n), "ns", "lower");
}

}  // namespace orca::bench
