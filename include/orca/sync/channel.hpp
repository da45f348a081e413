// Channel<T>: Go's `chan T` for orca tasks — a typed, optionally buffered queue
// that tasks send to and receive from, parking while it cannot proceed.
//
//   orca::Channel<int> ch(16);                       // capacity 0: rendezvous
//   orca::go([&]() -> orca::Task<void> {
//     for (int i = 0; i < 100; ++i) (void)co_await ch.send(ctx, i);
//     (void)ch.close();
//   });
//   while (auto v = co_await ch.recv(ctx)) use(*v);  // ends when closed and drained
//
// Semantics (Go's):
//  - Capacity 0 is a rendezvous: a send completes only when a receiver has taken the
//    value. Capacity n buffers up to n values, received in FIFO order.
//  - A value handed to a parked peer goes straight into that peer's awaiter (no
//    buffer round trip), and the peer runs next on the waker's worker.
//  - close(): values already buffered are still delivered; then every receive
//    reports errc::closed. Every parked receiver and sender wakes (in one batch);
//    a send on a closed channel, a parked one included, reports errc::closed and
//    hands its value back in the SendResult (Go panics instead). A second close()
//    reports errc::closed; neither is undefined behaviour.
//  - Each value is received exactly once; nothing is lost or duplicated, with any
//    number of senders and receivers on any threads.
//
// Range-style consumption (C++20 has no `for co_await`), both end when the channel
// is closed and drained, or when ctx is done; `v.error()` tells which:
//   while (auto v = co_await ch.recv(ctx)) { use(*v); }
//   for (auto v = co_await ch.recv(ctx); v; v = co_await ch.recv(ctx)) { use(*v); }
//
// Errors (Result / SendResult): the context's error (errc::canceled,
// errc::deadline_exceeded), errc::closed, and for try_send/try_recv
// errc::would_block. A done context fails an operation at once, even one that
// could complete: a loop over a busy channel still stops when cancelled.
//
// Cancel safety: a send or receive parked with a context wakes when the context is
// done, leaves the channel's queue and returns the context's error. Then no value
// was taken: a cancelled receive took none, a cancelled send gives its value back
// (SendResult::unsent()). If the value is handed over in the same instant, the
// hand-over wins and the operation succeeds: an operation either completes or
// fails, never both.
//
// Thread safety: every member may be called from any task on any worker;
// try_send, try_recv, close, len and cap also from threads outside the runtime
// (they never park). The awaitables (send, recv) must be awaited inside a task.
// The channel must outlive every operation on it, and the context passed to an
// operation must outlive that operation (a named local is; a temporary in the
// co_await operand may not be, GCC PR 101367).
//
// Cooperative budget: an operation that completes without parking spends one unit
// of the task's budget and, when it is exhausted, yields once (as tokio does), so
// a loop on an always-ready channel cannot starve the other tasks of its worker.
//
// T must be nothrow move constructible (values are moved under the channel's lock
// and on hand-over paths that cannot fail); sending a const T& copies it first,
// outside any lock.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/runtime/detail/perturb.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/errc.hpp"
#include "orca/runtime/result.hpp"
#include "orca/sync/detail/channel_core.hpp"
#include "orca/sync/detail/parked_wait.hpp"

namespace orca {

template <class T>
class Channel;

// The outcome of a send: success, or an error together with the value that was not
// sent, so that a failed send never loses a (possibly move-only) value.
//   auto r = co_await ch.send(ctx, std::move(job));
//   if (!r) requeue(std::move(r).unsent());
// Converts to Result<void> for callers that only want the error.
template <class T>
class [[nodiscard]] SendResult {
 public:
  SendResult() noexcept = default;  // sent
  SendResult(std::error_code error, T&& unsent) noexcept
      : code_(error.value()),
        category_(&error.category()),
        unsent_(std::in_place, std::move(unsent)) {}

