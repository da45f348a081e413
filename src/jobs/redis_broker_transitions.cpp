// RedisBroker's job and node transitions: each a Lua script (src/jobs/lua/) over one
// queue's keys, applying the rules of the job state machine (state_machine.hpp), which
// the scripts implement apart and tests/jobs/state_machine_cross_test.cpp checks
// against it.
#include "redis_broker_impl.hpp"

namespace orca::jobs {

// --- producers -------------------------------------------------------------------------

Task<Result<std::vector<EnqueueResult>>> RedisBroker::enqueue(Context ctx,
                                                              std::vector<JobSpec> specs) {
  if (auto prepared = prepare_for_enqueue(ctx, specs, options_.limits); !prepared)
    co_return prepared.error();
  if (auto e = ctx.err()) co_return e;
  Impl& m = *impl_;
  // Ids for the whole batch in one step, then one script per queue.
  auto last = co_await m.command(
      ctx, m.meta + "ids",
      strs("INCRBY", m.meta + "ids", num(static_cast<std::int64_t>(specs.size()))), "job ids");
  if (!last) co_return last.error();
  std::int64_t seq = last->integer() - static_cast<std::int64_t>(specs.size());
  std::map<std::string, std::vector<std::size_t>> by_queue;
  for (std::size_t i = 0; i < specs.size(); ++i)
    by_queue[specs[i].queue].push_back(i);
  std::vector<EnqueueResult> out(specs.size());
  for (const auto& [queue, index] : by_queue) {
    auto qn = co_await m.queue_number(ctx, queue);
    if (!qn) co_return qn.error();
    const std::string k = m.qkey(queue);
    Strings keys{k + "unique", k + "counts", k + "all", k + "delayed", k + "types"};
    Strings args{num(static_cast<std::int64_t>(index.size())), std::string(actor_of(ctx))};
    for (std::size_t i : index) {
      const JobSpec& s = specs[i];
      const std::string id = num(((++seq) << kQueueBits) | *qn);
      keys.insert(keys.end(),
                  {k + "job:" + id, k + "audit:" + id, k + "pending:" + s.type, k + "spec:" + id});
      args.insert(args.end(),
                  {id, s.type, num(s.priority), to_json(s).dump(), s.unique_key,
                   s.run_at ? num(to_unix_ms(*s.run_at)) : std::string(), num(s.retry.max_attempts),
                   s.deadline ? num(to_unix_ms(*s.deadline)) : ""});
    }
    auto r = co_await m.eval(ctx, scripts().enqueue, std::move(keys), std::move(args), "enqueue");
    if (!r) co_return r.error();
    for (std::size_t j = 0; j < index.size(); ++j) {
      ORCA_CO_TRY(id, parse_i64((*r)[2 * j].str(), "enqueue: a job id"));
      out[index[j]] = {id, (*r)[2 * j + 1].integer() == 1};
    }
  }
  co_return out;
}

Task<Result<JobState>> RedisBroker::cancel(Context ctx, JobId id) {
  Impl& m = *impl_;
  auto queue = co_await m.queue_of(ctx, id);
  if (!queue) co_return queue.error();
  const std::string k = m.qkey(*queue);
  const std::string sid = num(id);
  // The node may change between the read and the script (-3): read again.
  for (int tries = 0; tries < 16; ++tries) {
    auto f = co_await m.fields(ctx, *queue, strs(sid), strs("type", "node"));
    if (!f) co_return f.error();
    const std::string& type = (*f)[0][0];
    const std::string& node = (*f)[0][1];
    if (type.empty()) co_return make_error_code(errc::not_found);
    auto r =
        co_await m.eval(ctx, scripts().cancel,
                        strs(k + "job:" + sid, k + "audit:" + sid, k + "counts", k + "unique",
                             k + "pending:" + type, k + "delayed", k + "active", k + "node:" + node,
                             k + "finished", k + "cancels", k + "leased:" + node),
                        strs(sid, node, m.cancel_channel(), std::string(actor_of(ctx))), "cancel");
    if (!r) co_return r.error();
    const long long s = r->integer();
    if (s == -1) co_return make_error_code(errc::not_found);
    if (s == -2) co_return make_error_code(errc::invalid_state);
    if (s >= 0) co_return static_cast<JobState>(s);
  }
  co_return m.fail("cancel: job " + sid + " kept changing nodes");
}

Task<Result<void>> RedisBroker::requeue(Context ctx, JobId id) {
  Impl& m = *impl_;
  auto queue = co_await m.queue_of(ctx, id);
  if (!queue) co_return queue.error();
  const std::string k = m.qkey(*queue);
  const std::string sid = num(id);
  auto f = co_await m.fields(ctx, *queue, strs(sid), strs("type"));
  if (!f) co_return f.error();
  if ((*f)[0][0].empty()) co_return make_error_code(errc::not_found);
  auto r = co_await m.requeue_jobs(ctx, *queue, strs(sid), strs((*f)[0][0]), "",
                                   std::string(actor_of(ctx)));
  if (!r) co_return r.error();
  if (r->empty()) co_return m.fail("requeue: unexpected answer from the script");
  if (r->front() == -1) co_return make_error_code(errc::not_found);
  if (r->front() < 0) co_return make_error_code(errc::invalid_state);
  co_return Result<void>{};
}

// --- administration ----------------------------------------------------------------------

// `<q>:paused` holds {"by": actor, "at": ms} while the queue is paused; the claim and
// assign scripts read it (so every process sees it at once), peeks and claims skip
// the queue's candidates. SET NX: pausing a paused queue keeps its first actor.
Task<Result<void>> RedisBroker::set_queue_paused(Context ctx, std::string queue, bool paused) {
  if (std::string why = check_queue_name(queue, options_.limits); !why.empty())
    co_return Error(make_error_code(errc::invalid_job), std::move(why));
  Impl& m = *impl_;
  const std::string k = m.qkey(queue);
  if (paused) {
    auto qn = co_await m.queue_number(ctx, queue);  // listed by queues() from now on
    if (!qn) co_return qn.error();
    const json state{{"by", actor_of(ctx)}, {"at", to_unix_ms(WallClock::now())}};
    auto r = co_await m.command(ctx, k, strs("SET", k + "paused", state.dump(), "NX"), "pause");
    if (!r) co_return r.error();
    co_return Result<void>{};
  }
  // (Resuming a queue never seen is a no-op that leaves it unlisted.)
  auto r = co_await m.command(ctx, k, strs("DEL", k + "paused"), "resume");
  if (!r) co_return r.error();
  if (r->integer() == 0) co_return Result<void>{};
  // Nodes waiting for work claim at once rather than at their next poll.
  auto told = co_await m.command(ctx, k, strs("PUBLISH", m.options.prefix + ":work", queue),
                                 "announce resume");
  if (!told) co_return told.error();
  co_return Result<void>{};
}

Task<Result<void>> RedisBroker::remove(Context ctx, JobId id) {
  Impl& m = *impl_;
  auto queue = co_await m.queue_of(ctx, id);
  if (!queue) co_return queue.error();
  auto r = co_await m.delete_jobs(ctx, *queue, strs(num(id)), "");
  if (!r) co_return r.error();
  if (r->empty()) co_return m.fail("delete: unexpected answer from the script");
  if (r->front() == -1) co_return make_error_code(errc::not_found);
  if (r->front() < 0) co_return make_error_code(errc::invalid_state);
  co_return Result<void>{};
}

// The dead set is walked by id (its score), kBulkBatch per script: a job requeued
// and dead again meanwhile keeps its id, below the walk, so the walk ends.
Task<Result<std::int64_t>> RedisBroker::requeue_dead(Context ctx, std::string queue) {
  if (std::string why = check_queue_name(queue, options_.limits); !why.empty())
    co_return Error(make_error_code(errc::invalid_job), std::move(why));
  Impl& m = *impl_;
  {
    auto queues = co_await m.all_queues(ctx);
    if (!queues) co_return queues.error();
    if (!std::binary_search(queues->begin(), queues->end(), queue)) co_return std::int64_t{0};
  }
  const std::string k = m.qkey(queue);
  const std::string actor(actor_of(ctx));
  std::int64_t total = 0;
  std::string after = "-inf";
  for (;;) {
    auto page = co_await m.command(ctx, k,
                                   strs("ZRANGEBYSCORE", k + "dead", after, "+inf", "LIMIT", "0",
                                        num(static_cast<std::int64_t>(kBulkBatch))),
                                   "dead jobs");
    if (!page) co_return page.error();
    Strings ids;
    for (const Reply& id : page->elements())
      ids.push_back(id.str());
    if (ids.empty()) break;
    after = "(" + ids.back();
    auto f = co_await m.fields(ctx, queue, ids, strs("type", "state"));
    if (!f) co_return f.error();
    Strings dead;
    Strings types;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if ((*f)[i][1] != "8") continue;
      dead.push_back(ids[i]);
      types.push_back((*f)[i][0]);
    }
    if (!dead.empty()) {
      auto r = co_await m.requeue_jobs(ctx, queue, std::move(dead), std::move(types), "8", actor);
      if (!r) co_return r.error();
      total += std::count(r->begin(), r->end(), std::int64_t{0});
    }
    if (ids.size() < kBulkBatch) break;
  }
  co_return total;
}

