// Stress: many producers and consumers on four workers, with and without
// buffering, with cancellation and close racing the hand-overs. Every value must
// be accounted for exactly once: received, or handed back to its sender.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <vector>

#include "support/perturbation.hpp"
#include "sync/sync_test_support.hpp"

using orca::Channel;
using orca::errc;
using orca::Task;
using orca_test::kFourWorkers;

namespace {

// A tenth of `n` under schedule perturbation: each operation is slower there, and
// its delays reach the rare interleavings in fewer rounds.
int scaled(int n) {
  return orca_test::perturbed() ? n / 10 : n;
}

// Each value received exactly once: per-value counters, plus count and sum.
class Ledger {
 public:
  explicit Ledger(int n) : seen_(static_cast<std::size_t>(n)) {}
  void received(int v) {
    seen_[static_cast<std::size_t>(v)].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
  }
  int times(int v) const { return seen_[static_cast<std::size_t>(v)].load(); }
  void expect_each_once(int n) const {
    EXPECT_EQ(count_.load(), n);
    EXPECT_EQ(sum_.load(), static_cast<long long>(n) * (n - 1) / 2);
    for (int i = 0; i < n; ++i)
      ASSERT_EQ(seen_[static_cast<std::size_t>(i)].load(), 1) << "value " << i;
  }

