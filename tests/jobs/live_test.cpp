// The center's live view (live.hpp) and its routes: series bucketing on given
// times, the event hub dropping a slow subscriber, the span store and its OTLP/HTTP
// JSON reader; then end to end over a real server: a job submitted through the API
// is seen as `job` events on GET /api/events, spans posted to /v1/traces come back
// from /api/traces/{id}, and shutdown ends the open event stream.
#include "orca/jobs/live.hpp"

#include "jobs_test_support.hpp"
#include "orca/jobs/http_api.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/server.hpp"
#include "orca/net/tcp_stream.hpp"

namespace orca::jobs::testing {
namespace {

using Ms = std::chrono::duration<double, std::milli>;

// A bucket boundary: 10^12 ms is a multiple of 5,000.
const WallClock::time_point kLiveT0 = from_unix_ms(1'000'000'000'000);

TEST(StatsSeries, BucketsAttemptsPerFiveSecondsWithPercentiles) {
  StatsSeries s;
  s.record("mail", kLiveT0 + 1s, false, Ms(10), Ms(100));
  s.record("mail", kLiveT0 + 2s, true, Ms(30), Ms(300));
  s.record("mail", kLiveT0 + 4999ms, false, Ms(20), Ms(200));
  s.record("mail", kLiveT0 + 7s, false, std::nullopt, Ms(50));
  s.record("mail", kLiveT0 + 16s, false, Ms(1), Ms(1));  // the open bucket at +16 s

  auto points = s.points(kLiveT0 + 16s, 15s);
  ASSERT_EQ(points.size(), 1u);
  const std::vector<SeriesPoint>& mail = points["mail"];
  ASSERT_EQ(mail.size(), 3u) << "want the three closed buckets of the last 15 s";
  EXPECT_EQ(mail[0].t_ms, to_unix_ms(kLiveT0));
  EXPECT_EQ(mail[0].finished, 3u);
  EXPECT_EQ(mail[0].failed, 1u);
  EXPECT_EQ(mail[0].wait_p50_ms, 20.0);
  EXPECT_EQ(mail[0].wait_p99_ms, 30.0);
  EXPECT_EQ(mail[0].run_p50_ms, 200.0);
  EXPECT_EQ(mail[0].run_p99_ms, 300.0);
  EXPECT_EQ(mail[1].t_ms, to_unix_ms(kLiveT0 + 5s));
  EXPECT_EQ(mail[1].finished, 1u);
  EXPECT_FALSE(mail[1].wait_p50_ms.has_value()) << "no wait measured in that bucket";
  EXPECT_EQ(mail[1].run_p99_ms, 50.0);
  EXPECT_EQ(mail[2].t_ms, to_unix_ms(kLiveT0 + 10s));
  EXPECT_EQ(mail[2].finished, 0u) << "an interval without attempts is a zero point";

  auto latest = s.latest(kLiveT0 + 21s);
  ASSERT_EQ(latest.count("mail"), 1u);
  EXPECT_EQ(latest["mail"].t_ms, to_unix_ms(kLiveT0 + 15s));
  EXPECT_EQ(latest["mail"].finished, 1u);

  const nlohmann::json j = to_json(mail[1]);
  EXPECT_TRUE(j["wait_p50_ms"].is_null());
  EXPECT_EQ(j["run_p99_ms"], 50.0);

  // An hour later the queue has no point left, and is left out.
  EXPECT_TRUE(s.points(kLiveT0 + 2h, 60min).empty());
}

TEST(StatsSeries, MemoryIsBoundedInQueuesAndSamples) {
  StatsSeries s(2);
  for (int i = 0; i < 5000; ++i)  // past kSamples: a sample of them, same percentiles
    s.record("a", kLiveT0, false, Ms(i % 2 == 0 ? 1 : 3), Ms(1));
  s.record("b", kLiveT0, false, std::nullopt, std::nullopt);
  s.record("c", kLiveT0, false, std::nullopt, std::nullopt);
  EXPECT_EQ(s.dropped(), 1u) << "a third queue past max_queues = 2";
  auto points = s.points(kLiveT0 + 5s, 5s);
  EXPECT_EQ(points.size(), 2u);
  EXPECT_EQ(points["a"].at(0).finished, 5000u);
  EXPECT_EQ(points["a"].at(0).wait_p99_ms, 3.0);
  // A day of points in one queue keeps an hour of them.
  StatsSeries day;
  for (int i = 0; i < 24 * 720; ++i)
    day.record("q", kLiveT0 + i * 5s, false, std::nullopt, std::nullopt);
  auto hour = day.points(kLiveT0 + 24h, 24h);
  EXPECT_EQ(hour["q"].size(), StatsSeries::kPoints);
}

TEST(StatsSeries, FleetCountsAndLocalAttemptsTakeTheLarger) {
  StatsSeries s;
  // Bucket 0: two attempts here; the broker saw five jobs finish (these two among
  // them), one failed. Bucket 1: only attempts here (one failed), none seen by the
  // broker yet. Latency samples from elsewhere count in the percentiles only.
  s.record("q", kLiveT0 + 1s, false, Ms(10), Ms(10));
  s.record("q", kLiveT0 + 2s, false, Ms(10), Ms(10));
  s.record_fleet("q", kLiveT0 + 4s, 5, 1);
  s.record_latency("q", kLiveT0 + 3s, Ms(90), Ms(900));
  s.record("q", kLiveT0 + 6s, true, std::nullopt, Ms(1));
  s.record("q", kLiveT0 + 7s, false, std::nullopt, Ms(1));
  auto points = s.points(kLiveT0 + 10s, 10s)["q"];
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].finished, 5u);
  EXPECT_EQ(points[0].failed, 1u);
  EXPECT_EQ(points[0].run_p99_ms, 900.0) << "the sample from elsewhere is in the percentiles";
  EXPECT_EQ(points[0].run_p50_ms, 10.0);
  EXPECT_EQ(points[1].finished, 2u);
  EXPECT_EQ(points[1].failed, 1u);
}

