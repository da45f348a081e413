// RedisBroker's maintenance, the leader's duties: promoting due jobs, reaping dead
// nodes and expired leases, trimming finished jobs. Each pass reads its candidates
// first and the scripts re-check them (the contract's skipped items).
#include "redis_broker_impl.hpp"

namespace orca::jobs {

Task<Result<std::size_t>> RedisBroker::promote_due(Context ctx) {
  Impl& m = *impl_;
  auto queues = co_await m.all_queues(ctx, std::chrono::seconds(1));
  if (!queues) co_return queues.error();
  // Due by the server's clock, which the script checks them against again.
  auto now = co_await m.server_now_ms(ctx);
  if (!now) co_return now.error();
  const std::int64_t horizon = *now;
  std::size_t moved = 0;
  for (const std::string& queue : *queues) {
    const std::string k = m.qkey(queue);
    for (;;) {
      auto due = co_await m.command(
          ctx, k,
          strs("ZRANGEBYSCORE", k + "delayed", "-inf", num(horizon), "LIMIT", "0", num(kScan)),
          "due jobs");
      if (!due) co_return due.error();
      if (due->size() == 0) break;
      Strings ids;
      for (const Reply& id : due->elements())
        ids.push_back(id.str());
      auto types = co_await m.fields(ctx, queue, ids, strs("type"));
      if (!types) co_return types.error();
      Strings keys{k + "counts", k + "delayed"};
      Strings args{"0"};
      std::int64_t n = 0;
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if ((*types)[i][0].empty()) continue;
        keys.insert(keys.end(),
                    {k + "job:" + ids[i], k + "audit:" + ids[i], k + "pending:" + (*types)[i][0]});
        args.push_back(ids[i]);
        ++n;
      }
      args[0] = num(n);
      auto r = co_await m.eval(ctx, scripts().promote, std::move(keys), std::move(args), "promote");
      if (!r) co_return r.error();
      moved += static_cast<std::size_t>(r->integer());
      // A full page all due: there may be more.
      if (r->integer() < static_cast<long long>(kScan)) break;
    }
  }
  co_return moved;
}

Task<Result<std::size_t>> RedisBroker::reap(Context ctx, milliseconds node_timeout) {
  Impl& m = *impl_;
  // Leases are judged by the server's clock, here as in the script.
  auto server_now = co_await m.server_now_ms(ctx);
  if (!server_now) co_return server_now.error();
  const std::int64_t now = *server_now;
  // Nodes declared dead, now or by an earlier pass that failed before it had
  // reclaimed all their jobs: they stay in the dying set until a pass has.
  auto dead = co_await m.eval(ctx, scripts().reap_nodes, strs(m.meta + "nodes", m.meta + "dying"),
                              strs(num(node_timeout.count()), "-1"), "reap nodes");
  if (!dead) co_return dead.error();
  Strings gone;
  for (const Reply& r : dead->elements()) {
    if (r.str().empty()) break;
    gone.push_back(r.str());
  }
  auto queues = co_await m.all_queues(ctx, std::chrono::seconds(1));
  if (!queues) co_return queues.error();
  std::size_t moved = 0;
  for (const std::string& queue : *queues) {
    const std::string k = m.qkey(queue);
    // Jobs of dead nodes, at once.
    for (const std::string& node : gone) {
      auto held = co_await m.held_by(ctx, queue, node);
      if (!held) co_return held.error();
      auto r = co_await m.reclaim(ctx, queue, std::move(*held), false, "node " + node + " is gone");
      if (!r) co_return r.error();
      moved += *r;
    }
    // Expired leases (of any node), earliest first.
    auto active = co_await m.command(ctx, k, strs("ZRANGE", k + "active", "0", num(kScan - 1)),
                                     "active jobs");
    if (!active) co_return active.error();
    Strings ids;
    for (const Reply& id : active->elements())
      ids.push_back(id.str());
    auto f = co_await m.fields(ctx, queue, ids, strs("type", "node", "lease"));
    if (!f) co_return f.error();
    std::vector<Candidate> expired;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      // A filter on the server's time at the pass's start; the script decides on its
      // own reading, later still.
      if ((*f)[i][0].empty()) continue;
      // A lease that does not read as a number is passed over, not fatal to the pass
      // (the other queues' and jobs' reaping goes on); the job is still reclaimed
      // when its node is declared gone.
      auto lease = parse_i64((*f)[i][2], "lease");
      if (!lease || *lease >= now) continue;
      Candidate c;
      c.id = ids[i];
      c.type = (*f)[i][0];
      c.node = (*f)[i][1];
      expired.push_back(std::move(c));
    }
    auto r = co_await m.reclaim(ctx, queue, std::move(expired), true, "");
    if (!r) co_return r.error();
    moved += *r;
  }
  if (!gone.empty()) {
    Strings done{"SREM", m.meta + "dying"};
    done.insert(done.end(), gone.begin(), gone.end());
    auto r = co_await m.command(ctx, m.meta + "dying", std::move(done), "dead nodes reclaimed");
    if (!r) co_return r.error();
  }
  co_return moved;
}

