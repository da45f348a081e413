// Span, Tracer and the global tracer (tracer.hpp).
#include "orca/trace/tracer.hpp"

#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace orca::trace {

namespace {

std::int64_t unix_nano_now() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t low64(const TraceId& id) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 8; i < 16; ++i)
    v = v << 8 | id.bytes[i];
  return v;
}

std::uint64_t threshold_of(double ratio) {
  if (!(ratio >= 0.0 && ratio <= 1.0))
    throw std::invalid_argument(
        std::string("trace sample ratio must be within 0..1, got ").append(std::to_string(ratio)));
  if (ratio >= 1.0) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(std::ldexp(ratio, 64));
}

// The global tracer. `installed` lets the untraced path skip the lock: one relaxed
// load per span start while no tracer is installed (a stale read only means a span
// recorded, or not, around the moment of installation).
std::atomic<bool> installed{false};
std::mutex global_mu;
std::shared_ptr<Tracer>& global_slot() {
  static auto* slot = new std::shared_ptr<Tracer>();  // never destroyed: spans may end at exit
  return *slot;
}

}  // namespace

const AttributeValue* SpanData::attribute(std::string_view key) const noexcept {
  for (const auto& [k, v] : attributes)
    if (k == key) return &v;
  return nullptr;
}

Span::Span(Span&& other) noexcept
    : context_(std::move(other.context_)),
      tracer_(std::move(other.tracer_)),
      data_(std::move(other.data_)),
      start_(other.start_) {}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    end();
    context_ = std::move(other.context_);
    tracer_ = std::move(other.tracer_);
    data_ = std::move(other.data_);
    start_ = other.start_;
  }
  return *this;
}

void Span::set_name(std::string name) {
  if (data_) data_->name = std::move(name);
}

void Span::set_attribute(std::string key, AttributeValue value) {
  if (!data_) return;
  for (auto& [k, v] : data_->attributes)
    if (k == key) {
      v = std::move(value);
      return;
    }
  data_->attributes.emplace_back(std::move(key), std::move(value));
}

void Span::set_error(std::string message) {
  if (!data_) return;
  data_->status = SpanStatus::kError;
  data_->status_message = std::move(message);
}

void Span::set_ok() {
  if (data_ && data_->status != SpanStatus::kError) data_->status = SpanStatus::kOk;
}

void Span::end() noexcept {
  if (!data_) return;
  const auto took = std::chrono::steady_clock::now() - start_;
  data_->end_unix_nano = data_->start_unix_nano + took.count();
  std::shared_ptr<Tracer> tracer = std::move(tracer_);
  tracer->finish(std::move(data_), took);
}

Tracer::Tracer(TracerOptions options)
    : options_(std::move(options)), sample_below_(threshold_of(options_.sample_ratio)) {}

Span Tracer::start(std::string name, SpanKind kind, const SpanContext* parent) {
  Span span;
  span.data_ = std::make_unique<SpanData>();
  SpanData& d = *span.data_;
  if (parent != nullptr && parent->trace_id.valid()) {
    d.context.trace_id = parent->trace_id;
    d.context.trace_state = parent->trace_state;
  } else {
    d.context.trace_id = TraceId::random();
  }
  if (parent != nullptr && parent->valid()) {
    d.context.flags = parent->flags;  // parent-based: the trace's head decided
    d.parent_span_id = parent->span_id;
  } else {
    // The head of a trace: decided from the trace id, so that every process that
    // starts a root in this trace decides alike. max() samples every id.
    const std::uint64_t v = low64(d.context.trace_id);
    const bool sampled =
        sample_below_ == std::numeric_limits<std::uint64_t>::max() || v < sample_below_;
    d.context.flags = sampled ? 1 : 0;
  }
  d.context.span_id = SpanId::random();
  d.name = std::move(name);
  d.kind = kind;
  d.start_unix_nano = unix_nano_now();
  span.context_ = d.context;
  span.start_ = std::chrono::steady_clock::now();
  span.tracer_ = shared_from_this();
  started_.fetch_add(1, std::memory_order_relaxed);  // a statistic, publishes nothing
  return span;
}

