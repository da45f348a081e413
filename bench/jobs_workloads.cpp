// Jobs workload: jobs_embedded, the SQLite broker end to end (durability on: WAL,
// synchronous=NORMAL, every transition committed before it is acknowledged).
//
//   1. throughput: 100,000 no-op jobs enqueued in bulk (batches of 1,000; that rate is
//      enqueue_per_sec, as the BullMQ peer's a_enqueue measures), then a
//      center and one node of concurrency 50 run them; time from the start of the
//      node to the last durable ack (as the BullMQ peer's b_process measures).
//   2. latency: a producer submits jobs one by one at a steady 2,000 jobs/s for 5 s
//      while the same setup runs them; each handler measures submit-to-start.
//   cpu_us_per_job: the process's user + system time over step 1, per job: a cost
//   that other load on the machine moves far less than jobs_per_sec.
#include <stdlib.h>
#include <sys/resource.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include "bench_util.hpp"
#include "orca/jobs/jobs.hpp"
#include "orca/jobs/metrics.hpp"
#include "orca/orca.hpp"

using namespace std::chrono_literals;

namespace orca::bench {

namespace {

std::string temp_db() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "orca-bench-jobs-XXXXXX").string();
  check(mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
  return tmpl;
}

// ORCA_BENCH_METRICS=1: the center and node report into a registry, as `orca serve`
// does, to measure what metrics cost (docs/BENCHMARKS.md); unset, they report nowhere.
jobs::JobMetrics* bench_metrics() {
  static orca::metrics::Registry registry;
  static jobs::JobMetrics* metrics = [] {
    const char* on = std::getenv("ORCA_BENCH_METRICS");
    return on != nullptr && *on == '1' ? new jobs::JobMetrics(registry) : nullptr;
  }();
  return metrics;
}

jobs::CenterOptions bench_center() {
  jobs::CenterOptions o;
  o.metrics = bench_metrics();
  return o;
}

jobs::NodeOptions bench_node() {
  jobs::NodeOptions o;
  o.id = "bench";
  o.concurrency = 50;
  o.metrics = bench_metrics();
  return o;
}

// Returns jobs/s end to end; `enqueue_per_sec` gets the bulk enqueue's rate.
double throughput(const std::string& db, std::size_t n, double& enqueue_per_sec) {
  jobs::SqliteOptions options;
  options.path = db;
  auto opened = jobs::SqliteBroker::open(options);
  check(opened.has_value(), "cannot open %s: %s", db.c_str(), opened.error().message().c_str());
  jobs::SqliteBroker& broker = **opened;
  double secs = 0;
  std::atomic<std::size_t> ran{0};
  orca::run([&]() -> Task<void> {
    Context ctx = background();
    jobs::JobSpec spec;
    spec.type = "noop";
    const auto te = std::chrono::steady_clock::now();
    for (std::size_t off = 0; off < n; off += 1000) {
      std::vector<jobs::JobSpec> batch(std::min<std::size_t>(1000, n - off), spec);
      auto added = co_await broker.enqueue(ctx, std::move(batch));
      check(added.has_value(), "enqueue failed: %s", added.error().message().c_str());
    }
    enqueue_per_sec = static_cast<double>(n) / (ms_since(te) / 1000.0);
    auto [run_ctx, stop] = with_cancel(ctx);
    jobs::Center center(broker, bench_center());
    jobs::Node node(broker, bench_node());
    node.handle("noop", [&ran](Context, jobs::Job) -> Task<Result<void>> {
      ran.fetch_add(1, std::memory_order_relaxed);
      co_return Result<void>{};
    });
    center.attach(node);
    const auto t0 = std::chrono::steady_clock::now();
    auto c = spawn([&center, run_ctx = run_ctx] { return center.run(run_ctx); });
    auto nd = spawn([&node, run_ctx = run_ctx] { return node.run(run_ctx); });
    for (;;) {
      co_await sleep_for(5ms);
      if (ran.load(std::memory_order_relaxed) < n) continue;
      auto stats = co_await broker.queues(ctx);
      check(stats.has_value(), "queues failed");
      std::int64_t ok = 0;
      for (const auto& q : *stats) {
        auto it = q.counts.find(jobs::JobState::kSucceeded);
        if (it != q.counts.end()) ok += it->second;
      }
      if (ok == static_cast<std::int64_t>(n)) break;
    }
    secs = ms_since(t0) / 1000.0;
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(nd);
  });
  check(ran.load() == n, "ran %zu of %zu", ran.load(), n);
  return static_cast<double>(n) / secs;
}

std::vector<double> latency(const std::string& db, int rate, std::chrono::seconds duration) {
  jobs::SqliteOptions options;
  options.path = db;
  auto opened = jobs::SqliteBroker::open(options);
  check(opened.has_value(), "cannot open %s: %s", db.c_str(), opened.error().message().c_str());
  jobs::SqliteBroker& broker = **opened;
  std::vector<double> ms;
  std::mutex mu;
  const std::size_t total =
      static_cast<std::size_t>(rate) * static_cast<std::size_t>(duration.count());
  ms.reserve(total);
  orca::run([&]() -> Task<void> {
    Context ctx = background();
    auto [run_ctx, stop] = with_cancel(ctx);
    jobs::Center center(broker, bench_center());
    jobs::Node node(broker, bench_node());
    node.handle("stamp", [&](Context, jobs::Job job) -> Task<Result<void>> {
      const auto now = std::chrono::steady_clock::now().time_since_epoch();
      const auto sent = std::chrono::nanoseconds(std::stoll(job.spec.payload));
      std::lock_guard lock(mu);
      ms.push_back(std::chrono::duration<double, std::milli>(now - sent).count());
      co_return Result<void>{};
    });
    center.attach(node);
    auto c = spawn([&center, run_ctx = run_ctx] { return center.run(run_ctx); });
    auto nd = spawn([&node, run_ctx = run_ctx] { return node.run(run_ctx); });
    co_await sleep_for(200ms);  // registered and idle, as the peer waits for "ready"
    WaitGroup submitted;
    const auto t0 = std::chrono::steady_clock::now();
    const auto period = std::chrono::nanoseconds(1'000'000'000 / rate);
    for (std::size_t i = 0; i < total; ++i) {
      co_await sleep_until(t0 + i * period);
      submitted.add(1);
      go([&center, &submitted]() -> Task<void> {
        jobs::JobSpec spec;
        spec.type = "stamp";
        spec.payload = std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
        auto added = co_await center.submit(background(), std::move(spec));
        check(added.has_value(), "submit failed");
        submitted.done();
      });
    }
    co_await submitted.wait();
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (ms.size() >= total) break;
      }
      co_await sleep_for(5ms);
    }
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(nd);
  });
  std::sort(ms.begin(), ms.end());
  return ms;
}

