// Conformance of the cancellation tree: a cancel reaches every descendant at any
// depth exactly once and nothing above or beside it; a child that is cancelled,
// expires or is dropped leaves its parent's child list at once, so a long-lived
// parent with a million short-lived children neither grows nor leaks.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "context/context_test_support.hpp"
#include "orca/orca.hpp"

namespace {

using namespace std::chrono_literals;
using orca_ctx_test::canceled;
using orca_ctx_test::deadline_exceeded;
using orca_ctx_test::ErrIs;
using orca_ctx_test::linked_children;

// Short-lived children of one long-lived parent: a million, as the issue asks. The
// loops are single-threaded, so a sanitizer has nothing to add beyond the first
// quarter million (which still leaks 30+ MiB, past the bound, if children leak).
constexpr int kManyChildren = orca_ctx_test::kSanitized ? 250'000 : 1'000'000;

TEST(CancelTree, ParentCancelReachesEveryKindOfDescendant) {
  orca::run([]() -> orca::Task<void> {
    const orca::ContextKey<int> key{"k"};
    auto [root, cancel] = orca::with_cancel(orca::background());
    auto [a, cancel_a] = orca::with_cancel(root);
    auto [b, cancel_b] = orca::with_cancel_cause(a);
    auto [c, cancel_c] = orca::with_timeout(b, 1h);
    const orca::Context d = orca::with_value(c, key, 4);
    auto [e, cancel_e] = orca::with_deadline(d, orca::Clock::now() + 2h);
    auto [f, cancel_f] = orca::with_cancel(orca::with_value(root, key, 6));
    const std::vector<std::pair<const char*, orca::Context>> all = {
        {"root", root},          {"a", a},         {"b", b},
        {"c (timeout)", c},      {"d (value)", d}, {"e (deadline)", e},
        {"f (under a value)", f}};
    for (const auto& [name, ctx] : all)
      EXPECT_TRUE(ErrIs(name, ctx.err(), {}));
    cancel();
    for (const auto& [name, ctx] : all)
      EXPECT_TRUE(ErrIs(name, ctx.err(), canceled()));
    cancel_c();
    cancel_e();
    co_return;
  });
}

TEST(CancelTree, ChildCancelLeavesParentAndSiblingsAlone) {
  auto [parent, cancel] = orca::with_cancel(orca::background());
  auto [left, cancel_left] = orca::with_cancel(parent);
  auto [right, cancel_right] = orca::with_cancel(parent);
  auto [left_child, cancel_left_child] = orca::with_cancel(left);
  auto [right_child, cancel_right_child] = orca::with_cancel(right);
  cancel_left();
  EXPECT_TRUE(ErrIs("left.err()", left.err(), canceled()));
  EXPECT_TRUE(ErrIs("left_child.err()", left_child.err(), canceled()));
  EXPECT_TRUE(ErrIs("parent.err()", parent.err(), {}));
  EXPECT_TRUE(ErrIs("right.err() (sibling)", right.err(), {}));
  EXPECT_TRUE(ErrIs("right_child.err() (cousin)", right_child.err(), {}));
  EXPECT_EQ(linked_children(parent), 1u) << "parent's children after cancelling one of two";
  cancel();
  EXPECT_TRUE(ErrIs("right_child.err() after the parent's cancel", right_child.err(), canceled()));
}

TEST(CancelTree, GrandchildCancelStopsAtItsOwnSubtree) {
  auto [root, cancel] = orca::with_cancel(orca::background());
  auto [mid, cancel_mid] = orca::with_cancel(root);
  auto [leaf, cancel_leaf] = orca::with_cancel(mid);
  auto [below_leaf, cancel_below] = orca::with_cancel(leaf);
  cancel_leaf();
  EXPECT_TRUE(ErrIs("below_leaf.err()", below_leaf.err(), canceled()));
  EXPECT_TRUE(ErrIs("mid.err()", mid.err(), {}));
  EXPECT_TRUE(ErrIs("root.err()", root.err(), {}));
  cancel();
}

TEST(CancelTree, ChildOfCancelledParentIsBornDone) {
  orca::run([]() -> orca::Task<void> {
    auto [parent, cancel] = orca::with_cancel_cause(orca::background());
    const std::error_code cause = std::make_error_code(std::errc::timed_out);
    cancel(cause);
    auto [child, cancel_child] = orca::with_cancel(parent);
    auto [timeout_child, cancel_timeout] = orca::with_timeout(parent, 1h);
    auto [deadline_child, cancel_deadline] = orca::with_deadline(parent, orca::Clock::now() - 1s);
    EXPECT_TRUE(ErrIs("with_cancel child.err()", child.err(), canceled()));
    EXPECT_TRUE(ErrIs("with_cancel child.cause()", child.cause(), cause));
    EXPECT_TRUE(ErrIs("with_timeout child.err()", timeout_child.err(), canceled()));
    // Already done through the parent, so its own passed deadline changes nothing.
    EXPECT_TRUE(ErrIs("with_deadline(past) child.err()", deadline_child.err(), canceled()));
    EXPECT_EQ(linked_children(parent), 0u) << "a cancelled parent's children";
    EXPECT_EQ(orca::stats().timers_pending, 0) << "timers armed for children born done";
    cancel_timeout();
    cancel_deadline();
    co_return;
  });
}

TEST(CancelTree, ChainOf10000CancelsEveryNodeExactlyOnce) {
  constexpr int kDepth = 10'000;
  std::vector<std::atomic<int>> calls(kDepth);
  std::atomic<int> total{0};
  orca::run(
      [&]() -> orca::Task<void> {
        std::vector<orca::Context> chain;
        std::vector<orca::CancelFunc> cancels;
        std::vector<orca::AfterFuncStop> stops;
        chain.reserve(kDepth);
        cancels.reserve(kDepth);
        stops.reserve(kDepth);
        orca::Context parent = orca::background();
        for (int i = 0; i < kDepth; ++i) {
          auto [ctx, cancel] = orca::with_cancel(parent);
          stops.push_back(orca::after_func(ctx, [&calls, &total, i] {
            calls[i].fetch_add(1);
            total.fetch_add(1);
          }));
          chain.push_back(ctx);
          cancels.push_back(cancel);
          parent = ctx;
        }
        auto leaf_waiter = orca::spawn([leaf = chain.back()]() -> orca::Task<std::error_code> {
          co_return co_await leaf.done();
        });
        cancels.front()();
        cancels.front()();  // idempotent
        for (const auto& cancel : cancels)
          cancel();  // each node again, already done through the root
        const std::error_code leaf_err = co_await std::move(leaf_waiter);
        EXPECT_TRUE(ErrIs("co_await leaf.done()", leaf_err, canceled()));
        int not_done = 0;
        for (const auto& ctx : chain)
          if (ctx.err() != canceled()) ++not_done;
        EXPECT_EQ(not_done, 0) << "nodes of the chain not cancelled with canceled";
        const bool all_ran = co_await orca_ctx_test::eventually([&] { return total == kDepth; });
        EXPECT_TRUE(all_ran) << "after_func calls: got " << total << ", want " << kDepth;
        co_await orca::sleep_for(2ms);  // room for a wrongly repeated call to show up
      },
      {.leak_check = orca::LeakCheck::kFail});
  int wrong = 0;
  for (int i = 0; i < kDepth; ++i)
    if (calls[i] != 1) ++wrong;
  EXPECT_EQ(wrong, 0) << "nodes whose after_func did not run exactly once";
  EXPECT_EQ(total.load(), kDepth) << "after_func calls in total";
}

TEST(CancelTree, DeepChainCancelsAndDropsWithoutRecursion) {
  // Deep enough that one stack frame per level would overflow an 8 MiB stack in a
  // debug build; cancel and release must both walk the chain iteratively.
  constexpr int kDepth = 150'000;
  auto [root, cancel] = orca::with_cancel(orca::background());
  orca::Context leaf = root;
  for (int i = 0; i < kDepth; ++i)
    leaf = orca::with_cancel(leaf).first;  // cancel functions dropped: the leaf owns the chain
  cancel();
  EXPECT_TRUE(ErrIs("leaf.err()", leaf.err(), canceled()));
  leaf = orca::background();  // drops the whole chain
  EXPECT_EQ(linked_children(root), 0u);

  // Uncancelled, a chain of value and cancel nodes is released the same way.
  orca::Context deep = orca::background();
  const orca::ContextKey<int> key{"depth"};
  for (int i = 0; i < kDepth; ++i)
    deep = (i % 2 == 0) ? orca::with_value(deep, key, i) : orca::with_cancel(deep).first;
  ASSERT_NE(deep.value(key), nullptr);
  EXPECT_EQ(*deep.value(key), kDepth - 2);
  deep = orca::background();
}

TEST(CancelTree, AfterFuncOnParentMayCancelAChildWhileTheParentIsCancelling) {
  // The after_func runs in its own task, possibly while the parent's cancel is
  // still walking its children: cancelling the child there must neither deadlock
  // nor cancel anything twice.
  std::atomic<int> child_calls{0};
  orca::WaitGroup wg;  // outlives the runtime: a done() may still be returning when wait() does
  orca::run([&]() -> orca::Task<void> {
    for (int round = 0; round < 200; ++round) {
      auto [parent, cancel] = orca::with_cancel(orca::background());
      auto [child, cancel_child] = orca::with_timeout(parent, 1h);
      auto stop_child = orca::after_func(child, [&child_calls] { child_calls.fetch_add(1); });
      wg.add(1);
      auto stop = orca::after_func(parent, [cancel_child = cancel_child, &wg] {
        cancel_child();
        wg.done();
      });
      cancel();
      (void)co_await wg.wait();
      EXPECT_TRUE(ErrIs("child.err()", child.err(), canceled()));
    }
    const bool all = co_await orca_ctx_test::eventually([&] { return child_calls == 200; });
    EXPECT_TRUE(all) << "child after_func calls: got " << child_calls << ", want 200";
    EXPECT_EQ(orca::stats().timers_pending, 0) << "timers left armed";
  });
  EXPECT_EQ(child_calls.load(), 200);
}

// Go's TestLayersCancel, in our terms: a random stack of value, cancel and timeout
// layers; cancelling one layer ends it and everything below, nothing above.
TEST(CancelTree, RandomLayersCancelExactlyTheLayersBelow) {
  orca::run([]() -> orca::Task<void> {
    const orca::ContextKey<int> key{"layer"};
    for (unsigned seed = 1; seed <= 50; ++seed) {
      std::mt19937 rng(seed);
      std::vector<orca::Context> layers{orca::background()};
      std::vector<std::pair<std::size_t, orca::CancelFunc>> cancels;  // layer index, cancel
      for (int i = 0; i < 20; ++i) {
        const orca::Context& top = layers.back();
        switch (rng() % 3) {
          case 0:
            layers.push_back(orca::with_value(top, key, i));
            break;
          case 1: {
            auto [ctx, cancel] = orca::with_cancel(top);
            layers.push_back(ctx);
            cancels.emplace_back(layers.size() - 1, cancel);
            break;
          }
          case 2: {
            auto [ctx, cancel] = orca::with_timeout(top, 1h);
            layers.push_back(ctx);
            cancels.emplace_back(layers.size() - 1, cancel);
            break;
          }
        }
      }
      if (cancels.empty()) continue;
      const std::size_t pick = rng() % cancels.size();
      const std::size_t cut = cancels[pick].first;
      cancels[pick].second();
      for (std::size_t i = 0; i < layers.size(); ++i) {
        const std::error_code want = i >= cut ? canceled() : std::error_code{};
        const std::string name = "seed " + std::to_string(seed) + " layer " + std::to_string(i) +
                                 " (cancelled layer " + std::to_string(cut) + ")";
        EXPECT_TRUE(ErrIs(name.c_str(), layers[i].err(), want));
      }
      for (auto& [index, cancel] : cancels)
        cancel();
    }
    EXPECT_EQ(orca::stats().timers_pending, 0) << "timers left armed";
    co_return;
  });
}

TEST(Unlink, CancelledChildLeavesItsParentAtOnce) {
  auto [parent, cancel] = orca::with_cancel(orca::background());
  auto [a, cancel_a] = orca::with_cancel(parent);
  auto [b, cancel_b] = orca::with_cancel_cause(parent);
  auto [c, cancel_c] = orca::with_cancel(parent);
  EXPECT_EQ(linked_children(parent), 3u);
  cancel_b(std::make_error_code(std::errc::timed_out));
  EXPECT_EQ(linked_children(parent), 2u) << "after cancelling one of three (handles still held)";
  cancel_a();
  cancel_c();
  EXPECT_EQ(linked_children(parent), 0u) << "after cancelling all three (handles still held)";
  cancel();
}

TEST(Unlink, ChildUnderAValueLayerLeavesTheCancellableAncestor) {
  const orca::ContextKey<int> key{"k"};
  auto [parent, cancel] = orca::with_cancel(orca::background());
  const orca::Context valued = orca::with_value(orca::with_value(parent, key, 1), key, 2);
  auto [child, cancel_child] = orca::with_cancel(valued);
  EXPECT_EQ(linked_children(parent), 1u) << "a child under value layers links to the canceller";
  cancel_child();
  EXPECT_EQ(linked_children(parent), 0u);
  cancel();
}

TEST(Unlink, DroppedChildLeavesItsParent) {
  auto [parent, cancel] = orca::with_cancel(orca::background());
  {
    auto [child, cancel_child] = orca::with_cancel(parent);
    auto [grandchild, cancel_grandchild] = orca::with_cancel(child);
    EXPECT_EQ(linked_children(parent), 1u);
  }
  EXPECT_EQ(linked_children(parent), 0u) << "children after dropping every handle of the child";
  cancel();
}

TEST(Unlink, ExpiredChildrenLeaveTheirParentWhileStillHeld) {
  orca::run([]() -> orca::Task<void> {
    auto [parent, cancel] = orca::with_cancel(orca::background());
    std::vector<std::pair<orca::Context, orca::CancelFunc>> children;
    for (int i = 0; i < 1000; ++i)
      children.push_back(orca::with_timeout(parent, 1ms));
    for (const auto& [child, cancel_child] : children) {
      const std::error_code err = co_await child.done();
      EXPECT_TRUE(ErrIs("child.done()", err, deadline_exceeded()));
    }
    EXPECT_EQ(linked_children(parent), 0u) << "children left after all 1000 expired";
    EXPECT_TRUE(ErrIs("parent.err()", parent.err(), {}));
    cancel();
  });
}

TEST(Unlink, ManyCancelledChildrenLeaveTheParentEmpty) {
  orca::run([]() -> orca::Task<void> {
    auto [parent, cancel] = orca::with_cancel(orca::background());
    const std::size_t bytes_before = orca::stats().frame_pool_bytes;
    std::size_t worst = 0;
    for (int i = 0; i < kManyChildren; ++i) {
      auto [child, cancel_child] = orca::with_cancel(parent);
      cancel_child();
      if (i % 100'000 == 0) worst = std::max(worst, linked_children(parent));
    }
    const std::size_t bytes_after = orca::stats().frame_pool_bytes;
    EXPECT_EQ(worst, 0u) << "children linked while cancelled ones are dropped";
    EXPECT_EQ(linked_children(parent), 0u) << "children after " << kManyChildren << " cancelled";
    EXPECT_LT(bytes_after - bytes_before, std::size_t{16} << 20)
        << "frame pool grew from " << bytes_before << " to " << bytes_after << " bytes";
    EXPECT_TRUE(ErrIs("parent.err()", parent.err(), {}));
    cancel();
    co_return;
  });
}

TEST(Unlink, ManyCancelledTimeoutChildrenLeaveTheParentEmpty) {
  orca::run([]() -> orca::Task<void> {
    auto [parent, cancel] = orca::with_cancel(orca::background());
    const std::size_t bytes_before = orca::stats().frame_pool_bytes;
    std::size_t worst = 0;
    for (int i = 0; i < kManyChildren; ++i) {
      auto [child, cancel_child] = orca::with_timeout(parent, 1h);
      cancel_child();
      if (i % 100'000 == 0) worst = std::max(worst, linked_children(parent));
    }
    const std::size_t bytes_after = orca::stats().frame_pool_bytes;
    EXPECT_EQ(worst, 0u) << "children linked while cancelled ones are dropped";
    EXPECT_EQ(linked_children(parent), 0u) << "children after " << kManyChildren << " cancelled";
    EXPECT_EQ(orca::stats().timers_pending, 0) << "timers left armed after every cancel";
    EXPECT_LT(bytes_after - bytes_before, std::size_t{16} << 20)
        << "frame pool grew from " << bytes_before << " to " << bytes_after << " bytes";
    cancel();
    co_return;
  });
}

TEST(Unlink, ManyDroppedChildrenLeaveTheParentEmpty) {
  auto [parent, cancel] = orca::with_cancel(orca::background());
  const std::size_t bytes_before = orca::detail::frame_pool_bytes();
  for (int i = 0; i < kManyChildren; ++i)
    (void)orca::with_cancel(parent);  // never cancelled: dropping must unlink it
  const std::size_t bytes_after = orca::detail::frame_pool_bytes();
  EXPECT_EQ(linked_children(parent), 0u) << "children after " << kManyChildren << " dropped";
  EXPECT_LT(bytes_after - bytes_before, std::size_t{16} << 20)
      << "frame pool grew from " << bytes_before << " to " << bytes_after << " bytes";
  cancel();
}

}  // namespace
