// Helpers shared by the runtime tests: a value that counts its copies, moves and
// destructions (cppcoro's lifetime_tracker), so a test can prove that no value is
// leaked or destroyed twice; a park-forever awaitable for deadlock tests; and hang
// guards that turn "never returns" into a failure instead of a stalled suite.
#pragma once

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "orca/runtime/detail/scheduling.hpp"

namespace orca_test {

// Tallies of every Counted that points at it. Atomic: copies may die on any worker.
struct LifetimeCounts {
  std::atomic<int> constructed{0};  // by value constructor
  std::atomic<int> copied{0};
  std::atomic<int> moved{0};
  std::atomic<int> destroyed{0};

  // Objects made (constructed, copied or moved into) minus objects destroyed.
  int alive() const { return constructed + copied + moved - destroyed; }
  std::string describe() const {
    return "constructed=" + std::to_string(constructed) + " copied=" + std::to_string(copied) +
           " moved=" + std::to_string(moved) + " destroyed=" + std::to_string(destroyed);
  }
};

// A value whose lifetime is recorded in a LifetimeCounts. A moved-from object keeps
// counting, so "destroyed == constructed + copied + moved" means every object made
// was destroyed exactly once.
class Counted {
 public:
  Counted(LifetimeCounts& counts, int value) : counts_(&counts), value_(value) {
    counts_->constructed.fetch_add(1, std::memory_order_relaxed);
  }
  Counted(const Counted& other) : counts_(other.counts_), value_(other.value_) {
    counts_->copied.fetch_add(1, std::memory_order_relaxed);
  }
  Counted(Counted&& other) noexcept : counts_(other.counts_), value_(other.value_) {
    other.value_ = -1;
    counts_->moved.fetch_add(1, std::memory_order_relaxed);
  }
  Counted& operator=(const Counted&) = delete;
  Counted& operator=(Counted&&) = delete;
  ~Counted() { counts_->destroyed.fetch_add(1, std::memory_order_relaxed); }

  int value() const { return value_; }

 private:
  LifetimeCounts* counts_;
  int value_;
};

// Parks the awaiting task and never wakes it: a deadlock or a leak on purpose.
struct ParkForever {
  const char* reason = "test: parked forever";
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const noexcept {
    orca::detail::prepare_park(orca::detail::current_task(), h, reason);
  }
  void await_resume() const noexcept {}
};

// Copies e.what() for a test to check. For exceptions that cross workers (a task's
// failure rethrown by its joiner): such an object is freed by whichever thread drops
// the last exception_ptr, ordered by libstdc++'s atomic reference count, which TSan
// cannot see (libstdc++ is not built with it) and so reports a read of the object
// here as racing with that free. The read is exempt from TSan, done by hand
// (strlen would be intercepted), and kept out of line so it stays exempt.
[[gnu::noinline]] __attribute__((no_sanitize("thread"))) inline std::string message_of(
    const std::exception& e) {
  std::string out;
  for (const char* p = e.what(); *p != '\0'; ++p)
    out.push_back(*p);
  return out;
}

// Hang guards. Neither is a timing assertion: the limits are wide margins over
// runs that take milliseconds, there only so that a bug which makes the code under
// test spin or sleep forever fails the suite instead of stalling it.

// Aborts the process with a message if it is still armed after `limit`. Meant for
// a death-test child (see expect_finishes_in_child): aborting the test process
// itself would take every later test down with it.
class Watchdog {
 public:
  Watchdog(std::chrono::seconds limit, std::string what)
      : thread_([this, limit, what = std::move(what)] {
          std::unique_lock lock(mutex_);
          if (cv_.wait_for(lock, limit, [&] { return disarmed_; })) return;
          std::fprintf(stderr, "watchdog: %s: still running after %llds, want finished; aborting\n",
                       what.c_str(), static_cast<long long>(limit.count()));
          std::abort();
        }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      disarmed_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

// The child's half of expect_finishes_in_child: runs `body` with its assertions
// collected (gtest does not report a death-test child's own), prints the failures
// to stderr for the parent's report, and exits 0 only if there were none.
[[noreturn]] inline void run_body_and_exit(std::chrono::seconds limit, const std::string& what,
                                           const std::function<void()>& body) {
  Watchdog watchdog(limit, what);
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ALL_THREADS, &results);
    body();
  }
  bool failed = false;
  for (int i = 0; i < results.size(); ++i) {
    const ::testing::TestPartResult& r = results.GetTestPartResult(i);
    if (!r.failed()) continue;
    failed = true;
    std::fprintf(stderr, "%s:%d: %s\n", r.file_name() ? r.file_name() : "?", r.line_number(),
                 r.message());
  }
  std::fflush(stderr);
  std::_Exit(failed ? 1 : 0);
}

// Runs `body` in a child process (a gtest death test) under a Watchdog, so a body
// that hangs (a timer wheel that never stops advancing, a runtime that never
// returns) fails this test after `limit` and its stuck threads die with the child.
inline void expect_finishes_in_child(std::chrono::seconds limit, const std::string& what,
                                     const std::function<void()>& body) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(run_body_and_exit(limit, what, body), ::testing::ExitedWithCode(0), "")
      << what << ": the child process failed or hung (its stderr is above)";
}

}  // namespace orca_test