TEST(EventHub, SlowSubscriberIsDroppedNotBuffered) {
  EventHubOptions ho;
  ho.max_subscribers = 2;
  ho.max_pending = 4;
  EventHub hub(ho);
  auto slow = hub.subscribe();
  auto other = hub.subscribe();
  ASSERT_NE(slow, nullptr);
  EXPECT_EQ(hub.subscribe(), nullptr) << "a third subscriber past max_subscribers = 2";
  for (int i = 0; i < 4; ++i)
    hub.publish("job", "{\"id\":" + std::to_string(i) + "}");
  (void)other->queue.try_recv();  // `other` keeps up; `slow` does not
  (void)other->queue.try_recv();
  hub.publish("job", "{\"id\":4}");
  EXPECT_EQ(hub.subscribers(), 1u);
  EXPECT_EQ(hub.dropped(), 1u);
  // The dropped one reads what was queued, then the end.
  for (int i = 0; i < 4; ++i) {
    Result<std::string> e = slow->queue.try_recv();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(*e, "event: job\ndata: {\"id\":" + std::to_string(i) + "}\n\n");
  }
  EXPECT_EQ(slow->queue.try_recv().error(), orca::errc::closed);
  hub.unsubscribe(other);
  EXPECT_NE(hub.subscribe(), nullptr);
}

const char* const kLiveOtlpBody = R"({
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "worker-1"}}]},
    "schemaUrl": "ignored",
    "scopeSpans": [{
      "scope": {"name": "orca"},
      "spans": [
        {"traceId": "0AF7651916CD43DD8448EB211C80319C", "spanId": "b7ad6b7169203331",
         "parentSpanId": "00f067aa0ba902b7", "name": "job attempt", "kind": 5,
         "startTimeUnixNano": "1700000000002000000", "endTimeUnixNano": 1700000000005000000,
         "status": {"code": 2, "message": "boom"},
         "attributes": [{"key": "orca.job.id", "value": {"intValue": "42"}},
                        {"key": "ok", "value": {"boolValue": false}}],
         "droppedAttributesCount": 0},
        {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba902b7",
         "parentSpanId": "", "name": "POST /api/jobs",
         "startTimeUnixNano": "1700000000001000000", "endTimeUnixNano": "1700000000001500000"}
      ]}]}]})";

TEST(SpanStore, ReadsOtlpJsonToleratingUnknownFields) {
  SpanStore store;
  Result<std::size_t> added = store.add_otlp_json(kLiveOtlpBody);
  ASSERT_TRUE(added.has_value()) << added.error().detail();
  EXPECT_EQ(*added, 2u);
  std::vector<StoredSpan> spans = store.trace("0af7651916cd43dd8448eb211c80319c");
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].name, "POST /api/jobs") << "by start time";
  EXPECT_TRUE(spans[0].parent_span_id.empty());
  EXPECT_EQ(spans[1].service, "worker-1");
  EXPECT_EQ(spans[1].parent_span_id, "00f067aa0ba902b7");
  EXPECT_EQ(spans[1].status, "error");
  EXPECT_EQ(spans[1].status_message, "boom");
  EXPECT_EQ(spans[1].start_ms, 1700000000002.0);
  EXPECT_EQ(spans[1].end_ms, 1700000000005.0);
  EXPECT_EQ(spans[1].attributes["orca.job.id"], 42);
  EXPECT_EQ(spans[1].attributes["ok"], false);
  EXPECT_TRUE(store.trace("11111111111111111111111111111111").empty());
}