  bool has_value() const noexcept { return category_ == nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept {
    return category_ == nullptr ? std::error_code() : std::error_code(code_, *category_);
  }
  // Throws std::system_error if the send failed (the checked way to escalate).
  void value() const {
    if (!has_value()) throw std::system_error(error());
  }
  // The value that was not sent. Only when !has_value().
  T& unsent() & noexcept { return *unsent_; }
  T&& unsent() && noexcept { return std::move(*unsent_); }

  operator Result<void>() const noexcept {  // NOLINT: implicit, drops the value
    return has_value() ? Result<void>() : Result<void>(error());
  }

 private:
  // The error's parts rather than a std::error_code: a default error_code calls
  // std::system_category() out of line, once per successful send otherwise.
  int code_ = 0;
  const std::error_category* category_ = nullptr;  // null: sent
  std::optional<T> unsent_;
};

namespace detail {

template <class T, class Op>
class ChanOpAwaiter;
template <class T>
class RecvAwaiter;
template <class T>
class SendAwaiter;
template <class T, class Case>
class ChannelCase;
template <class T>
class RecvCase;
template <class T>
class SendCase;

// Raw storage for one T that a waker constructs into.
template <class T>
class ValueSlot {
 public:
  void* raw() noexcept { return bytes_; }
  T& get() noexcept { return *std::launder(reinterpret_cast<T*>(bytes_)); }
  void destroy() noexcept { get().~T(); }

 private:
  alignas(T) unsigned char bytes_[sizeof(T)];
};

}  // namespace detail

template <class T>
class Channel : private detail::ChannelCore {
  static_assert(!std::is_reference_v<T> && std::is_object_v<T>, "Channel<T> holds values");
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                "Channel<T> moves values on paths that cannot fail: T's move constructor and "
                "destructor must be noexcept");

 public:
  using value_type = T;

