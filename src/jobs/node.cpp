// Node: claiming, running and completing jobs; heartbeats; graceful shutdown
// (protocol in node.hpp).
#include "orca/jobs/node.hpp"
#include "process_name.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <tuple>

#include "orca/context/context.hpp"
#include "orca/jobs/job_trace.hpp"
#include "orca/resilience/errors.hpp"
#include "orca/runtime/sleep.hpp"
#include "orca/runtime/spawn.hpp"
#include "orca/sync/select.hpp"
#include "orca/trace/log.hpp"

namespace orca::jobs {

namespace {

std::string default_node_id() {
  return detail::process_name(4);
}

double random01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// Acknowledgements and deregistration must not be lost to a transient failure (the
// database locked by another process, Redis restarting): retried with backoff, from
// 50 ms (a lock held by another process's transaction) up to a second, so that a
// broker that comes back after a long outage has the acks within a second.
constexpr auto kCompletionPause = std::chrono::milliseconds(50);
constexpr auto kCompletionMaxPause = std::chrono::milliseconds(1000);

// A job waiting for a rate-limited queue's unit asks its limiter again after this
// when the limiter failed (Redis unreachable): often enough to start soon after the
// store is back, rarely enough to cost nothing meanwhile.
constexpr auto kLimiterRetry = std::chrono::milliseconds(100);
// Units not used by a claim go back within this, or are lost for their period (the
// limit errs on the strict side); a store that is away fails at once anyway.
constexpr auto kGiveBackTimeout = std::chrono::seconds(1);
// A claim, once sent, is waited for up to this even when shutdown begins meanwhile
// (claim_once): long enough for a loaded store, short enough not to hold a shutdown
// when the store hangs.
constexpr auto kClaimAnswerWait = std::chrono::seconds(10);
// Queues remembered per held type for the "breaker-held:" tags: a registration's
// size stays bounded whatever the queues.
constexpr std::size_t kHeldQueuesPerType = 8;

// The prefixes of the tags nodes keep for themselves (broker.hpp).
constexpr std::string_view kReservedTags[] = {kBreakerOpenTag, kBreakerHeldTag, kFleetRateTag,
                                              kNodeRateTag, kThrottledTag};

// "30s", "0.25s": an open period in a log line.
std::string seconds(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", std::chrono::duration<double>(d).count());
  return buf;
}

std::string job_list(const std::vector<Completion>& batch) {
  std::string out;
  for (const Completion& c : batch)
    out += (out.empty() ? "" : ", ") + std::to_string(c.id);
  return out;
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kSucceeded:
      return "succeeded";
    case Outcome::kRetryable:
      return "failed (retryable)";
    case Outcome::kPermanent:
      return "failed (permanent)";
    case Outcome::kCancelled:
      return "cancelled";
    case Outcome::kHandBack:
      return "handed back";
  }
  return "ended";
}

// A line about this node (no job, no trace).
trace::LogFields node_fields(std::string_view node) {
  trace::LogFields f;
  f.node = node;
  return f;
}

// A job's state change as the node sees it, at debug level (log.hpp: nothing per job
// at the default level). `span` supplies the trace id when the job has no own.
void log_job(const Job& job, const std::string& node, const trace::Span& span, std::string what) {
  if (!trace::log_enabled(trace::LogLevel::kDebug)) return;
  std::string trace_id = job.spec.trace_id;
  if (trace_id.empty() && span.context().valid()) trace_id = span.context().trace_id.hex();
  std::string line = "orca: node ";
  line.append(node)
      .append(": job ")
      .append(std::to_string(job.id))
      .append(" (")
      .append(job.spec.type)
      .append(") attempt ")
      .append(std::to_string(job.attempt))
      .append(" ")
      .append(what);
  trace::log(trace::LogLevel::kDebug, line, nullptr,
             {.job_id = job.id, .node = node, .trace_id = trace_id});
}

}  // namespace

