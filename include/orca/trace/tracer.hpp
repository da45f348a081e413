// Tracer and Span: spans recorded by orca's own layers (an HTTP request served, a job
// attempt, an outgoing HTTP call or Redis command), kept in a bounded ring of recent
// spans and handed to sinks (exporters, batch_exporter.hpp).
//
//   auto tracer = std::make_shared<orca::trace::Tracer>(orca::trace::TracerOptions{});
//   tracer->add_sink(exporter);
//   orca::trace::set_global_tracer(tracer);          // orca's layers record from now on
//   orca::trace::Span span = orca::trace::start_span(ctx, "charge card");
//   orca::Context child = orca::trace::with_span(ctx, span);  // its calls are children
//   ... span.set_error("card declined"); ...          // ends when destroyed, or end()
//
// One tracer per process, installed globally (as OpenTelemetry's global provider):
// the HTTP server and client, the Redis connection and the job nodes find it there,
// so no option struct has to name it. Without one, spans do not record but contexts
// still propagate: a request's traceparent reaches the jobs and calls it makes.
//
// Sampling, in two steps:
//  1. head: a span with a parent follows its parent's sampled flag; a new trace is
//     sampled with probability `sample_ratio`, decided from its trace id (so every
//     process decides a trace alike). The flag travels in traceparent.
//  2. tail: every span is recorded while it runs; at its end it is kept if sampled,
//     or if it failed (keep_errors), or if it took slow_threshold or more. Only kept
//     spans reach the ring and the sinks.
// A kept unsampled span may lack its parent in the export (its parent was fast): the
// price of keeping errors and slow spans without buffering whole traces.
//
// Thread safety: a Span belongs to one task at a time (move it, do not share it); a
// Tracer and the global functions may be used from any thread. Sinks are called at
// span end on the ending thread, under no lock of the tracer's: they must be quick
// and never block (BatchExporter copies into a bounded queue).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/trace/span_context.hpp"
#include "orca/trace/span_data.hpp"

namespace orca::trace {

// Receives every kept span (the tracer's sinks).
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void on_end(const SpanData& span) noexcept = 0;
};

struct TracerOptions {
  // The resource's service.name in exports.
  std::string service_name = "orca";
  // Share of new traces sampled, 0..1.
  double sample_ratio = 1.0;
  // Spans at least this long are kept whatever the sampling; zero: no such rule.
  // 500 ms: the P99 threshold orca's alerts use.
  std::chrono::nanoseconds slow_threshold = std::chrono::milliseconds(500);
  // Failed spans are kept whatever the sampling.
  bool keep_errors = true;
  // Kept spans remembered for recent() (a dashboard's trace view). 0: none.
  std::size_t recent_capacity = 1024;
};

struct TracerStats {
  std::uint64_t started = 0;  // recording spans started
  std::uint64_t kept = 0;     // ended and kept (sampled, failed or slow)
  std::uint64_t dropped = 0;  // ended and not kept (unsampled, fast, fine)
};

class Tracer;

class Span {
 public:
  // A span that records nothing and carries no context.
  Span() noexcept = default;
  Span(Span&& other) noexcept;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span() { end(); }
  // A span that records nothing and carries `sc` (a parent's context passed on when
  // no tracer is installed), or nothing if `sc` is invalid.
  static Span non_recording(SpanContext sc);

  // Its context (invalid for a default Span); a non-recording span started under a
  // parent carries the parent's context, so propagation works without a tracer.
  const SpanContext& context() const noexcept { return context_; }
  bool recording() const noexcept { return data_ != nullptr; }

  // The name it was started with or given; empty when not recording.
  std::string_view name() const noexcept {
    return data_ ? std::string_view(data_->name) : std::string_view();
  }
  void set_name(std::string name);
  void set_attribute(std::string key, AttributeValue value);
  // Status error with `message` (kept by the tail rule).
  void set_error(std::string message);
  void set_ok();
  // Records the end time and hands the span to its tracer. Idempotent.
  void end() noexcept;

 private:
  friend class Tracer;
  SpanContext context_;
  std::shared_ptr<Tracer> tracer_;
  std::unique_ptr<SpanData> data_;
  std::chrono::steady_clock::time_point start_{};
};

class Tracer : public std::enable_shared_from_this<Tracer> {
 public:
  // Throws std::invalid_argument for a sample_ratio outside 0..1. Always hold a
  // Tracer in a shared_ptr (spans keep it alive until they end).
  explicit Tracer(TracerOptions options = {});

  // A recording span, child of `parent` if it is valid, else the root of a new trace
  // (or a root in parent's trace, if `parent` has a trace id and no span id).
  Span start(std::string name, SpanKind kind, const SpanContext* parent);

  // Receives kept spans from now on.
  void add_sink(std::shared_ptr<SpanSink> sink);
  // The kept spans remembered, oldest first (at most recent_capacity).
  std::vector<SpanData> recent() const;
  TracerStats stats() const;
  const TracerOptions& options() const noexcept { return options_; }

 private:
  friend class Span;
  void finish(std::unique_ptr<SpanData> data, std::chrono::nanoseconds took) noexcept;

  const TracerOptions options_;
  const std::uint64_t sample_below_;  // trace ids whose low 64 bits are below are sampled
  // Relaxed counters: statistics, nothing is published through them.
  std::atomic<std::uint64_t> started_{0};
  std::atomic<std::uint64_t> kept_{0};
  std::atomic<std::uint64_t> dropped_{0};
  mutable std::mutex mu_;  // guards everything below; only kept spans take it
  std::vector<std::shared_ptr<SpanSink>> sinks_;
  std::vector<SpanData> ring_;
  std::size_t ring_next_ = 0;  // where the next kept span goes once the ring is full
};

// The process's tracer (null: none, spans do not record). set_global_tracer(nullptr)
// uninstalls; spans already started finish on the tracer they started on.
void set_global_tracer(std::shared_ptr<Tracer> tracer);
std::shared_ptr<Tracer> global_tracer();
// Whether a global tracer is installed: one relaxed load, for hooks that skip their
// work (header lookups, attribute strings) when nothing records.
bool tracer_installed() noexcept;

// A span named `name` under ctx's span context (or a new trace), on the global
// tracer. Without a tracer: a non-recording span carrying ctx's context, if any.
Span start_span(const Context& ctx, std::string name, SpanKind kind = SpanKind::kInternal);
// The same, but only within a trace: without a span context in ctx, a default
// (inert) Span. For the spans of outgoing calls, which never start a trace: a
// heartbeat's Redis command is not worth a trace of its own.
Span start_child_span(const Context& ctx, std::string name, SpanKind kind);
// A span whose parent arrived from another process: `traceparent` (and its
// `tracestate`) if it parses, else ctx's span context, else a new trace. For an HTTP
// request served and a job attempt.
Span start_remote_span(const Context& ctx, std::string_view traceparent,
                       std::string_view tracestate, std::string name, SpanKind kind);
// ctx with the span as its current span context; ctx itself if the span has none.
Context with_span(const Context& ctx, const Span& span);

}  // namespace orca::trace
