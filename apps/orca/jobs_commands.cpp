// The job commands of `orca` (jobs_commands.hpp). Each command opens the broker,
// runs one task on orca::run, and prints a human table or, with --json, JSON.
#include "jobs_commands.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>

#include "duration.hpp"
#include "orca/jobs/http_api.hpp"
#include "orca/jobs/jobs.hpp"
#include "orca/jobs/redis_broker.hpp"
#include "orca/net/http/server.hpp"
#include "orca/orca.hpp"

namespace orca::cli {

namespace {

using namespace std::chrono_literals;
using jobs::Job;
using jobs::JobState;
using nlohmann::json;

// A usage error: reported as "orca: <message>" with exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::chrono::milliseconds duration_option(const std::string& name, const std::string& text) {
  auto d = parse_duration(text);
  if (!d)
    throw UsageError("--" + name + ": \"" + text +
                     "\" is not a duration (a number followed by ms, s, m or h)");
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

// Runs `body` on orca::run with the broker the options choose: --broker sqlite:PATH,
// redis://[user:password@]host:port/db, redis-cluster://host:port (any master of a
// Redis Cluster), or --db PATH. A Redis broker is connected inside the run (its
// client lives on the runtime) and closed before the run ends.
int with_broker(const JobsOptions& o, std::function<Task<int>(jobs::Broker&)> body) {
  const std::string& b = o.broker;
  const bool cluster = b.rfind("redis-cluster://", 0) == 0;
  if (cluster || b.rfind("redis://", 0) == 0) {
    jobs::RedisBrokerOptions ro;
    ro.url = cluster ? "redis://" + b.substr(16) : b;
    ro.cluster = cluster;
    return run([&]() -> Task<int> {
      std::string why;
      auto broker = co_await jobs::RedisBroker::connect(background(), ro, &why);
      if (!broker) {
        if (broker.error() == jobs::errc::invalid_job)
          throw UsageError("--broker " + b + ": " + why);
        throw std::runtime_error("--broker " + b + ": " + why);
      }
      const int code = co_await body(**broker);
      co_await (*broker)->closed();
      co_return code;
    });
  }
  std::string path = o.db;
  if (!b.empty()) {
    if (b.rfind("sqlite:", 0) != 0 || b.size() == 7)
      throw UsageError("--broker " + b +
                       ": expected sqlite:PATH, redis://[user:password@]host:port/db or "
                       "redis-cluster://host:port");
    path = b.substr(7);
  }
  jobs::SqliteOptions so;
  so.path = path;
  jobs::SqliteBroker broker(so);
  return run([&]() -> Task<int> { co_return co_await body(broker); });
}

std::string format_time(jobs::WallClock::time_point t) {
  if (t.time_since_epoch().count() == 0) return "-";
  const std::time_t secs = jobs::WallClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  const auto ms = jobs::to_unix_ms(t) % 1000;
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

[[noreturn]] void fail(const std::string& what, std::error_code e, const jobs::Broker& broker) {
  std::string msg = what + ": " + e.message();
  if (e == jobs::errc::broker_failure) msg += " (" + broker.last_failure() + ")";
  throw std::runtime_error(msg);
}

void print_json(const json& j) {
  std::cout << j.dump(2) << "\n";
}

std::string clip(std::string s, std::size_t n) {
  if (s.size() > n) s = s.substr(0, n - 3) + "...";
  return s;
}

void print_jobs_table(const std::vector<Job>& list) {
  std::printf("%-8s %-16s %-10s %-10s %4s %7s %-24s %s\n", "ID", "TYPE", "QUEUE", "STATE", "PRI",
              "ATTEMPT", "NODE", "LAST ERROR");
  for (const Job& j : list)
    std::printf("%-8lld %-16s %-10s %-10s %4d %3d/%-3d %-24s %s\n", static_cast<long long>(j.id),
                clip(j.spec.type, 16).c_str(), clip(j.spec.queue, 10).c_str(),
                std::string(jobs::to_string(j.state)).c_str(), j.spec.priority, j.attempt,
                j.spec.retry.max_attempts, clip(j.node, 24).c_str(),
                clip(j.last_error, 60).c_str());
  if (list.empty()) std::printf("(no jobs)\n");
}

// --- demo handlers (worker and serve) ----------------------------------------------

// noop: succeeds at once. sleep: sleeps PAYLOAD milliseconds (stops early if the job
// is cancelled or times out). fail: fails; PAYLOAD "permanent" makes it permanent.
// echo: prints its payload.
void add_demo_handlers(jobs::Node& node, const std::vector<std::string>& wanted) {
  auto want = [&](const char* t) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), t) != wanted.end();
  };
  for (const std::string& t : wanted)
    if (t != "noop" && t != "sleep" && t != "fail" && t != "echo")
      throw UsageError("--type " + t + ": the built-in job types are noop, sleep, fail and echo");
  if (want("noop"))
    node.handle("noop", [](Context, Job) -> Task<Result<void>> { co_return Result<void>{}; });
  if (want("sleep"))
    node.handle("sleep", [](Context ctx, Job job) -> Task<Result<void>> {
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
    node.handle("fail", [](Context, Job job) -> Task<Result<void>> {
      if (job.spec.payload == "permanent")
        throw jobs::PermanentError("failed permanently, as asked");
      co_return make_error_code(std::errc::io_error);
    });
  if (want("echo"))
    node.handle("echo", [](Context, Job job) -> Task<Result<void>> {
      std::printf("echo job %lld: %s\n", static_cast<long long>(job.id), job.spec.payload.c_str());
      std::fflush(stdout);
      co_return Result<void>{};
    });
}

jobs::NodeOptions node_options(const JobsOptions& o, int index) {
  jobs::NodeOptions no;
  if (!o.node_id.empty()) no.id = index == 0 ? o.node_id : o.node_id + "-" + std::to_string(index);
  if (o.concurrency < 1) throw UsageError("--concurrency must be at least 1");
  no.concurrency = o.concurrency;
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
  return no;
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

std::map<JobState, std::int64_t> totals(const std::vector<jobs::QueueStats>& stats) {
  std::map<JobState, std::int64_t> out;
  for (const auto& q : stats)
    for (const auto& [s, n] : q.counts)
      out[s] += n;
  return out;
}

std::string summary(const std::map<JobState, std::int64_t>& t) {
  std::string out;
  for (const auto& [s, n] : t) {
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " " + std::string(jobs::to_string(s));
  }
  return out.empty() ? "no jobs" : out;
}

// Prints a progress line every 2 s until ctx is done.
Task<void> report_progress(jobs::Broker& broker, Context ctx, std::string who) {
  for (;;) {
    auto slept = co_await sleep_for(ctx, 2s);
    if (!slept) co_return;
    auto stats = co_await broker.queues(ctx);
    if (stats) std::fprintf(stderr, "%s: %s\n", who.c_str(), summary(totals(*stats)).c_str());
  }
}

// --- commands ----------------------------------------------------------------------------

int serve(const JobsOptions& o) {
  if (o.nodes < 0) throw UsageError("--nodes must not be negative");
  jobs::CenterOptions co;
  co.node_timeout = duration_option("node-timeout", o.node_timeout);
  if (o.pull) co.policy = std::make_shared<jobs::PullPolicy>();
  return with_broker(o, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    std::vector<std::unique_ptr<jobs::Node>> nodes;
    for (int i = 0; i < o.nodes; ++i) {
      nodes.push_back(std::make_unique<jobs::Node>(*broker, node_options(o, i)));
      add_demo_handlers(*nodes.back(), o.types);
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
      std::string error;
      if (!jobs::Schedule::parse(parts[1], error))
        throw UsageError("--periodic " + p + ": " + error);
      auto added = co_await center.add_periodic(rc.ctx, parts[0], parts[1], spec);
      if (!added) fail("--periodic " + p, added.error(), *broker);
    }
    for (auto& n : nodes)
      center.attach(*n);
    std::vector<JoinHandle<Result<void>>> running;
    for (auto& n : nodes)
      running.push_back(spawn([node = n.get(), ctx = rc.ctx] { return node->run(ctx); }));
    if (o.http_port < 0 || o.http_port > 65535) throw UsageError("--http-port must be 0..65535");
    std::optional<http::Server> server;
    std::string api = "no HTTP API";
    if (o.http_port != 0) {
      server.emplace(jobs::make_api_router(center));
      auto started =
          server->start(net::Address::loopback_v4(static_cast<std::uint16_t>(o.http_port)));
      if (!started)
        throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(o.http_port) +
                                 ": " + started.error().message());
      api = "HTTP API on http://127.0.0.1:" + std::to_string(server->local_address().port()) +
            "/api/";
    }
    if (!o.quiet)
      std::fprintf(stderr, "orca serve: center and %d node(s) on %s, %s; Ctrl-C to stop\n", o.nodes,
                   o.broker.empty() ? o.db.c_str() : o.broker.c_str(), api.c_str());
    auto progress = spawn([b = broker, ctx = rc.ctx, quiet = o.quiet]() -> Task<void> {
      if (!quiet) co_await report_progress(*b, ctx, "serve");
    });
    auto ran = co_await center.run(rc.ctx);
    if (server) {
      auto [http_ctx, stop_http] = with_timeout(background(), 5s);
      (void)co_await server->shutdown(http_ctx);
      stop_http();
    }
    for (auto& r : running) {
      auto node_ran = co_await std::move(r);
      if (!node_ran) fail("node", node_ran.error(), *broker);
    }
    co_await std::move(progress);
    rc.stop_timer();
    rc.stop_signals();
    co_return ran ? 0 : 1;
  });
}

int worker(const JobsOptions& o) {
  return with_broker(o, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    jobs::Node node(*broker, node_options(o, 0));
    add_demo_handlers(node, o.types);
    RunContext rc = run_context(o);
    if (!o.quiet)
      std::fprintf(stderr, "orca worker %s: types %s, concurrency %d%s; Ctrl-C to stop\n",
                   node.id().c_str(), json(node.types()).dump().c_str(), o.concurrency,
                   o.pull ? ", pulling pending jobs" : ", running what a center assigns");
    auto progress =
        spawn([b = broker, ctx = rc.ctx, quiet = o.quiet, id = node.id()]() -> Task<void> {
          if (!quiet) co_await report_progress(*b, ctx, "worker " + id);
        });
    // A pulling worker needs no center to route, but someone must keep time:
    // promote due jobs, reclaim the jobs of dead nodes and expired leases. Every
    // pulling worker does (the broker's transitions make that safe), so those duties
    // survive the death of any one process.
    std::optional<JoinHandle<Result<void>>> keeper;
    std::optional<jobs::Center> timekeeper;
    if (o.pull) {
      jobs::CenterOptions co;
      co.policy = std::make_shared<jobs::PullPolicy>();
      co.node_timeout = duration_option("node-timeout", o.node_timeout);
      timekeeper.emplace(*broker, co);
      keeper.emplace(spawn([c = &*timekeeper, ctx = rc.ctx] { return c->run(ctx); }));
    }
    auto ran = co_await node.run(rc.ctx);
    if (keeper) (void)co_await std::move(*keeper);
    co_await std::move(progress);
    rc.stop_timer();
    rc.stop_signals();
    if (!ran) fail("worker", ran.error(), *broker);
    if (!o.quiet) std::fprintf(stderr, "orca worker %s: stopped\n", node.id().c_str());
    co_return 0;
  });
}