  // Capacity 0 makes a rendezvous channel. Throws std::length_error if the buffer
  // could not be sized, std::bad_alloc if it could not be allocated.
  explicit Channel(std::size_t capacity = 0) : ChannelCore(checked_capacity(capacity)) {
    if (capacity > 0) buf_ = ::operator new (capacity * sizeof(T), std::align_val_t{alignof(T)});
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  // Destroys the values still buffered. Tasks still parked on the channel (a bug,
  // or runtime shutdown) are left parked, and leave it alone when torn down.
  ~Channel() {
    orphan_waiters();
    for (std::uint32_t i = 0, at = head_; i < count_; ++i, at = at + 1 == cap_ ? 0 : at + 1)
      ring()[at].~T();
    if (buf_ != nullptr) ::operator delete (buf_, std::align_val_t{alignof(T)});
  }

  // co_await ch.send(ctx, v) -> SendResult<T>: parks until a receiver takes the
  // value (capacity 0) or it is buffered; errc::closed or ctx's error otherwise.
  template <class U = T>
  requires std::is_constructible_v<T, U&&>
  [[nodiscard]] detail::SendAwaiter<T> send(const Context& ctx, U&& value) {
    return detail::SendAwaiter<T>(*this, ctx.node()->canceller, std::forward<U>(value));
  }
  // As send(ctx, v), without cancellation.
  template <class U = T>
  requires std::is_constructible_v<T, U&&>
  [[nodiscard]] detail::SendAwaiter<T> send(U&& value) {
    return detail::SendAwaiter<T>(*this, nullptr, std::forward<U>(value));
  }

  // co_await ch.recv(ctx) -> Result<T>: parks until a value is available; a value,
  // or errc::closed once closed and drained, or ctx's error.
  [[nodiscard]] detail::RecvAwaiter<T> recv(const Context& ctx) noexcept {
    return detail::RecvAwaiter<T>(*this, ctx.node()->canceller);
  }
  // As recv(ctx), without cancellation.
  [[nodiscard]] detail::RecvAwaiter<T> recv() noexcept {
    return detail::RecvAwaiter<T>(*this, nullptr);
  }

  // Sends if that can be done without waiting; else errc::would_block (full, or no
  // receiver waiting on a rendezvous channel) or errc::closed, with the value back.
  template <class U = T>
  requires std::is_constructible_v<T, U&&> SendResult<T> try_send(U&& value) {
    T v(std::forward<U>(value));
    if (!send_may_complete())
      return SendResult<T>(make_error_code(errc::would_block), std::move(v));
    switch (send_now(v)) {
      case detail::ChanOp::kDone:
        return SendResult<T>();
      case detail::ChanOp::kClosed:
        return SendResult<T>(make_error_code(errc::closed), std::move(v));
      case detail::ChanOp::kWouldBlock:
        break;
    }
    return SendResult<T>(make_error_code(errc::would_block), std::move(v));
  }

  // Receives if a value is ready; else errc::would_block, or errc::closed once the
  // channel is closed and drained.
  Result<T> try_recv() {
    if (!recv_may_complete()) return errc::would_block;
    detail::ValueSlot<T> slot;
    switch (recv_now(slot.raw())) {
      case detail::ChanOp::kDone: {
        Result<T> r(std::move(slot.get()));
        slot.destroy();
        return r;
      }
      case detail::ChanOp::kClosed:
        return errc::closed;
      case detail::ChanOp::kWouldBlock:
        break;
    }
    return errc::would_block;
  }

  // Closes the channel and wakes every parked sender and receiver. errc::closed if
  // it was already closed.
  using ChannelCore::close;
  // Values buffered right now (0 for a rendezvous channel).
  using ChannelCore::cap;
  using ChannelCore::len;

 private:
  template <class, class>
  friend class detail::ChanOpAwaiter;
  template <class, class>
  friend class detail::ChannelCase;
  friend class detail::RecvAwaiter<T>;
  friend class detail::SendAwaiter<T>;
  friend class detail::RecvCase<T>;
  friend class detail::SendCase<T>;

  static std::uint32_t checked_capacity(std::size_t capacity) {
    constexpr std::size_t kMax = std::min<std::size_t>(UINT32_MAX, SIZE_MAX / sizeof(T));
    if (capacity > kMax) throw std::length_error("orca::Channel: capacity too large");
    return static_cast<std::uint32_t>(capacity);
  }
  T* ring() noexcept { return static_cast<T*>(buf_); }

  detail::ChannelCore& core() noexcept { return *this; }

  // Under the lock: receives into `out` (raw storage) from the ring or a parked
  // sender. `peer` is set to a sender to wake once the lock is released.
  detail::ChanOp recv_locked(void* out, detail::TaskHeader*& peer) noexcept {
    if (count_ > 0) {
      T* oldest = ring() + head_;
      ::new (out) T(std::move(*oldest));
      oldest->~T();
      head_ = head_ + 1 == cap_ ? 0 : head_ + 1;
      if (detail::ChanWaiter* s = take_peer(sendq_)) {
        // The ring was full: the parked sender's value fills the place just freed.
        std::uint64_t tail = std::uint64_t{head_} + count_ - 1;
        if (tail >= cap_) tail -= cap_;
        ::new (ring() + tail) T(std::move(*static_cast<T*>(s->slot)));
        peer = s->claim->task;
      } else {
        --count_;
      }
      publish();
      return detail::ChanOp::kDone;
    }
    if (detail::ChanWaiter* s = take_peer(sendq_)) {  // rendezvous: straight hand-over
      ::new (out) T(std::move(*static_cast<T*>(s->slot)));
      peer = s->claim->task;
      publish();
      return detail::ChanOp::kDone;
    }
    publish();  // take_peer may have dropped stale nodes
    return closed_ ? detail::ChanOp::kClosed : detail::ChanOp::kWouldBlock;
  }

  // Under the lock: hands `value` to a parked receiver or buffers it (moving from it
  // only then). `peer` is set to a receiver to wake once the lock is released.
  detail::ChanOp send_locked(T& value, detail::TaskHeader*& peer) noexcept {
    if (closed_) return detail::ChanOp::kClosed;
    if (detail::ChanWaiter* r = take_peer(recvq_)) {
      ::new (r->slot) T(std::move(value));
      peer = r->claim->task;
      publish();
      return detail::ChanOp::kDone;
    }
    if (count_ < cap_) {
      std::uint64_t tail = std::uint64_t{head_} + count_;
      if (tail >= cap_) tail -= cap_;
      ::new (ring() + tail) T(std::move(value));
      ++count_;
      publish();
      return detail::ChanOp::kDone;
    }
    publish();
    return detail::ChanOp::kWouldBlock;
  }

  // recv_locked / send_locked in their own critical section, then the peer's wake-up.
  detail::ChanOp recv_now(void* out) noexcept {
    detail::TaskHeader* peer = nullptr;
    lock_.lock();
    ORCA_PERTURB("chan.locked");
    const detail::ChanOp op = recv_locked(out, peer);
    lock_.unlock();
    if (peer != nullptr) wake_peer(peer);
    return op;
  }
  detail::ChanOp send_now(T& value) noexcept {
    detail::TaskHeader* peer = nullptr;
    lock_.lock();
    ORCA_PERTURB("chan.locked");
    const detail::ChanOp op = send_locked(value, peer);
    lock_.unlock();
    if (peer != nullptr) wake_peer(peer);
    return op;
  }

  // Wakes the peer a completed operation claimed (after the lock is released). It
  // runs next on this worker (Go's runnext): the peers stay on one core and share
  // its cache. Measured: queueing it behind others (kBack) so that an idle worker
  // steals it halves worker_pool and slows chan_throughput on the 2-vCPU VM,
  // where a cross-core cache-line transfer costs 100-400 ns.
  static void wake_peer(detail::TaskHeader* peer) noexcept {
    ORCA_PERTURB("chan.before_wake");
    detail::wake(peer, detail::WakeOrder::kNext);
  }
};

namespace detail {

// What co_await ch.recv(ctx) and co_await ch.send(ctx, v) share: the context check,
// one attempt under the channel's lock, else parking through ParkedWait
// (parked_wait.hpp) in the queue of the operation's direction, and settling the
// outcome on resumption. `Op` (RecvAwaiter or SendAwaiter) supplies the direction
// (kSend, kWaitReason), the attempt (op_locked) and the value's slot.
template <class T, class Op>
class ChanOpAwaiter {
 public:
  ChanOpAwaiter(const ChanOpAwaiter&) = delete;
  ChanOpAwaiter& operator=(const ChanOpAwaiter&) = delete;

