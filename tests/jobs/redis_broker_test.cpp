// The Redis broker beyond the shared contract: cancel requests pushed to the node
// that runs the job, memory that levels off under retention, each queue's keys in one
// cluster slot, and nodes that resume by themselves after Redis was down. Each test
// starts its own redis-server(s).
#include <algorithm>
#include <map>
#include <set>

#include "jobs_test_support.hpp"
#include "orca/jobs/forwarding_broker.hpp"
#include "orca/jobs/redis_broker.hpp"
#include "orca/redis/client.hpp"
#include "orca/redis/cluster.hpp"
#include "orca/redis/url.hpp"
#include "support/redis_server.hpp"

namespace orca::jobs::testing {
namespace {

using S = JobState;

Task<std::unique_ptr<RedisBroker>> connect_broker(Context ctx, std::string url,
                                                  bool cluster = false) {
  RedisBrokerOptions o;
  o.url = std::move(url);
  o.cluster = cluster;
  auto broker = co_await RedisBroker::connect(ctx, std::move(o));
  EXPECT_OK(broker);
  co_return broker ? std::move(*broker) : nullptr;
}

// Jobs in `state`, over every queue.
Task<std::int64_t> count_in(Broker& broker, Context ctx, JobState state) {
  auto stats = co_await broker.queues(ctx);
  std::int64_t n = 0;
  if (!stats) co_return -1;
  for (const QueueStats& q : *stats) {
    auto it = q.counts.find(state);
    if (it != q.counts.end()) n += it->second;
  }
  co_return n;
}

Task<void> wait_count(Broker& broker, Context ctx, JobState state, std::int64_t want) {
  for (;;) {
    auto n = co_await count_in(broker, ctx, state);
    if (n == want || ctx.is_done()) co_return;
    co_await sleep_for(5ms);
  }
}

NodeOptions pull_node(std::string id) {
  NodeOptions o;
  o.id = std::move(id);
  o.concurrency = 4;
  o.pull = true;
  o.heartbeat_interval = 50ms;
  o.lease = 2s;
  o.poll_interval = 10ms;
  o.grace = 2s;
  return o;
}

// Watches only once told to (listen): what the broker pushes before is lost to it.
class ListensLate final : public ForwardingBroker {
 public:
  using ForwardingBroker::ForwardingBroker;
  Task<Result<void>> watch(Context ctx, BrokerEvents events) override {
    auto go = co_await listen.recv(ctx);
    if (!go) co_return Result<void>{};
    co_return co_await inner_.watch(std::move(ctx), std::move(events));
  }
  Channel<int> listen{1};
};

struct CancelSeen {
  JobState after_cancel = S::kPending;
  JobState final_state = S::kPending;
  bool handler_saw_cancel = false;
};

// A running job cancelled through another connection (as from another process), its
// node's heartbeat far later than the test's guard. The node watches from its start,
// or (listen_late) only once the cancel request was published.
CancelSeen cancel_a_running_job(const orca_test::RedisServer& server, bool listen_late) {
  CancelSeen seen;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto node_side = co_await connect_broker(guard, server.url());
    auto other_side = co_await connect_broker(guard, server.url());
    if (!node_side || !other_side) co_return;
    NodeOptions o = pull_node("n1");
    o.heartbeat_interval = std::chrono::minutes(10);
    o.lease = std::chrono::minutes(20);
    ListensLate late(*node_side);
    Node node(late, o);
    if (!listen_late) (void)late.listen.try_send(1);
    Channel<int> started(1);
    node.handle("wait", [&](Context ctx, Job) -> Task<Result<void>> {
      (void)started.try_send(1);
      co_await ctx.done();
      seen.handler_saw_cancel = true;
      co_return ctx.err();
    });
    auto [ctx, stop] = with_cancel(guard);
    auto running = spawn([&node, ctx = ctx] { return node.run(ctx); });
    auto added = co_await other_side->enqueue_one(guard, spec("wait"));
    CO_ASSERT_OK(added);
    auto got = co_await started.recv();
    (void)got;
    auto cancelled = co_await other_side->cancel(guard, added->id);
    seen.after_cancel = cancelled ? *cancelled : S::kPending;
    if (listen_late) (void)late.listen.try_send(1);
    for (;;) {
      auto job = co_await other_side->get(guard, added->id);
      if ((job && !is_live(job->state)) || guard.is_done()) {
        seen.final_state = job ? job->state : S::kPending;
        break;
      }
      co_await sleep_for(2ms);
    }
    stop();
    (void)co_await std::move(running);
    co_await node_side->closed();
    co_await other_side->closed();
  });
  return seen;
}

