// otlp_http_writer: the trace::SpanWriter that posts each batch of spans to an
// OTLP/HTTP endpoint (an OpenTelemetry collector's http://HOST:4318/v1/traces,
// Jaeger's, SkyWalking OAP's) through orca's own HTTP client.
//
//   auto client = std::make_shared<orca::http::Client>();
//   auto exporter = std::make_shared<orca::trace::BatchExporter>(
//       orca::http::otlp_http_writer(client, "http://127.0.0.1:4318/v1/traces"));
//
// Each write is one POST of Content-Type application/json, bounded by `timeout`; a
// 2xx answer is success, anything else an error (http::errc::server_error for a 5xx,
// std::errc::protocol_error for another status), which the exporter counts.
//
// The writer's own requests are not traced as long as the context it is given
// carries no span (BatchExporter::run's does not, unless the caller put one there):
// exporting a span must not make another.
//
// Thread safety: the writer may be called concurrently; the client is shared.
// Errors: parse_url's for a bad endpoint, at creation (std::invalid_argument).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "orca/net/http/client.hpp"
#include "orca/runtime/clock.hpp"
#include "orca/trace/batch_exporter.hpp"

namespace orca::http {

trace::SpanWriter otlp_http_writer(std::shared_ptr<Client> client, std::string endpoint,
                                   Clock::duration timeout = std::chrono::seconds(10));

}  // namespace orca::http
