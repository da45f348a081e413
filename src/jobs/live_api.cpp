// The jobs API's live routes (live_api.hpp): time series, the event stream, traces
// and their OTLP receiver, periodic jobs, breakers and limiters. Like http_api.cpp,
// each handler is a lambda calling a coroutine that takes everything by value.
#include "live_api.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>

#include "orca/jobs/json.hpp"
#include "orca/jobs/node.hpp"
#include "orca/jobs/schedule.hpp"

namespace orca::jobs::detail {

namespace {

using nlohmann::json;

// With no event for this long, the stream sends a comment, so that proxies and the
// page see the connection alive (the contract's 15 s).
constexpr auto kPingInterval = std::chrono::seconds(15);

struct LiveApi {
  Center* center;
  LiveView* live;
  ::orca::metrics::Registry* registry;
};
using LiveApiPtr = std::shared_ptr<const LiveApi>;

http::Response error(int status, const std::string& message) {
  return http::Response::json(status, json{{"error", message}}.dump());
}

http::Response ok(const json& body) {
  return http::Response::json(200, body.dump());
}

// ?minutes=N (1..60, default 15).
Task<http::Response> series(LiveApiPtr api, Context, http::Request req) {
  std::int64_t minutes = 15;
  for (const auto& [key, value] : req.query_params()) {
    if (key != "minutes") co_return error(400, "unknown query parameter \"" + key + "\"");
    const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), minutes);
    if (ec != std::errc() || p != value.data() + value.size() || minutes < 1 || minutes > 60)
      co_return error(400, "minutes: expected an integer from 1 to 60");
  }
  json queues = json::object();
  for (const auto& [name, points] :
       api->live->series().points(WallClock::now(), std::chrono::minutes(minutes))) {
    json list = json::array();
    for (const SeriesPoint& p : points)
      list.push_back(to_json(p));
    queues[name] = std::move(list);
  }
  co_return ok(json{{"interval_ms", StatsSeries::kInterval.count()}, {"queues", queues}});
}

// Releases the hub's subscription when the last copy of the response's stream
// function goes, whether the stream ran or not (a HEAD, or the server's 503).
class Subscription {
 public:
  Subscription(EventHub& hub, std::shared_ptr<EventHub::Subscriber> sub)
      : hub_(hub), sub(std::move(sub)) {}
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { hub_.unsubscribe(sub); }

 private:
  EventHub& hub_;

 public:
  const std::shared_ptr<EventHub::Subscriber> sub;
};

// The event stream: the state now (queues, nodes), then the hub's events as they
// come, a ping after each quiet 15 s; ends when the client leaves, the server stops
// it, or the hub drops the subscriber for falling behind.
Task<void> stream_events(LiveApiPtr api, std::shared_ptr<Subscription> s, Context ctx,
                         http::BodyWriter& out) {
  // Each co_await into a named local, never an `if` condition (GCC 12, STYLE.md).
  Result<void> written = co_await out.write("retry: 3000\n\n");
  if (!written) co_return;
  Result<LiveView::Snapshot> now = co_await api->live->snapshot(ctx);
  if (now) {
    std::string first("event: queues\ndata: ");
    first.append(now->queues).append("\n\nevent: nodes\ndata: ").append(now->nodes).append("\n\n");
    written = co_await out.write(first);
    if (!written) co_return;
  }
  std::string batch;
  while (!ctx.is_done()) {
    auto [wait, stop] = with_timeout(ctx, kPingInterval);
    Result<std::string> event = co_await s->sub->queue.recv(wait);
    stop();
    if (!event) {
      if (event.error() != orca::errc::deadline_exceeded || ctx.is_done())
        break;  // dropped, or over
      batch.assign(": ping\n\n");
    } else {
      // What else is queued goes in the same write.
      batch = std::move(*event);
      for (int i = 0; i < 64; ++i) {
        Result<std::string> more = s->sub->queue.try_recv();
        if (!more) break;
        batch.append(*more);
      }
    }
    written = co_await out.write(batch);
    if (!written) break;
  }
}

Task<http::Response> events(LiveApiPtr api, Context, http::Request) {
  EventHub& hub = api->live->events();
  std::shared_ptr<EventHub::Subscriber> sub = hub.subscribe();
  if (!sub) {
    http::Response r = error(503, "too many event streams");
    r.headers.set("Retry-After", "5");
    co_return r;
  }
  auto held = std::make_shared<Subscription>(hub, std::move(sub));
  http::Response r;
  r.headers.set("Content-Type", "text/event-stream");
  r.headers.set("Cache-Control", "no-store");
  r.headers.set("X-Accel-Buffering", "no");  // a proxy in front must not hold events
  r.stream = [api, held](Context c, http::BodyWriter& w) {
    return stream_events(api, held, std::move(c), w);
  };
  co_return r;
}