// The pushed request is what stops the handler at once: only it reaches the node
// before the guard.
TEST(RedisBroker, CancelIsPushedToTheNodeThatRunsTheJob) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server;
  ASSERT_TRUE(server.running()) << server.error();
  const CancelSeen seen = cancel_a_running_job(server, false);
  EXPECT_EQ(seen.after_cancel, S::kRunning);  // flagged; the node ends it
  EXPECT_TRUE(seen.handler_saw_cancel);
  EXPECT_EQ(seen.final_state, S::kCancelled);
}

// A node claims as soon as it starts, before its subscription is confirmed: a cancel
// requested then is published to no one. Once listening, the node reads it (its
// heartbeat, at once), so the job still ends cancelled long before the next beat.
TEST(RedisBroker, ACancelPublishedBeforeTheNodeListensReachesItWhenItDoes) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server;
  ASSERT_TRUE(server.running()) << server.error();
  const CancelSeen seen = cancel_a_running_job(server, true);
  EXPECT_EQ(seen.after_cancel, S::kRunning);
  EXPECT_TRUE(seen.handler_saw_cancel);
  EXPECT_EQ(seen.final_state, S::kCancelled);
}

// A queue that runs forever: round after round of jobs run to the end (some fail for
// good and land in the dead set), each round followed by the retention trim. Redis's
// key count stops growing once the retained window is full, and so does its memory.
TEST(RedisBroker, MemoryLevelsOffOnAQueueThatRunsForever) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server;
  ASSERT_TRUE(server.running()) << server.error();
  constexpr int kRounds = 30;
  constexpr int kPerRound = 200;
  constexpr std::int64_t kKeep = 300;      // succeeded jobs retained
  constexpr std::int64_t kKeepDead = 100;  // failed jobs retained
  std::vector<std::int64_t> keys;
  std::vector<std::int64_t> memory;
  std::int64_t completed = 0;
  auto number = [](const std::optional<std::string>& text,
                   const std::string& field) -> std::int64_t {
    if (!text) return std::int64_t{-1};
    const std::size_t at = text->find(field);
    return at == std::string::npos ? -1 : std::stoll(text->substr(at + field.size()));
  };
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto broker = co_await connect_broker(guard, server.url());
    if (!broker) co_return;
    CO_ASSERT_OK(co_await broker->register_node(guard, node_info("n", "t", kPerRound)));
    Retention keep;
    keep.max_age = std::chrono::hours(1);
    keep.max_finished_jobs = kKeep;
    keep.dead_max_age = std::chrono::hours(1);
    keep.max_dead_jobs = kKeepDead;
    keep.max_audit_entries = 4 * (kKeep + kKeepDead);
    for (int round = 0; round < kRounds; ++round) {
      std::vector<JobSpec> batch(kPerRound, spec("t", std::string(100, 'x')));
      auto added = co_await broker->enqueue(guard, batch);
      EXPECT_TRUE(added.has_value());
      std::vector<Completion> done;
      while (done.size() < static_cast<std::size_t>(kPerRound) && !guard.is_done()) {
        auto claimed = co_await broker->claim(guard, pull("n", "t", kPerRound));
        if (!claimed) break;
        for (const Job& j : *claimed) {
          Completion c;
          c.id = j.id;
          c.node = "n";
          c.attempt = j.attempt;
          c.outcome = j.id % 10 == 0 ? Outcome::kPermanent : Outcome::kSucceeded;
          c.error = c.outcome == Outcome::kPermanent ? "failed for good" : "";
          done.push_back(std::move(c));
        }
      }
      auto acked = co_await broker->complete(guard, done);
      if (acked) completed += static_cast<std::int64_t>(acked->size());
      auto trimmed = co_await broker->trim(guard, keep);
      EXPECT_TRUE(trimmed.has_value());
      keys.push_back(number(orca_test::redis_detail::raw_command(server.port(), {"DBSIZE"}), ":"));
      memory.push_back(number(
          orca_test::redis_detail::raw_command(server.port(), {"INFO", "memory"}), "used_memory:"));
    }
    co_await broker->closed();
  });
  ASSERT_EQ(keys.size(), static_cast<std::size_t>(kRounds));
  EXPECT_EQ(completed, kRounds * kPerRound);
  // Each retained job is three keys (hash, spec, audit trail), plus the queue's own.
  const std::int64_t bound = 3 * (kKeep + kKeepDead) + 20;
  for (int round = 5; round < kRounds; ++round) {
    EXPECT_LE(keys[round], bound) << "round " << round;
    EXPECT_LE(keys[round], keys[4]) << "round " << round;
  }
  // Memory: what the last rounds hold is what round 5 held, give or take the
  // allocator's slack, though 25 more rounds of jobs went through.
  const std::int64_t settled = *std::max_element(memory.begin() + 4, memory.begin() + 8);
  EXPECT_GT(settled, 0);
  EXPECT_LE(memory.back(), settled + settled / 4);
}