Node::Node(Broker& broker, NodeOptions options)
    : broker_(broker),
      options_(std::move(options)),
      leases_(options_.lease, options_.queue_leases) {
  if (options_.concurrency < 1) throw std::invalid_argument("node concurrency must be at least 1");
  if (options_.claimers < 1) throw std::invalid_argument("node claimers must be at least 1");
  if (options_.heartbeat_interval.count() <= 0)
    throw std::invalid_argument("node heartbeat interval must be positive");
  if (options_.lease <= options_.heartbeat_interval)
    throw std::invalid_argument("node lease must be longer than its heartbeat interval");
  for (const auto& [queue, lease] : options_.queue_leases)
    if (lease <= options_.heartbeat_interval)
      throw std::invalid_argument("lease of queue " + queue +
                                  " must be longer than the node's heartbeat interval");
  if (options_.poll_interval.count() <= 0)
    throw std::invalid_argument("node poll interval must be positive");
  for (const std::string& tag : options_.tags)
    for (std::string_view reserved : kReservedTags)
      if (tag.starts_with(reserved))
        throw std::invalid_argument("node tag " + tag + " uses the prefix " +
                                    std::string(reserved) +
                                    ", which nodes keep for their breakers and rate limits");
  if (options_.breaker_enabled) {
    const std::string why = resilience::validate(options_.breaker);
    if (!why.empty()) throw std::invalid_argument("node breaker: " + why);
  }
  for (const auto& [queue, rate] : options_.queue_rates) {
    if (queue.empty()) throw std::invalid_argument("node rate limit: the queue name is empty");
    const std::string why = resilience::validate(rate);
    if (!why.empty()) throw std::invalid_argument("node rate limit of queue " + queue + ": " + why);
    auto limit = std::make_unique<QueueLimit>();
    limit->rate = resilience::format_rate(rate);
    limit->interval =
        std::chrono::nanoseconds(std::llround(static_cast<double>(rate.per.count()) / rate.events));
    // A rate on a clock of its own (a test's) stays in the process: the store's clock
    // cannot follow it.
    if (rate.clock == nullptr) {
      try {
        limit->limiter = broker_.shared_rate_limiter(rate);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("node rate limit of queue " + queue + ": " + e.what());
      }
    }
    limit->fleet = limit->limiter != nullptr;
    if (!limit->fleet) limit->limiter = std::make_unique<resilience::RateLimiter>(rate);
    queue_limits_.emplace(queue, std::move(limit));
  }
  if (options_.id.empty()) options_.id = default_node_id();
  if (options_.adaptive_concurrency) {
    const std::string why = resilience::validate(options_.adaptive);
    if (!why.empty()) throw std::invalid_argument("node concurrency auto: " + why);
    resilience::AdaptiveLimiterOptions o = options_.adaptive;
    o.name = options_.id;
    adaptive_ = std::make_unique<resilience::AdaptiveLimiter>(std::move(o));
  }
  outage_ = detail::OutageLog("node " + options_.id);
  std::tie(grace_parent_, end_grace_) = with_cancel(background());
}

void Node::note_broker(const Error& e) {
  const auto now = Clock::now();
  std::optional<std::string> line;
  if (!e) {
    std::lock_guard lock(mu_);
    line = outage_.reached(now);
  } else {
    // The broker's own words ("heartbeat: connection lost") when it has them.
    const std::string why = e.detail().empty() ? e.message() : std::string(e.detail());
    std::lock_guard lock(mu_);
    line = outage_.failed(now, why);
  }
  if (line) trace::log(trace::LogLevel::kWarn, *line, nullptr, node_fields(options_.id));
}

void Node::handle(std::string type, Handler handler) {
  if (options_.breaker_enabled && !breakers_.count(type)) {
    resilience::CircuitBreakerOptions o = options_.breaker;
    o.name = type;
    o.on_state_change = [this](const resilience::StateChange& change) {
      on_breaker_change(change);
    };
    breakers_.emplace(type, std::make_unique<resilience::CircuitBreaker>(std::move(o)));
  }
  handlers_[std::move(type)] = std::move(handler);
}

resilience::CircuitBreaker* Node::breaker_of(const std::string& type) const {
  auto it = breakers_.find(type);
  return it == breakers_.end() ? nullptr : it->second.get();
}

void Node::on_breaker_change(const resilience::StateChange& change) {
  using resilience::BreakerState;
  const resilience::WindowTotals& w = change.window;
  // Built by append: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
  std::string what;
  switch (change.to) {
    case BreakerState::kOpen: {
      char rate[32];
      std::snprintf(rate, sizeof rate, "%.1f%%", w.failure_rate());
      what.append(change.from == BreakerState::kHalfOpen ? "opened again: " : "opened: ");
      what.append(std::to_string(w.failures)).append(" of ").append(std::to_string(w.calls));
      if (change.from == BreakerState::kHalfOpen)
        what.append(" probes failed");
      else
        what.append(" calls failed (").append(rate).append(")");
      what.append("; its jobs wait pending for ").append(seconds(options_.breaker.open_duration));
      break;
    }
    case BreakerState::kHalfOpen:
      what.append("half-open: probing with ")
          .append(std::to_string(options_.breaker.half_open_probes))
          .append(" jobs");
      break;
    case BreakerState::kClosed:
      what.append("closed");
      if (change.from == BreakerState::kHalfOpen)
        what.append(": ")
            .append(std::to_string(w.calls - w.failures))
            .append(" of ")
            .append(std::to_string(w.calls))
            .append(" probes succeeded");
      what.append("; taking its jobs again");
      break;
  }
  std::string line = "orca: node ";
  line.append(options_.id).append(": breaker for job type ").append(*change.name);
  line.append(" ").append(what);
  trace::log(trace::LogLevel::kWarn, line, nullptr, node_fields(options_.id));
  registration_stale_.store(true);
  (void)beat_now_.try_send(std::monostate{});  // full: a wake-up is pending
  if (options_.breaker.on_state_change) options_.breaker.on_state_change(change);
}

