// A job's place in a trace. A job submitted under a traced Context (an HTTP request
// served, a handler's own context) carries the trace: JobSpec::trace_id is its trace
// id (32 hex digits) and the spec's headers carry the W3C "traceparent" of the span
// that submitted it (and its "tracestate"), so that each attempt's span is a child of
// that span, in whichever process and on whichever broker the job runs. No schema
// changes: both brokers store headers already, and `orca jobs --trace ID` filters on
// trace_id.
//
//   co_await center.submit(traced_ctx, spec);   // the brokers call carry_trace
//   // node: attempt_span(job) is the attempt's span; its handler's ctx carries it
//
// A spec given a trace_id of its own (orca submit --trace-id) keeps it; without a
// traceparent header its attempts are roots of that trace (if it is 32 hex digits,
// not all zero); a job in no trace (or whose trace_id is only a label) gets one derived
// from its id and creation time, so that all its attempts (retries, a rerun after a
// lost node) form one trace.
//
// Thread safety: pure functions over values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/jobs/job.hpp"
#include "orca/runtime/result.hpp"
#include "orca/trace/tracer.hpp"

namespace orca::jobs {

// The spec headers that carry the submitting span (W3C names).
inline constexpr std::string_view kTraceparentHeader = "traceparent";
inline constexpr std::string_view kTracestateHeader = "tracestate";

// Stamps ctx's span context onto `spec` (trace_id, traceparent, tracestate) unless
// the spec names a trace already (trace_id or a traceparent header), ctx carries no
// span, or the headers would pass `max_headers`. The brokers' enqueue calls it.
void carry_trace(const Context& ctx, JobSpec& spec, std::size_t max_headers);

// What every broker's enqueue does first: carry_trace on each spec (a traced caller's
// span becomes the jobs' parent), then check_job_spec on each; invalid_job, with the
// reason, for the first spec that fails (the caller then adds nothing).
Result<void> prepare_for_enqueue(const Context& ctx, std::vector<JobSpec>& specs,
                                 const JobLimits& limits);

// The span of one attempt of `job` (kind consumer, named "job TYPE"): a child of the
// submitting span (traceparent header), else a root in the spec's trace_id, else a
// root in the job's derived trace (above). Attributes: orca.job.id, .type, .queue, .attempt,
// .queue_wait_ms (from the job's ready time to now, wall clock). Inert when no tracer is installed
// and the job carries no trace.
trace::Span attempt_span(const Job& job);

// The trace the attempts of `job` are recorded in, as 32 hex digits (whether or not a
// tracer is installed): the submitting span's, else the spec's own trace_id, else the
// one derived from the job. What a report names so that its reader finds the spans.
std::string attempt_trace_id(const Job& job);

}  // namespace orca::jobs
