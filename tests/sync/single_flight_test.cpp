// SingleFlight: concurrent callers of one key share one call; each waits under its
// own context; the call is cancelled only when every caller has left; forget();
// the channel form in a select; no entry outlives its call.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::Context;
using orca::errc;
using orca::Result;
using orca::SharedResult;
using orca::Task;
using orca_test::kOneWorker;
using orca_test::until_parked;

namespace {

using Group = orca::SingleFlight<std::string, int>;

constexpr orca::RunOptions kFlightWorkers{.workers = 2, .leak_check = orca::LeakCheck::kFail};
constexpr orca::RunOptions kOneWorkerNoLeaks{.workers = 1, .leak_check = orca::LeakCheck::kFail};

// Yields until the calling task is the only one left: the calls' tasks have ended.
Task<void> until_only_task() {
  while (orca::stats().live_tasks > 1)
    co_await orca::yield();
}

TEST(SingleFlight, AThousandConcurrentCallersShareOneCall) {
  constexpr int kCallers = 1000;
  std::atomic<int> runs{0};
  std::atomic<int> got_value{0};
  std::atomic<int> got_shared{0};
  orca::run(
      [&]() -> Task<void> {
        Group group;
        auto release = std::make_shared<orca::Channel<int>>();
        orca::WaitGroup wg;
        wg.add(kCallers);
        for (int i = 0; i < kCallers; ++i) {
          orca::go([&]() -> Task<void> {
            auto call = group.call(orca::background(), "k", [&runs, release]() -> Task<int> {
              runs.fetch_add(1);
              (void)co_await release->recv();  // every caller joins meanwhile
              co_return 42;
            });
            SharedResult<int> r = co_await std::move(call);
            if (r && *r == 42) got_value.fetch_add(1);
            if (r.shared()) got_shared.fetch_add(1);
            wg.done();
          });
        }
        co_await until_parked(kCallers + 1);  // every caller, and the call's task
        CO_ASSERT_EQ(group.in_flight(), std::size_t{1});
        CO_ASSERT_TRUE(release->try_send(1));
        (void)co_await wg.wait();
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});
        co_await until_only_task();
      },
      kFlightWorkers);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(got_value.load(), kCallers);
  EXPECT_EQ(got_shared.load(), kCallers);
}

TEST(SingleFlight, LoneCallerIsNotShared) {
  orca::run(
      []() -> Task<void> {
        Group group;
        auto call = group.call(orca::background(), "k", [] { return 7; });
        SharedResult<int> r = co_await std::move(call);
        CO_ASSERT_EQ(*r, 7);
        CO_ASSERT_EQ(r.shared(), false);
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});  // gone once delivered
        co_await until_only_task();
      },
      kOneWorkerNoLeaks);
}

TEST(SingleFlight, DifferentKeysRunSeparately) {
  orca::run(
      []() -> Task<void> {
        Group group;
        orca::Channel<int> release(10);
        orca::WaitGroup wg;
        std::vector<int> got(10, 0);
        wg.add(10);
        for (int i = 0; i < 10; ++i) {
          orca::go([&, i]() -> Task<void> {
            auto call =
                group.call(orca::background(), std::to_string(i), [&release, i]() -> Task<int> {
                  (void)co_await release.recv();
                  co_return i * 10;
                });
            SharedResult<int> r = co_await std::move(call);
            got[i] = r ? *r : -1;
            wg.done();
          });
        }
        co_await until_parked(20);
        CO_ASSERT_EQ(group.in_flight(), std::size_t{10});
        for (int i = 0; i < 10; ++i)
          CO_ASSERT_TRUE(release.try_send(i));
        (void)co_await wg.wait();
        for (int i = 0; i < 10; ++i)
          CO_ASSERT_EQ(got[i], i * 10);
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});
        co_await until_only_task();
      },
      kOneWorkerNoLeaks);
}

TEST(SingleFlight, ReturnedErrorReachesEveryCaller) {
  orca::run(
      []() -> Task<void> {
        Group group;
        orca::Channel<int> release;
        std::vector<std::error_code> errs(3);
        for (int i = 0; i < 3; ++i) {
          orca::go([&, i]() -> Task<void> {
            auto call = group.call(orca::background(), "k", [&release]() -> Task<Result<int>> {
              (void)co_await release.recv();
              co_return std::make_error_code(std::errc::host_unreachable);
            });
            SharedResult<int> r = co_await std::move(call);
            errs[i] = r.error();
          });
        }
        co_await until_parked(4);
        CO_ASSERT_TRUE(release.try_send(1));
        co_await until_only_task();
        for (int i = 0; i < 3; ++i)
          CO_ASSERT_EQ(errs[i], std::make_error_code(std::errc::host_unreachable));
      },
      kOneWorkerNoLeaks);
}

