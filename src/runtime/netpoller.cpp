// The netpoller's epoll loop and the PollDesc pool. Protocols are in netpoller.hpp
// (waiting) and runtime.hpp (who blocks in epoll_wait and how it is woken).
#include "netpoller.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <mutex>
#include <new>

#include "orca/runtime/detail/scheduling.hpp"
#include "runtime.hpp"

#if defined(__SANITIZE_THREAD__)
#define ORCA_NETPOLL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ORCA_NETPOLL_TSAN 1
#endif
#endif
#ifdef ORCA_NETPOLL_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace orca::detail {

namespace {

// Go reads 128 events per epoll_wait: enough to amortise the syscall over a batch of
// wake-ups, small enough to sit on the worker's stack.
constexpr int kMaxEvents = 128;
// Descs are carved in blocks of this many and never freed (see PollDesc).
constexpr std::size_t kPoolBlock = 64;
// Tag layout of epoll_event.data.u64: the PollDesc address in the low 48 bits (user
// addresses on x86-64 and AArch64 fit), its sequence number in the high 16. Zero is
// the eventfd.
constexpr int kSeqShift = 48;
constexpr std::uint64_t kAddressMask = (std::uint64_t{1} << kSeqShift) - 1;

// Per-socket state stays small: 10,000 connections cost under half a megabyte.
static_assert(sizeof(PollDesc) <= 48, "PollDesc grew: keep per-socket state small");

struct PollDescPool {
  std::mutex mutex;
  PollDesc* free = nullptr;
};

PollDescPool& pool() {
  static auto* p = new PollDescPool();  // never destroyed: descs may outlive statics
  return *p;
}

// A desc's address travels from the thread that registers it to the thread that
// polls through the kernel (epoll_ctl, then epoll_wait), which orders the two but
// which ThreadSanitizer does not see: without these, the poller's first lock of a
// desc carved from a new block by another thread looks like a race with the
// block's construction.
void publish_through_epoll([[maybe_unused]] PollDesc* pd) noexcept {
#ifdef ORCA_NETPOLL_TSAN
  __tsan_release(pd);
#endif
}

void received_through_epoll([[maybe_unused]] PollDesc* pd) noexcept {
#ifdef ORCA_NETPOLL_TSAN
  __tsan_acquire(pd);
#endif
}

std::uint64_t tag_of(const PollDesc* pd) noexcept {
  return reinterpret_cast<std::uint64_t>(pd) | (std::uint64_t{pd->seq} << kSeqShift);
}

// Under pd->lock: takes the claim out of one slot after an event (or a close). If
// the claim is won, the task is ours to wake; if the context won first, the edge
// is remembered for the next waiter instead.
void take_slot(PollDesc* pd, IoDir dir, int claim_case, Netpoller::Polled& out) noexcept {
  WaitClaim*& slot = pd->slot(dir);
  WaitClaim* claim = slot;
  if (claim == nullptr) {
    pd->ready(dir) = true;
    return;
  }
  slot = nullptr;
  ++out.removed;
  if (claim->try_claim(claim_case)) {
    TaskHeader* task = claim->task;
    task->next = out.ready;
    out.ready = task;
  } else {
    pd->ready(dir) = true;
  }
}

}  // namespace

// ---------------------------------------------------------------- PollDesc

PollDesc* PollDesc::open(int fd) {
  PollDescPool& p = pool();
  PollDesc* pd = nullptr;
  {
    std::lock_guard lock(p.mutex);
    if (p.free == nullptr) {
      auto* block = new PollDesc[kPoolBlock];
      for (std::size_t i = 0; i < kPoolBlock; ++i) {
        block[i].next_free = p.free;
        p.free = &block[i];
      }
    }
    pd = p.free;
    p.free = pd->next_free;
  }
  pd->next_free = nullptr;
  pd->fd = fd;
  // Relaxed: the desc reaches other threads only through the owning object, whose
  // hand-over (a task switch, a queue) orders this.
  pd->state.store(0, std::memory_order_relaxed);
  return pd;
}

void PollDesc::free(PollDesc* pd) noexcept {
  pd->close();
  // acq_rel: whichever of this and close_descriptor()'s RMW comes second sees the
  // other's bit, and everything done before it, and recycles.
  if (pd->state.fetch_or(kOwnerGone, std::memory_order_acq_rel) & kFdClosed) pd->recycle();
}

void PollDesc::recycle() noexcept {
  lock.lock();
  ++seq;  // events still in flight for the old socket no longer match
  read_ready = write_ready = false;
  reader = writer = nullptr;
  registered_generation = 0;
  lock.unlock();
  PollDescPool& p = pool();
  std::lock_guard guard(p.mutex);
  next_free = p.free;
  p.free = this;
}

bool PollDesc::acquire() noexcept {
  // Acquire on success: the operation's use of fd comes after the check that the
  // desc is not closing.
  std::uint32_t s = state.load(std::memory_order_relaxed);
  do {
    if (s & kClosing) return false;
  } while (!state.compare_exchange_weak(s, s + kOp, std::memory_order_acquire,
                                        std::memory_order_relaxed));
  return true;
}

void PollDesc::release() noexcept {
  // acq_rel: the thread that closes the descriptor sees every operation's use of it
  // finished.
  const std::uint32_t after = state.fetch_sub(kOp, std::memory_order_acq_rel) - kOp;
  if (after / kOp == 0 && (after & kClosing)) close_descriptor();
}

