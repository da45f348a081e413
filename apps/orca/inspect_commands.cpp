// status, cancel, jobs, dead, nodes and queues (inspect_commands.hpp): each opens the
// broker, runs one task, and prints a human table or, with --json, JSON.
#include "inspect_commands.hpp"

#include <cstdio>
#include <string>
#include <vector>

#include "broker_and_output.hpp"
#include "orca/jobs/jobs.hpp"
#include "orca/orca.hpp"

namespace orca::cli::detail {

using jobs::Job;
using jobs::JobState;
using nlohmann::json;

int status(const JobsOptions& o) {
  if (o.ids.empty()) throw UsageError("status: give at least one job ID");
  return with_broker(o, Command::kOneShot, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    Context ctx = background();
    json out = json::array();
    int code = 0;
    for (long long id : o.ids) {
      auto job = co_await broker->get(ctx, id);
      if (!job) {
        if (job.error() != jobs::errc::not_found) fail("status", job.error());
        std::fprintf(stderr, "orca: no job %lld\n", id);
        code = 1;
        continue;
      }
      auto trail = co_await broker->audit(ctx, id);
      if (!trail) fail("status", trail.error());
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
      if (!j.spec.trace_id.empty()) std::printf("  trace %s\n", j.spec.trace_id.c_str());
      std::printf("  created %s, ready %s\n", format_time(j.created_at).c_str(),
                  format_time(j.ready_at).c_str());
      std::printf("  payload (%zu bytes): %s\n", j.spec.payload.size(),
                  clip(j.spec.payload, 80).c_str());
      std::printf("  audit:\n");
      for (const auto& e : *trail)
        std::printf("    %s  %-9s -> %-9s attempt %d%s%s%s%s%s%s\n", format_time(e.at).c_str(),
                    e.from ? std::string(jobs::to_string(*e.from)).c_str() : "(new)",
                    std::string(jobs::to_string(e.to)).c_str(), e.attempt,
                    e.node.empty() ? "" : "  node ", e.node.c_str(), e.error.empty() ? "" : "  ",
                    e.error.c_str(), e.actor.empty() ? "" : "  by ", e.actor.c_str());
    }
    if (o.json) print_json(out);  // always an array, one element per job found
    co_return code;
  });
}