std::vector<TypeBreakerStatus> Node::breakers() const {
  std::vector<TypeBreakerStatus> out;
  for (const auto& [type, breaker] : breakers_) {
    const resilience::CircuitBreakerMetrics m = breaker->metrics();
    out.push_back({type, m.state, m.window, m.rejected, m.state_changes});
  }
  return out;
}

std::vector<std::string> Node::held_types() const {
  std::vector<std::string> out;
  for (const auto& [type, breaker] : breakers_)
    if (breaker->state() != resilience::BreakerState::kClosed) out.push_back(type);
  return out;
}

bool Node::fleet_limited(const std::string& queue) const {
  auto it = queue_limits_.find(queue);
  return it != queue_limits_.end() && it->second->fleet;
}

std::vector<std::string> Node::throttled_queues() const {
  std::vector<std::string> out;
  for (const auto& [queue, limit] : queue_limits_)
    if (limit->throttled.load(std::memory_order_relaxed)) out.push_back(queue);
  return out;
}

void Node::note_throttled(QueueLimit& limit, bool throttled) {
  if (limit.throttled.exchange(throttled, std::memory_order_relaxed) != throttled)
    registration_stale_.store(true);  // the next heartbeat registers the new tags
}

Task<Result<void>> Node::wait_for_unit(Context ctx, QueueLimit& limit, const std::string& queue) {
  auto turn = co_await limit.waiting.lock(ctx);
  if (!turn) co_return turn.error();
  for (bool first = true;; first = false) {
    auto grant = co_await limit.limiter->take_up_to(ctx, queue, 1);
    if (grant && grant->granted > 0) {
      if (first) note_throttled(limit, false);
      co_return Result<void>{};
    }
    if (auto err = ctx.err()) co_return err;
    note_throttled(limit, true);
    // Refused: until the limiter says a unit is due. Failed: retried (fail closed).
    const auto pause = grant ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::max<std::chrono::nanoseconds>(grant->retry_after,
                                                                      std::chrono::microseconds(1)))
                             : std::chrono::nanoseconds(kLimiterRetry);
    auto slept = co_await sleep_for(ctx, pause);
    if (!slept) co_return slept.error();
  }
}

std::vector<std::string> Node::types() const {
  std::vector<std::string> out;
  for (const auto& [type, h] : handlers_)
    out.push_back(type);
  return out;
}

bool Node::accept(std::size_t n) {
  std::lock_guard lock(mu_);
  if (!accepting_.load(std::memory_order_relaxed)) return false;
  const auto count = static_cast<std::int64_t>(n);
  running_.fetch_add(static_cast<int>(n), std::memory_order_acq_rel);
  handlers_done_.add(count);  // until their acks are answered
  tasks_.add(count);          // until their tasks end
  return true;
}

void Node::launch(std::vector<Taken> jobs) {
  // Adaptive concurrency: each job counts in the limiter's in-flight figure from when
  // it is taken, as in running_ (node.hpp, step 2), so a batch shows the use it makes.
  if (adaptive_)
    for (Taken& t : jobs)
      t.sample = adaptive_->try_acquire();
  for (Taken& t : jobs)
    go([this, t = std::move(t)]() mutable { return execute(std::move(t)); });
}

Task<void> Node::start(std::vector<Job> jobs) {
  if (test_hooks_.before_start) {
    Task<void> hook = test_hooks_.before_start();
    co_await std::move(hook);
  }
  if (accept(jobs.size())) {
    std::vector<Taken> taken(jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      // Started by the center already: a rate-limited queue's job waits for its unit.
      auto limit = queue_limits_.find(jobs[i].spec.queue);
      if (limit != queue_limits_.end()) taken[i].pace = limit->second.get();
      taken[i].job = std::move(jobs[i]);
    }
    launch(std::move(taken));
    co_return;
  }
  // The node does not take work (shutdown has begun, or it does not run): hand them
  // back as a shutdown would, here, so that the call ends with start().
  std::vector<Completion> back;
  for (const Job& job : jobs) {
    Completion c;
    c.id = job.id;
    c.node = options_.id;
    c.attempt = job.attempt;
    c.outcome = Outcome::kHandBack;
    c.error = "node " + options_.id + " is not taking work";
    back.push_back(std::move(c));
  }
  auto done = co_await broker_.complete(background(), std::move(back));
  (void)done;  // if this fails too, the leases expire and the jobs run again
}

void Node::notify() noexcept {
  (void)wakeups_.try_send(std::monostate{});  // full: a wake-up is already pending
}

bool Node::cancel_local(JobId id) noexcept {
  std::lock_guard lock(mu_);
  auto it = running_jobs_.find(id);
  if (it == running_jobs_.end()) return false;
  it->second.cancelled = true;
  it->second.cancel();
  return true;
}

