#include "timer_wheel.hpp"

#include <bit>

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
  // Beyond the wheel's span: park at the far edge; advance() re-inserts it.
  if (tick - elapsed_ >= kSpan) tick = elapsed_ + kSpan - 1;
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

std::uint64_t TimerWheel::next_expiry() const noexcept {
  for (int level = 0; level < kLevels; ++level) {
    if (occupied_[level] == 0) continue;
    const int shift = 6 * level;
    const std::uint64_t pos = (elapsed_ >> shift) & 63;
    // Slots below the current position are empty by the invariant.
    const std::uint64_t ahead = occupied_[level] >> pos << pos;
    const int slot = std::countr_zero(ahead);
    const std::uint64_t level_base = shift + 6 >= 64 ? 0 : elapsed_ >> (shift + 6) << (shift + 6);
    const std::uint64_t start = level_base + (static_cast<std::uint64_t>(slot) << shift);
    // Lower levels always expire before higher ones: the first occupied level wins.
    return start < elapsed_ ? elapsed_ : start;
  }
  return kNever;
}

std::size_t TimerWheel::advance(std::uint64_t now) noexcept {
  std::size_t fired = 0;
  for (;;) {
    const std::uint64_t expiry = next_expiry();
    if (expiry == kNever || expiry > now) break;
    elapsed_ = expiry;
    // The first occupied level holds the expiring slot.
    int level = 0;
    while (occupied_[level] == 0)
      ++level;
    const int slot = static_cast<int>((expiry >> (6 * level)) & 63);
    TimerEntry* list = slots_[level][slot].head;
    slots_[level][slot].head = nullptr;
    occupied_[level] &= ~(std::uint64_t{1} << slot);
    while (list != nullptr) {
      TimerEntry* e = list;
      list = e->next_;
      e->prev_ = e->next_ = nullptr;
      if (level == 0 && e->tick_ <= now) {
        --size_;
        e->shard_.store(nullptr, std::memory_order_release);
        e->fire(e);
        ++fired;
      } else {
        link(e);  // cascade to a lower level (or re-park a far deadline)
      }
    }
  }
  if (now + 1 > elapsed_) elapsed_ = now + 1;
  return fired;
}

}  // namespace orca::detail
