// RWMutex: a reader count that readers take and drop with one atomic add while no
// writer holds or waits (the fast path, as Go's RWMutex), everything else under
// one SpinLock.
//
// state_ is kClosed (bit 0) plus kShare (2) per read share held. Invariant,
// whenever lock_ is free: kClosed is set exactly when a writer holds the lock or
// waits for it. kClosed changes only under lock_; shares are added and dropped
// without it.
//   1. rlock adds a share. If kClosed was set, that share does not count: it is
//      dropped again (as in step 2) and the reader asks under lock_.
//   2. runlock drops a share. If that leaves kClosed set and no share, a writer may
//      be waiting for exactly this: take lock_ and grant (rule 2).
//   3. A writer, under lock_, sets kClosed with the same atomic operation that
//      reads the shares: no reader gets a share in afterwards, a reader that left
//      before is not counted, and one that leaves after sees kClosed (step 2). All
//      are operations on state_, so exactly one of them sees the last share go.
// The grants under lock_, in order of precedence:
//   1. A writer's unlock admits every waiting reader (the batch that queued behind
//      it); only if there is none does the oldest waiting writer get the lock.
//   2. The last reader's runlock hands the lock to the oldest waiting writer.
//   3. With no writer holding or waiting, waiting readers are admitted (after the
//      last waiting writer left through its context).
// A grant claims the waiter's node first (pop_claimed / try_claim): a waiter whose
// context won is skipped and withdraws itself, so no grant is ever lost.
// kClosed is bit 0, not the top bit, so that a runlock without a share (misuse)
// only wraps the share count around, and adding the share back restores it.
#include "orca/sync/rw_mutex.hpp"

#include <stdexcept>

namespace orca {
namespace {

[[noreturn]] void throw_runlock_misuse() {
  throw std::logic_error("orca::RWMutex: runlock of an RWMutex that is not read-locked");
}

}  // namespace

bool RWMutex::try_acquire_slow(bool shared) noexcept {
  if (shared) drop_share();  // step 1: a writer holds or waits
  lock_.lock();
  const bool ok = shared ? acquire_locked(true) : acquire_free_locked();
  lock_.unlock();
  return ok;
}

bool RWMutex::acquire_free_locked() noexcept {
  if (writer_ || !writers_waiting_.empty()) return false;
  // No share and no writer: close it and take it in one step. Acquire: pairs with
  // the last reader's release, so that its reads come before our writes.
  std::uint64_t open = 0;
  if (!state_.compare_exchange_strong(open, kClosed, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
    return false;
  writer_ = true;
  return true;
}

bool RWMutex::acquire_locked(bool shared) noexcept {
  if (writer_ || !writers_waiting_.empty()) return false;  // a waiting writer goes first
  if (shared) {
    // Relaxed: kClosed is clear (invariant), and the writer whose unlock cleared it
    // did so under lock_, which we hold.
    state_.fetch_add(kShare, std::memory_order_relaxed);
    return true;
  }
  // Step 3. If shares are held, the caller queues this writer before releasing
  // lock_, which keeps the invariant, or withdraws it, which restores it. Acq_rel:
  // pairs with the last reader's release when no share is left.
  const std::uint64_t s = state_.fetch_or(kClosed, std::memory_order_acq_rel);
  if (s >= kShare) return false;
  writer_ = true;
  return true;
}

void RWMutex::unlock() {
  detail::TaskHeader* batch = nullptr;
  lock_.lock();
  if (!writer_) {
    lock_.unlock();
    throw std::logic_error("orca::RWMutex: unlock of an RWMutex that is not write-locked");
  }
  writer_ = false;
  admit_readers_locked(batch);  // rule 1: the readers that waited for this writer first
  admit_locked(batch);
  lock_.unlock();
  detail::wake_batch(batch);
}

void RWMutex::runlock_slow(std::uint64_t before) {
  if (before < kShare) {  // there was no share: put it back as it was
    if (state_.fetch_add(kShare, std::memory_order_relaxed) + kShare == kClosed) grant();
    throw_runlock_misuse();
  }
  grant();  // step 2: the last share, and kClosed is set
}

void RWMutex::drop_share() noexcept {
  if (state_.fetch_sub(kShare, std::memory_order_acq_rel) - kShare == kClosed) grant();
}

void RWMutex::grant() noexcept {
  detail::TaskHeader* batch = nullptr;
  lock_.lock();
  admit_locked(batch);  // rule 2, unless someone granted it first
  lock_.unlock();
  detail::wake_batch(batch);
}

void RWMutex::admit_locked(detail::TaskHeader*& batch) noexcept {
  if (!writer_) {
    // Acquire: the last reader's release, so that its reads come before the writes
    // of the writer granted here (we need not be that reader: a withdraw can grant).
    if (state_.load(std::memory_order_acquire) < kShare) {  // rule 2
      if (detail::WaitNode* w = detail::pop_claimed(writers_waiting_)) {
        writer_ = true;
        detail::add_to_batch(batch, w);
      }
    }
    if (!writer_ && writers_waiting_.empty()) admit_readers_locked(batch);  // rule 3
  }
  // Restore the invariant (kClosed may be set with nobody behind it: a writer that
  // left, or never got queued). Release when opening: readers that see kClosed
  // clear then see the last writer's writes.
  const bool closed = (state_.load(std::memory_order_relaxed) & kClosed) != 0;
  if (writer_ || !writers_waiting_.empty()) {
    if (!closed) state_.fetch_or(kClosed, std::memory_order_relaxed);
  } else if (closed) {
    state_.fetch_and(~kClosed, std::memory_order_release);
  }
}

void RWMutex::admit_readers_locked(detail::TaskHeader*& batch) noexcept {
  while (detail::WaitNode* r = detail::pop_claimed(readers_waiting_)) {
    state_.fetch_add(kShare, std::memory_order_relaxed);
    detail::add_to_batch(batch, r);
  }
}

void RWMutex::withdraw(detail::WaitNode& node, bool shared) noexcept {
  detail::TaskHeader* batch = nullptr;
  lock_.lock();
  (shared ? readers_waiting_ : writers_waiting_).remove(&node);
  // A writer leaving (or one that never got queued) may let in the readers queued
  // behind it (rule 3), and may reopen the fast path.
  if (!shared) admit_locked(batch);
  lock_.unlock();
  detail::wake_batch(batch);
}

}  // namespace orca
