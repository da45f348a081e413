// The Broker contract (broker.hpp) on every kind of broker: every transition, its
// audit entry, and the rules that guard it. The kinds are instantiated in
// sqlite_instances_test.cpp and redis_instances_test.cpp; the tests of SQLite's own
// file format stay plain TEST(SqliteBroker, ...) here.
#include <sqlite3.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "broker_fixture.hpp"
#include "orca/trace/span_context.hpp"

namespace orca::jobs::testing {
namespace {

using S = JobState;

TEST_P(BrokerContract, EnqueueClaimAckWritesEachTransitionToTheAudit) {
  std::vector<JobState> trail;
  JobState final_state{};
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto added = co_await broker.enqueue_one(ctx, spec("email", "hello"));
    CO_ASSERT_OK(added);
    const JobId id = added->id;
    auto reg = co_await broker.register_node(ctx, node_info("n1", "email", 2));
    CO_ASSERT_OK(reg);
    auto assigned = co_await broker.assign(ctx, assign_to(id, "n1"), 10s);
    CO_ASSERT_OK(assigned);
    EXPECT_EQ(assigned->size(), 1u);
    auto claimed = co_await broker.claim(ctx, claim_assigned("n1", 5));
    CO_ASSERT_OK(claimed);
    EXPECT_EQ(claimed->size(), 1u);
    EXPECT_EQ(claimed->front().attempt, 1);
    EXPECT_EQ(claimed->front().spec.payload, std::string("hello"));
    auto done = co_await broker.complete(ctx, completion(id, "n1", 1));
    CO_ASSERT_OK(done);
    EXPECT_EQ(*done->front(), S::kSucceeded);
    auto job = co_await broker.get(ctx, id);
    CO_ASSERT_OK(job);
    final_state = job->state;
    auto audit = co_await broker.audit(ctx, id);
    CO_ASSERT_OK(audit);
    trail = states_of(*audit);
    EXPECT_FALSE(audit->front().from.has_value());
    EXPECT_EQ(audit->back().node, std::string("n1"));
  });
  EXPECT_EQ(final_state, S::kSucceeded);
  EXPECT_EQ(trail, (std::vector<S>{S::kPending, S::kLeased, S::kRunning, S::kSucceeded}));
}

TEST_P(BrokerContract, UniqueKeyDeduplicatesWhileLiveOnly) {
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    JobSpec s = spec("sync");
    s.unique_key = "user-42";
    auto first = co_await broker.enqueue_one(ctx, s);
    CO_ASSERT_OK(first);
    auto second = co_await broker.enqueue_one(ctx, s);
    CO_ASSERT_OK(second);
    EXPECT_FALSE(first->duplicate);
    EXPECT_TRUE(second->duplicate);
    EXPECT_EQ(second->id, first->id);
    // Two in one batch: the second is the first's duplicate too.
    JobSpec t = spec("sync");
    t.unique_key = "user-43";
    std::vector<JobSpec> twice(2, t);
    auto batch = co_await broker.enqueue(ctx, twice);
    CO_ASSERT_OK(batch);
    EXPECT_TRUE((*batch)[1].duplicate);
    EXPECT_EQ((*batch)[1].id, (*batch)[0].id);
    // Once the job has finished, the key is free again.
    auto cancelled = co_await broker.cancel(ctx, first->id);
    CO_ASSERT_OK(cancelled);
    EXPECT_EQ(*cancelled, S::kCancelled);
    auto third = co_await broker.enqueue_one(ctx, s);
    CO_ASSERT_OK(third);
    EXPECT_FALSE(third->duplicate);
    EXPECT_NE(third->id, first->id);
  });
}

TEST_P(BrokerContract, BadInputIsRefusedAndNothingIsWritten) {
  JobLimits limits;
  limits.max_payload_bytes = 16;
  run_on_broker(limits, [&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    JobSpec big = spec("email", std::string(17, 'x'));
    EXPECT_NE(check_job_spec(big, limits).find("payload is 17 bytes"), std::string::npos);
    JobSpec bad_type = spec("no spaces allowed");
    JobSpec bad_attempts = spec("email");
    bad_attempts.retry.max_attempts = 0;
    std::vector<JobSpec> bad(1, big);
    bad.push_back(bad_type);
    bad.push_back(bad_attempts);
    for (const JobSpec& s : bad) {
      // A bad spec in a batch refuses the whole batch.
      std::vector<JobSpec> batch(1, spec("email"));
      batch.push_back(s);
      auto r = co_await broker.enqueue(ctx, batch);
      EXPECT_EQ(r.error(), make_error_code(errc::invalid_job));
      EXPECT_EQ(r.error().detail(), check_job_spec(s, limits)) << "the error says which rule";
    }
    auto all = co_await broker.list(ctx, filter());
    CO_ASSERT_OK(all);
    EXPECT_TRUE(all->empty()) << "got " << all->size() << " jobs, want none";
    auto missing = co_await broker.get(ctx, 12345);
    EXPECT_EQ(missing.error(), make_error_code(errc::not_found));
    auto cancel_missing = co_await broker.cancel(ctx, 12345);
    EXPECT_EQ(cancel_missing.error(), make_error_code(errc::not_found));
  });
}

TEST_P(BrokerContract, DelayedJobIsScheduledUntilDueThenPromoted) {
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    JobSpec later = spec("report");
    later.run_at = WallClock::now() + 200ms;
    auto added = co_await broker.enqueue_one(ctx, later);
    CO_ASSERT_OK(added);
    auto job = co_await broker.get(ctx, added->id);
    CO_ASSERT_OK(job);
    EXPECT_EQ(job->state, S::kScheduled);
    auto early = co_await broker.promote_due(ctx);
    CO_ASSERT_OK(early);
    EXPECT_EQ(*early, 0u);
    PeekRequest peek;
    peek.types.push_back("report");
    auto peeked = co_await broker.peek_pending(ctx, peek);
    CO_ASSERT_OK(peeked);
    EXPECT_TRUE(peeked->empty());
    for (;;) {  // poll until due: no assumption about how long 200 ms takes here
      auto promoted = co_await broker.promote_due(ctx);
      CO_ASSERT_OK(promoted);
      if (*promoted == 1 || ctx.is_done()) break;
      co_await sleep_for(10ms);
    }
    job = co_await broker.get(ctx, added->id);
    EXPECT_EQ(job->state, S::kPending);
    // Times are kept in whole milliseconds: a job may come due up to 1 ms before run_at.
    EXPECT_GE(WallClock::now(), *later.run_at - 1ms);
  });
}

TEST_P(BrokerContract, RetryThenDeadThenRequeue) {
  std::vector<JobState> trail;
  std::string requeued_by;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    JobSpec s = spec("flaky");
    s.retry.max_attempts = 2;
    auto added = co_await broker.enqueue_one(ctx, s);
    CO_ASSERT_OK(added);
    const JobId id = added->id;
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "flaky", 1)));
    for (int attempt = 1; attempt <= 2; ++attempt) {
      auto claimed = co_await broker.claim(ctx, pull("n", "flaky", 1));
      CO_ASSERT_OK(claimed);
      EXPECT_EQ(claimed->size(), 1u);
      EXPECT_EQ(claimed->front().attempt, attempt);
      auto done =
          co_await broker.complete(ctx, completion(id, "n", attempt, Outcome::kRetryable, "boom"));
      EXPECT_EQ(*done->front(), attempt == 1 ? S::kRetrying : S::kDead);
      if (attempt == 1) {
        // retry_delay 0: due at once. Promoted explicitly: the contract leaves it to
        // promote_due (SQLite's pulling claim also promotes due jobs itself).
        auto promoted = co_await broker.promote_due(ctx);
        CO_ASSERT_OK(promoted);
        EXPECT_EQ(*promoted, 1u);
      }
    }
    auto dead = co_await broker.list(ctx, filter(std::nullopt, true));
    CO_ASSERT_OK(dead);
    EXPECT_EQ(dead->size(), 1u);
    EXPECT_EQ(dead->front().last_error, std::string("boom"));
    auto requeued = co_await broker.requeue(with_actor(ctx, "ops"), id);
    EXPECT_TRUE(requeued.has_value());
    auto job = co_await broker.get(ctx, id);
    CO_ASSERT_OK(job);
    EXPECT_EQ(job->state, S::kPending);
    EXPECT_EQ(job->attempt, 0);
    auto again = co_await broker.requeue(ctx, id);
    EXPECT_EQ(again.error(), make_error_code(errc::invalid_state));
    auto audit = co_await broker.audit(ctx, id);
    CO_ASSERT_OK(audit);
    trail = states_of(*audit);
    requeued_by = audit->back().actor;
  });
  EXPECT_EQ(trail, (std::vector<S>{S::kPending, S::kRunning, S::kRetrying, S::kPending, S::kRunning,
                                   S::kDead, S::kPending}));
  EXPECT_EQ(requeued_by, "ops");
}