jobs::JobSpec spec_from_options(const JobsOptions& o) {
  jobs::JobSpec s;
  s.type = o.type;
  s.payload = o.payload;
  s.queue = o.queue;
  s.priority = o.priority;
  s.retry.max_attempts = o.max_attempts;
  s.retry.base_delay = duration_option("backoff", o.backoff);
  if (!o.timeout.empty()) s.timeout = duration_option("timeout", o.timeout);
  if (!o.delay.empty()) s.run_at = jobs::WallClock::now() + duration_option("delay", o.delay);
  s.unique_key = o.unique_key;
  s.trace_id = o.trace_id;
  if (std::string problem = jobs::check_job_spec(s); !problem.empty()) throw UsageError(problem);
  return s;
}

int submit(const JobsOptions& o) {
  const jobs::JobSpec s = spec_from_options(o);
  if (o.count < 1) throw UsageError("--count must be at least 1");
  return with_broker(o, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    Context ctx = background();
    std::vector<jobs::EnqueueResult> added;
    // Batches of 1000: one transaction each, and a progress line for long runs.
    const int batch = 1000;
    for (int done = 0; done < o.count;) {
      const int n = std::min(batch, o.count - done);
      std::vector<jobs::JobSpec> specs(static_cast<std::size_t>(n), s);
      auto r = co_await broker->enqueue(ctx, std::move(specs));
      if (!r) fail("submit", r.error(), *broker);
      added.insert(added.end(), r->begin(), r->end());
      done += n;
      if (o.count > batch && !o.quiet) std::fprintf(stderr, "submitted %d/%d\n", done, o.count);
    }
    if (o.wait) {
      // Poll until every submitted job has finished; print what became of them.
      for (;;) {
        std::size_t live = 0;
        for (const auto& a : added) {
          auto j = co_await broker->get(ctx, a.id);
          if (j && jobs::is_live(j->state)) ++live;
        }
        if (live == 0) break;
        if (!o.quiet)
          std::fprintf(stderr, "waiting: %zu of %zu job(s) not finished\n", live, added.size());
        co_await sleep_for(o.count > 1 ? 1s : 200ms);
      }
    }
    json out = json::array();
    for (const auto& a : added) {
      json item{{"id", a.id}, {"duplicate", a.duplicate}};
      if (o.wait) {
        auto j = co_await broker->get(ctx, a.id);
        if (j) {
          item["state"] = std::string(jobs::to_string(j->state));
          item["last_error"] = j->last_error;
        }
      }
      out.push_back(item);
    }
    if (o.json) {
      print_json(o.count == 1 ? out[0] : out);
    } else if (o.count == 1) {
      std::printf("%s job %lld%s\n", added[0].duplicate ? "duplicate of" : "submitted",
                  static_cast<long long>(added[0].id),
                  o.wait ? (": " + out[0].value("state", std::string()) +
                            (out[0].value("last_error", std::string()).empty()
                                 ? std::string()
                                 : " (" + out[0].value("last_error", std::string()) + ")"))
                               .c_str()
                         : "");
    } else {
      std::printf("submitted %zu jobs, ids %lld..%lld\n", added.size(),
                  static_cast<long long>(added.front().id),
                  static_cast<long long>(added.back().id));
    }
    bool all_ok = true;
    if (o.wait)
      for (const auto& item : out)
        all_ok = all_ok && item.value("state", std::string()) == "succeeded";
    co_return all_ok ? 0 : 1;
  });
}