TEST(SpanStore, RefusesMalformedRequestsWithTheFieldAndStoresNothing) {
  SpanStore store;
  const std::pair<const char*, const char*> bad[] = {
      {"{\"resourceSpans\": [", "body: malformed JSON"},
      {"[]", "body: expected an ExportTraceServiceRequest object"},
      {R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz","spanId":"b7ad6b7169203331",
          "startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]})",
       "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex digits"},
      {R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c",
          "spanId":"b7ad6b7169203331","startTimeUnixNano":"x","endTimeUnixNano":"2"}]}]}]})",
       "spans[0].startTimeUnixNano: expected a non-negative integer"},
  };
  for (const auto& [body, want] : bad) {
    Result<std::size_t> r = store.add_otlp_json(body);
    ASSERT_FALSE(r.has_value()) << body;
    EXPECT_NE(std::string(r.error().detail()).find(want), std::string::npos)
        << "got \"" << r.error().detail() << "\", want it to hold \"" << want << "\"";
  }
  EXPECT_EQ(store.size(), 0u);
  EXPECT_FALSE(store.add_otlp_json(kLiveOtlpBody, 1).has_value()) << "over max_request_spans";
  SpanStore small(3);
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(small.add_otlp_json(kLiveOtlpBody).has_value());
  EXPECT_EQ(small.size(), 3u) << "bounded: the oldest span goes";
}

// --- over a real server ---------------------------------------------------------

struct LiveReply {
  int status = 0;
  std::string body;
};

Task<LiveReply> live_call(std::string method, std::string url, std::string body) {
  http::Client client;
  http::Request req;
  req.method = std::move(method);
  req.target = std::move(url);
  req.body = std::move(body);
  if (!req.body.empty()) req.headers.set("Content-Type", "application/json");
  auto r = co_await client.request(hang_guard(), std::move(req));
  EXPECT_TRUE(r.has_value()) << r.error().message();
  if (!r) co_return LiveReply{};
  co_return LiveReply{r->status, r->body};
}

