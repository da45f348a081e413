// Helpers shared by the context conformance tests: readable error comparisons
// ("got X, want Y"), a look at a canceller's child list through the internal node,
// and a bounded wait for conditions that other tasks or threads make true.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>
#include <thread>

#include "orca/orca.hpp"
#include "support/sanitizers.hpp"

namespace orca_ctx_test {

using namespace std::chrono_literals;

inline std::error_code canceled() {
  return orca::make_error_code(orca::errc::canceled);
}
inline std::error_code deadline_exceeded() {
  return orca::make_error_code(orca::errc::deadline_exceeded);
}

inline std::string show(std::error_code ec) {
  if (!ec) return "no error";
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " (" +
         ec.message() + ")";
}

// EXPECT_TRUE(ErrIs("child.err()", child.err(), canceled())) fails with
// "child.err(): got no error, want orca:1 (context canceled)".
inline ::testing::AssertionResult ErrIs(const char* what, std::error_code got,
                                        std::error_code want) {
  if (got == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": got " << show(got) << ", want " << show(want);
}

// Children currently linked under ctx's own canceller (0 for a context that can
// never be cancelled). Reads the internal node under its lock: the only way to see
// whether a parent keeps dead children.
inline std::size_t linked_children(const orca::Context& ctx) {
  orca::detail::CancelNode* c = ctx.node()->canceller;
  if (c == nullptr) return 0;
  std::size_t n = 0;
  c->lock.lock();
  for (orca::detail::CancelNode* child = c->first_child; child != nullptr;
       child = child->next_sibling)
    ++n;
  c->lock.unlock();
  return n;
}

// Sleeps in 1 ms steps until pred() holds or `cap` passes; returns pred(). The cap
// only stops a broken test from hanging: no test asserts how long this takes.
template <class Pred>
orca::Task<bool> eventually(Pred pred, std::chrono::milliseconds cap = 20s) {
  const auto give_up = orca::Clock::now() + cap;
  while (!pred() && orca::Clock::now() < give_up)
    co_await orca::sleep_for(1ms);
  co_return pred();
}

// Busy-waits (outside any task) until pred() holds or `cap` passes.
template <class Pred>
bool eventually_blocking(Pred pred, std::chrono::milliseconds cap = 20s) {
  const auto give_up = orca::Clock::now() + cap;
  while (!pred() && orca::Clock::now() < give_up)
    std::this_thread::yield();
  return pred();
}

// Tallies of every Counted that points at it; atomic, as copies may die on any worker.
struct LifetimeCounts {
  std::atomic<int> made{0};    // constructed, copied or moved into
  std::atomic<int> copied{0};  // of those, by copy
  std::atomic<int> destroyed{0};
  int alive() const { return made - destroyed; }
  std::string describe() const {
    return "made=" + std::to_string(made) + " copied=" + std::to_string(copied) +
           " destroyed=" + std::to_string(destroyed);
  }
};

// A value whose every construction and destruction is recorded, so a test can
// prove that a context or an after_func neither leaks it nor destroys it twice.
class Counted {
 public:
  Counted(LifetimeCounts& counts, int value) : counts_(&counts), value_(value) { counts_->made++; }
  Counted(const Counted& other) : counts_(other.counts_), value_(other.value_) {
    counts_->made++;
    counts_->copied++;
  }
  Counted(Counted&& other) noexcept : counts_(other.counts_), value_(other.value_) {
    counts_->made++;
  }
  Counted& operator=(const Counted&) = delete;
  ~Counted() { counts_->destroyed++; }
  int value() const { return value_; }

 private:
  LifetimeCounts* counts_;
  int value_;
};

// EXPECT_SURVIVES(scenario) runs `scenario` (a callable returning true on success,
// printing "got X, want Y" to stderr otherwise) in a child process, as a gtest death
// test that wants exit code 0. A scenario that can corrupt memory or crash then
// fails its own test instead of ending the whole run.
#define EXPECT_SURVIVES(scenario)                   \
  do {                                              \
    GTEST_FLAG_SET(death_test_style, "threadsafe"); \
    EXPECT_EXIT(                                    \
        {                                           \
          const bool scenario_ok = (scenario)();    \
          std::fflush(nullptr);                     \
          std::_Exit(scenario_ok ? 0 : 1);          \
        },                                          \
        ::testing::ExitedWithCode(0), "");          \
  } while (false)

// Under a sanitizer the big loops shrink: they test the same property, only slower.
using orca_test::kSanitized;

}  // namespace orca_ctx_test
