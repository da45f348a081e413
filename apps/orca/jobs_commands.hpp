// The job commands of `orca`: serve, worker, submit, status, cancel, jobs, nodes,
// queues, dead, dashboard. All work on one broker, chosen by --db PATH or --broker URL.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace orca::cli {

struct JobsOptions {
  // Shared.
  std::string db = "orca-jobs.db";
  std::string broker;  // "sqlite:PATH", "redis://[user:password@]host:port/db" or
                       // "redis-cluster://host:port"
  bool json = false;
  bool create = false;  // create a missing SQLite store (serve and worker always do)
  bool quiet = false;
  // serve / worker.
  int nodes = 1;
  // A number, or "auto": an adaptive limit within concurrency_min..concurrency_max.
  std::string concurrency = "10";
  int concurrency_min = 1;
  int concurrency_max = 100;
  std::string node_id;
  std::vector<std::string> tags;
  std::vector<std::string> types;  // demo handlers to register (default: all)
  std::string exec_log;            // --exec-log FILE (serve, worker)
  bool pull = false;
  bool no_standby_center = false;  // worker: run no center (standby or timekeeper) in it
  int supervisor_pid = 0;          // worker: stop when this parent is gone (serve --workers)
  std::string grace = "10s";
  std::string heartbeat = "1s";
  std::string lease = "5s";
  std::vector<std::string> queue_leases;  // QUEUE=DURATION
  // serve / worker: a circuit breaker per job type (off unless --breaker), and rate
  // limits per queue (QUEUE=RATE, resilience::parse_rate's form).
  bool breaker = false;
  double breaker_threshold = 15.0;  // percent
  long long breaker_window = 100;   // calls
  long long breaker_min_calls = 20;
  std::string breaker_open_for = "30s";
  int breaker_probes = 5;
  std::vector<std::string> queue_rates;  // QUEUE=RATE
  std::string node_timeout = "3s";
  // serve / worker --pull: retention (jobs::Retention's defaults).
  long long keep_finished = 100'000;
  std::string keep_finished_for = "168h";
  long long keep_dead = 100'000;
  std::string keep_dead_for = "720h";
  std::string connect_timeout =
      "0";               // serve/worker: how long to wait for Redis at start; 0: for ever
  std::string duration;  // serve/worker: stop after this long (default: until a signal)
  // serve / worker: the log (trace/log.hpp) and tracing (trace/tracer.hpp).
  std::string log_format = "text";   // text | json
  std::string log_level = "info";    // debug | info | warn | error
  std::string otlp_endpoint;         // http://HOST:PORT/v1/traces
  std::string trace_file;            // OTLP JSON, one request per line
  double trace_sample = 1.0;         // head sampling ratio of new traces
  std::string trace_slow = "500ms";  // spans this long are kept whatever the sampling
  // serve without an exporter: the share of new traces its dashboard keeps (0..1), or
  // "off" (serve_worker_commands.cpp, dashboard_tracing).
  std::string dashboard_traces = "0.1";
  // serve: the P99 rule and its reports (jobs/p99_report.hpp); threshold 0: off.
  std::string p99_threshold = "500ms";
  std::string p99_window = "5m";
  std::string report_dir = "orca-reports";
  std::string alert_webhook;          // POST each report's summary here (jobs/alert_webhook.hpp)
  std::vector<std::string> periodic;  // serve: NAME=SCHEDULE=TYPE[=PAYLOAD]
  // serve: a pool of worker processes it supervises (worker_pool.hpp): "MIN..MAX" or
  // "N"; "": none. Scaled to keep scale_target of the slots busy, down only after the
  // load stayed low for scale_down_delay.
  std::string workers;
  double scale_target = 0.8;
  std::string scale_down_delay = "60s";
  std::string scale_interval = "1s";
  // serve: the JSON API. --listen ADDR:PORT (default 127.0.0.1:8080), or --http-port
  // N for 127.0.0.1:N (0: no API); -1 and "": not given.
  int http_port = -1;
  std::string listen;
  std::string auth_tokens_file;              // lines "ROLE TOKEN [NAME]" (token_table.hpp)
  std::vector<std::string> allowed_origins;  // --allowed-origin URL (repeatable)
  std::vector<std::string> allowed_hosts;    // --allowed-host NAME (repeatable)
  std::string tls_cert;                      // PEM chain: serve the API over HTTPS
  std::string tls_key;                       // PEM key of tls_cert
  std::string rate_limit;                    // --rate-limit COUNT/UNIT[,burst=N]: every request
  std::string rate_limit_per_client;         // the same per client (address, or token name)
  bool shed_load = false;                    // --shed-load: adaptive concurrency limit
  // worker: GET /metrics. --metrics-listen ADDR:PORT, or --metrics-port N for
  // 127.0.0.1:N; -1 and "": none. (serve has /metrics on its API listener.)
  int metrics_port = -1;
  std::string metrics_listen;
  // submit.
  std::string type;
  std::string payload;
  std::string queue = "default";
  int priority = 0;
  int max_attempts = 3;
  std::string backoff = "1s";
  std::string timeout;
  std::string delay;
  std::string unique_key;
  std::string trace_id;
  int count = 1;
  bool wait = false;
  // status / cancel / dead.
  std::vector<long long> ids;
  bool all = false;
  // jobs.
  std::string state;
  std::string node;
  std::string error_text;  // only jobs whose last error contains it
  int limit = 50;
};

// Adds every job command; returns them so main can tell which one was chosen.
std::vector<CLI::App*> add_jobs_commands(CLI::App& app, JobsOptions& options);
// Runs the chosen command; returns the process exit code.
int run_jobs_command(const std::string& name, const JobsOptions& options);

}  // namespace orca::cli
