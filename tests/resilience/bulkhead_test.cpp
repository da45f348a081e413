// Bulkhead: the concurrency bound, the queue bound (refusal at once beyond it), the
// queue timeout, cancellation while queued, and FIFO hand-over of a freed slot.
#include <gtest/gtest.h>

#include "orca/resilience/bulkhead.hpp"
#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::Result;
using orca::Task;
using orca::resilience::Bulkhead;
using orca::resilience::BulkheadOptions;
namespace rerr = orca::resilience;

namespace {

TEST(Bulkhead, QueuesUpToItsBoundAndRefusesBeyond) {
  Bulkhead bulkhead(BulkheadOptions{.max_concurrent = 1, .max_queue = 1});
  orca::run(
      [&]() -> Task<void> {
        auto ctx = orca::background();
        auto held = bulkhead.try_acquire();
        CO_ASSERT_TRUE(static_cast<bool>(held));
        CO_ASSERT_TRUE(!bulkhead.try_acquire());
        auto queued = orca::spawn([&bulkhead, ctx]() -> Task<bool> {
          Result<Bulkhead::Permit> p = co_await bulkhead.acquire(ctx);
          co_return p.has_value();
        });
        co_await orca_test::until_parked(1);
        CO_ASSERT_EQ(bulkhead.metrics().waiting, 1);
        Result<Bulkhead::Permit> refused = co_await bulkhead.acquire(ctx);
        CO_ASSERT_EQ(refused.error(), make_error_code(rerr::errc::bulkhead_full));
        held.release();
        const bool got = co_await std::move(queued);
        CO_ASSERT_TRUE(got);
        CO_ASSERT_EQ(bulkhead.metrics().rejected, 1u);
        CO_ASSERT_EQ(bulkhead.metrics().in_use, 0);
      },
      orca_test::kOneWorker);
}

TEST(Bulkhead, QueuedCallerGivesUpAfterTheQueueTimeout) {
  Bulkhead bulkhead(BulkheadOptions{.max_concurrent = 1, .max_queue = 4, .queue_timeout = 1ms});
  orca::run([&]() -> Task<void> {
    auto ctx = orca::background();
    auto held = bulkhead.try_acquire();
    Result<Bulkhead::Permit> r = co_await bulkhead.acquire(ctx);
    CO_ASSERT_EQ(r.error(), make_error_code(rerr::errc::queue_timeout));
    CO_ASSERT_EQ(bulkhead.metrics().timed_out, 1u);
    CO_ASSERT_EQ(bulkhead.metrics().waiting, 0);
  });
}

TEST(Bulkhead, CancelledWhileQueuedHoldsNothing) {
  Bulkhead bulkhead(BulkheadOptions{.max_concurrent = 1, .max_queue = 4});
  orca::run(
      [&]() -> Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        auto held = bulkhead.try_acquire();
        auto queued = orca::spawn([&bulkhead, ctx = ctx]() -> Task<std::error_code> {
          Result<Bulkhead::Permit> p = co_await bulkhead.acquire(ctx);
          co_return p.error();
        });
        co_await orca_test::until_parked(1);
        cancel();
        const std::error_code e = co_await std::move(queued);
        CO_ASSERT_EQ(e, make_error_code(orca::errc::canceled));
        held.release();
        CO_ASSERT_EQ(bulkhead.metrics().in_use, 0);
        CO_ASSERT_EQ(bulkhead.metrics().waiting, 0);
      },
      orca_test::kOneWorker);
}

TEST(Bulkhead, CallHoldsASlotForTheDurationOfFn) {
  Bulkhead bulkhead(BulkheadOptions{.max_concurrent = 2});
  orca::run([&]() -> Task<void> {
    auto ctx = orca::background();
    std::int64_t in_use_inside = -1;
    Result<int> r = co_await bulkhead.call(ctx, [&](const orca::Context&) -> Task<Result<int>> {
      in_use_inside = bulkhead.metrics().in_use;
      co_return 5;
    });
    CO_ASSERT_TRUE(r && *r == 5);
    CO_ASSERT_EQ(in_use_inside, 1);
    CO_ASSERT_EQ(bulkhead.metrics().in_use, 0);
  });
}

}  // namespace