// A store written before dead letters had their own retention keeps its failed jobs
// in <q>:finished with the successes: trim moves each one it meets there to
// <q>:dead_at instead of deleting it as a success beyond the cap.
TEST(RedisBroker, TrimMovesDeadLettersAnOlderStoreKeptWithTheSuccesses) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server;
  ASSERT_TRUE(server.running()) << server.error();
  std::size_t dead_left = 0;
  std::int64_t finished_card = -1;
  std::int64_t dead_at_card = -1;
  // A ZCARD's reply, ":N".
  auto card = [&server](const std::string& key) -> std::int64_t {
    const auto reply = orca_test::redis_detail::raw_command(server.port(), {"ZCARD", key});
    return reply && reply->size() > 1 ? std::stoll(reply->substr(1)) : -1;
  };
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto broker = co_await connect_broker(guard, server.url());
    if (!broker) co_return;
    CO_ASSERT_OK(co_await broker->register_node(guard, node_info("n", "t", 10)));
    std::vector<JobSpec> specs(4, spec("t"));
    CO_ASSERT_OK(co_await broker->enqueue(guard, specs));
    auto claimed = co_await broker->claim(guard, pull("n", "t", 4));
    CO_ASSERT_OK(claimed);
    std::vector<Completion> done;
    for (const Job& j : *claimed)
      done.push_back(
          completion(j.id, "n", j.attempt,
                     j.id == claimed->front().id ? Outcome::kPermanent : Outcome::kSucceeded)[0]);
    CO_ASSERT_OK(co_await broker->complete(guard, done));
    // The failed job where an older store kept it.
    const std::string failed = std::to_string(claimed->front().id);
    (void)orca_test::redis_detail::raw_command(server.port(),
                                               {"ZREM", "orca:{default}:dead_at", failed});
    (void)orca_test::redis_detail::raw_command(server.port(),
                                               {"ZADD", "orca:{default}:finished", "1", failed});
    CO_ASSERT_OK(co_await broker->trim(guard, Retention{.max_age = 1h,
                                                        .max_finished_jobs = 0,
                                                        .dead_max_age = 1h,
                                                        .max_dead_jobs = 100,
                                                        .max_audit_entries = 1'000'000}));
    auto dead = co_await broker->list(guard, filter(std::nullopt, true));
    dead_left = dead ? dead->size() : 0;
    finished_card = card("orca:{default}:finished");
    dead_at_card = card("orca:{default}:dead_at");
    co_await broker->closed();
  });
  EXPECT_EQ(dead_left, 1u) << "the failed job was trimmed as a success";
  EXPECT_EQ(finished_card, 0);
  EXPECT_EQ(dead_at_card, 1);
}