  // Only the context is checked here; the operation itself runs in await_suspend,
  // under one lock acquisition. (Peeking at the snapshot first would cost a second
  // cache-line transfer between cores and save no lock: measured slower.)
  bool await_ready() noexcept {
    if (!wait_.context_done()) return false;
    state_ = State::kCanceled;
    return consume_budget();
  }

  // Out of line: nothing of the frame may be touched once parked (LLVM 56301).
  [[gnu::noinline]] bool await_suspend(std::coroutine_handle<> self) noexcept {
    if (state_ != State::kPending) {  // cancelled, but the budget is spent
      yield_current(self);
      return true;
    }
    Op& op = static_cast<Op&>(*this);
    ChannelCore& ch = ch_->core();
    TaskHeader* peer = nullptr;
    ch.lock().lock();
    ORCA_PERTURB("chan.locked");
    const ChanOp done = op.op_locked(peer);
    if (done != ChanOp::kWouldBlock) {
      ch.lock().unlock();
      if (peer != nullptr) Channel<T>::wake_peer(peer);
      state_ = done == ChanOp::kDone ? State::kDone : State::kClosed;
      return suspend_if_budget_spent(self);
    }
    WaitQueue& queue = Op::kSend ? ch.senders() : ch.receivers();
    if (wait_.park(ch.lock(), queue, op.slot(), self, Op::kWaitReason, [&ch] { ch.publish(); }))
      return true;
    state_ = State::kCanceled;
    return false;
  }