int status(const JobsOptions& o) {
  if (o.ids.empty()) throw UsageError("status: give at least one job ID");
  return with_broker(o, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    Context ctx = background();
    json out = json::array();
    int code = 0;
    for (long long id : o.ids) {
      auto job = co_await broker->get(ctx, id);
      if (!job) {
        if (job.error() != jobs::errc::not_found) fail("status", job.error(), *broker);
        std::fprintf(stderr, "orca: no job %lld\n", id);
        code = 1;
        continue;
      }
      auto trail = co_await broker->audit(ctx, id);
      if (!trail) fail("status", trail.error(), *broker);
      if (o.json) {
        json j = jobs::to_json(*job);
        j["audit"] = json::array();
        for (const auto& e : *trail)
          j["audit"].push_back(jobs::to_json(e));
        out.push_back(j);
        continue;
      }
      const Job& j = *job;
      std::printf("job %lld: %s\n", id, std::string(jobs::to_string(j.state)).c_str());
      std::printf("  type %s, queue %s, priority %d, attempt %d of %d\n", j.spec.type.c_str(),
                  j.spec.queue.c_str(), j.spec.priority, j.attempt, j.spec.retry.max_attempts);
      if (!j.node.empty()) std::printf("  node %s\n", j.node.c_str());
      if (j.cancel_requested) std::printf("  cancel requested\n");
      if (!j.last_error.empty()) std::printf("  last error: %s\n", j.last_error.c_str());
      if (!j.spec.unique_key.empty()) std::printf("  unique key %s\n", j.spec.unique_key.c_str());
      std::printf("  created %s, ready %s\n", format_time(j.created_at).c_str(),
                  format_time(j.ready_at).c_str());
      std::printf("  payload (%zu bytes): %s\n", j.spec.payload.size(),
                  clip(j.spec.payload, 80).c_str());
      std::printf("  audit:\n");
      for (const auto& e : *trail)
        std::printf("    %s  %-9s -> %-9s attempt %d%s%s%s%s\n", format_time(e.at).c_str(),
                    e.from ? std::string(jobs::to_string(*e.from)).c_str() : "(new)",
                    std::string(jobs::to_string(e.to)).c_str(), e.attempt,
                    e.node.empty() ? "" : "  node ", e.node.c_str(), e.error.empty() ? "" : "  ",
                    e.error.c_str());
    }
    if (o.json) print_json(o.ids.size() == 1 && out.size() == 1 ? out[0] : out);
    co_return code;
  });
}