Task<Result<void>> Node::register_self(Context ctx) {
  NodeInfo info;
  info.id = options_.id;
  info.types = types();
  info.tags = options_.tags;
  for (const std::string& type : held_types()) {
    info.tags.push_back(std::string(kBreakerOpenTag).append(type));
    std::lock_guard lock(mu_);
    if (auto it = failed_queues_.find(type); it != failed_queues_.end())
      for (const std::string& queue : it->second)
        info.tags.push_back(std::string(kBreakerHeldTag).append(queue).append("=").append(type));
  }
  for (const auto& [queue, limit] : queue_limits_) {
    info.tags.push_back(std::string(limit->fleet ? kFleetRateTag : kNodeRateTag)
                            .append(queue)
                            .append("=")
                            .append(limit->rate));
    if (limit->throttled.load(std::memory_order_relaxed))
      info.tags.push_back(std::string(kThrottledTag).append(queue));
  }
  info.capacity = capacity();
  advertised_capacity_.store(info.capacity, std::memory_order_relaxed);
  info.pid = getpid();
  co_return co_await broker_.register_node(ctx, std::move(info));
}

template <class T>
Task<Result<T>> Node::retry_for_a_lease(std::function<Task<Result<T>>()> attempt) {
  const auto give_up = Clock::now() + leases_.longest();
  for (auto pause = kCompletionPause;;) {
    Result<T> r = co_await attempt();
    if (r || Clock::now() + pause >= give_up) co_return r;
    co_await sleep_for(pause);
    pause = std::min(pause * 2, kCompletionMaxPause);
  }
}

Task<Result<void>> Node::run(Context ctx) {
  {
    auto registered = co_await register_self(ctx);
    if (!registered) co_return registered.error();
  }
  auto [beat_ctx, stop_beating] = with_cancel(background());
  auto beats = spawn([this, beat_ctx = beat_ctx] { return heartbeat_loop(beat_ctx); });
  // Done once shutdown's grace has passed: acks still unsent are then given up.
  auto [acks_ctx, give_up_acks] = with_cancel(background());
  auto acks = spawn([this, acks_ctx = acks_ctx] { return completion_loop(acks_ctx); });
  // Cancel requests pushed by the broker reach handlers at once, and new work wakes
  // the claim loop; heartbeats and polls remain the fallback (and the only way with
  // brokers that cannot push). The claimers do not wait for the pushes to start: a
  // cancel requested before (of a job claimed meanwhile) is read by the heartbeat that
  // listening wakes, and so is one requested while the broker's connection was down.
  auto feed = spawn([this, beat_ctx = beat_ctx]() -> Task<void> {
    BrokerEvents events;
    events.cancel_requested = [this](JobId id) { (void)cancel_local(id); };
    events.work_pending = [this] { notify(); };
    events.listening = [this] { (void)beat_now_.try_send(std::monostate{}); };
    auto watched = co_await broker_.watch(beat_ctx, std::move(events));
    (void)watched;
  });

  {
    std::lock_guard lock(mu_);
    accepting_.store(true, std::memory_order_release);
  }
  {
    std::vector<JoinHandle<void>> claimers;
    for (int i = 0; i < options_.claimers; ++i)
      claimers.push_back(spawn([this, ctx] { return claim_loop(ctx); }));
    for (auto& c : claimers)
      co_await std::move(c);
  }

  // Graceful shutdown, steps 1-3 of node.hpp. Once accepting_ is false under mu_, no
  // accept() counts a job in: the waits below see every job the node took.
  {
    std::lock_guard lock(mu_);
    accepting_.store(false, std::memory_order_release);
  }
  {
    auto [grace_ctx, cancel_grace] = with_timeout(grace_parent_, options_.grace);
    auto finished = co_await handlers_done_.wait(grace_ctx);
    cancel_grace();
    if (!finished) {
      // Handlers still running, or acks the broker has not taken (it is away): the
      // grace is over for both. A handler cancelled now has its ack sent once.
      give_up_acks();
      std::lock_guard lock(mu_);
      grace_over_ = true;  // handlers whose tasks have not begun yet: execute()
      for (auto& [id, r] : running_jobs_) {
        r.handed_back = !r.cancelled;
        r.cancel();
      }
    }
    co_await handlers_done_.wait();
  }
  co_await tasks_.wait();  // the handlers' tasks end just after their acks are queued
  // A center here may be handing jobs over still: start() hands them back.
  if (before_leaving_) co_await before_leaving_();
  (void)finished_signal_.close();  // every completion has been sent
  co_await std::move(acks);
  give_up_acks();
  stop_beating();
  co_await std::move(beats);
  co_await std::move(feed);
  // A broker that is away (Redis restarting) is retried.
  co_return co_await retry_for_a_lease<void>(
      [this] { return broker_.deregister_node(background(), options_.id); });
}

