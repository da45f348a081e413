// A node's per-type circuit breaker and per-queue rate limits, end to end on every
// kind of broker (broker_fixture.hpp). Breaker periods and rate limits run on a
// ManualClock, so what the tests assert holds by construction, not by timing.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>

#include "broker_fixture.hpp"
#include "orca/resilience/time_source.hpp"

namespace orca::jobs::testing {
// Named, not anonymous: the sanitizer trees compile test files in unity batches,
// where center_node_test.cpp's helpers of the same names would clash.
namespace node_resilience {

Task<void> wait_until(Context ctx, std::function<bool()> done) {
  while (!done() && !ctx.is_done())
    co_await sleep_for(2ms);
}

JobFilter of_type(std::string type, std::optional<JobState> state, bool dead_letter = false) {
  JobFilter f;
  f.type = std::move(type);
  f.state = state;
  f.dead_letter = dead_letter;
  f.limit = 1000;
  return f;
}

bool node_holds_back(const std::vector<NodeInfo>& nodes, const std::string& id,
                     const std::string& type) {
  for (const NodeInfo& n : nodes)
    if (n.id == id) return holds_back(n, type);
  return false;
}

// Polls until `count` jobs of `type` are in `state` (or the guard ends the wait).
Task<void> wait_for_count(Broker& broker, Context ctx, std::string type, JobState state,
                          std::size_t count) {
  while (!ctx.is_done()) {
    auto jobs = co_await broker.list(ctx, of_type(type, state));
    if (jobs && jobs->size() == count) co_return;
    co_await sleep_for(2ms);
  }
}

// Polls until node `id`'s registration holds `type` back, or no longer does.
Task<void> wait_for_hold(Broker& broker, Context ctx, std::string id, std::string type, bool held) {
  while (!ctx.is_done()) {
    auto nodes = co_await broker.nodes(ctx);
    if (nodes && node_holds_back(*nodes, id, type) == held) co_return;
    co_await sleep_for(2ms);
  }
}

NodeOptions fast_node(std::string id, int concurrency) {
  NodeOptions o;
  o.id = std::move(id);
  o.concurrency = concurrency;
  o.heartbeat_interval = 20ms;
  o.lease = 2s;
  o.poll_interval = 5ms;
  o.grace = 2s;
  return o;
}

CenterOptions fast_center() {
  CenterOptions o;
  o.tick = 5ms;
  o.node_timeout = 500ms;
  return o;
}

TEST_P(CenterNode, OpenBreakerHoldsItsTypeBackUntilAProbeSucceeds) {
  resilience::ManualClock clock;
  std::atomic<bool> failing{true};
  std::atomic<int> ok_runs{0};
  std::size_t dead_while_open = 99;
  std::size_t pending_while_open = 0;
  bool tagged_while_open = false;
  resilience::BreakerState state_while_open = resilience::BreakerState::kClosed;
  std::size_t flaky_succeeded = 0;
  std::size_t dead_at_end = 99;
  bool tagged_at_end = true;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    NodeOptions o = fast_node("n1", 4);
    o.breaker_enabled = true;
    o.breaker.window_size = 10;
    o.breaker.minimum_calls = 4;
    o.breaker.failure_rate_threshold = 50;
    o.breaker.open_duration = 30s;  // on the manual clock: open until the test moves it
    o.breaker.half_open_probes = 2;
    o.breaker.clock = &clock;
    Node node(broker, o);
    node.handle("flaky", [&](Context, Job) -> Task<Result<void>> {
      if (failing.load()) co_return make_error_code(std::errc::io_error);
      co_return Result<void>{};
    });
    node.handle("ok", [&](Context, Job) -> Task<Result<void>> {
      ok_runs.fetch_add(1);
      co_return Result<void>{};
    });
    center.attach(node);
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });

    // Attempts before it opens: at most minimum_calls plus the others in flight then
    // (4 + 3), fewer than one job's 10: no job can reach the dead-letter set by then.
    JobSpec flaky = spec("flaky");
    flaky.retry.max_attempts = 10;
    const std::vector<JobSpec> flaky_jobs(10, flaky);
    CO_ASSERT_OK(co_await center.submit_batch(guard, flaky_jobs));
    co_await wait_until(guard, [&] { return !node.held_types().empty(); });
    // The registration tells the centers; jobs of the type wait pending (retried ones
    // come back to pending and stay), and another type still runs.
    co_await wait_for_hold(broker, guard, "n1", "flaky", true);
    const std::vector<JobSpec> ok_jobs(20, spec("ok"));
    CO_ASSERT_OK(co_await center.submit_batch(guard, ok_jobs));
    co_await wait_until(guard, [&] { return ok_runs.load() >= 20; });
    co_await wait_for_count(broker, guard, "flaky", JobState::kPending, 10);
    auto pending = co_await broker.list(guard, of_type("flaky", JobState::kPending));
    pending_while_open = pending ? pending->size() : 0;
    auto dead = co_await broker.list(guard, of_type("flaky", std::nullopt, true));
    dead_while_open = dead ? dead->size() : 99;
    auto nodes = co_await broker.nodes(guard);
    tagged_while_open = nodes && node_holds_back(*nodes, "n1", "flaky");
    for (const TypeBreakerStatus& b : node.breakers())
      if (b.type == "flaky") state_while_open = b.state;

    // The dependency recovers; the open period ends: probes run, succeed, and the
    // breaker closes, so the rest of the type's jobs run.
    failing.store(false);
    clock.advance(31s);
    co_await wait_for_count(broker, guard, "flaky", JobState::kSucceeded, 10);
    co_await wait_for_hold(broker, guard, "n1", "flaky", false);
    auto done = co_await broker.list(guard, of_type("flaky", JobState::kSucceeded));
    flaky_succeeded = done ? done->size() : 0;
    auto dead_end = co_await broker.list(guard, of_type("flaky", std::nullopt, true));
    dead_at_end = dead_end ? dead_end->size() : 99;
    auto nodes_end = co_await broker.nodes(guard);
    EXPECT_OK(nodes_end);  // else "not tagged" below would pass for a failed call
    tagged_at_end = nodes_end && node_holds_back(*nodes_end, "n1", "flaky");
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_EQ(state_while_open, resilience::BreakerState::kOpen);
  EXPECT_TRUE(tagged_while_open) << "the registration does not hold flaky back";
  EXPECT_EQ(pending_while_open, 10u);
  EXPECT_EQ(dead_while_open, 0u);
  EXPECT_EQ(ok_runs.load(), 20);
  EXPECT_EQ(flaky_succeeded, 10u);
  EXPECT_EQ(dead_at_end, 0u);
  EXPECT_FALSE(tagged_at_end) << "the registration still holds flaky back once closed";
}

