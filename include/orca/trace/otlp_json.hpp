// The OTLP/HTTP JSON encoding of spans (an ExportTraceServiceRequest), the body any
// OpenTelemetry collector, Jaeger or SkyWalking OAP accepts on /v1/traces, and the
// line format of a trace file (the collector's file exporter writes the same).
//
// Per the OTLP JSON mapping: trace and span ids as lower-case hex, 64-bit integers
// (times, int attributes) as decimal strings, enums as numbers; an empty parent id
// is left out. One resource (service.name) and one scope ("orca") per request.
//
// Thread safety: a pure function.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "orca/trace/span_data.hpp"

namespace orca::trace {

std::string to_otlp_json(std::span<const SpanData> spans, std::string_view service_name);

// `text` as a JSON string literal, quotes included (also used by the JSON log).
void append_json_string(std::string& out, std::string_view text);

}  // namespace orca::trace
