// RWMutex: everything under one SpinLock. The grants, in order of precedence:
//   1. A writer's unlock admits every waiting reader (the batch that queued behind
//      it); only if there is none does the oldest waiting writer get the lock.
//   2. The last reader's runlock hands the lock to the oldest waiting writer.
//   3. With no writer holding or waiting, waiting readers are admitted (after the
//      last waiting writer left through its context).
// A grant claims the waiter's node first (pop_claimed / try_claim): a waiter whose
// context won is skipped and withdraws itself, so no grant is ever lost.
#include "orca/sync/rw_mutex.hpp"

#include <stdexcept>

namespace orca {

bool RWMutex::try_acquire(bool shared) noexcept {
  lock_.lock();
  const bool ok = acquire_locked(shared);
  lock_.unlock();
  return ok;
}

bool RWMutex::acquire_locked(bool shared) noexcept {
  if (writer_ || !writers_waiting_.empty()) return false;  // a waiting writer goes first
  if (shared) {
    ++readers_;
  } else if (readers_ == 0) {
    writer_ = true;
  } else {
    return false;
  }
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

void RWMutex::runlock() {
  detail::TaskHeader* batch = nullptr;
  lock_.lock();
  if (readers_ == 0) {
    lock_.unlock();
    throw std::logic_error("orca::RWMutex: runlock of an RWMutex that is not read-locked");
  }
  --readers_;
  admit_locked(batch);
  lock_.unlock();
  detail::wake_batch(batch);
}

void RWMutex::admit_locked(detail::TaskHeader*& batch) noexcept {
  if (writer_) return;
  if (readers_ == 0) {  // rule 2
    if (detail::WaitNode* w = detail::pop_claimed(writers_waiting_)) {
      writer_ = true;
      detail::add_to_batch(batch, w);
      return;
    }
  }
  if (writers_waiting_.empty()) admit_readers_locked(batch);  // rule 3
}

void RWMutex::admit_readers_locked(detail::TaskHeader*& batch) noexcept {
  while (detail::WaitNode* r = detail::pop_claimed(readers_waiting_)) {
    ++readers_;
    detail::add_to_batch(batch, r);
  }
}

void RWMutex::withdraw(detail::WaitNode& node, bool shared) noexcept {
  detail::TaskHeader* batch = nullptr;
  lock_.lock();
  const bool linked = node.linked;
  (shared ? readers_waiting_ : writers_waiting_).remove(&node);
  // A writer leaving may let in the readers queued behind it (rule 3).
  if (linked && !shared) admit_locked(batch);
  lock_.unlock();
  detail::wake_batch(batch);
}

}  // namespace orca
