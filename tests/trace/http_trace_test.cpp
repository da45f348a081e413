// W3C trace context over orca's HTTP server and client (src/net/http/tracing.hpp),
// and the OTLP/HTTP writer posting to a collector played by an orca server.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "orca/metrics/registry.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/otlp_writer.hpp"
#include "orca/net/http/server.hpp"
#include "orca/orca.hpp"
#include "orca/trace/tracer.hpp"

namespace orca::trace {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// A server whose /echo answers with the traceparent of its handler's context.
http::Router echo_router() {
  http::Router r;
  r.get("/echo", [](Context ctx, http::Request) -> Task<http::Response> {
    const SpanContext* sc = span_context_of(ctx);
    co_return http::Response::text(200, sc != nullptr ? format_traceparent(*sc) : "none");
  });
  return r;
}

struct Seen {
  int status = 0;
  std::string body;
};

// GET /echo on a fresh server, with `header` as traceparent (if not empty) and under
// `ctx` on the client side.
Seen get_echo(Context ctx, std::string header) {
  Seen seen;
  orca::run([&]() -> Task<void> {
    http::Server server(echo_router());
    EXPECT_TRUE(server.start(net::Address::loopback_v4(0)).has_value());
    http::Client client;
    http::Request req;
    req.target = "http://127.0.0.1:" + std::to_string(server.local_address().port()) + "/echo";
    if (!header.empty()) req.headers.set("traceparent", header);
    auto r = co_await client.request(ctx, std::move(req));
    EXPECT_TRUE(r.has_value());
    if (r) seen = {r->status, r->body};
    (void)co_await server.shutdown(background());
  });
  return seen;
}

TEST(HttpTrace, WithoutATracerTheServerPassesTheCallersContextToItsHandler) {
  set_global_tracer(nullptr);
  EXPECT_EQ(get_echo(background(), kParent).body, kParent);
  EXPECT_EQ(get_echo(background(), "").body, "none") << "no tracer, no header: nothing added";
}

TEST(HttpTrace, TheServerSpanIsAChildOfTheClientSpanOfTheCaller) {
  auto tracer = std::make_shared<Tracer>(TracerOptions{});
  set_global_tracer(tracer);
  const Context caller = with_span_context(background(), *parse_traceparent(kParent));
  const Seen seen = get_echo(caller, "");
  set_global_tracer(nullptr);
  const std::vector<SpanData> spans = tracer->recent();
  ASSERT_EQ(spans.size(), 2u);  // the server's span ends first, then the client's
  const SpanData& server = spans[0];
  const SpanData& client = spans[1];
  EXPECT_EQ(server.kind, SpanKind::kServer);
  EXPECT_EQ(server.name, "GET /echo");
  EXPECT_EQ(client.kind, SpanKind::kClient);
  EXPECT_EQ(client.parent_span_id.hex(), "00f067aa0ba902b7");
  EXPECT_EQ(server.parent_span_id, client.context.span_id);
  EXPECT_EQ(server.context.trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(std::get<std::int64_t>(*server.attribute("http.response.status_code")), 200);
  // The handler's context carried the server span.
  EXPECT_EQ(seen.body, format_traceparent(server.context));
}

TEST(HttpTrace, ABadTraceparentStartsAFreshTraceAtTheServer) {
  auto tracer = std::make_shared<Tracer>(TracerOptions{});
  set_global_tracer(tracer);
  (void)get_echo(background(), "00-00000000000000000000000000000000-00f067aa0ba902b7-01");
  set_global_tracer(nullptr);
  const std::vector<SpanData> spans = tracer->recent();
  ASSERT_EQ(spans.size(), 1u) << "an untraced client records no span";
  EXPECT_FALSE(spans[0].parent_span_id.valid());
  EXPECT_TRUE(spans[0].context.trace_id.valid());
}

TEST(HttpTrace, SpanNamesReplaceNumericSegments) {
  auto tracer = std::make_shared<Tracer>(TracerOptions{});
  set_global_tracer(tracer);
  orca::run([&]() -> Task<void> {
    http::Router r;
    r.get("/api/jobs/{id}", [](Context, http::Request) -> Task<http::Response> {
      co_return http::Response::text(500, "no");
    });
    http::Server server(std::move(r));
    EXPECT_TRUE(server.start(net::Address::loopback_v4(0)).has_value());
    http::Client client;
    auto got = co_await client.get(
        background(),
        "http://127.0.0.1:" + std::to_string(server.local_address().port()) + "/api/jobs/42?x=1");
    EXPECT_TRUE(got.has_value());
    (void)co_await server.shutdown(background());
  });
  set_global_tracer(nullptr);
  const std::vector<SpanData> spans = tracer->recent();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "GET /api/jobs/{id}");
  EXPECT_EQ(spans[0].status, SpanStatus::kError) << "a 5xx answer is an error";
}

// A route's pattern names its span (as it labels the metrics), and the request's trace
// id is the exemplar of its latency bucket when the server counts requests.
TEST(HttpTrace, TheRoutePatternNamesTheSpanAndTheTraceIsTheLatencyExemplar) {
  auto tracer = std::make_shared<Tracer>(TracerOptions{});
  set_global_tracer(tracer);
  metrics::Registry registry;
  orca::run([&]() -> Task<void> {
    http::Router r;
    r.get("/api/items/{name}", [](Context, http::Request) -> Task<http::Response> {
      co_return http::Response::text(200, "ok");
    });
    http::ServerOptions so;
    so.metrics = &registry;
    http::Server server(std::move(r), std::move(so));
    EXPECT_TRUE(server.start(net::Address::loopback_v4(0)).has_value());
    http::Client client;
    http::Request req;
    req.target =
        "http://127.0.0.1:" + std::to_string(server.local_address().port()) + "/api/items/abc";
    req.headers.set("traceparent", kParent);
    auto got = co_await client.request(background(), std::move(req));
    EXPECT_TRUE(got.has_value() && got->status == 200);
    (void)co_await server.shutdown(background());
  });
  set_global_tracer(nullptr);
  const std::vector<SpanData> spans = tracer->recent();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "GET /api/items/{name}") << "not the path's /api/items/abc";
  const std::string text = registry.render(metrics::Format::kOpenMetrics);
  const std::size_t bucket = text.find(
      "orca_http_request_duration_seconds_bucket{method=\"GET\","
      "route=\"/api/items/{name}\"");
  ASSERT_NE(bucket, std::string::npos) << text;
  EXPECT_NE(text.find("# {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"}", bucket),
            std::string::npos)
      << text;
}

