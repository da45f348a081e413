// WaitGroup: waits for a collection of tasks to finish (Go's sync.WaitGroup).
//
//   orca::WaitGroup wg;
//   wg.add(n);                        // before starting the tasks
//   ... each task calls wg.done() when it ends ...
//   co_await wg.wait();               // parks until the counter is zero
//   Result<void> r = co_await wg.wait(ctx);  // ... or until ctx is done
//
// Thread safety: add/done from any thread or task; wait from tasks, any number of
// waiters, all woken in one batch when the counter reaches zero.
// Cancel safety: a wait(ctx) ended by the context returns its error and leaves the
// group untouched.
// Errors: driving the counter below zero (or above 2^31 - 1) is a programmer
// error: add/done throw std::logic_error and leave the counter as it was (Go panics).
// As in Go, the group may be destroyed as soon as wait() returns.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <system_error>

#include "orca/context/context.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/detail/wait_node.hpp"
#include "orca/runtime/result.hpp"

namespace orca {

class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  void add(std::int64_t delta);
  void done() { add(-1); }
  std::int64_t count() const noexcept { return counter_of(state_.load(std::memory_order_acquire)); }

  class WaitAwaiter {
   public:
    WaitAwaiter(WaitGroup& wg, detail::CancelNode* ctx) noexcept : wg_(wg), ctx_(ctx) {}
    WaitAwaiter(const WaitAwaiter&) = delete;
    ~WaitAwaiter();
    bool await_ready() noexcept;
    bool await_suspend(std::coroutine_handle<> self) noexcept;
    Result<void> await_resume() noexcept;

   private:
    WaitGroup& wg_;
    detail::CancelNode* ctx_;
    std::error_code early_;
    detail::WaitClaim claim_;
    detail::WaitNode group_node_;
    detail::WaitNode ctx_node_;
  };
  // Without a context the wait cannot fail: awaiting yields nothing.
  class PlainWaitAwaiter : public WaitAwaiter {
   public:
    using WaitAwaiter::WaitAwaiter;
    void await_resume() noexcept { (void)WaitAwaiter::await_resume(); }
  };
  // Parks the task until the counter is zero.
  [[nodiscard]] PlainWaitAwaiter wait() noexcept { return PlainWaitAwaiter(*this, nullptr); }
  // ... or until ctx is done: yields Result<void> with ctx's error in that case.
  [[nodiscard]] WaitAwaiter wait(const Context& ctx) noexcept {
    return WaitAwaiter(*this, ctx.node()->canceller);
  }

 private:
  friend class WaitAwaiter;
  // Counter (high 32 bits, signed) and registered waiters (low 32 bits) in one word,
  // as Go packs them: the add() that brings the counter to zero learns in the same
  // atomic step whether anyone waits, and if nobody does it never touches the
  // group again (the last waiter may already have destroyed it).
  static std::int64_t counter_of(std::uint64_t state) noexcept {
    return static_cast<std::int32_t>(state >> 32);
  }
  static std::uint32_t waiters_of(std::uint64_t state) noexcept {
    return static_cast<std::uint32_t>(state);
  }
  std::atomic<std::uint64_t> state_{0};
  detail::SpinLock lock_;
  detail::WaitQueue waiters_;
};

}  // namespace orca
