// SingleFlight<Key, T>: concurrent calls for one key share one call of the function
// (Go's golang.org/x/sync/singleflight.Group), the usual guard against a cache
// stampede: a thousand requests missing the same cache entry make one backend query.
//
//   orca::SingleFlight<std::string, User> users;
//   auto r = co_await users.call(ctx, id, [id](orca::Context call_ctx) {
//     return load_user(call_ctx, id);  // returns User, Result<User>, or a Task of either
//   });
//   if (!r) co_return r.error();      // load_user's error, or ctx ended first
//   use(*r);                          // r.shared(): other callers got it too
//
// call(ctx, key, fn) (Go's Do): if a call for `key` is in flight, the caller joins it;
// otherwise fn starts a new one. Every caller of one call receives its own copy of
// its result: the value, the error fn returned, or fn's exception, rethrown in each
// caller (the same exception object, as std::shared_future rethrows). shared() is
// Go's `shared`: the call's result went to more than one caller.
// call_chan(ctx, key, fn) (Go's DoChan) joins or starts the same way and returns a
// Waiter, whose channel() delivers the result once: receive it with recv or in a
// select. forget(key) (Go's Forget): the next caller for `key` starts a new call;
// callers of the forgotten one still receive its result.
//
// The call runs on a task of its own, never in a caller: a caller may leave, and the
// call must go on for the others. Go runs it on the first caller's goroutine, whose
// Do cannot be abandoned. Its context, passed to fn if fn takes a Context:
//  - derives from the first caller's ctx through without_cancel: it carries that
//    context's values, but neither its cancellation nor its deadline, so a first
//    caller who leaves does not fail the call for the others (a deadline of its
//    own is fn's to set);
//  - is cancelled when every caller has left before the call finished: nobody
//    wants the result any more, so fn may stop early. The key is forgotten at that
//    moment, and the next caller starts a new call instead of joining a cancelled one.
// The call ends when fn returns: its key is forgotten before the result is delivered,
// so a caller arriving later starts a new call (this is a stampede guard, not a
// cache), and nothing of it is kept: memory is bounded by the calls in flight.
//
// Cancel safety: a caller of call(ctx, ...) whose ctx ends first returns ctx's error
// and leaves; the call and the other callers go on (a ctx already done when call()
// is made returns its error at once, and joins or starts nothing). A Waiter leaves when it is
// destroyed before the result came. A caller that leaves gets no result: it does not
// count as having received it (shared()).
//
// Errors: call() returns the caller's context's error, or the error fn returned; it
// rethrows fn's exception. A result received from a Waiter's channel holds the value,
// fn's error, or fn's exception (has_value() false, error() empty, exception() set;
// value() rethrows it).
//
// fn is moved into the call's task and may outlive the caller who passed it (the
// caller may leave): capture by value, as for orca::go. A caller who joins a call
// in flight destroys its fn unused. fn's context ends when the call does.
//
// Thread safety: call, call_chan, forget and in_flight from any task, on any worker,
// at once (one lock guards the calls). The group may be destroyed while calls are in
// flight: they share its state, run to their end and deliver to their callers.
//
// T must be copy constructible (each caller receives a copy) and nothrow move
// constructible (results travel through channels). Key as for std::unordered_map,
// and copyable.
//
// Protocol. One lock (State::lock) guards the map of calls and every call's fields.
// Each caller has a Seat: a one-slot channel its result is sent on, shared by its
// Waiter and, until the call ends, the call. call() is call_chan() and a receive.
// Invariants: a call is in the map only while it is neither over nor forgotten;
// while it is not over, its seats are exactly the callers that have not left, and
// there is at least one; once it is over, nothing joins, leaves or touches its seats.
//   1. Join (call_chan): under the lock, if the map has a call for the key, take a
//      seat in it.
//   2. Start: otherwise build a call and its context outside the lock; under the
//      lock insert it with a seat, or, if a call appeared meanwhile, join that one
//      and drop this one unseen. Then start the call's task.
//   3. Finish (the call's task, when fn has returned or thrown): under the lock mark
//      the call over, take it out of the map (unless forgotten) and take its seats;
//      after the lock, cancel its context (freeing it) and send each seat a copy.
//   4. Leave (~Waiter, also in call() when its ctx ends): under the lock, if the call
//      is not over, give up the seat; if it was the last, mark the call over and take
//      it out of the map. After the lock, cancel the call's context if it was the
//      last. A caller leaving after step 3 took the seats changes nothing: its seat
//      still exists, and the copy sent to it is dropped with it.
//   5. Forget: under the lock, take the call out of the map; it runs on for its
//      seats, and a later step 3 or 4 leaves the map alone (`mapped` is false).
// Rejected: parking callers in a wait queue of the call (as Once does) and having
// each read the result from the call: the channel form needs a channel per caller
// anyway, and one mechanism serves both forms; the channel's own parking gives
// call() its cancel safety.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/runtime/detail/wait_node.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/runtime/task.hpp"
#include "orca/sync/channel.hpp"
#include "orca/sync/detail/call_result.hpp"
#include "orca/sync/detail/lock_guard.hpp"