Task<Result<TrimReport>> RedisBroker::trim(Context ctx, Retention retention) {
  Impl& m = *impl_;
  TrimReport rep;
  auto swept =
      co_await m.eval(ctx, scripts().reap_nodes, strs(m.meta + "nodes", m.meta + "dying"),
                      strs("9223372036854775807", num(retention.max_age.count())), "trim nodes");
  if (!swept) co_return swept.error();
  rep.nodes_deleted = swept->elements().back().integer();
  auto queues = co_await m.all_queues(ctx);
  if (!queues) co_return queues.error();
  // Each class by its own bounds: succeeded and cancelled jobs (finished), failed and
  // dead ones (dead_at).
  const std::int64_t now = to_unix_ms(WallClock::now());
  struct Bounds {
    const char* zset;
    std::int64_t cutoff;
    std::int64_t keep;
  };
  const Bounds classes[] = {
      {"finished", now - retention.max_age.count(), retention.max_finished_jobs},
      {"dead_at", now - retention.dead_max_age.count(), retention.max_dead_jobs}};
  for (const std::string& queue : *queues) {
    const std::string k = m.qkey(queue);
    for (const Bounds& c : classes) {
      const std::string zset = k + c.zset;
      for (;;) {
        // Past the age first, then the oldest beyond the count.
        auto old = co_await m.command(
            ctx, k, strs("ZRANGEBYSCORE", zset, "-inf", num(c.cutoff), "LIMIT", "0", num(kScan)),
            "finished jobs");
        if (!old) co_return old.error();
        Strings ids;
        for (const Reply& id : old->elements())
          ids.push_back(id.str());
        if (ids.empty()) {
          auto card = co_await m.command(ctx, k, strs("ZCARD", zset), "finished jobs");
          if (!card) co_return card.error();
          const std::int64_t over = card->integer() - c.keep;
          if (over > 0) {
            auto oldest = co_await m.command(
                ctx, k,
                strs("ZRANGE", zset, "0",
                     num(std::min<std::int64_t>(over, static_cast<std::int64_t>(kScan)) - 1)),
                "finished jobs");
            if (!oldest) co_return oldest.error();
            for (const Reply& id : oldest->elements())
              ids.push_back(id.str());
          }
        }
        if (ids.empty()) break;
        Strings keys{k + "counts", k + "finished", k + "dead", k + "all", k + "dead_at"};
        Strings args{num(static_cast<std::int64_t>(ids.size()))};
        for (const std::string& id : ids) {
          keys.push_back(k + "job:" + id);
          keys.push_back(k + "audit:" + id);
          keys.push_back(k + "spec:" + id);
          args.push_back(id);
        }
        auto r = co_await m.eval(ctx, scripts().trim, std::move(keys), std::move(args), "trim");
        if (!r) co_return r.error();
        rep.jobs_deleted += (*r)[0].integer();
        rep.audit_deleted += (*r)[1].integer();
        // Nothing deletable or movable left in the page.
        if ((*r)[0].integer() + (*r)[2].integer() == 0) break;
      }
    }
  }
  // The audit cap covers the live jobs' trails too: the oldest jobs' rows go.
  std::vector<std::pair<std::string, std::int64_t>> rows;
  std::int64_t total = 0;
  for (const std::string& queue : *queues) {
    const std::string k = m.qkey(queue);
    auto n = co_await m.command(ctx, k, strs("HGET", k + "counts", "audit"), "audit rows");
    if (!n) co_return n.error();
    std::int64_t count = 0;  // nil: no audit row yet
    if (!n->is_nil()) {
      std::string what("queue ");
      what.append(queue).append(": the audit row count");
      ORCA_CO_TRY(parsed, parse_i64(n->str(), what));
      count = parsed;
    }
    rows.emplace_back(queue, count);
    total += rows.back().second;
  }
  std::int64_t excess = total - retention.max_audit_entries;
  for (const auto& [queue, count] : rows) {
    if (excess <= 0) break;
    const std::string k = m.qkey(queue);
    std::string after = "-inf";
    while (excess > 0) {
      auto ids = co_await m.command(
          ctx, k, strs("ZRANGEBYSCORE", k + "all", after, "+inf", "LIMIT", "0", num(kScan)),
          "oldest jobs");
      if (!ids) co_return ids.error();
      if (ids->size() == 0) break;
      Strings keys = strs(k + "counts");
      Strings args = strs(num(excess));
      for (const Reply& id : ids->elements()) {
        keys.push_back(k + "job:" + id.str());
        keys.push_back(k + "audit:" + id.str());
      }
      after = "(" + ids->elements().back().str();
      auto r = co_await m.eval(ctx, scripts().trim_audit, std::move(keys), std::move(args),
                               "trim audit");
      if (!r) co_return r.error();
      excess -= r->integer();
      rep.audit_deleted += r->integer();
    }
  }
  co_return rep;
}

}  // namespace orca::jobs