int cancel(const JobsOptions& o) {
  if (o.ids.empty()) throw UsageError("cancel: give at least one job ID");
  return with_broker(o, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    int code = 0;
    json out = json::array();
    for (long long id : o.ids) {
      auto r = co_await broker->cancel(background(), id);
      std::string result;
      if (r) {
        result = *r == JobState::kRunning ? "cancel requested (running; its node stops it at its "
                                            "next heartbeat)"
                                          : "cancelled";
      } else if (r.error() == jobs::errc::not_found) {
        result = "no such job";
        code = 1;
      } else if (r.error() == jobs::errc::invalid_state) {
        result = "already finished";
        code = 1;
      } else {
        fail("cancel", r.error(), *broker);
      }
      if (o.json)
        out.push_back(json{{"id", id},
                           {"ok", static_cast<bool>(r)},
                           {"state", r ? std::string(jobs::to_string(*r)) : std::string()},
                           {"message", result}});
      else
        std::printf("job %lld: %s\n", id, result.c_str());
    }
    if (o.json) print_json(out);
    co_return code;
  });
}

int list_jobs(const JobsOptions& o, bool dead_letter) {
  jobs::JobFilter f;
  if (!o.state.empty()) {
    f.state = jobs::parse_job_state(o.state);
    if (!f.state)
      throw UsageError("--state " + o.state +
                       ": expected pending, scheduled, retrying, leased, running, succeeded, "
                       "failed, cancelled or dead");
  }
  if (o.limit < 1) throw UsageError("--limit must be at least 1");
  f.type = o.type;
  f.queue = o.queue == "default" && !dead_letter ? std::string() : o.queue;
  f.node = o.node;
  f.limit = static_cast<std::size_t>(o.limit);
  f.dead_letter = dead_letter;
  return with_broker(o, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    auto list = co_await broker->list(background(), f);
    if (!list) fail("jobs", list.error(), *broker);
    if (o.json) {
      json out = json::array();
      for (const Job& j : *list)
        out.push_back(jobs::to_json(j));
      print_json(out);
    } else {
      print_jobs_table(*list);
    }
    co_return 0;
  });
}

