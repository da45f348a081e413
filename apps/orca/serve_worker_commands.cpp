// `orca serve` and `orca worker` (serve_worker_commands.hpp): the nodes they run with
// the built-in demo handlers, stopped by SIGINT/SIGTERM or --duration.
#include "serve_worker_commands.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker_and_output.hpp"
#include "orca/jobs/alert_webhook.hpp"
#include "orca/jobs/dashboard.hpp"
#include "orca/jobs/http_api.hpp"
#include "orca/jobs/jobs.hpp"
#include "orca/jobs/metrics.hpp"
#include "orca/jobs/p99_report.hpp"
#include "orca/metrics/standard_metrics.hpp"
#include "orca/net/http/metrics.hpp"
#include "orca/net/http/otlp_writer.hpp"
#include "orca/net/http/server.hpp"
#include "orca/net/http/token_table.hpp"
#include "orca/net/tls_context.hpp"
#include "orca/orca.hpp"
#include "orca/resilience/adaptive_limiter.hpp"
#include "orca/resilience/keyed_rate_limiter.hpp"
#include "orca/resilience/rate_limiter.hpp"
#include "orca/trace/batch_exporter.hpp"
#include "orca/trace/log.hpp"
#include "orca/trace/tracer.hpp"
#include "worker_pool.hpp"

namespace orca::cli::detail {

namespace {

using namespace std::chrono_literals;
using jobs::Job;
using jobs::JobState;
using nlohmann::json;

// An info line through the process's log (--log-format, --log-level).
void log_info(const std::string& line);

// --exec-log FILE: a line per handler start and end ("start JOB ATTEMPT UNIX_MS",
// "end JOB ATTEMPT UNIX_MS ok|error"), each one write(2) to an O_APPEND descriptor, so that the
// lines of several processes sharing the file interleave whole. A process killed mid-job leaves a
// start without an end: scripts/chaos counts executions from these lines.
class ExecLog {
 public:
  explicit ExecLog(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {
    if (fd_ < 0) throw UsageError("--exec-log " + path + ": " + std::strerror(errno));
  }
  ~ExecLog() { ::close(fd_); }
  ExecLog(const ExecLog&) = delete;
  ExecLog& operator=(const ExecLog&) = delete;

  void line(const char* what, jobs::JobId id, int attempt, const char* outcome) const {
    char text[96];
    const int n =
        std::snprintf(text, sizeof text, "%s %lld %d %lld%s%s\n", what, static_cast<long long>(id),
                      attempt, static_cast<long long>(jobs::to_unix_ms(jobs::WallClock::now())),
                      *outcome ? " " : "", outcome);
    if (n > 0) (void)!::write(fd_, text, static_cast<std::size_t>(n));
  }

 private:
  int fd_;
};

// A free coroutine taking everything by value, not a capturing lambda coroutine: its
// frame refers to nothing that may go away.
Task<Result<void>> run_logged(jobs::Handler inner, std::shared_ptr<const ExecLog> log, Context ctx,
                              Job job) {
  const jobs::JobId id = job.id;
  const int attempt = job.attempt;
  log->line("start", id, attempt, "");
  Result<void> r;
  try {
    auto task = inner(std::move(ctx), std::move(job));  // a named local: GCC PR 101367
    r = co_await std::move(task);
  } catch (...) {
    log->line("end", id, attempt, "error");
    throw;
  }
  log->line("end", id, attempt, r ? "ok" : "error");
  co_return r;
}

std::shared_ptr<const ExecLog> exec_log_for(const JobsOptions& o) {
  return o.exec_log.empty() ? nullptr : std::make_shared<const ExecLog>(o.exec_log);
}

// noop: succeeds at once. sleep: sleeps PAYLOAD milliseconds (stops early if the job
// is cancelled or times out). fail: fails; PAYLOAD "permanent" makes it permanent,
// PAYLOAD N (a number) fails only the job's first N attempts and succeeds after, the
// attempts counted over the job's whole life from its audit trail (a requeue resets
// Job::attempt, not the trail), so a dead job requeued once more than N then runs to
// success, as a fixed bug would. echo: prints its payload. With `log`, each
// handler's runs are logged (ExecLog).
void add_demo_handlers(jobs::Node& node, jobs::Broker& broker,
                       const std::vector<std::string>& wanted, std::shared_ptr<const ExecLog> log) {
  auto want = [&](const char* t) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), t) != wanted.end();
  };
  auto handle = [&](const char* type, jobs::Handler handler) {
    if (log)
      handler = [inner = std::move(handler), log](Context ctx, Job job) {
        return run_logged(inner, log, std::move(ctx), std::move(job));
      };
    node.handle(type, std::move(handler));
  };
  for (const std::string& t : wanted)
    if (t != "noop" && t != "sleep" && t != "fail" && t != "echo")
      throw UsageError("--type " + t + ": the built-in job types are noop, sleep, fail and echo");
  if (want("noop"))
    handle("noop", [](Context, Job) -> Task<Result<void>> { co_return Result<void>{}; });
  if (want("sleep"))
    handle("sleep", [](Context ctx, Job job) -> Task<Result<void>> {
      long ms = 0;
      try {
        ms = job.spec.payload.empty() ? 1000 : std::stol(job.spec.payload);
      } catch (const std::exception&) {
        throw jobs::PermanentError("sleep: payload must be a number of milliseconds, got \"" +
                                   job.spec.payload + "\"");
      }
      co_return co_await sleep_for(ctx, std::chrono::milliseconds(ms));
    });
  if (want("fail"))
    handle("fail", [&broker](Context ctx, Job job) -> Task<Result<void>> {
      if (job.spec.payload == "permanent")
        throw jobs::PermanentError("failed permanently, as asked");
      if (!job.spec.payload.empty()) {
        long fails = 0;
        try {
          fails = std::stol(job.spec.payload);
        } catch (const std::exception&) {
          throw jobs::PermanentError(
              "fail: payload must be empty, \"permanent\" or a number of attempts, got \"" +
              job.spec.payload + "\"");
        }
        auto trail = co_await broker.audit(ctx, job.id);
        if (!trail) co_return trail.error();
        const auto started = std::count_if(trail->begin(), trail->end(), [](const auto& e) {
          return e.to == jobs::JobState::kRunning;
        });
        if (started > fails) co_return Result<void>{};
      }
      co_return make_error_code(std::errc::io_error);
    });
  if (want("echo"))
    handle("echo", [](Context, Job job) -> Task<Result<void>> {
      std::printf("echo job %lld: %s\n", static_cast<long long>(job.id), job.spec.payload.c_str());
      std::fflush(stdout);
      co_return Result<void>{};
    });
}

