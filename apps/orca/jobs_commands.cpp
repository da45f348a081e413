// The job commands of `orca` (jobs_commands.hpp): their options, and the dispatch to
// the files that run them (serve_worker_commands, submit_command, inspect_commands).
#include "jobs_commands.hpp"

#include <cstdio>
#include <stdexcept>

#include "broker_and_output.hpp"
#include "inspect_commands.hpp"
#include "serve_worker_commands.hpp"
#include "submit_command.hpp"

namespace orca::cli {

using detail::add_broker_options;
using detail::add_node_options;

namespace {

// Where the HTTP API listens and who may call it: serve's and dashboard's options.
void add_api_options(CLI::App* cmd, JobsOptions& o) {
  cmd->add_option("--listen", o.listen,
                  "ADDR:PORT of the JSON API (default 127.0.0.1:8080; [::1]:8080 for IPv6; "
                  "port 0: any free one); beyond loopback only with API tokens");
  cmd->add_option("--http-port", o.http_port, "shorthand for --listen 127.0.0.1:PORT (0: no API)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--auth-tokens-file", o.auth_tokens_file,
                  "API bearer tokens, lines \"admin|read TOKEN [NAME]\", mode 0600 (also: "
                  "ORCA_API_TOKENS, entries separated by ';'); none: no authentication");
  cmd->add_option("--allowed-origin", o.allowed_origins,
                  "origin (scheme://host[:port]) whose web pages may call the API "
                  "(repeatable)");
  cmd->add_option("--allowed-host", o.allowed_hosts,
                  "host name the API answers for besides localhost, 127.0.0.1, [::1] and "
                  "the --listen address (repeatable)");
  cmd->add_option("--tls-cert", o.tls_cert,
                  "PEM certificate chain: serve the API over HTTPS (with --tls-key; "
                  "SIGHUP reloads both)");
  cmd->add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert");
  cmd->add_option("--rate-limit", o.rate_limit,
                  "COUNT/UNIT[,burst=N] (UNIT ms, s, m or h): the API's requests in all, "
                  "past it 429 (burst default: COUNT)");
  cmd->add_option("--rate-limit-per-client", o.rate_limit_per_client,
                  "COUNT/UNIT[,burst=N]: each client's requests (its address; its token's "
                  "name with API tokens), past it 429");
  cmd->add_flag("--shed-load", o.shed_load,
                "answer 503 to requests beyond the concurrency the API can serve, found "
                "from its latency (X-Priority: low requests first)");
}

}  // namespace

std::vector<CLI::App*> add_jobs_commands(CLI::App& app, JobsOptions& o) {
  std::vector<CLI::App*> cmds;

  auto* serve_cmd = app.add_subcommand(
      "serve", "run the scheduling center with embedded worker nodes on the broker");
  add_broker_options(serve_cmd, o);
  add_node_options(serve_cmd, o);
  serve_cmd->add_option("--nodes", o.nodes, "embedded nodes (0: route to worker processes only)")
      ->capture_default_str();
  add_api_options(serve_cmd, o);
  serve_cmd
      ->add_option("--p99-threshold", o.p99_threshold,
                   "when the embedded nodes' job P99 over --p99-window passes this, write a "
                   "diagnostic report to --report-dir (0: never)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--dashboard-traces", o.dashboard_traces,
                   "without --otlp-endpoint or --trace-file: the share of new traces (0..1) whose "
                   "spans the dashboard's trace view keeps, besides every failed and slow span "
                   "(--trace-slow), or off")
      ->capture_default_str();
  serve_cmd->add_option("--p99-window", o.p99_window, "the P99 rule's window")
      ->capture_default_str();
  serve_cmd
      ->add_option("--report-dir", o.report_dir,
                   "where P99 reports go (JSON and text; the newest 20 are kept)")
      ->capture_default_str();
  serve_cmd->add_option(
      "--alert-webhook", o.alert_webhook,
      "http:// or https:// URL to POST each P99 report's summary to (JSON: threshold, window, "
      "p99, report path, slowest jobs with trace ids); 5 s per attempt, 3 attempts, off the "
      "server's path");
  serve_cmd->add_option("--periodic", o.periodic,
                        "periodic job NAME=SCHEDULE=TYPE[=PAYLOAD], SCHEDULE \"@every 30s\" or 5 "
                        "cron fields (repeatable)");
  serve_cmd->add_option("--workers", o.workers,
                        "MIN..MAX or N: run that many `orca worker` processes on the broker, "
                        "started and stopped with the load (jobs running and ready against "
                        "their slots); they get SIGTERM when serve stops or dies");
  serve_cmd
      ->add_option("--scale-target", o.scale_target,
                   "with --workers: the share of the slots (0..1] the pool keeps busy")
      ->capture_default_str();
  serve_cmd
      ->add_option("--scale-down-delay", o.scale_down_delay,
                   "with --workers: how long the load must stay low before workers stop")
      ->capture_default_str();
  serve_cmd
      ->add_option("--scale-interval", o.scale_interval,
                   "with --workers: how often the pool reads the load")
      ->capture_default_str();
  cmds.push_back(serve_cmd);

  auto* worker_cmd = app.add_subcommand("worker", "run a worker node process on the broker");
  add_broker_options(worker_cmd, o);
  add_node_options(worker_cmd, o);
  worker_cmd->add_flag("--no-standby-center", o.no_standby_center,
                       "run no standby center: with no `orca serve` alive, nothing routes or "
                       "keeps time");
  worker_cmd->add_option("--supervisor-pid", o.supervisor_pid,
                         "stop gracefully, as on SIGTERM, once the process with this pid is no "
                         "longer this worker's parent (set by orca serve --workers)");
  worker_cmd->add_option("--metrics-listen", o.metrics_listen,
                         "ADDR:PORT to serve GET /metrics on (Prometheus); beyond loopback only "
                         "with API tokens (a read token scrapes)");
  worker_cmd
      ->add_option("--metrics-port", o.metrics_port,
                   "shorthand for --metrics-listen 127.0.0.1:PORT (0: any free port)")
      ->check(CLI::Range(0, 65535));
  worker_cmd->add_option("--auth-tokens-file", o.auth_tokens_file,
                         "bearer tokens of the metrics listener, lines \"admin|read TOKEN "
                         "[NAME]\" (also: ORCA_API_TOKENS); none: no authentication");
  worker_cmd->add_option("--allowed-host", o.allowed_hosts,
                         "host name the metrics listener answers for besides localhost, "
                         "127.0.0.1, [::1] and its address (repeatable)");
  cmds.push_back(worker_cmd);

  auto* submit_cmd = app.add_subcommand("submit", "submit a job");
  add_broker_options(submit_cmd, o);
  submit_cmd->add_option("type", o.type, "job type (routing key), e.g. noop, sleep, fail, echo")
      ->required();
  submit_cmd->add_option("payload", o.payload, "payload (sleep: milliseconds)");
  submit_cmd->add_option("--queue", o.queue, "queue")->capture_default_str();
  submit_cmd->add_option("--priority", o.priority, "priority within the queue (higher first)");
  submit_cmd->add_option("--max-attempts", o.max_attempts, "attempts in all")
      ->capture_default_str();
  submit_cmd->add_option("--backoff", o.backoff, "first retry delay (doubles, with jitter)")
      ->capture_default_str();
  submit_cmd->add_option("--timeout", o.timeout, "per-attempt timeout, e.g. 30s");
  submit_cmd->add_option("--delay", o.delay, "run no earlier than this from now");
  submit_cmd->add_option("--unique-key", o.unique_key,
                         "no second job with this key while one is live");
  submit_cmd->add_option("--trace-id", o.trace_id,
                         "trace id carried by the job (default: TRACEPARENT's, if set in the "
                         "environment)");
  submit_cmd->add_option("--count,-n", o.count, "submit this many copies");
  submit_cmd->add_flag("--wait", o.wait,
                       "wait until the job(s) finished; exit 1 unless all succeeded");
  submit_cmd->add_flag("--quiet,-q", o.quiet, "no progress lines");
  cmds.push_back(submit_cmd);

  auto* status_cmd = app.add_subcommand("status", "show jobs and their audit trail");
  add_broker_options(status_cmd, o);
  status_cmd->add_option("id", o.ids, "job id(s)")->required();
  cmds.push_back(status_cmd);

  auto* cancel_cmd =
      app.add_subcommand("cancel", "cancel jobs (a running job's handler is cancelled)");
  add_broker_options(cancel_cmd, o);
  cancel_cmd->add_option("id", o.ids, "job id(s)")->required();
  cmds.push_back(cancel_cmd);

  auto* jobs_cmd = app.add_subcommand("jobs", "list jobs, newest first");
  add_broker_options(jobs_cmd, o);
  jobs_cmd->add_option("--state", o.state, "only jobs in this state");
  jobs_cmd->add_option("--type", o.type, "only jobs of this type");
  jobs_cmd->add_option("--queue", o.queue, "only jobs of this queue");
  jobs_cmd->add_option("--node", o.node, "only jobs on (or last run by) this node");
  jobs_cmd->add_option("--trace", o.trace_id,
                       "only the jobs of this trace (its 32-hex-digit id, as `orca status` shows)");
  jobs_cmd->add_option("--error", o.error_text, "only jobs whose last error contains this text");
  jobs_cmd->add_option("--limit", o.limit, "at most this many")->capture_default_str();
  cmds.push_back(jobs_cmd);

  auto* nodes_cmd = app.add_subcommand("nodes", "list worker nodes, their load and heartbeats");
  add_broker_options(nodes_cmd, o);
  cmds.push_back(nodes_cmd);

  auto* queues_cmd = app.add_subcommand("queues", "count jobs per queue and state");
  add_broker_options(queues_cmd, o);
  cmds.push_back(queues_cmd);

  auto* pause_cmd = app.add_subcommand(
      "pause", "pause a queue: no node takes its jobs until it is resumed (enqueue still adds)");
  add_broker_options(pause_cmd, o);
  pause_cmd->add_option("queue", o.queue, "the queue")->required();
  cmds.push_back(pause_cmd);

  auto* resume_cmd = app.add_subcommand("resume", "resume a paused queue");
  add_broker_options(resume_cmd, o);
  resume_cmd->add_option("queue", o.queue, "the queue")->required();
  cmds.push_back(resume_cmd);

  auto* dead_cmd = app.add_subcommand(
      "dead", "list the dead-letter set (failed and dead jobs), or requeue from it");
  add_broker_options(dead_cmd, o);
  dead_cmd->add_option("--requeue", o.ids, "requeue these job ids");
  dead_cmd->add_flag("--all", o.all, "requeue every job in the dead-letter set");
  dead_cmd->add_option("--limit", o.limit, "list at most this many")->capture_default_str();
  cmds.push_back(dead_cmd);

  auto* dashboard_cmd = app.add_subcommand(
      "dashboard",
      "serve the web dashboard and the JSON API over a broker whose center runs elsewhere");
  add_broker_options(dashboard_cmd, o);
  add_api_options(dashboard_cmd, o);
  dashboard_cmd->add_option("--duration", o.duration,
                            "stop after this long (default: until SIGINT/SIGTERM)");
  dashboard_cmd->add_flag("--quiet,-q", o.quiet, "no start line");
  cmds.push_back(dashboard_cmd);
  return cmds;
}
int run_jobs_command(const std::string& name, const JobsOptions& o) {
  try {
    if (name == "serve") return detail::serve(o);
    if (name == "worker") return detail::worker(o);
    if (name == "submit") return detail::submit(o);
    if (name == "status") return detail::status(o);
    if (name == "cancel") return detail::cancel(o);
    if (name == "jobs") return detail::list_jobs(o, false);
    if (name == "nodes") return detail::nodes(o);
    if (name == "queues") return detail::queues(o);
    if (name == "pause") return detail::set_paused(o, true);
    if (name == "resume") return detail::set_paused(o, false);
    if (name == "dead") return detail::dead(o);
    if (name == "dashboard") return detail::dashboard(o);
  } catch (const detail::UsageError& e) {
    std::fprintf(stderr, "orca %s: %s\n", name.c_str(), e.what());
    return 2;
  }
  throw std::logic_error("unknown job command " + name);
}

}  // namespace orca::cli