TEST_P(BrokerContract, RetryingJobWaitsForItsBackoff) {
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto added = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(added);
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t")));
    CO_ASSERT_OK(co_await broker.claim(ctx, pull("n", "t", 1)));
    std::vector<Completion> failed = completion(added->id, "n", 1, Outcome::kRetryable, "later");
    failed[0].retry_delay = 1h;
    auto done = co_await broker.complete(ctx, failed);
    CO_ASSERT_OK(done);
    EXPECT_EQ(*done->front(), S::kRetrying);
    auto none = co_await broker.claim(ctx, pull("n", "t", 1));
    CO_ASSERT_OK(none);
    EXPECT_TRUE(none->empty()) << "a retrying job was claimed before its backoff passed";
    auto promoted = co_await broker.promote_due(ctx);
    CO_ASSERT_OK(promoted);
    EXPECT_EQ(*promoted, 0u);
    auto job = co_await broker.get(ctx, added->id);
    CO_ASSERT_OK(job);
    EXPECT_GT(job->ready_at, WallClock::now() + 50min);
  });
}

TEST_P(BrokerContract, PermanentFailureSkipsRetries) {
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    JobSpec s = spec("t");
    s.retry.max_attempts = 5;
    auto added = co_await broker.enqueue_one(ctx, s);
    CO_ASSERT_OK(added);
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t")));
    auto claimed = co_await broker.claim(ctx, pull("n", "t", 1));
    auto done = co_await broker.complete(
        ctx, completion(added->id, "n", 1, Outcome::kPermanent, "bad address"));
    CO_ASSERT_OK(done);
    EXPECT_EQ(*done->front(), S::kFailed);
    auto dead = co_await broker.list(ctx, filter(std::nullopt, true));
    CO_ASSERT_OK(dead);
    EXPECT_EQ(dead->size(), 1u);
  });
}

// Submit, cancel (of a waiting and of a running job) and requeue write the actor of
// their context into their audit rows; the node's own transitions write none.
TEST_P(BrokerContract, ProducerCallsRecordTheirActorInTheAudit) {
  std::vector<std::string> waiting, running;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto first = co_await broker.enqueue_one(with_actor(ctx, "ci"), spec("t"));
    CO_ASSERT_OK(first);
    auto second = co_await broker.enqueue_one(with_actor(ctx, "ci"), spec("t"));
    CO_ASSERT_OK(second);
    CO_ASSERT_OK(co_await broker.cancel(with_actor(ctx, "ops"), first->id));
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t")));
    auto claimed = co_await broker.claim(ctx, pull("n", "t", 1));
    CO_ASSERT_OK(claimed);
    EXPECT_EQ(claimed->size(), 1u);
    CO_ASSERT_OK(co_await broker.cancel(with_actor(ctx, "ops"), second->id));
    CO_ASSERT_OK(co_await broker.complete(
        ctx, completion(second->id, "n", 1, Outcome::kPermanent, "stopped")));
    auto requeued = co_await broker.requeue(with_actor(ctx, "admin:x"), second->id);
    EXPECT_FALSE(requeued.has_value()) << "a cancelled job is not in the dead-letter set";
    // Named locals: a range-for over *co_await ... would outlive the Result it reads.
    auto first_trail = co_await broker.audit(ctx, first->id);
    CO_ASSERT_OK(first_trail);
    auto second_trail = co_await broker.audit(ctx, second->id);
    CO_ASSERT_OK(second_trail);
    for (const AuditEntry& e : *first_trail)
      waiting.push_back(e.actor);
    for (const AuditEntry& e : *second_trail)
      running.push_back(e.actor);
  });
  EXPECT_EQ(waiting, (std::vector<std::string>{"ci", "ops"}));
  // enqueue, claim (running), cancel requested, the node's end (cancelled).
  EXPECT_EQ(running, (std::vector<std::string>{"ci", "", "ops", ""}));
}

// A job enqueued under a traced context carries the trace (job_trace.hpp): its
// trace_id and the submitting span's traceparent; list() filters by trace id.
TEST_P(BrokerContract, EnqueueUnderATraceCarriesItAndListFiltersByTraceId) {
  const std::string parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  std::vector<JobId> in_trace;
  JobId first = 0;
  JobSpec stored;
  std::string own_trace;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    const Context traced = trace::with_span_context(ctx, *trace::parse_traceparent(parent));
    auto a = co_await broker.enqueue_one(traced, spec("t"));
    first = a->id;
    auto b = co_await broker.enqueue_one(ctx, spec("t"));  // untraced
    JobSpec own = spec("t");
    own.trace_id = "mine";  // a spec's own trace id wins over the context's
    auto c = co_await broker.enqueue_one(traced, own);
    auto got = co_await broker.get(ctx, a->id);
    if (got) stored = got->spec;
    auto mine = co_await broker.get(ctx, c->id);
    if (mine) own_trace = mine->spec.trace_id;
    JobFilter f = filter();
    f.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    auto listed = co_await broker.list(ctx, f);
    for (const Job& j : *listed)
      in_trace.push_back(j.id);
    (void)b;
  });
  EXPECT_EQ(stored.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(stored.headers["traceparent"], parent);
  EXPECT_EQ(own_trace, "mine");
  EXPECT_EQ(in_trace, (std::vector<JobId>{first}));
}

// A job whose stored spec does not parse (another program wrote it) can never run: a
// claim that meets it fails it alone (its attempt taken, then failed, the parser's
// message as its error in the audit) and takes the rest of the batch, and later
// claims do not meet it again: one bad job does not stop its queue.
TEST_P(BrokerContract, AJobWhoseSpecDoesNotParseFailsAloneAndTheRestRun) {
  std::set<JobId> taken;
  std::size_t taken_later = 99;
  JobId bad = 0;
  std::set<JobId> good;
  std::vector<AuditEntry> bad_trail;
  std::vector<AuditEntry> good_trail;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n1", "t", 10)));
    std::vector<JobSpec> specs(3, spec("t"));
    auto added = co_await broker.enqueue(ctx, specs);
    CO_ASSERT_OK(added);
    bad = (*added)[1].id;
    good = {(*added)[0].id, (*added)[2].id};
    const bool corrupted = co_await store().corrupt_spec(ctx, bad, "default");
    EXPECT_TRUE(corrupted);
    auto first = co_await broker.claim(ctx, pull("n1", "t", 3));
    EXPECT_OK(first) << "want the good jobs";
    if (first)
      for (const Job& j : *first)
        taken.insert(j.id);
    auto later = co_await broker.claim(ctx, pull("n1", "t", 3));
    EXPECT_OK(later) << "want no jobs";
    if (later) taken_later = later->size();
    auto bad_audit = co_await broker.audit(ctx, bad);
    CO_ASSERT_OK(bad_audit);
    bad_trail = *bad_audit;
    auto good_audit = co_await broker.audit(ctx, (*added)[0].id);
    CO_ASSERT_OK(good_audit);
    good_trail = *good_audit;
  });
  EXPECT_EQ(taken, good);
  EXPECT_EQ(taken_later, 0u);
  EXPECT_EQ(states_of(bad_trail), (std::vector<S>{S::kPending, S::kRunning, S::kFailed}));
  const std::string why = bad_trail.empty() ? std::string() : bad_trail.back().error;
  EXPECT_NE(why.find("spec does not parse"), std::string::npos) << "got error \"" << why << "\"";
  EXPECT_EQ(states_of(good_trail), (std::vector<S>{S::kPending, S::kRunning}));
}

