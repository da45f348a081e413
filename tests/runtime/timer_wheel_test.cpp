// TimerWheel, the runtime's private hierarchical timing wheel, driven directly:
// every entry fires exactly once, at the first advance(now) with now >= its tick and
// never earlier; remove() prevents firing; next_expiry() is never later than the
// earliest pending entry, so a worker that sleeps until it never oversleeps a timer.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "../../src/runtime/timer_wheel.hpp"
#include "runtime/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using orca::detail::kNever;
using orca::detail::TimerEntry;
using orca::detail::TimerWheel;

constexpr std::uint64_t kSpan = TimerWheel::kSpan;  // 2^36 ticks: past it entries re-park

// What happened to one entry.
struct EntryLog {
  std::uint64_t tick = 0;
  int fires = 0;
  std::uint64_t fired_at_now = 0;  // the `now` of the advance() that fired it
  bool removed = false;
  bool fired_outside_advance = false;
};

// The advance() in progress, read by the fire callback. Tests are single-threaded
// (or one child process each), so plain globals do.
std::uint64_t g_advancing_now = 0;
bool g_in_advance = false;
int g_bad_fires = 0;  // fires of an entry that had fired already or was removed

void record_fire(TimerEntry* entry) noexcept {
  auto* log = static_cast<EntryLog*>(entry->arg);
  if (log->fires > 0 || log->removed) ++g_bad_fires;
  ++log->fires;
  log->fired_at_now = g_advancing_now;
  if (!g_in_advance) log->fired_outside_advance = true;
}

// A wheel plus its entries and their logs, with the checks every test wants.
// Pending entries are tracked in a list of their own, so a check costs O(pending).
class WheelHarness {
 public:
  // Inserts an entry for `tick`; returns its index.
  WheelHarness() { g_bad_fires = 0; }

  std::size_t insert(std::uint64_t tick) {
    auto slot = std::make_unique<Slot>();
    slot->log.tick = tick;
    slot->entry.fire = &record_fire;
    slot->entry.arg = &slot->log;
    slot->entry.tick_ = tick;
    wheel.insert(&slot->entry);
    slots_.push_back(std::move(slot));
    pending_.push_back(slots_.size() - 1);
    return slots_.size() - 1;
  }

  void remove(std::size_t i) {
    wheel.remove(&slots_[i]->entry);
    slots_[i]->log.removed = true;
  }

  std::size_t advance(std::uint64_t now) {
    g_advancing_now = now;
    g_in_advance = true;
    const std::size_t fired = wheel.advance(now);
    g_in_advance = false;
    last_now_ = now;
    advanced_ = true;
    return fired;
  }

  const EntryLog& log(std::size_t i) const { return slots_[i]->log; }
  std::size_t entries() const { return slots_.size(); }
  bool pending(std::size_t i) const { return !slots_[i]->log.removed && slots_[i]->log.fires == 0; }
  std::uint64_t latest_pending_tick() const {
    std::uint64_t latest = 0;
    for (std::size_t i : pending_)
      if (pending(i)) latest = std::max(latest, slots_[i]->log.tick);
    return latest;
  }

