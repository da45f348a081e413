// Center: routing rounds and time keeping (center.hpp).
#include "orca/jobs/center.hpp"
#include "process_name.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>

#include "orca/context/context.hpp"
#include "orca/jobs/live.hpp"
#include "orca/jobs/schedule.hpp"
#include "orca/runtime/sleep.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/sync/select.hpp"
#include "orca/trace/log.hpp"
#include "orca/trace/tracer.hpp"

namespace orca::jobs {

std::size_t LeastLoadPolicy::choose(const Job&, const std::vector<NodeInfo>& candidates) {
  // Compare active/capacity ratios exactly: a.active * b.capacity vs b.active * a.capacity.
  auto less_loaded = [](const NodeInfo& a, const NodeInfo& b) {
    return static_cast<std::int64_t>(a.active) * b.capacity <
           static_cast<std::int64_t>(b.active) * a.capacity;
  };
  std::vector<std::size_t> best;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (best.empty() || less_loaded(candidates[i], candidates[best.front()])) {
      best.assign(1, i);
    } else if (!less_loaded(candidates[best.front()], candidates[i])) {
      best.push_back(i);
    }
  }
  // Ties: the first tied node after the last one chosen, in id order (candidates come
  // sorted by id), wrapping around: a round robin that survives changes in the set.
  std::sort(best.begin(), best.end(),
            [&](std::size_t a, std::size_t b) { return candidates[a].id < candidates[b].id; });
  std::size_t pick = best.front();
  for (std::size_t i : best)
    if (candidates[i].id > last_) {
      pick = i;
      break;
    }
  last_ = candidates[pick].id;
  return pick;
}

namespace {

// An assign, once sent, is waited for up to this even when the center stops meanwhile
// (dispatch_round).
constexpr auto kAssignAnswerWait = std::chrono::seconds(10);

std::string default_center_id() {
  return detail::process_name(6);
}

// The longest pause between two successful calls that still counts as continuous
// reach (see maintenance_loop).
Clock::duration max_gap(const CenterOptions& o) {
  return std::max<Clock::duration>(o.node_timeout / 2, 2 * o.tick);
}

}  // namespace

Center::Center(Broker& broker, CenterOptions options)
    : broker_(broker),
      options_(std::move(options)),
      window_(options_.node_timeout, max_gap(options_)) {
  if (!options_.policy) options_.policy = std::make_shared<LeastLoadPolicy>();
  if (options_.tick.count() <= 0) throw std::invalid_argument("center tick must be positive");
  if (options_.node_timeout.count() <= 0)
    throw std::invalid_argument("center node timeout must be positive");
  if (options_.leader_ttl.count() < 0)
    throw std::invalid_argument("center leader ttl must not be negative");
  if (options_.leader_ttl.count() == 0) options_.leader_ttl = options_.node_timeout;
  if (options_.leader_lease.empty())
    options_.leader_lease = options_.policy->routes() ? "center" : "timekeeper";
  if (options_.id.empty()) options_.id = default_center_id();
}

bool Center::leading() const {
  std::lock_guard lock(mu_);
  return token_ != 0 && Clock::now() < lead_until_;
}

std::int64_t Center::leader_token() const {
  std::lock_guard lock(mu_);
  return token_ != 0 && Clock::now() < lead_until_ ? token_ : 0;
}

void Center::log_line(const std::string& text) const {
  if (options_.log_leadership)
    trace::log(trace::LogLevel::kInfo,
               std::string("orca: center ").append(options_.id).append(": ").append(text));
}

// A done context is the caller's, not an outage.
void Center::seen(const Context& ctx, const Error& e) {
  const auto now = Clock::now();
  std::optional<std::string> line;
  if (!e) {
    std::lock_guard lock(mu_);
    window_.reached(now);
    line = outage_.reached(now);
  } else {
    if (ctx.is_done()) return;
    // The broker's own words ("heartbeat: connection lost") when it has them.
    const std::string why = e.detail().empty() ? e.message() : std::string(e.detail());
    std::lock_guard lock(mu_);
    window_.lost();
    line = outage_.failed(now, why);
  }
  if (line) trace::log(trace::LogLevel::kWarn, *line);
}

void Center::attach(Node& node) {
  local_.push_back(&node);
  node.on_slot_free([this] { notify(); });
  node.before_leaving([this] { return rounds_done(); });
}

Task<void> Center::rounds_done() {
  co_await rounds_.wait();
}

