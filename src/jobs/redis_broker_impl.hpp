// The Redis broker's private parts, shared by its sources: the key layout's helpers
// (redis_broker.hpp documents the layout), the scripts, and RedisBroker::Impl, which
// holds the connection and turns calls into commands and scripts on a queue's keys.
// Sources, by concern: redis_broker.cpp (connecting, events), redis_job_hash.cpp
// (hash <-> Job), redis_broker_reads.cpp, redis_broker_transitions.cpp and
// redis_broker_maintenance.cpp (promote, reap, trim).
#pragma once

#include "orca/jobs/redis_broker.hpp"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>

#include "orca/jobs/actor.hpp"
#include "orca/jobs/job_trace.hpp"
#include "orca/jobs/json.hpp"
#include "orca/redis/client.hpp"
#include "orca/redis/cluster.hpp"
#include "orca/redis/rate_limiter.hpp"
#include "orca/redis/script.hpp"
#include "orca/redis/subscriber.hpp"
#include "orca/redis/url.hpp"
#include "orca/runtime/sleep.hpp"
#include "orca/runtime/spawn.hpp"
#include "redis_job_hash.hpp"
#include "redis_scripts.hpp"

namespace orca::jobs::detail::redis_store {

using nlohmann::json;
using redis::Reply;
using std::chrono::milliseconds;
using Strings = std::vector<std::string>;

constexpr int kQueueBits = 16;  // a job id's low bits: its queue's number
constexpr std::int64_t kQueueMask = (std::int64_t{1} << kQueueBits) - 1;
constexpr std::size_t kScan = 512;  // candidates read per step (claims, promotion, reaping)

struct Scripts {
  static redis::Script make(const char* body) {
    return redis::Script(std::string(detail::kPrelude) + body);
  }
  redis::Script enqueue = make(detail::kEnqueue);
  redis::Script cancel = make(detail::kCancel);
  redis::Script requeue = make(detail::kRequeue);
  redis::Script assign = make(detail::kAssign);
  redis::Script claim = make(detail::kClaim);
  redis::Script complete = make(detail::kComplete);
  redis::Script promote = make(detail::kPromote);
  redis::Script reclaim = make(detail::kReclaim);
  redis::Script extend = make(detail::kExtend);
  redis::Script trim = make(detail::kTrim);
  redis::Script trim_audit = make(detail::kTrimAudit);
  redis::Script queue_number = make(detail::kQueueNumber);
  redis::Script register_node = make(detail::kRegister);
  redis::Script beat = make(detail::kBeat);
  redis::Script node_state = make(detail::kNodeState);
  redis::Script reap_nodes = make(detail::kReapNodes);
  redis::Script fire_periodic = make(detail::kFirePeriodic);
  redis::Script acquire_lease = make(detail::kAcquireLease);
  redis::Script release_lease = make(detail::kReleaseLease);
  redis::Script delete_jobs = make(detail::kDeleteJobs);
};

inline const Scripts& scripts() {
  static const Scripts s;
  return s;
}

// A list of strings without a braced list (GCC 12 cannot keep one in a co_await
// operand: "array used as initializer").
template <class... A>
std::vector<std::string> strs(A&&... a) {
  std::vector<std::string> v;
  v.reserve(sizeof...(a));
  (v.emplace_back(std::forward<A>(a)), ...);
  return v;
}

inline std::string num(std::int64_t v) {
  return std::to_string(v);
}

// A candidate read before the script that takes it.
struct Candidate {
  std::string id;
  std::string type;
  std::string node;
  double score = 0;
  std::string member;
};

}  // namespace orca::jobs::detail::redis_store

namespace orca::jobs {

// The broker's sources use the helpers above unqualified.
using namespace detail::redis_store;

struct RedisBroker::Impl {
  RedisBrokerOptions options;
  std::optional<redis::Client> single;
  std::optional<redis::ClusterClient> cluster;
  std::string meta;  // the registry's key prefix: <prefix>:{<prefix>}:

  mutable std::mutex mu;  // guards what follows; never held across a suspension
  std::map<std::string, std::int64_t> queue_numbers;
  std::map<std::int64_t, std::string> queue_names;
  Strings queues_cache;
  std::optional<std::chrono::steady_clock::time_point> queues_read;
  std::optional<std::chrono::steady_clock::time_point> last_promote;
  std::mt19937_64 rng{std::random_device{}()};
  // Pending jobs that claims of this process are taking right now, and how many
  // claims are under way: a concurrent claim reads past them instead of racing its
  // sibling for the same jobs (the scripts would let only one have each).
  std::set<std::string> claiming;
  std::size_t claims_under_way = 0;

  std::string qkey(const std::string& queue) const { return options.prefix + ":{" + queue + "}:"; }
  std::string cancel_channel() const { return options.prefix + ":cancel"; }

  static Error fail(std::string what) {
    return Error(make_error_code(errc::broker_failure), std::move(what));
  }

  // A transport or server error becomes broker_failure with its text; the context's
  // own error stays itself.
  static Error failed(const Context& ctx, const Error& e, const char* what) {
    if (std::error_code c = ctx.err()) return c;
    return fail(std::string(what) + ": " + e.message());
  }

  // A reply as the broker's result: a transport error or an error reply is
  // broker_failure, with its text.
  Result<Reply> checked(const Context& ctx, Result<Reply> r, const char* what) {
    if (!r) return failed(ctx, r.error(), what);
    if (r->is_error()) return fail(std::string(what) + ": " + r->str());
    return r;
  }

  // (No ?: with a co_await in each arm: GCC 12 destroys both arms' temporaries.)
  Task<Result<Reply>> eval(Context ctx, const redis::Script& script, Strings keys, Strings args,
                           const char* what) {
    if (cluster) {
      auto r = co_await script.eval(ctx, *cluster, std::move(keys), std::move(args));
      co_return checked(ctx, std::move(r), what);
    }
    auto r = co_await script.eval(ctx, *single, std::move(keys), std::move(args));
    co_return checked(ctx, std::move(r), what);
  }

  Task<Result<Reply>> command(Context ctx, std::string key, Strings args, const char* what) {
    if (cluster) {
      auto r = co_await cluster->command(ctx, std::move(key), std::move(args));
      co_return checked(ctx, std::move(r), what);
    }
    auto r = co_await single->command(ctx, std::move(args));
    co_return checked(ctx, std::move(r), what);
  }

  // Commands on one slot (`key`'s): one pipeline on a single server; on a cluster,
  // sent concurrently (each connection pipelines its concurrent callers).
  Task<Result<std::vector<Reply>>> batch(Context ctx, std::string key,
                                         std::vector<Strings> commands, const char* what) {
    std::vector<Reply> out;
    if (commands.empty()) co_return out;
    if (!cluster) {
      auto r = co_await single->pipeline(ctx, std::move(commands));
      if (!r) co_return failed(ctx, r.error(), what);
      out = std::move(*r);
    } else {
      std::vector<JoinHandle<Result<Reply>>> running;
      running.reserve(commands.size());
      for (Strings& c : commands) {
        redis::ClusterClient* cl = &*cluster;
        auto task = [cl, ctx, key, c = std::move(c)]() mutable -> Task<Result<Reply>> {
          co_return co_await cl->command(ctx, key, std::move(c));
        };
        running.push_back(spawn(std::move(task)));
      }
      Error first;
      for (auto& h : running) {
        Result<Reply> r = co_await std::move(h);
        if (!r && !first) first = r.error();
        out.push_back(r ? std::move(*r) : Reply());
      }
      if (first) co_return failed(ctx, first, what);
    }
    for (const Reply& r : out)
      if (r.is_error()) co_return fail(std::string(what) + ": " + r.str());
    co_return out;
  }

  // --- queues and ids --------------------------------------------------------------

  Task<Result<std::int64_t>> queue_number(Context ctx, std::string queue) {
    {
      std::lock_guard lock(mu);
      auto it = queue_numbers.find(queue);
      if (it != queue_numbers.end()) co_return it->second;
    }
    auto r = co_await eval(ctx, scripts().queue_number,
                           strs(meta + "queues", meta + "queue_names", meta + "queue_seq"),
                           strs(queue), "queue number");
    if (!r) co_return r.error();
    const std::int64_t n = r->integer();
    std::lock_guard lock(mu);
    queue_numbers[queue] = n;
    queue_names[n] = queue;
    note_queue_locked(queue);
    co_return n;
  }