TEST(SingleFlight, ExceptionReachesEveryCaller) {
  orca::run(
      []() -> Task<void> {
        Group group;
        orca::Channel<int> release;
        int threw = 0;
        for (int i = 0; i < 3; ++i) {
          orca::go([&]() -> Task<void> {
            try {
              auto call = group.call(orca::background(), "k", [&release]() -> Task<int> {
                (void)co_await release.recv();
                throw std::runtime_error("backend exploded");
              });
              (void)co_await std::move(call);
            } catch (const std::runtime_error& e) {
              if (std::string(e.what()) == "backend exploded") ++threw;
            }
          });
        }
        co_await until_parked(4);
        CO_ASSERT_TRUE(release.try_send(1));
        co_await until_only_task();
        CO_ASSERT_EQ(threw, 3);
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});
      },
      kOneWorkerNoLeaks);
}

TEST(SingleFlight, CancelledCallerLeavesTheCallAndTheOthersWaiting) {
  orca::run(
      []() -> Task<void> {
        Group group;
        orca::Channel<int> release;
        std::error_code call_ctx_err_at_end = make_error_code(errc::closed);  // overwritten
        auto fn = [&](Context call_ctx) -> Task<int> {
          (void)co_await release.recv();
          call_ctx_err_at_end = call_ctx.err();
          co_return 9;
        };
        auto [ctx_a, cancel_a] = orca::with_cancel(orca::background());
        std::error_code a_err;
        orca::go([&, ctx_a = ctx_a]() -> Task<void> {  // A starts the call
          auto call = group.call(ctx_a, "k", fn);
          SharedResult<int> r = co_await std::move(call);
          a_err = r.error();
        });
        co_await until_parked(2);  // A, and the call on `release`
        int b_got = 0;
        bool b_shared = false;
        orca::go([&]() -> Task<void> {  // B joins
          auto call = group.call(orca::background(), "k", fn);
          SharedResult<int> r = co_await std::move(call);
          b_got = r ? *r : -1;
          b_shared = r.shared();
        });
        co_await until_parked(3);
        cancel_a();
        co_await until_parked(2);  // A has left; B and the call still wait
        co_await orca::yield();
        CO_ASSERT_EQ(a_err, make_error_code(errc::canceled));
        CO_ASSERT_EQ(group.in_flight(), std::size_t{1});
        CO_ASSERT_TRUE(release.try_send(1));
        co_await until_only_task();
        CO_ASSERT_EQ(b_got, 9);
        CO_ASSERT_EQ(b_shared, true);                          // two callers joined the call
        CO_ASSERT_EQ(call_ctx_err_at_end, std::error_code());  // never cancelled
      },
      kOneWorkerNoLeaks);
}

TEST(SingleFlight, CallIsCancelledWhenEveryCallerHasLeft) {
  orca::run(
      []() -> Task<void> {
        Group group;
        orca::Channel<bool> call_saw_cancel(1);
        orca::Channel<int> release;
        int runs = 0;
        auto fn = [&](Context call_ctx) -> Task<int> {
          ++runs;
          std::error_code err = co_await call_ctx.done();  // nothing else ends it
          (void)call_saw_cancel.try_send(err == errc::canceled);
          (void)co_await release.recv();  // still running after every caller left
          co_return 1;
        };
        auto [ctx_a, cancel_a] = orca::with_cancel(orca::background());
        auto [ctx_b, cancel_b] = orca::with_cancel(orca::background());
        std::error_code a_err;
        std::error_code b_err;
        orca::go([&, ctx_a = ctx_a]() -> Task<void> {
          auto call = group.call(ctx_a, "k", fn);
          SharedResult<int> r = co_await std::move(call);
          a_err = r.error();
        });
        co_await until_parked(2);
        orca::go([&, ctx_b = ctx_b]() -> Task<void> {
          auto call = group.call(ctx_b, "k", fn);
          SharedResult<int> r = co_await std::move(call);
          b_err = r.error();
        });
        co_await until_parked(3);
        cancel_a();
        co_await until_parked(2);
        co_await orca::yield();
        CO_ASSERT_EQ(call_saw_cancel.len(), std::size_t{0});  // B still waits: the call goes on
        cancel_b();
        Result<bool> saw = co_await call_saw_cancel.recv();
        CO_ASSERT_EQ(*saw, true);
        CO_ASSERT_EQ(a_err, make_error_code(errc::canceled));
        CO_ASSERT_EQ(b_err, make_error_code(errc::canceled));
        // The abandoned call, still running, is forgotten: the next caller starts a
        // new call instead of joining a cancelled one.
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});
        {
          Group::Waiter c = group.call_chan(orca::background(), "k", fn);
          co_await until_parked(2);  // the first call on `release`, the second on its ctx
          CO_ASSERT_EQ(runs, 2);
          CO_ASSERT_EQ(group.in_flight(), std::size_t{1});
        }  // and leaves it
        Result<bool> saw_again = co_await call_saw_cancel.recv();
        CO_ASSERT_EQ(*saw_again, true);
        (void)release.close();
        co_await until_only_task();
        CO_ASSERT_EQ(runs, 2);
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});
      },
      kOneWorkerNoLeaks);
}