void Tracer::finish(std::unique_ptr<SpanData> data, std::chrono::nanoseconds took) noexcept {
  const bool keep = data->context.sampled() ||
                    (options_.keep_errors && data->status == SpanStatus::kError) ||
                    (options_.slow_threshold.count() > 0 && took >= options_.slow_threshold);
  if (!keep) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  kept_.fetch_add(1, std::memory_order_relaxed);
  std::vector<std::shared_ptr<SpanSink>> sinks;
  {
    std::lock_guard lock(mu_);
    try {
      if (options_.recent_capacity > 0) {
        if (ring_.size() < options_.recent_capacity) {
          ring_.push_back(*data);
        } else {
          ring_[ring_next_] = *data;
          ring_next_ = (ring_next_ + 1) % ring_.size();
        }
      }
      sinks = sinks_;
    } catch (...) {
      return;  // out of memory: the span is lost, the caller goes on
    }
  }
  for (const auto& sink : sinks)
    sink->on_end(*data);
}

void Tracer::add_sink(std::shared_ptr<SpanSink> sink) {
  std::lock_guard lock(mu_);
  sinks_.push_back(std::move(sink));
}

std::vector<SpanData> Tracer::recent() const {
  std::lock_guard lock(mu_);
  std::vector<SpanData> out;
  out.reserve(ring_.size());
  for (std::size_t i = 0; i < ring_.size(); ++i)
    out.push_back(ring_[(ring_next_ + i) % ring_.size()]);
  return out;
}

TracerStats Tracer::stats() const {
  return {started_.load(std::memory_order_relaxed), kept_.load(std::memory_order_relaxed),
          dropped_.load(std::memory_order_relaxed)};
}

void set_global_tracer(std::shared_ptr<Tracer> tracer) {
  std::lock_guard lock(global_mu);
  const bool on = tracer != nullptr;
  global_slot() = std::move(tracer);
  installed.store(on, std::memory_order_relaxed);
}

bool tracer_installed() noexcept {
  return installed.load(std::memory_order_relaxed);
}

std::shared_ptr<Tracer> global_tracer() {
  if (!installed.load(std::memory_order_relaxed)) return nullptr;
  std::lock_guard lock(global_mu);
  return global_slot();
}

Span Span::non_recording(SpanContext sc) {
  Span span;
  if (sc.valid()) span.context_ = std::move(sc);
  return span;
}

Span start_span(const Context& ctx, std::string name, SpanKind kind) {
  const SpanContext* parent = span_context_of(ctx);
  std::shared_ptr<Tracer> tracer = global_tracer();
  if (tracer) return tracer->start(std::move(name), kind, parent);
  return parent != nullptr ? Span::non_recording(*parent) : Span();
}

Span start_child_span(const Context& ctx, std::string name, SpanKind kind) {
  const SpanContext* parent = span_context_of(ctx);
  if (parent == nullptr || !parent->valid()) return Span();
  std::shared_ptr<Tracer> tracer = global_tracer();
  if (tracer) return tracer->start(std::move(name), kind, parent);
  return Span::non_recording(*parent);
}

Span start_remote_span(const Context& ctx, std::string_view traceparent,
                       std::string_view tracestate, std::string name, SpanKind kind) {
  std::optional<SpanContext> remote;
  if (!traceparent.empty()) remote = parse_traceparent(traceparent);
  if (remote && !tracestate.empty()) remote->trace_state = sanitize_tracestate(tracestate);
  const SpanContext* parent = remote ? &*remote : span_context_of(ctx);
  std::shared_ptr<Tracer> tracer = global_tracer();
  if (tracer) return tracer->start(std::move(name), kind, parent);
  return parent != nullptr ? Span::non_recording(*parent) : Span();
}

Context with_span(const Context& ctx, const Span& span) {
  if (!span.context().valid()) return ctx;
  const SpanContext* here = span_context_of(ctx);
  if (here != nullptr && here->span_id == span.context().span_id) return ctx;
  return with_span_context(ctx, span.context());
}

}  // namespace orca::trace
