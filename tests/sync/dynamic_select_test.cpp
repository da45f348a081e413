// Dynamic select (select over a run-time list of SelectCase<T>, Go's reflect.Select):
// fan-in that delivers every value exactly once, the uniform choice among ready
// cases, send cases and their values, closed channels, default, cancellation, and a
// case list reused and changed from one select to the next.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <vector>

#include "sync/sync_test_support.hpp"

using namespace std::chrono_literals;
using orca::Channel;
using orca::errc;
using orca::SelectCase;
using orca::Task;
using orca_test::Counted;
using orca_test::kFourWorkers;
using orca_test::kOneWorker;
using orca_test::LifetimeCounts;
using orca_test::until_parked;

namespace {

TEST(DynamicSelect, FanInOverManyChannelsDeliversEveryValueOnce) {
  // 64 producers, each on its own channel (half rendezvous, half buffered), and two
  // consumers that each select over all 64 and drop a case once its channel closes.
  constexpr int kChannels = 64;
  constexpr int kPerChannel = 200;
  std::vector<std::atomic<int>> seen(kChannels * kPerChannel);
  orca::run(
      [&]() -> Task<void> {
        std::vector<std::unique_ptr<Channel<int>>> chans;
        for (int c = 0; c < kChannels; ++c)
          chans.push_back(std::make_unique<Channel<int>>(c % 2 == 0 ? 0 : 4));
        orca::WaitGroup wg;
        wg.add(kChannels + 2);
        for (int c = 0; c < kChannels; ++c) {
          orca::go([&, c]() -> Task<void> {
            for (int i = 0; i < kPerChannel; ++i)
              CO_EXPECT_TRUE(co_await chans[c]->send(c * kPerChannel + i));
            CO_EXPECT_TRUE(chans[c]->close());
            wg.done();
          });
        }
        for (int consumer = 0; consumer < 2; ++consumer) {
          orca::go([&]() -> Task<void> {
            std::vector<SelectCase<int>> cases;
            for (auto& ch : chans)
              cases.push_back(orca::recv(*ch));
            while (!cases.empty()) {
              auto r = co_await orca::select(cases);
              const int k = r.index();
              CO_ASSERT_TRUE(k >= 0 && k < static_cast<int>(cases.size()));
              auto& v = r.received();
              if (!v) {
                CO_ASSERT_EQ(v.error(), make_error_code(errc::closed));
                cases.erase(cases.begin() + k);
                continue;
              }
              seen[static_cast<std::size_t>(*v)].fetch_add(1, std::memory_order_relaxed);
            }
            wg.done();
          });
        }
        (void)co_await wg.wait();
      },
      kFourWorkers);
  for (std::size_t i = 0; i < seen.size(); ++i)
    ASSERT_EQ(seen[i].load(), 1) << "value " << i << " received " << seen[i].load()
                                 << " times, want 1";
}

TEST(DynamicSelect, ChoosesUniformlyAmongReadyCases) {
  // Ten always-ready channels and one empty one (more than the 8 cases a select
  // keeps its scratch inline for): each ready case about a tenth of the time.
  constexpr int kReady = 10;
  constexpr int kSelects = 100'000;
  std::vector<int> counts(kReady + 1, 0);
  orca::run([&]() -> Task<void> {
    std::vector<std::unique_ptr<Channel<int>>> chans;
    std::vector<SelectCase<int>> cases;
    for (int c = 0; c <= kReady; ++c) {
      chans.push_back(std::make_unique<Channel<int>>(1));
      if (c < kReady) CO_ASSERT_TRUE(chans.back()->try_send(c));
      cases.push_back(orca::recv(*chans.back()));
    }
    for (int i = 0; i < kSelects; ++i) {
      auto r = co_await orca::select(cases);
      const int k = r.index();
      CO_ASSERT_TRUE(k >= 0 && k < kReady);
      CO_ASSERT_EQ(*r.received(), k);
      ++counts[static_cast<std::size_t>(k)];
      CO_ASSERT_TRUE(chans[static_cast<std::size_t>(k)]->try_send(k));  // stays ready
    }
  });
  EXPECT_EQ(counts[kReady], 0) << "the empty channel's case was chosen";
  // Binomial(100000, 0.1): one standard deviation is 0.001 of the share; 0.02 is 20.
  for (int c = 0; c < kReady; ++c)
    EXPECT_NEAR(static_cast<double>(counts[static_cast<std::size_t>(c)]) / kSelects, 0.1, 0.02)
        << "case " << c << " chosen " << counts[static_cast<std::size_t>(c)] << " times of "
        << kSelects;
}

TEST(DynamicSelect, SendCasesSendOnceAndKeepTheirValueUntilChosen) {
  orca::run([]() -> Task<void> {
    LifetimeCounts counts;
    {
      Channel<Counted> a(1);
      Channel<Counted> b(1);
      std::vector<SelectCase<Counted>> cases;
      cases.push_back(orca::send(a, Counted(counts, 1)));
      cases.push_back(orca::send(b, Counted(counts, 2)));
      cases.push_back(orca::default_case());
      auto first = co_await orca::select(cases);
      const int k = first.index();
      CO_ASSERT_TRUE(k == 0 || k == 1);
      CO_ASSERT_TRUE(first.sent());
      // The chosen case is spent; the other one still sends its own value.
      auto second = co_await orca::select(cases);
      CO_ASSERT_EQ(second.index(), 1 - k);
      CO_ASSERT_TRUE(second.sent());
      auto third = co_await orca::select(cases);
      CO_ASSERT_EQ(third.index(), 2);  // both spent: default
      auto va = a.try_recv();
      auto vb = b.try_recv();
      CO_ASSERT_TRUE(va && vb);
      CO_ASSERT_EQ(va->value(), 1);
      CO_ASSERT_EQ(vb->value(), 2);
      // A spent case given a new value sends again.
      cases[0] = orca::send(a, Counted(counts, 3));
      auto fourth = co_await orca::select(cases);
      CO_ASSERT_EQ(fourth.index(), 0);
      CO_ASSERT_EQ(a.try_recv()->value(), 3);
    }
    CO_ASSERT_EQ(counts.alive(), 0);
  });
}

TEST(DynamicSelect, ParkedSendCaseIsTakenByReceiver) {
  orca::run(
      []() -> Task<void> {
        Channel<int> a;
        Channel<int> b;
        int index = -2;
        orca::go([&]() -> Task<void> {
          std::vector<SelectCase<int>> cases;
          cases.push_back(orca::send(a, 10));
          cases.push_back(orca::send(b, 20));
          auto r = co_await orca::select(cases);
          index = r.index();
          CO_ASSERT_TRUE(r.sent());
        });
        co_await until_parked(1);
        auto v = co_await b.recv();
        CO_ASSERT_EQ(*v, 20);
        co_await orca::yield();
        CO_ASSERT_EQ(index, 1);
        CO_ASSERT_EQ(a.try_recv().error(), make_error_code(errc::would_block));
      },
      kOneWorker);
}

TEST(DynamicSelect, ClosedChannels) {
  orca::run(
      []() -> Task<void> {
        LifetimeCounts counts;
        {
          Channel<Counted> in;
          Channel<Counted> out;
          CO_ASSERT_TRUE(in.close());
          CO_ASSERT_TRUE(out.close());
          std::vector<SelectCase<Counted>> cases;
          cases.push_back(orca::recv(in));
          auto r = co_await orca::select(cases);
          CO_ASSERT_EQ(r.index(), 0);
          CO_ASSERT_EQ(r.received().error(), make_error_code(errc::closed));
          // A send on a closed channel hands its value back.
          cases[0] = orca::send(out, Counted(counts, 7));
          auto s = co_await orca::select(cases);
          CO_ASSERT_EQ(s.index(), 0);
          CO_ASSERT_EQ(s.sent().error(), make_error_code(errc::closed));
          CO_ASSERT_EQ(s.sent().unsent().value(), 7);
          // A parked select is woken by close.
          Channel<Counted> late;
          std::vector<SelectCase<Counted>> waiting;
          waiting.push_back(orca::recv(late));
          int index = -2;
          std::error_code err;
          orca::go([&]() -> Task<void> {
            auto w = co_await orca::select(waiting);
            index = w.index();
            err = w.received().error();
          });
          co_await until_parked(1);
          CO_ASSERT_TRUE(late.close());
          co_await until_parked(0);
          co_await orca::yield();
          CO_ASSERT_EQ(index, 0);
          CO_ASSERT_EQ(err, make_error_code(errc::closed));
        }
        CO_ASSERT_EQ(counts.alive(), 0);
      },
      kOneWorker);
}

TEST(DynamicSelect, DefaultWhenNothingIsReady) {
  orca::run([]() -> Task<void> {
    Channel<int> a;
    Channel<int> b(1);
    Channel<int> full(1);
    CO_ASSERT_TRUE(full.try_send(0));
    Channel<int>* none = nullptr;
    std::vector<SelectCase<int>> cases;
    cases.push_back(orca::recv(a));
    cases.push_back(orca::default_case());
    cases.push_back(orca::recv(b));
    cases.push_back(orca::send(full, 1));
    cases.push_back(orca::recv(none));  // disabled, as Go's nil channel
    auto r = co_await orca::select(cases);
    CO_ASSERT_EQ(r.index(), 1);
    CO_ASSERT_TRUE(b.try_send(5));
    auto ready = co_await orca::select(cases);
    CO_ASSERT_EQ(ready.index(), 2);
    CO_ASSERT_EQ(*ready.received(), 5);
    // A list of only a default case, and one whose default is disabled.
    std::vector<SelectCase<int>> only;
    only.push_back(orca::default_case());
    auto d = co_await orca::select(only);
    CO_ASSERT_EQ(d.index(), 0);
    only.push_back(orca::recv(full));
    only[0] = orca::default_case().when(false);
    auto taken = co_await orca::select(only);
    CO_ASSERT_EQ(taken.index(), 1);
  });
}

TEST(DynamicSelect, ParkedSelectCancelledByItsContext) {
  orca::run(
      []() -> Task<void> {
        Channel<int> a;
        Channel<int> b;
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        std::vector<SelectCase<int>> cases;
        cases.push_back(orca::recv(a));
        cases.push_back(orca::send(b, 2));
        cases.push_back(orca::after(1h));
        int index = -2;
        std::error_code err;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto r = co_await orca::select(ctx, cases);
          index = r.index();
          err = r.error();
        });
        co_await until_parked(1);
        cancel();
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(index, -1);
        CO_ASSERT_EQ(err, make_error_code(errc::canceled));
        // Nothing was taken or given, and the timer is gone.
        CO_ASSERT_EQ(a.try_send(1).error(), make_error_code(errc::would_block));
        CO_ASSERT_EQ(b.try_recv().error(), make_error_code(errc::would_block));
        CO_ASSERT_EQ(orca::stats().timers_pending, 0);
        // The send case still holds its value: the next select sends it.
        Channel<int> drain;
        std::vector<SelectCase<int>> rest;
        rest.push_back(std::move(cases[1]));
        orca::go([&]() -> Task<void> {
          auto v = co_await b.recv();
          CO_EXPECT_TRUE(v && *v == 2);
        });
        auto s = co_await orca::select(rest);
        CO_ASSERT_EQ(s.index(), 0);
        CO_ASSERT_TRUE(s.sent());
        // A done context wins even over a ready case.
        Channel<int> ready(1);
        CO_ASSERT_TRUE(ready.try_send(1));
        std::vector<SelectCase<int>> one;
        one.push_back(orca::recv(ready));
        auto again = co_await orca::select(ctx, one);
        CO_ASSERT_EQ(again.index(), -1);
        CO_ASSERT_EQ(ready.len(), std::size_t{1});
      },
      kOneWorker);
}