// Each set (finished: succeeded and cancelled; dead: failed and dead) is walked by
// rank, kBulkBatch per script, skipping what stays (other states), up to as many
// members as it had when the walk began: jobs that finish meanwhile cannot keep it
// going. A member that a trim removes meanwhile may shift a job past the walk.
Task<Result<std::int64_t>> RedisBroker::delete_finished(Context ctx, std::string queue,
                                                        std::optional<JobState> state) {
  if (std::string why = check_delete_finished(queue, state, options_.limits); !why.empty())
    co_return Error(make_error_code(errc::invalid_job), std::move(why));
  Impl& m = *impl_;
  {
    auto queues = co_await m.all_queues(ctx);
    if (!queues) co_return queues.error();
    if (!std::binary_search(queues->begin(), queues->end(), queue)) co_return std::int64_t{0};
  }
  const std::string k = m.qkey(queue);
  const std::string only = state ? num(static_cast<int>(*state)) : std::string();
  Strings sets;
  if (!state || *state == JobState::kSucceeded || *state == JobState::kCancelled)
    sets.push_back(k + "finished");
  if (!state || *state == JobState::kFailed || *state == JobState::kDead)
    sets.push_back(k + "dead");
  std::int64_t total = 0;
  for (const std::string& set : sets) {
    auto size = co_await m.command(ctx, k, strs("ZCARD", set), "finished jobs");
    if (!size) co_return size.error();
    std::int64_t left = size->integer();
    std::int64_t kept = 0;  // rank of the first member not yet looked at
    while (left > 0) {
      const std::int64_t n = std::min<std::int64_t>(left, static_cast<std::int64_t>(kBulkBatch));
      auto page = co_await m.command(ctx, k, strs("ZRANGE", set, num(kept), num(kept + n - 1)),
                                     "finished jobs");
      if (!page) co_return page.error();
      Strings ids;
      for (const Reply& id : page->elements())
        ids.push_back(id.str());
      if (ids.empty()) break;
      left -= static_cast<std::int64_t>(ids.size());
      auto r = co_await m.delete_jobs(ctx, queue, std::move(ids), only);
      if (!r) co_return r.error();
      for (std::int64_t code : *r) {
        if (code >= 0)
          ++total;
        else
          ++kept;
      }
    }
  }
  co_return total;
}

