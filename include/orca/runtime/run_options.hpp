// RunOptions: how orca::run sets up the runtime.
#pragma once

#include <chrono>
#include <string_view>

namespace orca {

enum class LeakCheck {
  kOff,     // tasks still alive when the entry returns are destroyed silently (Go's exit)
  kReport,  // ... and listed on stderr first
  kFail,    // ... listed, and run() throws orca::LeakError (goleak in a test)
};

// What the runtime does about a task that holds its worker (runs without
// suspending) past RunOptions::stuck_task_after while its worker's other work waits.
// In every mode but kOff a spare thread takes over that work (Go's sysmon).
enum class StuckTask {
  kDefault,  // ORCA_STUCK_TASK from the environment (report, abort, off), else kReport
  kReport,   // one line on stderr per held task, and one when it gives the worker back
  kAbort,    // the report, then SIGABRT in the holding thread: a core dump of its stack
  kOff,      // no monitor thread at all
};

struct RunOptions {
  // Worker threads; 0 means ORCA_PROCS from the environment, else the hardware's
  // thread count (Go's GOMAXPROCS).
  unsigned workers = 0;
  // 0 means ORCA_LEAK_CHECK from the environment (off, report, fail), else kOff.
  LeakCheck leak_check = LeakCheck::kOff;
  StuckTask stuck_task = StuckTask::kDefault;
  // 0 means ORCA_STUCK_TASK_MS from the environment, else 10 ms (Go preempts a
  // goroutine after 10 ms too).
  std::chrono::milliseconds stuck_task_after{0};
  // Where the stuck-task reports go, one line each (no newline): e.g. into a
  // program's structured log, so that a JSON log stays JSON. Called on the monitor's
  // own thread, not in a task. Null: a line on stderr. (A plain function, so that
  // RunOptions stays a literal type: constexpr options keep working.)
  void (*report)(std::string_view line) = nullptr;
};

}  // namespace orca