TEST(DynamicSelect, EmptyListWaitsForTheContext) {
  orca::run(
      []() -> Task<void> {
        auto [ctx, cancel] = orca::with_cancel(orca::background());
        std::vector<SelectCase<int>> none;
        int index = -2;
        std::error_code err;
        orca::go([&, ctx = ctx]() -> Task<void> {
          auto r = co_await orca::select(ctx, none);
          index = r.index();
          err = r.error();
        });
        co_await until_parked(1);
        CO_ASSERT_EQ(index, -2);  // still waiting
        cancel();
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(index, -1);
        CO_ASSERT_EQ(err, make_error_code(errc::canceled));
        // With a default alone it returns at once.
        none.push_back(orca::default_case());
        auto d = co_await orca::select(none);
        CO_ASSERT_EQ(d.index(), 0);
      },
      kOneWorker);
}

TEST(DynamicSelect, DoneAndTimerCases) {
  orca::run(
      []() -> Task<void> {
        Channel<int> ch;
        auto [quit, cancel] = orca::with_cancel(orca::background());
        std::vector<SelectCase<int>> cases;
        cases.push_back(orca::recv(ch));
        cases.push_back(quit.done());
        int index = -2;
        std::error_code err;
        orca::go([&]() -> Task<void> {
          auto r = co_await orca::select(cases);
          index = r.index();
          err = r.done_error();
        });
        co_await until_parked(1);
        cancel();
        co_await until_parked(0);
        co_await orca::yield();
        CO_ASSERT_EQ(index, 1);
        CO_ASSERT_EQ(err, make_error_code(errc::canceled));
        // The timer case is a deadline: passed, it is ready.
        cases[1] = orca::after(1ms);
        auto t = co_await orca::select(cases);
        CO_ASSERT_EQ(t.index(), 1);
        auto again = co_await orca::select(cases);
        CO_ASSERT_EQ(again.index(), 1);
      },
      kOneWorker);
}