Task<Result<std::vector<JobId>>> RedisBroker::assign(Context ctx,
                                                     std::vector<Assignment> assignments,
                                                     milliseconds lease) {
  Impl& m = *impl_;
  std::vector<JobId> out;
  if (assignments.empty()) co_return out;
  // Only to nodes still alive (they may have left since the center looked).
  auto listed = co_await nodes(ctx);
  if (!listed) co_return listed.error();
  std::set<std::string> alive;
  for (const NodeInfo& n : *listed)
    if (n.state == NodeState::kAlive) alive.insert(n.id);
  std::map<std::string, std::vector<const Assignment*>> by_queue;
  for (const Assignment& a : assignments) {
    if (alive.count(a.node) == 0) continue;
    auto queue = co_await m.queue_of(ctx, a.id);
    if (!queue) continue;  // no such job: skipped, as any job no longer pending
    by_queue[*queue].push_back(&a);
  }
  for (const auto& [queue, list] : by_queue) {
    const std::string k = m.qkey(queue);
    Strings ids;
    for (const Assignment* a : list)
      ids.push_back(num(a->id));
    auto types = co_await m.fields(ctx, queue, ids, strs("type"));
    if (!types) co_return types.error();
    Strings keys{k + "counts", k + "active", k + "paused"};
    Strings args{num(lease.count()), "0"};
    std::size_t n = 0;
    for (std::size_t i = 0; i < list.size(); ++i) {
      if ((*types)[i][0].empty()) continue;
      const Assignment& a = *list[i];
      keys.insert(keys.end(),
                  {k + "job:" + ids[i], k + "audit:" + ids[i], k + "pending:" + (*types)[i][0],
                   k + "node:" + a.node, k + "leased:" + a.node});
      args.insert(args.end(),
                  {ids[i], num(a.attempt), a.node, a.start ? "1" : "0", num(a.lease.count())});
      ++n;
    }
    args[1] = num(static_cast<std::int64_t>(n));
    auto r = co_await m.eval(ctx, scripts().assign, std::move(keys), std::move(args), "assign");
    if (!r) co_return r.error();
    for (const Reply& id : r->elements()) {
      ORCA_CO_TRY(n, parse_i64(id.str(), "assign: a job id"));
      out.push_back(n);
    }
  }
  co_return out;
}

