// run_entry, stats and ExternalWaker: the public faces of the Runtime.
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "orca/runtime/detail/frame_allocator.hpp"
#include "orca/runtime/exceptions.hpp"
#include "orca/runtime/external_waker.hpp"
#include "orca/runtime/run.hpp"
#include "orca/runtime/stats.hpp"
#include "runtime.hpp"

namespace orca {

unsigned default_workers() noexcept {
  if (const char* procs = std::getenv("ORCA_PROCS")) {
    unsigned n = 0;
    const char* end = procs + std::strlen(procs);
    if (std::from_chars(procs, end, n).ptr == end && n > 0 && n <= 1024) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? hw : 1;
}

namespace detail {

void run_entry(TaskHeader* entry, const RunOptions& options) {
  const unsigned workers = options.workers > 0 ? options.workers : default_workers();
  Runtime runtime(workers);
  const std::string report = runtime.run(entry, options);
  if (report.empty()) return;
  if (report.rfind("leak:", 0) == 0)
    throw LeakError("orca: tasks still alive when the entry task returned:\n" + report.substr(5));
  throw DeadlockError(report);
}

}  // namespace detail

RuntimeStats stats() {
  RuntimeStats s;
  detail::Runtime* rt = detail::Runtime::current();
  if (rt == nullptr) return s;
  s.running = true;
  s.workers = rt->worker_count();
  std::int64_t spawned = 0;
  std::int64_t finished = 0;
  auto add = [&](const detail::WorkerCounters& c) {
    spawned += static_cast<std::int64_t>(c.spawned.load(std::memory_order_relaxed));
    finished += static_cast<std::int64_t>(c.finished.load(std::memory_order_relaxed));
    s.parked_tasks += c.parked_delta.load(std::memory_order_relaxed);
  };
  for (const auto& w : rt->workers()) {
    add(w->counters);
    if (w->spare) continue;  // their figures count in the totals above
    WorkerStats ws;
    ws.queue_length = w->runq.size();
    ws.polls = w->counters.polls.load(std::memory_order_relaxed);
    ws.steals = w->counters.steals.load(std::memory_order_relaxed);
    ws.parks = w->counters.parks.load(std::memory_order_relaxed);
    ws.timers_pending = w->timers.pending.load(std::memory_order_relaxed);
    s.timers_pending += ws.timers_pending;
    s.per_worker.push_back(ws);
  }
  add(rt->foreign_counters());
  s.tasks_started = static_cast<std::uint64_t>(spawned) + 1;  // + the entry task
  s.live_tasks = spawned + 1 - finished;
  if (s.parked_tasks < 0) s.parked_tasks = 0;  // wakes counted before their parks
  s.injection_queue_length = rt->injection().size();
  s.blocking_threads = rt->blocking().threads();
  s.blocking_in_flight = rt->blocking().in_flight();
  s.frame_pool_bytes = detail::frame_pool_bytes();
  s.held_tasks = rt->held_tasks().load(std::memory_order_relaxed);
  s.spare_workers = static_cast<std::size_t>(std::max(rt->active_spares(), 0));
  s.netpoll_waiters = rt->netpoller().waiters();
  return s;
}

ExternalWaker::ExternalWaker() noexcept {
  if (detail::Runtime* rt = detail::Runtime::current()) {
    rt->external_wakers().fetch_add(1, std::memory_order_acq_rel);
    generation_ = rt->generation();
  }
}

ExternalWaker::~ExternalWaker() {
  // Only the run() we counted in, and only while it lasts.
  detail::Runtime* rt = detail::Runtime::current();
  if (rt != nullptr && generation_ != 0 && rt->generation() == generation_)
    rt->external_wakers().fetch_sub(1, std::memory_order_acq_rel);
}

}  // namespace orca
