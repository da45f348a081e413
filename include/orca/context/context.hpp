// Context: Go's context.Context for orca tasks — cancellation, deadlines and
// request-scoped values carried down a tree of tasks.
//
//   auto [ctx, cancel] = orca::with_cancel(orca::background());
//   for (int i = 0; i < 100'000; ++i)
//     orca::go([ctx] () -> orca::Task<void> { co_await ctx.done(); });
//   cancel();  // every task wakes, in one batch
//
// A Context is a cheap, copyable handle to an immutable node; copies share it.
// Cancelling a parent cancels every descendant exactly once; cancelling a child
// touches nothing above it. A child's deadline is the earlier of its own and its
// parent's. A cancelled child is unlinked from its parent at once, so a long-lived
// parent with many short-lived children does not grow.
//
// Thread safety: every operation, including the cancel functions, may be called
// from any thread, task or not. Errors are values (orca::errc::canceled,
// orca::errc::deadline_exceeded), never exceptions.
#pragma once

#include <chrono>
#include <coroutine>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "orca/context/detail/context_node.hpp"
#include "orca/runtime/clock.hpp"
#include "orca/runtime/detail/frame_allocator.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/errc.hpp"
#include "orca/runtime/result.hpp"

namespace orca {

// A typed key for with_value. Keys compare by identity: two key objects never
// collide, whatever their names or types. Define them once, e.g. as
//   inline const orca::ContextKey<std::string> kTraceId{"trace_id"};
template <class T>
class ContextKey {
 public:
  explicit constexpr ContextKey(const char* name) noexcept : name_(name) {}
  ContextKey(const ContextKey&) = delete;
  ContextKey& operator=(const ContextKey&) = delete;
  const char* name() const noexcept { return name_; }

 private:
  const char* name_;
};

class Context;

namespace detail {

// Awaits a context's cancellation; see Context::done().
class DoneAwaiter {
 public:
  explicit DoneAwaiter(CancelNode* node) noexcept : node_(node) {}
  DoneAwaiter(const DoneAwaiter&) = delete;
  ~DoneAwaiter();

  bool await_ready() const noexcept {
    return node_ != nullptr && node_->done.load(std::memory_order_acquire) && consume_budget();
  }
  bool await_suspend(std::coroutine_handle<> self) noexcept;
  // The context's error.
  std::error_code await_resume() const noexcept;

  // For select: the object this case waits on (null: never done).
  CancelNode* node() const noexcept { return node_; }

 private:
  CancelNode* node_;
  WaitClaim claim_;
  WaitNode wait_;
};

// Awaits a deadline or a context's cancellation, whichever comes first.
class ContextSleepAwaiter {
 public:
  ContextSleepAwaiter(CancelNode* node, Clock::time_point deadline) noexcept
      : node_(node), deadline_(deadline) {}
  ContextSleepAwaiter(const ContextSleepAwaiter&) = delete;
  ~ContextSleepAwaiter();

  bool await_ready() noexcept;
  bool await_suspend(std::coroutine_handle<> self) noexcept;
  Result<void> await_resume() noexcept;

 private:
  static void on_timer(TimerEntry* entry) noexcept;

