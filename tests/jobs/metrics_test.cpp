// GET /metrics of a serve-like setup (center, node, API server on one registry) after
// a few jobs: the job, queue, node and HTTP families with the right counts, the
// exemplar of a traced job in OpenMetrics only, and the access policy over /metrics.
#include "orca/jobs/metrics.hpp"
#include "orca/jobs/http_api.hpp"
#include "orca/metrics/standard_metrics.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/server.hpp"
#include "orca/net/http/token_table.hpp"

#include "jobs_test_support.hpp"
#include "support/result_assertions.hpp"

namespace orca::jobs::testing {
namespace {

constexpr const char* kMetricsTrace = "4bf92f3577b34da6a3ce929d0e0e4736";

Task<http::Response> fetch(std::string method, std::string url, std::string body,
                           std::string accept = "", std::string token = "") {
  http::Client client;
  http::Request req;
  req.method = std::move(method);
  req.target = std::move(url);
  req.body = std::move(body);
  if (!req.body.empty()) req.headers.set("Content-Type", "application/json");
  if (!accept.empty()) req.headers.set("Accept", std::move(accept));
  if (!token.empty()) req.headers.set("Authorization", "Bearer " + token);
  auto r = co_await client.request(hang_guard(), std::move(req));
  EXPECT_TRUE(r.has_value()) << r.error().message();
  if (!r) co_return http::Response{};
  co_return std::move(*r);
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(JobMetrics, ServeScrapeCountsJobsQueuesNodesAndRequests) {
  TempDir dir;
  auto opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(opened);
  SqliteBroker& broker = **opened;
  metrics::Registry registry;
  auto standard = metrics::register_standard_metrics(registry);
  JobMetrics job_metrics(registry);
  // max_age 0: every scrape asks the broker, so this one sees the final counts.
  BrokerMetrics broker_metrics(registry, broker, std::chrono::milliseconds(0));
  http::Response text, open_metrics, before_stop;
  std::string ok_id;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    CenterOptions co;
    co.tick = 5ms;  // promotes the retried job quickly
    co.metrics = &job_metrics;
    Center center(broker, co);
    NodeOptions o;
    o.id = "metrics-node";
    o.concurrency = 4;
    o.metrics = &job_metrics;
    Node node(broker, o);
    node.handle("ok", [](Context, Job) -> Task<Result<void>> { co_return Result<void>{}; });
    node.handle("bad", [](Context, Job) -> Task<Result<void>> {
      co_return make_error_code(errc::permanent);
    });
    node.handle("flaky", [](Context, Job) -> Task<Result<void>> {
      co_return make_error_code(std::errc::io_error);
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    while ((co_await broker.nodes(guard))->empty())
      co_await sleep_for(2ms);
    ApiOptions api;
    api.metrics = &registry;
    http::ServerOptions so;
    so.metrics = &registry;
    http::Server server(make_api_router(center, api), so);
    EXPECT_TRUE(server.start(net::Address::loopback_v4(0)).has_value());
    const std::string base = "http://127.0.0.1:" + std::to_string(server.local_address().port());

    std::vector<JobId> ids;
    const std::string bodies[] = {
        std::string(R"({"type": "ok", "trace_id": ")") + kMetricsTrace + "\"}",
        R"({"type": "ok"})",
        R"({"type": "ok", "queue": "mail"})",
        R"({"type": "bad"})",
        R"({"type": "flaky", "max_attempts": 2, "backoff_base_ms": 1, "backoff_max_ms": 1})",
    };
    for (const std::string& body : bodies) {
      http::Response r = co_await fetch("POST", base + "/api/jobs", body);
      ids.push_back(nlohmann::json::parse(r.body, nullptr, false).value("id", JobId{0}));
    }
    for (JobId id : ids)
      co_await wait_until_done(broker, guard, id);
    (void)co_await fetch("GET", base + "/api/jobs/" + std::to_string(ids[0]), "");
    (void)co_await fetch("GET", base + "/no/such/path", "");
    before_stop = co_await fetch("GET", base + "/metrics", "");
    // The node counts a job's end once the broker has taken its ack; stopping the node
    // waits for every ack, so the scrape below sees them all.
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
    text = co_await fetch("GET", base + "/metrics", "");
    open_metrics =
        co_await fetch("GET", base + "/metrics", "",
                       "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");
    auto [sctx, scancel] = with_timeout(guard, 5s);
    (void)co_await server.shutdown(sctx);
  });
  ASSERT_EQ(text.status, 200);
  EXPECT_EQ(text.headers.get("Content-Type").value_or(""),
            "text/plain; version=0.0.4; charset=utf-8");
  const std::string& t = text.body;
  for (const char* line : {
           "orca_jobs_enqueued_total{queue=\"default\",type=\"ok\"} 2",
           "orca_jobs_enqueued_total{queue=\"mail\",type=\"ok\"} 1",
           "orca_jobs_enqueued_total{queue=\"default\",type=\"bad\"} 1",
           "orca_jobs_finished_total{queue=\"default\",type=\"ok\",state=\"succeeded\"} 2",
           "orca_jobs_finished_total{queue=\"mail\",type=\"ok\",state=\"succeeded\"} 1",
           "orca_jobs_finished_total{queue=\"default\",type=\"bad\",state=\"failed\"} 1",
           "orca_jobs_finished_total{queue=\"default\",type=\"flaky\",state=\"dead\"} 1",
           "orca_jobs_retried_total{queue=\"default\",type=\"flaky\"} 1",
           "orca_job_duration_seconds_count{queue=\"default\",type=\"ok\"} 2",
           "orca_job_duration_seconds_count{queue=\"default\",type=\"flaky\"} 2",
           "orca_job_wait_seconds_count{queue=\"default\"} 5",
           "orca_queue_jobs{queue=\"default\",state=\"succeeded\"} 2",
           "orca_queue_jobs{queue=\"default\",state=\"dead\"} 1",
           "orca_nodes{state=\"left\"} 1",
           "orca_http_requests_total{method=\"POST\",route=\"/api/jobs\",code=\"201\"} 5",
           "orca_http_requests_total{method=\"GET\",route=\"/api/jobs/{id}\",code=\"200\"} 1",
           "orca_http_requests_total{method=\"GET\",route=\"unrouted\",code=\"404\"} 1",
           "orca_http_requests_total{method=\"GET\",route=\"/metrics\",code=\"200\"} 1",
       })
    EXPECT_TRUE(has_line(t, line)) << "want line " << line << " in\n" << t;
  EXPECT_NE(t.find("\norca_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/"
                   "jobs\",le=\"+Inf\"} 5\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("\norca_http_connections "), std::string::npos) << t;
  EXPECT_NE(t.find("\nprocess_open_fds "), std::string::npos) << t;
  EXPECT_EQ(t.find("trace_id"), std::string::npos) << "no exemplars in the text format:\n" << t;
  // Before the node stopped, it was alive and had its capacity.
  EXPECT_TRUE(has_line(before_stop.body, "orca_node_capacity{node=\"metrics-node\"} 4"))
      << before_stop.body;
  EXPECT_TRUE(has_line(before_stop.body, "orca_nodes{state=\"alive\"} 1")) << before_stop.body;

  ASSERT_EQ(open_metrics.status, 200);
  EXPECT_EQ(open_metrics.headers.get("Content-Type").value_or(""),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
  const std::string& om = open_metrics.body;
  EXPECT_TRUE(om.ends_with("# EOF\n")) << om;
  EXPECT_NE(om.find("# TYPE orca_jobs_finished counter\n"), std::string::npos) << om;
  const std::size_t exemplar = om.find(std::string("# {trace_id=\"") + kMetricsTrace + "\"}");
  ASSERT_NE(exemplar, std::string::npos) << om;
  const std::size_t line_start = om.rfind('\n', exemplar) + 1;
  const std::string bucket = "orca_job_duration_seconds_bucket{queue=\"default\",type=\"ok\",le=";
  EXPECT_EQ(om.compare(line_start, bucket.size(), bucket), 0)
      << om.substr(line_start, exemplar - line_start);
}

// The lag gauge: a pending job's age since it became due, taken at the scrape (so
// between the clock read before and after it), and no sample once no job is pending.
TEST(JobMetrics, QueueLagIsTheOldestPendingJobsAgeAndAbsentWithoutOne) {
  TempDir dir;
  auto opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(opened);
  SqliteBroker& broker = **opened;
  metrics::Registry registry;
  BrokerMetrics broker_metrics(registry, broker, std::chrono::milliseconds(0));
  std::string pending_scrape, drained_scrape;
  double lowest = 0, highest = 0;
  orca::run([&]() -> Task<void> {
    Context ctx = hang_guard();
    JobSpec s = spec("t");
    s.queue = "lagging";
    std::vector<JobSpec> one{s};
    auto added = co_await broker.enqueue(ctx, std::move(one));
    CO_ASSERT_OK(added);
    auto job = co_await broker.get(ctx, added->at(0).id);
    CO_ASSERT_OK(job);
    const WallClock::time_point before = WallClock::now();
    co_await registry.refresh(ctx);
    pending_scrape = registry.render(metrics::Format::kPrometheusText);
    const WallClock::time_point after = WallClock::now();
    // The gauge has millisecond due times under it and prints seconds: a little slack.
    lowest = std::chrono::duration<double>(before - job->ready_at).count() - 0.001;
    highest = std::chrono::duration<double>(after - job->ready_at).count() + 0.001;
    CO_ASSERT_OK(co_await broker.cancel(ctx, job->id));
    co_await registry.refresh(ctx);
    drained_scrape = registry.render(metrics::Format::kPrometheusText);
  });
  const std::string prefix = "\norca_queue_oldest_pending_age_seconds{queue=\"lagging\"} ";
  const std::size_t at = pending_scrape.find(prefix);
  ASSERT_NE(at, std::string::npos) << pending_scrape;
  const double age = std::strtod(pending_scrape.c_str() + at + prefix.size(), nullptr);
  EXPECT_GE(age, lowest) << pending_scrape;
  EXPECT_LE(age, highest) << pending_scrape;
  EXPECT_EQ(drained_scrape.find("orca_queue_oldest_pending_age_seconds{"), std::string::npos)
      << "want no sample once nothing is pending, got\n"
      << drained_scrape;
}

TEST(JobMetrics, MetricsNeedAReadTokenWhenTokensAreOn) {
  TempDir dir;
  auto opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(opened);
  SqliteBroker& broker = **opened;
  metrics::Registry registry;
  int without = 0, with_read = 0;
  orca::run([&]() -> Task<void> {
    Center center(broker, {});
    ApiOptions api;
    api.metrics = &registry;
    auto tokens = std::make_shared<http::TokenTable>();
    tokens->parse("read read-token-0123456789abcdef grafana", "test tokens");
    api.access.tokens = tokens;
    http::Server server(make_api_router(center, api));
    EXPECT_TRUE(server.start(net::Address::loopback_v4(0)).has_value());
    const std::string url =
        "http://127.0.0.1:" + std::to_string(server.local_address().port()) + "/metrics";
    without = (co_await fetch("GET", url, "")).status;
    with_read = (co_await fetch("GET", url, "", "", "read-token-0123456789abcdef")).status;
    auto [sctx, scancel] = with_timeout(hang_guard(), 5s);
    (void)co_await server.shutdown(sctx);
  });
  EXPECT_EQ(without, 401);
  EXPECT_EQ(with_read, 200);
}

}  // namespace
}  // namespace orca::jobs::testing