namespace orca {

namespace detail {

// What fn returns, called with the call's context if it takes one, else with nothing.
template <class F, bool kTakesContext>
struct FlightReturn {
  using type = std::invoke_result_t<F&>;
};
template <class F>
struct FlightReturn<F, true> {
  using type = std::invoke_result_t<F&, const Context&>;
};

}  // namespace detail

// One caller's result of a shared call: a Result<T> (the value, fn's error, or the
// caller's context's error), fn's exception if it threw, and whether the call's
// result went to more than one caller.
template <class T>
class [[nodiscard]] SharedResult {
 public:
  SharedResult(Result<T> result, bool shared) noexcept(std::is_nothrow_move_constructible_v<T>)
      : result_(std::in_place, std::move(result)), shared_(shared) {}
  SharedResult(std::exception_ptr thrown, bool shared) noexcept
      : exception_(std::move(thrown)), shared_(shared) {}

  // A value: fn returned one.
  bool has_value() const noexcept { return result_ && result_->has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  // fn's error or the caller's context's; empty for a value or an exception.
  Error error() const noexcept { return result_ ? result_->error() : Error(); }
  // fn's exception, if it threw; else null.
  const std::exception_ptr& exception() const noexcept { return exception_; }
  // Go's `shared`: the call's result went to more than one caller. False for a caller
  // that left before the result came.
  bool shared() const noexcept { return shared_; }

  // The value; rethrows fn's exception; aborts with the message for an error (result.hpp).
  T& value() & {
    rethrow_if_thrown();
    return result_->value();
  }
  T&& value() && {
    rethrow_if_thrown();
    return std::move(*result_).value();
  }
  // The value; only when has_value().
  T& operator*() & noexcept { return **result_; }
  T&& operator*() && noexcept { return *std::move(*result_); }
  T* operator->() noexcept { return result_->operator->(); }
  const T* operator->() const noexcept { return result_->operator->(); }

  void rethrow_if_thrown() const {
    if (exception_) std::rethrow_exception(exception_);
  }

 private:
  std::optional<Result<T>> result_;  // empty when fn threw
  std::exception_ptr exception_;
  bool shared_ = false;
};

template <class Key, class T, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>>
class SingleFlight {
  static_assert(std::is_copy_constructible_v<T>, "each caller receives a copy of the result");
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                "results travel through channels: T's move constructor and destructor must be "
                "noexcept");

  struct Call;
  struct State;
  using ResultChannel = Channel<SharedResult<T>>;
  // One caller's place in a call: the channel its result is sent on (one slot, so
  // the send never waits) and its index in Call::seats.
  struct Seat {
    ResultChannel channel{1};
    std::size_t index = 0;  // guarded by State::lock
  };

 public:
  class Waiter;

  SingleFlight() : state_(std::make_shared<State>()) {}
  SingleFlight(const SingleFlight&) = delete;
  SingleFlight& operator=(const SingleFlight&) = delete;

  // co_await group.call(ctx, key, fn) -> SharedResult<T>: joins the call in flight
  // for key, or starts fn in a new task, and waits for its result under ctx. fn takes
  // a Context (the call's) or nothing and returns T, Result<T>, Task<T> or
  // Task<Result<T>>. Rethrows fn's exception. Parameters by value: the task runs
  // when awaited.
  template <class F>
  [[nodiscard]] Task<SharedResult<T>> call(Context ctx, Key key, F fn) {
    if (std::error_code err = ctx.err()) co_return SharedResult<T>(err, false);
    Waiter waiter = call_chan(ctx, std::move(key), std::move(fn));
    Result<SharedResult<T>> got = co_await waiter.channel().recv(ctx);
    if (!got) co_return SharedResult<T>(got.error(), false);  // ~Waiter leaves the call
    got->rethrow_if_thrown();
    co_return std::move(*got);
  }

  // As call, but returns at once: a Waiter whose channel() delivers the result. ctx
  // gives the call its values if this caller starts it; the caller leaves when the
  // Waiter is destroyed, not when ctx ends. Throws std::logic_error outside a task.
  template <class F>
  [[nodiscard]] Waiter call_chan(const Context& ctx, Key key, F fn);

  // The next caller for key starts a new call; callers of the one in flight still
  // receive its result. Returns whether a call was in flight under key.
  bool forget(const Key& key);