TEST_P(CenterNode, PullingNodeClaimsARateLimitedQueueOnlyAsFastAsItsLimit) {
  resilience::ManualClock clock;
  std::atomic<int> email_runs{0};
  std::atomic<int> other_runs{0};
  int after_first_window = -1;
  int after_second_window = -1;
  std::size_t left_pending = 0;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    NodeOptions o = fast_node("n1", 8);
    o.pull = true;  // no center: the node claims pending jobs itself
    o.queue_rates["email"] = {.events = 5, .per = 1s, .burst = 5, .clock = &clock};
    Node node(broker, o);
    node.handle("send", [&](Context, Job job) -> Task<Result<void>> {
      (job.spec.queue == "email" ? email_runs : other_runs).fetch_add(1);
      co_return Result<void>{};
    });
    JobSpec email = spec("send");
    email.queue = "email";
    JobSpec other = spec("send");
    other.queue = "other";
    // One job of the unlimited queue from the start, so that every broker knows the
    // queue when the later ones come.
    std::vector<JobSpec> jobs(20, email);
    jobs.push_back(other);
    CO_ASSERT_OK(co_await broker.enqueue(guard, jobs));
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    // The clock stands still: the limiter admits its burst of 5 and nothing more,
    // however many claims follow (an unlimited queue's job is claimed after them).
    co_await wait_until(guard, [&] { return email_runs.load() >= 5 && other_runs.load() >= 1; });
    CO_ASSERT_OK(co_await broker.enqueue_one(guard, other));
    co_await wait_until(guard, [&] { return other_runs.load() >= 2; });
    after_first_window = email_runs.load();
    // A second later by its clock: 5 more.
    clock.advance(1s);
    co_await wait_until(guard, [&] { return email_runs.load() >= 10; });
    CO_ASSERT_OK(co_await broker.enqueue_one(guard, other));
    co_await wait_until(guard, [&] { return other_runs.load() >= 3; });
    after_second_window = email_runs.load();
    stop();
    (void)co_await std::move(n);
    auto pending = co_await broker.list(guard, of_type("send", JobState::kPending));
    left_pending = pending ? pending->size() : 0;
  });
  EXPECT_EQ(after_first_window, 5) << "jobs of email run with the clock standing still";
  EXPECT_EQ(after_second_window, 10) << "jobs of email run one second later";
  EXPECT_EQ(left_pending, 10u);
}

TEST_P(CenterNode, PushedJobsOfALimitedQueueWaitForTheirUnitsAndGoBackWhenStopped) {
  resilience::ManualClock clock;
  std::atomic<int> email_runs{0};
  std::atomic<int> other_runs{0};
  int ran_while_frozen = -1;
  std::size_t back_pending = 0;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    NodeOptions o = fast_node("n1", 8);
    o.grace = 10ms;  // the waiting jobs are cancelled at once at shutdown
    o.queue_rates["email"] = {.events = 1, .per = 1s, .burst = 2, .clock = &clock};
    Node node(broker, o);
    node.handle("send", [&](Context, Job job) -> Task<Result<void>> {
      (job.spec.queue == "email" ? email_runs : other_runs).fetch_add(1);
      co_return Result<void>{};
    });
    center.attach(node);  // the center hands jobs over started: no claim caps them
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    JobSpec email = spec("send");
    email.queue = "email";
    JobSpec other = spec("send");
    other.queue = "other";
    const std::vector<JobSpec> emails(5, email);
    CO_ASSERT_OK(co_await center.submit_batch(guard, emails));
    co_await wait_until(guard, [&] { return email_runs.load() >= 2; });
    // The other 3 wait for units a second or more away by the frozen clock; an
    // unlimited queue's job still runs beside them.
    CO_ASSERT_OK(co_await center.submit(guard, other));
    co_await wait_until(guard, [&] { return other_runs.load() >= 1; });
    ran_while_frozen = email_runs.load();
    stop();  // their waits are cancelled: handed back, their attempts not counted
    (void)co_await std::move(c);
    (void)co_await std::move(n);
    auto pending = co_await broker.list(guard, of_type("send", JobState::kPending));
    if (pending)
      for (const Job& j : *pending)
        if (j.spec.queue == "email" && j.attempt == 0) ++back_pending;
  });
  EXPECT_EQ(ran_while_frozen, 2) << "email jobs run with the clock standing still (burst 2)";
  EXPECT_EQ(back_pending, 3u) << "email jobs pending again with no attempt counted";
}

// Whether `kind` keeps rate limits in the store (Broker::shared_rate_limiter).
bool fleet_kind(const BrokerKind& kind) {
  return kind.name.starts_with("redis");
}

