// ChannelCore's out-of-line parts: close, withdrawal, orphaning.
//
// close():
//   1. Under the lock: if already closed, report errc::closed. Set closed.
//   2. Still under the lock, detach both queues and claim every node: a claimed
//      node is marked closed and its task joins one wake batch; a node whose claim
//      fails belongs to a task that another case is waking, which withdraws it
//      (a no-op now), so it is only touched while we hold the lock.
//   3. Unlock, then wake the whole batch in one step (wake_list).
#include "orca/sync/detail/channel_core.hpp"

#include "orca/runtime/detail/perturb.hpp"

namespace orca::detail {
namespace {

void claim_all(WaitNode* first, TaskHeader*& batch) noexcept {
  for (WaitNode* n = first; n != nullptr;) {
    WaitNode* next = n->next;
    if (n->claim->try_claim(n->index)) {
      static_cast<ChanWaiter*>(n)->closed = true;
      TaskHeader* t = n->claim->task;
      t->next = batch;
      batch = t;
    }
    n = next;
  }
}

}  // namespace

Result<void> ChannelCore::close() noexcept {
  TaskHeader* batch = nullptr;
  lock_.lock();
  if (closed_) {
    lock_.unlock();
    return errc::closed;
  }
  closed_ = true;
  claim_all(recvq_.take_all(), batch);
  claim_all(sendq_.take_all(), batch);
  publish();
  lock_.unlock();
  ORCA_PERTURB("chan.close_before_wake");
  wake_list(batch);
  return {};
}

void ChannelCore::withdraw(ChanWaiter& node, bool sender) noexcept {
  lock_.lock();
  if (node.linked) {
    (sender ? sendq_ : recvq_).remove(&node);
    publish();
  }
  lock_.unlock();
}

void ChannelCore::orphan_waiters() noexcept {
  lock_.lock();
  recvq_.take_all();
  sendq_.take_all();
  lock_.unlock();
}

}  // namespace orca::detail
