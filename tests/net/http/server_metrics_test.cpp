// The HTTP server's per-request metrics (src/net/http/server_metrics.hpp) driven
// directly: each (method, route, status) is counted into its own series whether it
// comes from the cache of seen combinations or, past the cache's cap, from the
// families' look-ups; a pattern is recognised by its text, not only its address.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "../../../src/net/http/server_metrics.hpp"
#include "orca/metrics/registry.hpp"

namespace {

using namespace std::chrono_literals;
using orca::http::Response;
using orca::http::detail::ServerMetrics;

orca::metrics::Family<orca::metrics::Counter>& server_metrics_requests(
    orca::metrics::Registry& registry) {
  // Get-or-make: the family ServerMetrics made.
  return registry.counter_family("orca_http_requests_total",
                                 "HTTP requests answered, by method, route pattern and status.",
                                 {"method", "route", "code"});
}

Response server_metrics_response(std::string_view route, int status) {
  Response r;
  r.route = route;
  r.status = status;
  return r;
}

TEST(ServerMetrics, EachMethodRouteAndStatusHasItsOwnSeries) {
  orca::metrics::Registry registry;
  ServerMetrics metrics(registry);
  const std::string jobs = "/api/jobs";
  const std::string job = "/api/jobs/{id}";
  const auto get = ServerMetrics::method_label("GET");
  const auto post = ServerMetrics::method_label("POST");
  for (int i = 0; i < 3; ++i)
    metrics.request(get, server_metrics_response(jobs, 200), 1ms);
  for (int i = 0; i < 2; ++i)
    metrics.request(get, server_metrics_response(jobs, 500), 1ms);
  metrics.request(post, server_metrics_response(jobs, 201), 1ms);
  metrics.request(get, server_metrics_response(job, 200), 1ms);
  metrics.request(get, server_metrics_response("", 404), 1ms);
  // The same pattern's text at another address (another router's copy): the same
  // series.
  const std::string jobs_copy = jobs;
  metrics.request(get, server_metrics_response(jobs_copy, 200), 1ms);
  auto& family = server_metrics_requests(registry);
  EXPECT_EQ(family.with({"GET", "/api/jobs", "200"}).value(), 4u);
  EXPECT_EQ(family.with({"GET", "/api/jobs", "500"}).value(), 2u);
  EXPECT_EQ(family.with({"POST", "/api/jobs", "201"}).value(), 1u);
  EXPECT_EQ(family.with({"GET", "/api/jobs/{id}", "200"}).value(), 1u);
  EXPECT_EQ(family.with({"GET", "unrouted", "404"}).value(), 1u);
}

// More combinations than the cache keeps (512): every request is still counted, in
// its own series, the ones past the cap through the families' look-ups.
TEST(ServerMetrics, CombinationsPastTheCacheAreStillCounted) {
  orca::metrics::Registry registry;
  ServerMetrics metrics(registry);
  const std::string route = "/r";
  const auto get = ServerMetrics::method_label("GET");
  for (int round = 0; round < 2; ++round)
    for (int status = 100; status < 700; ++status)
      metrics.request(get, server_metrics_response(route, status), 1ms);
  auto& family = server_metrics_requests(registry);
  for (int status : {100, 300, 611, 699})
    EXPECT_EQ(family.with({"GET", "/r", std::to_string(status)}).value(), 2u) << status;
}

}  // namespace
