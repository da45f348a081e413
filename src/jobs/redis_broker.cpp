// RedisBroker: every Broker call as Lua scripts over one queue's keys each
// (redis_broker.hpp has the key layout, lua/*.lua the scripts).
//
// Calls whose keys cannot be known up front (which jobs a pull claim takes, which
// jobs are due, whose leases expired) read their candidates first and then run a
// script that declares the candidates' keys and re-checks each one, skipping those
// that changed in between: the contract's "an item whose precondition no longer
// holds is skipped".
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
#include "redis_scripts.hpp"

namespace orca::jobs {

namespace {

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
};

const Scripts& scripts() {
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

std::string num(std::int64_t v) {
  return std::to_string(v);
}

std::int64_t to_i64(const std::string& s) {
  if (s.empty()) return 0;
  try {
    return std::stoll(s);
  } catch (const std::exception&) {
    return 0;
  }
}

// A job from its hash as HGETALL returns it (field, value, ...) and its spec's JSON.
// A spec that does not parse (written by another program: enqueue writes only specs
// that do) leaves the job with the type and queue its hash has, and the parser's
// message in `bad_spec`: one such job must not make a whole listing fail.
Job job_from_hash(const Reply& r, const std::string& spec, const std::string& queue,
                  std::string& bad_spec) {
  Job j;
  std::string id;
  std::string type;
  std::int64_t fin = -1;
  // Field by field, no map (get, list and the center's peek run it per job).
  for (std::size_t i = 0; i + 1 < r.size(); i += 2) {
    const std::string& name = r[i].str();
    const std::string& v = r[i + 1].str();
    if (name == "id")
      id = v;
    else if (name == "state")
      j.state = static_cast<JobState>(to_i64(v));
    else if (name == "att")
      j.attempt = static_cast<int>(to_i64(v));
    else if (name == "node")
      j.node = v;
    else if (name == "cr")
      j.cancel_requested = v == "1";
    else if (name == "err")
      j.last_error = v;
    else if (name == "created")
      j.created_at = from_unix_ms(to_i64(v));
    else if (name == "upd")
      j.updated_at = from_unix_ms(to_i64(v));
    else if (name == "ready")
      j.ready_at = from_unix_ms(to_i64(v));
    else if (name == "lease")
      j.lease_until = from_unix_ms(to_i64(v));
    else if (name == "fin" && !v.empty())
      fin = to_i64(v);
    else if (name == "type")
      type = v;
  }
  j.id = to_i64(id);
  if (fin >= 0) j.finished_at = from_unix_ms(fin);
  bad_spec.clear();
  if (!job_spec_from_json(json::parse(spec, nullptr, false), j.spec, bad_spec)) {
    j.spec = JobSpec{};
    j.spec.type = type;
    j.spec.queue = queue;
  }
  return j;
}

// A candidate read before the script that takes it.
struct Candidate {
  std::string id;
  std::string type;
  std::string node;
  double score = 0;
  std::string member;
};

}  // namespace

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
    Strings out;
    std::lock_guard lock(mu);
    for (std::size_t i = 0; i + 1 < r->size(); i += 2) {
      out.push_back((*r)[i].str());
      const std::int64_t n = to_i64((*r)[i + 1].str());
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
    co_return to_i64((*r)[0].str()) * 1000 + to_i64((*r)[1].str()) / 1000;
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
    std::string bad_spec;
    for (std::size_t i = 0; i + 1 < r->size(); i += 2) {
      if ((*r)[i].size() == 0) continue;
      Job j = job_from_hash((*r)[i], (*r)[i + 1].str(), queue, bad_spec);
      if (bad_spec.empty() || !runnable_only) out.push_back(std::move(j));
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
    auto r = co_await batch(ctx, k, std::move(cmds), "pending jobs");
    if (!r) co_return r.error();
    std::vector<Candidate> out;
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

RedisBroker::RedisBroker(RedisBrokerOptions options, std::unique_ptr<Impl> impl)
    : options_(std::move(options)), impl_(std::move(impl)) {}

RedisBroker::~RedisBroker() {
  if (impl_->single) impl_->single->close();
  if (impl_->cluster) impl_->cluster->close();
}

Task<void> RedisBroker::closed() {
  if (impl_->single) co_await impl_->single->closed();
  if (impl_->cluster) co_await impl_->cluster->closed();
}

std::unique_ptr<resilience::Limiter> RedisBroker::shared_rate_limiter(
    const resilience::RateLimiterOptions& options) {
  Impl& m = *impl_;
  std::string prefix = options_.prefix + ":limit:";
  if (m.cluster) return std::make_unique<redis::FleetRateLimiter>(*m.cluster, prefix, options);
  return std::make_unique<redis::FleetRateLimiter>(*m.single, prefix, options);
}

Task<Result<std::unique_ptr<RedisBroker>>> RedisBroker::connect(Context ctx,
                                                                RedisBrokerOptions options) {
  std::string why;
  auto url = redis::RedisUrl::parse(options.url, &why);
  if (!url)
    co_return Error(make_error_code(errc::invalid_job),
                    "bad Redis URL " + options.url + ": " + why);
  if (options.prefix.empty() || options.prefix.find_first_of("{}") != std::string::npos)
    co_return Error(make_error_code(errc::invalid_job),
                    "the key prefix must be non-empty and without braces");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->meta = options.prefix + ":{" + options.prefix + "}:";
  if (options.cluster) {
    redis::ClusterOptions co;
    co.node.pool_size = options.connections;
    std::vector<redis::RedisUrl> seeds(1, *url);
    auto c = co_await redis::ClusterClient::connect(ctx, std::move(seeds), co);
    if (!c)
      co_return Impl::fail("cannot reach the Redis cluster at " + url->to_string() + ": " +
                           c.error().message());
    impl->cluster.emplace(std::move(*c));
  } else {
    redis::ClientOptions co;
    co.pool_size = options.connections;
    auto c = co_await redis::Client::connect(ctx, *url, co);
    if (!c)
      co_return Impl::fail("cannot reach Redis at " + url->to_string() + ": " +
                           c.error().message());
    impl->single.emplace(std::move(*c));
  }
  co_return std::unique_ptr<RedisBroker>(new RedisBroker(std::move(options), std::move(impl)));
}

// --- producers -------------------------------------------------------------------------

Task<Result<std::vector<EnqueueResult>>> RedisBroker::enqueue(Context ctx,
                                                              std::vector<JobSpec> specs) {
  for (JobSpec& spec : specs)  // a traced caller's span is the jobs' parent (job_trace.hpp)
    carry_trace(ctx, spec, options_.limits.max_headers);
  for (const JobSpec& spec : specs)
    if (std::string why = check_job_spec(spec, options_.limits); !why.empty())
      co_return Error(make_error_code(errc::invalid_job), std::move(why));
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
    Strings keys{k + "unique", k + "counts", k + "all", k + "delayed"};
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
    for (std::size_t j = 0; j < index.size(); ++j)
      out[index[j]] = {to_i64((*r)[2 * j].str()), (*r)[2 * j + 1].integer() == 1};
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
  auto r =
      co_await m.eval(ctx, scripts().requeue,
                      strs(k + "job:" + sid, k + "audit:" + sid, k + "counts", k + "unique",
                           k + "pending:" + (*f)[0][0], k + "finished", k + "dead", k + "dead_at"),
                      strs(sid, std::string(actor_of(ctx))), "requeue");
  if (!r) co_return r.error();
  if (r->integer() == -1) co_return make_error_code(errc::not_found);
  if (r->integer() < 0) co_return make_error_code(errc::invalid_state);
  co_return Result<void>{};
}

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
    auto r = co_await m.command(ctx, k, strs("HGETALL", k + "counts"), "queue counts");
    if (!r) co_return r.error();
    QueueStats q{queue, {}};
    for (std::size_t i = 0; i + 1 < r->size(); i += 2) {
      const std::string& field = (*r)[i].str();
      const std::int64_t n = to_i64((*r)[i + 1].str());
      if (field == "audit" || n == 0) continue;  // the audit row count, not a state
      q.counts[static_cast<JobState>(to_i64(field))] = n;
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
    Strings keys{k + "counts", k + "active"};
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
    for (const Reply& id : r->elements())
      out.push_back(to_i64(id.str()));
  }
  co_return out;
}

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
      if ((*f)[i][0].empty() || to_i64((*f)[i][2]) >= now) continue;
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
    rows.emplace_back(queue, to_i64(n->str()));
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
      std::string error;
      if (!job_spec_from_json(j.at("spec"), e.spec, error))
        throw std::runtime_error("periodic " + e.name + ": " + error);
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
  co_return std::optional<LeaseGrant>{
      LeaseGrant{to_i64((*r)[1].str()), from_unix_ms(to_i64((*r)[2].str()))}};
}

Task<Result<bool>> RedisBroker::release_lease(Context ctx, std::string name, std::string holder,
                                              std::int64_t token) {
  Impl& m = *impl_;
  auto r = co_await m.eval(ctx, scripts().release_lease, strs(m.meta + "lease:" + name),
                           strs(std::move(holder), num(token)), "release lease");
  if (!r) co_return r.error();
  co_return r->integer() == 1;
}

// --- nodes -----------------------------------------------------------------------------

Task<Result<void>> RedisBroker::watch(Context ctx, BrokerEvents events) {
  auto url = redis::RedisUrl::parse(options_.url);
  if (!url) co_return make_error_code(errc::invalid_job);
  const std::string cancel_channel = impl_->cancel_channel();
  const std::string work_channel = options_.prefix + ":work";
  // The subscriber heals itself once connected; until the first connection, retry.
  std::optional<redis::Subscriber> sub;
  while (!sub) {
    auto s = co_await redis::Subscriber::connect(ctx, *url);
    if (s) {
      sub.emplace(std::move(*s));
      break;
    }
    auto slept = co_await sleep_for(ctx, std::chrono::seconds(1));
    if (!slept) co_return Result<void>{};
  }
  auto subscribed = co_await sub->subscribe(ctx, strs(cancel_channel, work_channel));
  while (!ctx.is_done()) {
    if (!subscribed) {
      // Not subscribed yet (Redis away at the start): try again shortly.
      auto slept = co_await sleep_for(ctx, std::chrono::milliseconds(200));
      if (!slept) break;
      subscribed = co_await sub->subscribe(ctx, strs(cancel_channel, work_channel));
      continue;
    }
    auto msg = co_await sub->next(ctx);
    if (!msg) {
      // The subscriber reconnects and resubscribes by itself; do not spin meanwhile.
      auto slept = co_await sleep_for(ctx, std::chrono::milliseconds(50));
      if (!slept) break;
      continue;
    }
    if (msg->channel == work_channel) {
      if (!msg->payload.empty()) impl_->note_queue(msg->payload);
      if (events.work_pending) events.work_pending();
      continue;
    }
    // "<job id> <node>"
    const JobId id = to_i64(msg->payload.substr(0, msg->payload.find(' ')));
    if (id > 0 && events.cancel_requested) events.cancel_requested(id);
  }
  co_await sub->closed();
  co_return Result<void>{};
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
      keys.push_back(k + "job:" + id.str());
      args.push_back(id.str());
      args.push_back(mine.count(to_i64(id.str())) ? "1" : "0");
    }
    auto r = co_await m.eval(ctx, scripts().extend, std::move(keys), std::move(args), "extend");
    if (!r) co_return r.error();
    for (const Reply& id : r->elements())
      reply.cancel_requested.push_back(to_i64(id.str()));
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
    auto r = co_await m.batch(ctx, k, std::move(cmds), "claim candidates");
    if (!r) co_return r.error();
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
    for (std::size_t t = 1; t < r->size(); ++t) {
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
  std::vector<Completion> unreadable;  // taken jobs whose specs do not parse
  for (const auto& [queue, list] : by_queue) {
    const std::string k = m.qkey(queue);
    Strings keys =
        strs(k + "counts", k + "active", k + "node:" + req.node, k + "leased:" + req.node);
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
    // kClaim's answer: lease end, time, then six items per job.
    if (r->size() < 2 || (r->size() - 2) % 6 != 0)
      co_return m.fail("claim: unexpected answer from the script");
    const auto lease_until = from_unix_ms(to_i64((*r)[0].str()));
    const auto now = from_unix_ms(to_i64((*r)[1].str()));
    for (std::size_t i = 2; i + 5 < r->size(); i += 6) {
      Job j;
      j.id = to_i64((*r)[i].str());
      std::string error;
      const json spec = json::parse((*r)[i + 5].str(), nullptr, false);
      j.attempt = static_cast<int>(to_i64((*r)[i + 1].str()));
      if (!job_spec_from_json(spec, j.spec, error)) {
        // It can never run: it fails alone (below), its neighbours run.
        Completion c;
        c.id = j.id;
        c.node = req.node;
        c.attempt = j.attempt;
        c.outcome = Outcome::kPermanent;
        c.error = "the job's spec does not parse: " + error;
        unreadable.push_back(std::move(c));
        continue;
      }
      j.state = JobState::kRunning;
      j.node = req.node;
      j.last_error = (*r)[i + 2].str();
      j.created_at = from_unix_ms(to_i64((*r)[i + 3].str()));
      j.updated_at = now;
      j.ready_at = from_unix_ms(to_i64((*r)[i + 4].str()));
      j.lease_until = lease_until;
      out.push_back(std::move(j));
    }
  }
  // Jobs whose specs do not parse, taken above (their attempts count), fail now, with
  // the parser's message as their error. Not in the claim's script, which cannot read
  // a spec as the C++ does; if this call fails, their leases expire and they come back
  // until their attempts run out.
  if (!unreadable.empty()) {
    auto failed = co_await complete(ctx, std::move(unreadable));
    (void)failed;
  }
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