  // The wheel's contract after any operation: every entry that left the pending
  // list fired exactly once (or was removed and never fired), inside an advance(now)
  // with now >= its tick; nothing with tick <= the last advance's now is pending;
  // size() counts exactly the pending entries; next_expiry() is not later than the
  // earliest pending tick (a worker sleeps until it). Returns false after reporting
  // the first broken entry, so one bug does not print thousands of lines.
  bool check(const char* when) {
    std::uint64_t earliest = kNever;
    std::size_t kept = 0;
    for (std::size_t k = 0; k < pending_.size(); ++k) {
      const std::size_t i = pending_[k];
      const EntryLog& l = slots_[i]->log;
      if (l.removed) {
        if (l.fires != 0) {
          ADD_FAILURE() << when << ": removed entry " << i << " (tick " << l.tick << ") fired "
                        << l.fires << " times, want 0";
          return false;
        }
        continue;
      }
      if (l.fires == 0) {
        if (advanced_ && l.tick <= last_now_) {
          ADD_FAILURE() << when << ": entry " << i << " with tick " << l.tick
                        << " still pending after advance(" << last_now_ << "), want fired";
          return false;
        }
        earliest = std::min(earliest, l.tick);
        pending_[kept++] = i;
        continue;
      }
      if (l.fires != 1 || l.fired_outside_advance || l.fired_at_now < l.tick) {
        ADD_FAILURE() << when << ": entry " << i << " (tick " << l.tick << ") fired " << l.fires
                      << " times, last at advance(" << l.fired_at_now
                      << "), want once at a now >= its tick";
        return false;
      }
    }
    pending_.resize(kept);
    if (g_bad_fires != 0) {
      ADD_FAILURE() << when << ": " << g_bad_fires
                    << " fires of entries already fired or removed, want 0";
      return false;
    }
    if (wheel.size() != pending_.size()) {
      ADD_FAILURE() << when << ": size() = " << wheel.size() << ", want " << pending_.size();
      return false;
    }
    if (wheel.next_expiry() > earliest) {
      ADD_FAILURE() << when << ": next_expiry() = " << wheel.next_expiry()
                    << ", want <= earliest pending tick " << earliest
                    << " (elapsed = " << wheel.elapsed() << ")";
      return false;
    }
    return true;
  }

  TimerWheel wheel;

 private:
  struct Slot {
    TimerEntry entry;
    EntryLog log;
  };
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::size_t> pending_;
  std::uint64_t last_now_ = 0;
  bool advanced_ = false;
};

// Runs a test body that drives a wheel in a child process: a wheel bug that makes
// advance() loop forever then fails the test (after 5 s; the bodies take
// milliseconds) instead of hanging the suite.
void expect_returns(const std::function<void()>& body) {
  orca_test::expect_finishes_in_child(5s, "TimerWheel::advance() must return", body);
}

// A delay from a mix of scales, so every level of the wheel and the far edge past
// its span are used.
std::uint64_t random_delay(std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0:
      return rng() % 64;  // level 0
    case 1:
      return rng() % 4096;  // levels 0-1
    case 2:
      return rng() % (std::uint64_t{1} << 24);  // up to level 3
    case 3:
      return rng() % kSpan;  // any level
    case 4:
      return kSpan + rng() % (std::uint64_t{1} << 40);  // past the span: parked and re-inserted
    default: {
      // Just around a level boundary.
      const int level = static_cast<int>(rng() % TimerWheel::kLevels);
      const std::uint64_t boundary = std::uint64_t{1} << (6 * level);
      return boundary - 1 + rng() % 3;
    }
  }
}

TEST(TimerWheel, EmptyWheelHasNoExpiry) {
  TimerWheel wheel;
  EXPECT_EQ(wheel.next_expiry(), kNever);
  EXPECT_EQ(wheel.advance(1'000'000), 0u);
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheel, EntryFiresAtItsTickNotBefore) {
  expect_returns([] {
    for (const std::uint64_t tick : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{63},
                                     std::uint64_t{64}, std::uint64_t{4095}, std::uint64_t{4096},
                                     std::uint64_t{1} << 24, kSpan - 1, kSpan, kSpan + 1}) {
      WheelHarness h;
      const std::size_t i = h.insert(tick);
      if (tick > 0) {
        h.advance(tick - 1);
        EXPECT_EQ(h.log(i).fires, 0) << "tick " << tick << " fired at advance(" << tick - 1 << ")";
        EXPECT_LE(h.wheel.next_expiry(), tick);
      }
      h.advance(tick);
      EXPECT_EQ(h.log(i).fires, 1) << "tick " << tick << " did not fire at advance(" << tick << ")";
      EXPECT_EQ(h.wheel.size(), 0u);
    }
  });
}