// An assignment's own lease (a job started for a node in the center's process, under
// the lease that node keeps its queue's jobs by) wins over the call's.
TEST_P(BrokerContract, AnAssignmentsOwnLeaseWinsOverTheCalls) {
  Job started;
  Job leased;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n1", "t", 2)));
    auto a = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(a);
    auto b = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(b);
    std::vector<Assignment> both{Assignment{a->id, 0, "n1", true, 7s},
                                 Assignment{b->id, 0, "n1", false}};
    auto assigned = co_await broker.assign(ctx, both, 10s);
    EXPECT_EQ(assigned ? assigned->size() : 0u, 2u);
    auto got1 = co_await broker.get(ctx, a->id);
    CO_ASSERT_OK(got1);
    started = *got1;
    auto got2 = co_await broker.get(ctx, b->id);
    CO_ASSERT_OK(got2);
    leased = *got2;
  });
  EXPECT_EQ(started.state, S::kRunning);
  EXPECT_EQ(started.lease_until - started.updated_at, 7s);
  EXPECT_EQ(leased.state, S::kLeased);
  EXPECT_EQ(leased.lease_until - leased.updated_at, 10s);
}

TEST_P(BrokerContract, StaleNodeCannotCompleteAReclaimedJob) {
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto added = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(added);
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("a", "t")));
    auto claimed = co_await broker.claim(ctx, pull("a", "t", 1, 1ms));
    CO_ASSERT_OK(claimed);
    EXPECT_EQ(claimed->size(), 1u);
    co_await sleep_for(5ms);
    auto reaped = co_await broker.reap(ctx, 1h);  // the lease expired; the node is alive
    CO_ASSERT_OK(reaped);
    EXPECT_EQ(*reaped, 1u);
    auto job = co_await broker.get(ctx, added->id);
    CO_ASSERT_OK(job);
    EXPECT_EQ(job->state, S::kPending);
    // The reason must name the lease; its wording is the broker's (SQLite: "lease expired
    // on node a").
    EXPECT_NE(job->last_error.find("lease"), std::string::npos) << job->last_error;
    auto late = co_await broker.complete(ctx, completion(added->id, "a", 1));
    CO_ASSERT_OK(late);
    EXPECT_EQ(late->front().error(), make_error_code(errc::lease_lost));
  });
}

TEST_P(BrokerContract, DeadNodesJobsAreReclaimed) {
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto a = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(a);
    auto b = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(b);
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("gone", "t", 2)));
    CO_ASSERT_OK(
        co_await broker.assign(ctx, assign_to(a->id, "gone"), 1h));  // leased, never started
    auto claimed = co_await broker.claim(ctx, claim_assigned("gone", 1, 1h));
    CO_ASSERT_OK(claimed);
    EXPECT_EQ(claimed->size(), 1u);                                           // a: running
    CO_ASSERT_OK(co_await broker.assign(ctx, assign_to(b->id, "gone"), 1h));  // b: leased
    co_await sleep_for(5ms);
    auto reaped = co_await broker.reap(ctx, 1ms);  // no heartbeat for 1 ms: dead
    CO_ASSERT_OK(reaped);
    EXPECT_EQ(*reaped, 2u);
    auto nodes = co_await broker.nodes(ctx);
    CO_ASSERT_OK(nodes);
    EXPECT_EQ(nodes->front().state, NodeState::kDead);
    auto ja = co_await broker.get(ctx, a->id);
    CO_ASSERT_OK(ja);
    auto jb = co_await broker.get(ctx, b->id);
    CO_ASSERT_OK(jb);
    EXPECT_EQ(ja->state, S::kPending);  // back in the queue, its attempt counted
    EXPECT_EQ(ja->attempt, 1);
    EXPECT_EQ(jb->state, S::kPending);  // never started: straight back
    const std::vector<JobId> none;
    auto hb = co_await broker.heartbeat(ctx, "gone", 0, 1s, none);
    CO_ASSERT_OK(hb);
    EXPECT_FALSE(hb->known);
  });
}

// A heartbeat extends the leases of the running jobs the node names, not of one it
// does not run (its claim's reply was lost, or it gave up acknowledging): that one
// expires and runs again, although the node lives.
TEST_P(BrokerContract, HeartbeatKeepsOnlyTheJobsTheNodeHolds) {
  JobState held_state{};
  JobState lost_state{};
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto held = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(held);
    auto lost = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(lost);
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t", 2)));
    // The claim's short lease is the one that lapses. The heartbeat need not come
    // within it: a late one still extends a lease that nothing has reclaimed (only the
    // test reaps, after it), so a slow machine cannot fail this.
    auto claimed = co_await broker.claim(ctx, pull("n", "t", 2, 100ms));
    CO_ASSERT_OK(claimed);
    EXPECT_EQ(claimed->size(), 2u);
    const std::vector<JobId> holding(1, held->id);
    auto hb = co_await broker.heartbeat(ctx, "n", 1, 1h, holding);
    CO_ASSERT_OK(hb);
    EXPECT_TRUE(hb->known);
    co_await sleep_for(200ms);                    // past the claim's lease
    auto reaped = co_await broker.reap(ctx, 1h);  // the node itself is alive
    CO_ASSERT_OK(reaped);
    EXPECT_EQ(*reaped, 1u);
    auto got3 = co_await broker.get(ctx, held->id);
    CO_ASSERT_OK(got3);
    held_state = got3->state;
    auto got4 = co_await broker.get(ctx, lost->id);
    CO_ASSERT_OK(got4);
    lost_state = got4->state;
  });
  EXPECT_EQ(held_state, S::kRunning);
  EXPECT_EQ(lost_state, S::kPending);  // back in the queue, the attempt counted
}

TEST_P(BrokerContract, QueueLeasesApplyToClaimsAndHeartbeats) {
  JobState quick_state{};
  JobState slow_state{};
  int quick_attempt = 0;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    JobSpec q = spec("t");
    q.queue = "quick";
    JobSpec s = spec("t");
    s.queue = "slow";
    auto quick = co_await broker.enqueue_one(ctx, q);
    CO_ASSERT_OK(quick);
    auto slow = co_await broker.enqueue_one(ctx, s);
    CO_ASSERT_OK(slow);
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t", 2)));
    // The quick queue's lease is meant to lapse; the heartbeat below may come late
    // (it extends a lease nothing has reclaimed yet), the sleep after it may not end
    // early.
    const Leases leases(100ms, {{"slow", 1h}});
    auto claimed = co_await broker.claim(ctx, pull("n", "t", 2, leases));
    CO_ASSERT_OK(claimed);
    EXPECT_EQ(claimed->size(), 2u);
    std::map<std::string, WallClock::time_point> until;
    for (const Job& j : *claimed)
      until[j.spec.queue] = j.lease_until;
    EXPECT_GE(until["slow"] - until["quick"], std::chrono::minutes(30));
    // The heartbeat extends each job by its queue's lease: the quick one's lapses.
    const std::vector<JobId> holding{quick->id, slow->id};
    auto hb = co_await broker.heartbeat(ctx, "n", 2, leases, holding);
    CO_ASSERT_OK(hb);
    EXPECT_TRUE(hb->known);
    co_await sleep_for(200ms);
    auto reaped = co_await broker.reap(ctx, 1h);  // the node itself is alive
    CO_ASSERT_OK(reaped);
    EXPECT_EQ(*reaped, 1u);
    auto got = co_await broker.get(ctx, quick->id);
    CO_ASSERT_OK(got);
    quick_state = got->state;
    quick_attempt = got->attempt;
    auto got5 = co_await broker.get(ctx, slow->id);
    CO_ASSERT_OK(got5);
    slow_state = got5->state;
  });
  EXPECT_EQ(quick_state, S::kPending);  // back in the queue, the attempt counted
  EXPECT_EQ(quick_attempt, 1);
  EXPECT_EQ(slow_state, S::kRunning);
}