jobs::NodeOptions node_options(const JobsOptions& o, int index) {
  jobs::NodeOptions no;
  if (!o.node_id.empty()) no.id = index == 0 ? o.node_id : o.node_id + "-" + std::to_string(index);
  if (o.concurrency == "auto") {
    // The gradient (node.hpp): it follows the jobs' run times, where AIMD would hear
    // only their timeouts.
    no.adaptive_concurrency = true;
    no.adaptive.algorithm = resilience::AdaptiveAlgorithm::kGradient;
    no.adaptive.min_limit = o.concurrency_min;
    no.adaptive.max_limit = o.concurrency_max;
    if (o.concurrency_min < 1) throw UsageError("--concurrency-min must be at least 1");
    if (o.concurrency_max < o.concurrency_min)
      throw UsageError("--concurrency-max (" + std::to_string(o.concurrency_max) +
                       ") is below --concurrency-min (" + std::to_string(o.concurrency_min) + ")");
    no.adaptive.initial_limit = std::clamp(10, o.concurrency_min, o.concurrency_max);
  } else {
    int n = 0;
    const char* end = o.concurrency.data() + o.concurrency.size();
    const auto [ptr, ec] = std::from_chars(o.concurrency.data(), end, n);
    if (ec != std::errc() || ptr != end || o.concurrency.empty())
      throw UsageError("--concurrency " + o.concurrency + ": expected a number or auto");
    if (n < 1) throw UsageError("--concurrency must be at least 1");
    no.concurrency = n;
  }
  no.tags = o.tags;
  no.pull = o.pull;
  no.grace = duration_option("grace", o.grace);
  no.heartbeat_interval = duration_option("heartbeat", o.heartbeat);
  no.lease = duration_option("lease", o.lease);
  if (no.lease <= no.heartbeat_interval)
    throw UsageError("--lease must be longer than --heartbeat");
  for (const std::string& item : o.queue_leases) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError("--queue-lease " + item + ": expected QUEUE=DURATION, e.g. reports=2m");
    const std::string queue = item.substr(0, eq);
    const auto lease = duration_option("queue-lease " + queue, item.substr(eq + 1));
    if (lease <= no.heartbeat_interval)
      throw UsageError("--queue-lease " + item + ": must be longer than --heartbeat");
    no.queue_leases[queue] = lease;
  }
  if (o.breaker) {
    no.breaker_enabled = true;
    no.breaker.failure_rate_threshold = o.breaker_threshold;
    no.breaker.window_size = o.breaker_window;
    no.breaker.minimum_calls = o.breaker_min_calls;
    no.breaker.open_duration = duration_option("breaker-open-for", o.breaker_open_for);
    no.breaker.half_open_probes = o.breaker_probes;
    // Nodes make one breaker per type: two stripes are plenty for a job's rate of calls.
    no.breaker.stripes = 2;
    const std::string why = resilience::validate(no.breaker);
    if (!why.empty()) throw UsageError("--breaker options: " + why);
  }
  for (const std::string& item : o.queue_rates) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError("--queue-rate " + item + ": expected QUEUE=RATE, e.g. email=100/s");
    auto rate = resilience::parse_rate(std::string_view(item).substr(eq + 1));
    if (!rate)
      throw UsageError(
          std::string("--queue-rate ").append(item).append(": ").append(rate.error().detail()));
    const std::string invalid = resilience::validate(*rate);
    if (!invalid.empty()) throw UsageError("--queue-rate " + item + ": " + invalid);
    if (!no.queue_rates.emplace(item.substr(0, eq), *rate).second)
      throw UsageError("--queue-rate " + item + ": queue " + item.substr(0, eq) +
                       " has a rate limit already");
  }
  return no;
}

// What the center of serve (or a worker's standby center) keeps of finished jobs.
jobs::Retention retention(const JobsOptions& o) {
  if (o.keep_finished < 0) throw UsageError("--keep-finished must not be negative");
  if (o.keep_dead < 0) throw UsageError("--keep-dead must not be negative");
  jobs::Retention r;
  r.max_finished_jobs = o.keep_finished;
  r.max_age = duration_option("keep-finished-for", o.keep_finished_for);
  r.max_dead_jobs = o.keep_dead;
  r.dead_max_age = duration_option("keep-dead-for", o.keep_dead_for);
  return r;
}

// The context a long-running command runs under: SIGINT/SIGTERM, or --duration.
struct RunContext {
  Context ctx;
  SignalStop stop_signals;
  CancelFunc stop_timer;
};

RunContext run_context(const JobsOptions& o) {
  auto [sig, stop_sig] = signal_context(background(), {SIGINT, SIGTERM});
  RunContext rc{sig, std::move(stop_sig), {}};
  if (!o.duration.empty()) {
    auto [timed, stop_timer] = with_timeout(sig, duration_option("duration", o.duration));
    rc.ctx = timed;
    rc.stop_timer = stop_timer;
  }
  return rc;
}

// worker --supervisor-pid PID: the worker stops as at a SIGTERM once PID is no longer
// its parent (that serve died, whatever killed it, and the worker was handed to
// init). Polled: a signal on the parent's death (PR_SET_PDEATHSIG) comes once per
// thread of the parent that exits, and a second SIGTERM would end the grace.
Task<void> stop_when_supervisor_gone(Context ctx, CancelFunc stop, int pid) {
  if (pid <= 0) co_return;
  while (::getppid() == pid) {
    auto slept = co_await sleep_for(ctx, 200ms);
    if (!slept) co_return;
  }
  trace::log(trace::LogLevel::kWarn,
             "orca worker: its orca serve (pid " + std::to_string(pid) + ") is gone: stopping");
  stop();
}

std::map<JobState, std::int64_t> totals(const std::vector<jobs::QueueStats>& stats) {
  std::map<JobState, std::int64_t> out;
  for (const auto& q : stats)
    for (const auto& [s, n] : q.counts)
      out[s] += n;
  return out;
}

// SIGHUP reloads the API's TLS certificate and key (a renewal) for new connections;
// open ones keep theirs, and files that do not load change nothing. The next
// registration is made before the previous one is stopped, so a SIGHUP that arrives
// while one is handled is caught too, never left to its default action (exit).
// Returns when ctx ends; does nothing when server is null (no TLS).
Task<void> reload_tls_on_sighup(http::Server* server, Context ctx) {
  if (server == nullptr) co_return;
  auto [hup, stop_hup] = signal_context(ctx, {SIGHUP});
  while (true) {
    (void)co_await hup.done();
    if (ctx.is_done()) co_return;
    auto [next, stop_next] = signal_context(ctx, {SIGHUP});
    stop_hup();
    const Result<void> reloaded = server->reload_tls();
    if (reloaded)
      log_info("orca serve: SIGHUP: reloaded the TLS certificate and key");
    else
      log_info(std::string("orca serve: SIGHUP: ")
                   .append(reloaded.error().detail())
                   .append("; the previous certificate stays"));
    hup = std::move(next);
    stop_hup = std::move(stop_next);
  }
}

// The first SIGINT/SIGTERM (or --duration) begins the graceful shutdown; a second
// one ends the nodes' grace at once: their running jobs are cancelled and handed
// back. Returns when `over` is cancelled (the command is ending).
Task<void> end_grace_on_second_signal(Context first, Context over, std::vector<jobs::Node*> nodes) {
  auto began = co_await select(over, first.done());
  if (began.index() != 0) co_return;
  auto [again, stop_again] = signal_context(over, {SIGINT, SIGTERM});
  (void)co_await again.done();
  if (over.is_done()) co_return;
  log_info("orca: second signal: stopping now, running jobs are handed back");
  for (jobs::Node* node : nodes)
    node->end_grace();
}