TEST(TimerWheel, EntryInsertedAfterAnAdvanceFiresAtItsTick) {
  // A wheel that has advanced to an arbitrary `elapsed`, as a runtime's has.
  expect_returns([] {
    for (const std::uint64_t delay : {std::uint64_t{1}, std::uint64_t{64}, std::uint64_t{5000},
                                      std::uint64_t{1} << 20, kSpan - 2}) {
      WheelHarness h;
      h.advance(123'456);
      const std::uint64_t tick = h.wheel.elapsed() + delay;
      const std::size_t i = h.insert(tick);
      EXPECT_LE(h.wheel.next_expiry(), tick);
      h.advance(tick - 1);
      EXPECT_EQ(h.log(i).fires, 0) << "delay " << delay << ": fired one tick early";
      h.advance(tick);
      EXPECT_EQ(h.log(i).fires, 1) << "delay " << delay << ": not fired at its tick";
    }
  });
}

TEST(TimerWheel, FarFutureEntryBeyondSpanFiresExactlyOnceAtItsTick) {
  expect_returns([] {
    // 2^40 + 12345 ticks: 16 times the wheel's span, so the entry is parked at the
    // far edge and re-inserted many times before it is due.
    const std::uint64_t tick = (std::uint64_t{1} << 40) + 12345;
    WheelHarness h;
    const std::size_t i = h.insert(tick);
    // Walk towards it in the steps a sleeping worker would take: to next_expiry().
    int steps = 0;
    while (h.wheel.next_expiry() < tick && steps < 100'000) {
      h.advance(h.wheel.next_expiry());
      ASSERT_EQ(h.log(i).fires, 0)
          << "fired at advance(" << h.wheel.elapsed() - 1 << "), tick " << tick;
      ++steps;
    }
    ASSERT_LT(steps, 100'000) << "next_expiry() never reached the tick";
    h.advance(tick - 1);
    EXPECT_EQ(h.log(i).fires, 0);
    h.advance(tick);
    EXPECT_EQ(h.log(i).fires, 1);
  });
}

// A deadline more than 2^36 ticks (~51 days) away, inserted into a wheel whose
// `elapsed` is not on a level-5 slot boundary (any wheel that has advanced): the
// entry is parked at the far edge, elapsed + 2^36 - 1, which falls in the *current*
// level-5 slot. Then advance() must still return.
TEST(TimerWheel, AdvanceReturnsWithFarFutureEntryInsertedAfterAnAdvance) {
  expect_returns([] {
    WheelHarness h;
    h.advance(1000);  // elapsed = 1001: mid-slot on every level
    const std::size_t far = h.insert(h.wheel.elapsed() + 2 * kSpan);
    EXPECT_LE(h.wheel.next_expiry(), h.log(far).tick);
    h.advance(2000);  // nothing is due
    EXPECT_EQ(h.log(far).fires, 0);
    h.advance(h.log(far).tick);
    EXPECT_EQ(h.log(far).fires, 1);
  });
}

TEST(TimerWheel, RemovedEntryNeverFires) {
  expect_returns([] {
    WheelHarness h;
    const std::size_t keep = h.insert(100);
    const std::size_t gone = h.insert(100);
    const std::size_t gone_far = h.insert(kSpan * 3);
    h.remove(gone);
    h.remove(gone_far);
    EXPECT_EQ(h.wheel.size(), 1u);
    h.advance(kSpan * 4);
    EXPECT_EQ(h.log(keep).fires, 1);
    EXPECT_EQ(h.log(gone).fires, 0);
    EXPECT_EQ(h.log(gone_far).fires, 0);
    EXPECT_EQ(h.wheel.next_expiry(), kNever);
  });
}

TEST(TimerWheel, EntriesWithOneTickAllFireInOneAdvance) {
  WheelHarness h;
  for (int i = 0; i < 100; ++i)
    h.insert(5000);
  EXPECT_EQ(h.advance(4999), 0u);
  EXPECT_EQ(h.advance(5000), 100u);
  EXPECT_TRUE(h.check("after advance(5000)"));
}

// An advance() that stops just before a level-1 slot leaves `elapsed` at that
// slot's start while its entry still sits on level 1; a later insert in the same
// 64-tick block lands on level 0, and next_expiry() must still report the level-1
// entry, which is earlier (a worker sleeps until next_expiry()).
TEST(TimerWheel, NextExpiryCoversEntryLeftOnHigherLevelByAdvance) {
  expect_returns([] {
    WheelHarness h;
    const std::size_t first = h.insert(10);
    const std::size_t left_on_level_1 = h.insert(70);
    h.advance(63);  // fires `first`; elapsed becomes 64, the start of 70's block
    EXPECT_EQ(h.log(first).fires, 1);
    const std::size_t later = h.insert(100);  // same 64-tick block as 70, so level 0
    EXPECT_LE(h.wheel.next_expiry(), 70u)
        << "a worker sleeping until next_expiry() would fire tick 70 late";
    h.advance(80);
    EXPECT_EQ(h.log(left_on_level_1).fires, 1)
        << "tick 70 still pending after advance(80), want fired";
    EXPECT_EQ(h.log(later).fires, 0);
    h.advance(100);
    EXPECT_EQ(h.log(later).fires, 1);
  });
}

// The randomized model check: many entries at every scale, inserts and removes
// between advances, and advances that stop at, just before and just after the
// wheel's own next_expiry() as well as random jumps.
TEST(TimerWheel, RandomInsertRemoveAdvanceFiresEachEntryOnceAndOnTime) {
  expect_returns([] {
    std::mt19937_64 rng(20240611);  // fixed seed: the same run every time
    WheelHarness h;
    for (int i = 0; i < 1000; ++i)
      h.insert(random_delay(rng));
    ASSERT_TRUE(h.check("after the initial inserts"));

    std::uint64_t now = 0;
    int inserts_left = 4000;
    int steps = 0;
    bool ok = true;
    for (; ok && steps < 20'000 && (h.wheel.size() > 0 || inserts_left > 0); ++steps) {
      const std::uint64_t r = rng() % 100;
      if ((r < 25 || h.wheel.size() == 0) && inserts_left > 0) {
        // New deadlines are never behind the wheel (a runtime inserts at >= now).
        --inserts_left;
        h.insert(h.wheel.elapsed() + random_delay(rng));
        ok = h.check("after an insert");
        continue;
      }
      if (r < 35) {
        const std::size_t i = rng() % h.entries();
        if (h.pending(i)) {
          h.remove(i);
          ok = h.check("after a remove");
        }
        continue;
      }
      const std::uint64_t next = h.wheel.next_expiry();
      const std::uint64_t how = rng() % 100;
      std::uint64_t target = now;
      if (next == kNever) {
        target = now + 1;
      } else if (how < 30) {
        target = next;  // where a sleeping worker would wake
      } else if (how < 55) {
        target = next - 1;  // just short: leaves the wheel on a slot boundary
      } else if (how < 70) {
        target = next + rng() % 64;
      } else if (how < 98) {
        target = now + rng() % 100;
      } else {
        target = now + (rng() % (std::uint64_t{1} << (rng() % 41)));  // a long stall
      }
      now = std::max(now, target);  // time never runs backwards
      h.advance(now);
      ok = h.check("after an advance");
    }
    if (!ok) return;  // check() reported the first broken entry
    // Drain: whatever is left must fire by the time its tick is reached.
    h.advance(std::max(now, h.latest_pending_tick()));
    ASSERT_TRUE(h.check("after the final advance"));
    EXPECT_EQ(h.wheel.size(), 0u) << "entries left after " << steps << " steps";
    for (std::size_t i = 0; i < h.entries(); ++i) {
      if (h.log(i).removed) continue;
      if (h.log(i).fires != 1) {
        ADD_FAILURE() << "entry " << i << " (tick " << h.log(i).tick << ") fired " << h.log(i).fires
                      << " times, want 1";
        break;
      }
    }
  });
}

}  // namespace
