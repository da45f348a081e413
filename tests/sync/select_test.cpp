// select conformance: the behaviour Go documents for select (uniform choice among
// ready cases, default, nil-channel cases, blocking until one case proceeds) plus
// orca's: context and timer cases, exactly one case completed per select, losing
// cases withdrawn so that no value is taken by a select that did not choose it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::Channel;
using orca::errc;
using orca::Task;
using orca_test::Counted;
using orca_test::kFourWorkers;
using orca_test::kOneWorker;
using orca_test::LifetimeCounts;
using orca_test::until_parked;

namespace {

TEST(Select, ChoosesTheReadyCase) {
  orca::run([]() -> Task<void> {
    Channel<int> a(1);
    Channel<int> b(1);
    CO_ASSERT_TRUE(b.try_send(5));
    auto r = co_await orca::select(orca::recv(a), orca::recv(b));
    CO_ASSERT_EQ(r.index(), 1);
    CO_ASSERT_TRUE(r.get<1>().has_value());
    CO_ASSERT_EQ(*r.get<1>(), 5);
  });
}

TEST(Select, ChoosesUniformlyAmongReadyCases) {
  // Two always-ready channels, 100k selects: each case about half the time.
  constexpr int kSelects = 100'000;
  int counts[2] = {0, 0};
  orca::run([&]() -> Task<void> {
    Channel<int> a(1);
    Channel<int> b(1);
    CO_ASSERT_TRUE(a.try_send(0));
    CO_ASSERT_TRUE(b.try_send(1));
    for (int i = 0; i < kSelects; ++i) {
      auto r = co_await orca::select(orca::recv(a), orca::recv(b));
      const int k = r.index();
      CO_ASSERT_TRUE(k == 0 || k == 1);
      ++counts[k];
      // Refill the drained channel: both stay ready.
      CO_ASSERT_TRUE((k == 0 ? a : b).try_send(k));
    }
  });
  const double share = static_cast<double>(counts[0]) / kSelects;
  EXPECT_NEAR(share, 0.5, 0.02) << "case 0 chosen " << counts[0] << " times, case 1 " << counts[1];
}

TEST(Select, ChoosesUniformlyAmongThreeOfFourCases) {
  constexpr int kSelects = 60'000;
  int counts[4] = {0, 0, 0, 0};
  orca::run([&]() -> Task<void> {
    Channel<int> ch[4] = {Channel<int>(1), Channel<int>(1), Channel<int>(1), Channel<int>(1)};
    for (int i : {0, 1, 3})
      CO_ASSERT_TRUE(ch[i].try_send(i));
    for (int i = 0; i < kSelects; ++i) {
      auto r = co_await orca::select(orca::recv(ch[0]), orca::recv(ch[1]), orca::recv(ch[2]),
                                     orca::recv(ch[3]));
      const int k = r.index();
      ++counts[k];
      CO_ASSERT_TRUE(ch[k].try_send(k));
    }
  });
  EXPECT_EQ(counts[2], 0);
  for (int i : {0, 1, 3})
    EXPECT_NEAR(static_cast<double>(counts[i]) / kSelects, 1.0 / 3, 0.02) << "case " << i;
}

TEST(Select, DefaultWhenNothingIsReady) {
  orca::run([]() -> Task<void> {
    Channel<int> a;
    Channel<int> b(1);
    auto r = co_await orca::select(orca::recv(a), orca::recv(b), orca::default_case());
    CO_ASSERT_EQ(r.index(), 2);
    CO_ASSERT_TRUE(b.try_send(1));
    auto r2 = co_await orca::select(orca::recv(a), orca::recv(b), orca::default_case());
    CO_ASSERT_EQ(r2.index(), 1);  // a ready case beats default
    CO_ASSERT_EQ(*r2.get<1>(), 1);
  });
}

TEST(Select, DisabledCasesAreNeverChosen) {
  orca::run([]() -> Task<void> {
    Channel<int> a(1);
    Channel<int> b(1);
    CO_ASSERT_TRUE(a.try_send(1));
    CO_ASSERT_TRUE(b.try_send(2));
    Channel<int>* nil = nullptr;  // Go's nil channel
    for (int i = 0; i < 200; ++i) {
      auto r = co_await orca::select(orca::recv(nil), orca::recv(a).when(false), orca::recv(b),
                                     orca::send(nil, 3));
      CO_ASSERT_EQ(r.index(), 2);
      CO_ASSERT_TRUE(b.try_send(2));
    }
    CO_ASSERT_EQ(a.len(), std::size_t{1});
    // Every case disabled, with a default: the default.
    auto r = co_await orca::select(orca::recv(a).when(false), orca::default_case());
    CO_ASSERT_EQ(r.index(), 1);
  });
}

TEST(Select, SendCaseDeliversToParkedReceiver) {
  orca::run(
      []() -> Task<void> {
        Channel<int> out;
        Channel<int> never;
        int got = 0;
        orca::go([&]() -> Task<void> {
          auto v = co_await out.recv();
          got = v ? *v : -1;
        });
        co_await until_parked(1);
        auto r = co_await orca::select(orca::recv(never), orca::send(out, 11));
        CO_ASSERT_EQ(r.index(), 1);
        CO_ASSERT_TRUE(r.get<1>().has_value());
        co_await orca::yield();
        CO_ASSERT_EQ(got, 11);
      },
      kOneWorker);
}

TEST(Select, ParksUntilACaseProceedsAndWithdrawsTheOthers) {
  orca::run(
      []() -> Task<void> {
        Channel<int> a;
        Channel<int> b;
        int index = -2;
        int value = 0;
        orca::go([&]() -> Task<void> {
          auto r = co_await orca::select(orca::recv(a), orca::recv(b));
          index = r.index();
          if (index == 1 && r.get<1>()) value = *r.get<1>();
        });
        co_await until_parked(1);
        CO_ASSERT_TRUE(b.try_send(8));  // completes the parked select
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(index, 1);
        CO_ASSERT_EQ(value, 8);
        // Its receive on `a` was withdrawn: nobody takes from a any more.
        CO_ASSERT_EQ(a.try_send(1).error(), make_error_code(errc::would_block));
      },
      kOneWorker);
}

TEST(Select, ParkedSendCaseIsTakenByReceiver) {
  orca::run(
      []() -> Task<void> {
        Channel<std::unique_ptr<int>> out;
        Channel<int> other;
        int index = -2;
        orca::go([&]() -> Task<void> {
          auto r =
              co_await orca::select(orca::send(out, std::make_unique<int>(4)), orca::recv(other));
          index = r.index();
        });
        co_await until_parked(1);
        auto v = co_await out.recv();
        CO_ASSERT_TRUE(v.has_value() && *v != nullptr);
        CO_ASSERT_EQ(**v, 4);
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(index, 0);
        CO_ASSERT_EQ(other.try_send(1).error(), make_error_code(errc::would_block));
      },
      kOneWorker);
}

TEST(Select, RecvAndSendOnTheSameChannelWaitForAPeer) {
  orca::run(
      []() -> Task<void> {
        Channel<int> ch;
        auto none = co_await orca::select(orca::recv(ch), orca::send(ch, 1), orca::default_case());
        CO_ASSERT_EQ(none.index(), 2);  // a select cannot meet itself
        int index = -2;
        orca::go([&]() -> Task<void> {
          auto r = co_await orca::select(orca::recv(ch), orca::send(ch, 1));
          index = r.index();
        });
        co_await until_parked(1);
        auto v = co_await ch.recv();  // meets the select's send case
        CO_ASSERT_TRUE(v.has_value());
        CO_ASSERT_EQ(*v, 1);
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(index, 1);
      },
      kOneWorker);
}

TEST(Select, SendCaseValuesAreDestroyedExactlyOnce) {
  // Cases are temporaries in the co_await operand, moved into the select (GCC 12
  // has mishandled such temporaries: PR 101367). Chosen or not, each value made
  // is destroyed exactly once.
  LifetimeCounts counts;
  orca::run([&]() -> Task<void> {
    Channel<Counted> out(1);
    Channel<int> in(1);
    CO_ASSERT_TRUE(out.try_send(Counted(counts, 0)));  // full: the send case is not ready
    CO_ASSERT_TRUE(in.try_send(1));
    auto not_chosen = co_await orca::select(orca::send(out, Counted(counts, 1)), orca::recv(in));
    CO_ASSERT_EQ(not_chosen.index(), 1);
    auto drained = co_await out.recv();
    CO_ASSERT_TRUE(drained.has_value());
    auto chosen = co_await orca::select(orca::send(out, Counted(counts, 2)), orca::recv(in));
    CO_ASSERT_EQ(chosen.index(), 0);
    auto got = co_await out.recv();
    CO_ASSERT_TRUE(got.has_value());
    CO_ASSERT_EQ(got->value(), 2);
    CO_ASSERT_TRUE(out.close());
    auto closed = co_await orca::select(orca::send(out, Counted(counts, 3)));
    CO_ASSERT_EQ(closed.get<0>().unsent().value(), 3);
  });
  EXPECT_EQ(counts.alive(), 0) << counts.describe();
  EXPECT_EQ(counts.copied.load(), 0) << counts.describe();
}

TEST(Select, ClosedChannelCaseReportsClosed) {
  orca::run([]() -> Task<void> {
    Channel<int> a;
    Channel<int> b;
    CO_ASSERT_TRUE(a.close());
    auto r = co_await orca::select(orca::recv(a), orca::recv(b));
    CO_ASSERT_EQ(r.index(), 0);
    CO_ASSERT_EQ(r.get<0>().error(), make_error_code(errc::closed));
    auto s = co_await orca::select(orca::send(a, 5), orca::recv(b));
    CO_ASSERT_EQ(s.index(), 0);
    CO_ASSERT_EQ(s.get<0>().error(), make_error_code(errc::closed));
    CO_ASSERT_EQ(s.get<0>().unsent(), 5);
  });
}

TEST(Select, ParkedSelectWokenByClose) {
  orca::run(
      []() -> Task<void> {
        Channel<int> a;
        Channel<int> b;
        int index = -2;
        std::error_code err;
        orca::go([&]() -> Task<void> {
          auto r = co_await orca::select(orca::recv(a), orca::recv(b));
          index = r.index();
          if (index == 1) err = r.get<1>().error();
        });
        co_await until_parked(1);
        CO_ASSERT_TRUE(b.close());
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(index, 1);
        CO_ASSERT_EQ(err, make_error_code(errc::closed));
      },
      kOneWorker);
}

TEST(Select, TimerCaseFiresWhenNothingElseDoes) {
  orca::run([]() -> Task<void> {
    Channel<int> ch;
    auto r = co_await orca::select(orca::recv(ch), orca::after(1ms));
    CO_ASSERT_EQ(r.index(), 1);
    CO_ASSERT_EQ(ch.try_send(1).error(), make_error_code(errc::would_block));  // withdrawn
    // The earlier of two timers wins; a passed deadline is ready at once.
    auto two = co_await orca::select(orca::after(1h), orca::until(orca::Clock::now()));
    CO_ASSERT_EQ(two.index(), 1);
    auto only = co_await orca::select(orca::after(1ms), orca::after(1h));
    CO_ASSERT_EQ(only.index(), 0);
  });
}

TEST(Select, TimerDoesNotFireAfterAnotherCaseWon) {
  orca::run([]() -> Task<void> {
    Channel<int> ch(1);
    for (int i = 0; i < 100; ++i) {
      orca::go([&]() -> Task<void> { (void)co_await ch.send(1); });
      auto r = co_await orca::select(orca::recv(ch), orca::after(1h));
      CO_ASSERT_EQ(r.index(), 0);
    }
    CO_ASSERT_EQ(orca::stats().timers_pending, 0);  // every timer cancelled
  });
}

TEST(Select, ContextDoneCase) {
  orca::run(
      []() -> Task<void> {
        Channel<int> ch;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        int index = -2;
        std::error_code err;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto r = co_await orca::select(orca::recv(ch), ctx.done());
          index = r.index();
          if (index == 1) err = r.get<1>();
        });
        co_await until_parked(1);
        cancel();
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(index, 1);
        CO_ASSERT_EQ(err, make_error_code(errc::canceled));
        CO_ASSERT_EQ(ch.try_send(1).error(), make_error_code(errc::would_block));
      },
      kOneWorker);
}