// A round is counted from before it reads which local nodes take work: a node that
// stops taking work and then waits for rounds_ sees every round that may have
// started jobs for it.
Task<void> Center::dispatch_round_counted(Context ctx) {
  rounds_.add(1);
  co_await dispatch_round(std::move(ctx));
  rounds_.done();
}

void Center::notify() noexcept {
  (void)wakeups_.try_send(std::monostate{});
}

namespace {

// The producer span of a submit made within a trace (an API request's): the jobs carry
// its context (job_trace.hpp), so their attempts are its children, and the trace
// shows request -> enqueue -> attempts. Outside a trace, none: a submit does not
// start a trace of its own.
trace::Span enqueue_span(const Context& ctx, const std::string& queue, std::size_t jobs) {
  const trace::SpanContext* parent = trace::span_context_of(ctx);
  if (parent == nullptr || !parent->valid()) return trace::Span();
  trace::Span span = trace::start_span(ctx, "enqueue", trace::SpanKind::kProducer);
  if (span.recording()) {
    span.set_attribute("orca.job.queue", queue);
    span.set_attribute("orca.jobs", static_cast<std::int64_t>(jobs));
  }
  return span;
}

}  // namespace

Task<Result<EnqueueResult>> Center::submit(Context ctx, JobSpec spec) {
  // Only the labels are kept across the call: a payload may be large.
  const bool labelled = options_.metrics != nullptr || options_.live != nullptr;
  const std::string queue = labelled ? spec.queue : std::string();
  const std::string type = labelled ? spec.type : std::string();
  const bool delayed = spec.run_at && *spec.run_at > WallClock::now();
  trace::Span span = enqueue_span(ctx, spec.queue, 1);
  Context traced = span.context().valid() ? trace::with_span(ctx, span) : ctx;
  auto r = co_await broker_.enqueue_one(std::move(traced), std::move(spec));
  if (!r) span.set_error(r.error().message());
  span.end();
  if (r) notify();
  if (r && !r->duplicate && options_.metrics != nullptr) options_.metrics->enqueued(queue, type);
  if (r && !r->duplicate && options_.live != nullptr)
    options_.live->job_event(r->id, delayed ? JobState::kScheduled : JobState::kPending, queue,
                             type);
  co_return r;
}

Task<Result<std::vector<EnqueueResult>>> Center::submit_batch(Context ctx,
                                                              std::vector<JobSpec> specs) {
  std::vector<std::pair<std::string, std::string>> labels;  // not the payloads
  std::vector<bool> delayed;
  if (options_.metrics != nullptr || options_.live != nullptr)
    for (const JobSpec& s : specs) {
      labels.emplace_back(s.queue, s.type);
      delayed.push_back(s.run_at && *s.run_at > WallClock::now());
    }
  const std::string first_queue = specs.empty() ? std::string() : specs.front().queue;
  trace::Span span = enqueue_span(ctx, first_queue, specs.size());
  Context traced = span.context().valid() ? trace::with_span(ctx, span) : ctx;
  auto r = co_await broker_.enqueue(std::move(traced), std::move(specs));
  if (!r) span.set_error(r.error().message());
  span.end();
  if (r) notify();
  if (r)
    for (std::size_t i = 0; i < r->size() && i < labels.size(); ++i) {
      if ((*r)[i].duplicate) continue;
      if (options_.metrics != nullptr)
        options_.metrics->enqueued(labels[i].first, labels[i].second);
      if (options_.live != nullptr)
        options_.live->job_event((*r)[i].id, delayed[i] ? JobState::kScheduled : JobState::kPending,
                                 labels[i].first, labels[i].second);
    }
  co_return r;
}

Task<Result<JobState>> Center::cancel(Context ctx, JobId id) {
  auto r = co_await broker_.cancel(ctx, id);
  // Only a job that ended cancelled: a running one ends when its node stops it.
  if (r && *r == JobState::kCancelled && options_.live != nullptr) {
    auto job = co_await broker_.get(ctx, id);  // the labels
    if (job) options_.live->job_event(id, JobState::kCancelled, job->spec.queue, job->spec.type);
  }
  if (r && *r == JobState::kRunning)
    for (Node* node : local_)
      if (node->cancel_local(id)) break;
  co_return r;
}

