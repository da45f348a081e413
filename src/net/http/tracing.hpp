// The HTTP layer's spans (W3C Trace Context on the wire, tracer.hpp): a server span
// per request served, a client span per request sent. Private to orca_http.
//
// Server: the request's traceparent (strictly parsed; a bad one starts a new trace)
// becomes its handler's span context. With no tracer installed and no traceparent
// the hook costs one header lookup and one relaxed load, and adds nothing to the
// Context. Client: inside a trace, each request() records a client span and sends
// its traceparent (and the tracestate received); a request that already carries a
// traceparent header is sent as the caller wrote it.
#pragma once

#include <string>

#include "orca/context/context.hpp"
#include "orca/net/http/request.hpp"
#include "orca/net/http/response.hpp"
#include "orca/runtime/result.hpp"
#include "orca/trace/tracer.hpp"

namespace orca::http::detail {

// The span of a request served (inert when nothing traces).
trace::Span server_span(const Context& ctx, const Request& req);
// Records the response's status on `span` and ends it (a 5xx is an error).
void end_server_span(trace::Span& span, const Response& resp);

// The span of a request sent under ctx, with its traceparent set on `req`.
trace::Span client_span(const Context& ctx, Request& req);
void end_client_span(trace::Span& span, const Result<Response>& r);

// "GET /api/jobs/{id}" for "GET /api/jobs/42": segments of digits become "{id}", so
// span names stay few whatever the ids (the route pattern is not known here).
std::string span_name(const std::string& method, const std::string& path);

}  // namespace orca::http::detail
