// GET /metrics and the server's families (net/http/metrics.hpp).
#include "orca/net/http/metrics.hpp"

#include <charconv>
#include <cstdint>

#include "server_metrics.hpp"

namespace orca::http {

namespace detail {

std::string_view ServerMetrics::method_label(std::string_view m) noexcept {
  static constexpr std::string_view kKnown[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (std::string_view k : kKnown)
    if (m == k) return k;
  return "OTHER";
}

ServerMetrics::ServerMetrics(metrics::Registry& r)
    : requests_(r.counter_family("orca_http_requests_total",
                                 "HTTP requests answered, by method, route pattern and status.",
                                 {"method", "route", "code"})),
      durations_(r.histogram_family(
          "orca_http_request_duration_seconds",
          "Time from a request's turn to its response being ready, by method and route pattern.",
          {"method", "route"}, metrics::latency_buckets())),
      connections_(r.gauge("orca_http_connections", "HTTP connections open.")) {}

const ServerMetrics::Resolved* ServerMetrics::find(std::string_view method, std::string_view route,
                                                   int status) {
  const auto key = reinterpret_cast<std::uintptr_t>(route.data()) ^
                   reinterpret_cast<std::uintptr_t>(method.data()) ^
                   static_cast<std::uintptr_t>(status) * 0x9e3779b97f4a7c15ULL;
  std::atomic<const Resolved*>& slot = cache_[(key ^ (key >> 17) ^ (key >> 31)) % kCacheSlots];
  // Acquire: the entry's fields were written before its release store below.
  const auto matches = [&](const Resolved* e) {
    return e != nullptr && e->route_data == route.data() && e->status == status &&
           e->method.data() == method.data() && e->route == route;
  };
  const Resolved* r = slot.load(std::memory_order_acquire);
  if (matches(r)) return r;
  std::lock_guard lock(resolved_mu_);
  r = slot.load(std::memory_order_acquire);  // another thread may have just made it
  if (matches(r)) return r;
  if (resolved_.size() >= kMaxResolved) return nullptr;
  char code[8];
  const auto end = std::to_chars(code, code + sizeof code, status).ptr;
  auto made = std::make_unique<Resolved>();
  made->method = method;
  made->route_data = route.data();
  made->route = std::string(route);
  made->status = status;
  made->requests = &requests_.with(
      {method, route, std::string_view(code, static_cast<std::size_t>(end - code))});
  made->duration = &durations_.with({method, route});
  r = made.get();
  resolved_.push_back(std::move(made));
  // Release: see the acquire above. A colliding entry is replaced, not freed.
  slot.store(r, std::memory_order_release);
  return r;
}

void ServerMetrics::request(std::string_view method, const Response& response, Clock::duration took,
                            std::string_view trace_id) {
  static constexpr std::string_view kUnrouted = "unrouted";
  const std::string_view route = response.route.empty() ? kUnrouted : response.route;
  if (const Resolved* r = find(method, route, response.status)) {
    r->requests->inc();
    r->duration->observe(took, trace_id);
    return;
  }
  char code[8];
  const auto end = std::to_chars(code, code + sizeof code, response.status).ptr;
  requests_.with({method, route, std::string_view(code, static_cast<std::size_t>(end - code))})
      .inc();
  durations_.with({method, route}).observe(took, trace_id);
}

}  // namespace detail

namespace {

// A coroutine taking everything by value: no frame refers to the handler's lambda,
// wherever the router keeps it.
Task<Response> scrape(metrics::Registry* registry, Context ctx, Request req) {
  Task<void> refreshed = registry->refresh(ctx);
  co_await std::move(refreshed);
  const metrics::Format format = metrics::negotiate(req.headers.get("Accept").value_or(""));
  Response resp;
  resp.status = 200;
  resp.body = registry->render(format);
  resp.headers.set("Content-Type", std::string(metrics::content_type(format)));
  co_return resp;
}

}  // namespace

Handler metrics_handler(metrics::Registry& registry) {
  return [registry = &registry](Context ctx, Request req) {
    return scrape(registry, std::move(ctx), std::move(req));
  };
}

Router& add_metrics_route(Router& router, metrics::Registry& registry) {
  return router.get("/metrics", metrics_handler(registry));
}

namespace {
constexpr const char* kRejectedName = "orca_limiter_rejected_total";
constexpr const char* kRejectedHelp = "Requests or jobs a limiter refused, by limiter.";
}  // namespace

metrics::Registration report_rate_limit(metrics::Registry& registry, const std::string& name,
                                        RateLimitOptions& options) {
  if (!options.counters) options.counters = std::make_shared<RateLimitCounters>();
  return registry.callback(
      kRejectedName, kRejectedHelp, metrics::MetricType::kCounter, {"name"},
      [counters = options.counters, name](std::vector<metrics::Sample>& out) {
        out.push_back(
            {{name + "_global"},
             static_cast<double>(counters->rejected_global.load(std::memory_order_relaxed))});
        out.push_back(
            {{name + "_per_client"},
             static_cast<double>(counters->rejected_per_client.load(std::memory_order_relaxed))});
      });
}

std::vector<metrics::Registration> report_load_shedding(metrics::Registry& registry,
                                                        const std::string& name,
                                                        LoadSheddingOptions& options) {
  if (!options.counters) options.counters = std::make_shared<LoadSheddingCounters>();
  std::vector<metrics::Registration> out;
  out.push_back(registry.callback(
      kRejectedName, kRejectedHelp, metrics::MetricType::kCounter, {"name"},
      [counters = options.counters, name](std::vector<metrics::Sample>& s) {
        s.push_back(
            {{name + "_shed"},
             static_cast<double>(counters->shed.load(std::memory_order_relaxed) +
                                 counters->shed_low_priority.load(std::memory_order_relaxed))});
      }));
  out.push_back(
      registry.callback("orca_adaptive_limit", "An adaptive concurrency limiter's current limit.",
                        metrics::MetricType::kGauge, {"name"},
                        [limiter = options.limiter, name](std::vector<metrics::Sample>& s) {
                          if (limiter)
                            s.push_back({{name}, static_cast<double>(limiter->metrics().limit)});
                        }));
  return out;
}

}  // namespace orca::http