TEST(Select, OwnContextEndsTheSelect) {
  orca::run([]() -> Task<void> {
    Channel<int> ch;
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 2ms);
    auto r = co_await orca::select(ctx, orca::recv(ch), orca::send(ch, 1));
    CO_ASSERT_EQ(r.index(), -1);
    CO_ASSERT_TRUE(!r);
    CO_ASSERT_EQ(r.error(), make_error_code(errc::deadline_exceeded));
    // A done context wins even over a ready case.
    Channel<int> ready(1);
    CO_ASSERT_TRUE(ready.try_send(1));
    auto again = co_await orca::select(ctx, orca::recv(ready));
    CO_ASSERT_EQ(again.index(), -1);
    CO_ASSERT_EQ(ready.len(), std::size_t{1});
    // No enabled case at all: waits for the context.
    auto [ctx2, cancel2] = orca::with_timeout(orca::background(), 1ms);
    auto empty = co_await orca::select(ctx2, orca::recv(ch).when(false));
    CO_ASSERT_EQ(empty.error(), make_error_code(errc::deadline_exceeded));
    cancel();
    cancel2();
  });
}

TEST(Select, ParkedSelectCancelledByItsContext) {
  orca::run(
      []() -> Task<void> {
        Channel<int> a;
        Channel<int> b;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        int index = -2;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto r = co_await orca::select(ctx, orca::recv(a), orca::send(b, 2), orca::after(1h));
          index = r.index();
        });
        co_await until_parked(1);
        cancel();
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(index, -1);
        CO_ASSERT_EQ(a.try_send(1).error(), make_error_code(errc::would_block));
        CO_ASSERT_EQ(b.try_recv().error(), make_error_code(errc::would_block));
        CO_ASSERT_EQ(orca::stats().timers_pending, 0);
      },
      kOneWorker);
}

