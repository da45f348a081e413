// OnceFunc and OnceValue: a function wrapped so that it runs at most once, however
// many tasks call the wrapper (Go 1.21's sync.OnceFunc, sync.OnceValue and
// sync.OnceValues). Both are an orca::Once and the function, and wait as Once does.
//
//   orca::OnceFunc init([]() -> orca::Task<void> { co_await register_metrics(); });
//   orca::OnceValue config([]() -> orca::Task<orca::Result<Config>> { co_return load(); });
//   Result<void> r = co_await init(ctx);      // runs it, or waits for the run under way
//   Result<Config> c = co_await config(ctx);  // a copy of the value, or load()'s error
//
// The function may be a plain callable or return a Task, and takes no argument.
// OnceFunc's returns void (or Task<void>). OnceValue's returns a value V, a Result<V>,
// or a Task of either; every caller receives a Result<V> holding a copy of the value
// (V must be copyable: for a large value, make V a std::shared_ptr<const ...>), or
// the error the function returned, which is kept and returned to every caller, as
// Go's OnceValues(func() (T, error)) returns its error every time. Go's OnceValues
// with two results is OnceValue with a function returning a std::pair or tuple.
//
// The first caller runs the function; callers arriving meanwhile park until it
// finishes; later callers return at once (one atomic load, then the copy). Once it
// has run, the function object is destroyed, and with it its captures (Go drops f).
//
// Errors: the context's error when ctx ends while the caller waits for another
// task's run (OnceValue: or the error the function returned). Exceptions follow
// orca::Once, not Go: an exception thrown by the function reaches the caller that
// ran it and counts as no run at all: callers parked meanwhile wake and one of them
// runs it again, as does the next caller (Go's wrappers re-panic with the first
// panic on every call). An error *returned* as a
// Result is a run, and is kept.
//
// Cancel safety: a caller parked with a context returns the context's error when the
// context is done first; the run goes on in the task that started it. The caller
// running the function is not interrupted by its context.
//
// Thread safety: call from any task, any number at once; done() from anywhere. The
// wrapper must outlive every call of it. Not copyable or movable (callers share it by
// reference, as they would share a Go func value).
#pragma once

#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"
#include "orca/sync/detail/call_result.hpp"
#include "orca/sync/once.hpp"

namespace orca {

template <class F>
class OnceFunc {
  static_assert(std::is_void_v<detail::CallOutput<F>>,
                "OnceFunc wraps a function returning void or Task<void>; for a value, use "
                "OnceValue");

  // What Once runs: the stored function, which it then destroys.
  struct Run {
    OnceFunc* self;
    auto operator()() const { return self->run(); }
  };

 public:
  explicit OnceFunc(F fn) : fn_(std::in_place, std::move(fn)) {}
  OnceFunc(const OnceFunc&) = delete;
  OnceFunc& operator=(const OnceFunc&) = delete;

  // co_await f(ctx) -> Result<void>: runs the function unless it has run; ctx's error
  // if ctx ends while another task's run is under way. Rethrows the function's
  // exception (the next caller then runs it again).
  [[nodiscard]] Once::CallAwaiter<Run> operator()(const Context& ctx) {
    return once_.call(ctx, Run{this});
  }
  // As f(ctx), without cancellation.
  [[nodiscard]] Once::CallAwaiter<Run> operator()() { return once_.call(Run{this}); }

  // True once the function has returned (normally).
  bool done() const noexcept { return once_.done(); }

 private:
  auto run() {
    if constexpr (detail::IsTask<std::invoke_result_t<F&>>::value) {
      return run_task();
    } else {
      std::invoke(*fn_);
      fn_.reset();
    }
  }
  Task<void> run_task() {
    {
      auto task = std::invoke(*fn_);  // a named local, not a co_await temporary (GCC PR 101367)
      co_await std::move(task);
    }
    fn_.reset();  // after the task's frame, which may refer to the captures, is gone
  }

  Once once_;
  std::optional<F> fn_;  // only the task running it touches it (Once admits one at a time)
};

template <class F>
class OnceValue {
 public:
  using value_type = detail::CallValue<F>;
  static_assert(!std::is_void_v<value_type>,
                "OnceValue wraps a function returning a value; for void, use OnceFunc");
  static_assert(std::is_copy_constructible_v<value_type>,
                "every caller of a OnceValue receives a copy of the value");

  class Awaiter;

  explicit OnceValue(F fn) : fn_(std::in_place, std::move(fn)) {}
  OnceValue(const OnceValue&) = delete;
  OnceValue& operator=(const OnceValue&) = delete;

  // co_await v(ctx) -> Result<value_type>: runs the function unless it has run, then a
  // copy of its value or the error it returned; ctx's error if ctx ends while another
  // task's run is under way. Rethrows the function's exception (the next caller then
  // runs it again).
  [[nodiscard]] Awaiter operator()(const Context& ctx) {
    return Awaiter(*this, ctx.node()->canceller);
  }
  // As v(ctx), without cancellation.
  [[nodiscard]] Awaiter operator()() { return Awaiter(*this, nullptr); }

  // True once the function has returned (normally), with a value or an error.
  bool done() const noexcept { return once_.done(); }

 private:
  struct Run {
    OnceValue* self;
    auto operator()() const { return self->run(); }
  };

  auto run() {
    if constexpr (detail::IsTask<std::invoke_result_t<F&>>::value) {
      return run_task();
    } else {
      value_.emplace(std::invoke(*fn_));
      fn_.reset();
    }
  }
  Task<void> run_task() {
    {
      auto task = std::invoke(*fn_);  // a named local, not a co_await temporary (GCC PR 101367)
      value_.emplace(co_await std::move(task));
    }
    fn_.reset();  // after the task's frame, which may refer to the captures, is gone
  }

  Once once_;
  std::optional<F> fn_;  // only the task running it touches it (Once admits one at a time)
  // Written once, by the run, before Once's release of done; read only after an
  // acquire of done (Once::call returns only then), so never concurrently with the write.
  std::optional<Result<value_type>> value_;
};

// co_await v(ctx): Once's call, then a copy of the value.
template <class F>
class OnceValue<F>::Awaiter {
 public:
  Awaiter(OnceValue& self, detail::CancelNode* cancel)
      : self_(self), call_(self.once_, cancel, Run{&self}) {}
  Awaiter(const Awaiter&) = delete;
  Awaiter& operator=(const Awaiter&) = delete;

  bool await_ready() noexcept { return call_.await_ready(); }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> self) {
    return call_.await_suspend(self);
  }
  Result<value_type> await_resume() {
    Result<void> ran = call_.await_resume();  // rethrows the function's exception
    if (!ran) return ran.error();
    return *self_.value_;
  }

 private:
  OnceValue& self_;
  Once::CallAwaiter<Run> call_;
};

}  // namespace orca
