// GET /metrics: a metrics::Registry served to Prometheus (or any OpenMetrics
// scraper), and the HTTP server's own families.
//
//   orca::metrics::Registry registry;
//   orca::http::Router router;
//   orca::http::add_metrics_route(router, registry);       // GET /metrics
//   orca::http::ServerOptions options;
//   options.metrics = &registry;                            // the server's families
//   orca::http::Server server(orca::http::protect(std::move(router), access), options);
//
// The handler runs the registry's before-scrape hooks (Registry::refresh), then
// answers in OpenMetrics 1.0 (with exemplars) if the Accept header asks for
// application/openmetrics-text, else in the Prometheus text format 0.0.4. It is an
// ordinary GET route: behind http::protect it needs a read token when tokens are on.
//
// ServerOptions::metrics set, a server reports (families shared by every server on
// the registry):
//   orca_http_requests_total{method,route,code}        counter
//   orca_http_request_duration_seconds{method,route}   histogram (latency_buckets)
//   orca_http_connections                              gauge: connections open
// `route` is the pattern of the route that answered (Response::route), "unrouted"
// for answers no route made (404, 405, the server's own 400/408/413/431/505, an access
// policy's or a rate limit's refusals); `method` is one of the methods of RFC 9110
// (and PATCH), or "OTHER": no label takes a client's raw text, so label sets stay
// bounded whatever clients send. The duration runs from the request's turn (its
// handler's start) to its response being ready, not written.
//
// The HTTP wrappers' refusals and limits, read at scrape time:
//   orca_limiter_rejected_total{name}   429s of a rate_limit (NAME_global and
//                                       NAME_per_client), 503s of shed_load (NAME_shed)
//   orca_adaptive_limit{name}           a shed_load limiter's current limit (NAME)
// The counters are shared with the wrapper (give the options' `counters` before
// building the router: report_* makes them when null).
//
// Thread safety: the handler may run concurrently; the registry must outlive it and
// the registrations.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "orca/metrics/registry.hpp"
#include "orca/net/http/load_shedding.hpp"
#include "orca/net/http/rate_limit.hpp"
#include "orca/net/http/router.hpp"

namespace orca::http {

Handler metrics_handler(metrics::Registry& registry);
// router.get("/metrics", metrics_handler(registry)).
Router& add_metrics_route(Router& router, metrics::Registry& registry);

[[nodiscard]] metrics::Registration report_rate_limit(metrics::Registry& registry,
                                                      const std::string& name,
                                                      RateLimitOptions& options);
[[nodiscard]] std::vector<metrics::Registration> report_load_shedding(metrics::Registry& registry,
                                                                      const std::string& name,
                                                                      LoadSheddingOptions& options);

}  // namespace orca::http