// Two pulling nodes give queue email the same limit, one unit an hour with a burst of
// 3, so nothing refills during the test: on Redis they share it (3 jobs run in all),
// on SQLite each has its own (3 each). Their registrations say which, and that the
// limit holds jobs back now, and queue_status() reads that for `orca queues`.
TEST_P(CenterNode, NodesShareAQueueRateOnRedisAndEachHasItsOwnOnSqlite) {
  const bool fleet = fleet_kind(GetParam());
  const int expected = fleet ? 3 : 6;
  std::atomic<int> email_runs{0};
  std::atomic<int> other_runs{0};
  int email_at_end = -1;
  std::vector<QueueStatus> status;
  std::string rate_tag;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    std::vector<std::unique_ptr<Node>> nodes;
    for (const char* id : {"n1", "n2"}) {
      NodeOptions o = fast_node(id, 4);
      o.pull = true;
      o.queue_rates["email"] = {.events = 1, .per = 1h, .burst = 3};
      nodes.push_back(std::make_unique<Node>(broker, o));
      nodes.back()->handle("send", [&](Context, Job job) -> Task<Result<void>> {
        (job.spec.queue == "email" ? email_runs : other_runs).fetch_add(1);
        co_return Result<void>{};
      });
    }
    JobSpec email = spec("send");
    email.queue = "email";
    JobSpec other = spec("send");
    other.queue = "other";
    std::vector<JobSpec> jobs(10, email);
    jobs.push_back(other);
    (void)co_await broker.enqueue(guard, jobs);
    std::vector<JoinHandle<Result<void>>> running;
    for (auto& node : nodes)
      running.push_back(spawn([n = node.get(), ctx = ctx] { return n->run(ctx); }));
    co_await wait_until(guard, [&] { return email_runs.load() >= expected; });
    // Jobs of an unlimited queue run after further claims found email's limit spent.
    const std::vector<JobSpec> others(4, other);
    (void)co_await broker.enqueue(guard, others);
    co_await wait_until(guard, [&] { return other_runs.load() >= 5; });
    // The registrations catch up at a heartbeat: both nodes throttled on email.
    while (!guard.is_done()) {
      auto q = co_await broker.queues(guard);
      auto n = co_await broker.nodes(guard);
      if (q && n) status = queue_status(*q, *n);
      auto it = std::find_if(status.begin(), status.end(),
                             [](const QueueStatus& s) { return s.stats.queue == "email"; });
      if (it != status.end() && it->throttled_nodes == 2) break;
      co_await sleep_for(2ms);
    }
    email_at_end = email_runs.load();
    auto n = co_await broker.nodes(guard);
    if (n)
      for (const NodeInfo& info : *n)
        for (const std::string& tag : info.tags)
          if (tag.find("rate:email") != std::string::npos) rate_tag = tag;
    stop();
    for (auto& r : running)
      (void)co_await std::move(r);
  });
  EXPECT_EQ(email_at_end, expected)
      << (fleet ? "the nodes share one burst of 3 on Redis" : "each node has a burst of 3");
  EXPECT_EQ(rate_tag, fleet ? "fleet-rate:email=1/h,burst=3" : "node-rate:email=1/h,burst=3");
  auto email = std::find_if(status.begin(), status.end(),
                            [](const QueueStatus& s) { return s.stats.queue == "email"; });
  ASSERT_NE(email, status.end());
  EXPECT_EQ(email->rates, std::vector<std::string>{"1/h,burst=3"});
  EXPECT_EQ(email->fleet, fleet);
  EXPECT_EQ(email->limiting_nodes, 2);
  EXPECT_EQ(email->throttled_nodes, 2);
  auto other = std::find_if(status.begin(), status.end(),
                            [](const QueueStatus& s) { return s.stats.queue == "other"; });
  ASSERT_NE(other, status.end());
  EXPECT_TRUE(other->rates.empty());
  EXPECT_FALSE(other->throttled());
}

