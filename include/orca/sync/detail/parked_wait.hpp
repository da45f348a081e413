// ParkedWait: a task waiting in one object's wait queue (a channel's, a mutex's, a
// semaphore's...) and, optionally, on a context at the same time — the half that
// every blocking sync operation except select shares. Both waits name one
// WaitClaim: case 0 for the object, case 1 for the context.
//
// Parking protocol (park(); the object's lock is held on entry):
//   1. If the context is done: unlock, report "not parked" (the caller returns the
//      context's error).
//   2. Enqueue a node in the context's waiters under its lock, nested inside the
//      object's lock (lock order: object before context, never the reverse; the
//      context's cancel() takes no object lock).
//   3. prepare_park; enqueue the object node; let the object update its state.
//   4. Unlock the context, then the object. From here either side may claim and
//      wake the task; the woken task withdraws the other node under that node's
//      lock, so it cannot get past it before both locks are released. Nothing of
//      the awaiter is touched after the last unlock.
// Resumption: resumed_by_object() reads the winner. If the object won, the context
// node is withdrawn here; if the context won, the caller withdraws the object node
// under the object's lock (only it knows the queue and what else to update).
#pragma once

#include <atomic>
#include <coroutine>
#include <system_error>

#include "orca/context/detail/context_node.hpp"
#include "orca/runtime/detail/perturb.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/detail/wait_node.hpp"

namespace orca::detail {

// Removes `node` from ctx's waiters if it is still there.
inline void withdraw_from_context(CancelNode* ctx, WaitNode& node) noexcept {
  ctx->lock.lock();
  ctx->waiters.remove(&node);
  ctx->lock.unlock();
}

// Under the queue's lock: unlinks nodes from the front until one is claimed, and
// returns it; its task is then ours to complete (claim first, then touch the node's
// slot) and wake. A node whose claim fails is dropped: another case of its task
// won, and the task withdraws the node itself (a no-op once it is unlinked).
inline WaitNode* pop_claimed(WaitQueue& q) noexcept {
  while (WaitNode* n = q.pop_front()) {
    if (n->claim->try_claim(n->index)) return n;
  }
  return nullptr;
}

// Links the task of a node the caller has claimed onto a wake batch (through
// TaskHeader::next), to be woken once every lock is released.
inline void add_to_batch(TaskHeader*& batch, WaitNode* claimed) noexcept {
  TaskHeader* t = claimed->claim->task;
  t->next = batch;
  batch = t;
}

// Wakes a batch built by add_to_batch: a lone task as a hand-off, so that it runs
// next on this worker; several in one step, in the order they were added (the
// order they queued in), though add_to_batch links them newest first.
inline void wake_batch(TaskHeader* batch) noexcept {
  if (batch == nullptr) return;
  if (batch->next == nullptr) {
    wake(batch, WakeOrder::kNext);
    return;
  }
  TaskHeader* in_order = nullptr;
  while (batch != nullptr) {
    TaskHeader* next = batch->next;
    batch->next = in_order;
    in_order = batch;
    batch = next;
  }
  wake_list(in_order);
}

template <class Node>
class ParkedWait {
 public:
  static constexpr int kObjectCase = 0;
  static constexpr int kContextCase = 1;

  // `cancel`: the operation's context's canceller, or null (never cancelled).
  explicit ParkedWait(CancelNode* cancel) noexcept : cancel_(cancel) {}
  ParkedWait(const ParkedWait&) = delete;
  ParkedWait& operator=(const ParkedWait&) = delete;
  ~ParkedWait() {
    if (ctx_node_.linked) withdraw_from_context(cancel_, ctx_node_);  // runtime teardown only
  }

  // Acquire: pairs with cancel()'s release of `done`; err is then readable.
  bool context_done() const noexcept {
    return cancel_ != nullptr && cancel_->done.load(std::memory_order_acquire);
  }
  // The context's error; only once it is done.
  std::error_code context_error() const noexcept { return cancel_->err; }
  Node& node() noexcept { return node_; }
  bool parked() const noexcept { return claim_.task != nullptr; }
  // Relaxed: for teardown, when nothing runs concurrently.
  int winner_at_teardown() const noexcept { return claim_.winner.load(std::memory_order_relaxed); }

  // Protocol steps 1-4. `published()` runs after the node is enqueued, with the
  // object's lock still held. Returns false if the context was done.
  template <class Published>
  bool park(SpinLock& object_lock, WaitQueue& queue, void* slot, std::coroutine_handle<> self,
            const char* reason, Published&& published) noexcept {
    TaskHeader* me = current_task();
    CancelNode* const cancel = cancel_;
    if (cancel != nullptr) {
      cancel->lock.lock();
      // Relaxed: under the context's lock, which orders it with cancel().
      if (cancel->done.load(std::memory_order_relaxed)) {
        cancel->lock.unlock();
        object_lock.unlock();
        return false;
      }
      ctx_node_.claim = &claim_;
      ctx_node_.index = kContextCase;
      cancel->waiters.push_back(&ctx_node_);
    }
    claim_.task = me;
    node_.claim = &claim_;
    node_.index = kObjectCase;
    node_.slot = slot;
    prepare_park(me, self, reason);
    queue.push_back(&node_);
    published();
    if (cancel != nullptr) cancel->lock.unlock();
    object_lock.unlock();  // published: touch nothing of the awaiter from here on
    ORCA_PERTURB("park.published");
    return true;
  }

  // Removes the object node from `queue` (guarded by `object_lock`) if it is still
  // there: after the context won, or at teardown.
  void withdraw(SpinLock& object_lock, WaitQueue& queue) noexcept {
    object_lock.lock();
    queue.remove(&node_);
    object_lock.unlock();
  }

  // After the task was woken: true if the object completed the wait (the context
  // node is then withdrawn), false if the context won.
  bool resumed_by_object() noexcept {
    ORCA_PERTURB("park.resumed");
    // Acquire: the winner claimed before completing; what it wrote after the claim
    // (a value, a flag) reaches us through the wake-up's run-queue hand-over.
    if (claim_.winner.load(std::memory_order_acquire) == kObjectCase) {
      if (cancel_ != nullptr) withdraw_from_context(cancel_, ctx_node_);
      return true;
    }
    return false;
  }

 private:
  CancelNode* cancel_;
  WaitClaim claim_;
  Node node_;
  WaitNode ctx_node_;
};

// Finishes an operation that completed without parking from inside await_suspend:
// resume at once while the task's budget lasts, else yield once.
inline bool suspend_if_budget_spent(std::coroutine_handle<> self) noexcept {
  if (consume_budget()) return false;
  yield_current(self);
  return true;
}

}  // namespace orca::detail
