// RedisBroker's reads: get, list, audit, queues, nodes, the center's peek and the
// periodic entries. None changes the store.
#include "redis_broker_impl.hpp"

namespace orca::jobs {

// --- queries ---------------------------------------------------------------------------

Task<Result<Job>> RedisBroker::get(Context ctx, JobId id) {
  Impl& m = *impl_;
  auto queue = co_await m.queue_of(ctx, id);
  if (!queue) co_return queue.error();
  auto jobs = co_await m.load_jobs(ctx, *queue, strs(num(id)));
  if (!jobs) co_return jobs.error();
  if (jobs->empty()) co_return make_error_code(errc::not_found);
  co_return std::move(jobs->front());
}

Task<Result<std::vector<Job>>> RedisBroker::list(Context ctx, JobFilter f) {
  Impl& m = *impl_;
  auto queues = co_await m.all_queues(ctx);
  if (!queues) co_return queues.error();
  std::vector<Job> out;
  for (const std::string& queue : *queues) {
    if (!f.queue.empty() && queue != f.queue) continue;
    const std::string k = m.qkey(queue);
    // Newest first, a page at a time, until this queue has given `limit` matches.
    std::string below = f.before_id > 0 ? "(" + num(f.before_id) : "+inf";
    std::size_t matched = 0;
    for (;;) {
      auto ids = co_await m.command(
          ctx, k, strs("ZREVRANGEBYSCORE", k + "all", below, "-inf", "LIMIT", "0", num(kScan)),
          "list");
      if (!ids) co_return ids.error();
      if (ids->size() == 0) break;
      Strings page;
      for (const Reply& id : ids->elements())
        page.push_back(id.str());
      below = "(" + page.back();
      auto jobs = co_await m.load_jobs(ctx, queue, page);
      if (!jobs) co_return jobs.error();
      for (Job& j : *jobs) {
        if (f.state && j.state != *f.state) continue;
        if (!f.type.empty() && j.spec.type != f.type) continue;
        if (!f.node.empty() && j.node != f.node) continue;
        if (!f.trace_id.empty() && j.spec.trace_id != f.trace_id) continue;
        if (!f.error.empty() && j.last_error.find(f.error) == std::string::npos) continue;
        if (f.dead_letter && j.state != JobState::kFailed && j.state != JobState::kDead) continue;
        out.push_back(std::move(j));
        ++matched;
      }
      if (matched >= f.limit || page.size() < kScan) break;
    }
  }
  std::sort(out.begin(), out.end(), [](const Job& a, const Job& b) { return a.id > b.id; });
  if (out.size() > f.limit) out.resize(f.limit);
  co_return out;
}

Task<Result<std::vector<AuditEntry>>> RedisBroker::audit(Context ctx, JobId id) {
  Impl& m = *impl_;
  auto queue = co_await m.queue_of(ctx, id);
  if (!queue) co_return queue.error();
  const std::string k = m.qkey(*queue);
  auto r = co_await m.command(ctx, k, strs("GET", k + "audit:" + num(id)), "audit");
  if (!r) co_return r.error();
  std::vector<AuditEntry> out;
  if (r->is_nil()) {
    // No trail: the job is unknown, or its rows were trimmed (the audit cap).
    auto exists = co_await m.command(ctx, k, strs("EXISTS", k + "job:" + num(id)), "audit");
    if (!exists) co_return exists.error();
    if (exists->integer() == 0) co_return make_error_code(errc::not_found);
    co_return out;
  }
  try {
    std::size_t start = 0;
    const std::string& text = r->str();
    while (start < text.size()) {
      const std::size_t end = text.find('\n', start);
      const json row = json::parse(text.substr(start, end - start));
      start = end == std::string::npos ? text.size() : end + 1;
      AuditEntry e;
      e.seq = static_cast<std::int64_t>(out.size());
      e.job = id;
      if (row.at(0).get<int>() >= 0) e.from = static_cast<JobState>(row.at(0).get<int>());
      e.to = static_cast<JobState>(row.at(1).get<int>());
      e.node = row.at(2).get<std::string>();
      e.attempt = row.at(3).get<int>();
      e.at = from_unix_ms(row.at(4).get<std::int64_t>());
      e.error = row.at(5).get<std::string>();
      if (row.size() > 6) e.actor = row.at(6).get<std::string>();  // older rows have none
      out.push_back(std::move(e));
    }
  } catch (const std::exception& e) {
    co_return m.fail("audit of job " + num(id) + ": " + e.what());
  }
  co_return out;
}

Task<Result<std::vector<QueueStats>>> RedisBroker::queues(Context ctx) {
  Impl& m = *impl_;
  auto queues = co_await m.all_queues(ctx);
  if (!queues) co_return queues.error();
  std::vector<QueueStats> out;
  for (const std::string& queue : *queues) {
    const std::string k = m.qkey(queue);
    // Named first: GCC 12 miscompiles an initializer list built in a co_await operand.
    std::vector<Strings> reads{strs("HGETALL", k + "counts"), strs("SMEMBERS", k + "types"),
                               strs("GET", k + "paused")};
    auto r = co_await m.batch(ctx, k, std::move(reads), "queue counts");
    if (!r) co_return r.error();
    const Reply& counts = (*r)[0];
    QueueStats q{queue, {}, {}, {}, {}, {}};
    if (!(*r)[2].is_nil()) {
      q.paused = true;
      const json paused = json::parse((*r)[2].str(), nullptr, false);  // written by pause
      if (paused.is_object()) {
        q.paused_by = paused.value("by", std::string());
        if (paused.contains("at") && paused["at"].is_number_integer())
          q.paused_at = from_unix_ms(paused["at"].get<std::int64_t>());
      }
    }
    for (std::size_t i = 0; i + 1 < counts.size(); i += 2) {
      const std::string& field = counts[i].str();
      std::string what("queue ");
      what.append(queue).append(": count ").append(field);
      ORCA_CO_TRY(n, parse_i64(counts[i + 1].str(), what));
      if (field == "audit" || n == 0) continue;  // the audit row count, not a state
      ORCA_CO_TRY(state, parse_i64(field, what));
      q.counts[static_cast<JobState>(state)] = n;
    }
    // The oldest pending job: a pending zset orders a priority's members by due time
    // ("<ready ms, 15 digits>:<id>"), so the first member of each distinct score is that
    // priority's oldest. Each round asks every type's zset for its first member past
    // the score seen last: one O(log n) seek per type and distinct priority.
    if (q.counts.contains(JobState::kPending)) {
      Strings types;
      for (const Reply& t : (*r)[1].elements())
        types.push_back(t.str());
      std::vector<std::string> after(types.size(), "-inf");
      std::optional<std::int64_t> oldest;
      while (!types.empty()) {
        std::vector<Strings> cmds;
        for (std::size_t t = 0; t < types.size(); ++t)
          cmds.push_back(strs("ZRANGEBYSCORE", k + "pending:" + types[t], after[t], "+inf",
                              "WITHSCORES", "LIMIT", "0", "1"));
        auto firsts = co_await m.batch(ctx, k, std::move(cmds), "oldest pending jobs");
        if (!firsts) co_return firsts.error();
        Strings next_types;
        std::vector<std::string> next_after;
        for (std::size_t t = 0; t < types.size(); ++t) {
          const Reply& z = (*firsts)[t];
          if (z.size() < 2) continue;  // no further priority in this type
          std::string what("queue ");
          what.append(queue).append(": pending member ").append(z[0].str());
          ORCA_CO_TRY(ready, parse_i64(z[0].str().substr(0, z[0].str().find(':')), what));
          if (!oldest || ready < *oldest) oldest = ready;
          next_types.push_back(std::move(types[t]));
          next_after.push_back("(" + z[1].str());
        }
        types = std::move(next_types);
        after = std::move(next_after);
      }
      if (oldest) q.oldest_pending_due = from_unix_ms(*oldest);
    }
    out.push_back(std::move(q));
  }
  co_return out;
}

Task<Result<std::vector<NodeInfo>>> RedisBroker::nodes(Context ctx) {
  Impl& m = *impl_;
  auto r = co_await m.command(ctx, m.meta + "nodes", strs("HGETALL", m.meta + "nodes"), "nodes");
  if (!r) co_return r.error();
  std::vector<NodeInfo> out;
  try {
    for (std::size_t i = 0; i + 1 < r->size(); i += 2) {
      const json n = json::parse((*r)[i + 1].str());
      NodeInfo info;
      info.id = n.at("id").get<std::string>();
      // cjson writes an empty table as {}: a node may have no tags.
      if (n.at("types").is_array()) info.types = n.at("types").get<Strings>();
      if (n.at("tags").is_array()) info.tags = n.at("tags").get<Strings>();
      info.capacity = n.at("capacity").get<int>();
      info.load = n.at("load").get<int>();
      info.state = static_cast<NodeState>(n.at("state").get<int>());
      info.pid = n.at("pid").get<std::int64_t>();
      info.started_at = from_unix_ms(n.at("started").get<std::int64_t>());
      info.heartbeat_at = from_unix_ms(n.at("heartbeat").get<std::int64_t>());
      out.push_back(std::move(info));
    }
  } catch (const std::exception& e) {
    co_return m.fail(std::string("nodes: ") + e.what());
  }
  std::sort(out.begin(), out.end(),
            [](const NodeInfo& a, const NodeInfo& b) { return a.id < b.id; });
  // Jobs leased or running on each node, from every queue's node sets.
  auto queues = co_await m.all_queues(ctx, std::chrono::seconds(1));
  if (!queues) co_return queues.error();
  for (const std::string& queue : *queues) {
    const std::string k = m.qkey(queue);
    std::vector<Strings> cmds;
    for (const NodeInfo& n : out)
      cmds.push_back(strs("SCARD", k + "node:" + n.id));
    auto counts = co_await m.batch(ctx, k, std::move(cmds), "node loads");
    if (!counts) co_return counts.error();
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i].active += static_cast<int>((*counts)[i].integer());
  }
  co_return out;
}