// On Redis, two nodes that limit queue email to 100 jobs/s (burst 5) start no more
// than that in any second together: counted over the handlers' start times, with room
// for a claim's round trip between a unit's grant and its job's start (it shifts a
// start into the next window), 20 more. Without a shared limit the two would start
// all 130 jobs within the first second. On SQLite the limits are per node (the test
// above), so there is nothing fleet-wide to measure.
TEST_P(CenterNode, AFleetLimitedQueueNeverExceedsItsRateInAnySecond) {
  if (!fleet_kind(GetParam()))
    GTEST_SKIP() << "per-process limits on this broker: NodesShareAQueueRate... covers it";
  constexpr int kJobs = 130;
  std::mutex mu;
  std::vector<Clock::time_point> starts;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    std::vector<std::unique_ptr<Node>> nodes;
    for (const char* id : {"n1", "n2"}) {
      NodeOptions o = fast_node(id, 8);
      o.pull = true;
      o.queue_rates["email"] = {.events = 100, .per = 1s, .burst = 5};
      nodes.push_back(std::make_unique<Node>(broker, o));
      nodes.back()->handle("send", [&](Context, Job) -> Task<Result<void>> {
        std::lock_guard lock(mu);
        starts.push_back(Clock::now());
        co_return Result<void>{};
      });
    }
    JobSpec email = spec("send");
    email.queue = "email";
    const std::vector<JobSpec> jobs(kJobs, email);
    (void)co_await broker.enqueue(guard, jobs);
    std::vector<JoinHandle<Result<void>>> running;
    for (auto& node : nodes)
      running.push_back(spawn([n = node.get(), ctx = ctx] { return n->run(ctx); }));
    co_await wait_until(guard, [&] {
      std::lock_guard lock(mu);
      return starts.size() >= static_cast<std::size_t>(kJobs);
    });
    stop();
    for (auto& r : running)
      (void)co_await std::move(r);
  });
  ASSERT_EQ(starts.size(), static_cast<std::size_t>(kJobs));
  std::sort(starts.begin(), starts.end());
  std::size_t most = 0;
  for (std::size_t i = 0, j = 0; i < starts.size(); ++i) {
    while (starts[i] - starts[j] >= 1s)
      ++j;
    most = std::max(most, i - j + 1);
  }
  EXPECT_LE(most, 5u + 100u + 20u) << "jobs started within one second, fleet-wide";
}

TEST(QueueStatus, ReadsTheLiveNodesTags) {
  std::vector<QueueStats> queues(2);
  queues[0].queue = "email";
  queues[0].counts[JobState::kPending] = 7;
  queues[1].queue = "reports";
  std::vector<NodeInfo> nodes(3);
  nodes[0].tags = {"gpu", "fleet-rate:email=100/s", "throttled:email", "breaker-open:render",
                   "breaker-held:reports=render"};
  nodes[1].tags = {"fleet-rate:email=100/s", "node-rate:sms=5/m"};
  nodes[2].tags = {"fleet-rate:email=100/s", "throttled:email", "breaker-held:email=x"};
  nodes[2].state = NodeState::kDead;  // says nothing any more
  const std::vector<QueueStatus> s = queue_status(queues, nodes);
  ASSERT_EQ(s.size(), 3u) << "email, reports, and sms that only a tag names";
  EXPECT_EQ(s[0].stats.queue, "email");
  EXPECT_EQ(s[0].stats.counts.at(JobState::kPending), 7);
  EXPECT_EQ(s[0].rates, std::vector<std::string>{"100/s"});
  EXPECT_TRUE(s[0].fleet);
  EXPECT_EQ(s[0].limiting_nodes, 2);
  EXPECT_EQ(s[0].throttled_nodes, 1);
  EXPECT_TRUE(s[0].breaker_held_types.empty());
  EXPECT_EQ(s[1].breaker_held_types, std::vector<std::string>{"render"});
  EXPECT_FALSE(s[1].throttled());
  EXPECT_EQ(s[2].stats.queue, "sms");
  EXPECT_FALSE(s[2].fleet);
  EXPECT_EQ(s[2].rates, std::vector<std::string>{"5/m"});
}

