// SingleFlight under contention on two workers: callers joining, leaving (their
// context cancelled, or their Waiter dropped), forget() and calls finishing all race.
// Whatever the interleaving, each caller gets its key's value or its own context's
// error, nothing hangs, and no call, entry or task is left behind.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "sync/sync_test_support.hpp"

using orca::Context;
using orca::errc;
using orca::SharedResult;
using orca::Task;

namespace {

constexpr orca::RunOptions kFlightStressWorkers{.workers = 2, .leak_check = orca::LeakCheck::kFail};

TEST(SingleFlightStress, CallersLeaveJoinAndForgetWhileCallsFinish) {
  constexpr int kRounds = 200;
  constexpr int kKeys = 3;
  constexpr int kCallersPerRound = 8;
  std::atomic<int> wrong{0};
  std::atomic<int> values{0};
  std::atomic<int> cancelled{0};
  orca::run(
      [&]() -> Task<void> {
        orca::SingleFlight<int, int> group;
        for (int round = 0; round < kRounds; ++round) {
          orca::WaitGroup wg;
          wg.add(kCallersPerRound);
          for (int c = 0; c < kCallersPerRound; ++c) {
            const int key = (round + c) % kKeys;
            auto [ctx, cancel] = orca::with_cancel(orca::background());
            auto fn = [key](Context call_ctx) -> Task<orca::Result<int>> {
              for (int i = 0; i < 3; ++i) {
                if (call_ctx.is_done()) co_return call_ctx.err();  // every caller left
                co_await orca::yield();
              }
              co_return key * 1000;
            };
            if (c % 2 == 0) {  // call(ctx)
              orca::go([&, key, ctx = ctx, fn]() -> Task<void> {
                auto call = group.call(ctx, key, fn);
                SharedResult<int> r = co_await std::move(call);
                if (r && *r == key * 1000) {
                  values.fetch_add(1);
                } else if (!r && r.error() == errc::canceled && ctx.is_done()) {
                  cancelled.fetch_add(1);
                } else {
                  wrong.fetch_add(1);
                }
                wg.done();
              });
            } else {  // call_chan, received in a select with the caller's ctx
              orca::go([&, key, ctx = ctx, fn]() -> Task<void> {
                auto waiter = group.call_chan(ctx, key, fn);
                auto r = co_await orca::select(ctx, orca::recv(waiter.channel()));
                if (r.index() == 0 && r.get<0>() && r.get<0>()->has_value() &&
                    **r.get<0>() == key * 1000) {
                  values.fetch_add(1);
                } else if (r.index() == -1 && ctx.is_done()) {
                  cancelled.fetch_add(1);
                } else {
                  wrong.fetch_add(1);
                }
                wg.done();
              });
            }
            if (c % 3 == 1) {  // cancelled at some point, racing with the call
              orca::go([cancel = cancel]() -> Task<void> {
                co_await orca::yield();
                cancel();
              });
            }
            if (c == kCallersPerRound - 1 && round % 5 == 0) (void)group.forget(key);
          }
          (void)co_await wg.wait();
        }
        while (orca::stats().live_tasks > 1)  // the calls' tasks end after delivering
          co_await orca::yield();
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});
      },
      kFlightStressWorkers);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(values.load() + cancelled.load(), kRounds * kCallersPerRound);
  EXPECT_GT(values.load(), 0);
}

}  // namespace
