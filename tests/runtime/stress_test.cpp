// Stress tests of the runtime core: a million tasks, wake storms across workers,
// join races under work stealing, and object lifetimes raced by other workers.
// Each checks exact outcomes (sums, counts), never timings; they are separate from
// the unit tests because they are heavy, and are most useful under TSan and ASan.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "orca/orca.hpp"
#include "runtime/test_support.hpp"

using namespace std::chrono_literals;

namespace {

TEST(Stress, SpawnAndJoinHundredThousandTasks) {
  constexpr long kTasks = 100'000;
  std::atomic<long> ran{0};
  const long sum = orca::run(
      [&]() -> orca::Task<long> {
        std::vector<orca::JoinHandle<long>> handles;
        handles.reserve(kTasks);
        for (long i = 0; i < kTasks; ++i)
          handles.push_back(orca::spawn([&ran, i]() -> orca::Task<long> {
            ran.fetch_add(1, std::memory_order_relaxed);
            co_return i;
          }));
        long total = 0;
        for (auto& h : handles)
          total += co_await std::move(h);
        co_return total;
      },
      {.workers = 4});
  EXPECT_EQ(ran.load(), kTasks);
  EXPECT_EQ(sum, kTasks * (kTasks - 1) / 2);
}

TEST(Stress, MillionGoTasksJoinedThroughWaitGroup) {
  constexpr long kTasks = 1'000'000;
  std::atomic<long> sum{0};
  orca::run(
      [&]() -> orca::Task<void> {
        orca::WaitGroup wg;
        wg.add(kTasks);
        for (long i = 0; i < kTasks; ++i)
          orca::go([&sum, &wg, i] {
            sum.fetch_add(i, std::memory_order_relaxed);
            wg.done();
          });
        (void)co_await wg.wait();
      },
      {.workers = 4});
  EXPECT_EQ(sum.load(), kTasks * (kTasks - 1) / 2);
}

// A wake storm: many tasks parked on one WaitGroup, released at once by a single
// done(), across four workers, round after round. Each task counts its wake-ups;
// a lost wake-up hangs the round (deadlock error) and a doubled one shows in the
// counts.
TEST(Stress, WakeStormAcrossWorkersWakesEveryTaskExactlyOnce) {
  constexpr int kTasks = 10'000;
  constexpr int kRounds = 5;
  std::vector<std::atomic<int>> wakes(kTasks);
  orca::run(
      [&]() -> orca::Task<void> {
        std::vector<orca::WaitGroup> gates(kRounds);
        std::vector<orca::WaitGroup> finished(kRounds);
        std::vector<orca::WaitGroup> arrived(kRounds);
        for (int r = 0; r < kRounds; ++r) {
          gates[r].add(1);
          finished[r].add(kTasks);
          arrived[r].add(kTasks);
        }
        for (int i = 0; i < kTasks; ++i) {
          orca::go([&, i]() -> orca::Task<void> {
            for (int r = 0; r < kRounds; ++r) {
              arrived[r].done();
              (void)co_await gates[r].wait();
              wakes[i].fetch_add(1, std::memory_order_relaxed);
              finished[r].done();
            }
          });
        }
        for (int r = 0; r < kRounds; ++r) {
          (void)co_await arrived[r].wait();  // everyone is at (or parked on) the gate
          gates[r].done();                   // one done() releases all of them
          (void)co_await finished[r].wait();
          int wrong = 0;
          for (int i = 0; i < kTasks; ++i)
            if (wakes[i].load(std::memory_order_relaxed) != r + 1) ++wrong;
          EXPECT_EQ(wrong, 0) << "round " << r << ": tasks with a wake count other than " << r + 1;
        }
      },
      {.workers = 4});
  for (int i = 0; i < kTasks; ++i) {
    if (wakes[i].load() != kRounds) {
      ADD_FAILURE() << "task " << i << " woke " << wakes[i].load() << " times, want " << kRounds;
      break;
    }
  }
}

// A binary tree of tasks, each spawning and joining two children, some yielding
// or sleeping first: joins race with finishing tasks on other workers, and tasks
// are stolen mid-tree. Every leaf is counted once in the root's result.
orca::Task<std::uint64_t> tree_sum(int depth, std::uint64_t id) {
  if (id % 3 == 0) co_await orca::yield();
  if (id % 7 == 0) co_await orca::sleep_for(std::chrono::microseconds(id % 50));
  if (depth == 0) co_return 1;
  auto left = orca::spawn([depth, id] { return tree_sum(depth - 1, 2 * id); });
  auto right = orca::spawn([depth, id] { return tree_sum(depth - 1, 2 * id + 1); });
  const std::uint64_t l = co_await std::move(left);
  const std::uint64_t r = co_await std::move(right);
  co_return l + r;
}

TEST(Stress, SpawnTreeJoinsEveryLeafOnce) {
  constexpr int kDepth = 14;  // 16384 leaves, 32767 tasks
  for (unsigned workers : {2u, 4u}) {
    const std::uint64_t leaves =
        orca::run([] { return tree_sum(kDepth, 1); }, {.workers = workers});
    EXPECT_EQ(leaves, std::uint64_t{1} << kDepth) << workers << " workers";
  }
}

// Joiners that start waiting at the moment their task finishes, over and over:
// the join handshake (joiner CAS against completion) must neither lose the
// wake-up nor deliver it twice.
TEST(Stress, JoinRacingCompletionNeverLosesTheResult) {
  constexpr int kPairs = 20'000;
  const long sum = orca::run(
      []() -> orca::Task<long> {
        std::vector<orca::JoinHandle<long>> joiners;
        joiners.reserve(kPairs);
        for (long i = 0; i < kPairs; ++i) {
          auto target = orca::spawn([i]() -> orca::Task<long> {
            if (i % 2 == 0) co_await orca::yield();
            co_return i;
          });
          joiners.push_back(orca::spawn([target = std::move(target)]() mutable -> orca::Task<long> {
            co_return co_await std::move(target);
          }));
        }
        long total = 0;
        for (auto& j : joiners)
          total += co_await std::move(j);
        co_return total;
      },
      {.workers = 4});
  EXPECT_EQ(sum, long{kPairs} * (kPairs - 1) / 2);
}

// Many tasks sleeping very short, random lengths on four workers: timers armed on
// one worker's wheel are fired by whichever worker gets there first, and the woken
// task at once arms its next sleep in the same frame. Arming must not touch the
// entry after publishing it, no sleep may end early, and none may be lost.
TEST(Stress, ShortSleepsAcrossWorkersEndOnTimeAndAreNeverLost) {
  constexpr int kTasks = 64;
  constexpr int kSleepsEach = 100;
  std::atomic<int> completed{0};
  std::atomic<int> early{0};
  orca::run(
      [&]() -> orca::Task<void> {
        orca::WaitGroup done;
        done.add(kTasks);
        for (int t = 0; t < kTasks; ++t) {
          orca::go([&, t]() -> orca::Task<void> {
            for (int i = 0; i < kSleepsEach; ++i) {
              const auto length = std::chrono::microseconds((t * 31 + i * 17) % 200);
              const auto deadline = orca::Clock::now() + length;
              co_await orca::sleep_until(deadline);
              if (orca::Clock::now() < deadline) early.fetch_add(1);
              completed.fetch_add(1, std::memory_order_relaxed);
            }
            done.done();
          });
        }
        (void)co_await done.wait();
      },
      {.workers = 4});
  EXPECT_EQ(completed.load(), kTasks * kSleepsEach);
  EXPECT_EQ(early.load(), 0) << "got sleeps ending before their deadline";
}

// The group lives in the waiter's frame (here: on the heap, so ASan sees a use
// after free) and is destroyed the moment wait() returns, while the task whose
// done() released it may still be inside done(). done() must not touch the group
// after the counter it made zero can be observed.
TEST(Stress, WaitGroupCanBeDestroyedAsSoonAsWaitReturns) {
  constexpr int kRounds = 3000;
  int rounds = 0;
  orca::run(
      [&]() -> orca::Task<void> {
        for (int r = 0; r < kRounds; ++r) {
          auto wg = std::make_unique<orca::WaitGroup>();
          wg->add(2);
          orca::WaitGroup* group = wg.get();
          orca::go([group] { group->done(); });
          orca::go([group] { group->done(); });
          // Spin rather than park, so wait() most often completes through its
          // fast path right after the last done()'s decrement.
          while (wg->count() != 0)
            co_await orca::yield();
          (void)co_await wg->wait();
          wg.reset();
          ++rounds;
        }
      },
      {.workers = 2});
  EXPECT_EQ(rounds, kRounds);
}

}  // namespace