// The message of the std::invalid_argument that Node's constructor throws, or "".
std::string refusal(Broker& broker, NodeOptions o) {
  try {
    Node node(broker, std::move(o));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST_P(CenterNode, BadBreakerOrRateOptionsAreRefusedNamingTheValue) {
  std::string threshold, window, rate, tag, throttled_tag;
  run_on_broker([&](Broker& broker) -> Task<void> {
    NodeOptions o = fast_node("n1", 1);
    o.breaker_enabled = true;
    o.breaker.failure_rate_threshold = 150;
    threshold = refusal(broker, o);
    o.breaker.failure_rate_threshold = 15;
    o.breaker.window_size = 0;
    window = refusal(broker, o);
    NodeOptions r = fast_node("n1", 1);
    r.queue_rates["email"] = {.events = -3};
    rate = refusal(broker, r);
    NodeOptions t = fast_node("n1", 1);
    t.tags = {"breaker-open:email"};
    tag = refusal(broker, t);
    t.tags = {"throttled:email"};
    throttled_tag = refusal(broker, t);
    co_return;
  });
  EXPECT_NE(threshold.find("failure_rate_threshold is 150"), std::string::npos) << threshold;
  EXPECT_NE(window.find("window_size is 0"), std::string::npos) << window;
  EXPECT_NE(rate.find("queue email"), std::string::npos) << rate;
  EXPECT_NE(rate.find("events is -3"), std::string::npos) << rate;
  EXPECT_NE(tag.find("breaker-open:email"), std::string::npos) << tag;
  EXPECT_NE(throttled_tag.find("throttled:email"), std::string::npos) << throttled_tag;
}

// A dependency that serves kCapacity calls at once, as the run times the node's
// adaptive limit hears (its test hook): with `limit` jobs sharing it, each takes
// base * limit / capacity past the capacity (Little's law), base below it.
std::chrono::nanoseconds shared_dependency_time(int limit, int capacity) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      10ms * std::max(1.0, static_cast<double>(limit) / capacity));
}

void raise_to(std::atomic<int>& highest, int value) {
  int seen = highest.load();
  while (value > seen && !highest.compare_exchange_weak(seen, value)) {
  }
}

// The capacity node `id` registered, or -1.
int registered_capacity(const std::vector<NodeInfo>& nodes, const std::string& id) {
  for (const NodeInfo& n : nodes)
    if (n.id == id) return n.capacity;
  return -1;
}

TEST_P(CenterNode, AutoConcurrencySettlesNearTheDependencysCapacityAndAdvertisesIt) {
  constexpr int kCapacity = 20;
  constexpr int kMax = 60;
  constexpr int kJobs = 1000;
  int limit_at_end = -1;
  int registered_at_end = -2;
  std::atomic<int> highest_limit{0};
  std::atomic<int> most_running{0};
  bool shut_down_within_grace = false;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    NodeOptions o = fast_node("auto1", 1);
    o.pull = true;
    o.grace = 30s;  // a shutdown that waited for it would show
    o.adaptive_concurrency = true;
    o.adaptive.max_limit = kMax;
    o.adaptive.min_rtt_samples = 5;
    o.adaptive.on_limit_change = [&](int, int now) { raise_to(highest_limit, now); };
    Node node(broker, o);
    std::atomic<int> done{0};
    node.handle("work", [&](Context, Job) -> Task<Result<void>> {
      raise_to(most_running, node.running());
      done.fetch_add(1);
      co_return Result<void>{};
    });
    node.test_hooks().run_time = [&node](const Job&, std::chrono::nanoseconds) {
      return shared_dependency_time(node.capacity(), kCapacity);
    };
    const std::vector<JobSpec> jobs(kJobs, spec("work"));
    (void)co_await broker.enqueue(guard, jobs);
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    co_await wait_until(guard, [&] { return done.load() >= kJobs; });
    // The last jobs' samples follow their handlers; then the next heartbeat registers
    // the limit the node ended at.
    while (!guard.is_done()) {
      auto nodes = co_await broker.nodes(guard);
      if (nodes && registered_capacity(*nodes, "auto1") == node.capacity()) break;
      co_await sleep_for(2ms);
    }
    limit_at_end = node.capacity();
    auto nodes = co_await broker.nodes(guard);
    if (nodes) registered_at_end = registered_capacity(*nodes, "auto1");
    const auto stopped = Clock::now();
    stop();
    (void)co_await std::move(n);
    shut_down_within_grace = Clock::now() - stopped < o.grace;
  });
  // tolerance * C + sqrt(C) is where the gradient settles: 26 here.
  EXPECT_GE(limit_at_end, kCapacity) << "got limit " << limit_at_end;
  EXPECT_LE(limit_at_end, kCapacity * 3 / 2) << "got limit " << limit_at_end;
  EXPECT_EQ(registered_at_end, limit_at_end);
  EXPECT_LE(highest_limit.load(), kMax);
  EXPECT_LE(most_running.load(), kMax);
  EXPECT_TRUE(shut_down_within_grace);
}