Task<Result<void>> Center::add_periodic(Context ctx, std::string name, std::string schedule,
                                        JobSpec spec) {
  auto parsed = Schedule::parse(schedule);
  if (!parsed) co_return parsed.error();
  PeriodicEntry e;
  e.name = std::move(name);
  e.schedule = std::move(schedule);
  e.spec = std::move(spec);
  e.next_run = parsed->next_after(WallClock::now());
  co_return co_await broker_.put_periodic(std::move(ctx), std::move(e));
}

Task<Result<void>> Center::run(Context ctx) {
  auto lead = spawn([this, ctx] { return leadership_loop(ctx); });
  auto upkeep = spawn([this, ctx] { return maintenance_loop(ctx); });
  while (!ctx.is_done()) {
    if (options_.policy->routes() && leading()) co_await dispatch_round_counted(ctx);
    auto woke = co_await select(ctx, recv(wakeups_), after(options_.tick));
    (void)woke;
  }
  co_await std::move(upkeep);
  co_await std::move(lead);
  // Protocol step 4: every duty has stopped; hand the lease on at once.
  std::int64_t token = 0;
  {
    std::lock_guard lock(mu_);
    token = token_;
    token_ = 0;
  }
  if (token != 0) {
    auto [bye, stop_bye] = with_timeout(background(), std::chrono::seconds(2));
    auto released = co_await broker_.release_lease(bye, options_.leader_lease, options_.id, token);
    stop_bye();
    if (released && *released) log_line("released the lead (token " + std::to_string(token) + ")");
  }
  co_return Result<void>{};
}

// The leadership protocol (center.hpp), steps 1 to 3, once a tick.
Task<void> Center::leadership_loop(Context ctx) {
  const auto ttl = std::chrono::duration_cast<Clock::duration>(options_.leader_ttl);
  // Asked every tick, or more often if the ttl is short for the tick: a renewal due at
  // ttl/3 then comes at ttl/3 + ttl/4 at the latest, before the tenure ends at 3/4.
  const auto period = std::min<Clock::duration>(options_.tick, ttl / 4);
  Clock::time_point renew_at{};
  for (;;) {
    const auto sent = Clock::now();
    std::int64_t held = 0;
    {
      std::lock_guard lock(mu_);
      held = token_;
    }
    if (held == 0 || sent >= renew_at) {
      auto asked = co_await broker_.acquire_lease(ctx, options_.leader_lease, options_.id,
                                                  options_.leader_ttl);
      if (ctx.is_done()) co_return;
      seen(ctx, asked.error());
      if (asked && *asked) {
        const std::int64_t token = (*asked)->token;
        {
          std::lock_guard lock(mu_);
          token_ = token;
          lead_until_ = sent + ttl * 3 / 4;
        }
        renew_at = sent + ttl / 3;
        if (token != held) {
          if (held != 0) log_line("lost the lead (token " + std::to_string(held) + ")");
          log_line("became the leader (token " + std::to_string(token) + ")");
          notify();  // route now, not at the next tick
        }
      } else if (asked && held != 0) {
        {
          std::lock_guard lock(mu_);
          token_ = 0;
        }
        log_line("lost the lead (token " + std::to_string(held) + "): another center holds it");
      }
    }
    // Not renewed in time (the broker unreachable, or this process stalled): the
    // duties have already stopped by leading(); say so once.
    if (held != 0) {
      bool expired = false;
      {
        std::lock_guard lock(mu_);
        expired = token_ == held && Clock::now() >= lead_until_;
        if (expired) token_ = 0;
      }
      if (expired)
        log_line("lost the lead (token " + std::to_string(held) + "): not renewed in time");
    }
    auto slept = co_await sleep_for(ctx, period);
    if (!slept) co_return;
  }
}