// On a 3-master cluster: jobs of several queues run to the end, every key of a queue
// is in its queue's slot, and the queues spread over the masters.
TEST(RedisBroker, EachQueueLivesInOneSlotOfACluster) {
  ORCA_REQUIRE_REDIS_CLUSTER();
  orca_test::RedisCluster cluster(3);
  ASSERT_TRUE(cluster.running()) << cluster.error();
  const std::vector<std::string> queues{"mail", "video", "billing", "search", "reports"};
  std::int64_t succeeded = 0;
  std::map<std::string, std::set<std::uint16_t>> slots_of_queue;
  std::set<std::string> masters_used;
  std::size_t keys_seen = 0;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto broker = co_await connect_broker(guard, cluster.node(0).url(), true);
    if (!broker) co_return;
    std::vector<JobSpec> specs;
    for (int i = 0; i < 50; ++i) {
      JobSpec s = spec("t");
      s.queue = queues[static_cast<std::size_t>(i) % queues.size()];
      specs.push_back(std::move(s));
    }
    auto added = co_await broker->enqueue(guard, specs);
    EXPECT_OK(added);
    Node node(*broker, pull_node("n1"));
    node.handle("t", [](Context, Job) -> Task<Result<void>> { co_return Result<void>{}; });
    auto [ctx, stop] = with_cancel(guard);
    auto running = spawn([&node, ctx = ctx] { return node.run(ctx); });
    co_await wait_count(*broker, guard, S::kSucceeded, 50);
    succeeded = co_await count_in(*broker, guard, S::kSucceeded);
    stop();
    (void)co_await std::move(running);
    co_await broker->closed();
    // Every key, read from the master that holds it.
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      const redis::RedisUrl url = redis::RedisUrl::loopback(cluster.node(i).port());
      auto client = co_await redis::Client::connect(guard, url);
      if (!client) continue;
      std::vector<std::string> all_keys(1, "KEYS");
      all_keys.push_back("orca:*");
      auto keys = co_await client->command(guard, std::move(all_keys));
      if (keys) {
        for (const redis::Reply& k : keys->elements()) {
          const std::string& key = k.str();
          const std::size_t open = key.find('{');
          const std::string tag = key.substr(open + 1, key.find('}') - open - 1);
          slots_of_queue[tag].insert(redis::cluster_slot(key));
          masters_used.insert(cluster.node(i).authority());
          ++keys_seen;
        }
      }
      co_await client->closed();
    }
  });
  EXPECT_EQ(succeeded, 50);
  EXPECT_GT(keys_seen, 0u);
  for (const std::string& q : queues) {
    ASSERT_EQ(slots_of_queue.count(q), 1u) << q;
    EXPECT_EQ(slots_of_queue[q].size(), 1u) << "queue " << q << " spans slots";
  }
  EXPECT_GE(masters_used.size(), 2u) << "every queue landed on one master";
}