TEST(Select, WokenExactlyOnceAcrossThreads) {
  // A select parked on two rendezvous channels; two senders on other workers race
  // to complete it. Exactly one value per select; the other sender finds no
  // receiver and is served by the next select. Nothing lost, nothing doubled.
  constexpr int kRounds = 3000;
  std::atomic<long> received_sum{0};
  std::atomic<int> received{0};
  orca::run(
      [&]() -> Task<void> {
        Channel<int> a;
        Channel<int> b;
        orca::WaitGroup senders;
        senders.add(2);
        for (Channel<int>* ch : {&a, &b}) {
          orca::go([&, ch]() -> Task<void> {
            for (int i = 1; i <= kRounds; ++i)
              CO_EXPECT_TRUE(co_await ch->send(i));
            senders.done();
          });
        }
        for (int i = 0; i < 2 * kRounds; ++i) {
          auto r = co_await orca::select(orca::recv(a), orca::recv(b));
          const int k = r.index();
          CO_ASSERT_TRUE(k == 0 || k == 1);
          auto& v = k == 0 ? r.get<0>() : r.get<1>();
          CO_ASSERT_TRUE(v.has_value());
          received_sum.fetch_add(*v);
          received.fetch_add(1);
        }
        (void)co_await senders.wait();
        CO_ASSERT_EQ(a.try_recv().error(), make_error_code(errc::would_block));
        CO_ASSERT_EQ(b.try_recv().error(), make_error_code(errc::would_block));
      },
      kFourWorkers);
  EXPECT_EQ(received.load(), 2 * kRounds);
  EXPECT_EQ(received_sum.load(), 2L * kRounds * (kRounds + 1) / 2);
}

