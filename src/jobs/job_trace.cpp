// carry_trace, prepare_for_enqueue and attempt_span (job_trace.hpp).
#include "orca/jobs/job_trace.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "orca/jobs/errors.hpp"

namespace orca::jobs {

void carry_trace(const Context& ctx, JobSpec& spec, std::size_t max_headers) {
  if (!spec.trace_id.empty() || spec.headers.count(std::string(kTraceparentHeader)) != 0) return;
  const trace::SpanContext* sc = trace::span_context_of(ctx);
  if (sc == nullptr || !sc->valid()) return;
  const std::size_t adds = sc->trace_state.empty() ? 1 : 2;
  if (spec.headers.size() + adds > max_headers) return;
  spec.trace_id = sc->trace_id.hex();
  spec.headers.emplace(std::string(kTraceparentHeader), trace::format_traceparent(*sc));
  if (!sc->trace_state.empty())
    spec.headers.emplace(std::string(kTracestateHeader), sc->trace_state);
}

Result<void> prepare_for_enqueue(const Context& ctx, std::vector<JobSpec>& specs,
                                 const JobLimits& limits) {
  for (JobSpec& spec : specs)
    carry_trace(ctx, spec, limits.max_headers);
  for (const JobSpec& spec : specs)
    if (std::string why = check_job_spec(spec, limits); !why.empty())
      return Error(make_error_code(errc::invalid_job), std::move(why));
  return {};
}

namespace {

std::uint64_t mix64(std::uint64_t x) noexcept {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The trace of a job submitted outside any: derived from its id and creation time, so
// that every attempt of it (retries, a rerun after a lost node) lands in one trace
// without the store keeping anything.
trace::TraceId derived_trace_id(const Job& job) noexcept {
  const auto created = static_cast<std::uint64_t>(job.created_at.time_since_epoch().count());
  const std::uint64_t hi = mix64(static_cast<std::uint64_t>(job.id) ^ mix64(created));
  const std::uint64_t lo = mix64(hi ^ created);
  trace::TraceId id;
  for (int i = 0; i < 8; ++i) {
    id.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(hi >> (56 - 8 * i));
    id.bytes[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(lo >> (56 - 8 * i));
  }
  if (!id.valid()) id.bytes[15] = 1;  // never the invalid all-zero id
  return id;
}

}  // namespace

std::string attempt_trace_id(const Job& job) {
  const auto parent = job.spec.headers.find(std::string(kTraceparentHeader));
  if (parent != job.spec.headers.end())
    if (auto sc = trace::parse_traceparent(parent->second)) return sc->trace_id.hex();
  if (auto own = trace::TraceId::from_hex(job.spec.trace_id)) return own->hex();
  return derived_trace_id(job).hex();
}

trace::Span attempt_span(const Job& job) {
  const auto parent = job.spec.headers.find(std::string(kTraceparentHeader));
  const auto state = job.spec.headers.find(std::string(kTracestateHeader));
  std::optional<trace::TraceId> own;
  const bool has_parent =
      parent != job.spec.headers.end() && trace::parse_traceparent(parent->second).has_value();
  if (!has_parent && !job.spec.trace_id.empty()) own = trace::TraceId::from_hex(job.spec.trace_id);
  if (!has_parent && !own && !trace::tracer_installed()) return trace::Span();
  if (!has_parent && !own) own = derived_trace_id(job);
  std::string name = "job ";
  name.append(job.spec.type);
  trace::Span span;
  if (has_parent) {
    span = trace::start_remote_span(
        background(), parent->second,
        state == job.spec.headers.end() ? std::string_view() : std::string_view(state->second),
        std::move(name), trace::SpanKind::kConsumer);
  } else {
    // A trace id without a parent span: the attempt is a root in that trace.
    trace::SpanContext root;
    if (own) root.trace_id = *own;
    std::shared_ptr<trace::Tracer> tracer = trace::global_tracer();
    if (!tracer) return trace::Span();
    span = tracer->start(std::move(name), trace::SpanKind::kConsumer, own ? &root : nullptr);
  }
  if (span.recording()) {
    span.set_attribute("orca.job.id", std::int64_t{job.id});
    span.set_attribute("orca.job.type", job.spec.type);
    span.set_attribute("orca.job.queue", job.spec.queue);
    span.set_attribute("orca.job.attempt", std::int64_t{job.attempt});
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(WallClock::now() - job.ready_at);
    span.set_attribute("orca.job.queue_wait_ms",
                       static_cast<std::int64_t>(std::max<std::int64_t>(0, wait.count())));
  }
  return span;
}

}  // namespace orca::jobs