// A job whose node died (running or only leased to it) or that its node handed back
// keeps its place in the queue: it is claimed before the backlog enqueued after it.
TEST_P(BrokerContract, ReclaimedJobsKeepTheirPlaceInTheQueue) {
  std::set<JobId> want;
  std::set<JobId> got;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto running = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(running);
    auto leased = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(leased);
    auto handed = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(handed);
    want = {running->id, leased->id, handed->id};
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("gone", "t", 2)));
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("leaving", "t", 1)));
    auto a = co_await broker.claim(ctx, pull("gone", "t", 1, 1h));
    CO_ASSERT_OK(a);
    EXPECT_EQ(a->size() == 1 ? a->front().id : 0, running->id);
    CO_ASSERT_OK(co_await broker.assign(ctx, assign_to(leased->id, "gone"), 1h));
    auto c = co_await broker.claim(ctx, pull("leaving", "t", 1, 1h));
    CO_ASSERT_OK(c);
    EXPECT_EQ(c->size() == 1 ? c->front().id : 0, handed->id);
    CO_ASSERT_OK(
        co_await broker.complete(ctx, completion(handed->id, "leaving", 1, Outcome::kHandBack)));
    co_await sleep_for(5ms);
    std::vector<JobSpec> backlog(20, spec("t"));
    CO_ASSERT_OK(co_await broker.enqueue(ctx, backlog));
    auto reaped = co_await broker.reap(ctx, 1ms);  // "gone" has not beaten for 5 ms: dead
    CO_ASSERT_OK(reaped);
    EXPECT_EQ(*reaped, 2u);
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("next", "t", 3)));
    auto next = co_await broker.claim(ctx, pull("next", "t", 3));
    CO_ASSERT_OK(next);
    for (const Job& j : *next)
      got.insert(j.id);
  });
  EXPECT_EQ(got, want) << "the first three claimed after the reclaim are not the three "
                          "jobs enqueued before the backlog";
}

TEST_P(BrokerContract, CancelRunningJobFlagsItAndItEndsCancelledNotRetried) {
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto added = co_await broker.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(added);
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t")));
    CO_ASSERT_OK(co_await broker.claim(ctx, pull("n", "t", 1)));
    auto c = co_await broker.cancel(ctx, added->id);
    CO_ASSERT_OK(c);
    EXPECT_EQ(*c, S::kRunning);
    std::vector<JobId> held(1, added->id);
    auto hb = co_await broker.heartbeat(ctx, "n", 1, 10s, held);
    CO_ASSERT_OK(hb);
    EXPECT_EQ(hb->cancel_requested, std::vector<JobId>{added->id});
    // Even a "retryable" failure of a cancelled job is not retried.
    auto done = co_await broker.complete(ctx, completion(added->id, "n", 1, Outcome::kRetryable));
    CO_ASSERT_OK(done);
    EXPECT_EQ(*done->front(), S::kCancelled);
    auto again = co_await broker.cancel(ctx, added->id);
    EXPECT_EQ(again.error(), make_error_code(errc::invalid_state));
  });
}

TEST_P(BrokerContract, QueueWeightsShareClaimsWithoutStarvingTheLowQueue) {
  std::size_t low_taken = 0;
  std::size_t high_taken = 0;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    std::vector<JobSpec> specs;
    for (int i = 0; i < 300; ++i) {
      JobSpec s = spec("t");
      s.queue = i % 2 == 0 ? "critical" : "low";
      s.priority = s.queue == "critical" ? 100 : 0;
      specs.push_back(s);
    }
    CO_ASSERT_OK(co_await broker.enqueue(ctx, specs));
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t")));
    QueueWeights weights;
    weights["critical"] = 9;
    weights["low"] = 1;
    // 10 claims of 10 with weights 9:1: "low" must get some of the first 100.
    for (int round = 0; round < 10; ++round) {
      auto claimed = co_await broker.claim(ctx, pull("n", "t", 10, 10s, weights));
      CO_ASSERT_OK(claimed);
      for (const Job& j : *claimed)
        (j.spec.queue == "low" ? low_taken : high_taken)++;
    }
  });
  EXPECT_EQ(low_taken + high_taken, 100u);
  // With weight 1/10 the expected share is 10; P(0 of 100 draws) = 0.9^100 ~ 3e-5.
  EXPECT_GT(low_taken, 0u) << "the low-weight queue starved";
  EXPECT_GT(high_taken, low_taken) << "got high " << high_taken << ", low " << low_taken;
}

TEST_P(BrokerContract, PriorityOrdersWithinAQueueThenFifo) {
  std::vector<int> order;
  std::vector<JobId> enqueued;
  std::vector<JobId> taken;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    for (int p : {1, 5, 3, 5}) {
      JobSpec s = spec("t");
      s.priority = p;
      auto added = co_await broker.enqueue_one(ctx, s);
      CO_ASSERT_OK(added);
      enqueued.push_back(added->id);
    }
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t", 4)));
    // One claim per job: the contract orders what a claim takes, not the order of the
    // jobs inside one claim's answer.
    for (int i = 0; i < 4; ++i) {
      auto claimed = co_await broker.claim(ctx, pull("n", "t", 1));
      CO_ASSERT_OK(claimed);
      for (const Job& j : *claimed) {
        order.push_back(j.spec.priority);
        taken.push_back(j.id);
      }
    }
  });
  EXPECT_EQ(order, (std::vector<int>{5, 5, 3, 1}));
  ASSERT_EQ(taken.size(), 4u);
  EXPECT_EQ(taken[0], enqueued[1]) << "equal priorities: the older first";
  EXPECT_EQ(taken[1], enqueued[3]);
}

TEST_P(BrokerContract, ClaimTakesOnlyTypesTheNodeHandles) {
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    std::vector<JobSpec> ab(1, spec("a"));
    ab.push_back(spec("b"));
    CO_ASSERT_OK(co_await broker.enqueue(ctx, ab));
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "b")));
    auto claimed = co_await broker.claim(ctx, pull("n", "b", 5));
    CO_ASSERT_OK(claimed);
    EXPECT_EQ(claimed->size(), 1u);
    EXPECT_EQ(claimed->front().spec.type, std::string("b"));
  });
}

TEST_P(BrokerContract, TrimBoundsFinishedJobsAndAudit) {
  std::size_t jobs_left = 0;
  std::size_t live_left = 0;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    std::vector<JobSpec> specs(50, spec("t"));
    auto added = co_await broker.enqueue(ctx, specs);
    CO_ASSERT_OK(added);
    for (std::size_t i = 0; i < 45; ++i)
      CO_ASSERT_OK(co_await broker.cancel(ctx, (*added)[i].id));
    auto rep = co_await broker.trim(
        ctx, Retention{.max_age = 1h, .max_finished_jobs = 10, .max_audit_entries = 1000});
    CO_ASSERT_OK(rep);
    EXPECT_EQ(rep->jobs_deleted, 35);
    EXPECT_EQ(rep->audit_deleted, 70);  // two entries each: enqueue and cancel
    auto all = co_await broker.list(ctx, filter());
    CO_ASSERT_OK(all);
    jobs_left = all->size();
    auto live = co_await broker.list(ctx, filter(S::kPending));
    CO_ASSERT_OK(live);
    live_left = live->size();
    // By age: everything finished is older than 0 ms.
    co_await sleep_for(2ms);
    auto rep2 = co_await broker.trim(
        ctx, Retention{.max_age = 1ms, .max_finished_jobs = 1000, .max_audit_entries = 1000});
    CO_ASSERT_OK(rep2);
    EXPECT_EQ(rep2->jobs_deleted, 10);
    // The audit count cap holds for the live jobs' entries too.
    auto rep3 = co_await broker.trim(
        ctx, Retention{.max_age = 1h, .max_finished_jobs = 1000, .max_audit_entries = 3});
    (void)rep3;
    std::size_t audit_rows = 0;
    for (const Job& j : *live) {
      auto trail = co_await broker.audit(ctx, j.id);
      EXPECT_TRUE(trail.has_value()) << "job " << j.id << ": " << trail.error().message();
      if (trail) audit_rows += trail->size();
    }
    EXPECT_LE(audit_rows, 3u);
  });
  EXPECT_EQ(jobs_left, 15u);
  EXPECT_EQ(live_left, 5u);
}

