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
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

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
    return static_cast<std::size_t>(snapshot_.load(std::memory_order_relaxed) >> kCountShift);
  }
  std::size_t cap() const noexcept { return cap_; }

  // False only if a receive surely cannot complete now (empty, no sender, open).
  // Relaxed: a hint; every decision is re-made under the lock, and the one
  // would-block answer given without the lock (try_recv) is linearized at this load.
  bool recv_may_complete() const noexcept {
    const std::uint64_t s = snapshot_.load(std::memory_order_relaxed);
    return (s & (kClosedBit | kSendersBit)) != 0 || (s >> kCountShift) != 0;
  }
  // False only if a send surely cannot complete now (full, no receiver, open).
  // Relaxed: as recv_may_complete.
  bool send_may_complete() const noexcept {
    const std::uint64_t s = snapshot_.load(std::memory_order_relaxed);
    return (s & (kClosedBit | kReceiversBit)) != 0 || (s >> kCountShift) < cap_;
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

  // Under the lock: rewrites the snapshot from the guarded state.
  void publish() noexcept {
    const std::uint64_t s = (static_cast<std::uint64_t>(count_) << kCountShift) |
                            (closed_ ? kClosedBit : 0) | (recvq_.empty() ? 0 : kReceiversBit) |
                            (sendq_.empty() ? 0 : kSendersBit);
    // Relaxed: see len(); the data itself is only read under the lock.
    snapshot_.store(s, std::memory_order_relaxed);
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
