// `orca submit` (submit_command.hpp): the job spec built from the options, enqueued in
// batches of 1000, then with --wait polled until every job has finished.
#include "submit_command.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "broker_and_output.hpp"
#include "orca/jobs/jobs.hpp"
#include "orca/orca.hpp"
#include "orca/trace/span_context.hpp"

namespace orca::cli::detail {

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

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

}  // namespace

int submit(const JobsOptions& o) {
  const jobs::JobSpec s = spec_from_options(o);
  if (o.count < 1) throw UsageError("--count must be at least 1");
  return with_broker(o, Command::kOneShot, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    Context ctx = cli_context();
    // TRACEPARENT in the environment (the OpenTelemetry convention for processes): the
    // jobs join that trace as children of its span, unless --trace-id names another.
    if (const char* tp = std::getenv("TRACEPARENT"); tp != nullptr && s.trace_id.empty()) {
      if (auto sc = trace::parse_traceparent(tp)) ctx = trace::with_span_context(ctx, *sc);
    }
    std::vector<jobs::EnqueueResult> added;
    // Batches of 1000: one transaction each, and a progress line for long runs.
    const int batch = 1000;
    for (int done = 0; done < o.count;) {
      const int n = std::min(batch, o.count - done);
      std::vector<jobs::JobSpec> specs(static_cast<std::size_t>(n), s);
      auto r = co_await broker->enqueue(ctx, std::move(specs));
      if (!r) fail("submit", r.error());
      added.insert(added.end(), r->begin(), r->end());
      done += n;
      if (o.count > batch && !o.quiet) std::fprintf(stderr, "submitted %d/%d\n", done, o.count);
    }
    // Accepted whatever the type (producers may be deployed before their workers), but
    // said when no live node handles it.
    auto handled = [&]() -> Task<bool> {
      auto nodes = co_await broker->nodes(ctx);
      if (!nodes) fail("submit", nodes.error());
      co_return jobs::live_types(*nodes).count(s.type) > 0;
    };
    const std::string no_node =
        "no live node handles type \"" + s.type + "\" yet: the job waits until one registers";
    const bool handled_now = co_await handled();
    if (!handled_now) std::fprintf(stderr, "orca submit: %s\n", no_node.c_str());
    if (o.wait) {
      // Poll until every submitted job has finished; print what became of them. With
      // no live node for the type for kNoNodeWait (time for workers being started
      // with it to register), report that instead of waiting in silence.
      constexpr auto kNoNodeWait = 5s;
      auto last_handled = Clock::now();
      for (;;) {
        std::size_t live = 0;
        for (const auto& a : added) {
          auto j = co_await broker->get(ctx, a.id);
          if (j && jobs::is_live(j->state)) ++live;
        }
        if (live == 0) break;
        const bool handled_still = co_await handled();  // named: GCC 12, ARCHITECTURE.md
        if (handled_still) {
          last_handled = Clock::now();
        } else if (Clock::now() - last_handled >= kNoNodeWait) {
          std::fprintf(stderr, "orca submit: %zu job(s) not finished and %s\n", live,
                       no_node.c_str());
          co_return 1;
        }
        if (!o.quiet)
          std::fprintf(stderr, "waiting: %zu of %zu job(s) not finished\n", live, added.size());
        (void)co_await sleep_for(o.count > 1 ? 1s : 200ms);
      }
    }
    json out = json::array();
    for (const auto& a : added) {
      json item{{"id", a.id}, {"duplicate", a.duplicate}};
      if (!handled_now) item["warning"] = no_node;
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

}  // namespace orca::cli::detail
