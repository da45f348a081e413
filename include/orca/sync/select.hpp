// select: Go's select statement for orca tasks — wait for the first of several
// channel operations, context cancellations and timers.
//
//   auto r = co_await orca::select(ctx,                 // optional: the select's own context
//                                  orca::recv(jobs),    // case 0
//                                  orca::send(out, v),  // case 1
//                                  quit.done(),         // case 2: another context's done
//                                  orca::after(10ms));  // case 3
//   switch (r.index()) {
//     case 0: if (auto& job = r.get<0>()) run(*job); else /* closed */; break;
//     case 1: /* sent (or r.get<1>().error() == errc::closed) */ break;
//     case 2: /* quit: r.get<2>() is its error */ break;
//     case 3: /* timed out */ break;
//     default: return r.error();  // index() == -1: ctx is done
//   }
//
// Cases: recv(ch) -> Result<T> (the value, or errc::closed once closed and drained);
// send(ch, v) -> SendResult<T> (sent, or errc::closed with the value back);
// ctx.done() -> std::error_code (that context's error); after(d) / until(t) ->
// std::monostate; default_case() -> std::monostate. r.index() is the chosen case's
// position among the cases; r.get<I>() its outcome (only for the chosen case).
//
// Semantics (Go's): if one or more cases can proceed, one of them is chosen
// uniformly at random (no case starves) and performed; otherwise a default case
// is chosen if there is one, else the task parks until one case can proceed,
// performs exactly that one and withdraws the others. A case is disabled at run
// time with a null channel, `recv(enabled ? &ch : nullptr)` (Go's nil channel), or
// with `.when(flag)` on any case; a select with no enabled case and no default
// waits until its context is done (forever without one, as Go's `select {}`).
// The select's own context, if given, is checked first: once it is done, the
// select returns index() == -1 and error() == its error, even if a case is ready.
//
// Cancel safety: a select that ends through its context (or any done case or
// timer) performed no channel operation: no value was taken from or given to any
// channel. A send case that is not chosen keeps its value inside the select, which
// destroys it (as Go evaluates and drops it); the chosen send case that fails on a
// closed channel gives its value back (SendResult::unsent()).
//
// Thread safety: the channels and contexts may be used from any thread while a
// select waits on them. Everything lives in the awaiter (the task's frame): no
// heap allocation. Cases are built in the co_await's full-expression; channels and
// contexts must outlive it.
//
// Dynamic form: select(ctx, cases) over a list of SelectCase<T> built at run time
// (Go's reflect.Select; documented at its declaration, at the bottom). Both forms
// run one protocol, SelectCore, over a set of cases that it reaches by index:
// CaseTuple (the variadic select's tuple) or CaseList (the caller's list).
//
// Protocol (the task is T, its WaitClaim is C; see wait_node.hpp):
//   1. Poll (await_ready). If the select's context is done, end with its error.
//      Otherwise shuffle the cases (uniform permutation) and look at each enabled
//      case in that order; the first that can proceed is performed under its own
//      object's lock alone (right at that instant, whatever the other cases do).
//      Without a default case, each channel is tried under its lock, and finding
//      nothing decides nothing: steps 3-4 look again with every lock held.
//      With one, choosing default claims that at some instant no case could
//      proceed, and looks taken one after another do not show that: a peer may
//      make c2 ready just after T looked at it, then empty c1 just before T looks
//      at c1 (Go's TestNonblockSelectRace). So:
//      a. A channel case is judged from its channel's snapshot word (an acquire
//         load, no lock; channel_core.hpp); one that may proceed is tried under
//         its lock. Done and timer cases are polled.
//      b. If at most one enabled case was looked at, that look is the instant:
//         choose default.
//      c. If every blocked channel case was judged from its snapshot, re-read
//         every snapshot and re-poll every done and timer case. If each word is
//         unchanged and none of those is ready, choose default: the word carries a
//         version that every change advances, so each channel kept its state from
//         its first read to its re-read, and all those intervals hold the instant
//         of the last load of (a); done and timer cases only ever become ready,
//         and were not yet at the re-poll, after that instant. Acquire loads keep
//         the re-reads after that load, and with publish()'s release make a change
//         that happened before one already seen visible to the re-reads.
//      d. Else (a word changed, or a channel looked blocked only under its lock):
//         lock every channel as in step 3, try every case in the random order as
//         in step 4 and perform the first that can proceed, else choose default;
//         unlock, and wake the peer completed with, if any.
//      The uncontended "nothing there" select thus takes no lock; it pays one more
//      load per case, from cache lines it has just read.
//   2. Prepare to park: prepare_park(T); set `registering` (the gate).
//   3. Lock every channel of an enabled case, in address order, each once (Go's
//      sellock; no other path holds two channel locks, so no cycle).
//   4. Re-check every case in the same random order, all channel locks held; the
//      first ready one is performed at once: no node of T is visible yet, so T
//      needs no claim, and a parked peer it completes with is claimed as in a plain
//      operation. Then unlock, cancel_park, and resume.
//   5. None ready: enqueue one node per channel case, all naming C with their case
//      index; unlock every channel. From here a waker may claim C, complete its
//      case (it claims *before* it moves a value in or out of the case's slot, so
//      a losing waker never touches a case that was not chosen) and wake T.
//   6. Register with each context (the select's own, then done cases), one context
//      lock at a time (context locks are never nested here: cancel() takes a
//      parent's before a child's), then arm one timer for the earliest after/until
//      case. A context found done or a deadline found passed is claimed by T itself
//      (try_claim): success means T won that case (nobody else will wake T: it
//      cancels its park and resumes); failure means a waker won and will wake T.
//      Either way registration stops there.
//   7. Clear `registering` (release). This is the last touch of the awaiter.
//   8. Resumed (await_resume): wait until `registering` is clear (a waker may have
//      woken T during 5-6; the registering thread may have been preempted, so the
//      wait spins briefly, then yields the thread: SpinWait), read the winner
//      (acquire), withdraw every other node under its object's lock, cancel the
//      timer unless it won (cancel() == false means its callback has finished),
//      and build the result.
// Exactly once: C's CAS admits one winner; losing wakers skip (and unlink) T's
// nodes without touching their slots. Losers are withdrawn in 8 before the awaiter
// can be destroyed; a node unlinked by a losing waker is simply gone.
//
// Rejected alternatives:
//  - Enqueueing case by case, each under its own lock alone, and self-claiming a
//    case found ready midway. A channel case that is ready because a peer is parked
//    needs two claims (T's and the peer's), which cannot be taken atomically or
//    rolled back (a waker that lost against a tentative claim has already unlinked
//    the node). Holding the channel locks while checking and enqueueing (3-5)
//    avoids it; contexts and timers (6) cannot be "ready through a peer", so they
//    can be registered after the channel locks are dropped.
//  - For a select with a default case, judging each channel alone (under its lock,
//    or skipping it on its snapshot) and choosing default when none could proceed:
//    the looks happen at different instants, and default was chosen while a case
//    could always proceed (about once in 20,000 rounds of select_stress_test).
//  - Go's way, locking every channel whenever such a select finds nothing ready:
//    correct, but the commonest non-blocking select ("anything there? no") then
//    takes one lock per channel instead of none.
//  - Re-reading the snapshots without a version: a channel can go empty, ready and
//    empty again between the two reads, and the anomaly is back.
#pragma once

