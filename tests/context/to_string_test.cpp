// to_string(ctx): the derivation chain from the root, deadlines as UTC time and
// remaining time, value keys by name, and whether the context is done, with what.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "context/context_test_support.hpp"
#include "orca/orca.hpp"

namespace {

using namespace std::chrono_literals;

inline const orca::ContextKey<std::string> kTraceId{"trace_id"};
inline const orca::ContextKey<int> kUser{"user"};

TEST(ContextToString, Roots) {
  EXPECT_EQ(orca::to_string(orca::background()), "background");
  EXPECT_EQ(orca::to_string(orca::todo()), "todo");
}

TEST(ContextToString, ChainOfDerivations) {
  auto [ctx, cancel] = orca::with_cancel(orca::background());
  const orca::Context valued = orca::with_value(ctx, kTraceId, "abc");
  const orca::Context detached = orca::without_cancel(orca::with_value(valued, kUser, 7));
  EXPECT_EQ(orca::to_string(valued), "background.with_cancel.with_value(trace_id)");
  EXPECT_EQ(orca::to_string(detached),
            "background.with_cancel.with_value(trace_id).with_value(user).without_cancel");
  cancel();
}

TEST(ContextToString, DoneShowsTheErrorAndACause) {
  auto [ctx, cancel] = orca::with_cancel(orca::todo());
  cancel();
  EXPECT_EQ(orca::to_string(ctx), "todo.with_cancel [done: context canceled]");
  auto [caused, cancel_caused] = orca::with_cancel_cause(orca::background());
  cancel_caused(std::make_error_code(std::errc::connection_reset));
  EXPECT_EQ(orca::to_string(caused),
            "background.with_cancel [done: context canceled, cause: " +
                std::make_error_code(std::errc::connection_reset).message() + "]");
  // A child of a done context is done from birth.
  const orca::Context child = orca::with_value(ctx, kUser, 1);
  EXPECT_EQ(orca::to_string(child), "todo.with_cancel.with_value(user) [done: context canceled]");
}

TEST(ContextToString, DeadlineShowsUtcTimeAndRemaining) {
  orca::run([]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 90s);
    const std::string got = orca::to_string(ctx);
    // e.g. background.with_deadline(2026-12-06T21:30:00.250Z, remaining 89.999s)
    const std::regex want(
        R"(background\.with_deadline\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z, remaining \d+\.\d{3}s\))");
    EXPECT_TRUE(std::regex_match(got, want))
        << "got " << got << ", want a match of the form "
        << "background.with_deadline(<UTC>, remaining <s.mmm>s)";
    // A later deadline under it gives no timer of its own: with_cancel (as in Go).
    auto [later, cancel_later] = orca::with_timeout(ctx, 1h);
    EXPECT_EQ(orca::to_string(later).substr(got.size()), ".with_cancel");
    cancel_later();
    cancel();
    const std::string done = orca::to_string(ctx);
    EXPECT_NE(done.find(" [done: context canceled]"), std::string::npos) << "got " << done;
    co_return;
  });
}

TEST(ContextToString, PassedDeadlineShowsNegativeRemaining) {
  orca::run([]() -> orca::Task<void> {
    auto [ctx, cancel] = orca::with_timeout(orca::background(), 1ms);
    co_await ctx.done();
    const std::string got = orca::to_string(ctx);
    EXPECT_NE(got.find(", remaining -0."), std::string::npos) << "got " << got;
    EXPECT_NE(got.find(" [done: context deadline exceeded]"), std::string::npos) << "got " << got;
    cancel();
  });
}

}  // namespace
