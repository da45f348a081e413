// Netpoller: the runtime's epoll instance, and PollDesc, the per-socket state through
// which a task waits for its descriptor to become readable or writable.
//
// Invariant: a PollDesc slot (`reader`, `writer`) holds the claim of at most one
// parked task, and a task whose claim sits in a slot is counted in
// Netpoller::waiters(); the count drops only after the woken task is queued, so the
// deadlock check never sees "no I/O waiter" while a woken task is in nobody's queue.
//
// Edge-triggered: each socket is registered once, for IN|OUT|RDHUP|ET, the first
// time a task has to wait on it (and again after the runtime changed). An edge that
// finds no waiter is remembered in `read_ready`/`write_ready`; a waiter that finds
// the flag set consumes it and retries its syscall instead of parking (Go's pdReady).
//
// Waiting on a descriptor (the awaiter in src/net/io_wait.cpp), under `lock`:
//   1. If `closing`: do not park (the operation reports closed).
//   2. Register with the running runtime's epoll if not yet done.
//   3. If the ready flag is set: clear it and do not park (retry the syscall).
//   4. If the context is done: do not park. Else enqueue a WaitNode (case
//      kContextCase) in the context's waiters, nested under the context's lock (lock
//      order: PollDesc, then context; cancel() never takes a PollDesc lock).
//   5. prepare_park; store the claim in the slot; count it (netpoll_add_waiter).
//   6. Unlock the context, then the PollDesc. From here the poller (case kIoCase),
//      close() (kClosedCase) or the context (kContextCase) may claim and wake the
//      task; nothing of the awaiter is touched after the unlock. If it was the first
//      waiter, netpoll_first_waiter() (no lock held) brings a blocking poller round.
// Waking from an epoll event, under `lock`: take the claim out of the slot; if
// try_claim(kIoCase) wins, queue the task; if it loses (the context won first), set
// the ready flag instead, so the edge is not lost for the next waiter.
// Resumption: kIoCase/kClosedCase withdraw the context node under the context's
// lock; kContextCase takes `lock` and clears the slot if it still holds its claim
// (the lock also waits out a poller that is between taking the claim and claiming).
#pragma once

#include <sys/epoll.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <system_error>

#include "orca/runtime/detail/task_header.hpp"
#include "orca/runtime/detail/wait_node.hpp"

namespace orca::detail {

enum class IoDir : std::uint8_t { kRead, kWrite };

// One socket's wait state. Allocated from a process-wide pool that never returns
// memory, so an epoll event that names a PollDesc freed and reused meanwhile reads
// valid memory; the sequence number packed into the event tells it is stale.
struct PollDesc {
  static constexpr int kIoCase = 0;       // claim index: the descriptor became ready
  static constexpr int kContextCase = 1;  // claim index: the waiter's context is done
  static constexpr int kClosedCase = 2;   // claim index: close() woke the waiter

  SpinLock lock;
  // Guarded by `lock`:
  bool read_ready = false;
  bool write_ready = false;
  std::uint16_t seq = 0;  // bumped on each reuse; tags this desc's epoll events
  WaitClaim* reader = nullptr;
  WaitClaim* writer = nullptr;
  std::uint64_t registered_generation = 0;  // the Runtime::generation() holding the fd
  // Constant from open() to the descriptor's close (when no operation holds it).
  int fd = -1;
  // kClosing | kFdClosed | kOwnerGone | operations in flight * kOp (Go's fdMutex,
  // reduced to what orca needs). Once kClosing is set the count only falls, so
  // exactly one thread sees "closing, no operation" and closes the descriptor; the
  // desc returns to the pool when both the descriptor is closed and the owner has
  // let go, by whichever of the two RMWs comes second.
  static constexpr std::uint32_t kClosing = 1;
  static constexpr std::uint32_t kFdClosed = 2;
  static constexpr std::uint32_t kOwnerGone = 4;
  static constexpr std::uint32_t kOp = 8;
  std::atomic<std::uint32_t> state{0};
  PollDesc* next_free = nullptr;  // the pool's free list

