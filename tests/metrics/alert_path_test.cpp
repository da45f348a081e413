// The alert path end to end, with the shipped files: a real Prometheus (Debian's
// `prometheus`) scrapes an orca server (center, node and API server on one registry)
// whose handler is slow (600 ms) under steady load, and evaluates
// deploy/prometheus/orca-alerts.yml with only each rule's `for` shortened; a real
// Alertmanager (`prometheus-alertmanager`) runs deploy/prometheus/alertmanager.yml
// with only the receiver's URL and the group timings rewritten; a webhook receiver
// here gets the OrcaJobP99DurationHigh alert from it, and orca's own P99 report
// (P99Report with alert_webhook, as `orca serve --alert-webhook`); Prometheus's P99 of
// the job durations lies in the bucket of the 600 ms runs. On the same setup:
// `promtool check metrics` passes on a live scrape of /metrics, and every PromQL
// expression of deploy/grafana/orca.json runs on the test Prometheus without error.
// Both servers run in a temporary directory on free loopback ports and are stopped by
// their PIDs; a missing binary fails the test (scripts/deps installs both packages).
//
// Cost: about 7 s, most of it Prometheus's: its scrape and notifier managers apply
// their configured targets on a 5-second ticker (prometheus_test.cpp), so the first
// scrape comes 5 s after start; the alert then needs 20 runs in the window and its
// 1-second `for`.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "orca/jobs/alert_webhook.hpp"
#include "orca/jobs/center.hpp"
#include "orca/jobs/http_api.hpp"
#include "orca/jobs/metrics.hpp"
#include "orca/jobs/node.hpp"
#include "orca/jobs/p99_report.hpp"
#include "orca/jobs/sqlite_broker.hpp"
#include "orca/metrics/standard_metrics.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/server.hpp"
#include "orca/orca.hpp"
#include "prometheus_support.hpp"
#include "support/redis_server.hpp"  // spawn, find_on_path, kernel_port, run_to_end

using namespace std::chrono_literals;
using orca::Context;
using orca::Result;
using orca::Task;
namespace jobs = orca::jobs;
namespace http = orca::http;
namespace rd = orca_test::redis_detail;