int dead(const JobsOptions& o) {
  if (o.ids.empty() && !o.all) {
    JobsOptions copy = o;
    copy.queue.clear();
    return list_jobs(copy, true);
  }
  return with_broker(o, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    std::vector<long long> ids = o.ids;
    if (o.all) {
      jobs::JobFilter f;
      f.dead_letter = true;
      f.limit = 1'000'000;
      auto list = co_await broker->list(background(), f);
      if (!list) fail("dead", list.error(), *broker);
      for (const Job& j : *list)
        ids.push_back(j.id);
    }
    int code = 0;
    json out = json::array();
    for (long long id : ids) {
      auto r = co_await broker->requeue(background(), id);
      std::string result = "requeued";
      if (!r) {
        code = 1;
        if (r.error() == jobs::errc::not_found)
          result = "no such job";
        else if (r.error() == jobs::errc::invalid_state)
          result = "not in the dead-letter set (or its unique key is held by a live job)";
        else
          fail("requeue", r.error(), *broker);
      }
      if (o.json)
        out.push_back(json{{"id", id}, {"ok", static_cast<bool>(r)}, {"message", result}});
      else
        std::printf("job %lld: %s\n", id, result.c_str());
    }
    if (o.json) print_json(out);
    co_return code;
  });
}

int nodes(const JobsOptions& o) {
  return with_broker(o, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    auto list = co_await broker->nodes(background());
    if (!list) fail("nodes", list.error(), *broker);
    if (o.json) {
      json out = json::array();
      for (const auto& n : *list)
        out.push_back(jobs::to_json(n));
      print_json(out);
      co_return 0;
    }
    std::printf("%-32s %-6s %8s %7s %-23s %s\n", "NODE", "STATE", "ACTIVE", "PID", "HEARTBEAT",
                "TYPES / TAGS");
    for (const auto& n : *list)
      std::printf("%-32s %-6s %4d/%-3d %7lld %-23s %s %s\n", clip(n.id, 32).c_str(),
                  std::string(jobs::to_string(n.state)).c_str(), n.active, n.capacity,
                  static_cast<long long>(n.pid), format_time(n.heartbeat_at).c_str(),
                  json(n.types).dump().c_str(), n.tags.empty() ? "" : json(n.tags).dump().c_str());
    if (list->empty()) std::printf("(no nodes)\n");
    co_return 0;
  });
}