  // Takes ownership of `fd` (a non-blocking socket). Throws std::bad_alloc.
  static PollDesc* open(int fd);
  // The owner lets go: closes (if not yet), and the desc returns to the pool once
  // no operation holds it. Owner only, once. An operation still parked is woken
  // with kClosedCase and must touch nothing of the owning object afterwards.
  static void free(PollDesc* pd) noexcept;

  // An operation takes a reference for the time it uses `fd`; false once closing.
  bool acquire() noexcept;
  void release() noexcept;
  // Marks closing, wakes parked operations (they return closed) and closes the
  // descriptor once no operation uses it. Idempotent, any thread.
  void close() noexcept;
  // Acquire: pairs with close()'s RMW, for is_open().
  bool closing() const noexcept { return (state.load(std::memory_order_acquire) & kClosing) != 0; }

  WaitClaim*& slot(IoDir dir) noexcept { return dir == IoDir::kRead ? reader : writer; }
  bool& ready(IoDir dir) noexcept { return dir == IoDir::kRead ? read_ready : write_ready; }

 private:
  void close_descriptor() noexcept;
  void recycle() noexcept;
};

// Under pd->lock, from a task: registers pd's descriptor with the running runtime's
// epoll if it is not registered there yet. Returns the system error, or
// operation_not_permitted when no runtime runs.
std::error_code netpoll_register_locked(PollDesc* pd) noexcept;
// Step 5, under pd->lock: counts a claim stored in a slot. True for the first
// waiter, whose task then calls netpoll_first_waiter() once it holds no lock.
bool netpoll_add_waiter() noexcept;
// Makes sure an idle worker takes the blocking-poller role (runtime.hpp, step 6).
void netpoll_first_waiter() noexcept;
// A task or the teardown took its own claim back out of a slot.
void netpoll_waiter_removed() noexcept;

class Netpoller {
 public:
  Netpoller() = default;
  Netpoller(const Netpoller&) = delete;
  Netpoller& operator=(const Netpoller&) = delete;
  ~Netpoller();

  // Creates the epoll instance and its eventfd. On failure the netpoller stays
  // closed and every registration reports the error.
  std::error_code open() noexcept;
  int epoll_fd() const noexcept { return epfd_; }
  const std::error_code& open_error() const noexcept { return open_error_; }

  // seq_cst: read in park() after n_idle_'s seq_cst increment, written before
  // n_idle_ is read by the first waiter's wake-up; one of the two sees the other.
  std::int64_t waiters() const noexcept { return waiters_.load(std::memory_order_seq_cst); }
  // Returns the count before the increment.
  std::int64_t add_waiter() noexcept { return waiters_.fetch_add(1, std::memory_order_seq_cst); }
  void remove_waiters(std::int64_t n) noexcept {
    if (n != 0) waiters_.fetch_sub(n, std::memory_order_seq_cst);
  }

  struct Polled {
    TaskHeader* ready = nullptr;  // claimed tasks, linked through TaskHeader::next
    std::int64_t removed = 0;     // claims taken out of slots (pass to remove_waiters)
  };
  // One epoll_wait. `blocking`: the caller holds the blocking-poller role, waits up
  // to `timeout` (null: no limit) and drains the eventfd; otherwise it returns at
  // once and leaves the eventfd alone (its token belongs to the blocking poller).
  Polled poll(bool blocking, const timespec* timeout) noexcept;
  // Makes the blocking poller's epoll_wait return (at most one write per round).
  void interrupt() noexcept;

 private:
  int epfd_ = -1;
  int evfd_ = -1;
  std::error_code open_error_;
  // Set by the interrupt that wrote the eventfd, cleared by the poller that drained
  // it: further interrupts in between are redundant (Go's netpollWakeSig).
  std::atomic<bool> interrupt_pending_{false};
  alignas(64) std::atomic<std::int64_t> waiters_{0};
};

}  // namespace orca::detail