#include <array>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "orca/context/context.hpp"
#include "orca/runtime/detail/perturb.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/detail/timer.hpp"
#include "orca/runtime/detail/wait_node.hpp"
#include "orca/sync/channel.hpp"

namespace orca {

namespace detail {

// 64 random bits from a per-thread generator (out of line: it reads a thread-local).
[[gnu::noinline]] std::uint64_t select_random() noexcept;

// Sorts `locks[0..n)` by address and drops duplicates; returns the new count.
std::size_t sort_unique_locks(SpinLock** locks, std::size_t n) noexcept;

// What registering one case (protocol step 6) came to.
enum class Registered : std::uint8_t {
  kQueued,  // a node is enqueued (or nothing to do)
  kWon,     // found ready and claimed by the task itself
  kLost,    // found ready but the claim was taken: a waker won and will wake the task
};

// Step 6 for one context: lock it; if done, claim for ourselves; else enqueue.
Registered register_with_context(CancelNode* ctx, WaitNode& node, WaitClaim& claim, int index,
                                 bool& queued) noexcept;

// The one timer of a select, standing for its earliest after/until case.
struct SelectTimer {
  TimerEntry entry;
  WaitClaim* claim = nullptr;
  int index = -1;
  // Runs under the wheel's lock: claim the case, wake the task.
  static void fire(TimerEntry* entry) noexcept;
};
struct NoTimer {};

enum class CaseKind : std::uint8_t { kChannel, kDone, kTimer, kDefault };

// What a select's receive and send cases share: the channel (null: disabled), the
// node queued in the channel's queue of the case's direction, and its withdrawal.
// `Case` (RecvCase or SendCase) supplies kSend and the value's slot.
template <class T, class Case>
class ChannelCase {
 public:
  static constexpr CaseKind kKind = CaseKind::kChannel;

  ChannelCase& operator=(ChannelCase&&) = delete;
  // Disabled unless `enabled`.
  [[nodiscard]] Case when(bool enabled) && noexcept {
    if (!enabled) ch_ = nullptr;
    return std::move(static_cast<Case&>(*this));
  }

  bool enabled() const noexcept { return ch_ != nullptr; }
  SpinLock* channel_lock() noexcept { return &ch_->core().lock(); }
  void enqueue_locked(WaitClaim& claim, int index) noexcept {
    node_.claim = &claim;
    node_.index = index;
    node_.slot = static_cast<Case&>(*this).slot();
    (Case::kSend ? ch_->core().senders() : ch_->core().receivers()).push_back(&node_);
    ch_->core().publish();
    queued_ = true;
  }
  Registered register_unlocked(WaitClaim&, int) noexcept { return Registered::kQueued; }
  void withdraw() noexcept {
    if (queued_) ch_->core().withdraw(node_, Case::kSend);
  }
  // Readies a case that took part in a finished select for another (a dynamic
  // select's case list is reused from one select to the next).
  void reset() noexcept {
    queued_ = false;
    node_.closed = false;
  }
  // The channel's snapshot word (step 1), and whether it shows this case surely blocked.
  std::uint64_t snapshot() const noexcept { return ch_->core().snapshot(); }
  bool blocked_in(std::uint64_t s) const noexcept {
    return Case::kSend ? ch_->core().send_blocked_in(s) : ChannelCore::recv_blocked_in(s);
  }

 protected:
  explicit ChannelCase(Channel<T>* ch) noexcept : ch_(ch) {}
  ChannelCase(ChannelCase&& other) noexcept : ch_(other.ch_) {}  // before use only
  ~ChannelCase() {
    if (node_.linked) ch_->core().withdraw(node_, Case::kSend);  // runtime teardown only
  }

  Channel<T>* ch_;
  bool queued_ = false;
  ChanWaiter node_;
};

template <class T>
class RecvCase : public ChannelCase<T, RecvCase<T>> {
 public:
  static constexpr bool kSend = false;
  using Outcome = Result<T>;

  explicit RecvCase(Channel<T>* ch) noexcept : ChannelCase<T, RecvCase<T>>(ch) {}
  RecvCase(RecvCase&& other) noexcept : ChannelCase<T, RecvCase<T>>(std::move(other)) {}
  ~RecvCase() {
    if (state_ == State::kValue) slot_.destroy();
  }

  // Tries the receive under the channel's lock alone.
  bool poll() noexcept { return finish_now(this->ch_->recv_now(slot_.raw())); }
  bool try_locked(TaskHeader*& peer) noexcept {
    return finish_now(this->ch_->recv_locked(slot_.raw(), peer));
  }
  void finish_by_waker() noexcept { state_ = this->node_.closed ? State::kClosed : State::kValue; }
  void reset() noexcept {
    if (state_ == State::kValue) slot_.destroy();
    state_ = State::kPending;
    ChannelCase<T, RecvCase<T>>::reset();
  }
  Outcome take() noexcept {
    if (state_ != State::kValue) return errc::closed;
    state_ = State::kTaken;
    Result<T> r(std::move(slot_.get()));
    slot_.destroy();
    return r;
  }
  void* slot() noexcept { return slot_.raw(); }

 private:
  enum class State : std::uint8_t { kPending, kValue, kClosed, kTaken };
  bool finish_now(ChanOp op) noexcept {
    if (op == ChanOp::kWouldBlock) return false;
    state_ = op == ChanOp::kDone ? State::kValue : State::kClosed;
    return true;
  }

  State state_ = State::kPending;
  ValueSlot<T> slot_;
};

template <class T>
class SendCase : public ChannelCase<T, SendCase<T>> {
 public:
  static constexpr bool kSend = true;
  using Outcome = SendResult<T>;

  template <class U>
  SendCase(Channel<T>* ch, U&& value)
      : ChannelCase<T, SendCase<T>>(ch), value_(std::forward<U>(value)) {}
  SendCase(SendCase&& other) noexcept
      : ChannelCase<T, SendCase<T>>(std::move(other)), value_(std::move(other.value_)) {}