// Reads the stream until `data` holds `want`, or EOF.
Task<bool> live_read_until(Context ctx, net::TcpStream* s, std::string& data, std::string want) {
  std::vector<std::byte> buf(4096);
  while (data.find(want) == std::string::npos) {
    Result<std::size_t> n = co_await s->read(ctx, std::span(buf.data(), buf.size()));
    if (!n || *n == 0) co_return false;
    data.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  co_return true;
}

TEST(LiveApi, EventsSeriesTracesOverARealServer) {
  TempDir dir;
  SqliteOptions so;
  so.path = dir.db();
  auto opened = SqliteBroker::open(so);
  ASSERT_OK(opened);
  SqliteBroker& broker = **opened;
  LiveOptions lo;
  lo.max_otlp_bytes = 8 * 1024;
  LiveView live(broker, lo);
  std::string events, after_shutdown;
  bool saw_job = false, saw_end = false, graceful = false;
  LiveReply posted, bad, oversized, trace, unknown, series, bad_minutes, periodic, resilience;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    CenterOptions co;
    co.live = &live;
    Center center(broker, co);
    NodeOptions no;
    no.id = "live-node";
    no.on_attempt_end = live.recorder();
    Node node(broker, no);
    node.handle("t", [](Context, Job) -> Task<Result<void>> { co_return Result<void>{}; });
    center.attach(node);
    CO_ASSERT_OK(co_await center.add_periodic(guard, "nightly", "@every 1h", spec("t")));
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    auto l = spawn([&live, ctx = ctx] { return live.run(ctx); });
    ApiOptions api;
    api.live = &live;
    http::Server server(make_api_router(center, api));
    EXPECT_TRUE(server.start(net::Address::loopback_v4(0)).has_value());
    const std::string base = "http://127.0.0.1:" + std::to_string(server.local_address().port());

    // The event stream, read raw off a socket as the page's fetch() reads it.
    auto dialed = co_await net::TcpStream::connect(
        guard, net::Address::loopback_v4(server.local_address().port()));
    CO_ASSERT_OK(dialed);
    net::TcpStream& s = *dialed;
    const std::string get = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    CO_ASSERT_OK(co_await s.write_all(guard, std::as_bytes(std::span(get))));
    const bool first = co_await live_read_until(guard, &s, events, "event: nodes\n");
    EXPECT_TRUE(first) << "no initial state; got: " << events;

    LiveReply submitted = co_await live_call("POST", base + "/api/jobs", R"({"type": "t"})");
    const JobId id = nlohmann::json::parse(submitted.body, nullptr, false).value("id", JobId{0});
    const std::string want =
        "event: job\ndata: {\"id\":" + std::to_string(id) +
        ",\"queue\":\"default\",\"state\":" + "\"succeeded\",\"type\":\"t\"}\n\n";
    saw_job = co_await live_read_until(guard, &s, events, want);

    posted = co_await live_call("POST", base + "/v1/traces", kLiveOtlpBody);
    bad = co_await live_call("POST", base + "/v1/traces", "{\"resourceSpans\": 7}x");
    oversized = co_await live_call("POST", base + "/v1/traces",
                                   "{\"pad\": \"" + std::string(9000, 'x') + "\"}");
    trace = co_await live_call("GET", base + "/api/traces/0AF7651916CD43DD8448EB211C80319C", "");
    unknown = co_await live_call("GET", base + "/api/traces/11111111111111111111111111111111", "");
    series = co_await live_call("GET", base + "/api/stats/series?minutes=5", "");
    bad_minutes = co_await live_call("GET", base + "/api/stats/series?minutes=61", "");
    periodic = co_await live_call("GET", base + "/api/periodic", "");
    resilience = co_await live_call("GET", base + "/api/resilience", "");

    // Shutdown with the stream open: graceful (not cut), and the stream ends.
    auto shutdown = spawn([&server, guard] { return server.shutdown(guard); });
    const bool more = co_await live_read_until(guard, &s, after_shutdown, "never sent");
    saw_end = !more;
    s.close();  // as a client does at the end: the server need not linger for it
    Result<void> down = co_await std::move(shutdown);
    graceful = down.has_value();
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
    co_await std::move(l);
  });
  EXPECT_TRUE(saw_job) << "no succeeded job event; the stream held:\n" << events;
  EXPECT_NE(events.find("text/event-stream"), std::string::npos);
  EXPECT_NE(events.find("event: queues\ndata: ["), std::string::npos);
  EXPECT_TRUE(graceful) << "shutdown had to cut the open stream";
  EXPECT_TRUE(saw_end) << "the stream did not end at shutdown";
  EXPECT_NE(after_shutdown.find("0\r\n\r\n"), std::string::npos) << "no final chunk";

  EXPECT_EQ(posted.status, 200) << posted.body;
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("malformed JSON"), std::string::npos) << bad.body;
  EXPECT_EQ(oversized.status, 413) << oversized.body;
  EXPECT_EQ(trace.status, 200) << trace.body;
  const auto t = nlohmann::json::parse(trace.body, nullptr, false);
  EXPECT_EQ(t.value("trace_id", ""), "0af7651916cd43dd8448eb211c80319c");
  ASSERT_TRUE(t.contains("spans") && t["spans"].size() == 2u) << trace.body;
  EXPECT_EQ(t["spans"][1]["service"], "worker-1");
  EXPECT_EQ(t["spans"][1]["status"], "error");
  EXPECT_TRUE(t["spans"][0]["parent_span_id"].is_null());
  EXPECT_EQ(unknown.status, 404) << unknown.body;

  EXPECT_EQ(series.status, 200) << series.body;
  const auto sj = nlohmann::json::parse(series.body, nullptr, false);
  EXPECT_EQ(sj.value("interval_ms", 0), 5000);
  ASSERT_TRUE(sj.contains("queues") && sj["queues"].contains("default")) << series.body;
  EXPECT_EQ(sj["queues"]["default"].size(), 60u) << "5 minutes of 5-s points";
  EXPECT_EQ(bad_minutes.status, 400) << bad_minutes.body;

  EXPECT_EQ(periodic.status, 200) << periodic.body;
  const auto pj = nlohmann::json::parse(periodic.body, nullptr, false);
  ASSERT_TRUE(pj.is_array() && pj.size() == 1u) << periodic.body;
  EXPECT_EQ(pj[0]["name"], "nightly");
  EXPECT_EQ(pj[0]["schedule"], "@every 1h");
  EXPECT_TRUE(pj[0]["next_run_ms"].is_number());
  EXPECT_EQ(resilience.status, 200) << resilience.body;
  const auto rj = nlohmann::json::parse(resilience.body, nullptr, false);
  EXPECT_TRUE(rj["breakers"].is_array() && rj["limiters"].is_array()) << resilience.body;
}

}  // namespace
}  // namespace orca::jobs::testing