// On a cluster, the administration calls run in their queue's slot: a paused queue
// waits while another runs, and runs once resumed; the other's dead jobs are requeued
// (and die again), then deleted.
TEST(RedisBroker, PauseRequeueDeadAndDeleteFinishedRunOnACluster) {
  ORCA_REQUIRE_REDIS_CLUSTER();
  orca_test::RedisCluster cluster(3);
  ASSERT_TRUE(cluster.running()) << cluster.error();
  std::int64_t mail_pending = -1, mail_done = -1, requeued = -1, deleted = -1;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto broker = co_await connect_broker(guard, cluster.node(0).url(), true);
    if (!broker) co_return;
    std::vector<JobSpec> specs;
    for (int i = 0; i < 20; ++i) {
      JobSpec s = spec("t");
      s.queue = i % 2 == 0 ? "mail" : "video";
      s.retry.max_attempts = 1;
      specs.push_back(std::move(s));
    }
    CO_ASSERT_OK(co_await broker->set_queue_paused(guard, "mail", true));
    CO_ASSERT_OK(co_await broker->enqueue(guard, specs));
    Node node(*broker, pull_node("n1"));
    node.handle("t", [](Context, Job j) -> Task<Result<void>> {
      if (j.spec.queue == "video") co_return Error(make_error_code(errc::invalid_job), "boom");
      co_return Result<void>{};
    });
    auto [ctx, stop] = with_cancel(guard);
    auto running = spawn([&node, ctx = ctx] { return node.run(ctx); });
    co_await wait_count(*broker, guard, S::kDead, 10);
    mail_pending = co_await count_in(*broker, guard, S::kPending);
    auto r = co_await broker->requeue_dead(guard, "video");
    if (r) requeued = *r;
    CO_ASSERT_OK(co_await broker->set_queue_paused(guard, "mail", false));
    co_await wait_count(*broker, guard, S::kSucceeded, 10);
    co_await wait_count(*broker, guard, S::kDead, 10);
    mail_done = co_await count_in(*broker, guard, S::kSucceeded);
    stop();
    (void)co_await std::move(running);
    auto d = co_await broker->delete_finished(guard, "video", std::nullopt);
    if (d) deleted = *d;
    co_await broker->closed();
  });
  EXPECT_EQ(mail_pending, 10) << "the paused queue's jobs ran";
  EXPECT_EQ(requeued, 10);
  EXPECT_EQ(mail_done, 10);
  EXPECT_EQ(deleted, 10);
}

// Redis goes down for longer than any poll or heartbeat interval and comes back
// (AOF on): the jobs acknowledged before are there, and the node picks up new work
// by itself.
TEST(RedisBroker, NodesResumeByThemselvesAfterRedisWasDown) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server({.appendonly = true});
  ASSERT_TRUE(server.running()) << server.error();
  std::int64_t before = 0;
  std::int64_t after = 0;
  bool restarted = false;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto broker = co_await connect_broker(guard, server.url());
    if (!broker) co_return;
    Node node(*broker, pull_node("n1"));
    node.handle("t", [](Context, Job) -> Task<Result<void>> { co_return Result<void>{}; });
    auto [ctx, stop] = with_cancel(guard);
    auto running = spawn([&node, ctx = ctx] { return node.run(ctx); });
    std::vector<JobSpec> first(20, spec("t"));
    auto added = co_await broker->enqueue(guard, first);
    EXPECT_TRUE(added.has_value());
    co_await wait_count(*broker, guard, S::kSucceeded, 20);
    before = co_await count_in(*broker, guard, S::kSucceeded);
    // Down for 1.5 s: many polls and heartbeats fail meanwhile.
    auto stop_server = [&server] { return server.stop(); };
    (void)co_await blocking(stop_server);
    co_await sleep_for(1500ms);
    auto start_server = [&server] { return server.restart(); };
    restarted = co_await blocking(start_server);
    // The client reconnects with backoff: the first calls may still fail.
    std::vector<JobSpec> second(20, spec("t"));
    for (;;) {
      auto more = co_await broker->enqueue(guard, second);
      if (more || guard.is_done()) break;
      co_await sleep_for(20ms);
    }
    co_await wait_count(*broker, guard, S::kSucceeded, 40);
    after = co_await count_in(*broker, guard, S::kSucceeded);
    stop();
    (void)co_await std::move(running);
    co_await broker->closed();
  });
  EXPECT_TRUE(restarted) << server.error();
  EXPECT_EQ(before, 20);
  EXPECT_EQ(after, 40);
}