  // Tries the send under the channel's lock alone.
  bool poll() noexcept { return finish_now(this->ch_->send_now(value_)); }
  bool try_locked(TaskHeader*& peer) noexcept {
    return finish_now(this->ch_->send_locked(value_, peer));
  }
  void finish_by_waker() noexcept { closed_ = this->node_.closed; }
  void reset() noexcept {
    closed_ = false;
    ChannelCase<T, SendCase<T>>::reset();
  }
  // The value is gone (sent, or handed back): the case is disabled from here on, so
  // that a dynamic select's case list never sends a moved-from value.
  Outcome take() noexcept {
    this->ch_ = nullptr;
    if (!closed_) return SendResult<T>();
    return SendResult<T>(make_error_code(errc::closed), std::move(value_));
  }
  void* slot() noexcept { return &value_; }

 private:
  bool finish_now(ChanOp op) noexcept {
    if (op == ChanOp::kWouldBlock) return false;
    closed_ = op == ChanOp::kClosed;
    return true;
  }

  bool closed_ = false;
  T value_;
};

class DoneCase {
 public:
  static constexpr CaseKind kKind = CaseKind::kDone;
  using Outcome = std::error_code;

  explicit DoneCase(CancelNode* node) noexcept : node_(node) {}
  DoneCase(DoneCase&& other) noexcept : node_(other.node_) {}
  DoneCase& operator=(DoneCase&&) = delete;
  ~DoneCase() {
    if (wait_.linked) withdraw_from_context(node_, wait_);  // runtime teardown only
  }
  [[nodiscard]] DoneCase when(bool enabled) && noexcept {
    if (!enabled) node_ = nullptr;
    return std::move(*this);
  }

  // A context that can never be cancelled is never ready: disabled.
  bool enabled() const noexcept { return node_ != nullptr; }
  SpinLock* channel_lock() noexcept { return nullptr; }
  // Acquire: pairs with cancel()'s release of `done`, so err is readable.
  bool poll() noexcept { return node_->done.load(std::memory_order_acquire); }
  bool try_locked(TaskHeader*&) noexcept { return poll(); }
  void enqueue_locked(WaitClaim&, int) noexcept {}
  Registered register_unlocked(WaitClaim& claim, int index) noexcept {
    return register_with_context(node_, wait_, claim, index, queued_);
  }
  void withdraw() noexcept {
    if (queued_) withdraw_from_context(node_, wait_);
  }
  void reset() noexcept { queued_ = false; }
  void finish_by_waker() noexcept {}
  Outcome take() noexcept { return node_->err; }

 private:
  CancelNode* node_;
  bool queued_ = false;
  WaitNode wait_;
};

class TimerCase {
 public:
  static constexpr CaseKind kKind = CaseKind::kTimer;
  using Outcome = std::monostate;

  explicit TimerCase(Clock::time_point deadline) noexcept : deadline_(deadline) {}
  [[nodiscard]] TimerCase when(bool enabled) && noexcept {
    enabled_ = enabled;
    return *this;
  }

  bool enabled() const noexcept { return enabled_; }
  Clock::time_point deadline() const noexcept { return deadline_; }
  SpinLock* channel_lock() noexcept { return nullptr; }
  bool poll() noexcept { return deadline_ <= Clock::now(); }
  bool try_locked(TaskHeader*&) noexcept { return poll(); }
  void enqueue_locked(WaitClaim&, int) noexcept {}
  Registered register_unlocked(WaitClaim&, int) noexcept { return Registered::kQueued; }
  void withdraw() noexcept {}
  void reset() noexcept {}
  void finish_by_waker() noexcept {}
  Outcome take() noexcept { return {}; }

 private:
  Clock::time_point deadline_;
  bool enabled_ = true;
};

class DefaultCase {
 public:
  static constexpr CaseKind kKind = CaseKind::kDefault;
  using Outcome = std::monostate;

  [[nodiscard]] DefaultCase when(bool enabled) && noexcept {
    enabled_ = enabled;
    return *this;
  }

  bool enabled() const noexcept { return enabled_; }
  SpinLock* channel_lock() noexcept { return nullptr; }
  bool poll() noexcept { return false; }  // chosen only after every other case
  bool try_locked(TaskHeader*&) noexcept { return false; }
  void enqueue_locked(WaitClaim&, int) noexcept {}
  Registered register_unlocked(WaitClaim&, int) noexcept { return Registered::kQueued; }
  void withdraw() noexcept {}
  void reset() noexcept {}
  void finish_by_waker() noexcept {}
  Outcome take() noexcept { return {}; }

 private:
  bool enabled_ = true;
};

template <class C>
struct IsSelectCase : std::false_type {};
template <class T>
struct IsSelectCase<RecvCase<T>> : std::true_type {};
template <class T>
struct IsSelectCase<SendCase<T>> : std::true_type {};
template <>
struct IsSelectCase<DoneCase> : std::true_type {};
template <>
struct IsSelectCase<TimerCase> : std::true_type {};
template <>
struct IsSelectCase<DefaultCase> : std::true_type {};
template <>
struct IsSelectCase<DoneAwaiter> : std::true_type {};

// What a select() argument becomes inside the awaiter.
template <class C>
struct CaseOf {
  using type = std::remove_cvref_t<C>;
};
template <class C>
requires std::is_same_v<std::remove_cvref_t<C>, DoneAwaiter>
struct CaseOf<C> {
  using type = DoneCase;
};

// ctx.done() is not movable: only the context it names is kept.
inline DoneCase to_case(const DoneAwaiter& done) noexcept {
  return DoneCase(done.node());
}
template <class C>
requires(!std::is_same_v<std::remove_cvref_t<C>, DoneAwaiter>) C && to_case(C&& c)
noexcept {
  static_assert(!std::is_lvalue_reference_v<C>,
                "pass select cases as temporaries: orca::select(orca::recv(ch), ...)");
  return std::forward<C>(c);
}

// The cases of a variadic select: a tuple, reached by a run-time index through a
// fold over the compile-time ones. Its scratch arrays are sized at compile time and
// live in the awaiter (order) or on the stack (snapshots, locks).
template <class... Cases>
class CaseTuple {
  static constexpr std::size_t kCases = sizeof...(Cases);
  static_assert(kCases > 0 && kCases < 128, "a select takes 1 to 127 cases");
  static constexpr std::size_t kDefaults = ((Cases::kKind == CaseKind::kDefault ? 1 : 0) + ...);
  static_assert(kDefaults <= 1, "a select has at most one default case");
  static constexpr std::size_t kChannelCases = ((Cases::kKind == CaseKind::kChannel ? 1 : 0) + ...);
  static constexpr std::size_t kDefaultIndex = [] {
    constexpr CaseKind kKinds[] = {Cases::kKind...};
    for (std::size_t i = 0; i < kCases; ++i) {
      if (kKinds[i] == CaseKind::kDefault) return i;
    }
    return kCases;
  }();

