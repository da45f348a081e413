// The HTTP layer's spans (tracing.hpp).
#include "tracing.hpp"

namespace orca::http::detail {

std::string span_name(const std::string& method, const std::string& path) {
  std::string out = method;
  out.push_back(' ');
  const std::string_view p = std::string_view(path).substr(0, path.find('?'));
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = p.find('/', start);
    const std::string_view seg =
        p.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    bool digits = !seg.empty();
    for (char c : seg)
      digits = digits && c >= '0' && c <= '9';
    out.append(digits ? std::string_view("{id}") : seg);
    if (slash == std::string_view::npos) break;
    out.push_back('/');
    start = slash + 1;
  }
  return out;
}

trace::Span server_span(const Context& ctx, const Request& req) {
  const std::optional<std::string_view> parent = req.headers.get("traceparent");
  if (!parent && !trace::tracer_installed()) return trace::Span();
  const std::string_view state = req.headers.get("tracestate").value_or("");
  const std::string name = trace::tracer_installed() ? span_name(req.method, req.path) : "";
  trace::Span span =
      trace::start_remote_span(ctx, parent.value_or(""), state, name, trace::SpanKind::kServer);
  if (span.recording()) {
    span.set_attribute("http.request.method", req.method);
    span.set_attribute("url.path", req.path);
    if (!req.remote_address.empty()) span.set_attribute("client.address", req.remote_address);
  }
  return span;
}

void end_server_span(trace::Span& span, const Response& resp) {
  if (!span.recording()) return;
  // The route's pattern, when a route answered, names the span as it labels the
  // metrics; the path with its numbers templated stays for the rest.
  if (!resp.route.empty() && !span.name().empty()) {
    const std::string_view name = span.name();
    span.set_name(std::string(name.substr(0, name.find(' ') + 1)).append(resp.route));
  }
  span.set_attribute("http.response.status_code", std::int64_t{resp.status});
  if (resp.status >= 500) span.set_error(std::string("HTTP ").append(std::to_string(resp.status)));
  span.end();
}

trace::Span client_span(const Context& ctx, Request& req) {
  const trace::SpanContext* parent = trace::span_context_of(ctx);
  if (parent == nullptr || !parent->valid()) return trace::Span();
  trace::Span span = trace::start_child_span(ctx, std::string("HTTP ").append(req.method),
                                             trace::SpanKind::kClient);
  if (!req.headers.contains("traceparent")) {
    req.headers.set("traceparent", trace::format_traceparent(span.context()));
    if (!span.context().trace_state.empty())
      req.headers.set("tracestate", span.context().trace_state);
  }
  if (span.recording()) {
    span.set_attribute("http.request.method", req.method);
    span.set_attribute("url.full", req.target);
  }
  return span;
}

void end_client_span(trace::Span& span, const Result<Response>& r) {
  if (!span.recording()) return;
  if (!r) {
    span.set_error(r.error().message());
  } else {
    span.set_attribute("http.response.status_code", std::int64_t{r->status});
    if (r->status >= 500) span.set_error(std::string("HTTP ").append(std::to_string(r->status)));
  }
  span.end();
}

}  // namespace orca::http::detail
