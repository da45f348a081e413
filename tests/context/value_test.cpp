// Conformance of context values and without_cancel: lookup finds the nearest key,
// keys are told apart by identity (never by name or type), a value lives as long
// as any context that can reach it, and without_cancel keeps the values while
// dropping the parent's cancellation and deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
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

template <class T>
std::string show_value(const T* v) {
  if (v == nullptr) return "nullptr";
  if constexpr (std::is_same_v<T, std::string>) {
    return "\"" + *v + "\"";
  } else {
    return std::to_string(*v);
  }
}

// EXPECT_TRUE(ValueIs("ctx[key]", ctx.value(key), 3)); nullopt wants nullptr.
template <class T>
::testing::AssertionResult ValueIs(const char* what, const T* got, std::optional<T> want) {
  if (got == nullptr && !want) return ::testing::AssertionSuccess();
  if (got != nullptr && want && *got == *want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": got " << show_value(got) << ", want "
                                       << (want ? show_value(&*want) : "nullptr");
}

TEST(Value, LookupFindsTheNearestKey) {
  const orca::ContextKey<int> key{"k"};
  const orca::Context outer = orca::with_value(orca::background(), key, 1);
  const orca::Context inner = orca::with_value(outer, key, 2);
  auto [below, cancel] = orca::with_cancel(inner);
  const orca::Context innermost = orca::with_value(below, key, 3);
  EXPECT_TRUE(ValueIs<int>("outer[k]", outer.value(key), 1));
  EXPECT_TRUE(ValueIs<int>("inner[k] (shadows outer)", inner.value(key), 2));
  EXPECT_TRUE(ValueIs<int>("with_cancel child of inner [k]", below.value(key), 2));
  EXPECT_TRUE(ValueIs<int>("innermost[k]", innermost.value(key), 3));
  cancel();
}

TEST(Value, KeysOfDifferentTypesWithTheSameNameNeverCollide) {
  const orca::ContextKey<int> as_int{"same"};
  const orca::ContextKey<long> as_long{"same"};
  const orca::ContextKey<std::string> as_string{"same"};
  const orca::Context ctx = orca::with_value(orca::background(), as_int, 42);
  EXPECT_TRUE(ValueIs<int>("ctx[int key]", ctx.value(as_int), 42));
  EXPECT_TRUE(ValueIs<long>("ctx[long key, same name]", ctx.value(as_long), std::nullopt));
  EXPECT_TRUE(
      ValueIs<std::string>("ctx[string key, same name]", ctx.value(as_string), std::nullopt));
  const orca::Context both = orca::with_value(ctx, as_string, std::string("text"));
  EXPECT_TRUE(ValueIs<int>("both[int key]", both.value(as_int), 42));
  EXPECT_TRUE(ValueIs<std::string>("both[string key]", both.value(as_string), "text"));
  EXPECT_STREQ(as_int.name(), "same");
}

TEST(Value, DistinctKeyObjectsOfTheSameTypeNeverCollide) {
  const orca::ContextKey<int> first{"k"};
  const orca::ContextKey<int> second{"k"};
  const orca::Context ctx = orca::with_value(orca::background(), first, 1);
  EXPECT_TRUE(ValueIs<int>("ctx[first]", ctx.value(first), 1));
  EXPECT_TRUE(ValueIs<int>("ctx[second, same type and name]", ctx.value(second), std::nullopt));
  const orca::Context both = orca::with_value(ctx, second, 2);
  EXPECT_TRUE(ValueIs<int>("both[first]", both.value(first), 1));
  EXPECT_TRUE(ValueIs<int>("both[second]", both.value(second), 2));
}

TEST(Value, MissingKeyReturnsNullptr) {
  const orca::ContextKey<int> present{"present"};
  const orca::ContextKey<int> missing{"missing"};
  EXPECT_TRUE(ValueIs<int>("background()[k]", orca::background().value(missing), std::nullopt));
  EXPECT_TRUE(ValueIs<int>("todo()[k]", orca::todo().value(missing), std::nullopt));
  auto [ctx, cancel] = orca::with_cancel(orca::with_value(orca::background(), present, 1));
  EXPECT_TRUE(ValueIs<int>("ctx[missing]", ctx.value(missing), std::nullopt));
  cancel();
  EXPECT_TRUE(ValueIs<int>("cancelled ctx[present]", ctx.value(present), 1));
}

TEST(Value, LookupWalksThroughEveryKindOfLayer) {
  orca::run([]() -> orca::Task<void> {
    const orca::ContextKey<std::string> key{"trace"};
    const orca::Context root = orca::with_value(orca::background(), key, "abc");
    auto [a, cancel_a] = orca::with_cancel(root);
    auto [b, cancel_b] = orca::with_cancel_cause(a);
    auto [c, cancel_c] = orca::with_timeout(b, 1h);
    auto [d, cancel_d] = orca::with_deadline(c, orca::Clock::now() - 1s);  // born expired
    const orca::Context e = orca::without_cancel(d);
    auto [f, cancel_f] = orca::with_cancel(e);
    EXPECT_TRUE(ValueIs<std::string>("leaf[trace]", f.value(key), "abc"));
    EXPECT_EQ(f.value(key), root.value(key)) << "the leaf found a different object than the root";
    cancel_a();
    cancel_f();
    co_return;
  });
}

TEST(Value, DeepChainFindsTheRootKey) {
  const orca::ContextKey<int> root_key{"root"};
  const orca::ContextKey<int> layer_key{"layer"};
  orca::Context ctx = orca::with_value(orca::background(), root_key, -1);
  for (int i = 0; i < 10'000; ++i)
    ctx = orca::with_value(ctx, layer_key, i);
  EXPECT_TRUE(ValueIs<int>("leaf[root]", ctx.value(root_key), -1));
  EXPECT_TRUE(ValueIs<int>("leaf[layer]", ctx.value(layer_key), 9'999));
}

TEST(Value, LivesAsLongAsACopyOfTheContext) {
  const orca::ContextKey<std::string> key{"k"};
  // Long enough to live on the heap, so a use after free shows under ASan.
  const std::string text(200, 'x');
  std::optional<orca::Context> copy;
  {
    const orca::Context ctx = orca::with_value(orca::background(), key, text);
    copy = ctx;
  }
  EXPECT_TRUE(ValueIs<std::string>("copy[k] after the original died", copy->value(key), text));
  // A child keeps its ancestors' values alive too.
  auto [child, cancel] = orca::with_cancel(*copy);
  copy.reset();
  EXPECT_TRUE(ValueIs<std::string>("child[k] after its parent died", child.value(key), text));
  cancel();
}

TEST(Value, IsDestroyedExactlyOnceWithTheLastContext) {
  const orca::ContextKey<orca_ctx_test::Counted> key{"counted"};
  orca_ctx_test::LifetimeCounts counts;
  {
    orca::Context ctx =
        orca::with_value(orca::background(), key, orca_ctx_test::Counted(counts, 5));
    orca::Context copy = ctx;
    ctx = orca::background();
    EXPECT_EQ(counts.alive(), 1) << "values alive while one context holds it: "
                                 << counts.describe();
    ASSERT_NE(copy.value(key), nullptr);
    EXPECT_EQ(copy.value(key)->value(), 5);
  }
  EXPECT_EQ(counts.alive(), 0) << "values alive after the last context died: " << counts.describe();
  EXPECT_EQ(counts.copied.load(), 0) << "with_value copied an rvalue: " << counts.describe();
}

TEST(Value, SurvivesInATaskAfterTheCreatorDropsIt) {
  const orca::ContextKey<std::string> key{"k"};
  std::string seen;
  orca::run([&]() -> orca::Task<void> {
    orca::Context ctx = orca::with_value(orca::background(), key, std::string(100, 'y'));
    auto task = orca::spawn([ctx, &key, &seen]() -> orca::Task<void> {
      co_await orca::sleep_for(1ms);  // the creator drops its handle meanwhile
      const std::string* v = ctx.value(key);
      seen = v != nullptr ? *v : "<missing>";
    });
    ctx = orca::background();
    co_await std::move(task);
  });
  EXPECT_EQ(seen, std::string(100, 'y'));
}

TEST(Value, HoldsMoveOnlyValues) {
  const orca::ContextKey<std::unique_ptr<int>> key{"owned"};
  const orca::Context ctx = orca::with_value(orca::background(), key, std::make_unique<int>(9));
  ASSERT_NE(ctx.value(key), nullptr);
  ASSERT_NE(*ctx.value(key), nullptr);
  EXPECT_EQ(**ctx.value(key), 9);
}

struct ThrowsOnConstruction {
  explicit ThrowsOnConstruction(int) { throw std::runtime_error("no value today"); }
};

TEST(Value, ConstructorThatThrowsLeavesTheParentUntouched) {
  const orca::ContextKey<ThrowsOnConstruction> key{"throws"};
  auto [parent, cancel] = orca::with_cancel(orca::background());
  const std::uint32_t refs_before = parent.node()->refs.load();
  EXPECT_THROW((void)orca::with_value(parent, key, 1), std::runtime_error);
  EXPECT_EQ(parent.node()->refs.load(), refs_before)
      << "parent references after a failed with_value";
  cancel();
}

TEST(WithoutCancel, KeepsValues) {
  const orca::ContextKey<int> key{"k"};
  auto [parent, cancel] = orca::with_cancel(orca::with_value(orca::background(), key, 7));
  const orca::Context detached = orca::without_cancel(parent);
  EXPECT_TRUE(ValueIs<int>("detached[k]", detached.value(key), 7));
  cancel();
  EXPECT_TRUE(ValueIs<int>("detached[k] after the parent's cancel", detached.value(key), 7));
}

TEST(WithoutCancel, KeepsValuesAfterTheParentIsDropped) {
  const orca::ContextKey<std::string> key{"k"};
  std::optional<orca::Context> detached;
  {
    auto [parent, cancel] =
        orca::with_cancel(orca::with_value(orca::background(), key, std::string(100, 'z')));
    detached = orca::without_cancel(parent);
    cancel();
  }
  EXPECT_TRUE(ValueIs<std::string>("detached[k]", detached->value(key), std::string(100, 'z')));
}

TEST(WithoutCancel, DropsTheParentsCancellation) {
  auto [parent, cancel] = orca::with_cancel_cause(orca::background());
  const orca::Context detached = orca::without_cancel(parent);
  auto [child, cancel_child] = orca::with_cancel(detached);
  EXPECT_EQ(linked_children(parent), 0u) << "a child of without_cancel linked under the parent";
  cancel(std::make_error_code(std::errc::timed_out));
  EXPECT_TRUE(ErrIs("detached.err()", detached.err(), {}));
  EXPECT_TRUE(ErrIs("detached.cause()", detached.cause(), {}));
  EXPECT_FALSE(detached.is_done());
  EXPECT_TRUE(ErrIs("child of detached .err()", child.err(), {}));
  cancel_child();
  EXPECT_TRUE(ErrIs("child of detached after its own cancel", child.err(), canceled()));
}

TEST(WithoutCancel, OfACancelledParentIsNotDone) {
  auto [parent, cancel] = orca::with_cancel(orca::background());
  cancel();
  const orca::Context detached = orca::without_cancel(parent);
  EXPECT_TRUE(ErrIs("without_cancel(cancelled).err()", detached.err(), {}));
  auto [child, cancel_child] = orca::with_cancel(detached);
  EXPECT_TRUE(ErrIs("its child's err()", child.err(), {}));
  cancel_child();
}

TEST(WithoutCancel, DropsTheParentsDeadline) {
  orca::run([]() -> orca::Task<void> {
    auto [parent, cancel] = orca::with_timeout(orca::background(), 5ms);
    const orca::Context detached = orca::without_cancel(parent);
    EXPECT_FALSE(detached.deadline().has_value()) << "detached.deadline(): got one, want none";
    auto [own, cancel_own] = orca::with_timeout(detached, 1h);
    EXPECT_TRUE(own.deadline().has_value()) << "own.deadline(): got none, want one";
    if (own.deadline()) {
      EXPECT_GT(*own.deadline(), *parent.deadline())
          << "a child of without_cancel inherited the dropped deadline";
    }
    const std::error_code got = co_await parent.done();
    EXPECT_TRUE(ErrIs("parent.done()", got, deadline_exceeded()));
    EXPECT_TRUE(ErrIs("detached.err() after the parent expired", detached.err(), {}));
    EXPECT_TRUE(ErrIs("own.err() after the parent expired", own.err(), {}));
    cancel_own();
    cancel();
  });
}

TEST(WithoutCancel, OfAnExpiredParentIsNotDone) {
  auto [parent, cancel] = orca::with_deadline(orca::background(), orca::Clock::now() - 1s);
  const orca::Context detached = orca::without_cancel(parent);
  EXPECT_TRUE(ErrIs("without_cancel(expired).err()", detached.err(), {}));
  EXPECT_FALSE(detached.deadline().has_value());
}

}  // namespace