Task<Result<void>> RedisBroker::put_periodic(Context ctx, PeriodicEntry e) {
  Impl& m = *impl_;
  if (std::string why = check_job_spec(e.spec, options_.limits); !why.empty())
    co_return Error(make_error_code(errc::invalid_job), std::move(why));
  const json entry{
      {"schedule", e.schedule}, {"spec", to_json(e.spec)}, {"next", to_unix_ms(e.next_run)}};
  auto r =
      co_await m.command(ctx, m.meta + "periodic",
                         strs("HSET", m.meta + "periodic", e.name, entry.dump()), "put periodic");
  if (!r) co_return r.error();
  co_return Result<void>{};
}

Task<Result<bool>> RedisBroker::fire_periodic(Context ctx, std::string name,
                                              WallClock::time_point expected,
                                              WallClock::time_point next) {
  Impl& m = *impl_;
  auto entries = co_await periodic(ctx);
  if (!entries) co_return entries.error();
  auto it = std::find_if(entries->begin(), entries->end(),
                         [&](const PeriodicEntry& e) { return e.name == name; });
  if (it == entries->end()) co_return false;
  // The entry (registry slot) and the job (its queue's slot) cannot change in one
  // script on a cluster: the entry moves first, so a crash in between skips a run
  // rather than firing it twice.
  auto r = co_await m.eval(ctx, scripts().fire_periodic, strs(m.meta + "periodic"),
                           strs(name, num(to_unix_ms(expected)), num(to_unix_ms(next))),
                           "fire periodic");
  if (!r) co_return r.error();
  if (r->integer() != 1) co_return false;
  std::vector<JobSpec> one{it->spec};
  auto added = co_await enqueue(ctx, std::move(one));
  if (!added) co_return added.error();
  co_return true;
}

// --- leadership --------------------------------------------------------------------------

