// Process families from /proc/self (read at scrape time; procfs answers from memory,
// so these reads do not wait on a disk) and runtime families from orca::stats().
#include "orca/metrics/standard_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "orca/runtime/stats.hpp"

namespace orca::metrics {

namespace {

struct ProcStat {
  bool ok = false;
  double cpu_seconds = 0;
  double start_time = 0;  // since the epoch
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

double boot_time() {
  static const double btime = [] {
    std::ifstream in("/proc/stat");
    std::string key;
    double value = 0;
    while (in >> key) {
      if (key == "btime") {
        in >> value;
        return value;
      }
      in.ignore(1 << 20, '\n');
    }
    return 0.0;
  }();
  return btime;
}

ProcStat read_stat() {
  ProcStat s;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return s;
  // The command name (field 2) is in parentheses and may hold spaces: fields are
  // counted from the last ')'.
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  // rest's fields start at field 3 (state); utime is 14, stime 15, starttime 22,
  // vsize 23, rss 24 (pages).
  double utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
  for (int n = 3; n <= 24 && rest >> field; ++n) {
    if (n == 14) utime = std::strtod(field.c_str(), nullptr);
    if (n == 15) stime = std::strtod(field.c_str(), nullptr);
    if (n == 22) start = std::strtod(field.c_str(), nullptr);
    if (n == 23) vsize = std::strtod(field.c_str(), nullptr);
    if (n == 24) rss = std::strtod(field.c_str(), nullptr);
  }
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (ticks <= 0) return s;
  s.ok = true;
  s.cpu_seconds = (utime + stime) / ticks;
  s.start_time = boot_time() + start / ticks;
  s.virtual_bytes = vsize;
  s.resident_bytes = rss * page;
  return s;
}

double open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  double n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the descriptor opendir itself holds
}

Collect one(double (*read)()) {
  return [read](std::vector<Sample>& out) { out.push_back({{}, read()}); };
}

Collect from_stat(double ProcStat::*field) {
  return [field](std::vector<Sample>& out) {
    const ProcStat s = read_stat();
    if (s.ok) out.push_back({{}, s.*field});
  };
}

}  // namespace

std::vector<Registration> register_process_metrics(Registry& r) {
  std::vector<Registration> out;
  out.push_back(r.callback("process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.", MetricType::kCounter,
                           {}, from_stat(&ProcStat::cpu_seconds)));
  out.push_back(r.callback("process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.",
                           MetricType::kGauge, {}, from_stat(&ProcStat::start_time)));
  out.push_back(r.callback("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           MetricType::kGauge, {}, from_stat(&ProcStat::virtual_bytes)));
  out.push_back(r.callback("process_resident_memory_bytes", "Resident memory size in bytes.",
                           MetricType::kGauge, {}, from_stat(&ProcStat::resident_bytes)));
  out.push_back(r.callback("process_open_fds", "Number of open file descriptors.",
                           MetricType::kGauge, {}, one(&open_fds)));
  out.push_back(r.callback("process_max_fds", "Maximum number of open file descriptors.",
                           MetricType::kGauge, {}, one([]() -> double {
                             rlimit l{};
                             if (::getrlimit(RLIMIT_NOFILE, &l) != 0) return 0;
                             return static_cast<double>(l.rlim_cur);
                           })));
  return out;
}

std::vector<Registration> register_runtime_metrics(Registry& r) {
  std::vector<Registration> out;
  out.push_back(r.callback("orca_runtime_tasks",
                           "Tasks of the orca runtime by state (alive, runnable, parked).",
                           MetricType::kGauge, {"state"}, [](std::vector<Sample>& s) {
                             const RuntimeStats st = stats();
                             double runnable = static_cast<double>(st.injection_queue_length);
                             for (const WorkerStats& w : st.per_worker)
                               runnable += static_cast<double>(w.queue_length);
                             s.push_back({{"alive"}, static_cast<double>(st.live_tasks)});
                             s.push_back({{"parked"}, static_cast<double>(st.parked_tasks)});
                             s.push_back({{"runnable"}, runnable});
                           }));
  out.push_back(r.callback("orca_runtime_workers",
                           "Worker threads of the orca runtime (spares standing in for held "
                           "workers included).",
                           MetricType::kGauge, {}, [](std::vector<Sample>& s) {
                             const RuntimeStats st = stats();
                             s.push_back({{}, static_cast<double>(st.workers + st.spare_workers)});
                           }));
  out.push_back(r.callback("orca_runtime_steals_total", "Tasks taken from another worker's queue.",
                           MetricType::kCounter, {}, [](std::vector<Sample>& s) {
                             double n = 0;
                             for (const WorkerStats& w : stats().per_worker)
                               n += static_cast<double>(w.steals);
                             s.push_back({{}, n});
                           }));
  out.push_back(r.callback("orca_runtime_timers", "Timers pending.", MetricType::kGauge, {},
                           [](std::vector<Sample>& s) {
                             s.push_back({{}, static_cast<double>(stats().timers_pending)});
                           }));
  out.push_back(r.callback("orca_runtime_netpoll_waits", "Tasks parked on a socket.",
                           MetricType::kGauge, {}, [](std::vector<Sample>& s) {
                             s.push_back({{}, static_cast<double>(stats().netpoll_waiters)});
                           }));
  out.push_back(r.callback("orca_runtime_blocking_threads", "Threads of the blocking-call pool.",
                           MetricType::kGauge, {}, [](std::vector<Sample>& s) {
                             s.push_back({{}, static_cast<double>(stats().blocking_threads)});
                           }));
  return out;
}

std::vector<Registration> register_standard_metrics(Registry& r) {
  std::vector<Registration> out = register_process_metrics(r);
  for (Registration& reg : register_runtime_metrics(r))
    out.push_back(std::move(reg));
  return out;
}

}  // namespace orca::metrics