  // The queue a job id belongs to; not_found for an id no queue has.
  Task<Result<std::string>> queue_of(Context ctx, JobId id) {
    const std::int64_t n = id & kQueueMask;
    {
      std::lock_guard lock(mu);
      auto it = queue_names.find(n);
      if (it != queue_names.end()) co_return it->second;
    }
    auto r = co_await command(ctx, meta + "queue_names", strs("HGET", meta + "queue_names", num(n)),
                              "queue of job");
    if (!r) co_return r.error();
    if (r->is_nil() || id <= 0) co_return make_error_code(errc::not_found);
    std::lock_guard lock(mu);
    queue_names[n] = r->str();
    queue_numbers[r->str()] = n;
    co_return r->str();
  }

  // Every queue's name, sorted. With max_age, a list read that recently is reused
  // (the hot paths: claims, heartbeats): a queue another process creates is then
  // seen up to max_age later.
  Task<Result<Strings>> all_queues(
      Context ctx, std::chrono::milliseconds max_age = std::chrono::milliseconds(0)) {
    const auto now = std::chrono::steady_clock::now();
    if (max_age.count() > 0) {
      // (An empty list is not reused: the first queue must not wait for max_age.)
      std::lock_guard lock(mu);
      if (queues_read && now - *queues_read < max_age && !queues_cache.empty())
        co_return queues_cache;
    }
    auto r = co_await command(ctx, meta + "queues", strs("HGETALL", meta + "queues"), "queues");
    if (!r) co_return r.error();
    std::vector<std::int64_t> numbers;
    for (std::size_t i = 0; i + 1 < r->size(); i += 2) {
      std::string what("the number of queue ");
      what.append((*r)[i].str());
      ORCA_CO_TRY(n, parse_i64((*r)[i + 1].str(), what));
      numbers.push_back(n);
    }
    Strings out;
    std::lock_guard lock(mu);
    for (std::size_t i = 0; i + 1 < r->size(); i += 2) {
      out.push_back((*r)[i].str());
      const std::int64_t n = numbers[i / 2];
      queue_numbers[(*r)[i].str()] = n;
      queue_names[n] = (*r)[i].str();
    }
    std::sort(out.begin(), out.end());
    queues_cache = out;
    queues_read = now;
    co_return out;
  }

  // A queue known to exist (made here, or announced with work by another process):
  // the cached lists include it at once.
  void note_queue_locked(const std::string& queue) {
    if (std::find(queues_cache.begin(), queues_cache.end(), queue) == queues_cache.end())
      queues_cache.insert(std::upper_bound(queues_cache.begin(), queues_cache.end(), queue), queue);
  }
  void note_queue(const std::string& queue) {
    std::lock_guard lock(mu);
    note_queue_locked(queue);
  }

  // Whether a claim should promote due jobs now (at most every 50 ms per broker).
  bool promote_due_now() {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu);
    if (last_promote && now - *last_promote < std::chrono::milliseconds(50)) return false;
    last_promote = now;
    return true;
  }

  // The server's clock (TIME), in Unix ms: the clock scripts judge leases and due
  // times by. Passes that pick candidates for a script read it once, so that a
  // machine whose clock is off picks the same candidates the script then takes.
  Task<Result<std::int64_t>> server_now_ms(Context ctx) {
    auto r = co_await command(ctx, meta + "ids", strs("TIME"), "server time");
    if (!r) co_return r.error();
    if (r->size() != 2) co_return fail("server time: unexpected answer to TIME");
    ORCA_CO_TRY(seconds, parse_i64((*r)[0].str(), "server time: the seconds"));
    ORCA_CO_TRY(micros, parse_i64((*r)[1].str(), "server time: the microseconds"));
    co_return seconds * 1000 + micros / 1000;
  }

  // --- reads of one queue ----------------------------------------------------------

