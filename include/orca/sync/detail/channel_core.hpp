// ChannelCore: the type-independent half of orca::Channel<T> — its lock, its two
// wait queues, the closed flag, the ring's bookkeeping and a lock-free snapshot of
// all of that for fast "would block" checks. Channel<T> adds the ring storage and
// moves the values.
//
// Invariants (all under `lock_`):
//  - A live (still claimable) receiver waits only while the ring is empty, and a
//    live sender only while it is full (capacity 0: always). So at most one of the
//    queues holds live nodes; the other may hold stale ones (a node whose claim was
//    won by another case of a select, or by its context) that their owner is about
//    to withdraw. Whoever meets a stale node unlinks it and moves on.
//  - A node is completed only by whoever wins its claim (WaitClaim::try_claim), and
//    only after winning: the winner moves the value into or out of `slot`, or sets
//    `closed`, then wakes the task once. A loser never touches `slot`.
//  - `snapshot_` is rewritten at the end of every critical section that changed
//    anything, so it is always the state some completed critical section left.
//    Each rewrite that changes the state also advances the snapshot's version, so
//    an unchanged word read twice means the state did not change in between (a
//    select's consistency check, select.hpp step 1, relies on it).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "orca/runtime/detail/perturb.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/detail/wait_node.hpp"
#include "orca/runtime/result.hpp"
#include "orca/sync/detail/parked_wait.hpp"

namespace orca::detail {

// One task waiting in a channel's queue. `slot` is where a receiver's value is
// constructed (raw storage for a T), or where a sender's value is moved from (a T).
struct ChanWaiter : WaitNode {
  bool closed = false;  // set by close() on a node it claimed: the op ends with errc::closed
};

// What an attempt to complete a channel operation at once came to.
enum class ChanOp : std::uint8_t { kDone, kClosed, kWouldBlock };

class ChannelCore {
 public:
  explicit ChannelCore(std::uint32_t capacity) noexcept : cap_(capacity) {}
  ChannelCore(const ChannelCore&) = delete;
  ChannelCore& operator=(const ChannelCore&) = delete;

  // Relaxed: a snapshot, stale as soon as it is read; coherence alone makes a
  // completed operation visible to a later call on any thread.
  std::size_t len() const noexcept {
    return static_cast<std::size_t>(count_in(snapshot_.load(std::memory_order_relaxed)));
  }
  std::size_t cap() const noexcept { return cap_; }

  // False only if a receive surely cannot complete now (empty, no sender, open).
  // Relaxed: a hint; every decision is re-made under the lock, and the one
  // would-block answer given without the lock (try_recv) is linearized at this load.
  bool recv_may_complete() const noexcept {
    return !recv_blocked_in(snapshot_.load(std::memory_order_relaxed));
  }
  // False only if a send surely cannot complete now (full, no receiver, open).
  // Relaxed: as recv_may_complete.
  bool send_may_complete() const noexcept {
    return !send_blocked_in(snapshot_.load(std::memory_order_relaxed));
  }

  // The snapshot word, for a caller that judges several channels from their
  // snapshots and then checks that none changed (select.hpp step 1). Acquire:
  // later loads (the re-reads of that check) cannot move before this one, and it
  // pairs with publish()'s release, so a change that happened before the one
  // this load sees is seen by those re-reads.
  std::uint64_t snapshot() const noexcept { return snapshot_.load(std::memory_order_acquire); }
  // Whether the snapshot word `s` shows a receive (a send) that surely cannot complete.
  static bool recv_blocked_in(std::uint64_t s) noexcept {
    return (s & (kClosedBit | kSendersBit)) == 0 && count_in(s) == 0;
  }
  bool send_blocked_in(std::uint64_t s) const noexcept {
    return (s & (kClosedBit | kReceiversBit)) == 0 && count_in(s) >= cap_;
  }

  Result<void> close() noexcept;

  // Implementation interface for Channel<T>, its awaiters and select's cases.
  SpinLock& lock() noexcept { return lock_; }
  WaitQueue& receivers() noexcept { return recvq_; }
  WaitQueue& senders() noexcept { return sendq_; }
  bool closed_locked() const noexcept { return closed_; }

  // Under the lock: the first claimable node of `q`, unlinked and claimed (see
  // pop_claimed): its task is ours to complete and wake.
  static ChanWaiter* take_peer(WaitQueue& q) noexcept {
    return static_cast<ChanWaiter*>(pop_claimed(q));
  }

  // Under the lock: rewrites the snapshot from the guarded state, advancing its
  // version if the state changed (a critical section that changed nothing leaves
  // the word alone, so that a select's check does not fail for nothing).
  void publish() noexcept {
    ORCA_PERTURB("chan.before_publish");
    const std::uint64_t state = (static_cast<std::uint64_t>(count_) << kCountShift) |
                                (closed_ ? kClosedBit : 0) | (recvq_.empty() ? 0 : kReceiversBit) |
                                (sendq_.empty() ? 0 : kSendersBit);
    // Relaxed: only lock holders write the word, so under the lock this is the latest.
    const std::uint64_t old = snapshot_.load(std::memory_order_relaxed);
    if ((old & kStateMask) == state) return;
    // Release: pairs with snapshot()'s acquire (see there); free on x86. The version
    // wraps after 2^29 changes, far more than can happen between a select's two
    // reads of one channel (a few nanoseconds apart, unless its thread is preempted
    // for seconds and the word then returns to the very same value).
    snapshot_.store(((old & ~kStateMask) + kVersionStep) | state, std::memory_order_release);
  }

  // Removes a node its owner no longer waits with (another case won); takes the lock.
  void withdraw(ChanWaiter& node, bool sender) noexcept;
  // Drops every queued node without waking it (the channel is being destroyed under
  // parked tasks, e.g. at runtime shutdown): their awaiters then leave the channel alone.
  void orphan_waiters() noexcept;

 protected:
  static constexpr std::uint64_t kClosedBit = 1;
  static constexpr std::uint64_t kReceiversBit = 2;
  static constexpr std::uint64_t kSendersBit = 4;
  static constexpr int kCountShift = 3;
  // Bits 3-34 hold count_ (32 bits), bits 35-63 the version.
  static constexpr std::uint64_t kStateMask = (std::uint64_t{1} << 35) - 1;
  static constexpr std::uint64_t kVersionStep = std::uint64_t{1} << 35;

  static std::uint64_t count_in(std::uint64_t s) noexcept {
    return (s & kStateMask) >> kCountShift;
  }

  // Laid out to fill 64 bytes, everything an operation touches next to the lock:
  // between cores, an operation then moves one cache line, not two (measured).
  SpinLock lock_;
  bool closed_ = false;
  const std::uint32_t cap_;
  std::uint32_t head_ = 0;   // ring index of the oldest buffered value
  std::uint32_t count_ = 0;  // buffered values
  std::atomic<std::uint64_t> snapshot_{0};
  void* buf_ = nullptr;  // the ring: cap_ slots of Channel<T>'s T
  WaitQueue recvq_;
  WaitQueue sendq_;
};

}  // namespace orca::detail
