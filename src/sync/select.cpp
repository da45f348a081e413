// select's out-of-line parts: the per-thread random source, lock ordering, context
// registration and the timer callback (the protocol is in select.hpp).
#include "orca/sync/select.hpp"

#include <algorithm>
#include <chrono>
#include <functional>

namespace orca::detail {
namespace {

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::uint64_t select_random() noexcept {
  // Seeded per thread from its address and the clock: threads differ, runs differ.
  thread_local std::uint64_t state =
      reinterpret_cast<std::uintptr_t>(&state) ^
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return splitmix64(state);
}

std::size_t sort_unique_locks(SpinLock** locks, std::size_t n) noexcept {
  // std::less gives the total order on pointers that `<` does not promise.
  std::sort(locks, locks + n, std::less<SpinLock*>());
  return static_cast<std::size_t>(std::unique(locks, locks + n) - locks);
}

Registered register_with_context(CancelNode* ctx, WaitNode& node, WaitClaim& claim, int index,
                                 bool& queued) noexcept {
  ctx->lock.lock();
  // Relaxed: under the context's lock, which orders it with cancel().
  if (ctx->done.load(std::memory_order_relaxed)) {
    ctx->lock.unlock();
    return claim.try_claim(index) ? Registered::kWon : Registered::kLost;
  }
  node.claim = &claim;
  node.index = index;
  queued = true;
  ctx->waiters.push_back(&node);
  ctx->lock.unlock();
  return Registered::kQueued;
}

void SelectTimer::fire(TimerEntry* entry) noexcept {
  auto* timer = static_cast<SelectTimer*>(entry->arg);
  WaitClaim* claim = timer->claim;
  if (claim->try_claim(timer->index)) wake(claim->task, WakeOrder::kBack);
}

}  // namespace orca::detail
