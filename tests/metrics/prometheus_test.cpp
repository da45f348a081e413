// A real Prometheus (Debian's `prometheus`) scrapes a serve-like orca server (center,
// node and API server on one registry) on loopback, in OpenMetrics, and its query API
// then answers orca_jobs_finished_total with the jobs run, and the exemplar of a
// traced job. Prometheus starts in a temporary directory on a free port with a
// 100 ms scrape interval, and is stopped by its PID. It fails (never skips) when
// prometheus is not installed: scripts/deps installs it.
//
// Cost: about 5.3 s, nearly all of it Prometheus's own: its scrape manager applies
// the configured targets on a 5-second ticker (2.42 has no flag to shorten it), so
// the first scrape comes 5 s after start whatever the scrape interval. Prometheus is
// ready to answer queries within 0.2 s.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "orca/jobs/center.hpp"
#include "orca/jobs/http_api.hpp"
#include "orca/jobs/metrics.hpp"
#include "orca/jobs/node.hpp"
#include "orca/jobs/sqlite_broker.hpp"
#include "orca/metrics/standard_metrics.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/server.hpp"
#include "orca/orca.hpp"
#include "prometheus_support.hpp"
#include "support/redis_server.hpp"  // spawn, find_on_path, kernel_port

using namespace std::chrono_literals;
using orca::Context;
using orca::Result;
using orca::Task;
namespace jobs = orca::jobs;
namespace http = orca::http;
namespace rd = orca_test::redis_detail;

namespace {

constexpr const char* kTrace = "0af7651916cd43dd8448eb211c80319c";

// The server answers the query API: GET `url`, the body, or "" (not up yet).
Task<std::string> get(Context ctx, std::string url) {
  auto [status, body] = co_await orca_prometheus_test::http_get(std::move(ctx), std::move(url));
  co_return status == 200 ? std::move(body) : std::string();
}

TEST(Prometheus, ScrapesOrcaAndAnswersQueriesWithExemplars) {
  const std::optional<std::string> prometheus = rd::find_on_path("prometheus");
  ASSERT_TRUE(prometheus.has_value())
      << "prometheus is not on PATH: install Debian's package prometheus (scripts/deps does)";
  orca_prometheus_test::ScratchDir dir("orca-prometheus");
  ASSERT_FALSE(dir.path.empty());
  const std::uint16_t prom_port = rd::kernel_port();
  ASSERT_NE(prom_port, 0);

  auto opened = jobs::SqliteBroker::open({.path = dir.path + "/jobs.db"});
  ASSERT_TRUE(opened.has_value()) << opened.error();
  jobs::SqliteBroker& broker = **opened;
  orca::metrics::Registry registry;
  auto standard = orca::metrics::register_standard_metrics(registry);
  jobs::JobMetrics job_metrics(registry);
  jobs::BrokerMetrics broker_metrics(registry, broker);
  pid_t pid = -1;
  std::string finished_answer, exemplars_answer, up_answer;
  orca::run([&]() -> Task<void> {
    auto [guard, stop_guard] = orca::with_timeout(orca::background(), 60s);
    auto [ctx, stop] = orca::with_cancel(guard);
    jobs::CenterOptions co;
    co.metrics = &job_metrics;
    jobs::Center center(broker, co);
    jobs::NodeOptions no;
    no.id = "prometheus-node";
    no.metrics = &job_metrics;
    jobs::Node node(broker, no);
    node.handle("ok", [](Context, jobs::Job) -> Task<Result<void>> { co_return Result<void>{}; });
    center.attach(node);
    auto c = orca::spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = orca::spawn([&node, ctx = ctx] { return node.run(ctx); });
    jobs::ApiOptions api;
    api.metrics = &registry;
    http::ServerOptions so;
    so.metrics = &registry;
    http::Server server(jobs::make_api_router(center, api), so);
    EXPECT_TRUE(server.start(orca::net::Address::loopback_v4(0)).has_value());
    const std::string target = "127.0.0.1:" + std::to_string(server.local_address().port());

    for (int i = 0; i < 3; ++i) {
      jobs::JobSpec spec;
      spec.type = "ok";
      if (i == 0) spec.trace_id = kTrace;
      auto submitted = co_await center.submit(guard, spec);
      EXPECT_TRUE(submitted.has_value());
    }

    // Prometheus: scrape every 100 ms (its durations take milliseconds; nothing
    // shorter is useful), exemplars kept (a feature flag in 2.42).
    {
      std::ofstream config(dir.path + "/prometheus.yml");
      config << "global:\n"
                "  scrape_interval: 100ms\n"
                "  scrape_timeout: 100ms\n"
                "scrape_configs:\n"
                "  - job_name: orca\n"
                "    static_configs:\n"
                "      - targets: ['"
             << target << "']\n";
    }
    pid = rd::spawn({*prometheus, "--config.file=" + dir.path + "/prometheus.yml",
                     "--storage.tsdb.path=" + dir.path + "/data",
                     "--web.listen-address=127.0.0.1:" + std::to_string(prom_port),
                     "--enable-feature=exemplar-storage", "--log.level=warn"},
                    dir.path, dir.path + "/prometheus.log");
    EXPECT_GT(pid, 0);
    const std::string api_base = "http://127.0.0.1:" + std::to_string(prom_port) + "/api/v1/";
    // Polls (a bounded wait for Prometheus to start and scrape, not a timing
    // assertion) until the three jobs show.
    while (!guard.is_done()) {
      finished_answer = co_await get(
          guard,
          api_base + "query?query=sum(orca_jobs_finished_total%7Bstate%3D%22succeeded%22%7D)");
      if (finished_answer.find("\"3\"") != std::string::npos) break;
      (void)co_await orca::sleep_for(guard, 50ms);
    }
    up_answer = co_await get(guard, api_base + "query?query=up%7Bjob%3D%22orca%22%7D");
    exemplars_answer = co_await get(
        guard, api_base + "query_exemplars?query=orca_job_duration_seconds_bucket&start=0&end=" +
                   std::to_string(std::time(nullptr) + 60));
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
    auto [sctx, scancel] = orca::with_timeout(guard, 5s);
    (void)co_await server.shutdown(sctx);
  });
  orca_prometheus_test::stop_child(pid);
  const std::string log = orca_prometheus_test::read_text(dir.path + "/prometheus.log");
  const auto finished = nlohmann::json::parse(finished_answer, nullptr, false);
  ASSERT_FALSE(finished.is_discarded())
      << "query answered \"" << finished_answer << "\"; prometheus log:\n"
      << log;
  ASSERT_EQ(finished["data"]["result"].size(), 1u) << finished_answer;
  EXPECT_EQ(finished["data"]["result"][0]["value"][1], "3") << finished_answer;
  EXPECT_NE(up_answer.find("\"1\""), std::string::npos) << "up: " << up_answer << "\n" << log;
  EXPECT_NE(exemplars_answer.find(kTrace), std::string::npos)
      << "exemplars: " << exemplars_answer << "\n"
      << log;
}

}  // namespace