// Prints a progress line every 2 s until ctx is done: text on stderr, or with --json a
// JSON object per line on stdout ({"who": ..., "counts": {"pending": 3, ...}}).
Task<void> report_progress(jobs::Broker& broker, Context ctx, std::string who, bool as_json) {
  for (;;) {
    auto slept = co_await sleep_for(ctx, 2s);
    if (!slept) co_return;
    auto stats = co_await broker.queues(ctx);
    if (!stats) continue;
    const auto counts = totals(*stats);
    if (!as_json) {
      log_info(std::string(who).append(": ").append(summary(counts)));
      continue;
    }
    json line{{"who", who}, {"counts", json::object()}};
    for (const auto& [state, n] : counts)
      line["counts"][std::string(jobs::to_string(state))] = n;
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
  }
}

bool is_loopback(const net::Address& a) {
  if (a.is_v4()) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(a.native());
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(a.native());
  return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) != 0;
}

bool is_unspecified(const net::Address& a) {
  if (a.is_v4()) return reinterpret_cast<const sockaddr_in*>(a.native())->sin_addr.s_addr == 0;
  return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(a.native())->sin6_addr) !=
         0;
}

// The rate of --NAME TEXT (resilience::parse_rate: COUNT/UNIT[,burst=N]); a usage
// error naming the value and why. Without ",burst=", the whole COUNT may come at once
// (then one every UNIT/COUNT): "50/m" then admits 50 a minute however they bunch, as
// it reads, where parse_rate's own default burst of 1 would refuse the second of two
// requests sent together (clients send in bursts: a page load, a retry).
resilience::RateLimiterOptions rate_option(const char* name, const std::string& text) {
  Result<resilience::RateLimiterOptions> rate = resilience::parse_rate(text);
  if (!rate)
    throw UsageError(std::string("--").append(name).append(": ").append(rate.error().detail()));
  if (text.find(",burst=") == std::string::npos) {
    rate->burst = std::max<std::int64_t>(1, static_cast<std::int64_t>(rate->events));
    if (std::string bad = resilience::validate(*rate); !bad.empty())
      throw UsageError(std::string("--") + name + " " + text + ": " + bad);
  }
  return *rate;
}

// --rate-limit, --rate-limit-per-client and --shed-load into `api`. The global limit
// runs before the access policy (every request counts, refused ones and token guesses
// included). The per-client one runs there too, by address, without tokens; with
// tokens it runs after authentication, by token name: a token is one client from any
// address, and token holders sharing an address (a proxy, this machine) do not share
// a budget; bad tokens are throttled per address by the failure limiter already.
void api_limits(const JobsOptions& o, bool tokens, jobs::ApiOptions& api, std::string& summary) {
  if (!o.rate_limit.empty()) {
    api.rate_limit.global =
        std::make_shared<resilience::RateLimiter>(rate_option("rate-limit", o.rate_limit));
    summary.append(", rate limit ").append(o.rate_limit);
  }
  if (!o.rate_limit_per_client.empty()) {
    resilience::KeyedRateLimiterOptions per_client;
    per_client.limit = rate_option("rate-limit-per-client", o.rate_limit_per_client);
    http::RateLimitOptions& where = tokens ? api.token_rate_limit : api.rate_limit;
    where.per_client = std::make_shared<resilience::KeyedRateLimiter>(per_client);
    where.key = tokens ? http::RateLimitKey::kPrincipal : http::RateLimitKey::kClientAddress;
    summary.append(", ")
        .append(o.rate_limit_per_client)
        .append(tokens ? " per token" : " per client address");
  }
  if (o.shed_load) {
    // AIMD, not the gradient: the API's calls differ in cost by orders of magnitude (a
    // job by id, a list of 1,000), and the gradient, which compares the mean latency
    // with the least, would read that mix as queueing and shrink the limit on an idle
    // server. AIMD backs off only on overload it can see: a call slower than 1 s, or a
    // 503/504 from the store, and grows while the limit is in use.
    resilience::AdaptiveLimiterOptions limits;
    limits.name = "api";
    limits.algorithm = resilience::AdaptiveAlgorithm::kAimd;
    limits.initial_limit = 100;
    limits.min_limit = 10;
    limits.max_limit = 1000;
    limits.aimd_timeout = 1s;
    http::LoadSheddingOptions shedding;
    shedding.limiter = std::make_shared<resilience::AdaptiveLimiter>(limits);
    api.load_shedding = std::move(shedding);
    summary.append(", load shedding");
  }
}

// Who may call a listener at `address` (serve's API, a worker's metrics): the tokens
// of --auth-tokens-file and ORCA_API_TOKENS, the allowed hosts and origins. Refuses
// (a usage error) an address beyond loopback without tokens. Returns the tokens'
// count.
std::size_t access_for(const JobsOptions& o, const net::Address& address, const std::string& flag,
                       http::AccessOptions& access) {
  auto tokens = std::make_shared<http::TokenTable>();
  try {
    if (!o.auth_tokens_file.empty()) tokens->load_file(o.auth_tokens_file);
    if (const char* env = std::getenv("ORCA_API_TOKENS"); env != nullptr && *env != '\0')
      tokens->parse(env, "ORCA_API_TOKENS");
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("API tokens: ") + e.what());
  }
  if (tokens->empty() && !is_loopback(address))
    throw UsageError(flag +
                     " is not a loopback address: refusing to serve the API beyond this machine "
                     "without authentication (give --auth-tokens-file or ORCA_API_TOKENS)");
  if (!tokens->empty()) access.tokens = tokens;
  access.allowed_origins = o.allowed_origins;
  access.allowed_hosts = o.allowed_hosts;
  if (!is_unspecified(address)) {
    const std::string text = address.to_string();
    access.allowed_hosts.push_back(text.substr(0, text.rfind(':')));
  }
  // A malformed --allowed-host or --allowed-origin is refused here, not at start.
  try {
    (void)http::protect(http::Router(), access);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  return tokens->size();
}

// Where and for whom serve's JSON API listens: --listen or --http-port, the API
// tokens of --auth-tokens-file and ORCA_API_TOKENS, the allowed hosts and origins.
// Nothing when the API is off (--http-port 0). Refuses (a usage error, before the
// store is opened) an address beyond loopback without tokens: the API would let
// anyone who reaches the port submit and cancel jobs.
struct ApiListen {
  net::Address address;
  jobs::ApiOptions api;
  std::shared_ptr<net::TlsContext> tls;  // null: plain HTTP
  std::string summary;  // for the start line: "no authentication (loopback only)"...

  // The HTTP server's options and the API's, reporting into `registry` and serving
  // `live`'s routes: what `orca serve` and `orca dashboard` listen with.
  http::ServerOptions server_options(metrics::Registry& registry) const {
    http::ServerOptions out;
    out.tls = tls;
    out.log = [](std::string_view line) {
      trace::log(trace::LogLevel::kWarn, std::string("orca http: ").append(line));
    };
    out.metrics = &registry;
    return out;
  }
  jobs::ApiOptions api_options(metrics::Registry& registry, jobs::LiveView* live) const {
    jobs::ApiOptions out = api;
    out.metrics = &registry;
    out.live = live;
    return out;
  }
};