 protected:
  enum class State : std::uint8_t { kPending, kDone, kClosed, kCanceled, kTaken };

  ChanOpAwaiter(Channel<T>& ch, CancelNode* cancel) noexcept : ch_(&ch), wait_(cancel) {}
  // Destroyed while parked (runtime teardown; nothing runs concurrently): leaves the
  // channel's queue. True if a peer had completed the operation, never resumed.
  bool withdraw_at_teardown() noexcept {
    if (state_ != State::kPending || !wait_.parked()) return false;
    if (wait_.node().linked) ch_->core().withdraw(wait_.node(), Op::kSend);
    return wait_.winner_at_teardown() == ParkedWait<ChanWaiter>::kObjectCase &&
           !wait_.node().closed;
  }
  // The state after a resumption: a parked operation learns who woke it.
  State settle() noexcept {
    if (state_ == State::kPending) {
      if (wait_.resumed_by_object()) {
        state_ = wait_.node().closed ? State::kClosed : State::kDone;
      } else {
        ch_->core().withdraw(wait_.node(), Op::kSend);
        state_ = State::kCanceled;
      }
    }
    return state_;
  }

  Channel<T>* ch_;
  State state_ = State::kPending;
  ParkedWait<ChanWaiter> wait_;
};

// co_await ch.recv(ctx) -> Result<T>.
template <class T>
class RecvAwaiter : public ChanOpAwaiter<T, RecvAwaiter<T>> {
  using Base = ChanOpAwaiter<T, RecvAwaiter<T>>;
  using typename Base::State;

 public:
  static constexpr bool kSend = false;
  static constexpr const char* kWaitReason = "chan receive";

  RecvAwaiter(Channel<T>& ch, CancelNode* cancel) noexcept : Base(ch, cancel) {}
  ~RecvAwaiter() {
    if (this->state_ == State::kDone || this->withdraw_at_teardown())
      slot_.destroy();  // received, never taken
  }

  Result<T> await_resume() noexcept {
    switch (this->settle()) {
      case State::kDone: {
        this->state_ = State::kTaken;
        Result<T> r(std::move(slot_.get()));
        slot_.destroy();
        return r;
      }
      case State::kClosed:
        return errc::closed;
      default:
        return this->wait_.context_error();
    }
  }

  ChanOp op_locked(TaskHeader*& peer) noexcept { return this->ch_->recv_locked(slot_.raw(), peer); }
  void* slot() noexcept { return slot_.raw(); }

 private:
  ValueSlot<T> slot_;
};

// co_await ch.send(ctx, v) -> SendResult<T>. The awaiter owns the value until a
// receiver (or the ring) takes it, and gives it back in the result if none did.
template <class T>
class SendAwaiter : public ChanOpAwaiter<T, SendAwaiter<T>> {
  using Base = ChanOpAwaiter<T, SendAwaiter<T>>;
  using typename Base::State;

 public:
  static constexpr bool kSend = true;
  static constexpr const char* kWaitReason = "chan send";

  template <class U>
  SendAwaiter(Channel<T>& ch, CancelNode* cancel, U&& value)
      : Base(ch, cancel), value_(std::forward<U>(value)) {}
  ~SendAwaiter() { this->withdraw_at_teardown(); }

  SendResult<T> await_resume() noexcept {
    switch (this->settle()) {
      case State::kDone:
        return SendResult<T>();
      case State::kClosed:
        return SendResult<T>(make_error_code(errc::closed), std::move(value_));
      default:
        return SendResult<T>(this->wait_.context_error(), std::move(value_));
    }
  }

  ChanOp op_locked(TaskHeader*& peer) noexcept { return this->ch_->send_locked(value_, peer); }
  void* slot() noexcept { return &value_; }

 private:
  T value_;
};

}  // namespace detail
}  // namespace orca