Task<void> Node::heartbeat_loop(Context ctx) {
  for (;;) {
    // A breaker's change wakes it early: the new registration tells centers at once;
    // so does watch's listening: the beat reads the cancel requests no push brought.
    auto woke = co_await select(ctx, recv(beat_now_), after(options_.heartbeat_interval));
    if (woke.index() < 0) co_return;
    // The adaptive limit moved since the last registration: centers elsewhere route
    // by the capacity registered (node.hpp, adaptive concurrency, step 4).
    if (capacity() != advertised_capacity_.load(std::memory_order_relaxed))
      registration_stale_.store(true);
    if (registration_stale_.exchange(false)) {
      auto again = co_await register_self(ctx);
      if (!again) {
        registration_stale_.store(true);  // the next beat tries again
        if (ctx.is_done()) co_return;
      }
    }
    std::vector<JobId> held;
    {
      std::lock_guard lock(mu_);
      for (const auto& [id, r] : running_jobs_)
        held.push_back(id);
    }
    auto reply = co_await broker_.heartbeat(ctx, options_.id, running(), leases_, std::move(held));
    if (!reply && ctx.is_done()) co_return;
    note_broker(reply.error());
    // Transient; the lease outlasts several heartbeats, and a broker that is away
    // expires nothing: centers judge leases only over time they could reach it.
    if (!reply) continue;
    for (JobId id : reply->cancel_requested)
      cancel_local(id);
    if (!reply->known) {
      // Declared dead (a long pause); its jobs were reclaimed. Come back as a fresh
      // node: completions of the jobs it still runs will get lease_lost.
      auto again = co_await register_self(ctx);
      (void)again;
    }
  }
}

