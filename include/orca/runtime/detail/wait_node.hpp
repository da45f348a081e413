// WaitClaim and WaitNode: how a parked task waits on one or several objects at
// once (a context's done, channels in a select, a timer) and is woken exactly once.
//
// Protocol:
//   1. The waiting task fills a WaitClaim (winner = -1, task = itself) and one
//      WaitNode per object, each naming the claim and its case index; it enqueues
//      the nodes (under each object's own lock) and parks through prepare_park.
//   2. A waker that dequeues a node calls node->claim->try_claim(node->index). Only
//      one caller ever succeeds; it completes the case (hands over a value, ...) and
//      then wakes the task. A waker that fails skips the node: the task is being
//      woken by another case and will remove the node itself.
//   3. The task, resumed, reads `winner` and removes every other node it enqueued,
//      each under its object's lock.
// A select may claim for itself (try_claim) when it finds a case ready while some
// of its nodes are already enqueued; failure means a waker got there first.
#pragma once

#include <atomic>

#include "orca/runtime/detail/task_header.hpp"

namespace orca::detail {

struct WaitClaim {
  static constexpr int kWaiting = -1;
  // acq_rel on the winning CAS: the winner's writes (a handed-over value) happen
  // before the task reads them after its resume.
  std::atomic<int> winner{kWaiting};
  TaskHeader* task = nullptr;

  bool try_claim(int index) noexcept {
    int expected = kWaiting;
    return winner.compare_exchange_strong(expected, index, std::memory_order_acq_rel,
                                          std::memory_order_acquire);
  }
  bool claimed() const noexcept { return winner.load(std::memory_order_acquire) != kWaiting; }
};

// An intrusive, doubly linked entry in one object's wait queue.
struct WaitNode {
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  WaitClaim* claim = nullptr;
  int index = 0;         // the case this node stands for in its claim
  void* slot = nullptr;  // object-specific: where a handed-over value goes or comes from
  bool linked = false;   // in a queue; guarded by that queue's object lock
};

// A FIFO of WaitNodes. Not thread-safe: the owning object's lock guards it.
class WaitQueue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  WaitNode* front() const noexcept { return head_; }

  void push_back(WaitNode* n) noexcept {
    n->next = nullptr;
    n->prev = tail_;
    if (tail_ != nullptr) {
      tail_->next = n;
    } else {
      head_ = n;
    }
    tail_ = n;
    n->linked = true;
  }

  void remove(WaitNode* n) noexcept {
    if (!n->linked) return;
    if (n->prev != nullptr) {
      n->prev->next = n->next;
    } else {
      head_ = n->next;
    }
    if (n->next != nullptr) {
      n->next->prev = n->prev;
    } else {
      tail_ = n->prev;
    }
    n->prev = n->next = nullptr;
    n->linked = false;
  }

  WaitNode* pop_front() noexcept {
    WaitNode* n = head_;
    if (n != nullptr) remove(n);
    return n;
  }

  // Detaches the whole queue; nodes stay marked linked=false.
  WaitNode* take_all() noexcept {
    WaitNode* first = head_;
    for (WaitNode* n = first; n != nullptr; n = n->next)
      n->linked = false;
    head_ = tail_ = nullptr;
    return first;
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};

// One step of a spin-wait loop: tells the CPU that this thread is polling a word
// (x86 PAUSE, Arm YIELD), which saves power and the mispredicted exit on x86 and
// leaves the core to a sibling hyperthread. Elsewhere nothing.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

// Gives up the thread's CPU (std::this_thread::yield; out of line, so that this
// header does not pull in <thread>).
void yield_thread() noexcept;

// Waiting for another thread that is a few instructions from releasing us, unless
// the OS preempted it: spin briefly, then give up the CPU on every look, so that a
// preempted thread gets to run (on a machine with few cores, possibly on ours).
//   for (SpinWait w; !flag.load(std::memory_order_acquire);) w.once();
class SpinWait {
 public:
  void once() noexcept {
    if (spins_ < kSpinsBeforeYield) {
      ++spins_;
      cpu_relax();
    } else {
      yield_thread();
    }
  }

 private:
  // About 1-5 µs of pausing (a PAUSE is 10-140 cycles, by CPU): far longer than
  // the few instructions a running thread needs; past that it was likely preempted.
  static constexpr int kSpinsBeforeYield = 32;
  int spins_ = 0;
};

// A small lock for objects that must stay small (one per context, channel...):
// critical sections are a few pointer moves, so spinning briefly beats parking.
class SpinLock {
 public:
  void lock() noexcept {
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
    lock_contended();
  }
  bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  [[gnu::noinline]] void lock_contended() noexcept;
  std::atomic<bool> locked_{false};
};

}  // namespace orca::detail