Task<Result<std::optional<LeaseGrant>>> RedisBroker::acquire_lease(Context ctx, std::string name,
                                                                   std::string holder,
                                                                   std::chrono::milliseconds ttl) {
  Impl& m = *impl_;
  auto r = co_await m.eval(ctx, scripts().acquire_lease, strs(m.meta + "lease:" + name),
                           strs(std::move(holder), num(ttl.count())), "acquire lease");
  if (!r) co_return r.error();
  if (r->size() < 3) co_return m.fail("acquire lease: unexpected reply");
  if ((*r)[0].integer() != 1) co_return std::optional<LeaseGrant>{};
  ORCA_CO_TRY(token, parse_i64((*r)[1].str(), "acquire lease: the token"));
  ORCA_CO_TRY(until, parse_i64((*r)[2].str(), "acquire lease: the expiry"));
  co_return std::optional<LeaseGrant>{LeaseGrant{token, from_unix_ms(until)}};
}

Task<Result<bool>> RedisBroker::release_lease(Context ctx, std::string name, std::string holder,
                                              std::int64_t token) {
  Impl& m = *impl_;
  auto r = co_await m.eval(ctx, scripts().release_lease, strs(m.meta + "lease:" + name),
                           strs(std::move(holder), num(token)), "release lease");
  if (!r) co_return r.error();
  co_return r->integer() == 1;
}

Task<Result<void>> RedisBroker::register_node(Context ctx, NodeInfo node) {
  Impl& m = *impl_;
  auto r = co_await m.eval(ctx, scripts().register_node, strs(m.meta + "nodes"),
                           strs(node.id, json(node.types).dump(), json(node.tags).dump(),
                                num(node.capacity), num(node.pid)),
                           "register node");
  if (!r) co_return r.error();
  co_return Result<void>{};
}

Task<Result<HeartbeatReply>> RedisBroker::heartbeat(Context ctx, std::string node, int load,
                                                    Leases lease, std::vector<JobId> held) {
  Impl& m = *impl_;
  HeartbeatReply reply;
  auto beat = co_await m.eval(ctx, scripts().beat, strs(m.meta + "nodes"), strs(node, num(load)),
                              "heartbeat");
  if (!beat) co_return beat.error();
  reply.known = beat->integer() == 1;
  if (!reply.known) co_return reply;
  const std::set<JobId> mine(held.begin(), held.end());
  auto queues = co_await m.all_queues(ctx, std::chrono::seconds(1));
  if (!queues) co_return queues.error();
  for (const std::string& queue : *queues) {
    const std::string k = m.qkey(queue);
    auto members = co_await m.command(ctx, k, strs("SMEMBERS", k + "node:" + node), "node jobs");
    if (!members) co_return members.error();
    if (members->size() == 0) continue;
    Strings keys{k + "active", k + "cancels"};
    Strings args{node, num(lease.of(queue).count()),
                 num(static_cast<std::int64_t>(members->size()))};
    for (const Reply& id : members->elements()) {
      std::string what("heartbeat: a job id of node ");
      what.append(node).append(" in queue ").append(queue);
      ORCA_CO_TRY(n, parse_i64(id.str(), what));
      keys.push_back(k + "job:" + id.str());
      args.push_back(id.str());
      args.push_back(mine.count(n) ? "1" : "0");
    }
    auto r = co_await m.eval(ctx, scripts().extend, std::move(keys), std::move(args), "extend");
    if (!r) co_return r.error();
    for (const Reply& id : r->elements()) {
      ORCA_CO_TRY(n, parse_i64(id.str(), "extend: a job id"));
      reply.cancel_requested.push_back(n);
    }
  }
  co_return reply;
}

Task<Result<void>> RedisBroker::deregister_node(Context ctx, std::string node) {
  Impl& m = *impl_;
  auto r = co_await m.eval(ctx, scripts().node_state, strs(m.meta + "nodes"), strs(node, "1"),
                           "deregister node");
  if (!r) co_return r.error();
  auto queues = co_await m.all_queues(ctx);
  if (!queues) co_return queues.error();
  for (const std::string& queue : *queues) {
    auto held = co_await m.held_by(ctx, queue, node);
    if (!held) co_return held.error();
    auto moved = co_await m.reclaim(ctx, queue, std::move(*held), false, "node " + node + " left");
    if (!moved) co_return moved.error();
  }
  co_return Result<void>{};
}

