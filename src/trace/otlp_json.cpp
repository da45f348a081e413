// OTLP/HTTP JSON encoding (otlp_json.hpp), written directly: a fixed shape, and no
// JSON library below the net layer.
#include "orca/trace/otlp_json.hpp"

#include <cmath>
#include <cstdio>

namespace orca::trace {

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
          out.append(esc);
        } else {
          out.push_back(c);  // UTF-8 passes through; invalid bytes are the producer's
        }
    }
  }
  out.push_back('"');
}

namespace {

void append_value(std::string& out, const AttributeValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    out.append("{\"stringValue\":");
    append_json_string(out, *s);
  } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
    out.append("{\"intValue\":\"").append(std::to_string(*i)).append("\"");
  } else if (const auto* d = std::get_if<double>(&v)) {
    if (std::isfinite(*d)) {
      char text[32];
      std::snprintf(text, sizeof text, "%.17g", *d);
      out.append("{\"doubleValue\":").append(text);
    } else {
      out.append("{\"stringValue\":\"").append(std::isnan(*d) ? "NaN" : "Infinity").append("\"");
    }
  } else {
    out.append("{\"boolValue\":").append(std::get<bool>(v) ? "true" : "false");
  }
  out.push_back('}');
}

void append_span(std::string& out, const SpanData& s) {
  out.append("{\"traceId\":\"").append(s.context.trace_id.hex());
  out.append("\",\"spanId\":\"").append(s.context.span_id.hex()).append("\"");
  if (s.parent_span_id.valid())
    out.append(",\"parentSpanId\":\"").append(s.parent_span_id.hex()).append("\"");
  if (!s.context.trace_state.empty()) {
    out.append(",\"traceState\":");
    append_json_string(out, s.context.trace_state);
  }
  out.append(",\"flags\":").append(std::to_string(0x100 | s.context.flags));  // 0x100: flags set
  out.append(",\"name\":");
  append_json_string(out, s.name);
  out.append(",\"kind\":").append(std::to_string(static_cast<int>(s.kind)));
  out.append(",\"startTimeUnixNano\":\"").append(std::to_string(s.start_unix_nano));
  out.append("\",\"endTimeUnixNano\":\"").append(std::to_string(s.end_unix_nano)).append("\"");
  out.append(",\"attributes\":[");
  for (std::size_t i = 0; i < s.attributes.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append("{\"key\":");
    append_json_string(out, s.attributes[i].first);
    out.append(",\"value\":");
    append_value(out, s.attributes[i].second);
    out.push_back('}');
  }
  out.append("],\"status\":{\"code\":").append(std::to_string(static_cast<int>(s.status)));
  if (!s.status_message.empty()) {
    out.append(",\"message\":");
    append_json_string(out, s.status_message);
  }
  out.append("}}");
}

}  // namespace

std::string to_otlp_json(std::span<const SpanData> spans, std::string_view service_name) {
  std::string out;
  out.reserve(256 + spans.size() * 400);
  out.append(
      "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
      "\"stringValue\":");
  append_json_string(out, service_name);
  out.append("}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"orca\"},\"spans\":[");
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_span(out, spans[i]);
  }
  out.append("]}]}]}");
  return out;
}

}  // namespace orca::trace