 public:
  static constexpr bool kMayHaveDefault = kDefaults > 0;
  static constexpr bool kMayHaveTimer = ((Cases::kKind == CaseKind::kTimer) || ...);
  using Order = std::array<std::uint8_t, kCases>;  // a permutation of the case indices
  using Snapshots = std::array<std::uint64_t, kCases>;
  using Locks = std::array<SpinLock*, kChannelCases + 1>;

  template <class... Args>
  explicit CaseTuple(Args&&... cases) : cases_(std::forward<Args>(cases)...) {}

  static constexpr std::size_t size() noexcept { return kCases; }
  static constexpr bool has_channel() noexcept { return kChannelCases > 0; }
  static constexpr int default_index() noexcept { return static_cast<int>(kDefaultIndex); }
  bool default_enabled() noexcept {
    if constexpr (kMayHaveDefault) return std::get<kDefaultIndex>(cases_).enabled();
    return false;
  }
  static Order order() noexcept { return {}; }
  static Snapshots snapshots() noexcept { return {}; }
  static Locks locks() noexcept { return {}; }

  // Calls f(case) for the case at run-time index i.
  template <class F>
  decltype(auto) visit(int i, F&& f) noexcept {
    return visit_impl(i, f, std::make_index_sequence<kCases>{});
  }
  template <std::size_t I>
  auto& get() noexcept {
    return std::get<I>(cases_);
  }

 private:
  template <class F, std::size_t... I>
  decltype(auto) visit_impl(int i, F& f, std::index_sequence<I...>) noexcept {
    using R = decltype(f(std::get<0>(cases_)));
    if constexpr (std::is_void_v<R>) {
      (void)((i == static_cast<int>(I) ? (f(std::get<I>(cases_)), true) : false) || ...);
    } else {
      R r{};
      (void)((i == static_cast<int>(I) ? (r = f(std::get<I>(cases_)), true) : false) || ...);
      return r;
    }
  }

  std::tuple<Cases...> cases_;
};

template <class T>
class CaseList;
template <class CaseSet>
class SelectCore;
template <class... Cases>
class SelectAwaiter;
template <class T>
class DynamicSelectAwaiter;

}  // namespace detail

// The outcome of a select: which case was chosen and what it produced.
template <class... Outcomes>
class [[nodiscard]] SelectResult {
 public:
  explicit SelectResult(std::error_code context_error) noexcept
      : code_(context_error.value()), category_(&context_error.category()) {}
  template <std::size_t I, class... Args>
  explicit SelectResult(std::in_place_index_t<I>, Args&&... args)
      : outcome_(std::in_place_index<I + 1>, std::forward<Args>(args)...) {}

  // The chosen case's position among the select's cases; -1 when the select's own
  // context ended it.
  int index() const noexcept { return static_cast<int>(outcome_.index()) - 1; }
  explicit operator bool() const noexcept { return outcome_.index() != 0; }
  // The select's context's error when index() == -1.
  std::error_code error() const noexcept {
    return category_ == nullptr ? std::error_code() : std::error_code(code_, *category_);
  }

  // The outcome of case I. Precondition: index() == I.
  template <std::size_t I>
  auto& get() & noexcept {
    return *std::get_if<I + 1>(&outcome_);
  }
  template <std::size_t I>
  auto&& get() && noexcept {
    return std::move(*std::get_if<I + 1>(&outcome_));
  }

 private:
  std::variant<std::monostate, Outcomes...> outcome_;
  // The error's parts: a default std::error_code calls std::system_category() out
  // of line, on every select otherwise.
  int code_ = 0;
  const std::error_category* category_ = nullptr;
};

// One case of a dynamic select (below): any case the variadic select takes, on
// channels of one element type T, converted implicitly:
//   std::vector<orca::SelectCase<int>> cases;
//   cases.push_back(orca::recv(in));
//   cases.push_back(orca::send(out, 7));
//   cases.push_back(orca::default_case());
// A case is reused by one select after another; a send case gives its value up when
// chosen (sent, or handed back in the result) and is disabled from then on.
// after(d) fixes its deadline when built, not at each select.
template <class T>
class SelectCase {
 public:
  SelectCase(detail::RecvCase<T>&& c) noexcept  // NOLINT: implicit, a case of the list
      : case_(std::in_place_index<0>, std::move(c)) {}
  SelectCase(detail::SendCase<T>&& c) noexcept  // NOLINT
      : case_(std::in_place_index<1>, std::move(c)) {}
  SelectCase(detail::DoneCase&& c) noexcept  // NOLINT
      : case_(std::in_place_index<2>, std::move(c)) {}
  SelectCase(const detail::DoneAwaiter& done) noexcept  // NOLINT: ctx.done()
      : case_(std::in_place_index<2>, done.node()) {}
  SelectCase(detail::TimerCase c) noexcept  // NOLINT
      : case_(std::in_place_index<3>, c) {}
  SelectCase(detail::DefaultCase c) noexcept  // NOLINT
      : case_(std::in_place_index<4>, c) {}
  // Moving or assigning a case that no select is using.
  SelectCase(SelectCase&& other) noexcept : case_(moved(other.case_)) {}
  SelectCase& operator=(SelectCase&& other) noexcept {
    if (this != &other) {
      // The cases cannot be assigned (their wait nodes are not), but they can be rebuilt.
      std::destroy_at(&case_);
      std::construct_at(&case_, moved(other.case_));
    }
    return *this;
  }
  ~SelectCase() = default;

 private:
  friend class detail::CaseList<T>;
  using Variant = std::variant<detail::RecvCase<T>, detail::SendCase<T>, detail::DoneCase,
                               detail::TimerCase, detail::DefaultCase>;

  // The variant moved by a switch on its index rather than by its own move
  // constructor, whose table of every alternative's move GCC 12 inlines in full and
  // then warns that the alternatives not held "may be used uninitialized".
  static Variant moved(Variant& v) noexcept {
    switch (v.index()) {
      case 0:
        return Variant(std::in_place_index<0>, std::move(*std::get_if<0>(&v)));
      case 1:
        return Variant(std::in_place_index<1>, std::move(*std::get_if<1>(&v)));
      case 2:
        return Variant(std::in_place_index<2>, std::move(*std::get_if<2>(&v)));
      case 3:
        return Variant(std::in_place_index<3>, *std::get_if<3>(&v));
      default:
        return Variant(std::in_place_index<4>, *std::get_if<4>(&v));
    }
  }