Task<void> Node::execute(Taken taken) {
  Job& job = taken.job;
  auto [job_ctx, cancel_job] = with_cancel(background());
  {
    std::lock_guard lock(mu_);
    Running& r = running_jobs_[job.id];
    r.cancel = cancel_job;
    if (options_.metrics != nullptr) {
      r.queue = job.spec.queue;
      r.type = job.spec.type;
    }
    if (job.cancel_requested) {
      r.cancelled = true;
      cancel_job();
    } else if (grace_over_) {
      // Taken before shutdown began, begun after its grace ended: as step 3 does.
      r.handed_back = true;
      cancel_job();
    }
  }
  Outcome outcome = Outcome::kSucceeded;
  std::string error;
  auto handler = handlers_.find(job.spec.type);
  resilience::CircuitBreaker* breaker = breaker_of(job.spec.type);
  if (breaker != nullptr && !taken.permit) taken.permit = breaker->try_acquire();
  bool run_handler = true;
  if (handler == handlers_.end()) {
    outcome = Outcome::kRetryable;  // another node may have it
    error = "node " + options_.id + " has no handler for type " + job.spec.type;
    run_handler = false;
  } else if (breaker != nullptr && !taken.permit) {
    // Assigned before the centers saw the type held back (node.hpp, step 3): back to
    // pending, the attempt not counted, unrun.
    outcome = Outcome::kHandBack;
    error = "node " + options_.id + " holds back job type " + job.spec.type +
            ": its circuit breaker is " + resilience::to_string(breaker->state());
    run_handler = false;
  } else if (taken.pace != nullptr) {
    // A rate-limited queue's job that came without a unit: it waits for one.
    // Cancelled (by a user, or shutdown's step 3) first: it did not start.
    auto paced = co_await wait_for_unit(job_ctx, *taken.pace, job.spec.queue);
    if (!paced) {
      outcome = Outcome::kHandBack;  // or cancelled, below
      error = "node " + options_.id + " stopped it before it started";
      run_handler = false;
    }
  }
  // The job's timeout and deadline become the handler's context. The deadline is
  // wall-clock (shared between processes); it crosses over as remaining time.
  Context handler_ctx = job_ctx;
  CancelFunc cancel_timeout;
  CancelFunc cancel_deadline;
  if (job.spec.timeout.count() > 0) {
    auto [c, f] = with_timeout(handler_ctx, job.spec.timeout);
    handler_ctx = c;
    cancel_timeout = f;
  }
  if (job.spec.deadline) {
    const auto remaining = *job.spec.deadline - WallClock::now();
    auto [c, f] = with_deadline(
        handler_ctx, Clock::now() + std::chrono::duration_cast<Clock::duration>(remaining));
    handler_ctx = c;
    cancel_deadline = f;
  }

  std::error_code returned;  // the handler's error, if it returned one
  // The attempt's span (job_trace.hpp): the handler's context carries it, so its
  // calls and the jobs it submits are its children.
  trace::Span span = attempt_span(job);
  handler_ctx = trace::with_span(handler_ctx, span);
  log_job(job, options_.id, span, "started");

  const auto handler_start = Clock::now();
  if (run_handler && options_.metrics != nullptr && job.ready_at != WallClock::time_point{})
    options_.metrics->waited(job.spec.queue, WallClock::now() - job.ready_at);
  if (run_handler) {
    try {
      Task<Result<void>> task = handler->second(handler_ctx, job);
      Result<void> r = co_await std::move(task);
      if (!r) {
        returned = r.error();
        outcome = r.error() == errc::permanent ? Outcome::kPermanent : Outcome::kRetryable;
        error = r.error().message();
      }
    } catch (const PermanentError& e) {
      outcome = Outcome::kPermanent;
      error = e.what();
    } catch (const std::exception& e) {
      outcome = Outcome::kRetryable;
      error = std::string("exception: ") + e.what();
    } catch (...) {
      outcome = Outcome::kRetryable;
      error = "exception of unknown type";
    }
  }
  const bool timed_out = outcome != Outcome::kSucceeded &&
                         handler_ctx.err() == orca::errc::deadline_exceeded && !job_ctx.is_done();
  if (timed_out)
    error = job.spec.timeout.count() > 0
                ? "timed out after " + std::to_string(job.spec.timeout.count()) + "ms: " + error
                : "deadline exceeded: " + error;
  const auto handler_time = Clock::now() - handler_start;
  if (run_handler && options_.metrics != nullptr)
    options_.metrics->handler_ran(job.spec.queue, job.spec.type, handler_time, job.spec.trace_id);
  cancel_deadline();
  cancel_timeout();
  {
    std::lock_guard lock(mu_);
    const Running& r = running_jobs_[job.id];
    if (outcome != Outcome::kSucceeded) {
      if (r.handed_back)
        outcome = Outcome::kHandBack;
      else if (r.cancelled)
        outcome = Outcome::kCancelled;
    }
  }
  cancel_job();
  if (run_handler && options_.on_attempt_end) options_.on_attempt_end(job, outcome, handler_time);
  if (span.recording()) {
    span.set_attribute("orca.job.outcome", std::string(outcome_name(outcome)));
    span.set_attribute("orca.node", options_.id);
    if (outcome == Outcome::kRetryable || outcome == Outcome::kPermanent)
      span.set_error(error);
    else if (outcome == Outcome::kSucceeded)
      span.set_ok();
  }
  log_job(job, options_.id, span,
          error.empty() ? std::string(outcome_name(outcome))
                        : std::string(outcome_name(outcome)).append(": ").append(error));
  span.end();
  // The breaker hears what the handler says about its dependencies: a success or a
  // failure (a timeout included); a job stopped by a user or a shutdown says nothing.
  if (run_handler && (outcome == Outcome::kSucceeded || outcome == Outcome::kRetryable ||
                      outcome == Outcome::kPermanent))
    taken.permit.record(outcome == Outcome::kSucceeded, handler_time);
  else
    taken.permit.release();
  // The adaptive limit hears a success's run time, and a timeout or a rejection by the
  // handler's dependency as a drop (node.hpp, step 3); before the slot is freed below,
  // so that the next claim reads the new limit.
  if (taken.sample) {
    if (outcome == Outcome::kSucceeded) {
      taken.sample.record(test_hooks_.run_time ? test_hooks_.run_time(job, handler_time)
                                               : handler_time);
    } else if (run_handler && (outcome == Outcome::kRetryable || outcome == Outcome::kPermanent) &&
               (timed_out || resilience::is_rejection(returned))) {
      taken.sample.record_dropped();
    } else {
      taken.sample.release();
    }
  }

  Completion c;
  c.id = job.id;
  c.node = options_.id;
  c.attempt = job.attempt;
  c.outcome = outcome;
  c.error = std::move(error);
  if (outcome == Outcome::kRetryable)
    c.retry_delay = job.spec.retry.delay_after(job.attempt, random01());
  {
    std::lock_guard lock(mu_);
    if (breaker != nullptr && run_handler &&
        (outcome == Outcome::kRetryable || outcome == Outcome::kPermanent)) {
      std::set<std::string>& queues = failed_queues_[job.spec.type];
      if (queues.size() < kHeldQueuesPerType) queues.insert(job.spec.queue);
    }
    finished_.push_back(std::move(c));
  }
  (void)finished_signal_.try_send(std::monostate{});  // full: a flush is already due
  // The slot is free now, before the ack is durable: the next job's start and this
  // ack then share one commit instead of waiting on each other.
  running_.fetch_sub(1, std::memory_order_acq_rel);
  if (options_.pull) notify();
  if (on_slot_free_) on_slot_free_();
  tasks_.done();  // the last touch of the node: run() may return from here on
}

