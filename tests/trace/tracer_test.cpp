// Tracer and Span (tracer.hpp): parent links, the head sampling and the tail rule
// (errors and slow spans kept), the bounded ring, and propagation without a tracer.
#include <gtest/gtest.h>

#include <memory>

#include "orca/trace/tracer.hpp"

namespace orca::trace {
namespace {

// Installs a tracer for one test and uninstalls it after.
class GlobalTracer {
 public:
  explicit GlobalTracer(TracerOptions o) : tracer_(std::make_shared<Tracer>(std::move(o))) {
    set_global_tracer(tracer_);
  }
  ~GlobalTracer() { set_global_tracer(nullptr); }
  Tracer& operator*() const { return *tracer_; }
  Tracer* operator->() const { return tracer_.get(); }

 private:
  std::shared_ptr<Tracer> tracer_;
};

TEST(Tracer, AChildHasItsParentsTraceAndPointsAtItsSpan) {
  GlobalTracer tracer({});
  Span root = start_span(background(), "root", SpanKind::kServer);
  const Context ctx = with_span(background(), root);
  Span child = start_span(ctx, "child");
  const SpanContext root_sc = root.context();
  const SpanContext child_sc = child.context();
  child.set_attribute("n", std::int64_t{7});
  child.end();
  root.end();
  const std::vector<SpanData> spans = tracer->recent();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].name, "child");
  EXPECT_EQ(spans[0].context.trace_id, root_sc.trace_id);
  EXPECT_EQ(spans[0].parent_span_id, root_sc.span_id);
  EXPECT_EQ(spans[0].context.span_id, child_sc.span_id);
  EXPECT_EQ(std::get<std::int64_t>(*spans[0].attribute("n")), 7);
  EXPECT_FALSE(spans[1].parent_span_id.valid()) << "the root has no parent";
  EXPECT_LE(spans[1].start_unix_nano, spans[1].end_unix_nano);
}

TEST(Tracer, UnsampledSpansAreDroppedUnlessTheyFailOrAreSlow) {
  GlobalTracer tracer({.sample_ratio = 0.0, .slow_threshold = std::chrono::nanoseconds(0)});
  {
    Span fine = start_span(background(), "fine");
    EXPECT_FALSE(fine.context().sampled());
    Span failed = start_span(background(), "failed");
    failed.set_error("boom");
  }
  std::vector<SpanData> kept = tracer->recent();
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].name, "failed");
  EXPECT_EQ(kept[0].status, SpanStatus::kError);
  EXPECT_EQ(kept[0].status_message, "boom");
  EXPECT_EQ(tracer->stats().dropped, 1u);
  EXPECT_EQ(tracer->stats().kept, 1u);
}

TEST(Tracer, ASlowSpanIsKeptWhateverTheSampling) {
  // A threshold of 1 ns: every span is "slow", with no sleep.
  GlobalTracer tracer({.sample_ratio = 0.0, .slow_threshold = std::chrono::nanoseconds(1)});
  { Span slow = start_span(background(), "slow"); }
  EXPECT_EQ(tracer->recent().size(), 1u);
}

TEST(Tracer, AChildFollowsItsParentsSampledFlag) {
  GlobalTracer tracer({.sample_ratio = 1.0});
  SpanContext unsampled;
  unsampled.trace_id = TraceId::random();
  unsampled.span_id = SpanId::random();
  unsampled.flags = 0;
  Span child = start_span(with_span_context(background(), unsampled), "child");
  EXPECT_FALSE(child.context().sampled());
}

TEST(Tracer, TheRingKeepsTheNewestSpans) {
  GlobalTracer tracer({.recent_capacity = 3});
  for (int i = 0; i < 5; ++i)
    Span s = start_span(background(), "s" + std::to_string(i));
  const std::vector<SpanData> spans = tracer->recent();
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].name, "s2");
  EXPECT_EQ(spans[2].name, "s4");
}

TEST(Tracer, ABadRatioIsRefused) {
  EXPECT_THROW(Tracer({.sample_ratio = 1.5}), std::invalid_argument);
}

TEST(Tracer, WithoutATracerTheParentsContextIsPassedOn) {
  set_global_tracer(nullptr);
  const SpanContext parent =
      *parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  const Context ctx = with_span_context(background(), parent);
  Span passed = start_span(ctx, "x");
  EXPECT_FALSE(passed.recording());
  EXPECT_EQ(passed.context().span_id, parent.span_id);
  EXPECT_FALSE(start_child_span(background(), "y", SpanKind::kClient).context().valid());
  Span remote =
      start_remote_span(background(), format_traceparent(parent), "k=v", "z", SpanKind::kServer);
  EXPECT_EQ(remote.context().trace_id, parent.trace_id);
  EXPECT_EQ(remote.context().trace_state, "k=v");
}

TEST(Tracer, ABadTraceparentStartsAFreshTrace) {
  GlobalTracer tracer({});
  Span s =
      start_remote_span(background(), "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "",
                        "req", SpanKind::kServer);
  EXPECT_TRUE(s.context().valid());
  s.end();
  EXPECT_FALSE(tracer->recent().at(0).parent_span_id.valid());
}

}  // namespace
}  // namespace orca::trace