  Variant case_;
};

// The outcome of a dynamic select: which case was chosen and what it produced.
template <class T>
class [[nodiscard]] DynamicSelectResult {
 public:
  explicit DynamicSelectResult(std::error_code context_error) noexcept
      : code_(context_error.value()), category_(&context_error.category()) {}
  template <class Outcome>
  DynamicSelectResult(int index, Outcome&& outcome) noexcept
      : index_(index),
        outcome_(std::in_place_type<std::remove_cvref_t<Outcome>>, std::forward<Outcome>(outcome)) {
  }

  // The chosen case's position in the list; -1 when the select's own context ended it.
  int index() const noexcept { return index_; }
  explicit operator bool() const noexcept { return index_ >= 0; }
  // The select's context's error when index() == -1.
  std::error_code error() const noexcept {
    return category_ == nullptr ? std::error_code() : std::error_code(code_, *category_);
  }

  // The chosen receive case's outcome: the value, or errc::closed (Go's recv, recvOK).
  // Precondition: a receive case was chosen.
  Result<T>& received() & noexcept { return *std::get_if<Result<T>>(&outcome_); }
  Result<T>&& received() && noexcept { return std::move(*std::get_if<Result<T>>(&outcome_)); }
  // The chosen send case's outcome: sent, or errc::closed with the value back.
  // Precondition: a send case was chosen.
  SendResult<T>& sent() & noexcept { return *std::get_if<SendResult<T>>(&outcome_); }
  SendResult<T>&& sent() && noexcept { return std::move(*std::get_if<SendResult<T>>(&outcome_)); }
  // The chosen done case's context's error. Precondition: a done case was chosen.
  std::error_code done_error() const noexcept { return *std::get_if<std::error_code>(&outcome_); }

 private:
  int index_ = -1;
  // Timer and default cases produce std::monostate, as the context does.
  std::variant<std::monostate, Result<T>, SendResult<T>, std::error_code> outcome_;
  int code_ = 0;  // the select's context's error, as in SelectResult
  const std::error_category* category_ = nullptr;
};

namespace detail {

// The select protocol (see the top of this file), over a set of cases: CaseTuple
// for the variadic select, CaseList for the dynamic one. Both reach a case by its
// run-time index (visit) and hand the core their scratch arrays; the awaiters
// derived from it only build their results.
template <class CaseSet>
class SelectCore {
  static constexpr bool kHasTimer = CaseSet::kMayHaveTimer;
  static constexpr int kNone = -1;

 public:
  SelectCore(const SelectCore&) = delete;
  SelectCore& operator=(const SelectCore&) = delete;
  ~SelectCore() {
    if (!registered_) return;
    // Destroyed while parked (runtime teardown; nothing runs concurrently): let the
    // winning case own what a waker delivered, so that its destructor frees it.
    const int winner = claim_.winner.load(std::memory_order_relaxed);  // quiescent
    if (winner >= 0 && winner < context_index())
      visit(winner, [](auto& c) { c.finish_by_waker(); });
    if (ctx_node_.linked) withdraw_from_context(cancel_, ctx_node_);
  }

  // Protocol step 1.
  bool await_ready() noexcept {
    // Acquire: pairs with cancel()'s release of `done`, so err is readable.
    if (cancel_ != nullptr && cancel_->done.load(std::memory_order_acquire)) {
      chosen_ = context_index();
      return consume_budget();
    }
    shuffle();
    if constexpr (CaseSet::kMayHaveDefault) {
      if (cases_.default_enabled()) {
        chosen_ = poll_nonblocking();
        return consume_budget();
      }
    }
    // A blocking select locks each channel at once: between cores, peeking at the
    // snapshot then locking a ready channel costs two cache-line round trips
    // instead of one (measured on select2_ready). Finding nothing here decides
    // nothing: steps 3-4 look again with every lock held.
    for (std::size_t k = 0; k < cases_.size(); ++k) {
      ORCA_PERTURB("select.before_look");
      const int i = order_[k];
      if (visit(i, [](auto& c) { return c.enabled() && c.poll(); })) {
        chosen_ = i;
        return consume_budget();
      }
    }
    return false;
  }

  // Protocol steps 2-7. Out of line: nothing of the frame may be touched after the
  // final store, and Clang may otherwise do so (LLVM 56301).
  [[gnu::noinline]] bool await_suspend(std::coroutine_handle<> self) noexcept {
    if (chosen_ != kNone) {  // completed in await_ready; the budget is spent
      yield_current(self);
      return true;
    }
    TaskHeader* me = current_task();
    claim_.task = me;
    prepare_park(me, self, cases_.has_channel() ? "select" : "select (no channel)");
    registered_ = true;
    // Relaxed: read by the task only after a wake-up by someone who found one of
    // our nodes, i.e. after a lock release or timer arm that follows this store.
    registering_.store(true, std::memory_order_relaxed);
    ORCA_PERTURB("select.parking");

    // Steps 3-5: check and enqueue the channel cases with all their locks held.
    ChannelLocks locks{cases_.locks()};
    lock_channels(locks);
    TaskHeader* peer = nullptr;
    const int ready = try_all_locked(peer);
    if (ready == kNone) {
      for (std::size_t k = 0; k < cases_.size(); ++k) {
        const int i = order_[k];
        visit(i, [&](auto& c) {
          if (c.enabled()) c.enqueue_locked(claim_, i);
        });
      }
    }
    unlock_channels(locks);
    ORCA_PERTURB("select.enqueued");
    if (ready != kNone) {  // nothing of ours was visible: a plain completion
      if (peer != nullptr) wake(peer, WakeOrder::kNext);
      registered_ = false;
      // Relaxed: nothing was published; only this thread reads it.
      registering_.store(false, std::memory_order_relaxed);
      cancel_park(me);
      chosen_ = ready;
      if (consume_budget()) return false;
      yield_current(self);
      return true;
    }

    // Step 6: contexts one at a time, then the timer.
    Registered outcome = Registered::kQueued;
    int won = kNone;
    if (cancel_ != nullptr) {
      outcome = register_with_context(cancel_, ctx_node_, claim_, context_index(), ctx_queued_);
      if (outcome == Registered::kWon) won = context_index();
    }
    for (std::size_t k = 0; k < cases_.size() && outcome == Registered::kQueued; ++k) {
      ORCA_PERTURB("select.register");
      const int i = order_[k];
      outcome = visit(i, [&](auto& c) {
        return c.enabled() ? c.register_unlocked(claim_, i) : Registered::kQueued;
      });
      if (outcome == Registered::kWon) won = i;
    }
    if constexpr (kHasTimer) {
      if (outcome == Registered::kQueued) {
        int earliest = kNone;
        Clock::time_point deadline = Clock::time_point::max();
        for (std::size_t k = 0; k < cases_.size(); ++k) {
          const int i = order_[k];
          visit(i, [&](auto& c) {
            if constexpr (std::remove_reference_t<decltype(c)>::kKind == CaseKind::kTimer) {
              if (c.enabled() && c.deadline() < deadline) {
                deadline = c.deadline();
                earliest = i;
              }
            }
          });
        }
        if (earliest != kNone) {
          timer_.claim = &claim_;
          timer_.index = earliest;
          timer_.entry.fire = &SelectTimer::fire;
          timer_.entry.arg = &timer_;
          if (!timer_.entry.arm(deadline)) {  // passed meanwhile (or no runtime)
            if (claim_.try_claim(earliest)) {
              won = earliest;
              outcome = Registered::kWon;
            }
          }
        }
      }
    }
    if (won != kNone) {  // ours: nobody else will wake us
      cancel_park(me);
      // Relaxed: we own the claim, so no waker wakes us; only this thread reads it.
      registering_.store(false, std::memory_order_relaxed);
      return false;
    }
    ORCA_PERTURB("select.before_registered");
    // Step 7. Release: pairs with the acquire in await_resume; the last touch.
    registering_.store(false, std::memory_order_release);
    return true;
  }