namespace {

using orca_prometheus_test::read_text;
using orca_prometheus_test::stop_child;
using orca_prometheus_test::write_text;

// The shipped rules with every rule's `for:` set to `for_value`: nothing else changes,
// so the expressions tested are the shipped ones.
std::string rules_with_short_for(const std::string& shipped, const std::string& for_value) {
  return std::regex_replace(shipped, std::regex(R"((\n\s+)for: *\S+)"), "$1for: " + for_value);
}

// The shipped Alertmanager configuration with the receiver's URL and the group
// timings rewritten, nothing else.
std::string alertmanager_for_test(const std::string& shipped, const std::string& receiver) {
  std::string out = std::regex_replace(shipped, std::regex(R"(url: *\S+)"), "url: " + receiver);
  out = std::regex_replace(out, std::regex(R"(group_wait: *\S+)"), "group_wait: 100ms");
  return std::regex_replace(out, std::regex(R"(group_interval: *\S+)"), "group_interval: 1s");
}

// Every "expr" of a Grafana dashboard, its interval variables replaced as
// tests/metrics/check_dashboard.py does.
void dashboard_exprs(const nlohmann::json& node, std::vector<std::string>& out) {
  if (node.is_object()) {
    if (auto e = node.find("expr"); e != node.end() && e->is_string()) {
      std::string expr = e->get<std::string>();
      for (const auto& [var, value] : {std::pair{"$__rate_interval", "5m"},
                                       std::pair{"$__interval", "1m"}, std::pair{"$__range", "1h"}})
        for (std::size_t at; (at = expr.find(var)) != std::string::npos;)
          expr.replace(at, std::string_view(var).size(), value);
      out.push_back(std::move(expr));
    }
    for (const auto& [key, value] : node.items())
      dashboard_exprs(value, out);
  } else if (node.is_array()) {
    for (const auto& value : node)
      dashboard_exprs(value, out);
  }
}

std::string query_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// What the webhook receiver was sent: Alertmanager's notifications and orca's P99
// summaries (told apart by Alertmanager's "receiver" field).
struct AlertInbox {
  std::mutex mu;
  std::vector<nlohmann::json> from_alertmanager;
  std::vector<nlohmann::json> from_orca;
  bool p99_alert_arrived() {
    std::lock_guard lock(mu);
    for (const auto& n : from_alertmanager)
      for (const auto& a : n.value("alerts", nlohmann::json::array()))
        if (a["labels"].value("alertname", "") == "OrcaJobP99DurationHigh" &&
            a.value("status", "") == "firing")
          return true;
    return false;
  }
  // orca's own summary, as the report made it: above the threshold, with the slowest
  // runs (600 ms each) and their trace ids.
  bool report_arrived() {
    std::lock_guard lock(mu);
    for (const auto& s : from_orca) {
      const auto& slowest = s.value("slowest", nlohmann::json::array());
      if (s.value("report_name", "").rfind("orca-p99-", 0) == 0 && s.value("p99_ms", 0.0) >= 500 &&
          !slowest.empty() && !slowest[0].value("trace_id", "").empty())
        return true;
    }
    return false;
  }
};

TEST(AlertPath, SlowHandlerAlertReachesTheWebhookThroughPrometheusAndAlertmanager) {
  const std::optional<std::string> prometheus = rd::find_on_path("prometheus");
  const std::optional<std::string> alertmanager = rd::find_on_path("prometheus-alertmanager");
  const std::optional<std::string> promtool = rd::find_on_path("promtool");
  ASSERT_TRUE(prometheus && promtool)
      << "prometheus or promtool is not on PATH: install Debian's package prometheus "
         "(scripts/deps does)";
  ASSERT_TRUE(alertmanager.has_value())
      << "prometheus-alertmanager is not on PATH: install Debian's package "
         "prometheus-alertmanager (scripts/deps does)";
  orca_prometheus_test::ScratchDir dir("orca-alert-path");
  ASSERT_FALSE(dir.path.empty());
  const std::uint16_t prom_port = rd::kernel_port();
  std::uint16_t am_port = rd::kernel_port();
  while (am_port == prom_port && am_port != 0)
    am_port = rd::kernel_port();
  ASSERT_NE(prom_port, 0);
  ASSERT_NE(am_port, 0);
  const std::string deploy = ORCA_DEPLOY_DIR;
  write_text(dir.path + "/orca-alerts.yml",
             rules_with_short_for(read_text(deploy + "/prometheus/orca-alerts.yml"), "1s"));
  const nlohmann::json dashboard =
      nlohmann::json::parse(read_text(deploy + "/grafana/orca.json"), nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded()) << "deploy/grafana/orca.json does not parse";
  std::vector<std::string> exprs;
  dashboard_exprs(dashboard, exprs);
  ASSERT_FALSE(exprs.empty());

  auto opened = jobs::SqliteBroker::open({.path = dir.path + "/jobs.db"});
  ASSERT_TRUE(opened.has_value()) << opened.error();
  jobs::SqliteBroker& broker = **opened;
  orca::metrics::Registry registry;
  auto standard = orca::metrics::register_standard_metrics(registry);
  jobs::JobMetrics job_metrics(registry);
  jobs::BrokerMetrics broker_metrics(registry, broker);
  AlertInbox inbox;
  pid_t prom_pid = -1, am_pid = -1;
  std::string scrape;
  std::vector<std::string> failed_queries;
  int promtool_status = -1;
  bool alert_arrived = false, report_arrived = false;
  double observed_p99 = -1;
  std::string p99_query_answer;
  orca::run([&]() -> Task<void> {
    auto [guard, stop_guard] = orca::with_timeout(orca::background(), 90s);
    auto [ctx, stop] = orca::with_cancel(guard);

    http::Router receiver_routes;
    receiver_routes.post("/alerts", [&inbox](Context, http::Request req) -> Task<http::Response> {
      auto body = nlohmann::json::parse(req.body, nullptr, false);
      {
        std::lock_guard lock(inbox.mu);
        if (body.is_object() && body.contains("receiver"))
          inbox.from_alertmanager.push_back(std::move(body));
        else
          inbox.from_orca.push_back(std::move(body));
      }
      co_return http::Response{};
    });
    http::Server receiver(std::move(receiver_routes));
    EXPECT_TRUE(receiver.start(orca::net::Address::loopback_v4(0)).has_value());
    const std::string receiver_url =
        "http://127.0.0.1:" + std::to_string(receiver.local_address().port()) + "/alerts";

    jobs::P99Report p99(broker, {.check_interval = 100ms,
                                 .dir = dir.path + "/reports",
                                 .notify = jobs::alert_webhook(receiver_url)});
    jobs::CenterOptions co;
    co.metrics = &job_metrics;
    jobs::Center center(broker, co);
    jobs::NodeOptions no;
    no.id = "alert-path-node";
    no.concurrency = 32;
    no.metrics = &job_metrics;
    no.on_attempt_end = p99.recorder();
    jobs::Node node(broker, no);
    // The handler made slow: 600 ms, above the rule's 500 ms (a bucket bound).
    node.handle("slow", [](Context c, jobs::Job) -> Task<Result<void>> {
      (void)co_await orca::sleep_for(c, 600ms);
      co_return Result<void>{};
    });
    center.attach(node);
    auto c = orca::spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = orca::spawn([&node, ctx = ctx] { return node.run(ctx); });
    auto r = orca::spawn([&p99, ctx = ctx] { return p99.run(ctx); });
    // The load: 5 jobs every 100 ms (about what 32 handlers of 600 ms finish), so runs
    // end between every two scrapes and the rule's rates see them.
    auto load = orca::spawn([&center, ctx = ctx]() -> Task<void> {
      while (!ctx.is_done()) {
        std::vector<jobs::JobSpec> specs(5);
        for (auto& s : specs)
          s.type = "slow";
        auto submitted = co_await center.submit_batch(ctx, std::move(specs));
        (void)submitted;
        (void)co_await orca::sleep_for(ctx, 100ms);
      }
    });
    jobs::ApiOptions api;
    api.metrics = &registry;
    http::ServerOptions so;
    so.metrics = &registry;
    http::Server server(jobs::make_api_router(center, api), so);
    EXPECT_TRUE(server.start(orca::net::Address::loopback_v4(0)).has_value());
    const std::string target = "127.0.0.1:" + std::to_string(server.local_address().port());

    write_text(
        dir.path + "/alertmanager.yml",
        alertmanager_for_test(read_text(deploy + "/prometheus/alertmanager.yml"), receiver_url));
    am_pid = rd::spawn({*alertmanager, "--config.file=" + dir.path + "/alertmanager.yml",
                        "--storage.path=" + dir.path + "/am",
                        "--web.listen-address=127.0.0.1:" + std::to_string(am_port),
                        "--cluster.listen-address=", "--log.level=warn"},
                       dir.path, dir.path + "/alertmanager.log");
    EXPECT_GT(am_pid, 0);
    // Scrape and evaluate every 100 ms (job durations take milliseconds; nothing
    // shorter is useful).
    write_text(dir.path + "/prometheus.yml",
               "global:\n"
               "  scrape_interval: 100ms\n"
               "  scrape_timeout: 100ms\n"
               "  evaluation_interval: 100ms\n"
               "rule_files: ['" +
                   dir.path + "/orca-alerts.yml']\n" +
                   "alerting:\n"
                   "  alertmanagers:\n"
                   "    - static_configs:\n"
                   "        - targets: ['127.0.0.1:" +
                   std::to_string(am_port) +
                   "']\n"
                   "scrape_configs:\n"
                   "  - job_name: orca\n"
                   "    static_configs:\n"
                   "      - targets: ['" +
                   target + "']\n");
    prom_pid = rd::spawn(
        {*prometheus, "--config.file=" + dir.path + "/prometheus.yml",
         "--storage.tsdb.path=" + dir.path + "/data",
         "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"},
        dir.path, dir.path + "/prometheus.log");
    EXPECT_GT(prom_pid, 0);

    // A live scrape for promtool, in the text format it reads.
    auto [status, body] =
        co_await orca_prometheus_test::http_get(guard, "http://" + target + "/metrics");
    EXPECT_EQ(status, 200) << body;
    scrape = std::move(body);

    // Bounded waits (the guard's deadline), not timing assertions: the alert through
    // Prometheus and Alertmanager, and orca's own report.
    while (!guard.is_done() && !(inbox.p99_alert_arrived() && inbox.report_arrived()))
      (void)co_await orca::sleep_for(guard, 50ms);
    alert_arrived = inbox.p99_alert_arrived();
    report_arrived = inbox.report_arrived();

    // The P99 Prometheus computes is what the load produced: every run took 600 ms,
    // which falls in the (0.5 s, 1 s] bucket, so the quantile lies in it.
    const std::string api_base = "http://127.0.0.1:" + std::to_string(prom_port) + "/api/v1/";
    auto [p99_status, p99_answer] = co_await orca_prometheus_test::http_get(
        guard, api_base + "query?query=" +
                   query_escape("histogram_quantile(0.99, sum by (le) "
                                "(rate(orca_job_duration_seconds_bucket{type=\"slow\"}[5m])))"));
    const auto p99_parsed = nlohmann::json::parse(p99_answer, nullptr, false);
    if (p99_status == 200 && !p99_parsed.is_discarded() && p99_parsed["data"]["result"].size() == 1)
      observed_p99 = std::stod(p99_parsed["data"]["result"][0]["value"][1].get<std::string>());
    p99_query_answer = p99_answer;

    // Every dashboard query on the Prometheus that has been scraping orca.
    for (const std::string& expr : exprs) {
      auto [qs, answer] = co_await orca_prometheus_test::http_get(
          guard, api_base + "query?query=" + query_escape(expr));
      const auto parsed = nlohmann::json::parse(answer, nullptr, false);
      if (qs != 200 || parsed.is_discarded() || parsed.value("status", "") != "success")
        failed_queries.push_back(expr + " -> " + std::to_string(qs) + " " + answer);
    }

    stop();
    co_await std::move(load);
    (void)co_await std::move(c);
    (void)co_await std::move(n);
    co_await std::move(r);
    auto [sctx, scancel] = orca::with_timeout(guard, 5s);
    (void)co_await server.shutdown(sctx);
    (void)co_await receiver.shutdown(sctx);
  });
  stop_child(prom_pid);
  stop_child(am_pid);

  write_text(dir.path + "/scrape.txt", scrape);
  promtool_status =
      rd::run_to_end({"/bin/sh", "-c", *promtool + " check metrics < " + dir.path + "/scrape.txt"},
                     dir.path, dir.path + "/promtool.log", 30s);
  EXPECT_EQ(promtool_status, 0) << "promtool check metrics:\n"
                                << read_text(dir.path + "/promtool.log");
  const std::string logs = "prometheus log:\n" + read_text(dir.path + "/prometheus.log") +
                           "\nalertmanager log:\n" + read_text(dir.path + "/alertmanager.log");
  EXPECT_TRUE(alert_arrived) << "no firing OrcaJobP99DurationHigh reached the receiver\n" << logs;
  EXPECT_TRUE(report_arrived) << "orca's P99 summary did not reach the receiver";
  EXPECT_GT(observed_p99, 0.5) << "want the P99 of 600 ms runs in (0.5, 1]; " << p99_query_answer;
  EXPECT_LE(observed_p99, 1.0) << "want the P99 of 600 ms runs in (0.5, 1]; " << p99_query_answer;
  EXPECT_TRUE(failed_queries.empty()) << ::testing::PrintToString(failed_queries) << "\n" << logs;
}

}  // namespace