  // How many calls are in flight under a key (forgotten ones do not count).
  std::size_t in_flight() const;

 private:
  using CallMap = std::unordered_map<Key, std::shared_ptr<Call>, Hash, KeyEqual>;

  // One call in flight. key and cancel are set before the call is published and
  // never change (cancel is thread-safe); the other fields are guarded by State::lock.
  struct Call {
    explicit Call(const Key& k) : key(k) {}
    Key key;
    CancelFunc cancel;                         // cancels the call's context
    std::vector<std::shared_ptr<Seat>> seats;  // callers waiting for the result
    std::size_t callers = 0;                   // callers that ever joined (Go's dups + 1)
    bool mapped = true;                        // still under key in State::calls
    bool over = false;  // finished or abandoned: nobody joins or leaves any more
  };

  struct State {
    mutable detail::SpinLock lock;
    CallMap calls;  // guarded by lock

    // Under lock: takes `call` out of the map, unless forget() already did.
    void unmap(Call& call) {
      if (!call.mapped) return;
      call.mapped = false;
      calls.erase(call.key);
    }

    // Under lock: seats `seat` in `call`.
    static void seat_in(Call& call, std::shared_ptr<Seat> seat) {
      seat->index = call.seats.size();
      call.seats.push_back(std::move(seat));
      ++call.callers;
    }

    // The call in flight for key, with `seat` in it; null if there is none.
    std::shared_ptr<Call> join(const Key& key, const std::shared_ptr<Seat>& seat) {
      lock.lock();
      detail::LockGuard<detail::SpinLock> guard(lock);
      auto found = calls.find(key);
      if (found == calls.end()) return nullptr;
      seat_in(*found->second, seat);
      return found->second;
    }

    // As join; if there is no call for key, inserts `fresh`, with `seat` in it, and
    // returns null.
    std::shared_ptr<Call> join_or_insert(Key key, const std::shared_ptr<Call>& fresh,
                                         const std::shared_ptr<Seat>& seat) {
      lock.lock();
      detail::LockGuard<detail::SpinLock> guard(lock);
      auto [at, inserted] = calls.try_emplace(std::move(key), fresh);
      if (!inserted) {
        seat_in(*at->second, seat);
        return at->second;
      }
      seat_in(*fresh, seat);  // no throw: reserved
      return nullptr;
    }
  };

  template <class F>
  static Task<void> run_call(std::shared_ptr<State> state, std::shared_ptr<Call> call, Context ctx,
                             F fn);
  static void finish(State& state, Call& call, std::optional<Result<T>> result,
                     std::exception_ptr thrown);

  std::shared_ptr<State> state_;
};

// One caller's share of a call (call_chan): channel() delivers the result once.
// Destroying the Waiter before then leaves the call; when the last caller leaves,
// the call's context is cancelled. Move-only.
//
// Cancel safety: a receive from channel() ended by a context takes nothing; the
// Waiter still waits and may receive the result later.
template <class Key, class T, class Hash, class KeyEqual>
class SingleFlight<Key, T, Hash, KeyEqual>::Waiter {
 public:
  Waiter(Waiter&& other) noexcept = default;
  Waiter& operator=(Waiter&& other) noexcept {
    if (this != &other) {
      leave();
      state_ = std::move(other.state_);
      call_ = std::move(other.call_);
      seat_ = std::move(other.seat_);
    }
    return *this;
  }
  ~Waiter() { leave(); }

  // Delivers the result once, then nothing: receive it with channel().recv(ctx), or
  // orca::recv(channel()) in a select. Valid as long as the Waiter.
  Channel<SharedResult<T>>& channel() noexcept { return seat_->channel; }

 private:
  friend class SingleFlight;
  Waiter(std::shared_ptr<State> state, std::shared_ptr<Call> call, std::shared_ptr<Seat> seat)
      : state_(std::move(state)), call_(std::move(call)), seat_(std::move(seat)) {}

  // Protocol step 4.
  void leave() noexcept {
    if (!call_) return;
    Call& call = *call_;
    bool abandoned = false;
    state_->lock.lock();
    if (!call.over) {
      std::vector<std::shared_ptr<Seat>>& seats = call.seats;
      const std::size_t i = seat_->index;
      seats[i] = std::move(seats.back());
      seats[i]->index = i;
      seats.pop_back();
      if (seats.empty()) {
        call.over = true;
        state_->unmap(call);  // erase(key) throws only if Hash or KeyEqual does
        abandoned = true;
      }
    }
    state_->lock.unlock();
    if (abandoned) call.cancel();
    call_.reset();
    state_.reset();
  }

