// Stress, two workers, counts only: Timer resets and stops racing the fire on the
// other worker. After every reset(1h) and stop() the channel is empty (no stale
// value), and every wait for a short timer receives exactly one value of its own
// period.
#include <gtest/gtest.h>

#include <chrono>

#include "support/sanitizers.hpp"
#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::Clock;
using orca::Task;
using orca_test::kSanitized;

namespace {

constexpr orca::RunOptions kTimerStressWorkers{.workers = 2};

TEST(TimerStress, NoStaleValueAfterResetOrStop) {
  const int kRounds = kSanitized ? 2000 : 20000;
  int stale = 0;
  int fires_received = 0;
  int waits = 0;
  orca::run(
      [&]() -> Task<void> {
        orca::Timer t(1h);
        for (int round = 0; round < kRounds; ++round) {
          // A short timer, firing on any worker while this task resets it.
          const auto d = std::chrono::microseconds(64 * (round % 4));
          (void)t.reset(d);
          for (int k = 0; k < round % 5; ++k)
            co_await orca::yield();
          if (round % 10 == 0) {  // wait for this period's value
            const Clock::time_point started = Clock::now();
            (void)t.reset(d);
            ++waits;
            auto at = co_await t.channel().recv();
            if (at && *at >= started) ++fires_received;
            if (t.channel().try_recv()) ++stale;  // exactly one value per period
          }
          (void)t.reset(1h);
          if (t.channel().try_recv()) ++stale;
          (void)t.stop();
          if (t.channel().try_recv()) ++stale;
        }
      },
      kTimerStressWorkers);
  EXPECT_EQ(stale, 0) << "values received after reset(1h) or stop()";
  EXPECT_EQ(fires_received, waits);
}

// Two tasks on two workers reset and stop one Timer at once: resets to a later
// time (extend, without the timer's lock) race resets to a short time and stops
// (cancel, arm, under it) and the fires. Whoever stops last leaves no value.
TEST(TimerStress, ConcurrentResetsAndStopsLeaveNoStaleValue) {
  const int kRounds = kSanitized ? 5000 : 50000;
  int stale = 0;
  orca::run(
      [&]() -> Task<void> {
        orca::Timer t(1h);
        orca::WaitGroup wg;
        wg.add(2);
        for (int id = 0; id < 2; ++id) {
          orca::go([&, id]() -> Task<void> {
            for (int round = 0; round < kRounds; ++round) {
              (void)t.reset(1h);
              if (round % 7 == id) (void)t.reset(std::chrono::microseconds(64 * (round % 3)));
              if (round % 11 == id) (void)t.stop();
              if (round % 64 == 0) co_await orca::yield();
            }
            wg.done();
          });
        }
        co_await wg.wait();
        (void)t.stop();
        if (t.channel().try_recv()) ++stale;
        (void)t.reset(1h);
        if (t.channel().try_recv()) ++stale;
      },
      kTimerStressWorkers);
  EXPECT_EQ(stale, 0) << "values received after the last stop() or reset(1h)";
}

}  // namespace