TEST(SingleFlight, CallerWithADoneContextStartsNothing) {
  orca::run(
      []() -> Task<void> {
        Group group;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        cancel();
        int runs = 0;
        auto call = group.call(ctx, "k", [&] { return ++runs; });
        SharedResult<int> r = co_await std::move(call);
        CO_ASSERT_EQ(r.error(), make_error_code(errc::canceled));
        CO_ASSERT_EQ(runs, 0);
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});
      },
      kOneWorkerNoLeaks);
}

TEST(SingleFlight, ForgetMakesTheNextCallerStartANewCall) {
  orca::run(
      []() -> Task<void> {
        Group group;
        orca::Channel<int> release_first;
        orca::Channel<int> release_second;
        int runs = 0;
        int first_got = 0;
        int second_got = 0;
        int third_got = 0;
        bool third_shared = false;
        orca::go([&]() -> Task<void> {
          auto call = group.call(orca::background(), "k", [&]() -> Task<int> {
            ++runs;
            (void)co_await release_first.recv();
            co_return 1;
          });
          SharedResult<int> r = co_await std::move(call);
          first_got = r ? *r : -1;
        });
        co_await until_parked(2);
        CO_ASSERT_EQ(group.forget("k"), true);
        CO_ASSERT_EQ(group.forget("k"), false);  // nothing under the key any more
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});
        orca::go([&]() -> Task<void> {
          auto call = group.call(orca::background(), "k", [&]() -> Task<int> {
            ++runs;
            (void)co_await release_second.recv();
            co_return 2;
          });
          SharedResult<int> r = co_await std::move(call);
          second_got = r ? *r : -1;
        });
        co_await until_parked(4);
        CO_ASSERT_EQ(runs, 2);
        // The forgotten call ends: it must not take the new call's entry with it.
        CO_ASSERT_TRUE(release_first.try_send(1));
        co_await until_parked(2);
        co_await orca::yield();
        CO_ASSERT_EQ(first_got, 1);
        CO_ASSERT_EQ(group.in_flight(), std::size_t{1});
        orca::go([&]() -> Task<void> {  // joins the second call
          auto call = group.call(orca::background(), "k", [] { return 3; });
          SharedResult<int> r = co_await std::move(call);
          third_got = r ? *r : -1;
          third_shared = r.shared();
        });
        co_await until_parked(3);
        CO_ASSERT_TRUE(release_second.try_send(1));
        co_await until_only_task();
        CO_ASSERT_EQ(second_got, 2);
        CO_ASSERT_EQ(third_got, 2);
        CO_ASSERT_EQ(third_shared, true);
        CO_ASSERT_EQ(runs, 2);
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});
      },
      kOneWorkerNoLeaks);
}

TEST(SingleFlight, ChannelFormInASelect) {
  orca::run(
      []() -> Task<void> {
        Group group;
        orca::Channel<int> release;
        orca::Channel<int> other(1);
        auto fn = [&release]() -> Task<int> {
          (void)co_await release.recv();
          co_return 11;
        };
        Group::Waiter first = group.call_chan(orca::background(), "k", fn);
        Group::Waiter second = group.call_chan(orca::background(), "k", fn);
        CO_ASSERT_EQ(group.in_flight(), std::size_t{1});
        // Nothing yet: the select takes the other case, and the waiters still wait.
        CO_ASSERT_TRUE(other.try_send(5));
        auto early = co_await orca::select(orca::recv(first.channel()), orca::recv(other));
        CO_ASSERT_EQ(early.index(), 1);
        co_await until_parked(1);  // the call waits on `release`
        CO_ASSERT_TRUE(release.try_send(1));
        auto r1 = co_await orca::select(orca::recv(first.channel()), orca::recv(other));
        CO_ASSERT_EQ(r1.index(), 0);
        SharedResult<int> got1 = *std::move(r1.get<0>());
        CO_ASSERT_EQ(got1.value(), 11);
        CO_ASSERT_EQ(got1.shared(), true);
        Result<SharedResult<int>> got2 = co_await second.channel().recv();
        CO_ASSERT_EQ(got2->value(), 11);
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});
        co_await until_only_task();
      },
      kOneWorkerNoLeaks);
}