TEST(Select, ManySelectsCompeteForValuesAcrossThreads) {
  // Selectors on two channels versus plain senders and a timer: every value is
  // received exactly once; timeouts only when nothing was taken.
  constexpr int kSelectors = 6;
  constexpr int kValues = 4000;
  std::vector<std::atomic<int>> seen(kValues);
  orca::run(
      [&]() -> Task<void> {
        Channel<int> a(4);
        Channel<int> b;
        orca::WaitGroup wg;
        wg.add(kSelectors);
        for (int s = 0; s < kSelectors; ++s) {
          orca::go([&]() -> Task<void> {
            // Go's idiom: a closed channel's case is disabled by nulling it.
            Channel<int>* pa = &a;
            Channel<int>* pb = &b;
            while (pa != nullptr || pb != nullptr) {
              auto r = co_await orca::select(orca::recv(pa), orca::recv(pb), orca::after(50ms));
              if (r.index() == 2) continue;
              auto& v = r.index() == 0 ? r.get<0>() : r.get<1>();
              if (!v) {
                (r.index() == 0 ? pa : pb) = nullptr;
                continue;
              }
              seen[*v].fetch_add(1);
            }
            wg.done();
          });
        }
        for (int i = 0; i < kValues; ++i) {
          Channel<int>& ch = i % 2 == 0 ? a : b;
          CO_ASSERT_TRUE(co_await ch.send(i));
        }
        CO_ASSERT_TRUE(a.close());
        CO_ASSERT_TRUE(b.close());
        (void)co_await wg.wait();
      },
      kFourWorkers);
  for (int i = 0; i < kValues; ++i)
    ASSERT_EQ(seen[i].load(), 1) << "value " << i;
}

}  // namespace
