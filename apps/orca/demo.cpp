#include "demo.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "duration.hpp"
#include "orca/orca.hpp"

namespace orca::cli {
namespace {

using std::chrono::steady_clock;

long rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6)) * 1024;
  return 0;
}

double ms_between(steady_clock::time_point a, steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::chrono::nanoseconds duration_option(const std::string& text, const char* name) {
  const auto d = parse_duration(text);
  if (!d) {
    throw std::invalid_argument(std::string("--") + name + ": '" + text +
                                "' is not a duration (examples: 500ms, 3s, 1.5m)");
  }
  return *d;
}

// Deterministic per-task jitter, so the tasks' work is spread over the interval.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct Counters {
  WaitGroup started;
  WaitGroup exited;
  std::atomic<std::uint64_t> work_done{0};
  std::atomic<std::size_t> saw_cancel{0};
};

// One demo task: derives its own child context, works every `interval` until the
// context is cancelled, then reports that it exited.
Task<void> worker(Context parent, Counters& c, std::chrono::nanoseconds interval,
                  std::uint64_t seed) {
  auto [ctx, cancel] = with_cancel(parent);
  c.started.done();
  const auto period = std::chrono::duration_cast<std::chrono::nanoseconds>(interval);
  auto next = steady_clock::now() +
              std::chrono::nanoseconds(period.count() > 0 ? mix(seed) % period.count() : 0);
  std::uint64_t acc = seed;
  for (;;) {
    const Result<void> slept = co_await sleep_until(ctx, next);
    if (!slept) break;
    acc = mix(acc);  // the simulated work
    c.work_done.fetch_add(1 + (acc & 0), std::memory_order_relaxed);
    next += period;
  }
  if (ctx.err() == errc::canceled) c.saw_cancel.fetch_add(1, std::memory_order_relaxed);
  cancel();
  c.exited.done();
}

}  // namespace

void add_demo_command(CLI::App& app, DemoOptions& o) {
  CLI::App* demo = app.add_subcommand(
      "demo",
      "Start many tasks that each derive a child context and do periodic work, then stop "
      "them all with one cancel() and report the cost");
  demo->add_option("--tasks,-n", o.tasks, "Number of tasks (1,000,000 works too)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{50'000'000}));
  demo->add_option("--timeout,-t", o.timeout, "Run this long, then cancel (Ctrl-C stops sooner)");
  demo->add_option("--work-interval", o.work_interval, "Each task works once per interval");
  demo->add_flag("--tree", o.tree,
                 "Multi-level variant: 100 children x (tasks/100) grandchildren under one root");
  demo->add_option("--workers", o.workers, "Worker threads (default: ORCA_PROCS or all cores)");
  demo->add_flag("--quiet,-q", o.quiet, "No live progress lines");
}

int run_demo(const DemoOptions& o) {
  const auto timeout = duration_option(o.timeout, "timeout");
  const auto interval = duration_option(o.work_interval, "work-interval");
  if (interval.count() == 0) throw std::invalid_argument("--work-interval must be above zero");
  const std::size_t children = o.tree ? 100 : 0;
  const std::size_t per_child = o.tree ? std::max<std::size_t>(o.tasks / 100, 1) : 0;
  const std::size_t n = o.tree ? children * per_child : o.tasks;
  const bool tty = isatty(STDERR_FILENO) != 0;

  RunOptions run_options;
  run_options.workers = o.workers;
  return orca::run(
      [&]() -> Task<int> {
        Counters c;
        auto [signals, stop_signals] = signal_context(background(), {SIGINT, SIGTERM});
        auto [root, cancel] = with_cancel(background());
        const long rss_before = rss_bytes();
        std::printf("orca demo: %zu tasks on %zu workers%s, work every %s, cancel after %s\n", n,
                    orca::stats().workers, o.tree ? " (tree: 100 children)" : "",
                    o.work_interval.c_str(), o.timeout.c_str());
        const auto t_start = steady_clock::now();
        c.started.add(static_cast<std::int64_t>(n));
        c.exited.add(static_cast<std::int64_t>(n));
        std::vector<CancelFunc> child_cancels;
        if (o.tree) {
          for (std::size_t i = 0; i < children; ++i) {
            auto [child, child_cancel] = with_cancel(root);
            child_cancels.push_back(std::move(child_cancel));
            for (std::size_t j = 0; j < per_child; ++j)
              go([child = child, &c, interval, seed = i * per_child + j] {
                return worker(child, c, interval, seed);
              });
          }
        } else {
          for (std::size_t i = 0; i < n; ++i)
            go([root = root, &c, interval, i] { return worker(root, c, interval, i); });
        }
        co_await c.started.wait();
        const auto t_started = steady_clock::now();
        co_await sleep_for(std::chrono::milliseconds(50));  // let the last ones park
        const long rss_running = rss_bytes();
        std::printf("  started %zu tasks in %.1f ms (%.0f ns per task)\n", n,
                    ms_between(t_start, t_started),
                    ms_between(t_start, t_started) * 1e6 / static_cast<double>(n));

        // Live progress until the timeout or a signal.
        const auto deadline = t_started + timeout;
        const char* reason = "timeout";
        while (steady_clock::now() < deadline) {
          const auto step =
              std::min(deadline, steady_clock::now() + std::chrono::milliseconds(500));
          const Result<void> slept = co_await sleep_until(signals, step);
          if (!slept) {
            reason = "signal";
            break;
          }
          if (o.quiet) continue;
          const RuntimeStats s = orca::stats();
          std::fprintf(
              stderr, "%s  alive %lld, parked %lld, timers %lld, work done %llu, RSS %.1f MiB%s",
              tty ? "\r" : "", static_cast<long long>(s.live_tasks - 1),
              static_cast<long long>(s.parked_tasks), static_cast<long long>(s.timers_pending),
              static_cast<unsigned long long>(c.work_done.load()),
              static_cast<double>(rss_bytes()) / (1 << 20), tty ? "   " : "\n");
        }
        if (tty && !o.quiet) std::fprintf(stderr, "\n");

        // One cancel() stops them all; the WaitGroup proves every task exited.
        const auto t_cancel = steady_clock::now();
        cancel();
        co_await c.exited.wait();
        const auto t_exited = steady_clock::now();
        stop_signals();
        const std::size_t cancelled = c.saw_cancel.load();
        std::printf("  stopped by %s: cancel() -> all %zu tasks exited in %.1f ms\n", reason, n,
                    ms_between(t_cancel, t_exited));
        std::printf("  memory: %.0f bytes per task while parked (RSS %.1f -> %.1f MiB)\n",
                    static_cast<double>(rss_running - rss_before) / static_cast<double>(n),
                    static_cast<double>(rss_before) / (1 << 20),
                    static_cast<double>(rss_running) / (1 << 20));
        std::printf("  work done: %llu steps; tasks that saw the cancellation: %zu of %zu\n",
                    static_cast<unsigned long long>(c.work_done.load()), cancelled, n);
        if (cancelled != n || c.exited.count() != 0) {
          std::printf("  FAILED: not every task exited through its cancelled context\n");
          co_return 1;
        }
        std::printf("  ok: every task exited\n");
        co_return 0;
      },
      run_options);
}

}  // namespace orca::cli