int queues(const JobsOptions& o) {
  return with_broker(o, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    auto list = co_await broker->queues(background());
    if (!list) fail("queues", list.error(), *broker);
    if (o.json) {
      json out = json::array();
      for (const auto& q : *list)
        out.push_back(jobs::to_json(q));
      print_json(out);
      co_return 0;
    }
    for (const auto& q : *list)
      std::printf("%-16s %s\n", q.queue.c_str(), summary(q.counts).c_str());
    if (list->empty()) std::printf("(no jobs)\n");
    co_return 0;
  });
}

void add_broker_options(CLI::App* cmd, JobsOptions& o) {
  cmd->add_option("--db", o.db, "SQLite database file of the embedded broker")
      ->capture_default_str();
  cmd->add_option("--broker", o.broker,
                  "broker: sqlite:PATH, redis://[user:password@]host:port/db or "
                  "redis-cluster://host:port; overrides --db");
  cmd->add_flag("--json", o.json, "print JSON instead of a table");
}

void add_node_options(CLI::App* cmd, JobsOptions& o) {
  cmd->add_option("--concurrency,-c", o.concurrency, "jobs run at once per node")
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
  cmd->add_option("--node-timeout", o.node_timeout,
                  "a node without heartbeats for this long is dead (serve, worker --pull)")
      ->capture_default_str();
  cmd->add_option("--duration", o.duration, "stop after this long (default: until SIGINT/SIGTERM)");
  cmd->add_flag("--quiet,-q", o.quiet, "no progress lines");
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
  serve_cmd->add_option("--http-port", o.http_port, "port of the JSON API on 127.0.0.1 (0: none)")
      ->capture_default_str();
  serve_cmd->add_option("--periodic", o.periodic,
                        "periodic job NAME=SCHEDULE=TYPE[=PAYLOAD], SCHEDULE \"@every 30s\" or 5 "
                        "cron fields (repeatable)");
  cmds.push_back(serve_cmd);

  auto* worker_cmd = app.add_subcommand("worker", "run a worker node process on the broker");
  add_broker_options(worker_cmd, o);
  add_node_options(worker_cmd, o);
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
  submit_cmd->add_option("--trace-id", o.trace_id, "trace id carried by the job");
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
  jobs_cmd->add_option("--limit", o.limit, "at most this many")->capture_default_str();
  cmds.push_back(jobs_cmd);

  auto* nodes_cmd = app.add_subcommand("nodes", "list worker nodes, their load and heartbeats");
  add_broker_options(nodes_cmd, o);
  cmds.push_back(nodes_cmd);

  auto* queues_cmd = app.add_subcommand("queues", "count jobs per queue and state");
  add_broker_options(queues_cmd, o);
  cmds.push_back(queues_cmd);

  auto* dead_cmd = app.add_subcommand(
      "dead", "list the dead-letter set (failed and dead jobs), or requeue from it");
  add_broker_options(dead_cmd, o);
  dead_cmd->add_option("--requeue", o.ids, "requeue these job ids");
  dead_cmd->add_flag("--all", o.all, "requeue every job in the dead-letter set");
  dead_cmd->add_option("--limit", o.limit, "list at most this many")->capture_default_str();
  cmds.push_back(dead_cmd);
  return cmds;
}

int run_jobs_command(const std::string& name, const JobsOptions& o) {
  try {
    if (name == "serve") return serve(o);
    if (name == "worker") return worker(o);
    if (name == "submit") return submit(o);
    if (name == "status") return status(o);
    if (name == "cancel") return cancel(o);
    if (name == "jobs") return list_jobs(o, false);
    if (name == "nodes") return nodes(o);
    if (name == "queues") return queues(o);
    if (name == "dead") return dead(o);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "orca %s: %s\n", name.c_str(), e.what());
    return 2;
  }
  throw std::logic_error("unknown job command " + name);
}

}  // namespace orca::cli
