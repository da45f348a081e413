// RunOptions: how orca::run sets up the runtime.
#pragma once

namespace orca {

enum class LeakCheck {
  kOff,     // tasks still alive when the entry returns are destroyed silently (Go's exit)
  kReport,  // ... and listed on stderr first
  kFail,    // ... listed, and run() throws orca::LeakError (goleak in a test)
};

struct RunOptions {
  // Worker threads; 0 means ORCA_PROCS from the environment, else the hardware's
  // thread count (Go's GOMAXPROCS).
  unsigned workers = 0;
  // 0 means ORCA_LEAK_CHECK from the environment (off, report, fail), else kOff.
  LeakCheck leak_check = LeakCheck::kOff;
};

}  // namespace orca
