// One trace end to end on the embedded SQLite broker, exported as OTLP/HTTP JSON to a
// collector played by an orca HTTP server: a caller's request to the jobs API → the
// API's server span → the enqueue span of the job it submits → the attempt's span on a
// node → the handler's outgoing HTTP call → the server span of that call. The test reads the
// collector's JSON and checks the ids and parent links of the whole chain.
#include <map>
#include <nlohmann/json.hpp>

#include "jobs_test_support.hpp"
#include "orca/jobs/http_api.hpp"
#include "orca/jobs/job_trace.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/otlp_writer.hpp"
#include "orca/net/http/server.hpp"
#include "orca/trace/batch_exporter.hpp"
#include "orca/trace/tracer.hpp"
#include "support/result_assertions.hpp"

namespace orca::jobs::testing {
namespace {

using nlohmann::json;

constexpr const char* kCaller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr const char* kChainTrace = "4bf92f3577b34da6a3ce929d0e0e4736";

// The job's handler: one GET to the downstream URL in its payload, under its context.
Task<Result<void>> call_downstream(Context ctx, Job job) {
  http::Client client;
  auto r = co_await client.get(ctx, job.spec.payload);
  if (!r) co_return r.error();
  co_return Result<void>{};
}

TEST(TraceChain, RequestJobAttemptAndOutgoingCallShareOneTraceExportedAsOtlp) {
  TempDir dir;
  auto opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(opened);
  SqliteBroker& broker = **opened;
  auto tracer = std::make_shared<trace::Tracer>(trace::TracerOptions{.service_name = "test"});
  std::vector<json> requests;  // what the collector received
  JobId id = 0;
  std::string job_trace_id;
  std::vector<Job> listed;
  trace::set_global_tracer(tracer);
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    // The collector, which also serves the handler's downstream call.
    http::Router collector;
    collector.post("/v1/traces", [&requests](Context, http::Request req) -> Task<http::Response> {
      requests.push_back(json::parse(req.body, nullptr, false));
      co_return http::Response::json(200, "{}");
    });
    collector.get("/downstream", [](Context, http::Request) -> Task<http::Response> {
      co_return http::Response::text(200, "ok");
    });
    http::Server collector_server(std::move(collector));
    EXPECT_TRUE(collector_server.start(net::Address::loopback_v4(0)).has_value());
    const std::string collector_base =
        "http://127.0.0.1:" + std::to_string(collector_server.local_address().port());
    auto exporter = std::make_shared<trace::BatchExporter>(
        http::otlp_http_writer(std::make_shared<http::Client>(), collector_base + "/v1/traces"),
        trace::BatchExporterOptions{.service_name = "test"});
    tracer->add_sink(exporter);

    Center center(broker, {});
    Node node(broker, {.id = "traced-node"});
    node.handle("call", call_downstream);
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    http::Server api(make_api_router(center, {}));
    EXPECT_TRUE(api.start(net::Address::loopback_v4(0)).has_value());

    // The caller: a span of its own (kCaller), from which the client sends traceparent.
    const Context caller = trace::with_span_context(guard, *trace::parse_traceparent(kCaller));
    http::Client client;
    http::Request req;
    req.method = "POST";
    req.target = "http://127.0.0.1:" + std::to_string(api.local_address().port()) + "/api/jobs";
    req.headers.set("Content-Type", "application/json");
    req.body = json{{"type", "call"}, {"payload", collector_base + "/downstream"}}.dump();
    auto submitted = co_await client.request(caller, std::move(req));
    EXPECT_TRUE(submitted.has_value() && submitted->status == 201);
    if (submitted) id = json::parse(submitted->body).value("id", JobId{0});
    co_await wait_until_done(broker, guard, id);
    auto job = co_await broker.get(guard, id);
    if (job) job_trace_id = job->spec.trace_id;
    JobFilter f;
    f.trace_id = kChainTrace;
    auto by_trace = co_await broker.list(guard, f);
    if (by_trace) listed = *by_trace;

    trace::set_global_tracer(nullptr);  // the export's own requests are not traced
    auto flushed = co_await exporter->flush(guard);
    EXPECT_TRUE(flushed.has_value());
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
    (void)co_await api.shutdown(guard);
    (void)co_await collector_server.shutdown(guard);
  });
  trace::set_global_tracer(nullptr);
  ASSERT_NE(id, 0);
  EXPECT_EQ(job_trace_id, kChainTrace);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, id);

  // Every span of the trace, by name.
  std::map<std::string, json> spans;
  for (const json& r : requests)
    for (const json& s : r["resourceSpans"][0]["scopeSpans"][0]["spans"])
      if (s.value("traceId", "") == kChainTrace) spans[s.value("name", "")] = s;
  ASSERT_EQ(spans.size(), 6u) << json(requests).dump();
  const json& call = spans.at("HTTP POST");
  const json& served = spans.at("POST /api/jobs");
  const json& enqueue = spans.at("enqueue");
  const json& attempt = spans.at("job call");
  const json& out = spans.at("HTTP GET");
  const json& downstream = spans.at("GET /downstream");
  EXPECT_EQ(call.value("parentSpanId", ""), "00f067aa0ba902b7");
  EXPECT_EQ(served.value("parentSpanId", ""), call.value("spanId", ""));
  EXPECT_EQ(enqueue.value("parentSpanId", ""), served.value("spanId", ""));
  EXPECT_EQ(enqueue.value("kind", 0), 4);
  EXPECT_EQ(attempt.value("parentSpanId", ""), enqueue.value("spanId", ""));
  EXPECT_EQ(out.value("parentSpanId", ""), attempt.value("spanId", ""));
  EXPECT_EQ(downstream.value("parentSpanId", ""), out.value("spanId", ""));
  EXPECT_EQ(attempt.value("kind", 0), 5);
  EXPECT_EQ(attempt["status"].value("code", -1), 1);
  bool saw_wait = false;
  for (const json& a : attempt["attributes"])
    if (a.value("key", "") == "orca.job.queue_wait_ms") saw_wait = true;
  EXPECT_TRUE(saw_wait) << attempt.dump();
  EXPECT_EQ(requests[0]["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "test");
}

// A job submitted with a trace id of its own and no traceparent: its attempt is a
// root span of that trace.
TEST(TraceChain, AnOwnTraceIdMakesTheAttemptARootOfThatTrace) {
  TempDir dir;
  auto opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(opened);
  SqliteBroker& broker = **opened;
  auto tracer = std::make_shared<trace::Tracer>(trace::TracerOptions{});
  trace::set_global_tracer(tracer);
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, {});
    Node node(broker, {.id = "n"});
    node.handle("t", [](Context, Job) -> Task<Result<void>> { co_return Result<void>{}; });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    JobSpec s = spec("t");
    s.trace_id = kChainTrace;
    auto added = co_await center.submit(guard, s);
    co_await wait_until_done(broker, guard, added->id);
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  trace::set_global_tracer(nullptr);
  const auto spans = tracer->recent();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].context.trace_id.hex(), kChainTrace);
  EXPECT_FALSE(spans[0].parent_span_id.valid());
}

// A job submitted outside any trace: each attempt's span is a root, and all attempts
// of the job share one trace (derived from its id and creation time), another job's
// apart.
TEST(TraceChain, AttemptsOfAnUntracedJobShareOneTrace) {
  auto tracer = std::make_shared<trace::Tracer>(trace::TracerOptions{});
  trace::set_global_tracer(tracer);
  Job job;
  job.id = 7;
  job.spec.type = "mail";
  job.created_at = WallClock::time_point(std::chrono::milliseconds(1'796'000'000'000));
  job.attempt = 1;
  trace::Span first = attempt_span(job);
  job.attempt = 2;
  trace::Span second = attempt_span(job);
  Job other = job;
  other.id = 8;
  trace::Span third = attempt_span(other);
  trace::set_global_tracer(nullptr);
  ASSERT_TRUE(first.context().valid());
  EXPECT_EQ(first.context().trace_id, second.context().trace_id);
  EXPECT_NE(first.context().span_id, second.context().span_id);
  EXPECT_NE(first.context().trace_id, third.context().trace_id);
}

}  // namespace
}  // namespace orca::jobs::testing