Task<http::Response> trace(LiveApiPtr api, Context, http::Request req) {
  std::string id(req.path_param("trace_id").value_or(""));
  bool hex = id.size() == 32;
  for (char& c : id) {
    hex = hex && std::isxdigit(static_cast<unsigned char>(c));
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (!hex) co_return error(400, "trace id must be 32 hex digits");
  std::vector<StoredSpan> spans = api->live->spans().trace(id);
  if (spans.empty())
    co_return error(404, "no span of trace " + id + " (the center keeps the most recent " +
                             std::to_string(api->live->options().max_spans) + " spans)");
  json list = json::array();
  for (const StoredSpan& s : spans)
    list.push_back(to_json(s));
  co_return ok(json{{"trace_id", id}, {"spans", list}});
}

// OTLP/HTTP JSON (ExportTraceServiceRequest). The answer is OTLP's success, an
// empty ExportTraceServiceResponse.
Task<http::Response> receive_spans(LiveApiPtr api, Context, http::Request req) {
  const std::size_t limit = api->live->options().max_otlp_bytes;
  if (req.body.size() > limit)
    co_return error(413, "body is " + std::to_string(req.body.size()) + " bytes, the limit is " +
                             std::to_string(limit));
  Result<std::size_t> stored = api->live->spans().add_otlp_json(req.body);
  if (!stored) co_return error(400, std::string(stored.error().detail()));
  co_return ok(json::object());
}

// Each stored periodic job, with the newest job of its type in its queue as its
// last run (the broker does not link a fired job to its entry).
Task<http::Response> periodic(LiveApiPtr api, Context ctx, http::Request) {
  Broker& broker = api->center->broker();
  auto entries = co_await broker.periodic(ctx);
  if (!entries) co_return error(503, entries.error().message());
  json out = json::array();
  for (const PeriodicEntry& e : *entries) {
    json item{{"name", e.name},
              {"schedule", e.schedule},
              {"queue", e.spec.queue},
              {"type", e.spec.type},
              {"next_run_ms", to_unix_ms(e.next_run)},
              {"last_run_ms", nullptr},
              {"last_job_id", nullptr},
              {"last_state", nullptr}};
    JobFilter f;
    f.type = e.spec.type;
    f.queue = e.spec.queue;
    f.limit = 1;
    auto last = co_await broker.list(ctx, f);
    if (last && !last->empty()) {
      const Job& j = last->front();
      item["last_run_ms"] = to_unix_ms(j.created_at);
      item["last_job_id"] = j.id;
      item["last_state"] = std::string(to_string(j.state));
    }
    out.push_back(std::move(item));
  }
  co_return ok(out);
}

// `name="..."` label values of `family`'s samples in a Prometheus text rendering,
// with their values.
std::vector<std::pair<std::string, double>> samples_of(const std::string& text,
                                                       std::string_view family) {
  std::vector<std::pair<std::string, double>> out;
  std::string prefix(family);
  prefix.append("{name=\"");
  std::size_t at = 0;
  while ((at = text.find(prefix, at)) != std::string::npos) {
    if (at != 0 && text[at - 1] != '\n') {
      at += prefix.size();
      continue;
    }
    const std::size_t name_start = at + prefix.size();
    const std::size_t name_end = text.find("\"}", name_start);
    const std::size_t line_end = text.find('\n', name_start);
    if (name_end == std::string::npos || name_end > line_end) break;
    const std::string value = text.substr(name_end + 3, line_end - (name_end + 3));
    double v = 0;
    const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec == std::errc()) out.emplace_back(text.substr(name_start, name_end - name_start), v);
    at = line_end;
  }
  return out;
}

std::string rate_text(const resilience::RateLimiterOptions& o) {
  const double per_second = o.events / std::chrono::duration<double>(o.per).count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g/s,burst=%lld", per_second, static_cast<long long>(o.burst));
  return buf;
}

// Breakers of the nodes attached to the center (per job type and node), and
// limiters: the queue rate limits of those nodes, and every limiter the metrics
// registry counts rejections of (the API's rate limits, load shedding).
Task<http::Response> resilience_state(LiveApiPtr api, Context, http::Request) {
  json breakers = json::array();
  json limiters = json::array();
  for (const Node* node : api->center->attached()) {
    for (const TypeBreakerStatus& b : node->breakers())
      breakers.push_back({{"name", b.type + "@" + node->id()},
                          {"type", b.type},
                          {"node", node->id()},
                          {"state", resilience::to_string(b.state)},
                          {"calls", b.window.calls},
                          {"failures", b.window.failures},
                          {"failure_rate", b.window.failure_rate()},
                          {"rejected", b.rejected},
                          {"state_changes", b.state_changes}});
    const std::vector<std::string> throttled = node->throttled_queues();
    for (const auto& [queue, rate] : node->options().queue_rates)
      limiters.push_back(
          {{"name", "queue:" + queue + "@" + node->id()},
           {"queue", queue},
           {"node", node->id()},
           {"rate", rate_text(rate)},
           {"scope", node->fleet_limited(queue) ? "fleet" : "node"},
           {"throttled", std::find(throttled.begin(), throttled.end(), queue) != throttled.end()},
           {"rejected", nullptr}});
  }
  if (api->registry != nullptr) {
    const std::string text = api->registry->render(::orca::metrics::Format::kPrometheusText);
    for (const auto& [name, rejected] : samples_of(text, "orca_limiter_rejected_total"))
      limiters.push_back({{"name", name}, {"rate", nullptr}, {"rejected", rejected}});
  }
  co_return ok(json{{"breakers", breakers}, {"limiters", limiters}});
}

}  // namespace

void add_live_routes(http::Router& router, Center& center, LiveView* live,
                     ::orca::metrics::Registry* registry) {
  auto api = std::make_shared<const LiveApi>(LiveApi{&center, live, registry});
  router.get("/api/periodic",
             [api](Context c, http::Request r) { return periodic(api, c, std::move(r)); });
  router.get("/api/resilience",
             [api](Context c, http::Request r) { return resilience_state(api, c, std::move(r)); });
  if (live == nullptr) return;
  router.get("/api/stats/series",
             [api](Context c, http::Request r) { return series(api, c, std::move(r)); });
  router.get("/api/events",
             [api](Context c, http::Request r) { return events(api, c, std::move(r)); });
  router.get("/api/traces/{trace_id}",
             [api](Context c, http::Request r) { return trace(api, c, std::move(r)); });
  router.post("/v1/traces",
              [api](Context c, http::Request r) { return receive_spans(api, c, std::move(r)); });
}

}  // namespace orca::jobs::detail