Task<Result<std::vector<Job>>> RedisBroker::claim(Context ctx, ClaimRequest req) {
  Impl& m = *impl_;
  std::vector<Job> out;
  if (req.limit == 0) co_return out;
  const bool pull = req.pull_pending && !req.types.empty();
  // Pulling nodes may run without a center: due jobs become pending here too (at
  // most every 50 ms per broker: the centers do it on their ticks as well).
  if (pull && m.promote_due_now()) {
    auto promoted = co_await promote_due(ctx);
    if (!promoted) co_return promoted.error();
  }
  auto queues = co_await m.all_queues(ctx, std::chrono::seconds(1));
  if (!queues) co_return queues.error();
  // Leaves this process's claims under way (claiming) when the claim ends, however.
  struct UnderWay {
    Impl& m;
    Strings ids;
    ~UnderWay() {
      std::lock_guard lock(m.mu);
      --m.claims_under_way;
      for (const std::string& id : ids)
        m.claiming.erase(id);
    }
  };
  std::size_t skip = 0;
  {
    std::lock_guard lock(m.mu);
    skip = m.claiming.size() + m.claims_under_way * req.limit;
    ++m.claims_under_way;
  }
  UnderWay under_way{m, {}};
  // Candidates, one round trip per queue: jobs leased to the node, then (pull)
  // pending jobs of its types, past those other claims here are taking.
  std::vector<std::pair<std::string, Candidate>> picked;
  std::map<std::string, std::vector<Candidate>> pending_by_queue;
  std::size_t wanted = req.limit;
  for (const std::string& queue : *queues) {
    const std::string k = m.qkey(queue);
    std::vector<Strings> cmds;
    cmds.push_back(
        strs("SRANDMEMBER", k + "leased:" + req.node, num(static_cast<std::int64_t>(wanted))));
    if (pull)
      for (const std::string& t : req.types)
        cmds.push_back(strs("ZRANGE", k + "pending:" + t, "0",
                            num(static_cast<std::int64_t>(wanted + skip) - 1), "WITHSCORES"));
    if (pull) cmds.push_back(strs("EXISTS", k + "paused"));
    auto r = co_await m.batch(ctx, k, std::move(cmds), "claim candidates");
    if (!r) co_return r.error();
    // A paused queue offers no pending job (the claim's script checks it again).
    const std::size_t typed = pull && r->back().integer() == 0 ? req.types.size() + 1 : 1;
    for (const Reply& id : (*r)[0].elements()) {
      if (wanted == 0) break;
      Candidate c;
      c.id = id.str();
      c.member = "3";  // leased: the script checks it is still leased to this node
      picked.emplace_back(queue, std::move(c));
      --wanted;
    }
    std::vector<Candidate> cs;
    std::lock_guard lock(m.mu);
    for (std::size_t t = 1; t < typed; ++t) {
      const Reply& z = (*r)[t];
      for (std::size_t i = 0; i + 1 < z.size(); i += 2) {
        Candidate c;
        c.member = z[i].str();
        const std::size_t digits = c.member.find_first_not_of('0', c.member.find(':') + 1);
        if (digits == std::string::npos) continue;
        c.id = c.member.substr(digits);
        if (m.claiming.count(c.id)) continue;
        c.score = std::strtod(z[i + 1].str().c_str(), nullptr);
        c.type = req.types[t - 1];
        cs.push_back(std::move(c));
      }
    }
    if (!cs.empty()) {
      // Best first across the types (the pending zsets' order: priority, then age).
      std::sort(cs.begin(), cs.end(), [](const Candidate& x, const Candidate& y) {
        return x.score != y.score ? x.score < y.score : x.member < y.member;
      });
      // A capped queue (ClaimRequest::queue_caps) offers its best `cap` only.
      if (auto cap = req.queue_caps.find(queue);
          cap != req.queue_caps.end() && cs.size() > cap->second)
        cs.resize(cap->second);
      if (!cs.empty()) pending_by_queue[queue] = std::move(cs);
    }
  }
  if (pull && wanted > 0) {
    for (auto& [queue, cs] : pending_by_queue)
      for (Candidate& c : cs)
        c.member = "0";
    auto more = m.pick(std::move(pending_by_queue), wanted, req.weights);
    std::lock_guard lock(m.mu);
    for (auto& [queue, c] : more) {
      // Taken meanwhile by a sibling claim that read the same candidates.
      if (!m.claiming.insert(c.id).second) continue;
      under_way.ids.push_back(c.id);
      picked.emplace_back(queue, std::move(c));
    }
  }
  std::map<std::string, std::vector<const Candidate*>> by_queue;
  for (const auto& [queue, c] : picked)
    by_queue[queue].push_back(&c);
  std::vector<Completion> unreadable;  // taken jobs whose specs (or times) do not parse
  Error undecodable;                   // the last claim answer that could not be read
  for (const auto& [queue, list] : by_queue) {
    const std::string k = m.qkey(queue);
    Strings keys = strs(k + "counts", k + "active", k + "node:" + req.node,
                        k + "leased:" + req.node, k + "paused");
    Strings args = strs(num(req.lease.of(queue).count()), req.node,
                        num(static_cast<std::int64_t>(list.size())));
    for (const Candidate* c : list) {
      keys.insert(keys.end(), {k + "job:" + c->id, k + "audit:" + c->id, k + "pending:" + c->type,
                               k + "spec:" + c->id});
      args.insert(args.end(), {c->id, c->member});
    }
    auto r = co_await m.eval(ctx, scripts().claim, std::move(keys), std::move(args), "claim");
    // Jobs of other queues already taken are this node's now: they are returned, not
    // left to their leases (this queue's failure is dropped: the next claim meets it
    // again, and fails with it if it is all that claim gets).
    if (!r) {
      if (out.empty()) co_return r.error();
      continue;
    }
    // kClaim's answer: lease end, time, then six items per job (id, attempt, last
    // error, created, ready, spec).
    if (r->size() < 2 || (r->size() - 2) % 6 != 0) {
      // As an answer that does not decode (below): the jobs of other queues taken
      // already, and those that could not be read, are still dealt with.
      undecodable = m.fail("claim: unexpected answer from the script");
      continue;
    }
    std::string what("claim of queue ");
    what.append(queue).append(": ");
    const auto lease_ms = parse_i64((*r)[0].str(), what + "the lease end");
    const auto now_ms = parse_i64((*r)[1].str(), what + "the server time");
    if (!lease_ms || !now_ms) {
      // The whole answer is suspect: this queue's jobs wait for their leases to
      // expire, and the error is returned if no other job is (as a failed script).
      undecodable = !lease_ms ? lease_ms.error() : now_ms.error();
      continue;
    }
    const auto lease_until = from_unix_ms(*lease_ms);
    const auto now = from_unix_ms(*now_ms);
    for (std::size_t i = 2; i + 5 < r->size(); i += 6) {
      // Without its id and attempt a job cannot be named, nor failed: its lease
      // expires. Anything else wrong with one job fails it alone (below), with what
      // was wrong as its error, and its neighbours run.
      const auto id = parse_i64((*r)[i].str(), what + "a job id");
      if (!id) {
        undecodable = id.error();
        continue;
      }
      std::string field("job ");
      field.append((*r)[i].str()).append(" of queue ").append(queue).append(": field ");
      const auto attempt = parse_i64((*r)[i + 1].str(), field + "att");
      if (!attempt) {
        undecodable = attempt.error();
        continue;
      }
      const auto created = parse_i64((*r)[i + 3].str(), field + "created");
      const auto ready = parse_i64((*r)[i + 4].str(), field + "ready");
      Result<JobSpec> spec = job_spec_from_json(json::parse((*r)[i + 5].str(), nullptr, false));
      if (!created || !ready || !spec) {
        Completion c;
        c.id = *id;
        c.node = req.node;
        c.attempt = static_cast<int>(*attempt);
        c.outcome = Outcome::kPermanent;
        if (!spec)
          c.error.assign("the job's spec does not parse: ").append(spec.error().detail());
        else
          c.error = (!created ? created : ready).error().detail();
        unreadable.push_back(std::move(c));
        continue;
      }
      Job j;
      j.id = *id;
      j.attempt = static_cast<int>(*attempt);
      j.spec = std::move(*spec);
      j.state = JobState::kRunning;
      j.node = req.node;
      j.last_error = (*r)[i + 2].str();
      j.created_at = from_unix_ms(*created);
      j.updated_at = now;
      j.ready_at = from_unix_ms(*ready);
      j.lease_until = lease_until;
      out.push_back(std::move(j));
    }
  }
  // Jobs whose specs (or created/ready times) do not parse, taken above (their
  // attempts count), fail now, with what was wrong as their error. Not in the claim's
  // script, which cannot read a spec as the C++ does; if this call fails, their
  // leases expire and they come back until their attempts run out.
  if (!unreadable.empty()) {
    auto failed = co_await complete(ctx, std::move(unreadable));
    (void)failed;
  }
  // A job that could not even be named (its id or attempt is not a number) is an
  // error only when nothing else was claimed: the jobs that were run.
  if (out.empty() && undecodable) co_return undecodable;
  co_return out;
}