std::optional<ApiListen> api_listen(const JobsOptions& o) {
  if (o.http_port >= 0 && !o.listen.empty())
    throw UsageError("give --listen ADDR:PORT or --http-port PORT, not both");
  if (o.http_port > 65535) throw UsageError("--http-port must be 0..65535");
  if (o.http_port == 0) {
    if (!o.rate_limit.empty() || !o.rate_limit_per_client.empty() || o.shed_load)
      throw UsageError(
          "--rate-limit, --rate-limit-per-client and --shed-load limit the API, which "
          "--http-port 0 turns off");
    return std::nullopt;
  }
  std::string where = o.listen;
  if (where.empty()) where = "127.0.0.1:" + std::to_string(o.http_port < 0 ? 8080 : o.http_port);
  auto address = net::Address::parse(where);
  if (!address)
    throw UsageError("--listen " + where +
                     ": expected ADDR:PORT with a numeric address, e.g. 127.0.0.1:8080, "
                     "[::1]:8080 or 0.0.0.0:8080");
  ApiListen out{*address, {}, nullptr, {}};
  if (o.tls_cert.empty() != o.tls_key.empty())
    throw UsageError("give --tls-cert and --tls-key together");
  if (!o.tls_cert.empty()) {
    auto tls = net::TlsContext::server({.cert_file = o.tls_cert, .key_file = o.tls_key});
    if (!tls) throw UsageError(std::string("--tls-cert/--tls-key: ").append(tls.error().detail()));
    out.tls = std::move(*tls);
    out.api.access.https = true;
  }
  const std::size_t token_count = access_for(o, *address, "--listen " + where, out.api.access);
  out.summary = token_count == 0 ? "no authentication (loopback only)"
                                 : std::to_string(token_count) + " API token(s)";
  api_limits(o, token_count != 0, out.api, out.summary);
  return out;
}

// Where a worker serves GET /metrics (--metrics-listen or --metrics-port), under the
// same token rules as serve's API; nothing without either flag.
struct MetricsListen {
  net::Address address;
  http::AccessOptions access;
};

std::optional<MetricsListen> metrics_listen(const JobsOptions& o) {
  if (o.metrics_port >= 0 && !o.metrics_listen.empty())
    throw UsageError("give --metrics-listen ADDR:PORT or --metrics-port PORT, not both");
  if (o.metrics_port < 0 && o.metrics_listen.empty()) return std::nullopt;
  const std::string where =
      o.metrics_listen.empty() ? "127.0.0.1:" + std::to_string(o.metrics_port) : o.metrics_listen;
  auto address = net::Address::parse(where);
  if (!address)
    throw UsageError("--metrics-listen " + where +
                     ": expected ADDR:PORT with a numeric address, e.g. 127.0.0.1:9100");
  MetricsListen out{*address, {}};
  (void)access_for(o, *address, "--metrics-listen " + where, out.access);
  return out;
}

// The metrics every serve and worker process reports: the process's and runtime's,
// and its jobs'.
struct ProcessMetrics {
  metrics::Registry registry;
  std::vector<metrics::Registration> standard = metrics::register_standard_metrics(registry);
  jobs::JobMetrics job_metrics{registry};
};

// --log-format and --log-level: the process's log (trace/log.hpp).
void apply_log_options(const JobsOptions& o) {
  const auto format = trace::parse_log_format(o.log_format);
  if (!format) throw UsageError("--log-format " + o.log_format + ": expected text or json");
  const auto level = trace::parse_log_level(o.log_level);
  if (!level)
    throw UsageError("--log-level " + o.log_level + ": expected debug, info, warn or error");
  trace::set_log_options({.format = *format, .level = *level, .fd = 2});
}

void log_info(const std::string& line) {
  trace::log(trace::LogLevel::kInfo, line);
}

// The tracer of serve and worker, when --otlp-endpoint or --trace-file asks for one:
// spans of the API's requests, the job attempts and their calls, batched to the
// endpoint (through orca's HTTP client) or the file.
struct Tracing {
  std::shared_ptr<trace::Tracer> tracer;
  std::shared_ptr<trace::BatchExporter> exporter;
  std::string summary;  // for the start line
};

std::optional<Tracing> tracing_for(const JobsOptions& o, const std::string& service) {
  if (o.otlp_endpoint.empty() && o.trace_file.empty()) {
    if (o.trace_sample != 1.0)
      throw UsageError("--trace-sample needs --otlp-endpoint or --trace-file");
    return std::nullopt;
  }
  if (!o.otlp_endpoint.empty() && !o.trace_file.empty())
    throw UsageError("give --otlp-endpoint or --trace-file, not both");
  if (!(o.trace_sample >= 0.0 && o.trace_sample <= 1.0))
    throw UsageError("--trace-sample must be within 0..1");
  trace::TracerOptions to;
  to.service_name = service;
  to.sample_ratio = o.trace_sample;
  to.slow_threshold = duration_option("trace-slow", o.trace_slow);
  Tracing t;
  t.tracer = std::make_shared<trace::Tracer>(to);
  trace::BatchExporterOptions eo;
  eo.service_name = service;
  trace::SpanWriter writer;
  if (!o.otlp_endpoint.empty()) {
    try {
      writer = http::otlp_http_writer(std::make_shared<http::Client>(), o.otlp_endpoint);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--otlp-endpoint: ") + e.what());
    }
    t.summary = "traces to " + o.otlp_endpoint;
  } else {
    writer = trace::file_writer(o.trace_file);
    t.summary = "traces to " + o.trace_file;
  }
  t.exporter = std::make_shared<trace::BatchExporter>(std::move(writer), eo);
  t.tracer->add_sink(t.exporter);
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%g", o.trace_sample);
  t.summary.append(" (sampled ").append(ratio).append(", slow from ").append(o.trace_slow);
  t.summary.append(" and errors always)");
  return t;
}

// serve's tracer when no exporter is asked for: its spans go only to the dashboard's
// span store (LiveView), so the trace view works out of the box. Every span records
// while it runs whatever the sampling (tracer.hpp); sampling decides what is kept,
// so 0.1 costs the same per span as 1 but copies a tenth of the fast, fine spans
// into the store. The store keeps the newest 20,000 spans: at 0.1, with every
// failed and slow span kept, it holds minutes of a busy fleet's traces rather than
// seconds, and the traces worth opening (errors, slow jobs) are all in it. A
// traceparent with the sampled flag set keeps its whole trace. Nothing when off.
std::optional<Tracing> dashboard_tracing(const JobsOptions& o, const std::string& service) {
  if (o.dashboard_traces == "off") return std::nullopt;
  double ratio = 0;
  try {
    std::size_t used = 0;
    ratio = std::stod(o.dashboard_traces, &used);
    if (used != o.dashboard_traces.size()) throw std::invalid_argument("trailing characters");
  } catch (const std::exception&) {
    ratio = -1;
  }
  if (!(ratio >= 0.0 && ratio <= 1.0))
    throw UsageError("--dashboard-traces must be within 0..1 or off, got \"" + o.dashboard_traces +
                     "\"");
  trace::TracerOptions to;
  to.service_name = service;
  to.sample_ratio = ratio;
  to.slow_threshold = duration_option("trace-slow", o.trace_slow);
  to.recent_capacity = 0;  // the span store is the dashboard's memory of spans
  Tracing t;
  t.tracer = std::make_shared<trace::Tracer>(to);
  t.summary = "traces for the dashboard (sampled " + o.dashboard_traces + ", slow from " +
              o.trace_slow + " and errors always)";
  return t;
}