// One routing round:
//   1. live nodes with free slots (capacity minus jobs leased or running on them);
//   2. up to that many pending jobs of the types those nodes handle and do not hold
//      back (broker.hpp, kBreakerOpenTag), queues by weight;
//   3. for each job, the policy picks among the nodes that handle its type, do not
//      hold it back and still have a slot; the pick's active count rises at once, so later picks
//      see it;
//   4. one conditional assign (jobs taken by another center meanwhile are skipped),
//      then the in-process nodes that got work are told.
Task<void> Center::dispatch_round(Context ctx) {
  for (int rounds = 0; rounds < 64 && !ctx.is_done() && leading(); ++rounds) {
    auto listed = co_await broker_.nodes(ctx);
    if (!listed) co_return;
    std::vector<NodeInfo> nodes;
    std::set<std::string> types;
    std::size_t free = 0;
    // window: how many jobs a node may hold, leased or running (see assign_ahead).
    auto local_node = [&](const std::string& id) -> Node* {
      for (Node* node : local_)
        if (node->id() == id && node->accepting()) return node;
      return nullptr;
    };
    // A local node is handed its jobs already started, so it never needs more than
    // its free slots; remote nodes get assign_ahead more, leased, to claim.
    auto window = [&](const NodeInfo& n) {
      if (local_node(n.id) != nullptr) return n.capacity;
      return n.capacity + static_cast<int>(n.capacity * std::max(0.0, options_.assign_ahead));
    };
    for (NodeInfo& n : *listed) {
      // A local node's handlers are counted in memory: the store still counts jobs
      // whose handlers returned but whose acks are not yet committed.
      // Its capacity too: an adaptive limit moves between its registrations.
      if (Node* local = local_node(n.id)) {
        n.active = local->running();
        n.capacity = local->capacity();
      }
      if (n.state != NodeState::kAlive || n.active >= window(n)) continue;
      free += static_cast<std::size_t>(window(n) - n.active);
      // A type the node holds back (its breaker is open: kBreakerOpenTag) is not
      // peeked for it, so held jobs do not crowd out those it takes.
      for (const std::string& t : n.types)
        if (!holds_back(n, t)) types.insert(t);
      nodes.push_back(std::move(n));
    }
    if (free == 0) co_return;
    PeekRequest peek;
    peek.types.assign(types.begin(), types.end());
    peek.limit = std::min(free, options_.dispatch_batch);
    peek.weights = options_.weights;
    auto pending = co_await broker_.peek_pending(ctx, std::move(peek));
    if (!pending || pending->empty()) co_return;

    std::vector<Assignment> assignments;
    std::vector<NodeInfo> candidates;
    for (const Job& job : *pending) {
      candidates.clear();
      std::vector<std::size_t> index;
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const NodeInfo& n = nodes[i];
        if (n.active >= window(n)) continue;
        if (std::find(n.types.begin(), n.types.end(), job.spec.type) == n.types.end()) continue;
        if (holds_back(n, job.spec.type)) continue;
        candidates.push_back(n);
        index.push_back(i);
      }
      if (candidates.empty()) continue;
      const std::size_t pick = options_.policy->choose(job, candidates);
      NodeInfo& chosen = nodes[index[std::min(pick, index.size() - 1)]];
      ++chosen.active;
      // A job started for a local node is under the lease that node holds its queue's
      // jobs by (its heartbeats extend it by that); one leased to a remote node, not
      // yet started, under the center's until that node claims it.
      Node* local = local_node(chosen.id);
      assignments.push_back(
          {job.id, job.attempt, chosen.id, local != nullptr,
           local ? local->leases().of(job.spec.queue) : std::chrono::milliseconds(0)});
    }
    if (assignments.empty()) co_return;
    const std::size_t wanted = assignments.size();
    // The jobs to hand to local nodes, as peeked; they become running on success.
    std::map<JobId, std::pair<const Assignment*, Job*>> local;
    for (std::size_t i = 0, j = 0; i < assignments.size(); ++i) {
      if (!assignments[i].start) continue;
      while ((*pending)[j].id != assignments[i].id)
        ++j;
      local.emplace(assignments[i].id, std::pair{&assignments[i], &(*pending)[j]});
    }
    const auto now = WallClock::now();
    if (!leading()) co_return;  // the lead ran out while this round read the broker
    // Not under ctx: an assign the broker carried out has started jobs for the local
    // nodes, and a shutdown that dropped the answer would never hand them over (they
    // would be reclaimed with their attempt counted once the node left).
    auto [assign_ctx, end_assign] = with_timeout(background(), kAssignAnswerWait);
    auto assigned = co_await broker_.assign(assign_ctx, assignments, options_.lease);
    end_assign();
    if (!assigned) co_return;
    if (options_.live != nullptr) {
      std::map<JobId, const Job*> peeked;
      for (const Job& job : *pending)
        peeked.emplace(job.id, &job);
      for (JobId id : *assigned)
        if (auto it = peeked.find(id); it != peeked.end())
          options_.live->job_event(id, local.count(id) ? JobState::kRunning : JobState::kLeased,
                                   it->second->spec.queue, it->second->spec.type);
    }
    std::map<std::string, std::vector<Job>> started;
    for (JobId id : *assigned) {
      auto it = local.find(id);
      if (it == local.end()) continue;  // leased to a remote node: it claims it
      const auto& [a, job] = it->second;
      job->state = JobState::kRunning;
      job->attempt = a->attempt + 1;
      job->node = a->node;
      job->updated_at = now;
      job->lease_until = now + (a->lease.count() > 0 ? a->lease : options_.lease);
      started[a->node].push_back(std::move(*job));
    }
    // Every node that got jobs is handed them, also one that stopped taking work
    // meanwhile: it hands them back at once instead of leaving them to their leases.
    for (auto& [id, jobs] : started)
      for (Node* node : local_)
        if (node->id() == id) {
          co_await node->start(std::move(jobs));
          break;
        }
    // A full batch suggests more work and more room: go again at once.
    if (pending->size() < options_.dispatch_batch || assigned->size() < wanted) co_return;
  }
}