TEST_P(CenterNode, AutoConcurrencyNeverExceedsItsMax) {
  constexpr int kMax = 6;
  constexpr int kJobs = 300;
  std::atomic<int> most_running{0};
  std::atomic<int> highest_capacity{0};
  int limit_at_end = -1;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context guard = hang_guard();
    auto [ctx, stop] = with_cancel(guard);
    Center center(broker, fast_center());
    NodeOptions o = fast_node("auto2", 1);
    o.adaptive_concurrency = true;
    o.adaptive.initial_limit = kMax;
    o.adaptive.max_limit = kMax;
    o.adaptive.min_rtt_samples = 3;
    Node node(broker, o);
    std::atomic<int> done{0};
    node.handle("work", [&](Context, Job) -> Task<Result<void>> {
      raise_to(most_running, node.running());
      raise_to(highest_capacity, node.capacity());
      done.fetch_add(1);
      co_return Result<void>{};
    });
    // A dependency that never queues: the gradient would grow without the max.
    node.test_hooks().run_time = [](const Job&, std::chrono::nanoseconds) {
      return shared_dependency_time(1, 1000);
    };
    center.attach(node);  // jobs handed over started, by the center's reading of capacity()
    auto c = spawn([&center, ctx = ctx] { return center.run(ctx); });
    auto n = spawn([&node, ctx = ctx] { return node.run(ctx); });
    const std::vector<JobSpec> jobs(kJobs, spec("work"));
    (void)co_await center.submit_batch(guard, jobs);
    co_await wait_until(guard, [&] { return done.load() >= kJobs; });
    limit_at_end = node.capacity();
    stop();
    (void)co_await std::move(c);
    (void)co_await std::move(n);
  });
  EXPECT_EQ(limit_at_end, kMax);
  EXPECT_LE(most_running.load(), kMax);
  EXPECT_LE(highest_capacity.load(), kMax);
}

TEST_P(CenterNode, BadAdaptiveConcurrencyOptionsAreRefusedNamingTheValue) {
  std::string bounds;
  run_on_broker([&](Broker& broker) -> Task<void> {
    NodeOptions o = fast_node("n1", 1);
    o.adaptive_concurrency = true;
    o.adaptive.min_limit = 5;
    o.adaptive.max_limit = 2;
    bounds = refusal(broker, o);
    co_return;
  });
  EXPECT_NE(bounds.find("concurrency auto"), std::string::npos) << bounds;
  EXPECT_NE(bounds.find("max_limit (2) is below min_limit (5)"), std::string::npos) << bounds;
}

}  // namespace node_resilience
}  // namespace orca::jobs::testing