TEST(OtlpHttpWriter, PostsJsonAndTreatsNon2xxAsAnError) {
  std::vector<std::string> bodies;
  std::vector<std::string> types;
  int answer = 200;
  orca::run([&]() -> Task<void> {
    http::Router collector;
    collector.post("/v1/traces", [&](Context, http::Request req) -> Task<http::Response> {
      bodies.push_back(req.body);
      types.emplace_back(req.headers.get("Content-Type").value_or(""));
      co_return http::Response::json(answer, "{}");
    });
    http::Server server(std::move(collector));
    EXPECT_TRUE(server.start(net::Address::loopback_v4(0)).has_value());
    const std::string url =
        "http://127.0.0.1:" + std::to_string(server.local_address().port()) + "/v1/traces";
    SpanWriter writer = http::otlp_http_writer(std::make_shared<http::Client>(), url);
    auto ok = co_await writer(background(), "{\"resourceSpans\":[]}");
    EXPECT_TRUE(ok.has_value());
    answer = 400;
    auto refused = co_await writer(background(), "{}");
    EXPECT_FALSE(refused.has_value());
    (void)co_await server.shutdown(background());
  });
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[0], "{\"resourceSpans\":[]}");
  EXPECT_EQ(types[0], "application/json");
  EXPECT_THROW(http::otlp_http_writer(std::make_shared<http::Client>(), "not a url"),
               std::invalid_argument);
}

}  // namespace
}  // namespace orca::trace