// --- the center ------------------------------------------------------------------------

Task<Result<std::vector<Job>>> RedisBroker::peek_pending(Context ctx, PeekRequest req) {
  Impl& m = *impl_;
  if (req.limit == 0 || req.types.empty()) co_return std::vector<Job>{};
  auto queues = co_await m.all_queues(ctx, std::chrono::seconds(1));
  if (!queues) co_return queues.error();
  std::map<std::string, std::vector<Candidate>> by_queue;
  for (const std::string& queue : *queues) {
    auto c = co_await m.pending(ctx, queue, req.types, req.limit);
    if (!c) co_return c.error();
    if (!c->empty()) by_queue[queue] = std::move(*c);
  }
  auto picked = m.pick(std::move(by_queue), req.limit, req.weights);
  std::map<std::string, Strings> ids;
  for (const auto& [queue, c] : picked)
    ids[queue].push_back(c.id);
  std::vector<Job> out;
  for (auto& [queue, list] : ids) {
    auto jobs = co_await m.load_jobs(ctx, queue, list, true);
    if (!jobs) co_return jobs.error();
    for (Job& j : *jobs)
      if (j.state == JobState::kPending) out.push_back(std::move(j));
  }
  co_return out;
}

Task<Result<std::vector<PeriodicEntry>>> RedisBroker::periodic(Context ctx) {
  Impl& m = *impl_;
  auto r = co_await m.command(ctx, m.meta + "periodic", strs("HGETALL", m.meta + "periodic"),
                              "periodic");
  if (!r) co_return r.error();
  std::vector<PeriodicEntry> out;
  try {
    for (std::size_t i = 0; i + 1 < r->size(); i += 2) {
      const json j = json::parse((*r)[i + 1].str());
      PeriodicEntry e;
      e.name = (*r)[i].str();
      e.schedule = j.at("schedule").get<std::string>();
      Result<JobSpec> spec = job_spec_from_json(j.at("spec"));
      if (!spec)
        throw std::runtime_error(
            std::string("periodic ").append(e.name).append(": ").append(spec.error().detail()));
      e.spec = std::move(*spec);
      e.next_run = from_unix_ms(j.at("next").get<std::int64_t>());
      out.push_back(std::move(e));
    }
  } catch (const std::exception& e) {
    co_return m.fail(e.what());
  }
  std::sort(out.begin(), out.end(),
            [](const PeriodicEntry& a, const PeriodicEntry& b) { return a.name < b.name; });
  co_return out;
}

}  // namespace orca::jobs
