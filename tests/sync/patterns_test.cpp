// The channel patterns of the seed tutorial (SEED-OUTLINE chapter 2), as tests:
// the same programs as examples/producer_consumer.cpp, completion_signal.cpp,
// done_channel.cpp and select_timeout.cpp, with their outcomes checked.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <variant>
#include <vector>

#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::Channel;
using orca::errc;
using orca::Task;
using orca_test::kFourWorkers;

namespace {

// 2.3: a producer fills a buffered channel (capacity 2) and closes it; the
// consumer ranges over it until it is closed and drained.
TEST(Patterns, ProducerConsumerWithBufferedChannelAndClose) {
  std::vector<int> consumed;
  orca::run(
      [&]() -> Task<void> {
        Channel<int> jobs(2);
        orca::go([&]() -> Task<void> {
          for (int i = 1; i <= 10; ++i)
            CO_EXPECT_TRUE(co_await jobs.send(i * i));
          EXPECT_TRUE(jobs.close());
        });
        while (auto job = co_await jobs.recv())
          consumed.push_back(*job);
      },
      kFourWorkers);
  std::vector<int> want;
  for (int i = 1; i <= 10; ++i)
    want.push_back(i * i);
  EXPECT_EQ(consumed, want);
}

// 2.2 / 2.3: an unbuffered channel as a completion signal: main waits until the
// worker says it is done, and sees everything the worker did before.
TEST(Patterns, CompletionSignalOverUnbufferedChannel) {
  int result = 0;
  orca::run(
      [&]() -> Task<void> {
        Channel<std::monostate> done;
        int work = 0;
        orca::go([&]() -> Task<void> {
          for (int i = 0; i < 1000; ++i)
            work += i;
          CO_EXPECT_TRUE(co_await done.send(std::monostate{}));
        });
        CO_ASSERT_TRUE(co_await done.recv());
        result = work;
      },
      kFourWorkers);
  EXPECT_EQ(result, 499500);
}

// 2.1: a task cannot be killed from outside, only asked to stop: it polls a done
// channel with `select { case <-done: return; default: }` between units of work.
TEST(Patterns, DoneChannelStopsAWorker) {
  std::atomic<int> units{0};
  std::atomic<bool> stopped{false};
  orca::run(
      [&]() -> Task<void> {
        Channel<std::monostate> done;
        orca::WaitGroup wg;
        wg.add(1);
        orca::go([&]() -> Task<void> {
          for (;;) {
            auto r = co_await orca::select(orca::recv(done), orca::default_case());
            if (r.index() == 0) break;  // closed: asked to stop
            units.fetch_add(1);
            co_await orca::yield();
          }
          stopped = true;
          wg.done();
        });
        while (units.load() < 100)
          co_await orca::yield();
        CO_ASSERT_TRUE(done.close());  // one close stops every worker watching it
        (void)co_await wg.wait();
      },
      kFourWorkers);
  EXPECT_TRUE(stopped.load());
  EXPECT_GE(units.load(), 100);
}

// Fan-out and cancel: many workers watch ctx.done() in their select; one cancel
// stops them all, and a WaitGroup proves each has exited.
TEST(Patterns, ContextStopsAllWorkersSelectingOnIt) {
  constexpr int kWorkers = 200;
  std::atomic<int> exited{0};
  orca::run(
      [&]() -> Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        Channel<int> jobs;
        orca::WaitGroup wg;
        wg.add(kWorkers);
        for (int i = 0; i < kWorkers; ++i) {
          orca::go([&, ctx = ctx]() -> Task<void> {
            for (;;) {
              auto r = co_await orca::select(orca::recv(jobs), ctx.done());
              if (r.index() == 1) break;
            }
            exited.fetch_add(1);
            wg.done();
          });
        }
        for (int i = 0; i < 50; ++i)
          CO_ASSERT_TRUE(co_await jobs.send(i));
        cancel();
        (void)co_await wg.wait();
      },
      kFourWorkers);
  EXPECT_EQ(exited.load(), kWorkers);
}

// select with a timeout: a slow reply loses against after(d); a fast one wins.
TEST(Patterns, SelectWithTimeout) {
  orca::run([]() -> Task<void> {
    Channel<int> reply(1);
    auto slow = co_await orca::select(orca::recv(reply), orca::after(1ms));
    CO_ASSERT_EQ(slow.index(), 1);
    CO_ASSERT_TRUE(reply.try_send(7));
    auto fast = co_await orca::select(orca::recv(reply), orca::after(1h));
    CO_ASSERT_EQ(fast.index(), 0);
    CO_ASSERT_EQ(*fast.get<0>(), 7);
  });
}

}  // namespace