// A reap that fails after it declared a node dead (here another queue's set of the
// node's jobs is a key of the wrong type, so reading it fails) is finished by the
// next reap: the dead node's jobs come back then, not when their leases end.
TEST(RedisBroker, ReapAfterAFailedReapReclaimsTheDeadNodesJobs) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server;
  ASSERT_TRUE(server.running()) << server.error();
  bool first_failed = false;
  std::size_t moved = 0;
  Job after;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto broker = co_await connect_broker(guard, server.url());
    auto raw = co_await redis::Client::connect(guard, *redis::RedisUrl::parse(server.url()));
    if (!broker || !raw) co_return;
    // Queue "a" (reaped first: queues go by name) has no job of the node's; the
    // node's one job is in queue "b", leased for an hour.
    JobSpec in_a = spec("other");
    in_a.queue = "a";
    JobSpec in_b = spec("t");
    in_b.queue = "b";
    CO_ASSERT_OK(co_await broker->enqueue_one(guard, in_a));
    auto added = co_await broker->enqueue_one(guard, in_b);
    CO_ASSERT_OK(added);
    CO_ASSERT_OK(co_await broker->register_node(guard, node_info("ghost", "t")));
    auto taken = co_await broker->claim(guard, pull("ghost", "t", 1, 1h));
    EXPECT_EQ(taken ? taken->size() : 0u, 1u);
    std::vector<std::string> wrong_type{"SET", "orca:{a}:node:ghost", "x"};
    (void)co_await raw->command(guard, std::move(wrong_type));
    co_await sleep_for(5ms);
    auto first = co_await broker->reap(guard, 1ms);  // declares it dead, then fails
    first_failed = !first.has_value();
    std::vector<std::string> repair{"DEL", "orca:{a}:node:ghost"};
    (void)co_await raw->command(guard, std::move(repair));
    auto second = co_await broker->reap(guard, 1ms);
    moved = second ? *second : 0;
    auto got1 = co_await broker->get(guard, added->id);
    CO_ASSERT_OK(got1);
    after = *got1;
    raw->close();
    co_await raw->closed();
    co_await broker->closed();
  });
  EXPECT_TRUE(first_failed) << "the first reap did not fail: the test's fault injection missed";
  EXPECT_EQ(moved, 1u);
  EXPECT_EQ(after.state, S::kPending) << "got the dead node's job " << to_string(after.state)
                                      << " until its lease ends, want pending";
}

// A job hash whose integer field another program overwrote with text: reading the
// job is an error naming the field and the job, not a job with attempt 0.
TEST(RedisBroker, ACorruptHashFieldIsAnErrorNamingFieldAndJob) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server;
  ASSERT_TRUE(server.running()) << server.error();
  std::optional<Error> error;
  JobId id = 0;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto broker = co_await connect_broker(guard, server.url());
    auto raw = co_await redis::Client::connect(guard, *redis::RedisUrl::parse(server.url()));
    if (!broker || !raw) co_return;
    auto added = co_await broker->enqueue_one(guard, spec("t"));
    CO_ASSERT_OK(added);
    id = added->id;
    std::vector<std::string> corrupt{"HSET", "orca:{default}:job:" + std::to_string(id), "att",
                                     "three"};
    auto set = co_await raw->command(guard, std::move(corrupt));
    CO_ASSERT_OK(set);
    auto got = co_await broker->get(guard, id);
    if (!got) error = got.error();
    raw->close();
    co_await raw->closed();
    co_await broker->closed();
  });
  ASSERT_TRUE(error.has_value()) << "got a job from a hash whose att is \"three\", want an error";
  EXPECT_EQ(error->code(), make_error_code(errc::broker_failure));
  const std::string want = "job " + std::to_string(id) + " of queue default: field att";
  EXPECT_NE(error->message().find(want), std::string::npos)
      << "got \"" << error->message() << "\", want it to name \"" << want << "\"";
}