Task<Result<void>> Center::fire_periodic(Context ctx) {
  auto entries = co_await broker_.periodic(ctx);
  if (!entries) co_return entries.error();
  const auto now = WallClock::now();
  for (PeriodicEntry& e : *entries) {
    if (e.next_run > now) continue;
    if (!leading()) break;
    auto schedule = Schedule::parse(e.schedule);
    if (!schedule) continue;  // put_periodic refuses those; a foreign writer may not
    // Skip missed runs (as a ticker does): the next run is the first after now.
    auto fired = co_await broker_.fire_periodic(ctx, e.name, e.next_run, schedule->next_after(now));
    if (!fired) co_return fired.error();
    if (*fired) notify();
    if (*fired && options_.metrics != nullptr)
      options_.metrics->enqueued(e.spec.queue, e.spec.type);
  }
  co_return Result<void>{};
}

// Time keeping, every tick, by the leader only (each step checks the lead first):
//   1. promote due jobs;
//   2. reap (nodes without a heartbeat for node_timeout are dead, expired leases are
//      reclaimed), but only while the broker is trusted: this center has reached it
//      for node_timeout without a failed call or a pause (detail::ConnectivityWindow).
//      While the broker is away no node can heartbeat, so the silence it leaves
//      behind is the broker's, not the nodes'; once it is back, a live node beats
//      again within its interval (and names its jobs, extending their leases) before
//      the window has passed. A node really gone stays silent through the window and
//      is reaped at its end. A standby's lease requests feed the window too, so a
//      center that has just taken the lead over a reachable broker may reap at once;
//   3. fire due periodic jobs, and trim every trim_interval.
// A pause of more than half the node timeout between two successful calls restarts
// the window as a failure does. The calls follow each other every tick; a longer
// pause means this center saw nothing of the broker for a while (its process was
// stopped, or a call was held up while a connection came back) and an outage may
// hide in it. Half the timeout bounds what a pause can hide to less than the
// timeout, so a node that was cut off then still has time for a beat (interval
// under a third of the timeout by default) before it is judged. Never less than two
// ticks, though: calls a tick apart, plus their own time, must count as continuous,
// or a center with a long tick would never judge.
Task<void> Center::maintenance_loop(Context ctx) {
  for (;;) {
    Result<std::size_t> promoted = std::size_t{0};
    if (leading()) {
      promoted = co_await broker_.promote_due(ctx);
      seen(ctx, promoted.error());
    }
    Result<std::size_t> reaped = std::size_t{0};
    bool trusted = false;
    {
      std::lock_guard lock(mu_);
      trusted = window_.trusted(Clock::now());
    }
    if (trusted && leading()) {
      reaped = co_await broker_.reap(ctx, options_.node_timeout);
      seen(ctx, reaped.error());
    }
    if (leading()) {
      auto fired = co_await fire_periodic(ctx);
      seen(ctx, fired.error());
    }
    if ((promoted && *promoted > 0) || (reaped && *reaped > 0)) {
      notify();
      for (Node* node : local_)
        node->notify();  // pull-mode nodes claim on their own
    }
    const auto now = Clock::now();
    if (now - last_trim_ >= options_.trim_interval && leading()) {
      last_trim_ = now;
      auto trimmed = co_await broker_.trim(ctx, options_.retention);
      seen(ctx, trimmed.error());
    }
    auto slept = co_await sleep_for(ctx, options_.tick);
    if (!slept) co_return;
  }
}

}  // namespace orca::jobs