  // Protocol step 8: the chosen case's index, or context_index() if the select's
  // own context ended it. The derived awaiter's await_resume builds the result.
  int settle() noexcept {
    if (registered_) {
      registered_ = false;
      ORCA_PERTURB("select.resumed");
      // Acquire: pairs with step 7; registration is over and its writes visible.
      // Bounded spin: the registering thread may have been preempted (SpinWait).
      for (SpinWait w; registering_.load(std::memory_order_acquire);)
        w.once();
      // Acquire: the winner claimed before completing; what it wrote after the
      // claim (a value) reaches us through the wake-up's run-queue hand-over.
      const int winner = claim_.winner.load(std::memory_order_acquire);
      ORCA_PERTURB("select.before_withdraw");
      if (winner != context_index() && ctx_queued_) withdraw_from_context(cancel_, ctx_node_);
      for (std::size_t i = 0; i < cases_.size(); ++i) {
        if (static_cast<int>(i) != winner)
          visit(static_cast<int>(i), [](auto& c) { c.withdraw(); });
      }
      if constexpr (kHasTimer) {
        if (winner != timer_.index) timer_.entry.cancel();
      }
      if (winner != context_index()) visit(winner, [](auto& c) { c.finish_by_waker(); });
      chosen_ = winner;
    }
    return chosen_;
  }

 protected:
  template <class... Args>
  explicit SelectCore(CancelNode* cancel, Args&&... cases)
      : cases_(std::forward<Args>(cases)...), cancel_(cancel), order_(cases_.order()) {}

  // The index that stands for the select's own context: one past the last case.
  int context_index() const noexcept { return static_cast<int>(cases_.size()); }
  // Calls f(case) for the case at run-time index i.
  template <class F>
  decltype(auto) visit(int i, F&& f) noexcept {
    return cases_.visit(i, std::forward<F>(f));
  }

  CaseSet cases_;
  CancelNode* cancel_;

 private:
  // Step 1 with an enabled default case: the chosen case's index (performed), or
  // the default's. The decision is one consistent snapshot (see the protocol).
  int poll_nonblocking() noexcept {
    typename CaseSet::Snapshots seen = cases_.snapshots();  // each channel case's snapshot word
    bool all_from_snapshots = true;  // no blocked channel case was judged under its lock
    int blocked = 0;                 // enabled cases found blocked (the default aside)
    for (std::size_t k = 0; k < cases_.size(); ++k) {
      ORCA_PERTURB("select.before_look");
      const int i = order_[k];
      const bool ready = visit(i, [&](auto& c) {
        using C = std::remove_reference_t<decltype(c)>;
        if constexpr (C::kKind == CaseKind::kDefault) {
          return false;
        } else {
          if (!c.enabled()) return false;
          if constexpr (C::kKind == CaseKind::kChannel) {
            const std::uint64_t s = c.snapshot();
            seen[static_cast<std::size_t>(i)] = s;
            if (!c.blocked_in(s)) {
              if (c.poll()) return true;
              all_from_snapshots = false;  // raced, or only stale waiters in its queue
            }
          } else if (c.poll()) {
            return true;
          }
          ++blocked;
          return false;
        }
      });
      if (ready) return i;
    }
    if (blocked <= 1) return cases_.default_index();  // one look is one instant
    ORCA_PERTURB("select.before_recheck");
    if (all_from_snapshots && unchanged_since(seen)) return cases_.default_index();
    // Step 1b: decide with every channel lock held.
    ChannelLocks locks{cases_.locks()};
    lock_channels(locks);
    TaskHeader* peer = nullptr;
    const int ready = try_all_locked(peer);
    unlock_channels(locks);
    if (peer != nullptr) wake(peer, WakeOrder::kNext);
    return ready != kNone ? ready : cases_.default_index();
  }

  // Step 1's check: every enabled channel case's snapshot word is still `seen`, and
  // every enabled done or timer case is still not ready.
  bool unchanged_since(const typename CaseSet::Snapshots& seen) noexcept {
    bool same = true;
    for (std::size_t i = 0; i < cases_.size() && same; ++i) {
      visit(static_cast<int>(i), [&](auto& c) {
        using C = std::remove_reference_t<decltype(c)>;
        if constexpr (C::kKind == CaseKind::kChannel) {
          same = !c.enabled() || c.snapshot() == seen[i];
        } else {
          same = !c.enabled() || !c.poll();
        }
      });
    }
    return same;
  }