 private:
  std::vector<std::atomic<int>> seen_;
  std::atomic<int> count_{0};
  std::atomic<long long> sum_{0};
};

void run_mpmc(std::size_t capacity, int producers, int consumers, int per_producer) {
  const int total = producers * per_producer;
  Ledger ledger(total);
  orca::run(
      [&]() -> Task<void> {
        Channel<int> ch(capacity);
        orca::WaitGroup sent;
        orca::WaitGroup drained;
        sent.add(producers);
        drained.add(consumers);
        for (int p = 0; p < producers; ++p) {
          orca::go([&, p]() -> Task<void> {
            for (int i = 0; i < per_producer; ++i)
              CO_EXPECT_TRUE(co_await ch.send(p * per_producer + i));
            sent.done();
          });
        }
        for (int c = 0; c < consumers; ++c) {
          orca::go([&]() -> Task<void> {
            while (auto v = co_await ch.recv())
              ledger.received(*v);
            drained.done();
          });
        }
        (void)co_await sent.wait();
        CO_ASSERT_TRUE(ch.close());
        (void)co_await drained.wait();
      },
      kFourWorkers);
  ledger.expect_each_once(total);
}

TEST(ChannelStress, MpmcBufferedEveryValueExactlyOnce) {
  run_mpmc(64, 8, 8, scaled(20'000));
}

TEST(ChannelStress, MpmcRendezvousEveryValueExactlyOnce) {
  run_mpmc(0, 8, 8, scaled(10'000));
}

TEST(ChannelStress, MpmcTinyBufferManyTasks) {
  run_mpmc(1, 32, 32, 1'000);
}

TEST(ChannelStress, SelectConsumersOverTwoChannels) {
  const int kPerChannel = scaled(20'000);
  Ledger ledger(2 * kPerChannel);
  orca::run(
      [&]() -> Task<void> {
        Channel<int> a(16);
        Channel<int> b;
        orca::WaitGroup sent;
        orca::WaitGroup drained;
        sent.add(4);
        for (int p = 0; p < 4; ++p) {
          orca::go([&, p]() -> Task<void> {
            Channel<int>& ch = p % 2 == 0 ? a : b;
            const int base = (p % 2) * kPerChannel + (p / 2) * (kPerChannel / 2);
            for (int i = 0; i < kPerChannel / 2; ++i)
              CO_EXPECT_TRUE(co_await ch.send(base + i));
            sent.done();
          });
        }
        constexpr int kConsumers = 6;
        drained.add(kConsumers);
        for (int c = 0; c < kConsumers; ++c) {
          orca::go([&]() -> Task<void> {
            Channel<int>* pa = &a;
            Channel<int>* pb = &b;
            while (pa != nullptr || pb != nullptr) {
              auto r = co_await orca::select(orca::recv(pa), orca::recv(pb));
              auto& v = r.index() == 0 ? r.get<0>() : r.get<1>();
              if (v) {
                ledger.received(*v);
              } else {
                (r.index() == 0 ? pa : pb) = nullptr;
              }
            }
            drained.done();
          });
        }
        (void)co_await sent.wait();
        CO_ASSERT_TRUE(a.close());
        CO_ASSERT_TRUE(b.close());
        (void)co_await drained.wait();
      },
      kFourWorkers);
  ledger.expect_each_once(2 * kPerChannel);
}

TEST(ChannelStress, CancellationRacesHandOver) {
  // Senders and receivers whose contexts are cancelled while they may be mid
  // hand-over. Each value ends either received (once) or back with its sender.
  constexpr int kSenders = 8;
  const int kPerSender = scaled(3'000);
  const int kTotal = kSenders * kPerSender;
  Ledger ledger(kTotal);
  std::atomic<int> returned{0};
  std::vector<std::atomic<int>> returned_value(kTotal);
  orca::run(
      [&]() -> Task<void> {
        Channel<std::unique_ptr<int>> ch;
        orca::WaitGroup sent;
        orca::WaitGroup drained;
        sent.add(kSenders);
        for (int s = 0; s < kSenders; ++s) {
          orca::go([&, s]() -> Task<void> {
            for (int i = 0; i < kPerSender; ++i) {
              auto [ctx, cancel] = orca::with_cancel(orca::background());
              if (i % 10 == 0) {
                cancel();               // certainly returned
              } else if (i % 5 == 0) {  // cancelled while it may be mid hand-over
                orca::go([cancel = cancel]() -> Task<void> {
                  co_await orca::yield();
                  cancel();
                });
              }
              const int v = s * kPerSender + i;
              auto r = co_await ch.send(ctx, std::make_unique<int>(v));
              if (!r) {
                EXPECT_EQ(*r.unsent(), v);
                returned_value[static_cast<std::size_t>(v)].fetch_add(1);
                returned.fetch_add(1);
              }
              cancel();
            }
            sent.done();
          });
        }
        constexpr int kReceivers = 6;
        drained.add(kReceivers);
        for (int c = 0; c < kReceivers; ++c) {
          orca::go([&, c]() -> Task<void> {
            for (int i = 0;; ++i) {
              auto [ctx, cancel] = orca::with_cancel(orca::background());
              if ((i + c) % 7 == 0) cancel();
              auto v = co_await ch.recv(ctx);
              cancel();
              if (v) {
                ledger.received(**v);
              } else if (v.error() == errc::closed) {
                break;
              }
            }
            drained.done();
          });
        }
        (void)co_await sent.wait();
        CO_ASSERT_TRUE(ch.close());
        (void)co_await drained.wait();
      },
      kFourWorkers);
  // Each value either received once or returned once, never both, never neither.
  for (int v = 0; v < kTotal; ++v) {
    ASSERT_EQ(ledger.times(v) + returned_value[static_cast<std::size_t>(v)].load(), 1)
        << "value " << v << ": received " << ledger.times(v) << " times, returned "
        << returned_value[static_cast<std::size_t>(v)].load() << " times";
  }
  EXPECT_GT(returned.load(), 0);
}

TEST(ChannelStress, CloseWhileSendersAndReceiversAreParked) {
  // Close with many parked senders (rendezvous, no receivers left) and receivers
  // on another channel: every one wakes with closed; sent values come back.
  constexpr int kTasks = 64;
  std::atomic<int> senders_closed{0};
  std::atomic<int> receivers_closed{0};
  orca::run(
      [&]() -> Task<void> {
        Channel<int> in;
        Channel<int> out;
        orca::WaitGroup wg;
        wg.add(2 * kTasks);
        for (int i = 0; i < kTasks; ++i) {
          orca::go([&, i]() -> Task<void> {
            auto r = co_await in.send(i);
            if (r.error() == errc::closed && r.unsent() == i) senders_closed.fetch_add(1);
            wg.done();
          });
          orca::go([&]() -> Task<void> {
            auto v = co_await out.recv();
            if (v.error() == errc::closed) receivers_closed.fetch_add(1);
            wg.done();
          });
        }
        co_await orca_test::until_parked(2 * kTasks);
        CO_ASSERT_TRUE(in.close());
        CO_ASSERT_TRUE(out.close());
        (void)co_await wg.wait();
      },
      kFourWorkers);
  EXPECT_EQ(senders_closed.load(), kTasks);
  EXPECT_EQ(receivers_closed.load(), kTasks);
}

}  // namespace