// serve's P99 rule (--p99-threshold, --p99-window, --report-dir); nothing when off.
std::optional<jobs::P99ReportOptions> p99_report_options(const JobsOptions& o) {
  jobs::P99ReportOptions p;
  p.threshold = duration_option("p99-threshold", o.p99_threshold);
  if (p.threshold.count() == 0) {
    if (!o.alert_webhook.empty())
      throw UsageError("--alert-webhook needs the P99 rule on (--p99-threshold above 0)");
    return std::nullopt;
  }
  p.window = duration_option("p99-window", o.p99_window);
  if (p.window.count() == 0) throw UsageError("--p99-window must be above 0");
  if (o.report_dir.empty()) throw UsageError("--report-dir must not be empty");
  p.dir = o.report_dir;
  if (!o.alert_webhook.empty()) {
    try {
      p.notify = jobs::alert_webhook(o.alert_webhook);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--alert-webhook: ") + e.what());
    }
  }
  return p;
}

// Installs the tracer and runs its exporter (if any) until stop(); stop() then writes
// what is queued (bounded) and uninstalls it. Does nothing without a tracer.
class TracingRun {
 public:
  explicit TracingRun(const std::optional<Tracing>& t) {
    if (!t) return;
    trace::set_global_tracer(t->tracer);
    installed_ = true;
    if (!t->exporter) return;
    auto [ctx, stop] = with_cancel(background());
    stop_ = stop;
    exporter_.emplace(spawn([e = t->exporter, ctx = ctx] { return e->run(ctx); }));
  }
  TracingRun(const TracingRun&) = delete;
  TracingRun& operator=(const TracingRun&) = delete;
  // Left by an error: the exporter ends on its own (its final write bounded).
  ~TracingRun() {
    if (installed_) trace::set_global_tracer(nullptr);
    if (exporter_) stop_();
  }
  Task<void> stop() {
    if (installed_) trace::set_global_tracer(nullptr);
    installed_ = false;
    if (!exporter_) co_return;
    stop_();
    co_await std::move(*exporter_);
    exporter_.reset();
  }

 private:
  bool installed_ = false;
  CancelFunc stop_;
  std::optional<JoinHandle<void>> exporter_;
};

}  // namespace

void add_node_options(CLI::App* cmd, JobsOptions& o) {
  cmd->add_option("--log-format", o.log_format,
                  "text (the human lines) or json (one object a line: time, level, message, "
                  "trace_id, job_id, node)")
      ->capture_default_str();
  cmd->add_option("--log-level", o.log_level, "debug (every job state change), info, warn or error")
      ->capture_default_str();
  cmd->add_option("--otlp-endpoint", o.otlp_endpoint,
                  "export spans as OTLP/HTTP JSON to this URL, e.g. "
                  "http://127.0.0.1:4318/v1/traces");
  cmd->add_option("--trace-file", o.trace_file,
                  "append spans to this file, one OTLP JSON request a line");
  cmd->add_option("--trace-sample", o.trace_sample,
                  "share of new traces sampled, 0..1 (failed and slow spans are kept anyway)")
      ->capture_default_str();
  cmd->add_option("--trace-slow", o.trace_slow,
                  "spans at least this long are kept whatever the sampling")
      ->capture_default_str();
  cmd->add_option("--concurrency,-c", o.concurrency,
                  "jobs run at once per node, or auto: a limit found from the jobs' run times "
                  "(it falls when they slow down), within --concurrency-min..--concurrency-max")
      ->capture_default_str();
  cmd->add_option("--concurrency-min", o.concurrency_min, "with --concurrency auto: lowest limit")
      ->capture_default_str();
  cmd->add_option("--concurrency-max", o.concurrency_max, "with --concurrency auto: highest limit")
      ->capture_default_str();
  cmd->add_option("--id", o.node_id, "node id (default: host-pid-random)");
  cmd->add_option("--tag", o.tags, "capability tag (repeatable)");
  cmd->add_option("--type", o.types,
                  "built-in job type to handle: noop, sleep, fail, echo (repeatable; default all)");
  cmd->add_flag("--pull", o.pull, "claim pending jobs by type instead of waiting for a center");
  cmd->add_option("--grace", o.grace, "on SIGTERM, how long running jobs may finish")
      ->capture_default_str();
  cmd->add_option("--heartbeat", o.heartbeat, "heartbeat interval")->capture_default_str();
  cmd->add_option("--lease", o.lease, "lease of a job without heartbeats")->capture_default_str();
  cmd->add_option("--queue-lease", o.queue_leases,
                  "QUEUE=DURATION: that queue's own lease instead of --lease (repeatable)");
  auto* breaker = cmd->add_flag("--breaker", o.breaker,
                                "a circuit breaker per job type: a type whose jobs fail past "
                                "the threshold is not taken (its jobs wait pending) for a while, "
                                "then probed");
  cmd->add_option("--breaker-threshold", o.breaker_threshold,
                  "failure rate in percent (0 < P <= 100) that opens a type's breaker")
      ->capture_default_str()
      ->needs(breaker);
  cmd->add_option("--breaker-window", o.breaker_window, "calls a breaker's failure rate is over")
      ->capture_default_str()
      ->needs(breaker);
  cmd->add_option("--breaker-min-calls", o.breaker_min_calls,
                  "calls in the window before a breaker may open")
      ->capture_default_str()
      ->needs(breaker);
  cmd->add_option("--breaker-open-for", o.breaker_open_for,
                  "how long an open breaker holds its type back")
      ->capture_default_str()
      ->needs(breaker);
  cmd->add_option("--breaker-probes", o.breaker_probes,
                  "jobs a half-open breaker lets through to decide")
      ->capture_default_str()
      ->needs(breaker);
  cmd->add_option("--queue-rate", o.queue_rates,
                  "QUEUE=RATE: start at most RATE jobs of QUEUE, e.g. email=100/s or "
                  "email=100/s,burst=10 (repeatable); on a Redis broker across the whole fleet "
                  "(every worker must give the queue the same rate), on SQLite per process");
  cmd->add_option("--node-timeout", o.node_timeout,
                  "a node without heartbeats for this long is dead (serve, worker)")
      ->capture_default_str();
  cmd->add_option("--keep-finished", o.keep_finished,
                  "succeeded and cancelled jobs kept, the newest (serve, worker)")
      ->capture_default_str();
  cmd->add_option("--keep-finished-for", o.keep_finished_for,
                  "how long succeeded and cancelled jobs are kept (serve, worker)")
      ->capture_default_str();
  cmd->add_option("--keep-dead", o.keep_dead,
                  "failed and dead jobs (the dead letters) kept, the newest (serve, worker)")
      ->capture_default_str();
  cmd->add_option("--keep-dead-for", o.keep_dead_for,
                  "how long failed and dead jobs are kept (serve, worker)")
      ->capture_default_str();
  cmd->add_option("--connect-timeout", o.connect_timeout,
                  "how long to wait for an unreachable Redis broker at start (0: for ever)")
      ->capture_default_str();
  cmd->add_option("--exec-log", o.exec_log,
                  "append a line per handler start and end to this file (scripts/chaos)");
  cmd->add_option("--duration", o.duration, "stop after this long (default: until SIGINT/SIGTERM)");
  cmd->add_flag("--quiet,-q", o.quiet, "no progress lines");
}

