// IoWait: protocol steps 1-6 of src/runtime/netpoller.hpp, and the resumption.
#include "io_wait.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "orca/net/error.hpp"
#include "orca/runtime/detail/scheduling.hpp"

namespace orca::net::detail {

using orca::detail::TaskHeader;
using orca::detail::WaitClaim;

void set_nodelay_default(int fd) noexcept {
  const int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // best effort
}

IoWait::~IoWait() {
  if (!parked_) return;
  take_back_slot();
  if (cancel_ != nullptr && ctx_node_.linked) {
    cancel_->lock.lock();
    cancel_->waiters.remove(&ctx_node_);
    cancel_->lock.unlock();
  }
}

bool IoWait::take_back_slot() noexcept {
  // The lock also waits out a poller (or close) that took our claim from the slot
  // and is about to try it: after this, nobody touches claim_ any more.
  PollDesc* const pd = pd_;
  pd->lock.lock();
  WaitClaim*& slot = pd->slot(dir_);
  const bool ours = slot == &claim_;
  if (ours) slot = nullptr;
  pd->lock.unlock();
  if (ours) orca::detail::netpoll_waiter_removed();
  return ours;
}

bool IoWait::await_suspend(std::coroutine_handle<> self) noexcept {
  TaskHeader* const me = orca::detail::current_task();
  if (me == nullptr) {  // awaited outside a task: nothing could resume us
    early_ = std::make_error_code(std::errc::operation_not_permitted);
    return false;
  }
  PollDesc* const pd = pd_;
  CancelNode* const cancel = cancel_;
  const IoDir dir = dir_;
  pd->lock.lock();
  if (pd->closing()) {  // step 1
    pd->lock.unlock();
    early_ = make_error_code(errc::closed);
    return false;
  }
  if (const std::error_code ec = orca::detail::netpoll_register_locked(pd)) {  // step 2
    pd->lock.unlock();
    early_ = ec;
    return false;
  }
  if (pd->ready(dir)) {  // step 3: an edge came after the syscall: retry it
    pd->ready(dir) = false;
    pd->lock.unlock();
    return false;
  }
  if (pd->slot(dir) != nullptr) {  // another task waits in this direction
    pd->lock.unlock();
    early_ = make_error_code(errc::busy);
    return false;
  }
  if (cancel != nullptr) {  // step 4
    cancel->lock.lock();
    // Relaxed: under the context's lock, which orders it with cancel().
    if (cancel->done.load(std::memory_order_relaxed)) {
      early_ = cancel->err;
      cancel->lock.unlock();
      pd->lock.unlock();
      return false;
    }
    ctx_node_.claim = &claim_;
    ctx_node_.index = PollDesc::kContextCase;
    cancel->waiters.push_back(&ctx_node_);
  }
  claim_.task = me;
  parked_ = true;
  // Step 5.
  orca::detail::prepare_park(me, self, dir == IoDir::kRead ? "io read" : "io write");
  pd->slot(dir) = &claim_;
  // Counted before the slot is visible to a poller (we hold the lock), so the count
  // never runs below the number of claims in slots.
  const bool first = orca::detail::netpoll_add_waiter();
  if (cancel != nullptr) cancel->lock.unlock();
  pd->lock.unlock();  // step 6: published; only locals from here on
  if (first) orca::detail::netpoll_first_waiter();
  return true;
}

Result<void> IoWait::await_resume() noexcept {
  if (early_) return early_;
  if (!parked_) return {};  // a ready edge was consumed: retry the syscall
  parked_ = false;
  // Acquire: the winner claimed before waking us; the context's err was set before
  // its claim.
  const int winner = claim_.winner.load(std::memory_order_acquire);
  if (winner == PollDesc::kContextCase) {
    take_back_slot();
    return cancel_->err;
  }
  if (cancel_ != nullptr) {
    cancel_->lock.lock();
    cancel_->waiters.remove(&ctx_node_);
    cancel_->lock.unlock();
  }
  if (winner == PollDesc::kClosedCase) return make_error_code(errc::closed);
  return {};
}

}  // namespace orca::net::detail
