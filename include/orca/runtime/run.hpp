// orca::run: start the runtime, run an entry task to completion, return its result.
//
// The calling thread becomes worker 0; RunOptions::workers - 1 more threads join it.
// When the entry task finishes, run() stops the runtime: tasks still alive are
// destroyed (listed first if a leak check is on), as a Go program's goroutines end
// with main. One runtime runs at a time per process.
//
// Errors: rethrows the entry's exception; throws orca::DeadlockError when every
// task is parked and nothing can wake one, orca::LeakError under LeakCheck::kFail,
// std::logic_error when called while a runtime is already running.
#pragma once

#include <utility>

#include "orca/runtime/run_options.hpp"
#include "orca/runtime/spawn.hpp"

namespace orca {

namespace detail {
// Runs the runtime until `entry` finishes; throws DeadlockError / LeakError.
void run_entry(TaskHeader* entry, const RunOptions& options);
}  // namespace detail

template <class F>
detail::OutputOf<F> run(F&& entry, RunOptions options = {}) {
  detail::TaskHeader* header = detail::make_root(std::forward<F>(entry));
  header->refs.store(2, std::memory_order_relaxed);
  header->flags.store(detail::TaskHeader::kJoinable, std::memory_order_relaxed);
  JoinHandle<detail::OutputOf<F>> handle(header);
  detail::run_entry(header, options);
  return std::move(handle).take();
}

// Worker count run() would use with default options (ORCA_PROCS, else hardware).
unsigned default_workers() noexcept;

}  // namespace orca
