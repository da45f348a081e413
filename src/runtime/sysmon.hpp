// Sysmon: the monitor thread that notices a worker held by one task (Go's sysmon).
//
// orca cannot preempt a coroutine, so a task that loops on the CPU or makes a
// blocking call outside orca::blocking() holds its worker until it suspends. If
// other workers keep running out of work, they steal its queue, fire its timers and
// poll the sockets, and nothing stalls. When none does, the monitor stands a spare
// worker in for the held one (runtime.hpp, "Spare workers").
//
// Each pass (every half threshold):
//   1. per active worker, read the running task's id, the poll count and the
//      out-of-work count (relaxed: a stale value costs one pass);
//   2. a worker is held when the same task has been running, without another poll,
//      for at least the threshold (default 10 ms);
//   3. a held worker with no spare gets one, unless some other worker has run out
//      of work since the last pass or is idle (it serves the held worker's work);
//      the task is reported once on stderr, or, under ORCA_STUCK_TASK=abort, the
//      held thread gets SIGABRT, so the core dump shows the stack that held it;
//   4. a spare whose worker has moved on is nudged, and retires at its next park.
//
// Settings: ORCA_STUCK_TASK=report (default), abort or off; ORCA_STUCK_TASK_MS
// (default 10); RunOptions overrides both.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "orca/runtime/run_options.hpp"

namespace orca::detail {

class Runtime;
struct Worker;

struct SysmonSettings {
  StuckTask action = StuckTask::kReport;
  std::chrono::milliseconds threshold{10};
  void (*report)(std::string_view) = nullptr;  // RunOptions::report

  // RunOptions first, then the environment, then the defaults. A malformed
  // environment value is reported once and the default used.
  static SysmonSettings resolve(const RunOptions& options);
};

class Sysmon {
 public:
  Sysmon(Runtime& rt, SysmonSettings settings);
  ~Sysmon();
  Sysmon(const Sysmon&) = delete;
  Sysmon& operator=(const Sysmon&) = delete;

  // Starts the monitor thread (nothing when the action is kOff).
  void start();
  // Stops and joins it; no spare is activated afterwards.
  void stop();

 private:
  // What the last passes saw of one worker slot.
  struct Seen {
    std::uint64_t running_id = 0;
    std::uint64_t polls = 0;
    std::uint64_t out_of_work = 0;
    std::chrono::steady_clock::time_point since{};
    bool reported = false;
    Worker* spare = nullptr;  // the spare standing in for it, if any
  };

  void loop();
  void pass(std::chrono::steady_clock::time_point now);
  void emit(const char* line);  // to settings_.report, or stderr
  void report_held(const Worker& w, const Seen& seen, std::chrono::steady_clock::time_point now,
                   bool spare_started);

  Runtime& rt_;
  SysmonSettings settings_;
  std::vector<Seen> seen_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace orca::detail