  // With runnable_only (a peek), jobs whose specs do not parse are left out: they are
  // not handed to a node as they are (a claim fails them).
  Task<Result<std::vector<Job>>> load_jobs(Context ctx, std::string queue, Strings ids,
                                           bool runnable_only = false) {
    const std::string k = qkey(queue);
    std::vector<Strings> cmds;
    for (const std::string& id : ids) {
      cmds.push_back(strs("HGETALL", k + "job:" + id));
      cmds.push_back(strs("GET", k + "spec:" + id));
    }
    auto r = co_await batch(ctx, k, std::move(cmds), "load jobs");
    if (!r) co_return r.error();
    std::vector<Job> out;
    for (std::size_t i = 0; i + 1 < r->size(); i += 2) {
      if ((*r)[i].size() == 0) continue;
      auto j = job_from_hash((*r)[i], (*r)[i + 1].str(), queue);
      if (!j) {
        // A corrupt hash: a peek leaves the job out (else it would stop the center's
        // assignments for good; a claim fails it alone); a listing reports it.
        if (runnable_only) continue;
        co_return j.error();
      }
      if (j->bad_spec.empty() || !runnable_only) out.push_back(std::move(j->job));
    }
    co_return out;
  }

  // Each candidate's type, node and state ("" for a job that no longer exists).
  Task<Result<std::vector<Strings>>> fields(Context ctx, std::string queue, Strings ids,
                                            Strings names) {
    const std::string k = qkey(queue);
    std::vector<Strings> cmds;
    for (const std::string& id : ids) {
      Strings c{"HMGET", k + "job:" + id};
      c.insert(c.end(), names.begin(), names.end());
      cmds.push_back(std::move(c));
    }
    auto r = co_await batch(ctx, k, std::move(cmds), "read jobs");
    if (!r) co_return r.error();
    std::vector<Strings> out;
    for (const Reply& row : *r) {
      Strings v;
      for (const Reply& x : row.elements())
        v.push_back(x.is_nil() ? std::string() : x.str());
      v.resize(names.size());
      out.push_back(std::move(v));
    }
    co_return out;
  }

