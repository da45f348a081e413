#include "timer_wheel.hpp"

#include <bit>

#include "runtime.hpp"

namespace orca::detail {
namespace {

int level_for(std::uint64_t elapsed, std::uint64_t tick) {
  // Highest differing bit picks the level; `| 63` keeps equal ticks on level 0.
  const std::uint64_t masked = (elapsed ^ tick) | 63;
  const int level = (63 - std::countl_zero(masked)) / 6;
  return level < TimerWheel::kLevels ? level : TimerWheel::kLevels - 1;
}

}  // namespace

void TimerWheel::link(TimerEntry* e) noexcept {
  std::uint64_t tick = e->tick_ < elapsed_ ? elapsed_ : e->tick_;
  // Beyond the top level's current rotation: park at its last tick; advance()
  // re-inserts the entry from there. Keeping every tick within the rotation of
  // `elapsed_` means no level ever wraps around.
  const std::uint64_t last_in_rotation = elapsed_ | (kSpan - 1);
  if (tick > last_in_rotation) tick = last_in_rotation;
  const int level = level_for(elapsed_, tick);
  const int slot = static_cast<int>((tick >> (6 * level)) & 63);
  e->level_ = static_cast<std::uint8_t>(level);
  e->slot_ = static_cast<std::uint8_t>(slot);
  Slot& s = slots_[level][slot];
  e->prev_ = nullptr;
  e->next_ = s.head;
  if (s.head != nullptr) s.head->prev_ = e;
  s.head = e;
  occupied_[level] |= std::uint64_t{1} << slot;
}

void TimerWheel::insert(TimerEntry* e) noexcept {
  link(e);
  ++size_;
}

void TimerWheel::remove(TimerEntry* e) noexcept {
  Slot& s = slots_[e->level_][e->slot_];
  if (e->prev_ != nullptr) {
    e->prev_->next_ = e->next_;
  } else {
    s.head = e->next_;
  }
  if (e->next_ != nullptr) e->next_->prev_ = e->prev_;
  if (s.head == nullptr) occupied_[e->level_] &= ~(std::uint64_t{1} << e->slot_);
  e->prev_ = e->next_ = nullptr;
  --size_;
}

// The first occupied slot of `level` at or after its current position, and the
// tick at which it must be handled (its start, or now if that has passed).
bool TimerWheel::level_expiry(int level, std::uint64_t& tick, int& slot) const noexcept {
  if (occupied_[level] == 0) return false;
  const int shift = 6 * level;
  const std::uint64_t pos = (elapsed_ >> shift) & 63;
  // Slots before the current position are empty: nothing wraps (see link()).
  const std::uint64_t ahead = occupied_[level] >> pos << pos;
  if (ahead == 0) return false;
  slot = std::countr_zero(ahead);
  const std::uint64_t rotation = shift + 6 >= 64 ? 0 : elapsed_ >> (shift + 6) << (shift + 6);
  const std::uint64_t start = rotation + (static_cast<std::uint64_t>(slot) << shift);
  // A higher level's slot at the current position began at or before elapsed_
  // (advance() stopped inside it): it is due for cascading now.
  tick = start < elapsed_ ? elapsed_ : start;
  return true;
}

bool TimerWheel::earliest(int& level, std::uint64_t& tick, int& slot) const noexcept {
  bool found = false;
  // From the top down, keeping only strictly earlier ones: on a tie the higher
  // level wins, so a slot is cascaded before the level-0 slot of the same tick
  // fires, and entries cascaded into that tick fire in the same advance().
  for (int l = kLevels - 1; l >= 0; --l) {
    std::uint64_t t = 0;
    int s = 0;
    if (level_expiry(l, t, s) && (!found || t < tick)) {
      found = true;
      level = l;
      tick = t;
      slot = s;
    }
  }
  return found;
}

std::uint64_t TimerWheel::next_expiry() const noexcept {
  int level = 0;
  int slot = 0;
  std::uint64_t tick = kNever;
  return earliest(level, tick, slot) ? tick : kNever;
}

std::size_t TimerWheel::advance(std::uint64_t now) noexcept {
  std::size_t fired = 0;
  int level = 0;
  int slot = 0;
  std::uint64_t expiry = 0;
  while (earliest(level, expiry, slot) && expiry <= now) {
    TimerEntry* list = slots_[level][slot].head;
    slots_[level][slot].head = nullptr;
    occupied_[level] &= ~(std::uint64_t{1} << slot);
    // Cascading re-inserts relative to the slot's start; a level-0 slot is done
    // once handled, so what is re-inserted from it (a far deadline parked at the
    // rotation's edge) goes strictly after it.
    elapsed_ = level == 0 ? expiry + 1 : expiry;
    while (list != nullptr) {
      TimerEntry* e = list;
      list = e->next_;
      e->prev_ = e->next_ = nullptr;
      if (level == 0 && e->tick_ <= now) {
        --size_;
        // kFiring until the callback returns: a cancel() racing with it waits, so
        // the owner cannot free the entry under the callback. Release: pairs with
        // cancel()'s acquire load; the entry is not touched after the second store.
        e->shard_.store(TimerEntry::firing(), std::memory_order_relaxed);
        e->fire(e);
        e->shard_.store(nullptr, std::memory_order_release);
        ++fired;
      } else {
        link(e);
      }
    }
  }
  if (now + 1 > elapsed_) elapsed_ = now + 1;
  return fired;
}

bool TimerEntry::extend(Clock::time_point deadline) noexcept {
  TimerShard* shard = shard_.load(std::memory_order_acquire);
  if (shard == nullptr || shard == TimerEntry::firing()) return false;
  const std::uint64_t tick = tick_of(deadline);
  std::lock_guard lock(shard->mutex);
  if (shard_.load(std::memory_order_relaxed) != shard || tick < tick_) return false;
  // Stays in its slot: advance() fires an entry only once its tick_ has passed and
  // re-links it otherwise, as it does a cascaded one. The shard's next_expiry may
  // now be early; a worker woken by it finds nothing to fire.
  tick_ = tick;
  deadline_ = deadline;
  return true;
}

}  // namespace orca::detail