void PollDesc::close() noexcept {
  const std::uint32_t before = state.fetch_or(kClosing, std::memory_order_acq_rel);
  if (before & kClosing) return;
  Netpoller::Polled woken;
  lock.lock();
  take_slot(this, IoDir::kRead, kClosedCase, woken);
  take_slot(this, IoDir::kWrite, kClosedCase, woken);
  lock.unlock();
  if (woken.ready != nullptr) wake_list(woken.ready);
  if (woken.removed != 0) {
    if (Runtime* rt = Runtime::current()) rt->netpoller().remove_waiters(woken.removed);
  }
  if (before / kOp == 0) close_descriptor();  // no operation in flight
}

void PollDesc::close_descriptor() noexcept {
  lock.lock();
  const std::uint64_t generation = registered_generation;
  registered_generation = 0;
  lock.unlock();
  // Unregister from the epoll it was added to, if that runtime still runs; a
  // runtime that has ended closed its epoll instance already.
  Runtime* rt = Runtime::current();
  if (generation != 0 && rt != nullptr && rt->generation() == generation) {
    epoll_event ev{};
    (void)epoll_ctl(rt->netpoller().epoll_fd(), EPOLL_CTL_DEL, fd, &ev);
  }
  ::close(fd);
  if (state.fetch_or(kFdClosed, std::memory_order_acq_rel) & kOwnerGone) recycle();
}

std::error_code netpoll_register_locked(PollDesc* pd) noexcept {
  Runtime* rt = Runtime::current();
  if (rt == nullptr) return std::make_error_code(std::errc::operation_not_permitted);
  if (pd->registered_generation == rt->generation()) return {};
  Netpoller& np = rt->netpoller();
  if (np.epoll_fd() < 0) return np.open_error();
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = tag_of(pd);
  publish_through_epoll(pd);
  if (epoll_ctl(np.epoll_fd(), EPOLL_CTL_ADD, pd->fd, &ev) != 0) {
    // EEXIST: the same descriptor number was added by an earlier desc whose close was
    // not seen (a dup'd socket kept the registration alive): take it over.
    if (errno != EEXIST || epoll_ctl(np.epoll_fd(), EPOLL_CTL_MOD, pd->fd, &ev) != 0)
      return {errno, std::system_category()};
  }
  pd->registered_generation = rt->generation();
  return {};
}

bool netpoll_add_waiter() noexcept {
  Runtime* rt = Runtime::current();
  return rt != nullptr && rt->netpoller().add_waiter() == 0;
}

void netpoll_first_waiter() noexcept {
  if (Runtime* rt = Runtime::current()) rt->poke_poller();
}

void netpoll_waiter_removed() noexcept {
  if (Runtime* rt = Runtime::current()) rt->netpoller().remove_waiters(1);
}

// ---------------------------------------------------------------- Netpoller

Netpoller::~Netpoller() {
  if (evfd_ >= 0) ::close(evfd_);
  if (epfd_ >= 0) ::close(epfd_);
}

std::error_code Netpoller::open() noexcept {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    open_error_ = {errno, std::system_category()};
    return open_error_;
  }
  evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  // Level-triggered: a token written before the poller blocks still wakes it.
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  if (evfd_ < 0 || epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev) != 0) {
    open_error_ = {errno, std::system_category()};
    if (evfd_ >= 0) ::close(evfd_);
    ::close(epfd_);
    evfd_ = epfd_ = -1;
    return open_error_;
  }
  return {};
}

void Netpoller::interrupt() noexcept {
  if (evfd_ < 0) return;
  // seq_cst: ordered with the poller's clear after its drain; either we see the
  // flag clear and write, or the poller had not drained yet and will recheck every
  // queue after clearing it (see runtime.hpp).
  if (interrupt_pending_.exchange(true, std::memory_order_seq_cst)) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(evfd_, &one, sizeof one);
}

Netpoller::Polled Netpoller::poll(bool blocking, const timespec* timeout) noexcept {
  Polled out;
  if (epfd_ < 0) return out;
  std::array<epoll_event, kMaxEvents> events;
  int n = 0;
  if (blocking) {
    n = epoll_pwait2(epfd_, events.data(), kMaxEvents, timeout, nullptr);
    if (n < 0 && errno == ENOSYS) {  // kernels before 5.11: millisecond timeouts, rounded up
      int ms = -1;
      if (timeout != nullptr)
        ms = static_cast<int>(timeout->tv_sec * 1000 + (timeout->tv_nsec + 999'999) / 1'000'000);
      n = epoll_wait(epfd_, events.data(), kMaxEvents, ms);
    }
  } else {
    n = epoll_wait(epfd_, events.data(), kMaxEvents, 0);
  }
  if (n <= 0) return out;  // timeout, or EINTR (a signal): the caller looks around again
  for (int i = 0; i < n; ++i) {
    const std::uint64_t tag = events[static_cast<std::size_t>(i)].data.u64;
    const std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
    if (tag == 0) {
      if (blocking) {
        std::uint64_t value = 0;
        [[maybe_unused]] const ssize_t r = ::read(evfd_, &value, sizeof value);
        interrupt_pending_.store(false, std::memory_order_seq_cst);
      }
      continue;
    }
    auto* pd = reinterpret_cast<PollDesc*>(tag & kAddressMask);
    const auto seq = static_cast<std::uint16_t>(tag >> kSeqShift);
    received_through_epoll(pd);
    pd->lock.lock();
    if (pd->seq == seq) {
      // Errors and hang-ups wake both sides: the retried syscall reports them.
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        take_slot(pd, IoDir::kRead, PollDesc::kIoCase, out);
      if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        take_slot(pd, IoDir::kWrite, PollDesc::kIoCase, out);
    }
    pd->lock.unlock();
  }
  return out;
}

}  // namespace orca::detail