  // Pending jobs of `types` in `queue`, best first, at most `limit`.
  Task<Result<std::vector<Candidate>>> pending(Context ctx, std::string queue, Strings types,
                                               std::size_t limit) {
    const std::string k = qkey(queue);
    std::vector<Strings> cmds;
    for (const std::string& t : types)
      cmds.push_back(strs("ZRANGE", k + "pending:" + t, "0",
                          num(static_cast<std::int64_t>(limit) - 1), "WITHSCORES"));
    cmds.push_back(strs("EXISTS", k + "paused"));
    auto r = co_await batch(ctx, k, std::move(cmds), "pending jobs");
    if (!r) co_return r.error();
    std::vector<Candidate> out;
    if (r->back().integer() == 1) co_return out;  // a paused queue offers nothing
    for (std::size_t t = 0; t < types.size(); ++t) {
      const Reply& z = (*r)[t];
      for (std::size_t i = 0; i + 1 < z.size(); i += 2) {
        Candidate c;
        c.member = z[i].str();
        // "<ready>:<id, zero-padded>"
        const std::size_t digits = c.member.find_first_not_of('0', c.member.find(':') + 1);
        c.id = digits == std::string::npos ? "0" : c.member.substr(digits);
        c.score = std::strtod(z[i + 1].str().c_str(), nullptr);
        c.type = types[t];
        out.push_back(std::move(c));
      }
    }
    std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
      return a.score != b.score ? a.score < b.score : a.member < b.member;
    });
    if (out.size() > limit) out.resize(limit);
    co_return out;
  }

  // Queues drawn in proportion to weight for each of `limit` slots (as the SQLite
  // broker does), each queue's best candidates first.
  std::vector<std::pair<std::string, Candidate>> pick(
      std::map<std::string, std::vector<Candidate>> by_queue, std::size_t limit,
      const QueueWeights& weights) {
    std::vector<std::pair<std::string, Candidate>> out;
    std::map<std::string, std::size_t> next;
    std::lock_guard lock(mu);
    while (out.size() < limit) {
      Strings live;
      std::vector<double> w;
      for (const auto& [q, cs] : by_queue) {
        if (next[q] >= cs.size()) continue;
        live.push_back(q);
        auto it = weights.find(q);
        w.push_back(it == weights.end() ? 1.0 : std::max(0, it->second) + 1e-9);
      }
      if (live.empty()) break;
      std::discrete_distribution<std::size_t> d(w.begin(), w.end());
      const std::string& q = live[d(rng)];
      out.emplace_back(q, by_queue[q][next[q]++]);
    }
    return out;
  }

  // --- shared transitions ----------------------------------------------------------

  // Requeues jobs of `queue` (requeue.lua), `types` their types; `only`: "8" for dead
  // jobs only. Per job, the script's code (0 requeued, -1, -2, -4).
  Task<Result<std::vector<std::int64_t>>> requeue_jobs(Context ctx, std::string queue, Strings ids,
                                                       Strings types, std::string only,
                                                       std::string actor) {
    const std::string k = qkey(queue);
    Strings keys{k + "counts", k + "unique", k + "finished", k + "dead", k + "dead_at"};
    Strings args{std::move(actor), std::move(only), num(static_cast<std::int64_t>(ids.size()))};
    for (std::size_t i = 0; i < ids.size(); ++i) {
      keys.insert(keys.end(),
                  {k + "job:" + ids[i], k + "audit:" + ids[i], k + "pending:" + types[i]});
      args.push_back(ids[i]);
    }
    auto r = co_await eval(ctx, scripts().requeue, std::move(keys), std::move(args), "requeue");
    if (!r) co_return r.error();
    std::vector<std::int64_t> out;
    for (const Reply& code : r->elements())
      out.push_back(code.integer());
    co_return out;
  }

  // Deletes finished jobs of `queue` (delete_jobs.lua); `only`: one state's number, or
  // "" for any finished one. Per job, the script's code (the state, -1, -2).
  Task<Result<std::vector<std::int64_t>>> delete_jobs(Context ctx, std::string queue, Strings ids,
                                                      std::string only) {
    const std::string k = qkey(queue);
    Strings keys{k + "counts", k + "finished", k + "dead", k + "all", k + "dead_at"};
    Strings args{std::move(only), num(static_cast<std::int64_t>(ids.size()))};
    for (const std::string& id : ids) {
      keys.insert(keys.end(), {k + "job:" + id, k + "audit:" + id, k + "spec:" + id});
      args.push_back(id);
    }
    auto r = co_await eval(ctx, scripts().delete_jobs, std::move(keys), std::move(args), "delete");
    if (!r) co_return r.error();
    std::vector<std::int64_t> out;
    for (const Reply& code : r->elements())
      out.push_back(code.integer());
    co_return out;
  }

  // Reclaims jobs of `queue` (leased or running on `node`): see kReclaim.
  Task<Result<std::size_t>> reclaim(Context ctx, std::string queue, std::vector<Candidate> jobs,
                                    bool only_expired, std::string why) {
    if (jobs.empty()) co_return std::size_t{0};
    const std::string k = qkey(queue);
    Strings keys{k + "counts", k + "active",  k + "finished", k + "dead",
                 k + "unique", k + "cancels", k + "dead_at"};
    Strings args{num(static_cast<std::int64_t>(jobs.size()))};
    for (const Candidate& c : jobs) {
      keys.push_back(k + "job:" + c.id);
      keys.push_back(k + "audit:" + c.id);
      keys.push_back(k + "pending:" + c.type);
      keys.push_back(k + "node:" + c.node);
      keys.push_back(k + "leased:" + c.node);
      args.insert(args.end(), {c.id, c.node, only_expired ? "1" : "0",
                               !why.empty()   ? why
                               : only_expired ? "lease expired on node " + c.node
                                              : "node " + c.node + " is gone"});
    }
    auto r = co_await eval(ctx, scripts().reclaim, std::move(keys), std::move(args), "reclaim");
    if (!r) co_return r.error();
    co_return static_cast<std::size_t>(r->integer());
  }

  // The jobs of `queue` held by `node`, with their types.
  Task<Result<std::vector<Candidate>>> held_by(Context ctx, std::string queue, std::string node) {
    const std::string k = qkey(queue);
    auto members = co_await command(ctx, k, strs("SMEMBERS", k + "node:" + node), "node jobs");
    if (!members) co_return members.error();
    Strings ids;
    for (const Reply& m : members->elements())
      ids.push_back(m.str());
    auto f = co_await fields(ctx, queue, ids, strs("type", "state"));
    if (!f) co_return f.error();
    std::vector<Candidate> out;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if ((*f)[i][0].empty()) continue;
      Candidate c;
      c.id = ids[i];
      c.type = (*f)[i][0];
      c.node = node;
      c.member = (*f)[i][1];  // the state, for callers that care
      out.push_back(std::move(c));
    }
    co_return out;
  }
};

}  // namespace orca::jobs