TEST(SingleFlight, ChannelFormDeliversTheException) {
  orca::run(
      []() -> Task<void> {
        Group group;
        Group::Waiter w = group.call_chan(orca::background(), "k",
                                          []() -> int { throw std::runtime_error("no"); });
        Result<SharedResult<int>> got = co_await w.channel().recv();
        CO_ASSERT_TRUE(got.has_value());
        CO_ASSERT_TRUE(!got->has_value());
        CO_ASSERT_EQ(got->error(), std::error_code());
        CO_ASSERT_TRUE(got->exception() != nullptr);
        bool threw = false;
        try {
          (void)got->value();
        } catch (const std::runtime_error&) {
          threw = true;
        }
        CO_ASSERT_EQ(threw, true);
        co_await until_only_task();
      },
      kOneWorkerNoLeaks);
}

TEST(SingleFlight, DroppedWaiterLeavesTheCall) {
  orca::run(
      []() -> Task<void> {
        Group group;
        orca::Channel<bool> call_saw_cancel(1);
        {
          Group::Waiter w =
              group.call_chan(orca::background(), "k", [&](Context call_ctx) -> Task<int> {
                std::error_code err = co_await call_ctx.done();
                (void)call_saw_cancel.try_send(err == errc::canceled);
                co_return 0;
              });
          co_await until_parked(1);  // the call waits on its context
          CO_ASSERT_EQ(group.in_flight(), std::size_t{1});
        }
        CO_ASSERT_EQ(group.in_flight(), std::size_t{0});
        Result<bool> saw = co_await call_saw_cancel.recv();
        CO_ASSERT_EQ(*saw, true);
        co_await until_only_task();
      },
      kOneWorkerNoLeaks);
}

inline const orca::ContextKey<std::string> kRequestId{"request_id"};

TEST(SingleFlight, CallContextHasTheFirstCallersValuesButNotItsDeadline) {
  orca::run(
      []() -> Task<void> {
        Group group;
        auto [timed, cancel] = orca::with_timeout(orca::background(), 1h);
        Context first = orca::with_value(timed, kRequestId, std::string("req-1"));
        std::string seen_id;
        bool had_deadline = true;
        auto call = group.call(first, "k", [&](Context call_ctx) {
          const std::string* id = call_ctx.value(kRequestId);
          seen_id = id != nullptr ? *id : "none";
          had_deadline = call_ctx.deadline().has_value();
          return 1;
        });
        SharedResult<int> r = co_await std::move(call);
        CO_ASSERT_EQ(*r, 1);
        CO_ASSERT_EQ(seen_id, std::string("req-1"));
        CO_ASSERT_EQ(had_deadline, false);
        cancel();
        co_await until_only_task();
      },
      kOneWorkerNoLeaks);
}

TEST(SingleFlight, GroupMayBeDestroyedWhileACallIsInFlight) {
  orca::run(
      []() -> Task<void> {
        orca::Channel<int> release;
        auto group = std::make_unique<Group>();
        Group::Waiter w = group->call_chan(orca::background(), "k", [&release]() -> Task<int> {
          (void)co_await release.recv();
          co_return 4;
        });
        group.reset();
        co_await until_parked(1);
        CO_ASSERT_TRUE(release.try_send(1));
        Result<SharedResult<int>> got = co_await w.channel().recv();
        CO_ASSERT_EQ(got->value(), 4);
        co_await until_only_task();
      },
      kOneWorkerNoLeaks);
}

// Counts copies, to show each caller gets its own copy and nothing more.
TEST(SingleFlight, EachCallerReceivesOneCopy) {
  orca::run(
      []() -> Task<void> {
        orca::SingleFlight<int, std::shared_ptr<int>> group;
        orca::Channel<int> release;
        auto value = std::make_shared<int>(8);
        std::weak_ptr<int> watch = value;
        std::vector<std::shared_ptr<int>> got(3);
        for (int i = 0; i < 3; ++i) {
          orca::go([&, i]() -> Task<void> {
            auto call = group.call(orca::background(), 1,
                                   [&release, &value]() -> Task<std::shared_ptr<int>> {
                                     (void)co_await release.recv();
                                     co_return std::move(value);
                                   });
            auto r = co_await std::move(call);
            got[i] = *std::move(r);
          });
        }
        co_await until_parked(4);
        CO_ASSERT_TRUE(release.try_send(1));
        co_await until_only_task();
        CO_ASSERT_EQ(watch.use_count(), 3L);  // one per caller, none kept by the group
        got.clear();
        CO_ASSERT_TRUE(watch.expired());
      },
      kOneWorkerNoLeaks);
}

}  // namespace