// One round of a claim loop, for `want` free slots:
//   1. sort the types by breaker: closed ones are claimed as usual; an open one whose
//      period has passed turns half-open at try_acquire, and lends its probe permits
//      (at most `want`);
//   2. the usual claim (assigned jobs; in pull mode pending ones of the closed types);
//   3. for each type with probe permits, in either mode, a pull claim of that type
//      alone for as many jobs as permits (and free slots) remain: the jobs carry the
//      permits, so exactly the probes run;
//   4. the jobs start.
Task<void> Node::claim_loop(Context ctx) {
  const std::vector<std::string> my_types = types();
  while (!ctx.is_done()) {
    // A rate limit that held jobs back: when its next unit is due, if before the poll.
    std::chrono::nanoseconds unit_due = options_.poll_interval;
    int want = 0;
    {
      // The adaptive limit may have moved since the last round: read it once per round.
      const int limit = capacity();
      const int share = (limit + options_.claimers - 1) / options_.claimers;
      std::lock_guard lock(mu_);
      want = std::min(share, limit - running_.load(std::memory_order_acquire) - reserved_);
      if (want > 0) reserved_ += want;
    }
    if (want > 0) {
      const auto slots = static_cast<std::size_t>(want);
      std::vector<std::string> closed;
      std::vector<std::pair<std::string, std::vector<resilience::CircuitBreaker::Permit>>> probes;
      for (const std::string& type : my_types) {
        resilience::CircuitBreaker* breaker = breaker_of(type);
        if (breaker == nullptr || breaker->state() == resilience::BreakerState::kClosed) {
          closed.push_back(type);
          continue;
        }
        std::vector<resilience::CircuitBreaker::Permit> permits;
        while (permits.size() < slots) {
          resilience::CircuitBreaker::Permit p = breaker->try_acquire();
          if (!p) break;
          permits.push_back(std::move(p));
        }
        if (!permits.empty()) probes.emplace_back(type, std::move(permits));
      }
      auto claimed = co_await claim_once(ctx, closed, slots, options_.pull, &unit_due);
      if (claimed || !ctx.is_done()) note_broker(claimed.error());
      std::vector<Taken> taken;
      if (claimed) taken = std::move(*claimed);
      for (std::size_t i = 0; i < probes.size() && claimed && taken.size() < slots; ++i) {
        std::vector<resilience::CircuitBreaker::Permit>& permits = probes[i].second;
        std::vector<std::string> one{probes[i].first};
        const std::size_t limit = std::min(permits.size(), slots - taken.size());
        auto probed = co_await claim_once(ctx, std::move(one), limit, true);
        if (!probed) break;
        for (Taken& t : *probed) {
          if (t.job.spec.type == probes[i].first && !permits.empty()) {
            t.permit = std::move(permits.back());
            permits.pop_back();
          }
          taken.push_back(std::move(t));
        }
      }
      probes.clear();  // permits not used: their probe slots go back
      const bool got = !taken.empty();
      // Counted in running_ before the slots return. (accept() holds: the claim loops
      // end before shutdown's step 1.)
      if (got && accept(taken.size())) launch(std::move(taken));
      {
        std::lock_guard lock(mu_);
        reserved_ -= want;
      }
      if (got) continue;  // there may be more
    }
    // Sleep until notified (assignment, a slot freed) or the poll interval passes.
    auto woke = co_await select(ctx, recv(wakeups_), after(unit_due));
    (void)woke;
  }
}

