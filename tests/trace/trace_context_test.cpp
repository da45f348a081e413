// W3C traceparent parsing and formatting (span_context.hpp): the examples of the
// specification, and every malformed form it asks to refuse.
#include <gtest/gtest.h>

#include "orca/trace/span_context.hpp"

namespace orca::trace {
namespace {

constexpr const char* kExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Traceparent, ParsesTheSpecificationsExampleAndFormatsItBack) {
  const auto sc = parse_traceparent(kExample);
  ASSERT_TRUE(sc.has_value());
  EXPECT_EQ(sc->trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(sc->span_id.hex(), "00f067aa0ba902b7");
  EXPECT_TRUE(sc->sampled());
  EXPECT_EQ(format_traceparent(*sc), kExample);
  const auto unsampled =
      parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_FALSE(unsampled->sampled());
}

TEST(Traceparent, RefusesWhatTheSpecificationRefuses) {
  const char* bad[] = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    // short flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // v00 with more
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",   // wrong split
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero span id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version ff
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper case
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // not hex
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",   // separators
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",   // flags not hex
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // v01 bad tail
  };
  for (const char* h : bad)
    EXPECT_FALSE(parse_traceparent(h).has_value()) << "accepted \"" << h << "\"";
}

TEST(Traceparent, AFutureVersionIsReadByItsVersionZeroPrefix) {
  const auto sc =
      parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever");
  ASSERT_TRUE(sc.has_value());
  EXPECT_EQ(sc->span_id.hex(), "00f067aa0ba902b7");
  // And it is passed on as version 00.
  EXPECT_EQ(format_traceparent(*sc), kExample);
}

TEST(Traceparent, UnknownFlagsArePassedOnAsZero) {
  const auto sc = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
  ASSERT_TRUE(sc.has_value());
  EXPECT_EQ(sc->flags, 1);
}

TEST(Traceparent, TracestateIsPassedOnOnlyWhenPrintableAndBounded) {
  EXPECT_EQ(sanitize_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(sanitize_tracestate(std::string(513, 'a')), "");
  EXPECT_EQ(sanitize_tracestate("a=b\nc=d"), "");
}

TEST(TraceIds, RandomIdsAreValidAndDiffer) {
  const TraceId a = TraceId::random();
  const TraceId b = TraceId::random();
  EXPECT_TRUE(a.valid());
  EXPECT_NE(a.hex(), b.hex());
  EXPECT_EQ(TraceId::from_hex(a.hex())->hex(), a.hex());
  EXPECT_FALSE(TraceId::from_hex("00000000000000000000000000000000").has_value());
  EXPECT_FALSE(SpanId::from_hex("abc").has_value());
  EXPECT_TRUE(SpanId::random().valid());
}

TEST(TraceContextValue, TheNearestSpanContextWins) {
  const Context none = background();
  EXPECT_EQ(span_context_of(none), nullptr);
  const Context outer = with_span_context(none, *parse_traceparent(kExample));
  SpanContext inner_sc = *parse_traceparent(kExample);
  inner_sc.span_id = SpanId::random();
  const Context inner = with_span_context(outer, inner_sc);
  ASSERT_NE(span_context_of(inner), nullptr);
  EXPECT_EQ(span_context_of(inner)->span_id, inner_sc.span_id);
  EXPECT_EQ(span_context_of(outer)->span_id.hex(), "00f067aa0ba902b7");
}

}  // namespace
}  // namespace orca::trace