// serve --workers MIN..MAX: the pool's options, checked before the store opens;
// nothing without --workers. The workers run as `orca worker` would with the node
// flags serve was given (the same concurrency, types, grace, leases, limits).
std::optional<WorkerPoolOptions> worker_pool_options(const JobsOptions& o) {
  if (o.workers.empty()) return std::nullopt;
  WorkerPoolOptions p;
  const auto dots = o.workers.find("..");
  const std::string low = o.workers.substr(0, dots);
  const std::string high = dots == std::string::npos ? low : o.workers.substr(dots + 2);
  auto number = [&o](const std::string& text) {
    int n = -1;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, n);
    if (text.empty() || ec != std::errc() || ptr != end || n < 0)
      throw UsageError("--workers " + o.workers + ": expected MIN..MAX or N, e.g. 1..8");
    return n;
  };
  p.scaling.min_workers = number(low);
  p.scaling.max_workers = number(high);
  if (p.scaling.max_workers < 1 || p.scaling.max_workers < p.scaling.min_workers)
    throw UsageError("--workers " + o.workers + ": MAX must be at least 1 and at least MIN");
  if (p.scaling.max_workers > 256) throw UsageError("--workers: at most 256 workers");
  if (!(o.scale_target > 0 && o.scale_target <= 1))
    throw UsageError("--scale-target must be within (0, 1]");
  p.scaling.target_utilization = o.scale_target;
  p.scaling.scale_down_delay = duration_option("scale-down-delay", o.scale_down_delay);
  p.interval = duration_option("scale-interval", o.scale_interval);
  if (p.interval.count() <= 0) throw UsageError("--scale-interval must be above 0");
  const jobs::NodeOptions no = node_options(o, 0);
  p.scaling.slots_per_worker = no.adaptive_concurrency ? no.adaptive.max_limit : no.concurrency;
  p.grace = no.grace;
  std::array<char, 4096> exe{};
  const ssize_t n = ::readlink("/proc/self/exe", exe.data(), exe.size() - 1);
  if (n <= 0) throw std::runtime_error("--workers: cannot find the orca executable");
  p.executable.assign(exe.data(), static_cast<std::size_t>(n));
  std::vector<std::string>& a = p.worker_args;
  a = {"worker",
       "--no-standby-center",
       "--quiet",
       "--supervisor-pid",
       std::to_string(::getpid()),
       "--concurrency",
       o.concurrency,
       "--concurrency-min",
       std::to_string(o.concurrency_min),
       "--concurrency-max",
       std::to_string(o.concurrency_max),
       "--grace",
       o.grace,
       "--heartbeat",
       o.heartbeat,
       "--lease",
       o.lease,
       "--node-timeout",
       o.node_timeout,
       "--log-format",
       o.log_format,
       "--log-level",
       o.log_level,
       "--connect-timeout",
       o.connect_timeout};
  auto repeat = [&a](const char* flag, const std::vector<std::string>& values) {
    for (const std::string& v : values) {
      a.push_back(flag);
      a.push_back(v);
    }
  };
  repeat("--tag", o.tags);
  repeat("--type", o.types);
  repeat("--queue-lease", o.queue_leases);
  repeat("--queue-rate", o.queue_rates);
  if (o.pull) a.push_back("--pull");
  if (!o.exec_log.empty()) a.insert(a.end(), {"--exec-log", o.exec_log});
  if (o.breaker) {
    a.insert(a.end(), {"--breaker", "--breaker-threshold", std::to_string(o.breaker_threshold),
                       "--breaker-window", std::to_string(o.breaker_window), "--breaker-min-calls",
                       std::to_string(o.breaker_min_calls), "--breaker-open-for",
                       o.breaker_open_for, "--breaker-probes", std::to_string(o.breaker_probes)});
  }
  if (!o.otlp_endpoint.empty()) a.insert(a.end(), {"--otlp-endpoint", o.otlp_endpoint});
  if (!o.otlp_endpoint.empty() || !o.trace_file.empty())
    a.insert(a.end(),
             {"--trace-sample", std::to_string(o.trace_sample), "--trace-slow", o.trace_slow});
  if (!o.trace_file.empty()) a.insert(a.end(), {"--trace-file", o.trace_file});
  if (o.broker.empty()) {
    a.insert(a.end(), {"--db", o.db});
  } else {
    p.broker_url = o.broker;  // in the environment: `ps` shows no password
  }
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) std::strcpy(host.data(), "host");
  p.id_prefix = std::string(host.data()) + "-" + std::to_string(::getpid());
  return p;
}