// A claimed job whose hash has text where a time belongs (its "created", written by
// another program): the claim fails that job alone, with an error naming the field
// and the job, and hands out the rest of the batch; the job is not run with a
// creation time of 1970.
TEST(RedisBroker, AClaimedJobWithACorruptTimeFailsAloneNamingTheField) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server;
  ASSERT_TRUE(server.running()) << server.error();
  JobId bad = 0;
  std::set<JobId> good;
  std::set<JobId> taken;
  std::vector<AuditEntry> bad_trail;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto broker = co_await connect_broker(guard, server.url());
    auto url = redis::RedisUrl::parse(server.url());
    CO_ASSERT_OK(url);
    auto raw = co_await redis::Client::connect(guard, *url);
    if (!broker || !raw) co_return;
    CO_ASSERT_OK(co_await broker->register_node(guard, node_info("n1", "t", 10)));
    std::vector<JobSpec> specs(3, spec("t"));
    auto added = co_await broker->enqueue(guard, specs);
    CO_ASSERT_OK(added);
    bad = (*added)[1].id;
    good = {(*added)[0].id, (*added)[2].id};
    std::vector<std::string> corrupt{"HSET", "orca:{default}:job:" + std::to_string(bad), "created",
                                     "yesterday"};
    CO_ASSERT_OK(co_await raw->command(guard, std::move(corrupt)));
    auto claimed = co_await broker->claim(guard, pull("n1", "t", 3));
    CO_ASSERT_OK(claimed);
    for (const Job& j : *claimed)
      taken.insert(j.id);
    auto trail = co_await broker->audit(guard, bad);
    CO_ASSERT_OK(trail);
    bad_trail = *trail;
    raw->close();
    co_await raw->closed();
    co_await broker->closed();
  });
  EXPECT_EQ(taken, good);
  EXPECT_EQ(states_of(bad_trail), (std::vector<S>{S::kPending, S::kRunning, S::kFailed}));
  const std::string why = bad_trail.empty() ? std::string() : bad_trail.back().error;
  const std::string want = "job " + std::to_string(bad) +
                           " of queue default: field created is not an integer: \"yesterday\"";
  EXPECT_EQ(why, want);
}

// Redis's clock is ahead of this machine's by 10 s (a center whose clock is behind):
// a retrying job whose backoff has passed by the server's clock is promoted, and a
// lease that has expired by it is reclaimed, at once, not once this machine's clock
// has caught up. The server's clock decides, as the scripts do.
TEST(RedisBroker, PromotionAndReapingGoByTheServersClock) {
  ORCA_REQUIRE_REDIS();
  orca_test::RedisServer server(
      {.env = {"LD_PRELOAD=" ORCA_TEST_CLOCK_OFFSET_LIB, "ORCA_TEST_CLOCK_OFFSET_MS=10000"}});
  ASSERT_TRUE(server.running()) << server.error();
  std::size_t promoted = 0;
  std::size_t reaped = 0;
  Job retried;
  Job expired;
  orca::run([&]() -> Task<void> {
    Context guard = hang_guard();
    auto broker = co_await connect_broker(guard, server.url());
    if (!broker) co_return;
    CO_ASSERT_OK(co_await broker->register_node(guard, node_info("n1", "t", 2)));
    auto a = co_await broker->enqueue_one(guard, spec("t"));
    CO_ASSERT_OK(a);
    auto b = co_await broker->enqueue_one(guard, spec("t"));
    CO_ASSERT_OK(b);
    // Both running, leased for 1 ms of the server's time.
    auto taken = co_await broker->claim(guard, pull("n1", "t", 2, 1ms));
    EXPECT_EQ(taken ? taken->size() : 0u, 2u);
    // a fails; it may run again 1 ms later, by the server's clock.
    std::vector<Completion> failed = completion(a->id, "n1", 1, Outcome::kRetryable, "again");
    failed[0].retry_delay = 1ms;
    CO_ASSERT_OK(co_await broker->complete(guard, std::move(failed)));
    co_await sleep_for(5ms);  // both times passed on the server
    auto p = co_await broker->promote_due(guard);
    promoted = p ? *p : 0;
    auto r = co_await broker->reap(guard, 1h);  // n1 is alive; b's lease expired
    reaped = r ? *r : 0;
    auto got2 = co_await broker->get(guard, a->id);
    CO_ASSERT_OK(got2);
    retried = *got2;
    auto got3 = co_await broker->get(guard, b->id);
    CO_ASSERT_OK(got3);
    expired = *got3;
    co_await broker->closed();
  });
  EXPECT_EQ(promoted, 1u);
  EXPECT_EQ(retried.state, S::kPending);
  EXPECT_EQ(reaped, 1u);
  EXPECT_EQ(expired.state, S::kPending);
}

}  // namespace
}  // namespace orca::jobs::testing
