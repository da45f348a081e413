// WaitGroup: waits for a collection of tasks to finish (Go's sync.WaitGroup).
//
//   orca::WaitGroup wg;
//   wg.add(n);                       // before starting the tasks
//   ... each task calls wg.done() when it ends ...
//   co_await wg.wait();              // parks until the counter is zero
//
// Thread safety: add/done from any thread or task; wait from tasks, any number of
// waiters, all woken in one batch when the counter reaches zero.
// Errors: a counter driven below zero is a programmer error and throws
// std::logic_error from the add/done that did it (Go panics).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <mutex>

#include "orca/runtime/detail/scheduling.hpp"

namespace orca {

class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  void add(std::int64_t delta);
  void done() { add(-1); }
  std::int64_t count() const noexcept { return counter_.load(std::memory_order_acquire); }

  class WaitAwaiter {
   public:
    explicit WaitAwaiter(WaitGroup& wg) noexcept : wg_(wg) {}
    bool await_ready() const noexcept { return wg_.count() == 0 && detail::consume_budget(); }
    bool await_suspend(std::coroutine_handle<> self);
    void await_resume() const noexcept {}

   private:
    WaitGroup& wg_;
  };
  // Parks the task until the counter is zero.
  [[nodiscard]] WaitAwaiter wait() noexcept { return WaitAwaiter(*this); }

 private:
  std::atomic<std::int64_t> counter_{0};
  std::mutex mutex_;
  detail::TaskHeader* waiters_ = nullptr;  // linked through TaskHeader::next
};

}  // namespace orca