int serve(const JobsOptions& o) {
  if (o.nodes < 0) throw UsageError("--nodes must not be negative");
  const std::optional<WorkerPoolOptions> pool_options = worker_pool_options(o);
  apply_log_options(o);
  std::optional<Tracing> tracing = tracing_for(o, "orca-serve");
  if (!tracing) tracing = dashboard_tracing(o, "orca-serve");
  const std::optional<jobs::P99ReportOptions> p99_options = p99_report_options(o);
  const std::optional<ApiListen> listen = api_listen(o);
  jobs::CenterOptions co;
  co.node_timeout = duration_option("node-timeout", o.node_timeout);
  co.retention = retention(o);
  co.log_leadership = !o.quiet;
  if (o.pull) co.policy = std::make_shared<jobs::PullPolicy>();
  return with_broker(o, Command::kService, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    auto reported = std::make_unique<ProcessMetrics>();
    jobs::BrokerMetrics broker_metrics(reported->registry, *broker);
    co.metrics = &reported->job_metrics;
    // The dashboard's view: series, events, the spans of this process and of the
    // workers that send theirs to POST /v1/traces.
    auto live = std::make_unique<jobs::LiveView>(*broker);
    co.live = live.get();
    if (tracing) tracing->tracer->add_sink(live->span_sink("orca-serve"));
    TracingRun traced(tracing);
    std::optional<jobs::P99Report> p99;
    if (p99_options) p99.emplace(*broker, *p99_options);
    std::vector<std::unique_ptr<jobs::Node>> nodes;
    for (int i = 0; i < o.nodes; ++i) {
      jobs::NodeOptions no = node_options(o, i);
      no.metrics = &reported->job_metrics;
      no.on_attempt_end = live->recorder();
      if (p99)
        no.on_attempt_end = [to_live = live->recorder(), to_p99 = p99->recorder()](
                                const jobs::Job& job, jobs::Outcome outcome,
                                std::chrono::nanoseconds took) {
          to_live(job, outcome, took);
          to_p99(job, outcome, took);
        };
      nodes.push_back(std::make_unique<jobs::Node>(*broker, std::move(no)));
      if (p99) p99->watch(*nodes.back());
      add_demo_handlers(*nodes.back(), *broker, o.types, exec_log_for(o));
    }
    RunContext rc = run_context(o);
    jobs::Center center(*broker, co);
    for (const std::string& p : o.periodic) {
      // NAME=SCHEDULE=TYPE[=PAYLOAD]
      std::vector<std::string> parts;
      std::size_t start = 0;
      for (int k = 0; k < 3; ++k) {
        const std::size_t eq = p.find('=', start);
        if (eq == std::string::npos) break;
        parts.push_back(p.substr(start, eq - start));
        start = eq + 1;
      }
      parts.push_back(p.substr(start));
      if (parts.size() < 3)
        throw UsageError("--periodic " + p + ": expected NAME=SCHEDULE=TYPE[=PAYLOAD]");
      jobs::JobSpec spec;
      spec.type = parts[2];
      if (parts.size() > 3) spec.payload = parts[3];
      if (auto schedule = jobs::Schedule::parse(parts[1]); !schedule)
        throw UsageError(
            std::string("--periodic ").append(p).append(": ").append(schedule.error().detail()));
      auto added = co_await center.add_periodic(rc.ctx, parts[0], parts[1], spec);
      if (!added) fail("--periodic " + p, added.error());
    }
    for (auto& n : nodes)
      center.attach(*n);
    // The HTTP port first: a serve that cannot listen exits before any node of it
    // registers (no ghost registration left alive).
    std::vector<metrics::Registration> resilience_reports;
    for (auto& n : nodes)
      resilience_reports.push_back(jobs::report_breakers(reported->registry, *n));
    std::optional<http::Server> server;
    std::string api = "no HTTP API";
    if (listen) {
      http::ServerOptions server_options = listen->server_options(reported->registry);
      jobs::ApiOptions api_options = listen->api_options(reported->registry, live.get());
      if (!api_options.rate_limit.empty())
        resilience_reports.push_back(
            http::report_rate_limit(reported->registry, "api", api_options.rate_limit));
      if (!api_options.token_rate_limit.empty())
        resilience_reports.push_back(
            http::report_rate_limit(reported->registry, "api_token", api_options.token_rate_limit));
      if (api_options.load_shedding)
        for (auto& r :
             http::report_load_shedding(reported->registry, "api", *api_options.load_shedding))
          resilience_reports.push_back(std::move(r));
      server.emplace(jobs::with_dashboard(jobs::make_api_router(center, std::move(api_options))),
                     std::move(server_options));
      auto started = server->start(listen->address);
      if (!started)
        throw std::runtime_error("cannot listen on " + listen->address.to_string() + ": " +
                                 started.error().message());
      const std::string url =
          (listen->tls ? "https://" : "http://") + server->local_address().to_string();
      api = listen->tls ? "HTTPS API on " : "HTTP API on ";
      api.append(url)
          .append("/api/ and /metrics (")
          .append(listen->summary)
          .append("), dashboard on ")
          .append(url)
          .append("/");
    }
    auto [reload_ctx, stop_reloading] = with_cancel(rc.ctx);
    auto reloads = spawn([server = server && listen->tls ? &*server : nullptr, ctx = reload_ctx] {
      return reload_tls_on_sighup(server, ctx);
    });
    std::vector<JoinHandle<Result<void>>> running;
    for (auto& n : nodes)
      running.push_back(spawn([node = n.get(), ctx = rc.ctx] { return node->run(ctx); }));
    auto [over, end_over] = with_cancel(background());
    std::vector<jobs::Node*> node_list;
    for (auto& n : nodes)
      node_list.push_back(n.get());
    auto second_signal = spawn([ctx = rc.ctx, over = over, node_list] {
      return end_grace_on_second_signal(ctx, over, node_list);
    });
    if (!o.quiet)
      log_info(std::string("orca serve: center and ")
                   .append(std::to_string(o.nodes))
                   .append(" node(s)")
                   .append(pool_options ? ", " + o.workers + " worker process(es)" : "")
                   .append(" on ")
                   .append(o.broker.empty() ? o.db : redacted_url(o.broker))
                   .append(", ")
                   .append(api)
                   .append(tracing ? std::string(", ").append(tracing->summary) : std::string())
                   .append("; Ctrl-C to stop"));
    auto progress =
        spawn([b = broker, ctx = rc.ctx, quiet = o.quiet, as_json = o.json]() -> Task<void> {
          if (!quiet) co_await report_progress(*b, ctx, "serve", as_json);
        });
    auto live_polls = spawn([l = live.get(), ctx = rc.ctx] { return l->run(ctx); });
    auto reporting = spawn([r = p99 ? &*p99 : nullptr, ctx = rc.ctx]() -> Task<void> {
      if (r != nullptr) co_await r->run(ctx);
    });
    std::optional<WorkerPool> pool;
    if (pool_options) pool.emplace(*broker, *pool_options);
    auto pooled = spawn([p = pool ? &*pool : nullptr, ctx = rc.ctx]() -> Task<void> {
      if (p != nullptr) co_await p->run(ctx);
    });
    auto ran = co_await center.run(rc.ctx);
    co_await std::move(pooled);  // its workers stopped, their jobs finished or handed back
    stop_reloading();
    co_await std::move(reloads);
    if (server) {
      auto [http_ctx, stop_http] = with_timeout(background(), 5s);
      (void)co_await server->shutdown(http_ctx);
      stop_http();
    }
    Error node_failure;
    for (auto& r : running) {
      auto node_ran = co_await std::move(r);
      if (!node_ran && !node_failure) node_failure = node_ran.error();
    }
    end_over();
    co_await std::move(second_signal);
    co_await std::move(progress);
    co_await std::move(reporting);
    co_await std::move(live_polls);
    rc.stop_timer();
    rc.stop_signals();
    co_await traced.stop();
    if (node_failure) fail("node", node_failure);
    co_return ran ? 0 : 1;
  });
}