  std::shared_ptr<State> state_;
  std::shared_ptr<Call> call_;  // null once left, or moved from
  std::shared_ptr<Seat> seat_;
};

template <class Key, class T, class Hash, class KeyEqual>
template <class F>
auto SingleFlight<Key, T, Hash, KeyEqual>::call_chan(const Context& ctx, Key key, F fn) -> Waiter {
  auto seat = std::make_shared<Seat>();
  State& state = *state_;
  // Protocol step 1: join the call in flight, if any.
  if (std::shared_ptr<Call> in_flight = state.join(key, seat))
    return Waiter(state_, std::move(in_flight), std::move(seat));
  // Step 2: prepare a call outside the lock, then insert it unless another caller
  // has inserted one meanwhile (then join that one; this one was never seen).
  auto call = std::make_shared<Call>(key);
  auto [call_ctx, cancel] = with_cancel(without_cancel(ctx));
  call->cancel = std::move(cancel);
  call->seats.reserve(1);
  if (std::shared_ptr<Call> in_flight = state.join_or_insert(std::move(key), call, seat)) {
    call->cancel();
    return Waiter(state_, std::move(in_flight), std::move(seat));
  }
  Waiter waiter(state_, call, std::move(seat));
  try {
    go([state = state_, call, call_ctx = std::move(call_ctx), fn = std::move(fn)]() mutable {
      return run_call(std::move(state), std::move(call), std::move(call_ctx), std::move(fn));
    });
  } catch (...) {  // outside a task, or no memory for the task: the call never ran
    finish(state, *call, std::nullopt, std::current_exception());  // to those who joined
    throw;
  }
  return waiter;
}

template <class Key, class T, class Hash, class KeyEqual>
template <class F>
Task<void> SingleFlight<Key, T, Hash, KeyEqual>::run_call(std::shared_ptr<State> state,
                                                          std::shared_ptr<Call> call, Context ctx,
                                                          F fn) {
  constexpr bool kTakesContext = std::is_invocable_v<F&, const Context&>;
  using Returned = typename detail::FlightReturn<F, kTakesContext>::type;
  using Output = typename detail::AwaitedOutput<Returned>::type;
  static_assert(std::is_constructible_v<Result<T>, Output&&>,
                "fn returns T, Result<T>, Task<T> or Task<Result<T>>");
  std::optional<Result<T>> result;
  std::exception_ptr thrown;
  try {
    auto returned = [&] {
      if constexpr (kTakesContext) {
        return std::invoke(fn, ctx);
      } else {
        return std::invoke(fn);
      }
    }();
    if constexpr (detail::IsTask<Returned>::value) {
      // Named locals, not co_await temporaries (GCC PR 101367).
      Output output = co_await std::move(returned);
      result.emplace(std::move(output));
    } else {
      result.emplace(std::move(returned));
    }
  } catch (...) {
    thrown = std::current_exception();
  }
  finish(*state, *call, std::move(result), std::move(thrown));
}

// Protocol step 3. Each seat gets its copy, the last one the original.
template <class Key, class T, class Hash, class KeyEqual>
void SingleFlight<Key, T, Hash, KeyEqual>::finish(State& state, Call& call,
                                                  std::optional<Result<T>> result,
                                                  std::exception_ptr thrown) {
  std::vector<std::shared_ptr<Seat>> seats;
  state.lock.lock();
  call.over = true;
  state.unmap(call);
  seats.swap(call.seats);
  const bool shared = call.callers > 1;
  state.lock.unlock();
  call.cancel();  // idempotent: a no-op if the last caller's leaving cancelled it
  for (std::size_t i = 0; i < seats.size(); ++i) {
    std::optional<SharedResult<T>> mine;
    if (!result) {
      mine.emplace(thrown, shared);
    } else {
      try {
        if (i + 1 == seats.size()) {
          mine.emplace(std::move(*result), shared);
        } else {
          mine.emplace(Result<T>(*result), shared);
        }
      } catch (...) {  // copying the value threw: that caller receives the exception
        mine.emplace(std::current_exception(), shared);
      }
    }
    (void)seats[i]->channel.try_send(std::move(*mine));
  }
}

template <class Key, class T, class Hash, class KeyEqual>
bool SingleFlight<Key, T, Hash, KeyEqual>::forget(const Key& key) {
  state_->lock.lock();
  detail::LockGuard<detail::SpinLock> guard(state_->lock);
  auto found = state_->calls.find(key);
  if (found == state_->calls.end()) return false;
  found->second->mapped = false;
  state_->calls.erase(found);
  return true;
}

template <class Key, class T, class Hash, class KeyEqual>
std::size_t SingleFlight<Key, T, Hash, KeyEqual>::in_flight() const {
  state_->lock.lock();
  const std::size_t n = state_->calls.size();
  state_->lock.unlock();
  return n;
}

}  // namespace orca