TEST_P(BrokerContract, TrimDeletesABacklogInStepsWithEveryTrail) {
  std::int64_t jobs_deleted = 0;
  std::int64_t audit_deleted = 0;
  std::size_t left = 0;
  std::size_t kept_with_whole_trail = 0;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    // 4,500 finished jobs: more than two of SQLite's trim steps (2,000 jobs each).
    std::vector<JobSpec> specs(4500, spec("t"));
    auto added = co_await broker.enqueue(ctx, specs);
    CO_ASSERT_OK(added);
    EXPECT_EQ(added->size(), 4500u);
    auto reg = co_await broker.register_node(ctx, node_info("n1", "t", 4500));
    EXPECT_TRUE(reg.has_value());
    auto claimed = co_await broker.claim(ctx, pull("n1", "t", 4500));
    CO_ASSERT_OK(claimed);
    std::vector<Completion> done;
    for (const Job& j : *claimed)
      done.push_back(completion(j.id, "n1", j.attempt)[0]);
    auto completed = co_await broker.complete(ctx, std::move(done));
    CO_ASSERT_OK(completed);
    EXPECT_EQ(completed->size(), 4500u);
    auto rep = co_await broker.trim(
        ctx, Retention{.max_age = 1h, .max_finished_jobs = 100, .max_audit_entries = 1'000'000});
    CO_ASSERT_OK(rep);
    jobs_deleted = rep->jobs_deleted;
    audit_deleted = rep->audit_deleted;
    auto kept = co_await broker.list(ctx, filter(std::nullopt, false, 10'000));
    CO_ASSERT_OK(kept);
    left = kept->size();
    // The kept jobs stay with their whole trails. Which of the jobs that finished in
    // the same millisecond count as the newest is up to the broker, so every kept job
    // is checked rather than the last one enqueued.
    for (const Job& j : *kept) {
      auto trail = co_await broker.audit(ctx, j.id);
      if (trail && trail->size() == 3) ++kept_with_whole_trail;
    }
  });
  EXPECT_EQ(jobs_deleted, 4400);
  EXPECT_EQ(audit_deleted, 4400 * 3);  // pending, running, succeeded
  EXPECT_EQ(left, 100u);
  EXPECT_EQ(kept_with_whole_trail, 100u)
      << "got " << kept_with_whole_trail << " kept jobs with 3 audit entries, want all 100";
}

// Dead letters are bounded apart from successes: a batch of successes larger than the
// finished cap pushes out successes only, however many; the dead-letter set then goes
// by its own count and age.
TEST_P(BrokerContract, SuccessesNeverPushOutDeadLetters) {
  // Three trims, succeeded jobs capped at 10 each time; the dead letters by count
  // and age: 100 and 1 h (nothing to trim), 4, then 1 ms (all of them).
  const std::pair<std::int64_t, std::chrono::milliseconds> dead_bounds[] = {
      {100, 1h}, {4, 1h}, {100, 1ms}};
  std::vector<std::size_t> dead_left;
  std::vector<std::size_t> succeeded_left;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t", 100)));
    // Runs `n` jobs to the end: dead (attempts exhausted) and failed for good in turn
    // when `letters`, else succeeded.
    auto run_jobs = [&broker, ctx](std::size_t n, bool letters) -> Task<void> {
      JobSpec once = spec("t");
      once.retry.max_attempts = 1;
      std::vector<JobSpec> batch(n, once);
      auto added = co_await broker.enqueue(ctx, std::move(batch));
      CO_ASSERT_OK(added);
      EXPECT_EQ(added->size(), n);
      auto claimed = co_await broker.claim(ctx, pull("n", "t", n));
      CO_ASSERT_OK(claimed);
      std::vector<Completion> done;
      for (std::size_t i = 0; i < claimed->size(); ++i) {
        const Job& j = (*claimed)[i];
        const Outcome outcome = !letters     ? Outcome::kSucceeded
                                : i % 2 == 0 ? Outcome::kRetryable
                                             : Outcome::kPermanent;
        done.push_back(completion(j.id, "n", j.attempt, outcome, "boom")[0]);
      }
      CO_ASSERT_OK(co_await broker.complete(ctx, std::move(done)));
    };
    auto count = [&broker, ctx](bool dead_letter) -> Task<std::size_t> {
      auto listed = co_await broker.list(ctx, filter(std::nullopt, dead_letter, 10'000));
      if (!listed) co_return 0;
      std::size_t n = 0;
      for (const Job& j : *listed)
        n += (dead_letter || j.state == S::kSucceeded) ? 1 : 0;
      co_return n;
    };
    co_await run_jobs(6, true);
    co_await run_jobs(50, false);
    for (const auto& bound : dead_bounds) {
      if (bound.second < 1s) co_await sleep_for(2ms);  // every dead letter is older than that
      CO_ASSERT_OK(co_await broker.trim(ctx, Retention{.max_age = 1h,
                                                       .max_finished_jobs = 10,
                                                       .dead_max_age = bound.second,
                                                       .max_dead_jobs = bound.first,
                                                       .max_audit_entries = 1'000'000}));
      dead_left.push_back(co_await count(true));
      succeeded_left.push_back(co_await count(false));
    }
  });
  EXPECT_EQ(dead_left, (std::vector<std::size_t>{6, 4, 0}))
      << "the first: successes pushed out dead letters";
  EXPECT_EQ(succeeded_left, (std::vector<std::size_t>{10, 10, 10}));
}