int worker(const JobsOptions& o) {
  apply_log_options(o);
  const std::optional<Tracing> tracing = tracing_for(o, "orca-worker");
  const jobs::Retention keep = retention(o);
  const jobs::NodeOptions node_opts = node_options(o, 0);  // bad flags: before the store opens
  const std::optional<MetricsListen> metrics_at = metrics_listen(o);
  return with_broker(o, Command::kService, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    TracingRun traced(tracing);
    auto reported = std::make_unique<ProcessMetrics>();
    jobs::NodeOptions with_metrics = node_opts;
    with_metrics.metrics = &reported->job_metrics;
    jobs::Node node(*broker, with_metrics);
    metrics::Registration breaker_report = jobs::report_breakers(reported->registry, node);
    // GET /metrics, if asked for: before the node registers, so a worker that cannot
    // listen exits without a ghost registration.
    std::optional<http::Server> metrics_server;
    if (metrics_at) {
      http::Router routes;
      http::add_metrics_route(routes, reported->registry);
      http::ServerOptions so;
      so.metrics = &reported->registry;
      metrics_server.emplace(http::protect(std::move(routes), metrics_at->access), std::move(so));
      auto started = metrics_server->start(metrics_at->address);
      if (!started)
        throw std::runtime_error("cannot listen on " + metrics_at->address.to_string() + ": " +
                                 started.error().message());
      if (!o.quiet)
        std::fprintf(stderr, "orca worker: metrics on http://%s/metrics\n",
                     metrics_server->local_address().to_string().c_str());
    }
    add_demo_handlers(node, *broker, o.types, exec_log_for(o));
    RunContext rc = run_context(o);
    // Started by `orca serve --workers`: its end is this worker's SIGTERM.
    auto [supervised, supervisor_gone] = with_cancel(rc.ctx);
    auto supervision = spawn([ctx = supervised, gone = supervisor_gone, pid = o.supervisor_pid] {
      return stop_when_supervisor_gone(ctx, gone, pid);
    });
    rc.ctx = supervised;
    std::string concurrency = o.concurrency;
    if (node_opts.adaptive_concurrency)
      concurrency.append(" (")
          .append(std::to_string(node_opts.adaptive.min_limit))
          .append("..")
          .append(std::to_string(node_opts.adaptive.max_limit))
          .append(")");
    if (!o.quiet)
      log_info(std::string("orca worker ")
                   .append(node.id())
                   .append(": types ")
                   .append(json(node.types()).dump())
                   .append(", concurrency ")
                   .append(concurrency)
                   .append(o.pull ? ", pulling pending jobs" : ", running what a center assigns")
                   .append(tracing ? std::string(", ").append(tracing->summary) : std::string())
                   .append("; Ctrl-C to stop"));
    auto progress = spawn([b = broker, ctx = rc.ctx, quiet = o.quiet, as_json = o.json,
                           id = node.id()]() -> Task<void> {
      if (!quiet) co_await report_progress(*b, ctx, "worker " + id, as_json);
    });
    // A standby center: it asks for the leadership lease every tick and takes the
    // center's duties only while no other center holds it, so the death of the only
    // `orca serve` (or of any one process) does not stop processing. A pushed-to
    // worker's standby routes (lease "center", as serve's); a pulling worker needs no
    // routing, only time keeping (promotion, reaping, periodic jobs, retention), and
    // its standby contends with the other pulling workers for "timekeeper".
    std::optional<JoinHandle<Result<void>>> keeper;
    std::optional<jobs::Center> standby;
    if (!o.no_standby_center) {
      jobs::CenterOptions co;
      if (o.pull) co.policy = std::make_shared<jobs::PullPolicy>();
      co.node_timeout = duration_option("node-timeout", o.node_timeout);
      co.retention = keep;
      co.id = node.id();
      co.log_leadership = !o.quiet;
      co.metrics = &reported->job_metrics;  // the periodic jobs it fires while leading
      standby.emplace(*broker, co);
      keeper.emplace(spawn([c = &*standby, ctx = rc.ctx] { return c->run(ctx); }));
    }
    auto [over, end_over] = with_cancel(background());
    auto second_signal = spawn([ctx = rc.ctx, over = over, node = &node] {
      return end_grace_on_second_signal(ctx, over, {node});
    });
    auto ran = co_await node.run(rc.ctx);
    supervisor_gone();
    co_await std::move(supervision);
    end_over();
    co_await std::move(second_signal);
    if (keeper) (void)co_await std::move(*keeper);
    if (metrics_server) {
      auto [http_ctx, stop_http] = with_timeout(background(), 5s);
      (void)co_await metrics_server->shutdown(http_ctx);
      stop_http();
    }
    co_await std::move(progress);
    rc.stop_timer();
    rc.stop_signals();
    co_await traced.stop();
    if (!ran) fail("worker", ran.error());
    if (!o.quiet) log_info(std::string("orca worker ").append(node.id()).append(": stopped"));
    co_return 0;
  });
}

// The dashboard and the API over the broker, without routing or time keeping: a
// Center that never runs serves the API's writes (submit enqueues, and the fleet's
// leading center routes the job at its next tick; cancel is recorded in the broker and
// reaches a running job's node, pushed on Redis, else at its next heartbeat), as
// asynqmon serves Asynq's.
int dashboard(const JobsOptions& o) {
  apply_log_options(o);
  const std::optional<ApiListen> listen = api_listen(o);
  if (!listen)
    throw UsageError("--http-port 0 turns off the HTTP listener, which is all this command serves");
  return with_broker(o, Command::kOneShot, [&](jobs::Broker& broker) -> Task<int> {
    auto reported = std::make_unique<ProcessMetrics>();
    // The live view over the broker alone: the queues and nodes events, the fleet's
    // series (live.hpp: from the broker's counts and finished jobs), and the spans
    // workers post to /v1/traces.
    auto live = std::make_unique<jobs::LiveView>(broker);
    jobs::CenterOptions co;
    co.log_leadership = false;
    co.metrics = &reported->job_metrics;
    co.live = live.get();
    jobs::Center center(broker, co);
    http::ServerOptions server_options = listen->server_options(reported->registry);
    jobs::ApiOptions api_options = listen->api_options(reported->registry, live.get());
    http::Server server(jobs::with_dashboard(jobs::make_api_router(center, std::move(api_options))),
                        std::move(server_options));
    auto started = server.start(listen->address);
    if (!started)
      throw std::runtime_error("cannot listen on " + listen->address.to_string() + ": " +
                               started.error().message());
    RunContext rc = run_context(o);
    if (!o.quiet)
      log_info(std::string("orca dashboard: on ")
                   .append(listen->tls ? "https://" : "http://")
                   .append(server.local_address().to_string())
                   .append("/ over ")
                   .append(o.broker.empty() ? o.db : redacted_url(o.broker))
                   .append(" (")
                   .append(listen->summary)
                   .append("); Ctrl-C to stop"));
    auto [reload_ctx, stop_reloading] = with_cancel(rc.ctx);
    auto reloads = spawn([s = listen->tls ? &server : nullptr, ctx = reload_ctx] {
      return reload_tls_on_sighup(s, ctx);
    });
    auto [live_ctx, stop_live] = with_cancel(rc.ctx);
    auto live_polls = spawn([l = live.get(), ctx = live_ctx] { return l->run(ctx); });
    (void)co_await rc.ctx.done();
    stop_reloading();
    co_await std::move(reloads);
    auto [http_ctx, stop_http] = with_timeout(background(), 5s);
    (void)co_await server.shutdown(http_ctx);
    stop_http();
    stop_live();
    co_await std::move(live_polls);
    rc.stop_timer();
    rc.stop_signals();
    co_return 0;
  });
}

}  // namespace orca::cli::detail