  // The locks of the enabled channel cases, in address order, each once.
  struct ChannelLocks {
    typename CaseSet::Locks lock;  // room for every channel case, and one more
    std::size_t count = 0;
  };
  // Protocol step 3 (and 1b): Go's sellock. No other path holds two channel
  // locks, so the address order leaves no cycle.
  void lock_channels(ChannelLocks& locks) noexcept {
    for (std::size_t i = 0; i < cases_.size(); ++i) {
      visit(static_cast<int>(i), [&](auto& c) {
        if (c.kKind == CaseKind::kChannel && c.enabled())
          locks.lock[locks.count++] = c.channel_lock();
      });
    }
    locks.count = sort_unique_locks(&locks.lock[0], locks.count);
    for (std::size_t i = 0; i < locks.count; ++i)
      locks.lock[i]->lock();
    ORCA_PERTURB("select.locked");
  }
  static void unlock_channels(ChannelLocks& locks) noexcept {
    for (std::size_t i = 0; i < locks.count; ++i)
      locks.lock[i]->unlock();
  }
  // Protocol step 4 (and 1b), every channel lock held: performs the first case in
  // the random order that can proceed and returns its index (kNone if none can).
  // `peer` is set to a parked task it completed with, to wake after unlocking.
  int try_all_locked(TaskHeader*& peer) noexcept {
    for (std::size_t k = 0; k < cases_.size(); ++k) {
      const int i = order_[k];
      if (visit(i, [&](auto& c) { return c.enabled() && c.try_locked(peer); })) return i;
    }
    return kNone;
  }

  // Uniform random permutation of the case indices (Fisher-Yates).
  void shuffle() noexcept {
    const std::size_t n = cases_.size();
    for (std::size_t i = 0; i < n; ++i)
      order_[i] = static_cast<std::remove_reference_t<decltype(order_[i])>>(i);
    if (n > 1) {
      std::uint64_t r = select_random();
      for (std::size_t i = n - 1; i > 0; --i) {
        // splitmix64 step, then Lemire's multiply-shift reduction to [0, i].
        r += 0x9E3779B97F4A7C15ull;
        std::uint64_t z = r;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const auto j = static_cast<std::size_t>(((z >> 32) * (i + 1)) >> 32);
        std::swap(order_[i], order_[j]);
      }
    }
  }

  int chosen_ = kNone;
  bool registered_ = false;  // steps 2-7 ran: await_resume must do step 8
  bool ctx_queued_ = false;
  typename CaseSet::Order order_;  // the cases in this select's random order
  WaitClaim claim_;
  std::atomic<bool> registering_{false};
  WaitNode ctx_node_;
  [[no_unique_address]] std::conditional_t<kHasTimer, SelectTimer, NoTimer> timer_;
};

template <class... Cases>
class SelectAwaiter : public SelectCore<CaseTuple<Cases...>> {
  using Core = SelectCore<CaseTuple<Cases...>>;

 public:
  using Result = SelectResult<typename Cases::Outcome...>;

  template <class... Args>
  explicit SelectAwaiter(CancelNode* cancel, Args&&... cases)
      : Core(cancel, std::forward<Args>(cases)...) {}

  Result await_resume() noexcept {
    const int chosen = this->settle();
    if (chosen == this->context_index()) return Result(this->cancel_->err);
    return make_result(chosen);
  }

 private:
  // The chosen case's outcome, moved out of it.
  template <std::size_t I = 0>
  Result make_result(int chosen) noexcept {
    if constexpr (I + 1 < sizeof...(Cases)) {
      if (chosen != static_cast<int>(I)) return make_result<I + 1>(chosen);
    }
    return Result(std::in_place_index<I>, this->cases_.template get<I>().take());
  }
};

// The cases of a dynamic select: the caller's list, reached by index and visited
// as a variant. Its scratch arrays (the order, the snapshot words, the locks) are
// inline for up to kInlineCases cases, else one allocation per select.
template <class T>
class CaseList {
  static constexpr std::size_t kInlineCases = 8;
  using Index = std::uint32_t;

 public:
  static constexpr bool kMayHaveDefault = true;
  static constexpr bool kMayHaveTimer = true;
  using Order = Index*;
  using Snapshots = std::uint64_t*;
  using Locks = SpinLock**;

  // Readies every case for this select. Throws std::invalid_argument for a second
  // default case, std::length_error for more cases than an int can index (less one,
  // for the select's own context), std::bad_alloc.
  explicit CaseList(std::span<SelectCase<T>> cases) : cases_(cases) {
    if (cases.size() >= static_cast<std::size_t>(INT32_MAX))
      throw std::length_error("orca::select: too many cases");
    for (std::size_t i = 0; i < cases.size(); ++i) {
      auto& c = cases[i].case_;
      std::visit([](auto& x) { x.reset(); }, c);
      if (c.index() <= 1) has_channel_ = true;
      if (c.index() == 4) {
        if (default_ != -1) throw std::invalid_argument("orca::select: two default cases");
        default_ = static_cast<int>(i);
      }
    }
    if (cases.size() > kInlineCases) {
      // One block: the snapshots, the locks (one more than the cases), the order.
      const std::size_t n = cases.size();
      heap_.reset(new std::byte[n * sizeof(std::uint64_t) + (n + 1) * sizeof(SpinLock*) +
                                n * sizeof(Index)]);
      snapshots_ = reinterpret_cast<std::uint64_t*>(heap_.get());
      locks_ = reinterpret_cast<SpinLock**>(snapshots_ + n);
      order_ = reinterpret_cast<Index*>(locks_ + n + 1);
    }
  }
  CaseList(const CaseList&) = delete;
  CaseList& operator=(const CaseList&) = delete;

  std::size_t size() const noexcept { return cases_.size(); }
  bool has_channel() const noexcept { return has_channel_; }
  int default_index() const noexcept { return default_; }
  bool default_enabled() noexcept {
    return default_ != -1 &&
           std::get<4>(cases_[static_cast<std::size_t>(default_)].case_).enabled();
  }
  Order order() noexcept { return order_; }
  Snapshots snapshots() noexcept { return snapshots_; }
  Locks locks() noexcept { return locks_; }

  template <class F>
  decltype(auto) visit(int i, F&& f) noexcept {
    return std::visit(f, cases_[static_cast<std::size_t>(i)].case_);
  }

 private:
  std::span<SelectCase<T>> cases_;
  int default_ = -1;
  bool has_channel_ = false;
  std::array<std::uint64_t, kInlineCases> inline_snapshots_;
  std::array<SpinLock*, kInlineCases + 1> inline_locks_;
  std::array<Index, kInlineCases> inline_order_;
  std::unique_ptr<std::byte[]> heap_;
  std::uint64_t* snapshots_ = inline_snapshots_.data();
  SpinLock** locks_ = inline_locks_.data();
  Index* order_ = inline_order_.data();
};

template <class T>
class DynamicSelectAwaiter : public SelectCore<CaseList<T>> {
  using Core = SelectCore<CaseList<T>>;

 public:
  using Result = DynamicSelectResult<T>;

  DynamicSelectAwaiter(CancelNode* cancel, std::span<SelectCase<T>> cases) : Core(cancel, cases) {}

