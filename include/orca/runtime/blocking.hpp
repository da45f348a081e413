// orca::blocking(fn): run a call that blocks its thread (file I/O, a database
// library, DNS) on the runtime's elastic thread pool and resume the task with its
// result, leaving the worker free for other tasks.
//
//   std::string text = co_await orca::blocking([&] { return read_file(path); });
//
// The callable is moved into the awaiter (in the awaiting coroutine's frame), so it
// and its captures live until the call returns. Exceptions it throws are rethrown
// in the task. Cancel safety: the call cannot be interrupted; the task resumes only
// when it returns. Must be awaited inside a task.
#pragma once

#include <coroutine>
#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

#include "orca/runtime/detail/blocking_job.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/task.hpp"

namespace orca {

namespace detail {

template <class F>
class BlockingAwaiter {
 public:
  using Result = std::invoke_result_t<F&>;

  explicit BlockingAwaiter(F fn) : fn_(std::move(fn)) {}

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> self) {
    job_.run = &BlockingAwaiter::execute;
    job_.owner = this;
    job_.task = current_task();
    prepare_park(job_.task, self, "blocking call");
    submit_blocking(&job_);  // may resume us on a worker before it returns
  }
  Result await_resume() { return result_.take(); }

 private:
  static void execute(BlockingJob* job) noexcept {
    auto* self = static_cast<BlockingAwaiter*>(job->owner);
    try {
      if constexpr (std::is_void_v<Result>) {
        std::invoke(self->fn_);
        self->result_.set_value();
      } else {
        self->result_.set_value(std::invoke(self->fn_));
      }
    } catch (...) {
      self->result_.set_error(std::current_exception());
    }
    wake(self->job_.task, WakeOrder::kBack);  // last touch of *self
  }

  BlockingJob job_;
  F fn_;
  TaskResult<Result> result_;
};

}  // namespace detail

template <class F>
[[nodiscard]] detail::BlockingAwaiter<std::decay_t<F>> blocking(F&& fn) {
  return detail::BlockingAwaiter<std::decay_t<F>>(std::forward<F>(fn));
}

}  // namespace orca
