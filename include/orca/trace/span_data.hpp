// SpanData: a finished span as exporters and the recent-spans ring see it (the
// OpenTelemetry data model, reduced to what orca records).
//
// Invariant: `context` is valid; `parent_span_id` is zero for a root span; times
// are wall-clock nanoseconds since the Unix epoch (start <= end).
//
// Thread safety: a plain value type.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "orca/trace/span_context.hpp"

namespace orca::trace {

// OTLP's numbering.
enum class SpanKind : std::uint8_t {
  kInternal = 1,
  kServer = 2,    // an HTTP request served
  kClient = 3,    // an outgoing HTTP call, a Redis command
  kProducer = 4,  // a job submitted
  kConsumer = 5,  // a job attempt
};

// OTLP's numbering.
enum class SpanStatus : std::uint8_t { kUnset = 0, kOk = 1, kError = 2 };

using AttributeValue = std::variant<std::string, std::int64_t, double, bool>;

struct SpanData {
  SpanContext context;
  SpanId parent_span_id;
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  std::int64_t start_unix_nano = 0;
  std::int64_t end_unix_nano = 0;
  SpanStatus status = SpanStatus::kUnset;
  std::string status_message;  // the error, for kError
  std::vector<std::pair<std::string, AttributeValue>> attributes;

  std::chrono::nanoseconds duration() const noexcept {
    return std::chrono::nanoseconds(end_unix_nano - start_unix_nano);
  }
  // The attribute `key`, or null.
  const AttributeValue* attribute(std::string_view key) const noexcept;
};

}  // namespace orca::trace