  CancelNode* node_;
  Clock::time_point deadline_;
  std::error_code early_;  // set when the context was already done
  WaitClaim claim_;
  WaitNode wait_;
  TimerEntry timer_;
};

}  // namespace detail

class Context {
 public:
  // The background context: never cancelled, no deadline, no values.
  Context() noexcept : node_(detail::background_node()) {}
  Context(const Context& other) noexcept : node_(other.node_) { node_->ref(); }
  Context(Context&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  Context& operator=(Context other) noexcept {
    std::swap(node_, other.node_);
    return *this;
  }
  ~Context() {
    if (node_ != nullptr) detail::release(node_);
  }

  // Empty while not done; afterwards canceled or deadline_exceeded, forever.
  std::error_code err() const noexcept {
    const detail::CancelNode* c = node_->canceller;
    if (c == nullptr || !c->done.load(std::memory_order_acquire)) return {};
    return c->err;
  }
  bool is_done() const noexcept { return static_cast<bool>(err()); }
  // The cause given to the cancel function, else err() (Go's context.Cause).
  std::error_code cause() const noexcept {
    const detail::CancelNode* c = node_->canceller;
    if (c == nullptr || !c->done.load(std::memory_order_acquire)) return {};
    return c->cause ? c->cause : c->err;
  }
  // The earliest deadline on the path to the root, if any.
  std::optional<Clock::time_point> deadline() const noexcept {
    if (node_->deadline == Clock::time_point::max()) return std::nullopt;
    return node_->deadline;
  }

  // co_await ctx.done() parks until the context is done and yields err(). A
  // context that can never be cancelled never completes it (Go's nil channel).
  // Cancel safety: the wait is withdrawn cleanly if the awaiting frame is destroyed.
  [[nodiscard]] detail::DoneAwaiter done() const noexcept {
    return detail::DoneAwaiter(node_->canceller);
  }

  // The value stored under `key` by the nearest with_value on the path to the root,
  // or nullptr. Valid as long as this Context (or a copy) lives.
  template <class T>
  const T* value(const ContextKey<T>& key) const noexcept {
    for (const detail::ContextNode* n = node_; n != nullptr; n = n->parent) {
      if (n->kind != detail::ContextKind::kValue) continue;
      const auto* v = static_cast<const detail::ValueNode*>(n);
      if (v->key == &key) return &static_cast<const detail::TypedValueNode<T>*>(v)->value;
    }
    return nullptr;
  }

  detail::ContextNode* node() const noexcept { return node_; }
  // Takes ownership of one reference.
  static Context adopt(detail::ContextNode* node) noexcept { return Context(node); }

 private:
  explicit Context(detail::ContextNode* node) noexcept : node_(node) {}
  detail::ContextNode* node_;
};

// Cancels its context with errc::canceled. Idempotent, copyable, thread-safe.
class CancelFunc {
 public:
  CancelFunc() noexcept = default;
  explicit CancelFunc(detail::CancelNode* node) noexcept : node_(node) {}
  CancelFunc(const CancelFunc& other) noexcept : node_(other.node_) {
    if (node_) node_->ref();
  }
  CancelFunc(CancelFunc&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  CancelFunc& operator=(CancelFunc other) noexcept {
    std::swap(node_, other.node_);
    return *this;
  }
  ~CancelFunc() {
    if (node_) detail::release(node_);
  }
  void operator()() const noexcept {
    if (node_) detail::cancel(node_, make_error_code(errc::canceled), {});
  }

 protected:
  detail::CancelNode* node_ = nullptr;
};

// Cancels its context with errc::canceled and the given cause (nothing: canceled).
class CancelCauseFunc : CancelFunc {
 public:
  using CancelFunc::CancelFunc;
  void operator()(std::error_code cause = {}) const noexcept {
    if (node_) detail::cancel(node_, make_error_code(errc::canceled), cause);
  }
};

Context background() noexcept;
// For code that has not decided which context to use yet (Go's context.TODO).
Context todo() noexcept;

std::pair<Context, CancelFunc> with_cancel(const Context& parent);
std::pair<Context, CancelCauseFunc> with_cancel_cause(const Context& parent);
// Done at `deadline` with deadline_exceeded (and `cause`, if given), or earlier
// through the cancel function or the parent. Always call the cancel function when
// done with it: it releases the timer at once.
std::pair<Context, CancelFunc> with_deadline(const Context& parent, Clock::time_point deadline,
                                             std::error_code cause = {});
std::pair<Context, CancelFunc> with_timeout(const Context& parent, Clock::duration timeout,
                                            std::error_code cause = {});
// Keeps the parent's values, drops its cancellation and deadline.
Context without_cancel(const Context& parent);

namespace detail {
ValueNode* link_value(ValueNode* node, const Context& parent, const void* key, const char* key_name,
                      std::uint32_t size) noexcept;
}  // namespace detail

// A child carrying `value` under `key`; for request-scoped data (user, trace id),
// not for passing parameters.
template <class T, class U>
Context with_value(const Context& parent, const ContextKey<T>& key, U&& value) {
  using Node = detail::TypedValueNode<T>;
  void* mem = detail::allocate_frame(sizeof(Node));
  Node* node;
  try {
    node = new (mem) Node(std::forward<U>(value));
  } catch (...) {
    detail::deallocate_frame(mem, sizeof(Node));
    throw;
  }
  node->destroy_value = [](detail::ValueNode* v) noexcept {
    static_cast<Node*>(v)->~Node();
    detail::deallocate_frame(v, sizeof(Node));
  };
  return Context::adopt(detail::link_value(node, parent, &key, key.name(), sizeof(Node)));
}

// A readable form for logs (Go's fmt.Sprint(ctx)): the derivations from the root,
// then whether the context is done and with what, e.g.
//   background.with_cancel.with_deadline(2026-12-06T21:30:00.250Z, remaining 1.500s)
//   background.with_value(trace_id).with_cancel [done: context canceled]
// A with_deadline (or with_timeout) whose parent ends no later shows as with_cancel,
// since that is what it made (as in Go). Deadlines are shown in UTC, converted from
// the steady clock at the time of the call. Thread-safe; a snapshot.
std::string to_string(const Context& ctx);

// Stops a function registered with after_func.
class AfterFuncStop {
 public:
  explicit AfterFuncStop(detail::AfterFuncNode* node) noexcept : node_(node) {}
  AfterFuncStop(AfterFuncStop&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  AfterFuncStop& operator=(AfterFuncStop&&) = delete;
  ~AfterFuncStop() {
    if (node_) detail::release(node_);
  }
  // True if this call prevented the function from starting; false if it had
  // already started (or was stopped before).
  bool operator()() const noexcept;

 private:
  detail::AfterFuncNode* node_;
};

namespace detail {
AfterFuncNode* register_after_func(const Context& ctx, AfterFuncNode* node);
}  // namespace detail

// Runs `fn` once, in its own task, when ctx is done (at once if it already is).
// `fn` may be a plain callable or return Task<void>. Requires a running runtime
// when the function starts.
template <class F>
AfterFuncStop after_func(const Context& ctx, F&& fn);

// Sleeps until `deadline` or until ctx is done; returns ctx's error in the latter case.
[[nodiscard]] inline detail::ContextSleepAwaiter sleep_until(const Context& ctx,
                                                             Clock::time_point deadline) noexcept {
  return detail::ContextSleepAwaiter(ctx.node()->canceller, deadline);
}
template <class Rep, class Period>
[[nodiscard]] detail::ContextSleepAwaiter sleep_for(const Context& ctx,
                                                    std::chrono::duration<Rep, Period> d) noexcept {
  const auto now = Clock::now();
  if (d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(Clock::time_point::max() -
                                                                          now))
    return detail::ContextSleepAwaiter(ctx.node()->canceller, Clock::time_point::max());
  return detail::ContextSleepAwaiter(ctx.node()->canceller,
                                     now + std::chrono::duration_cast<Clock::duration>(d));
}

}  // namespace orca

#include "orca/context/detail/after_func_impl.hpp"