// queues() against the jobs themselves: "" when every queue's count of every state and
// its oldest pending due time are exact, else both. Queues without jobs may be listed
// with no counts.
Task<std::string> count_mismatch(Broker& broker, Context ctx) {
  using Counts = std::map<std::string, std::map<JobState, std::int64_t>>;
  using Oldest = std::map<std::string, std::int64_t>;  // queue -> due ms; none: no entry
  auto stats = co_await broker.queues(ctx);
  auto jobs = co_await broker.list(ctx, filter(std::nullopt, false, 10'000));
  if (!stats || !jobs) co_return "queues() or list() failed";
  Counts got;
  Oldest got_oldest;
  for (const QueueStats& q : *stats) {
    for (const auto& [state, n] : q.counts)
      got[q.queue][state] = n;
    if (q.oldest_pending_due) got_oldest[q.queue] = to_unix_ms(*q.oldest_pending_due);
  }
  Counts want;
  Oldest want_oldest;
  for (const Job& j : *jobs) {
    ++want[j.spec.queue][j.state];
    if (j.state != JobState::kPending) continue;
    const std::int64_t due = to_unix_ms(j.ready_at);
    auto [it, fresh] = want_oldest.emplace(j.spec.queue, due);
    if (!fresh) it->second = std::min(it->second, due);
  }
  if (got_oldest != want_oldest) {
    std::ostringstream out;
    out << "oldest pending due ms: got " << ::testing::PrintToString(got_oldest) << ", want "
        << ::testing::PrintToString(want_oldest);
    co_return out.str();
  }
  if (got == want) co_return "";
  auto text = [](const Counts& c) {
    std::ostringstream out;
    for (const auto& [queue, states] : c) {
      out << queue << ":";
      for (const auto& [state, n] : states)
        out << " " << to_string(state) << "=" << n;
      out << "; ";
    }
    return out.str();
  };
  co_return "got " + text(got) + "want " + text(want);
}

TEST_P(BrokerContract, QueueCountsStayExactThroughEveryTransition) {
  std::vector<std::string> mismatches;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto check = [&](const char* step) -> Task<void> {
      std::string mismatch = co_await count_mismatch(broker, ctx);
      if (!mismatch.empty()) mismatches.push_back(std::string(step) + ": " + mismatch);
    };
    std::vector<JobSpec> specs(4, spec("t"));
    for (int i = 0; i < 2; ++i) {
      specs.push_back(spec("t"));
      specs.back().queue = "b";
    }
    JobSpec later = spec("t");
    later.run_at = WallClock::now() + 1h;
    specs.push_back(later);
    JobSpec once = spec("once");
    once.retry.max_attempts = 1;
    once.queue = "b";
    specs.push_back(once);
    auto added = co_await broker.enqueue(ctx, specs);
    CO_ASSERT_OK(added);
    EXPECT_EQ(added->size(), specs.size());
    co_await check("enqueue");
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t,once", 100)));
    auto claimed = co_await broker.claim(ctx, pull("n", "t", 3));
    CO_ASSERT_OK(claimed);
    EXPECT_EQ(claimed->size(), 3u);
    co_await check("claim");
    const Job& first = (*claimed)[0];
    CO_ASSERT_OK(
        co_await broker.complete(ctx, completion(first.id, "n", 1, Outcome::kRetryable, "boom")));
    co_await check("retry");
    CO_ASSERT_OK(co_await broker.promote_due(ctx));
    co_await check("promote");
    CO_ASSERT_OK(co_await broker.cancel(ctx, (*added)[6].id));    // the scheduled one
    CO_ASSERT_OK(co_await broker.cancel(ctx, (*claimed)[1].id));  // running: flagged only
    co_await check("cancel");
    CO_ASSERT_OK(
        co_await broker.complete(ctx, completion((*claimed)[1].id, "n", 1, Outcome::kCancelled)));
    CO_ASSERT_OK(co_await broker.complete(
        ctx, completion((*claimed)[2].id, "n", 1, Outcome::kPermanent, "no")));
    co_await check("cancelled and failed");
    auto single = co_await broker.claim(ctx, pull("n", "once", 1));
    CO_ASSERT_OK(single);
    EXPECT_EQ(single->size(), 1u);
    CO_ASSERT_OK(co_await broker.complete(
        ctx, completion((*added)[7].id, "n", 1, Outcome::kRetryable, "out of attempts")));
    co_await check("dead");
    CO_ASSERT_OK(co_await broker.requeue(ctx, (*added)[7].id));
    co_await check("requeue");
    auto short_lease = co_await broker.claim(ctx, pull("n", "t", 1, 1ms));
    CO_ASSERT_OK(short_lease);
    EXPECT_EQ(short_lease->size(), 1u);
    co_await sleep_for(5ms);
    CO_ASSERT_OK(co_await broker.reap(ctx, 1h));
    co_await check("reclaim");
    auto handed = co_await broker.claim(ctx, pull("n", "t", 1));
    CO_ASSERT_OK(handed);
    if (!handed->empty())
      CO_ASSERT_OK(co_await broker.complete(
          ctx, completion(handed->front().id, "n", handed->front().attempt, Outcome::kHandBack)));
    co_await check("hand back");
    for (int round = 0; round < 20; ++round) {
      CO_ASSERT_OK(co_await broker.promote_due(ctx));
      auto rest = co_await broker.claim(ctx, pull("n", "t,once", 100));
      CO_ASSERT_OK(rest);
      std::vector<Completion> done;
      for (const Job& j : *rest)
        done.push_back(completion(j.id, "n", j.attempt)[0]);
      if (!done.empty()) CO_ASSERT_OK(co_await broker.complete(ctx, std::move(done)));
      co_await sleep_for(10ms);  // the retrying ones come due (spec(): at most 5 ms)
    }
    co_await check("succeed");
    CO_ASSERT_OK(co_await broker.trim(ctx, Retention{.max_age = 1h,
                                                     .max_finished_jobs = 1,
                                                     .dead_max_age = 1h,
                                                     .max_dead_jobs = 0,
                                                     .max_audit_entries = 1'000'000}));
    co_await check("trim");
  });
  EXPECT_TRUE(mismatches.empty()) << ::testing::PrintToString(mismatches);
}

// The oldest pending due time is over every priority and type of the queue: the
// best-priority job is not the oldest, and claiming jobs moves it to the next oldest
// still pending; nothing once none is pending.
TEST_P(BrokerContract, OldestPendingDueSpansPrioritiesAndTypes) {
  std::vector<std::string> got;
  std::vector<std::string> want;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto oldest = [&]() -> Task<std::string> {
      auto stats = co_await broker.queues(ctx);
      if (!stats) co_return "queues() failed";
      for (const QueueStats& q : *stats)
        if (q.queue == "lag")
          co_return q.oldest_pending_due ? std::to_string(to_unix_ms(*q.oldest_pending_due))
                                         : "none";
      co_return "no queue";
    };
    auto due_of = [&](JobId id) -> Task<std::string> {
      auto j = co_await broker.get(ctx, id);
      co_return j ? std::to_string(to_unix_ms(j->ready_at)) : "get failed";
    };
    std::vector<JobId> ids;
    const std::vector<std::pair<std::string, int>> jobs_by_age = {{"x", 0}, {"y", 5}, {"x", 9}};
    for (const auto& [type, priority] : jobs_by_age) {
      JobSpec s = spec(type);
      s.queue = "lag";
      s.priority = priority;
      std::vector<JobSpec> one{s};
      auto added = co_await broker.enqueue(ctx, std::move(one));
      CO_ASSERT_OK(added);
      ids.push_back(added->at(0).id);
      co_await sleep_for(3ms);  // distinct due times, so the order shows
    }
    got.push_back(co_await oldest());
    want.push_back(co_await due_of(ids[0]));
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "x,y", 10)));
    auto first = co_await broker.claim(ctx, pull("n", "x", 1));  // priority 9
    CO_ASSERT_OK(first);
    got.push_back(co_await oldest());
    want.push_back(co_await due_of(ids[0]));
    auto second = co_await broker.claim(ctx, pull("n", "x", 1));  // the oldest
    CO_ASSERT_OK(second);
    got.push_back(co_await oldest());
    want.push_back(co_await due_of(ids[1]));
    auto third = co_await broker.claim(ctx, pull("n", "y", 1));
    CO_ASSERT_OK(third);
    got.push_back(co_await oldest());
    want.push_back("none");
  });
  EXPECT_EQ(got, want);
}

// queues() reads the counts kept per queue and state, not the jobs: a count changed
// behind the broker's back is what it reports (so the call costs the same at 100
// jobs or 10 million).
TEST(SqliteBroker, QueuesReadsTheKeptCountsNotTheJobs) {
  TempDir dir;
  auto opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(opened);
  SqliteBroker& broker = **opened;
  std::int64_t before = -1;
  std::int64_t after = -1;
  orca::run([&]() -> Task<void> {
    Context ctx = hang_guard();
    std::vector<JobSpec> specs(3, spec("t"));
    CO_ASSERT_OK(co_await broker.enqueue(ctx, specs));
    auto stats = co_await broker.queues(ctx);
    CO_ASSERT_OK(stats);
    before = stats->at(0).counts[S::kPending];
    {
      sqlite3* db = nullptr;
      EXPECT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
      EXPECT_EQ(sqlite3_exec(db, "UPDATE queue_counts SET n = 1000000 WHERE state = 0", nullptr,
                             nullptr, nullptr),
                SQLITE_OK);
      sqlite3_close(db);
    }
    stats = co_await broker.queues(ctx);
    CO_ASSERT_OK(stats);
    after = stats->at(0).counts[S::kPending];
  });
  EXPECT_EQ(before, 3);
  EXPECT_EQ(after, 1'000'000) << "queues() did not read queue_counts";
}

