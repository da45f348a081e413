// SpanContext: the part of a span that crosses process boundaries (W3C Trace
// Context: trace id, span id, flags, tracestate), carried as a Context value.
//
//   auto sc = orca::trace::parse_traceparent(req.headers.get("traceparent").value_or(""));
//   orca::Context ctx2 = orca::trace::with_span_context(ctx, *sc);
//   const orca::trace::SpanContext* here = orca::trace::span_context_of(ctx2);
//
// Invariant: a SpanContext is either valid (non-zero trace id and span id) or empty;
// parse_traceparent never yields an invalid one. The header is parsed strictly per
// W3C Trace Context level 1: version 00 must be exactly 55 characters; version ff,
// upper-case hex, all-zero ids and wrong lengths are refused, and a refused header
// means "start a fresh trace" (the caller's choice, not an error). A future version
// (01..fe) is read by its version-00 prefix, as the specification asks.
//
// Thread safety: plain values; the Context functions are those of Context.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "orca/context/context.hpp"

namespace orca::trace {

// 16 bytes; all zero is "no trace".
struct TraceId {
  std::array<std::uint8_t, 16> bytes{};
  bool valid() const noexcept;
  // 32 lower-case hex digits.
  std::string hex() const;
  // Exactly 32 lower-case hex digits, not all zero; nothing otherwise.
  static std::optional<TraceId> from_hex(std::string_view text) noexcept;
  // A random id (a per-thread generator seeded from the OS), never zero.
  static TraceId random() noexcept;
  friend bool operator==(const TraceId&, const TraceId&) = default;
};

// 8 bytes; all zero is "no span" (a root span's parent).
struct SpanId {
  std::array<std::uint8_t, 8> bytes{};
  bool valid() const noexcept;
  std::string hex() const;  // 16 lower-case hex digits
  static std::optional<SpanId> from_hex(std::string_view text) noexcept;
  static SpanId random() noexcept;
  friend bool operator==(const SpanId&, const SpanId&) = default;
};

struct SpanContext {
  TraceId trace_id;
  SpanId span_id;
  std::uint8_t flags = 0;   // bit 0: sampled
  std::string trace_state;  // the tracestate header, passed through as received

  bool valid() const noexcept { return trace_id.valid() && span_id.valid(); }
  bool sampled() const noexcept { return (flags & 1) != 0; }
};

// The traceparent header's value, strictly (above); nothing for anything else.
std::optional<SpanContext> parse_traceparent(std::string_view header) noexcept;
// "00-<trace id>-<span id>-<flags>". `sc` must be valid.
std::string format_traceparent(const SpanContext& sc);
// A tracestate value worth passing on: at most 512 characters (the length W3C lets a
// vendor truncate to) of printable ASCII; anything else is dropped (empty).
std::string sanitize_tracestate(std::string_view header);

// A child of `parent` carrying `sc` (the current span for everything run under it).
Context with_span_context(const Context& parent, SpanContext sc);
// The span context nearest on ctx's path, or null.
const SpanContext* span_context_of(const Context& ctx) noexcept;

}  // namespace orca::trace