Task<Result<std::vector<Result<JobState>>>> RedisBroker::complete(
    Context ctx, std::vector<Completion> completions) {
  Impl& m = *impl_;
  std::vector<Result<JobState>> out(completions.size(), Result<JobState>(JobState::kSucceeded));
  std::map<std::string, std::vector<std::size_t>> by_queue;
  for (std::size_t i = 0; i < completions.size(); ++i) {
    auto queue = co_await m.queue_of(ctx, completions[i].id);
    if (!queue) {
      if (queue.error() != errc::not_found) co_return queue.error();
      out[i] = Result<JobState>(errc::not_found);
      continue;
    }
    by_queue[*queue].push_back(i);
  }
  for (const auto& [queue, index] : by_queue) {
    const std::string k = m.qkey(queue);
    // A job handed back goes to its type's pending set: only those need the type.
    Strings back;
    for (std::size_t i : index)
      if (completions[i].outcome == Outcome::kHandBack) back.push_back(num(completions[i].id));
    auto types = co_await m.fields(ctx, queue, back, strs("type"));
    if (!types) co_return types.error();
    std::map<std::string, std::string> type_of;
    for (std::size_t i = 0; i < back.size(); ++i)
      type_of[back[i]] = (*types)[i][0];
    Strings keys{k + "counts", k + "active",  k + "finished", k + "dead",
                 k + "unique", k + "delayed", k + "cancels",  k + "dead_at"};
    Strings args{num(static_cast<std::int64_t>(index.size()))};
    for (std::size_t i : index) {
      const Completion& c = completions[i];
      const std::string id = num(c.id);
      auto t = type_of.find(id);
      keys.insert(keys.end(), {k + "job:" + id, k + "audit:" + id, k + "node:" + c.node,
                               k + "pending:" + (t == type_of.end() ? "" : t->second)});
      args.insert(args.end(), {id, c.node, num(c.attempt), num(static_cast<int>(c.outcome)),
                               c.error, num(c.retry_delay.count())});
    }
    auto r = co_await m.eval(ctx, scripts().complete, std::move(keys), std::move(args), "complete");
    if (!r) co_return r.error();
    for (std::size_t j = 0; j < index.size(); ++j) {
      const long long s = (*r)[j].integer();
      if (s == -1)
        out[index[j]] = Result<JobState>(errc::not_found);
      else if (s < 0)
        out[index[j]] = Result<JobState>(errc::lease_lost);
      else
        out[index[j]] = static_cast<JobState>(s);
    }
  }
  co_return out;
}

}  // namespace orca::jobs