TEST(DynamicSelect, CaseListChangesBetweenSelects) {
  orca::run([]() -> Task<void> {
    std::vector<std::unique_ptr<Channel<int>>> chans;
    for (int c = 0; c < 12; ++c)
      chans.push_back(std::make_unique<Channel<int>>(1));
    std::vector<SelectCase<int>> cases;
    // Grow the list one case at a time, across the inline-scratch size; each new
    // channel holds the only value, so the newest case must be the one chosen.
    for (int c = 0; c < 12; ++c) {
      cases.push_back(orca::recv(*chans[static_cast<std::size_t>(c)]));
      CO_ASSERT_TRUE(chans[static_cast<std::size_t>(c)]->try_send(100 + c));
      auto r = co_await orca::select(cases);
      CO_ASSERT_EQ(r.index(), c);
      CO_ASSERT_EQ(*r.received(), 100 + c);
    }
    // Replace every even case by a send to the same channel; the receives still work.
    for (std::size_t c = 0; c < cases.size(); c += 2)
      cases[c] = orca::send(*chans[c], static_cast<int>(c));
    for (std::size_t round = 0; round < 6; ++round) {
      auto r = co_await orca::select(cases);
      CO_ASSERT_TRUE(r.index() % 2 == 0);  // only the sends can proceed
      CO_ASSERT_TRUE(r.sent());
    }
    for (std::size_t c = 0; c < cases.size(); c += 2)
      CO_ASSERT_EQ(*chans[c]->try_recv(), static_cast<int>(c));
    // Shrink: erase from the front; indices follow the list.
    cases.erase(cases.begin(), cases.begin() + 11);
    CO_ASSERT_TRUE(chans[11]->try_send(7));
    auto last = co_await orca::select(cases);
    CO_ASSERT_EQ(last.index(), 0);
    CO_ASSERT_EQ(*last.received(), 7);
  });
}

TEST(DynamicSelect, TwoDefaultCasesAreRejected) {
  std::vector<SelectCase<int>> cases;
  cases.push_back(orca::default_case());
  cases.push_back(orca::default_case().when(false));
  EXPECT_THROW((void)orca::select(cases), std::invalid_argument);
}

}  // namespace