Task<Result<std::vector<Node::Taken>>> Node::claim_once(Context ctx, std::vector<std::string> types,
                                                        std::size_t limit, bool pull,
                                                        std::chrono::nanoseconds* unit_due) {
  ClaimRequest req;
  req.node = options_.id;
  req.types = std::move(types);
  req.limit = limit;
  req.lease = leases_;
  req.pull_pending = pull;
  req.weights = options_.weights;
  // Units taken now for pending jobs of rate-limited queues (node.hpp, step 1): at
  // most what each limiter grants now, and no more than the claim can use. A limiter
  // that fails grants nothing: its queue is capped at 0 (fail closed).
  const auto slots = static_cast<std::int64_t>(limit);
  std::map<std::string, std::int64_t> granted;
  std::map<std::string, std::chrono::nanoseconds> refill;  // until its next unit
  std::set<std::string> failed;  // limiters that could not decide: not "throttled"
  if (pull && !req.types.empty())
    for (const auto& [queue, queue_limit] : queue_limits_) {
      auto grant = co_await queue_limit->limiter->take_up_to(ctx, queue, slots);
      const std::int64_t got = grant ? grant->granted : 0;
      if (!grant) failed.insert(queue);
      granted[queue] = got;
      refill[queue] = got > 0 || !grant ? queue_limit->interval : grant->retry_after;
      req.queue_caps[queue] = static_cast<std::size_t>(got);
      if (ctx.is_done()) break;  // the claim below returns the context's error
    }
  std::map<std::string, std::int64_t> left = granted;  // units not yet used
  // Not under ctx: a claim the broker carried out leases or starts its jobs in this
  // node's name, and a shutdown that dropped the answer would leave them so, never
  // run, until the node left and they were reclaimed with their attempt counted (a
  // job of one attempt then dead). The jobs it brings still run within the grace.
  Result<std::vector<Job>> claimed = ctx.err();
  if (!ctx.is_done()) {
    auto [claim_ctx, end_claim] = with_timeout(background(), kClaimAnswerWait);
    claimed = co_await broker_.claim(claim_ctx, std::move(req));
    end_claim();
  }
  std::vector<Taken> out;
  if (claimed) {
    for (Job& job : *claimed) {
      Taken t;
      auto queue_limit = queue_limits_.find(job.spec.queue);
      if (queue_limit != queue_limits_.end()) {
        auto own = left.find(job.spec.queue);
        if (own != left.end() && own->second > 0)
          --own->second;  // a unit taken above: it starts now
        else
          t.pace = queue_limit->second.get();  // assigned to the node: it waits for a unit
      }
      t.job = std::move(job);
      out.push_back(std::move(t));
    }
  }
  // Step 2: the units the claim found no jobs for go back. A queue was throttled when
  // the limit granted fewer units than the slots and the claim used all it got (none
  // included): the limit held its jobs back, not their absence.
  auto [give_back_ctx, end_give_back] = with_timeout(background(), kGiveBackTimeout);
  for (const auto& [queue, unused] : left) {
    QueueLimit& queue_limit = *queue_limits_.at(queue);
    const bool throttled = granted[queue] < slots && unused == 0;
    if (claimed && !failed.count(queue)) note_throttled(queue_limit, throttled);
    // Held back by the limit: the claim loop comes back for the next unit when it is
    // due rather than at its poll, or a limit above 1/poll_interval would go unused.
    if (claimed && throttled && unit_due != nullptr)
      *unit_due = std::min(*unit_due, std::max(refill[queue], std::chrono::nanoseconds(1)));
    if (unused > 0) (void)co_await queue_limit.limiter->give_back(give_back_ctx, queue, unused);
  }
  end_give_back();
  if (!claimed) co_return claimed.error();
  co_return std::move(out);
}

Task<void> Node::completion_loop(Context give_up) {
  for (;;) {
    auto signalled = co_await finished_signal_.recv();
    std::vector<Completion> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(finished_);
    }
    if (batch.empty()) {
      if (!signalled) co_return;  // closed by run() after the last handler: all sent
      continue;
    }
    co_await acknowledge(give_up, std::move(batch));
  }
}

// An ack is kept until the broker answers for it: per item, the state after it
// (accepted) or lease_lost/not_found (fenced: the attempt is no longer this node's,
// and the fence keeps a stale ack from doing harm). Only a failed call is retried,
// for as long as the broker is away: centers do not reclaim jobs over an outage, so
// the attempt is still this node's when it comes back. Until then the job stays in
// running_jobs_, so heartbeats keep naming it and extending its lease. Only
// shutdown bounds it: once its grace has passed (`give_up`), a failed call is final,
// logged with the jobs it leaves to run again when their leases expire.
Task<void> Node::acknowledge(Context give_up, std::vector<Completion> batch) {
  std::vector<Result<JobState>> states;  // per item of batch, once answered
  for (auto pause = kCompletionPause;;) {
    auto answered = co_await broker_.complete(background(), batch);
    note_broker(answered.error());
    if (answered) {
      states = std::move(*answered);
      break;
    }
    if (give_up.is_done()) {
      std::string line = "orca: node ";
      line.append(options_.id)
          .append(": gave up acknowledging jobs ")
          .append(job_list(batch))
          .append(" at shutdown (")
          .append(answered.error().message())
          .append("); they will run again");
      trace::log(trace::LogLevel::kError, line, nullptr, node_fields(options_.id));
      break;
    }
    (void)co_await sleep_for(give_up, pause);
    pause = std::min(pause * 2, kCompletionMaxPause);
    // Handlers that returned meanwhile join this batch: one call for all once the
    // broker is back. (Their signal may still be pending: the loop then finds
    // finished_ empty and waits again.)
    std::lock_guard lock(mu_);
    for (Completion& c : finished_)
      batch.push_back(std::move(c));
    finished_.clear();
  }
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto it = running_jobs_.find(batch[i].id);
      if (it == running_jobs_.end()) continue;
      // The broker's word on the job's state: a fenced ack (lease_lost) counts nothing.
      if (options_.metrics != nullptr && i < states.size() && states[i])
        options_.metrics->attempt_ended(it->second.queue, it->second.type, *states[i]);
      running_jobs_.erase(it);
    }
  }
  // Jobs leased to this node by a center elsewhere may be waiting. A node attached
  // to a center here is handed its jobs started; foreign leases wait for its poll.
  if (!on_slot_free_) notify();
  handlers_done_.add(-static_cast<std::int64_t>(batch.size()));
}

}  // namespace orca::jobs
