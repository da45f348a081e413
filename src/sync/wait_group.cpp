// WaitGroup.
//
// Zero transition (add):
//   1. One atomic add on the packed state gives the new counter and the number of
//      registered waiters. Counter above zero, or no waiter: return, touching
//      nothing more (a waiter that saw zero may have destroyed the group).
//   2. Otherwise every registered waiter is parked (or withdrawing, see below), so
//      the group is alive: lock, take the queue, claim each node, subtract the
//      taken waiters from the state, unlock, wake the batch.
// Withdrawing (a wait ended by its context): under the lock, if the node is still
// queued and the counter is not zero, unlink it and unregister. If the counter is
// zero, a step-2 waker is on its way and will touch the group: wait until it has
// taken the queue, so the group outlives it.
#include "orca/sync/wait_group.hpp"

#include <stdexcept>
#include <thread>

namespace orca {

void WaitGroup::add(std::int64_t delta) {
  if (delta == 0) return;
  if (delta > INT32_MAX || delta < -INT32_MAX)
    throw std::logic_error("orca::WaitGroup: add() delta out of range");
  const std::uint64_t step = static_cast<std::uint64_t>(delta) << 32;
  // acq_rel: the zero transition publishes everything done before it to the waiters.
  const std::uint64_t state = state_.fetch_add(step, std::memory_order_acq_rel) + step;
  const std::int64_t counter = counter_of(state);
  if (counter < 0) {  // also a counter pushed past 2^31 - 1, which wraps negative
    state_.fetch_sub(step, std::memory_order_acq_rel);
    throw std::logic_error("orca::WaitGroup: negative counter (more done() than add())");
  }
  if (counter != 0 || waiters_of(state) == 0) return;
  detail::TaskHeader* batch = nullptr;
  lock_.lock();
  std::uint64_t taken = 0;
  for (detail::WaitNode* n = waiters_.take_all(); n != nullptr; n = n->next) {
    ++taken;
    if (n->claim->try_claim(n->index)) {
      n->claim->task->next = batch;
      batch = n->claim->task;
    }
  }
  state_.fetch_sub(taken, std::memory_order_acq_rel);
  lock_.unlock();
  detail::wake_list(batch);
}

WaitGroup::WaitAwaiter::~WaitAwaiter() {
  // Only when the frame is destroyed while parked (runtime shutdown).
  if (group_node_.linked) {
    wg_.lock_.lock();
    if (group_node_.linked) {
      wg_.waiters_.remove(&group_node_);
      wg_.state_.fetch_sub(1, std::memory_order_acq_rel);
    }
    wg_.lock_.unlock();
  }
  if (ctx_ != nullptr && ctx_node_.linked) {
    ctx_->lock.lock();
    ctx_->waiters.remove(&ctx_node_);
    ctx_->lock.unlock();
  }
}

bool WaitGroup::WaitAwaiter::await_ready() noexcept {
  if (ctx_ != nullptr && ctx_->done.load(std::memory_order_acquire)) {
    early_ = ctx_->err;
    return detail::consume_budget();
  }
  return wg_.count() == 0 && detail::consume_budget();
}

bool WaitGroup::WaitAwaiter::await_suspend(std::coroutine_handle<> self) noexcept {
  detail::TaskHeader* me = detail::current_task();
  if (early_ || wg_.count() == 0) {
    detail::yield_current(self);  // ready, but the budget is spent
    return true;
  }
  claim_.task = me;
  detail::prepare_park(me, self, "WaitGroup.wait");
  // Locals, not members, after the group's node is published: a waker may resume
  // the task, whose next wait() reuses this awaiter's memory.
  detail::CancelNode* const ctx = ctx_;
  WaitGroup& wg = wg_;
  // Lock order: the context, then the group. Neither cancel() nor add() ever holds
  // the other's lock, so this cannot deadlock; holding both makes the two
  // registrations appear at once to whoever wakes us.
  if (ctx != nullptr) {
    ctx->lock.lock();
    if (ctx->done.load(std::memory_order_relaxed)) {
      early_ = ctx->err;
      ctx->lock.unlock();
      detail::cancel_park(me);
      return false;
    }
  }
  wg.lock_.lock();
  // Register only while the counter is above zero, in the same atomic step that
  // add() reads: either add() sees us, or we see its zero.
  std::uint64_t state = wg.state_.load(std::memory_order_acquire);
  do {
    if (counter_of(state) == 0) {
      wg.lock_.unlock();
      if (ctx != nullptr) ctx->lock.unlock();
      detail::cancel_park(me);
      return false;
    }
  } while (!wg.state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel));
  group_node_.claim = &claim_;
  group_node_.index = 0;
  if (ctx != nullptr) {
    // Filled before the group's node is published (see above).
    ctx_node_.claim = &claim_;
    ctx_node_.index = 1;
  }
  wg.waiters_.push_back(&group_node_);
  wg.lock_.unlock();
  if (ctx != nullptr) {
    // The context's lock is still held, so a group waker that resumed us cannot
    // have finished withdrawing ctx_node_: the task blocks on this lock first.
    ctx->waiters.push_back(&ctx_node_);
    ctx->lock.unlock();  // from here a waker may resume us
  }
  return true;
}

Result<void> WaitGroup::WaitAwaiter::await_resume() noexcept {
  if (early_) return early_;
  switch (claim_.winner.load(std::memory_order_acquire)) {
    case 0:  // the counter reached zero
      if (ctx_ != nullptr) {
        ctx_->lock.lock();
        ctx_->waiters.remove(&ctx_node_);
        ctx_->lock.unlock();
      }
      return {};
    case 1:  // the context is done
      for (;;) {
        wg_.lock_.lock();
        if (!group_node_.linked) {  // a zero-transition waker took the queue
          wg_.lock_.unlock();
          break;
        }
        if (counter_of(wg_.state_.load(std::memory_order_acquire)) != 0) {
          wg_.waiters_.remove(&group_node_);
          wg_.state_.fetch_sub(1, std::memory_order_acq_rel);
          wg_.lock_.unlock();
          break;
        }
        wg_.lock_.unlock();  // a waker is between its zero and its lock: let it pass
        std::this_thread::yield();
      }
      return ctx_->err;
    default:  // never parked
      return {};
  }
}

}  // namespace orca