// Opening reports SQLite's own words in its Result, not by exception: a directory
// that does not exist, a file that is not a database.
TEST(SqliteBroker, OpenReportsWhyItCannotOpenAStore) {
  TempDir dir;
  auto missing = SqliteBroker::open({.path = (dir.path() / "no-such-dir" / "jobs.db").string()});
  EXPECT_EQ(missing.error(), errc::broker_failure);
  EXPECT_NE(missing.error().message().find("cannot open"), std::string::npos)
      << "got " << missing.error();
  {
    std::ofstream junk(dir.db());
    junk << std::string(4096, 'x');
  }
  auto not_a_store = SqliteBroker::open({.path = dir.db()});
  EXPECT_EQ(not_a_store.error(), errc::broker_failure);
  EXPECT_NE(not_a_store.error().message().find("not a database"), std::string::npos)
      << "got " << not_a_store.error();
}

// A store written by schema version 2 (no kept counts) gets its counts from its jobs
// when opened, and keeps them from then on.
TEST(SqliteBroker, OpensAVersionTwoStoreWithItsQueueCounts) {
  TempDir dir;
  orca::run([&]() -> Task<void> {
    auto opened = SqliteBroker::open({.path = dir.db()});
    CO_ASSERT_OK(opened);
    SqliteBroker& broker = **opened;
    Context ctx = hang_guard();
    std::vector<JobSpec> specs(5, spec("t"));
    specs[4].queue = "b";
    auto added = co_await broker.enqueue(ctx, specs);
    CO_ASSERT_OK(added);
    CO_ASSERT_OK(co_await broker.cancel(ctx, (*added)[0].id));
  });
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    const int rc =
        sqlite3_exec(db, "DROP TABLE queue_counts; PRAGMA user_version=2;", nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  std::string mismatch = "not run";
  std::string mismatch_after_enqueue = "not run";
  orca::run([&]() -> Task<void> {
    auto opened = SqliteBroker::open({.path = dir.db()});
    CO_ASSERT_OK(opened);
    SqliteBroker& broker = **opened;
    Context ctx = hang_guard();
    mismatch = co_await count_mismatch(broker, ctx);
    CO_ASSERT_OK(co_await broker.enqueue_one(ctx, spec("t")));
    mismatch_after_enqueue = co_await count_mismatch(broker, ctx);
  });
  EXPECT_EQ(mismatch, "");
  EXPECT_EQ(mismatch_after_enqueue, "");
}

// A store written by schema version 3 (no leases) opens as version 4 and grants
// leases from token 1.
TEST(SqliteBroker, OpensAVersionThreeStoreWithLeases) {
  TempDir dir;
  orca::run([&]() -> Task<void> {
    auto opened = SqliteBroker::open({.path = dir.db()});
    CO_ASSERT_OK(opened);
    SqliteBroker& broker = **opened;
    CO_ASSERT_OK(co_await broker.enqueue_one(hang_guard(), spec("t")));
  });
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    const int rc =
        sqlite3_exec(db, "DROP TABLE leases; PRAGMA user_version=3;", nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  std::int64_t token = 0;
  orca::run([&]() -> Task<void> {
    auto opened = SqliteBroker::open({.path = dir.db()});
    CO_ASSERT_OK(opened);
    SqliteBroker& broker = **opened;
    auto granted = co_await broker.acquire_lease(hang_guard(), "center", "c1", 1s);
    if (granted && *granted) token = (*granted)->token;
  });
  EXPECT_EQ(token, 1) << "want the lease granted with token 1";
  int version = 0;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  EXPECT_EQ(version, 6);
}

// A store written by schema version 4 (no actor in the audit) opens as version 5 with
// its jobs and trails intact; its old rows have no actor, new rows record theirs.
TEST(SqliteBroker, OpensAVersionFourStoreAndRecordsActorsFromThen) {
  TempDir dir;
  JobId id = 0;
  orca::run([&]() -> Task<void> {
    auto opened = SqliteBroker::open({.path = dir.db()});
    CO_ASSERT_OK(opened);
    SqliteBroker& broker = **opened;
    auto added = co_await broker.enqueue_one(hang_guard(), spec("t", "kept"));
    CO_ASSERT_OK(added);
    id = added->id;
  });
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, "ALTER TABLE audit DROP COLUMN actor; PRAGMA user_version=4;",
                                nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  std::string payload;
  std::vector<std::string> actors;
  orca::run([&]() -> Task<void> {
    auto opened = SqliteBroker::open({.path = dir.db()});
    CO_ASSERT_OK(opened);
    SqliteBroker& broker = **opened;
    Context ctx = hang_guard();
    auto job = co_await broker.get(ctx, id);
    if (job) payload = job->spec.payload;
    CO_ASSERT_OK(co_await broker.cancel(with_actor(ctx, "ops"), id));
    auto trail = co_await broker.audit(ctx, id);
    if (trail)
      for (const AuditEntry& e : *trail)
        actors.push_back(e.actor);
  });
  EXPECT_EQ(payload, "kept");
  EXPECT_EQ(actors, (std::vector<std::string>{"", "ops"}));
}

// A store written by schema version 1 (the audit in time order with an index by
// job) opens with every trail intact, and new rows follow them.
TEST(SqliteBroker, OpensAVersionOneStoreWithItsAuditTrails) {
  TempDir dir;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
    const char* v1 = R"sql(
PRAGMA journal_mode=WAL;
CREATE TABLE jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL, queue TEXT NOT NULL, priority INTEGER NOT NULL, payload BLOB NOT NULL,
  max_attempts INTEGER NOT NULL, base_delay_ms INTEGER NOT NULL, multiplier REAL NOT NULL,
  max_delay_ms INTEGER NOT NULL, jitter REAL NOT NULL, timeout_ms INTEGER NOT NULL,
  deadline_ms INTEGER, unique_key TEXT, trace_id TEXT NOT NULL, headers TEXT NOT NULL,
  state INTEGER NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, node TEXT NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, ready_ms INTEGER NOT NULL,
  lease_ms INTEGER NOT NULL DEFAULT 0, finished_ms INTEGER, run_at_ms INTEGER);
CREATE INDEX jobs_pending ON jobs(queue, priority DESC, ready_ms, id) WHERE state = 0;
CREATE TABLE audit(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, job INTEGER NOT NULL, from_state INTEGER,
  to_state INTEGER NOT NULL, node TEXT NOT NULL, attempt INTEGER NOT NULL,
  at_ms INTEGER NOT NULL, error TEXT NOT NULL);
CREATE INDEX audit_job ON audit(job, seq);
CREATE TABLE queues(name TEXT PRIMARY KEY);
INSERT INTO queues VALUES('default');
INSERT INTO jobs(type, queue, priority, payload, max_attempts, base_delay_ms, multiplier,
  max_delay_ms, jitter, timeout_ms, trace_id, headers, state, created_ms, updated_ms, ready_ms)
  VALUES('a', 'default', 0, '', 3, 10, 2.0, 100, 0.0, 0, '', '{}', 0, 1000, 1000, 1000),
        ('b', 'default', 0, '', 3, 10, 2.0, 100, 0.0, 0, '', '{}', 7, 1000, 1002, 1000);
INSERT INTO audit(job, from_state, to_state, node, attempt, at_ms, error)
  VALUES(1, NULL, 0, '', 0, 1000, ''), (2, NULL, 0, '', 0, 1000, ''),
        (99, NULL, 0, '', 0, 1001, ''), (2, 0, 7, '', 0, 1002, 'cancelled');
PRAGMA user_version=1;
)sql";
    char* err = nullptr;
    const int rc = sqlite3_exec(db, v1, nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  auto opened = SqliteBroker::open({.path = dir.db()});
  ASSERT_OK(opened);
  SqliteBroker& broker = **opened;
  std::vector<JobState> trail_a;
  std::vector<JobState> trail_b;
  std::string b_error;
  orca::run([&]() -> Task<void> {
    Context ctx = hang_guard();
    auto cancelled = co_await broker.cancel(ctx, 1);
    CO_ASSERT_OK(cancelled);
    EXPECT_EQ(*cancelled, S::kCancelled);
    auto a = co_await broker.audit(ctx, 1);
    CO_ASSERT_OK(a);
    trail_a = states_of(*a);
    auto b = co_await broker.audit(ctx, 2);
    CO_ASSERT_OK(b);
    trail_b = states_of(*b);
    b_error = b->back().error;
    auto fresh = co_await broker.enqueue_one(ctx, spec("c"));
    CO_ASSERT_OK(fresh);
    EXPECT_EQ(fresh->id, 3);
    auto fresh_trail = co_await broker.audit(ctx, fresh->id);
    CO_ASSERT_OK(fresh_trail);
    const std::vector<S> just_enqueued(1, S::kPending);
    EXPECT_EQ(states_of(*fresh_trail), just_enqueued);
  });
  EXPECT_EQ(trail_a, (std::vector<S>{S::kPending, S::kCancelled}));
  EXPECT_EQ(trail_b, (std::vector<S>{S::kPending, S::kCancelled}));
  EXPECT_EQ(b_error, "cancelled");
}

// Contract rule 1 holds "also when several processes share the store": two brokers on
// one store stand for two processes (SQLite: one file; Redis: one server and prefix).
TEST_P(BrokerContract, TwoBrokersOnOneStoreSeeEachOthersWrites) {
  run_on_two_brokers([&](Broker& a, Broker& b) -> Task<void> {
    Context ctx = hang_guard();
    auto added = co_await a.enqueue_one(ctx, spec("t"));
    CO_ASSERT_OK(added);
    CO_ASSERT_OK(co_await b.register_node(ctx, node_info("n", "t")));
    auto claimed = co_await b.claim(ctx, pull("n", "t", 1));
    CO_ASSERT_OK(claimed);
    EXPECT_EQ(claimed->size(), 1u);
    // The other broker cannot take it twice.
    auto twice = co_await a.claim(ctx, pull("m", "t", 1));
    CO_ASSERT_OK(twice);
    EXPECT_TRUE(twice->empty());
    auto job = co_await a.get(ctx, added->id);
    CO_ASSERT_OK(job);
    EXPECT_EQ(job->state, S::kRunning);
  });
}

// The leadership lease: one holder at a time, a renewal keeps the token, each new
// holder gets a larger one; after a takeover the old holder is refused. Two brokers
// on one store stand for two centers' processes.
TEST_P(BrokerContract, LeaseGoesToOneHolderAtATimeWithGrowingTokens) {
  run_on_two_brokers([&](Broker& a, Broker& b) -> Task<void> {
    Context ctx = hang_guard();
    auto first = co_await a.acquire_lease(ctx, "center", "c1", 300ms);
    EXPECT_TRUE(first.has_value() && first->has_value()) << "free lease: want granted";
    if (!first || !*first) co_return;
    EXPECT_EQ((*first)->token, 1) << "got token " << (*first)->token << ", want 1";
    auto refused = co_await b.acquire_lease(ctx, "center", "c2", 300ms);
    EXPECT_TRUE(refused.has_value() && !refused->has_value()) << "held: want refused";
    // Another name is another lease.
    auto other = co_await b.acquire_lease(ctx, "timekeeper", "c2", 300ms);
    EXPECT_TRUE(other.has_value() && other->has_value() && (*other)->token == 1);
    auto renewed = co_await a.acquire_lease(ctx, "center", "c1", 300ms);
    EXPECT_TRUE(renewed.has_value() && renewed->has_value());
    if (!renewed || !*renewed) co_return;
    EXPECT_EQ((*renewed)->token, 1) << "a renewal must keep the token";
    EXPECT_GE((*renewed)->expires, (*first)->expires);
    // c1 stops renewing: once its lease has run out, c2 takes it with token 2.
    co_await sleep_for(400ms);
    auto taken = co_await b.acquire_lease(ctx, "center", "c2", 10s);
    EXPECT_TRUE(taken.has_value() && taken->has_value()) << "expired: want granted";
    if (!taken || !*taken) co_return;
    EXPECT_EQ((*taken)->token, 2) << "got token " << (*taken)->token << ", want 2";
    // The stale holder's renewal is refused, and so is its release.
    auto stale = co_await a.acquire_lease(ctx, "center", "c1", 300ms);
    EXPECT_TRUE(stale.has_value() && !stale->has_value()) << "stale renewal: want refused";
    auto stale_release = co_await a.release_lease(ctx, "center", "c1", 1);
    EXPECT_TRUE(stale_release.has_value() && !*stale_release) << "stale release: want false";
    // c2 releases: c1 gets it at once, with token 3 (a release keeps the count).
    auto released = co_await b.release_lease(ctx, "center", "c2", 2);
    EXPECT_TRUE(released.has_value() && *released) << "holder's release: want true";
    auto again = co_await a.acquire_lease(ctx, "center", "c1", 300ms);
    EXPECT_TRUE(again.has_value() && again->has_value()) << "released: want granted";
    if (again && *again) {
      EXPECT_EQ((*again)->token, 3);
    }
  });
}

TEST_P(BrokerContract, DoneContextChangesNothing) {
  run_on_broker([&](Broker& broker) -> Task<void> {
    auto [ctx, cancel] = with_cancel(background());
    cancel();
    auto r = co_await broker.enqueue_one(ctx, spec("t"));
    EXPECT_EQ(r.error(), orca::errc::canceled);
    auto all = co_await broker.list(hang_guard(), filter());
    CO_ASSERT_OK(all);
    EXPECT_TRUE(all->empty());
  });
}

// Concurrent calls all land (SQLite commits them in groups; the contract only asks
// that each is applied once).
TEST_P(BrokerContract, ConcurrentCallsAllLand) {
  std::size_t listed = 0;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    WaitGroup wg;
    std::atomic<int> ok{0};
    for (int i = 0; i < 200; ++i) {
      wg.add(1);
      go([&, ctx]() -> Task<void> {
        auto r = co_await broker.enqueue_one(ctx, spec("t"));
        if (r) ok.fetch_add(1);
        wg.done();
      });
    }
    co_await wg.wait();
    EXPECT_EQ(ok.load(), 200);
    auto all = co_await broker.list(ctx, filter());
    CO_ASSERT_OK(all);
    listed = all->size();
  });
  EXPECT_EQ(listed, 200u);
}