int cancel(const JobsOptions& o) {
  if (o.ids.empty()) throw UsageError("cancel: give at least one job ID");
  return with_broker(o, Command::kOneShot, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    int code = 0;
    json out = json::array();
    for (long long id : o.ids) {
      auto r = co_await broker->cancel(cli_context(), id);
      std::string result;
      json state = nullptr;  // the job's state after the call: the real one, always
      if (r) {
        state = std::string(jobs::to_string(*r));
        // Redis pushes the request to the nodes; the embedded broker's nodes read it at
        // their next heartbeat (or at once when they run in the center's process).
        const bool pushed = o.broker.rfind("redis", 0) == 0;  // redis[s][-cluster]://
        result = *r != JobState::kRunning ? "cancelled"
                 : pushed ? "cancel requested (running; pushed to its node, which stops it now)"
                          : "cancel requested (running; its node stops it at its next heartbeat)";
      } else if (r.error() == jobs::errc::not_found) {
        result = "no such job";
        code = 1;
      } else if (r.error() == jobs::errc::invalid_state) {
        auto job = co_await broker->get(background(), id);
        if (!job) fail("cancel", job.error());
        state = std::string(jobs::to_string(job->state));
        result = "already finished (" + state.get<std::string>() + ")";
        code = 1;
      } else {
        fail("cancel", r.error());
      }
      if (o.json)
        out.push_back(
            json{{"id", id}, {"ok", static_cast<bool>(r)}, {"state", state}, {"message", result}});
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
  f.trace_id = o.trace_id;
  f.error = o.error_text;
  f.limit = static_cast<std::size_t>(o.limit);
  f.dead_letter = dead_letter;
  return with_broker(o, Command::kOneShot, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    auto list = co_await broker->list(background(), f);
    if (!list) fail("jobs", list.error());
    if (o.json) {
      print_json_array(*list);
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
  return with_broker(o, Command::kOneShot, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    std::vector<long long> ids = o.ids;
    if (o.all) {
      jobs::JobFilter f;
      f.dead_letter = true;
      f.limit = 1'000'000;
      auto list = co_await broker->list(background(), f);
      if (!list) fail("dead", list.error());
      for (const Job& j : *list)
        ids.push_back(j.id);
    }
    int code = 0;
    json out = json::array();
    for (long long id : ids) {
      auto r = co_await broker->requeue(cli_context(), id);
      std::string result = "requeued";
      if (!r) {
        code = 1;
        if (r.error() == jobs::errc::not_found)
          result = "no such job";
        else if (r.error() == jobs::errc::invalid_state)
          result = "not in the dead-letter set (or its unique key is held by a live job)";
        else
          fail("requeue", r.error());
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
  return with_broker(o, Command::kOneShot, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    auto list = co_await broker->nodes(background());
    if (!list) fail("nodes", list.error());
    if (o.json) {
      print_json_array(*list);
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
  return with_broker(o, Command::kOneShot, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    auto list = co_await broker->queues(background());
    if (!list) fail("queues", list.error());
    auto nodes = co_await broker->nodes(background());
    if (!nodes) fail("queues", nodes.error());
    const std::vector<jobs::QueueStatus> status = jobs::queue_status(*list, *nodes);
    if (o.json) {
      print_json_array(status);
      co_return 0;
    }
    // The counts, then what holds jobs back now, as the live nodes' registrations say.
    for (const jobs::QueueStatus& q : status) {
      std::string held;
      if (!q.rates.empty()) {
        held.append("  limit ");
        for (std::size_t i = 0; i < q.rates.size(); ++i)
          held.append(i == 0 ? "" : " | ").append(q.rates[i]);
        if (q.fleet)
          held.append(" fleet-wide");
        else
          held.append(" per node (").append(std::to_string(q.limiting_nodes)).append(" nodes)");
        if (q.throttled())
          held.append(", throttled now (")
              .append(std::to_string(q.throttled_nodes))
              .append(" of ")
              .append(std::to_string(q.limiting_nodes))
              .append(" nodes)");
      }
      if (q.stats.paused) {
        held.append("  PAUSED");
        if (!q.stats.paused_by.empty()) held.append(" by ").append(q.stats.paused_by);
        if (q.stats.paused_at) held.append(" at ").append(format_time(*q.stats.paused_at));
      }
      if (!q.breaker_held_types.empty()) {
        held.append("  breaker open for");
        for (const std::string& type : q.breaker_held_types)
          held.append(" ").append(type);
      }
      std::printf("%-16s %s%s\n", q.stats.queue.c_str(), summary(q.stats.counts).c_str(),
                  held.c_str());
    }
    if (status.empty()) std::printf("(no jobs)\n");
    co_return 0;
  });
}

int set_paused(const JobsOptions& o, bool paused) {
  if (std::string why = jobs::check_queue_name(o.queue); !why.empty()) throw UsageError(why);
  return with_broker(o, Command::kOneShot, [&](jobs::Broker& broker_ref) -> Task<int> {
    jobs::Broker* broker = &broker_ref;
    auto r = co_await broker->set_queue_paused(cli_context(), o.queue, paused);
    if (!r) fail(paused ? "pause" : "resume", r.error());
    if (o.json)
      print_json(json{{"queue", o.queue}, {"paused", paused}});
    else
      std::printf("queue %s: %s\n", o.queue.c_str(),
                  paused ? "paused (no node takes its jobs until `orca resume`)" : "resumed");
    co_return 0;
  });
}

}  // namespace orca::cli::detail
