#include "sysmon.hpp"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime.hpp"

namespace orca::detail {

namespace {

using std::chrono::steady_clock;

// Far above any sane threshold; keeps the arithmetic far from overflow.
constexpr long kMaxThresholdMs = 3'600'000;

StuckTask action_from_env() {
  const char* v = std::getenv("ORCA_STUCK_TASK");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "report") == 0) return StuckTask::kReport;
  if (std::strcmp(v, "abort") == 0) return StuckTask::kAbort;
  if (std::strcmp(v, "off") == 0) return StuckTask::kOff;
  static std::once_flag warned;
  std::call_once(warned, [v] {
    std::fprintf(stderr,
                 "orca: ORCA_STUCK_TASK=%s is not one of report, abort, off; using report\n", v);
  });
  return StuckTask::kReport;
}

std::chrono::milliseconds threshold_from_env() {
  constexpr std::chrono::milliseconds kDefault{10};
  const char* v = std::getenv("ORCA_STUCK_TASK_MS");
  if (v == nullptr || *v == '\0') return kDefault;
  long ms = 0;
  const char* end = v + std::strlen(v);
  const auto [ptr, ec] = std::from_chars(v, end, ms);
  if (ec != std::errc{} || ptr != end || ms < 1 || ms > kMaxThresholdMs) {
    static std::once_flag warned;
    std::call_once(warned, [v] {
      std::fprintf(stderr,
                   "orca: ORCA_STUCK_TASK_MS=%s is not a whole number of milliseconds from 1 to "
                   "%ld; using 10\n",
                   v, kMaxThresholdMs);
    });
    return kDefault;
  }
  return std::chrono::milliseconds(ms);
}

double seconds_between(steady_clock::time_point a, steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

SysmonSettings SysmonSettings::resolve(const RunOptions& options) {
  SysmonSettings s;
  s.action = options.stuck_task != StuckTask::kDefault ? options.stuck_task : action_from_env();
  if (options.stuck_task_after.count() > 0) {
    s.threshold = std::min(options.stuck_task_after, std::chrono::milliseconds(kMaxThresholdMs));
  } else {
    s.threshold = threshold_from_env();
  }
  s.report = options.report;
  return s;
}

Sysmon::Sysmon(Runtime& rt, SysmonSettings settings) : rt_(rt), settings_(settings) {
  seen_.resize(rt.workers().size());
}

Sysmon::~Sysmon() {
  stop();
}

void Sysmon::start() {
  if (settings_.action == StuckTask::kOff) return;
  thread_ = std::thread([this] { loop(); });
}

void Sysmon::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Sysmon::loop() {
  // Half the threshold: a worker is found held between 1x and 1.5x the threshold
  // after its task last resumed.
  const auto period =
      std::max<std::chrono::microseconds>(settings_.threshold / 2, std::chrono::microseconds(500));
  std::unique_lock lock(mutex_);
  while (!stop_) {
    if (wake_.wait_for(lock, period, [this] { return stop_; })) break;
    lock.unlock();
    pass(steady_clock::now());
    lock.lock();
  }
}

void Sysmon::pass(steady_clock::time_point now) {
  const auto& slots = rt_.workers();
  const std::size_t n = slots.size();
  // Step 1: observe. `free_now` marks a slot that looked for work since the last
  // pass (or is between tasks right now).
  std::vector<bool> free_now(n, false);
  std::vector<bool> held(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    Worker& w = *slots[i];
    Seen& s = seen_[i];
    if (w.spare && !w.active.load(std::memory_order_relaxed)) {
      s = Seen{};
      continue;
    }
    const std::uint64_t id = w.running_id.load(std::memory_order_relaxed);
    const std::uint64_t polls = w.counters.polls.load(std::memory_order_relaxed);
    const std::uint64_t out_of_work = w.out_of_work.load(std::memory_order_relaxed);
    free_now[i] = id == 0 || out_of_work != s.out_of_work;
    const bool same_run = id != 0 && id == s.running_id && polls == s.polls;
    if (!same_run) {
      if (s.reported && settings_.action != StuckTask::kOff) {
        char line[128];
        std::snprintf(line, sizeof line, "orca: task %llu gave its worker back after %.3f s",
                      static_cast<unsigned long long>(s.running_id), seconds_between(s.since, now));
        emit(line);
      }
      s.reported = false;
      s.since = now;
    }
    s.running_id = id;
    s.polls = polls;
    s.out_of_work = out_of_work;
    held[i] = same_run && now - s.since >= settings_.threshold;
    // A spare that retired, or now stands in for another slot, no longer covers it.
    if (s.spare != nullptr && (!s.spare->active.load(std::memory_order_relaxed) ||
                               s.spare->covering.load(std::memory_order_relaxed) != &w))
      s.spare = nullptr;
  }

  // Step 4: spares whose worker has moved on retire at their next park.
  for (std::size_t i = rt_.worker_count(); i < n; ++i) {
    Worker& spare = *slots[i];
    if (!spare.active.load(std::memory_order_relaxed)) continue;
    const Worker* covered = spare.covering.load(std::memory_order_relaxed);
    if (covered == nullptr ||
        covered->counters.polls.load(std::memory_order_relaxed) !=
            spare.covered_polls.load(std::memory_order_relaxed) ||
        covered->running_id.load(std::memory_order_relaxed) == 0)
      rt_.nudge_spare(spare);
  }

  // Step 3: stand a spare in for each held worker whose work nobody else serves.
  const bool someone_idle = rt_.idle_workers() > 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!held[i] || seen_[i].spare != nullptr) continue;
    bool served = someone_idle;
    for (std::size_t j = 0; j < n && !served; ++j)
      served = j != i && free_now[j];
    if (served) continue;
    Worker& w = *slots[i];
    // Counted before the spare starts, so a task the spare runs sees the count.
    const bool first = !seen_[i].reported;
    if (first) rt_.held_tasks().fetch_add(1, std::memory_order_relaxed);
    Worker* spare = rt_.activate_spare(w);
    seen_[i].spare = spare;
    if (first) {
      seen_[i].reported = true;
      report_held(w, seen_[i], now, spare != nullptr);
    }
  }
}

void Sysmon::emit(const char* line) {
  if (settings_.report != nullptr) {
    settings_.report(line);
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
}

void Sysmon::report_held(const Worker& w, const Seen& seen, steady_clock::time_point now,
                         bool spare_started) {
  const auto id = static_cast<unsigned long long>(seen.running_id);
  const double ms = seconds_between(seen.since, now) * 1e3;
  const char* where = w.spare ? "a spare worker" : "its worker";
  char line[512];
  std::snprintf(line, sizeof line,
                "orca: task %llu has held %s for %.0f ms without suspending while other work "
                "waited; %s. Run blocking or long CPU work in orca::blocking(), or co_await "
                "orca::yield() now and then (ORCA_STUCK_TASK=abort stops the process in that "
                "task's thread, for its stack)",
                id, where, ms,
                spare_started ? "a spare thread now runs that worker's queue, timers and sockets"
                              : "every spare thread is in use");
  emit(line);
  if (settings_.action == StuckTask::kAbort) {
    std::fflush(stderr);
    pthread_kill(w.thread.load(std::memory_order_relaxed), SIGABRT);
  }
}

}  // namespace orca::detail