// User + system CPU seconds of this process so far (all threads).
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

double percentile(const std::vector<double>& sorted, double p) {
  const std::size_t i =
      std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())));
  return sorted[i];
}

}  // namespace

void jobs_embedded() {
  const std::string dir = temp_db();
  double enqueue_per_sec = 0;
  constexpr std::size_t kThroughputJobs = 100'000;
  const double cpu_before = process_cpu_seconds();
  const double per_sec = throughput(dir + "/throughput.db", kThroughputJobs, enqueue_per_sec);
  const double cpu_us = (process_cpu_seconds() - cpu_before) * 1e6;
  emit("jobs_embedded", "enqueue_per_sec", enqueue_per_sec, "jobs/s", "higher");
  emit("jobs_embedded", "jobs_per_sec", per_sec, "jobs/s", "higher");
  emit("jobs_embedded", "cpu_us_per_job", cpu_us / kThroughputJobs, "us", "lower");
  const std::vector<double> lat = latency(dir + "/latency.db", 2000, 5s);
  emit("jobs_embedded", "enqueue_to_start_p50_ms", percentile(lat, 0.50), "ms", "lower");
  emit("jobs_embedded", "enqueue_to_start_p99_ms", percentile(lat, 0.99), "ms", "lower");
  std::filesystem::remove_all(dir);
}

}  // namespace orca::bench
