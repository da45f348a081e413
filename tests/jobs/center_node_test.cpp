// Center and nodes end to end on every kind of broker (broker_fixture.hpp): routing,
// timeouts, cancel, retries, dead nodes, graceful shutdown, delayed and periodic jobs.
#include <mutex>
#include <set>

#include "broker_fixture.hpp"
#include "orca/jobs/forwarding_broker.hpp"
#include "orca/jobs/live.hpp"

namespace orca::jobs::testing {
namespace {

using S = JobState;

// Polls until the job reaches `want` (or the guard ends the wait); returns the job.
Task<Job> wait_for_state(Broker& broker, Context ctx, JobId id, JobState want) {
  for (;;) {
    auto job = co_await broker.get(ctx, id);
    if ((job && job->state == want) || ctx.is_done()) co_return job ? *job : Job{};
    co_await sleep_for(2ms);
  }
}

Task<void> wait_until(Context ctx, std::function<bool()> done) {
  while (!done() && !ctx.is_done())
    co_await sleep_for(2ms);
}

// Runs the center and the node until `ran` counts every job of `specs` (or the guard
// ends), then stops both.
Task<void> run_batch(Center& center, Node& node, Context guard, std::vector<JobSpec> specs,
                     const std::atomic<int>& ran) {
  auto [ctx, stop] = with_cancel(guard);
  auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
  auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
  const int want = static_cast<int>(specs.size());
  CO_ASSERT_OK(co_await center.submit_batch(guard, std::move(specs)));
  co_await wait_until(guard, [&] { return ran.load() >= want; });
  stop();
  (void)co_await std::move(c);
  (void)co_await std::move(n);
}

NodeOptions fast_node(std::string id, int concurrency = 4) {
  NodeOptions o;
  o.id = std::move(id);
  o.concurrency = concurrency;
  o.heartbeat_interval = 20ms;
  o.lease = 2s;
  o.poll_interval = 20ms;
  o.grace = 2s;
  return o;
}

CenterOptions fast_center() {
  CenterOptions o;
  o.tick = 10ms;
  o.node_timeout = 500ms;
  return o;
}

Handler noop() {
  return [](Context, Job) -> Task<Result<void>> { co_return Result<void>{}; };
}

TEST_P(CenterNode, RunsSubmittedJobsEndToEnd) {
  std::atomic<int> ran{0};
  std::size_t succeeded = 0;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    Node node(broker, fast_node("n1", 8));
    node.handle("count", [&](Context, Job) -> Task<Result<void>> {
      ran.fetch_add(1);
      co_return Result<void>{};
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    std::vector<JobSpec> specs(300, spec("count"));
    auto added = co_await center.submit_batch(guard, specs);
    EXPECT_TRUE(added.has_value());
    co_await wait_until(guard, [&] { return ran.load() >= 300; });
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
    auto done = co_await broker.list(guard, filter(S::kSucceeded));
    CO_ASSERT_OK(done);
    succeeded = done->size();
  });
  EXPECT_EQ(ran.load(), 300);
  EXPECT_EQ(succeeded, 300u);
}

TEST_P(CenterNode, TimeoutBecomesTheHandlersDeadline) {
  std::error_code handler_saw;
  bool had_deadline = false;
  Job final_job;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    Node node(broker, fast_node("n1"));
    node.handle("slow", [&](Context job_ctx, Job) -> Task<Result<void>> {
      had_deadline = job_ctx.deadline().has_value();
      handler_saw = co_await job_ctx.done();
      co_return handler_saw;
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    JobSpec s = spec("slow");
    s.timeout = 30ms;
    s.retry.max_attempts = 1;
    auto added = co_await center.submit(guard, s);
    CO_ASSERT_OK(added);
    final_job = co_await wait_for_state(broker, guard, added->id, S::kDead);
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_TRUE(had_deadline);
  EXPECT_EQ(handler_saw, orca::errc::deadline_exceeded);
  EXPECT_EQ(final_job.state, S::kDead);
  EXPECT_NE(final_job.last_error.find("timed out after 30ms"), std::string::npos)
      << final_job.last_error;
}

TEST_P(CenterNode, DeadlineCrossesAsRemainingTime) {
  Clock::duration remaining{};
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    Node node(broker, fast_node("n1"));
    std::atomic<bool> done{false};
    node.handle("t", [&](Context job_ctx, Job) -> Task<Result<void>> {
      remaining = *job_ctx.deadline() - Clock::now();
      done = true;
      co_return Result<void>{};
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    JobSpec s = spec("t");
    s.deadline = WallClock::now() + 1h;
    CO_ASSERT_OK(co_await center.submit(guard, s));
    co_await wait_until(guard, [&] { return done.load(); });
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_GT(remaining, 50min);
  EXPECT_LE(remaining, 1h);
}

// Cancels through `cancel` while the handler runs; the handler must see its context
// cancelled, and the job must end cancelled after one attempt.
void cancel_running_job(BrokerFixture& fixture, bool through_center) {
  std::error_code handler_saw;
  Job final_job;
  fixture.run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    Node node(broker, fast_node("n1"));
    std::atomic<bool> started{false};
    node.handle("long", [&](Context job_ctx, Job) -> Task<Result<void>> {
      started = true;
      handler_saw = co_await job_ctx.done();
      co_return handler_saw;  // a retryable error: must not be retried
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    JobSpec s = spec("long");
    s.retry.max_attempts = 5;
    auto added = co_await center.submit(guard, s);
    CO_ASSERT_OK(added);
    co_await wait_until(guard, [&] { return started.load(); });
    // Through the broker only, the node learns it at its next heartbeat (as a node in
    // another process would).
    Result<JobState> cancelled = S::kPending;  // no co_await inside ?: (LLVM 59181)
    if (through_center) {
      cancelled = co_await center.cancel(guard, added->id);
    } else {
      cancelled = co_await broker.cancel(guard, added->id);
    }
    EXPECT_EQ(*cancelled, S::kRunning);
    final_job = co_await wait_for_state(broker, guard, added->id, S::kCancelled);
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_EQ(handler_saw, orca::errc::canceled);
  EXPECT_EQ(final_job.state, S::kCancelled);
  EXPECT_EQ(final_job.attempt, 1);
}

TEST_P(CenterNode, CancelRunningJobCancelsHandlerAndIsNotRetried) {
  cancel_running_job(*this, true);
}

TEST_P(CenterNode, CancelThroughTheStoreReachesTheNodeAtItsHeartbeat) {
  cancel_running_job(*this, false);
}

TEST_P(CenterNode, RetriesWithBackoffThenSucceeds) {
  Job final_job;
  std::vector<JobState> trail;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    Node node(broker, fast_node("n1"));
    node.handle("flaky", [](Context, Job job) -> Task<Result<void>> {
      if (job.attempt < 3) co_return make_error_code(std::errc::connection_refused);
      co_return Result<void>{};
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    JobSpec s = spec("flaky");
    s.retry.max_attempts = 3;
    auto added = co_await center.submit(guard, s);
    CO_ASSERT_OK(added);
    final_job = co_await wait_for_state(broker, guard, added->id, S::kSucceeded);
    auto got1 = co_await broker.audit(guard, added->id);
    CO_ASSERT_OK(got1);
    trail = states_of(*got1);
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_EQ(final_job.attempt, 3);
  EXPECT_EQ(std::count(trail.begin(), trail.end(), S::kRetrying), 2);
  EXPECT_EQ(trail.back(), S::kSucceeded);
}

TEST_P(CenterNode, PermanentErrorsSkipRetries) {
  Job by_code;
  Job by_throw;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    Node node(broker, fast_node("n1"));
    node.handle("code", [](Context, Job) -> Task<Result<void>> {
      co_return make_error_code(errc::permanent);
    });
    node.handle("throw", [](Context, Job) -> Task<Result<void>> {
      throw PermanentError("no such customer");
      co_return Result<void>{};
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    JobSpec a = spec("code");
    a.retry.max_attempts = 10;
    JobSpec b = spec("throw");
    b.retry.max_attempts = 10;
    auto ida = co_await center.submit(guard, a);
    CO_ASSERT_OK(ida);
    auto idb = co_await center.submit(guard, b);
    CO_ASSERT_OK(idb);
    by_code = co_await wait_for_state(broker, guard, ida->id, S::kFailed);
    by_throw = co_await wait_for_state(broker, guard, idb->id, S::kFailed);
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_EQ(by_code.attempt, 1);
  EXPECT_EQ(by_throw.attempt, 1);
  EXPECT_EQ(by_throw.last_error, "no such customer");
}

TEST_P(CenterNode, NodeRefusesBadClaimersAndLeasesNotAboveItsHeartbeat) {
  run_on_broker([&](Broker& broker) -> Task<void> {
    NodeOptions o;
    o.heartbeat_interval = 1s;
    o.queue_leases["reports"] = 500ms;
    EXPECT_THROW(Node(broker, o), std::invalid_argument);
    o.queue_leases["reports"] = 2s;
    EXPECT_NO_THROW(Node(broker, o));
    o.claimers = 0;
    EXPECT_THROW(Node(broker, o), std::invalid_argument);
    co_return;
  });
}

TEST(LeastLoadPolicy, PicksTheLowestLoadAndRotatesTies) {
  LeastLoadPolicy policy;
  Job job;
  std::vector<NodeInfo> nodes(3);
  nodes[0].id = std::string("a");
  nodes[1].id = std::string("b");
  nodes[2].id = std::string("c");
  for (NodeInfo& n : nodes)
    n.capacity = 10;
  nodes[0].active = 5;
  nodes[1].active = 2;
  nodes[2].active = 7;
  EXPECT_EQ(policy.choose(job, nodes), 1u);
  // Load is relative to capacity: 3/4 is more loaded than 5/10.
  nodes[1].active = 3;
  nodes[1].capacity = 4;
  EXPECT_EQ(policy.choose(job, nodes), 0u);
  // Ties are taken in turn.
  for (NodeInfo& n : nodes) {
    n.active = 1;
    n.capacity = 10;
  }
  std::vector<std::size_t> picks;
  for (int i = 0; i < 6; ++i)
    picks.push_back(policy.choose(job, nodes));
  std::vector<std::size_t> counts(3);
  for (std::size_t p : picks)
    ++counts[p];
  EXPECT_EQ(counts, (std::vector<std::size_t>{2, 2, 2}));
  EXPECT_NE(picks[0], picks[1]);
}

TEST_P(CenterNode, RoutesToTheLeastLoadedNodeThatHandlesTheType) {
  std::map<std::string, int> ran_on;
  std::mutex mu;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    Node a(broker, fast_node("a", 4));
    Node b(broker, fast_node("b", 4));
    Node only_x(broker, fast_node("x", 4));
    auto record = [&](std::string name) {
      return [&, name](Context, Job) -> Task<Result<void>> {
        {
          std::lock_guard lock(mu);
          ++ran_on[name];
        }
        co_await sleep_for(1ms);
        co_return Result<void>{};
      };
    };
    a.handle("t", record("a"));
    b.handle("t", record("b"));
    only_x.handle("x", record("x"));
    center.attach(a);
    center.attach(b);
    center.attach(only_x);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto na = spawn([&a, ctx = ctx] { return a.run(ctx); });
    auto nb = spawn([&b, ctx = ctx] { return b.run(ctx); });
    auto nx = spawn([&only_x, ctx = ctx] { return only_x.run(ctx); });
    // Let all three register before the first job, so the first round sees them all.
    for (;;) {
      auto listed = co_await broker.nodes(guard);
      if ((listed && listed->size() == 3) || guard.is_done()) break;
      co_await sleep_for(2ms);
    }
    std::vector<JobSpec> specs(200, spec("t"));
    for (int i = 0; i < 10; ++i)
      specs.push_back(spec("x"));
    CO_ASSERT_OK(co_await center.submit_batch(guard, specs));
    co_await wait_until(guard, [&] {
      std::lock_guard lock(mu);
      return ran_on["a"] + ran_on["b"] + ran_on["x"] >= 210;
    });
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(na);
    (void)co_await std::move(nb);
    (void)co_await std::move(nx);
  });
  EXPECT_EQ(ran_on["x"], 10) << "x jobs must run on the only node that handles them";
  EXPECT_EQ(ran_on["a"] + ran_on["b"], 200);
  // Equal nodes share the work: least load, ties in turn (about 100 each).
  EXPECT_GE(ran_on["a"], 40) << "got a=" << ran_on["a"] << " b=" << ran_on["b"];
  EXPECT_GE(ran_on["b"], 40) << "got a=" << ran_on["a"] << " b=" << ran_on["b"];
}

TEST_P(CenterNode, GracefulShutdownFinishesShortJobsAndHandsBackLongOnes) {
  Job short_job;
  Job long_job;
  std::vector<JobState> long_trail;
  std::error_code long_saw;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    auto [node_ctx, stop_node] = with_cancel(guard);
    Center center(broker, fast_center());
    NodeOptions o = fast_node("n1");
    o.grace = 100ms;
    Node node(broker, o);
    std::atomic<int> started{0};
    std::atomic<bool> release_short{false};
    node.handle("short", [&](Context, Job) -> Task<Result<void>> {
      started.fetch_add(1);
      while (!release_short.load())
        co_await sleep_for(1ms);
      co_return Result<void>{};
    });
    node.handle("long", [&](Context job_ctx, Job) -> Task<Result<void>> {
      started.fetch_add(1);
      long_saw = co_await job_ctx.done();  // only shutdown ends it
      co_return long_saw;
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, node_ctx = node_ctx] { return node.run(node_ctx); });
    auto s1 = co_await center.submit(guard, spec("short"));
    CO_ASSERT_OK(s1);
    auto l1 = co_await center.submit(guard, spec("long"));
    CO_ASSERT_OK(l1);
    co_await wait_until(guard, [&] { return started.load() == 2; });
    stop();  // the center first, so that nothing re-routes the handed-back job
    (void)co_await std::move(c);
    stop_node();  // SIGTERM: stop taking, grace, hand back
    release_short = true;
    auto ran = co_await std::move(n);
    EXPECT_TRUE(ran.has_value());
    auto got2 = co_await broker.get(guard, s1->id);
    CO_ASSERT_OK(got2);
    short_job = *got2;
    auto got3 = co_await broker.get(guard, l1->id);
    CO_ASSERT_OK(got3);
    long_job = *got3;
    auto got4 = co_await broker.audit(guard, l1->id);
    CO_ASSERT_OK(got4);
    long_trail = states_of(*got4);
  });
  EXPECT_EQ(short_job.state, S::kSucceeded);
  EXPECT_EQ(long_job.state, S::kPending);  // handed back, ready for another node
  EXPECT_EQ(long_job.attempt, 0) << "an interrupted attempt is not counted";
  EXPECT_EQ(long_saw, orca::errc::canceled);
  // An in-process node is handed its jobs started (no leased step).
  EXPECT_EQ(long_trail, (std::vector<S>{S::kPending, S::kRunning, S::kPending}));
}

// A center hands a node its jobs (Node::start, from the center's task) while the
// node shuts down on another: start() may reach its decision only once run() has
// passed its wait for handlers and returned. The node must then run nothing (no
// handler under way on a node whose run() returned, no ack left unsent) and hand
// the job back.
TEST_P(CenterNode, JobsHandedOverAsTheNodeStopsAreHandedBackNotRun) {
  std::atomic<int> handler_calls{0};
  int running_after = -1;
  Job after;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    Node node(broker, fast_node("n1"));
    node.handle("t", [&](Context, Job) -> Task<Result<void>> {
      handler_calls.fetch_add(1);
      co_return Result<void>{};
    });
    Channel<int> at_start(1);
    Channel<int> go_on(1);
    node.test_hooks().before_start = [&]() -> Task<void> {
      (void)co_await at_start.send(1);
      (void)co_await go_on.recv();
    };
    auto [node_ctx, stop_node] = with_cancel(guard);
    auto n = spawn([&node, node_ctx = node_ctx] { return node.run(node_ctx); });
    co_await wait_until(guard, [&] { return node.accepting(); });
    // The job, started for n1 as a center in this process does.
    auto added = co_await broker.enqueue_one(guard, spec("t"));
    CO_ASSERT_OK(added);
    std::vector<Assignment> to_n1{Assignment{added->id, 0, "n1", true}};
    auto assigned = co_await broker.assign(guard, to_n1, 10s);
    EXPECT_EQ(assigned ? assigned->size() : 0u, 1u);
    auto job = co_await broker.get(guard, added->id);
    CO_ASSERT_OK(job);
    std::vector<Job> jobs{*job};
    auto handing = spawn([&node, jobs]() mutable { return node.start(std::move(jobs)); });
    (void)co_await at_start.recv();  // start() is under way, before its decision
    stop_node();
    auto ran = co_await std::move(n);
    EXPECT_TRUE(ran.has_value());
    (void)co_await go_on.send(1);
    co_await std::move(handing);
    running_after = node.running();
    auto got5 = co_await broker.get(guard, added->id);
    CO_ASSERT_OK(got5);
    after = *got5;
  });
  EXPECT_EQ(running_after, 0) << "got handlers under way on a node whose run() returned";
  EXPECT_EQ(handler_calls.load(), 0) << "got a handler run by a node whose run() returned";
  EXPECT_EQ(after.state, S::kPending);
}

// The broker's complete() counted as it is answered.
class CountingCompletes final : public ForwardingBroker {
 public:
  using ForwardingBroker::ForwardingBroker;
  Task<Result<std::vector<Result<JobState>>>> complete(
      Context ctx, std::vector<Completion> completions) override {
    auto r = co_await inner_.complete(std::move(ctx), std::move(completions));
    answered.fetch_add(1);
    co_return r;
  }
  std::atomic<int> answered{0};
};

// Jobs handed to a node that takes no work go back to the queue within start(): its
// call on the broker has been answered when start() returns, so nothing it began
// outlives it (nor the node, nor the broker). One worker: a call left to a task of
// its own could not have begun before the test looks.
TEST(NodeStart, HandsJobsBackWithinTheCallWhenTheNodeTakesNoWork) {
  TempDir dir;
  int answered = -1;
  Job after;
  std::vector<AuditEntry> trail;
  RunOptions one_worker;
  one_worker.workers = 1;
  orca::run(
      [&]() -> Task<void> {
        Context guard = hang_guard();
        SqliteOptions so;
        so.path = dir.db();
        auto store_opened = SqliteBroker::open(so);
        CO_ASSERT_OK(store_opened);
        SqliteBroker& store = **store_opened;
        CountingCompletes broker(store);
        CO_ASSERT_OK(co_await broker.register_node(guard, node_info("n1", "t")));
        auto added = co_await broker.enqueue_one(guard, spec("t"));
        CO_ASSERT_OK(added);
        std::vector<Assignment> to_n1{Assignment{added->id, 0, "n1", true}};
        CO_ASSERT_OK(co_await broker.assign(guard, to_n1, 10s));
        auto job = co_await broker.get(guard, added->id);
        CO_ASSERT_OK(job);
        Node node(broker, fast_node("n1"));  // not running: it takes no work
        std::vector<Job> jobs{*job};
        co_await node.start(std::move(jobs));
        answered = broker.answered.load();
        auto got6 = co_await broker.get(guard, added->id);
        CO_ASSERT_OK(got6);
        after = *got6;
        auto got7 = co_await broker.audit(guard, added->id);
        CO_ASSERT_OK(got7);
        trail = *got7;
      },
      one_worker);
  EXPECT_EQ(answered, 1) << "got the hand-back still under way after start() returned";
  EXPECT_EQ(after.state, S::kPending);
  EXPECT_EQ(after.attempt, 0) << "a handed-back attempt is not counted";
  EXPECT_EQ(states_of(trail), (std::vector<S>{S::kPending, S::kRunning, S::kPending}));
  const std::string why = trail.empty() ? std::string() : trail.back().error;
  EXPECT_NE(why.find("not taking work"), std::string::npos) << "got error " << why;
}

// An answer a wrapper below holds back, once: the call was carried out, and its answer
// comes back after `answer` receives, or not at all if the caller's context ends
// first (then the context's error, as a client dropping a reply on cancellation).
struct LateAnswer {
  Channel<int> held{1};    // the call was carried out; its answer is held
  Channel<int> answer{1};  // let the answer go
  std::atomic<bool> used{false};

  template <class T>
  Task<Result<std::vector<T>>> deliver(Context ctx, Result<std::vector<T>> got) {
    if (!got || got->empty() || used.exchange(true)) co_return got;
    (void)co_await held.send(1);
    auto woke = co_await select(ctx, recv(answer));
    if (woke.index() < 0) co_return ctx.err();
    co_return got;
  }
};

// The first claim that brings jobs is answered late.
class ClaimAnsweredLate final : public ForwardingBroker {
 public:
  using ForwardingBroker::ForwardingBroker;
  Task<Result<std::vector<Job>>> claim(Context ctx, ClaimRequest req) override {
    auto got = co_await inner_.claim(background(), std::move(req));
    co_return co_await late.deliver(std::move(ctx), std::move(got));
  }
  LateAnswer late;
};

// A shutdown that begins while a claim is in flight: the node waits for the answer
// and runs the jobs the broker gave it, within its grace, rather than leaving them
// running in its name, never started (once it left they would be reclaimed with
// their attempt counted: a job of one attempt dead without having run).
TEST_P(CenterNode, AShutdownDuringAClaimRunsTheJobsItBrought) {
  int handler_calls = -1;
  Job after;
  run_on_broker([&](Broker& store) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    ClaimAnsweredLate broker(store);
    NodeOptions o = fast_node("n1");
    o.pull = true;
    Node node(broker, o);
    std::atomic<int> calls{0};
    node.handle("t", [&](Context, Job) -> Task<Result<void>> {
      calls.fetch_add(1);
      co_return Result<void>{};
    });
    JobSpec once = spec("t");
    once.retry.max_attempts = 1;
    auto added = co_await broker.enqueue_one(guard, once);
    CO_ASSERT_OK(added);
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    (void)co_await broker.late.held.recv();
    stop();
    (void)co_await broker.late.answer.send(1);
    auto ran = co_await std::move(n);
    CO_ASSERT_OK(ran);
    handler_calls = calls.load();
    auto job = co_await broker.get(guard, added->id);
    CO_ASSERT_OK(job);
    after = *job;
  });
  EXPECT_EQ(handler_calls, 1);
  EXPECT_EQ(after.state, S::kSucceeded) << "node " << after.node << ", attempt " << after.attempt;
}

// The first assign that places jobs is answered late.
class AssignAnsweredLate final : public ForwardingBroker {
 public:
  using ForwardingBroker::ForwardingBroker;
  Task<Result<std::vector<JobId>>> assign(Context ctx, std::vector<Assignment> assignments,
                                          std::chrono::milliseconds lease) override {
    auto got = co_await inner_.assign(background(), std::move(assignments), lease);
    co_return co_await late.deliver(std::move(ctx), std::move(got));
  }
  LateAnswer late;
};

// The center stops while its assign is in flight: it waits for the answer and hands
// the jobs it started to its local node, which runs them or, if it stopped taking
// work meanwhile, hands them back with their attempt given back. Never left running
// in the node's name, never started, to be reclaimed as an attempt spent.
TEST_P(CenterNode, AStopDuringAnAssignHandsTheJobsToTheNode) {
  int handler_calls = -1;
  Job after;
  run_on_broker([&](Broker& store) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    AssignAnsweredLate broker(store);
    Center center(broker, fast_center());
    Node node(broker, fast_node("n1"));
    std::atomic<int> calls{0};
    node.handle("t", [&](Context, Job) -> Task<Result<void>> {
      calls.fetch_add(1);
      co_return Result<void>{};
    });
    center.attach(node);
    JobSpec once = spec("t");
    once.retry.max_attempts = 1;
    auto added = co_await broker.enqueue_one(guard, once);
    CO_ASSERT_OK(added);
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    (void)co_await broker.late.held.recv();
    stop();
    (void)co_await broker.late.answer.send(1);
    CO_ASSERT_OK(co_await std::move(c));
    CO_ASSERT_OK(co_await std::move(n));
    handler_calls = calls.load();
    auto job = co_await broker.get(guard, added->id);
    CO_ASSERT_OK(job);
    after = *job;
  });
  if (handler_calls == 1) {
    EXPECT_EQ(after.state, S::kSucceeded);
  } else {
    EXPECT_EQ(handler_calls, 0);
    EXPECT_EQ(after.state, S::kPending) << "node " << after.node;
    EXPECT_EQ(after.attempt, 0) << "an attempt spent on a job that never ran";
  }
}

// Jobs the center starts on a node in its own process are under the lease that node
// keeps their queue's jobs by (NodeOptions::queue_leases), in the store and in the
// job the handler gets, not under the center's lease for jobs leased to remote nodes.
TEST_P(CenterNode, JobsStartedOnALocalNodeGetTheirQueuesLease) {
  WallClock::duration handed = {};
  WallClock::duration stored = {};
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    CenterOptions co = fast_center();
    co.lease = 10s;
    co.node_timeout = 1h;  // the node does not beat in the test
    Center center(broker, co);
    NodeOptions o = fast_node("n1");
    o.heartbeat_interval = 1h;  // no heartbeat extends the first lease during the test
    o.lease = 3h;
    o.queue_leases = {{"quick", 2h}};
    Node node(broker, o);
    std::atomic<bool> ran{false};
    node.handle("t", [&](Context, Job job) -> Task<Result<void>> {
      handed = job.lease_until - job.updated_at;
      auto now = co_await broker.get(guard, job.id);
      if (now) stored = now->lease_until - now->updated_at;
      ran = true;
      co_return Result<void>{};
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    JobSpec quick = spec("t");
    quick.queue = "quick";
    CO_ASSERT_OK(co_await center.submit(guard, quick));
    co_await wait_until(guard, [&] { return ran.load(); });
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_EQ(handed, WallClock::duration(2h)) << "the lease of the job handed to the handler";
  EXPECT_EQ(stored, WallClock::duration(2h)) << "the lease of the job in the store";
}

// Two centers on one store (as two processes): one leads, the other stands by and
// never leads at the same time; when the leader stops it releases the lease and the
// standby takes over with the next token and routes. The node is attached to neither:
// it claims what whichever leader assigns it.
TEST_P(CenterNode, OneCenterLeadsAndTheStandbyTakesOverWhenItStops) {
  std::int64_t first_token = 0;
  std::int64_t second_token = 0;
  int samples_standby_led = 0;
  Job first_job;
  Job second_job;
  run_on_two_brokers([&](Broker& broker_a, Broker& broker_b) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx_a, stop_a] = with_cancel(guard);
    auto [ctx_b, stop_b] = with_cancel(guard);
    CenterOptions options_a = fast_center();
    options_a.id = "center-a";
    CenterOptions options_b = fast_center();
    options_b.id = "center-b";
    Center a(broker_a, options_a);
    Center b(broker_b, options_b);
    Node node(broker_b, fast_node("n1"));
    node.handle("t", noop());
    auto run_a = spawn([&a, ctx = ctx_a] { return a.run(ctx); });
    co_await wait_until(guard, [&] { return a.leading(); });
    first_token = a.leader_token();
    auto run_b = spawn([&b, ctx = ctx_b] { return b.run(ctx); });
    auto run_node = spawn([&node, ctx = ctx_b] { return node.run(ctx); });
    for (int i = 0; i < 50; ++i) {
      if (b.leading()) ++samples_standby_led;
      co_await sleep_for(4ms);
    }
    auto first = co_await b.submit(guard, spec("t"));  // any center enqueues; the leader routes
    CO_ASSERT_OK(first);
    first_job = co_await wait_for_state(broker_a, guard, first->id, S::kSucceeded);
    stop_a();
    (void)co_await std::move(run_a);
    co_await wait_until(guard, [&] { return b.leading(); });
    second_token = b.leader_token();
    auto second = co_await b.submit(guard, spec("t"));
    CO_ASSERT_OK(second);
    second_job = co_await wait_for_state(broker_b, guard, second->id, S::kSucceeded);
    stop_b();
    (void)co_await std::move(run_b);
    (void)co_await std::move(run_node);
  });
  EXPECT_EQ(first_token, 1) << "got token " << first_token << ", want 1";
  EXPECT_EQ(samples_standby_led, 0) << "the standby led while the leader held the lease";
  EXPECT_EQ(first_job.state, S::kSucceeded);
  EXPECT_EQ(second_token, 2) << "got token " << second_token << ", want 2";
  EXPECT_EQ(second_job.state, S::kSucceeded);
}

// While another holder's lease runs, a center does nothing: a submitted job stays
// pending. Once it has run out, the center leads with the next token and routes it.
TEST_P(CenterNode, CenterActsOnlyOnceAnotherHoldersLeaseRunsOut) {
  bool checked_while_held = false;
  JobState state_while_held{};
  bool led_while_held = true;
  std::int64_t token = 0;
  Job final_job;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    constexpr auto kHeld = 1500ms;
    const auto asked = Clock::now();
    auto held = co_await broker.acquire_lease(guard, "center", "elsewhere", kHeld);
    EXPECT_TRUE(held.has_value() && held->has_value());
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    Node node(broker, fast_node("n1"));
    node.handle("t", noop());
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    auto added = co_await center.submit(guard, spec("t"));
    CO_ASSERT_OK(added);
    co_await sleep_for(300ms);
    auto job = co_await broker.get(guard, added->id);
    CO_ASSERT_OK(job);
    // Only meaningful while the lease surely ran (a stalled machine may pass it).
    if (Clock::now() < asked + kHeld - 200ms) {
      checked_while_held = true;
      state_while_held = job->state;
      led_while_held = center.leading();
    }
    final_job = co_await wait_for_state(broker, guard, added->id, S::kSucceeded);
    token = center.leader_token();
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  if (checked_while_held) {
    EXPECT_EQ(state_while_held, S::kPending) << "a center routed while another held the lease";
    EXPECT_FALSE(led_while_held);
  }
  EXPECT_EQ(final_job.state, S::kSucceeded);
  EXPECT_EQ(token, 2) << "got token " << token << ", want 2";
}

TEST_P(CenterNode, DeadNodesJobsRunElsewhere) {
  Job final_job;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    // A node that takes a job and then goes silent (as if killed).
    auto added = co_await broker.enqueue_one(guard, spec("t"));
    CO_ASSERT_OK(added);
    CO_ASSERT_OK(co_await broker.register_node(guard, node_info("ghost", "t", 1)));
    auto taken = co_await broker.claim(guard, pull("ghost", "t", 1, 1h));
    CO_ASSERT_OK(taken);
    EXPECT_EQ(taken->size(), 1u);
    auto [ctx, stop] = with_cancel(guard);
    CenterOptions co = fast_center();
    co.node_timeout = 50ms;
    Center center(broker, co);
    Node node(broker, fast_node("alive"));
    node.handle("t", noop());
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    final_job = co_await wait_for_state(broker, guard, added->id, S::kSucceeded);
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_EQ(final_job.state, S::kSucceeded);
  EXPECT_EQ(final_job.node, "alive");
  EXPECT_EQ(final_job.attempt, 2);  // the ghost's attempt counted
}

TEST_P(CenterNode, DelayedJobRunsNoEarlierThanItsTime) {
  WallClock::time_point ran_at{};
  WallClock::time_point due{};
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    Node node(broker, fast_node("n1"));
    std::atomic<bool> ran{false};
    node.handle("later", [&](Context, Job) -> Task<Result<void>> {
      ran_at = WallClock::now();
      ran = true;
      co_return Result<void>{};
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    JobSpec s = spec("later");
    due = WallClock::now() + 100ms;
    s.run_at = due;
    CO_ASSERT_OK(co_await center.submit(guard, s));
    co_await wait_until(guard, [&] { return ran.load(); });
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_GE(ran_at, due - 1ms);  // stored in whole milliseconds
}

TEST_P(CenterNode, PeriodicJobsFireRepeatedlyAndBadSchedulesAreRefused) {
  std::atomic<int> runs{0};
  std::error_code bad;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    Node node(broker, fast_node("n1"));
    node.handle("tick", [&](Context, Job) -> Task<Result<void>> {
      runs.fetch_add(1);
      co_return Result<void>{};
    });
    center.attach(node);
    auto refused = co_await center.add_periodic(guard, "bad", "61 * * * *", spec("tick"));
    bad = refused.error();
    auto added = co_await center.add_periodic(guard, "every-20ms", "@every 20ms", spec("tick"));
    EXPECT_TRUE(added.has_value());
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    co_await wait_until(guard, [&] { return runs.load() >= 3; });
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_GE(runs.load(), 3);
  EXPECT_EQ(bad, make_error_code(errc::bad_schedule));
}

TEST_P(CenterNode, PullPolicyNodesClaimByType) {
  std::atomic<int> ran{0};
  run_on_broker([&](Broker& broker) -> Task<void> {
    CenterOptions co = fast_center();
    co.policy = std::make_shared<PullPolicy>();
    Center center(broker, co);
    NodeOptions o = fast_node("puller");
    o.pull = true;
    Node node(broker, o);
    node.handle("t", [&](Context, Job) -> Task<Result<void>> {
      ran.fetch_add(1);
      co_return Result<void>{};
    });
    center.attach(node);
    co_await run_batch(center, node, hang_guard(), std::vector<JobSpec>(50, spec("t")), ran);
  });
  EXPECT_EQ(ran.load(), 50);
}

// Several claims under way at once never start more handlers than the node's
// concurrency, and between them take every job once.
TEST_P(CenterNode, ConcurrentClaimersStayWithinConcurrency) {
  std::atomic<int> ran{0};
  std::atomic<int> now_running{0};
  std::atomic<int> most{0};
  std::mutex seen_mu;
  std::set<JobId> seen;
  int duplicates = 0;
  run_on_broker([&](Broker& broker) -> Task<void> {
    CenterOptions co = fast_center();
    co.policy = std::make_shared<PullPolicy>();
    Center center(broker, co);
    NodeOptions o = fast_node("puller", 3);
    o.pull = true;
    o.claimers = 4;
    Node node(broker, o);
    node.handle("t", [&](Context, Job job) -> Task<Result<void>> {
      const int n = now_running.fetch_add(1) + 1;
      for (int m = most.load(); n > m && !most.compare_exchange_weak(m, n);) {
      }
      {
        std::lock_guard lock(seen_mu);
        if (!seen.insert(job.id).second) ++duplicates;
      }
      co_await sleep_for(1ms);
      now_running.fetch_sub(1);
      ran.fetch_add(1);
      co_return Result<void>{};
    });
    co_await run_batch(center, node, hang_guard(), std::vector<JobSpec>(60, spec("t")), ran);
  });
  EXPECT_EQ(ran.load(), 60);
  EXPECT_LE(most.load(), 3);
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(duplicates, 0);
}

TEST_P(CenterNode, JobNoLiveNodeCanRunWaitsPending) {
  Job orphan;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    Node node(broker, fast_node("n1"));
    std::atomic<bool> ran{false};
    node.handle("known", [&](Context, Job) -> Task<Result<void>> {
      ran = true;
      co_return Result<void>{};
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    auto unknown = co_await center.submit(guard, spec("unknown"));
    CO_ASSERT_OK(unknown);
    CO_ASSERT_OK(co_await center.submit(guard, spec("known")));  // routed past the orphan
    co_await wait_until(guard, [&] { return ran.load(); });
    auto got8 = co_await broker.get(guard, unknown->id);
    CO_ASSERT_OK(got8);
    orphan = *got8;
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_EQ(orphan.state, S::kPending);
  EXPECT_EQ(orphan.attempt, 0);
}

// The dashboard's series see jobs that ran on another broker handle (as another
// process's worker): throughput from the rise of the queue's counts, latency from
// their audit trails, each job once however often it is polled, and `job` events.
TEST_P(CenterNode, LiveViewSeriesCountJobsRunElsewhere) {
  std::vector<SeriesPoint> points;
  int job_events = 0;
  run_on_two_brokers([&](Broker& here, Broker& there) -> Task<void> {
    Context guard = hang_guard();
    LiveView live(here);
    auto sub = live.events().subscribe();
    co_await live.poll_fleet(guard, WallClock::now());  // the counts before: none
    Center center(there, fast_center());
    Node node(there, fast_node("elsewhere"));
    node.handle("ok", noop());
    node.handle("bad", [](Context, Job) -> Task<Result<void>> {
      co_return make_error_code(errc::permanent);
    });
    center.attach(node);
    std::vector<JobSpec> specs(3, spec("ok"));
    specs.push_back(spec("bad"));
    for (JobSpec& s : specs)
      s.queue = "remote";
    auto [ctx, stop] = with_cancel(guard);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    auto ids = co_await here.enqueue(guard, specs);
    CO_ASSERT_OK(ids);
    for (const EnqueueResult& r : *ids)
      co_await wait_until_done(here, guard, r.id);
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
    const WallClock::time_point now = WallClock::now();
    co_await live.poll_fleet(guard, now);
    co_await live.poll_fleet(guard, now + 1ms);  // nothing new: counted once
    auto all = live.series().points(now + StatsSeries::kInterval, 60s);
    points = all["remote"];
    while (sub->queue.try_recv().has_value())
      ++job_events;
  });
  std::uint64_t finished = 0, failed = 0;
  bool wait_seen = false, run_seen = false;
  for (const SeriesPoint& p : points) {
    finished += p.finished;
    failed += p.failed;
    wait_seen = wait_seen || p.wait_p99_ms.has_value();
    run_seen = run_seen || p.run_p99_ms.has_value();
  }
  EXPECT_EQ(finished, 4u) << "jobs finished elsewhere in the series";
  EXPECT_EQ(failed, 1u);
  EXPECT_TRUE(wait_seen) << "no wait time from the audit trails";
  EXPECT_TRUE(run_seen) << "no run time from the audit trails";
  EXPECT_EQ(job_events, 4) << "one job event per finished job";
}

}  // namespace
}  // namespace orca::jobs::testing