  Result await_resume() noexcept {
    const int chosen = this->settle();
    if (chosen == this->context_index()) return Result(this->cancel_->err);
    return this->visit(chosen, [chosen](auto& c) { return Result(chosen, c.take()); });
  }
};

// Whether S is a span of SelectCase<T> (any extent); `type` is then T.
template <class S>
struct SelectCaseSpan : std::false_type {};
template <class T, std::size_t N>
struct SelectCaseSpan<std::span<SelectCase<T>, N>> : std::true_type {
  using type = T;
};
template <class R>
using SpanOf = decltype(std::span(std::declval<R&>()));

// What select() takes as a dynamic case list: a span of SelectCase<T>, or a
// contiguous container of them (std::vector, std::array, a C array) that outlives
// the select, hence an lvalue.
template <class R>
concept SelectCaseList = (std::is_lvalue_reference_v<R> ||
                          SelectCaseSpan<std::remove_cvref_t<R>>::value) &&
                         requires(R& r) {
  std::span(r);
}
&&SelectCaseSpan<SpanOf<R>>::value;

}  // namespace detail

// Receive case: the channel's next value, or errc::closed. A null channel disables it.
template <class T>
[[nodiscard]] detail::RecvCase<T> recv(Channel<T>& ch) noexcept {
  return detail::RecvCase<T>(&ch);
}
template <class T>
[[nodiscard]] detail::RecvCase<T> recv(Channel<T>* ch) noexcept {
  return detail::RecvCase<T>(ch);
}

// Send case: sends `value` (copied or moved into the select now). A null channel
// disables it.
template <class T, class U = T>
requires std::is_constructible_v<T, U&&>
[[nodiscard]] detail::SendCase<T> send(Channel<T>& ch, U&& value) {
  return detail::SendCase<T>(&ch, std::forward<U>(value));
}
template <class T, class U = T>
requires std::is_constructible_v<T, U&&>
[[nodiscard]] detail::SendCase<T> send(Channel<T>* ch, U&& value) {
  return detail::SendCase<T>(ch, std::forward<U>(value));
}

// Timer case: ready once `d` has passed since the select was built (Go's time.After,
// without a channel or an allocation).
template <class Rep, class Period>
[[nodiscard]] detail::TimerCase after(std::chrono::duration<Rep, Period> d) noexcept {
  const auto now = Clock::now();
  if (d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(Clock::time_point::max() -
                                                                          now))
    return detail::TimerCase(Clock::time_point::max());
  return detail::TimerCase(now + std::chrono::duration_cast<Clock::duration>(d));
}
// Timer case: ready at `deadline`.
[[nodiscard]] inline detail::TimerCase until(Clock::time_point deadline) noexcept {
  return detail::TimerCase(deadline);
}

// Default case: chosen when no other case can proceed at once; makes the select
// non-blocking.
[[nodiscard]] inline detail::DefaultCase default_case() noexcept {
  return {};
}

// co_await select(cases...): waits for the first case that can proceed (see top).
template <class... Cs>
requires(detail::IsSelectCase<std::remove_cvref_t<Cs>>::value&&...)
    [[nodiscard]] detail::SelectAwaiter<typename detail::CaseOf<Cs>::type...> select(
        Cs&&... cases) {
  return detail::SelectAwaiter<typename detail::CaseOf<Cs>::type...>(
      nullptr, detail::to_case(std::forward<Cs>(cases))...);
}
// co_await select(ctx, cases...): as above, ending with index() == -1 and ctx's
// error once ctx is done.
template <class... Cs>
requires(detail::IsSelectCase<std::remove_cvref_t<Cs>>::value&&...)
    [[nodiscard]] detail::SelectAwaiter<typename detail::CaseOf<Cs>::type...> select(
        const Context& ctx, Cs&&... cases) {
  return detail::SelectAwaiter<typename detail::CaseOf<Cs>::type...>(
      ctx.node()->canceller, detail::to_case(std::forward<Cs>(cases))...);
}

// Dynamic select (Go's reflect.Select): a select over a list of cases built at run
// time, e.g. a fan-in over N channels:
//   std::vector<orca::SelectCase<Job>> cases;
//   for (auto& ch : inputs) cases.push_back(orca::recv(ch));
//   while (!cases.empty()) {
//     auto r = co_await orca::select(ctx, cases);
//     if (!r) return r.error();                          // ctx is done
//     auto& v = r.received();                            // cases[r.index()] was chosen
//     if (v) run(*v); else cases.erase(cases.begin() + r.index());  // closed
//   }
// It runs the variadic select's protocol (the same code) with the same semantics:
// a uniformly random choice among the cases that can proceed, default only when at
// one instant none could, exactly one case performed, the select's own context
// checked first. r.index() is the chosen case's position in the list (-1: ctx is
// done, r.error() its error); received(), sent() and done_error() its outcome by
// kind. An empty list with no default waits until ctx is done (forever without a
// context, as Go's `select {}`).
//
// The list: SelectCase<T> (any case kind, channels of one element type T). Calling
// select() resets each case's state, so one list serves select after select, and
// may be changed between them (push_back, erase, assign a new case).
// A chosen send case gives its value up (sent, or back in sent().unsent()) and is
// disabled from then on; a send case not chosen keeps its value for the next select.
//
// Cancel safety: as the variadic select's. A select ended by its context performed
// no channel operation; every send case then still holds its value.
//
// Thread safety: the list belongs to the select from the select() call until the
// co_await returns: neither the list nor its cases may be touched meanwhile, and one
// list serves one select at a time. Channels and contexts as for the variadic select.
//
// Errors: the context's error (index() == -1). Throws, before anything is done,
// std::invalid_argument if the list holds two default cases (enabled or not),
// std::length_error for 2^31 - 1 cases or more, std::bad_alloc if the scratch
// space of a list of more than 8 cases cannot be allocated (an allocation of 20
// bytes a case, the only one; up to 8 cases a select allocates nothing).
template <class R>
requires detail::SelectCaseList<R>
[[nodiscard]] auto select(const Context& ctx, R&& cases) {
  using T = typename detail::SelectCaseSpan<detail::SpanOf<R>>::type;
  return detail::DynamicSelectAwaiter<T>(ctx.node()->canceller, std::span<SelectCase<T>>(cases));
}
// As select(ctx, cases), without a context of its own.
template <class R>
requires detail::SelectCaseList<R>
[[nodiscard]] auto select(R&& cases) {
  using T = typename detail::SelectCaseSpan<detail::SpanOf<R>>::type;
  return detail::DynamicSelectAwaiter<T>(nullptr, std::span<SelectCase<T>>(cases));
}

}  // namespace orca