TEST_P(BrokerContract, PullClaimTakesNoMoreOfACappedQueueThanItsCap) {
  std::size_t capped = 99, closed = 99, others = 0;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    JobSpec a = spec("email");
    a.queue = "a";
    JobSpec b = spec("email");
    b.queue = "b";
    std::vector<JobSpec> specs(5, a);
    specs.insert(specs.end(), 5, b);
    CO_ASSERT_OK(co_await broker.enqueue(ctx, specs));
    ClaimRequest req = pull("n1", "email", 10);
    req.queue_caps["a"] = 2;
    auto first = co_await broker.claim(ctx, req);
    CO_ASSERT_OK(first);
    capped = 0;
    for (const Job& j : *first)
      (j.spec.queue == "a" ? capped : others) += 1;
    // A cap of 0 takes none of the queue, whatever the limit.
    ClaimRequest none = pull("n1", "email", 10);
    none.queue_caps["a"] = 0;
    auto second = co_await broker.claim(ctx, none);
    CO_ASSERT_OK(second);
    closed = 0;
    for (const Job& j : *second)
      (j.spec.queue == "a" ? closed : others) += 1;
  });
  EXPECT_EQ(capped, 2u) << "jobs of queue a taken under a cap of 2";
  EXPECT_EQ(closed, 0u) << "jobs of queue a taken under a cap of 0";
  EXPECT_EQ(others, 5u) << "jobs of the uncapped queue b";
}

}  // namespace
}  // namespace orca::jobs::testing
