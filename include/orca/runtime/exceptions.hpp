// Errors the runtime reports by exception: programmer errors and whole-program
// failures, never the ordinary outcome of an operation.
#pragma once

#include <stdexcept>
#include <string>

namespace orca {

// Every task is parked and nothing (timer, blocking call, external waker) can wake
// one: orca::run gives up. what() lists each parked task and what it waits on.
class DeadlockError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// RunOptions::leak_check == kFail and tasks were still alive when the entry returned.
class LeakError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The task was destroyed at shutdown before it finished (its JoinHandle outlived run).
class TaskAbandoned : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace orca
