// The Broker contract's administration calls (broker.hpp) on every kind of broker:
// pausing and resuming a queue, deleting a finished job, and the bulk calls
// (requeue_dead, delete_finished) across more than one batch. Instantiated with the
// other contract tests (sqlite_instances_test.cpp, redis_instances_test.cpp).
#include <sqlite3.h>

#include "broker_fixture.hpp"

namespace orca::jobs::testing {
namespace {

using S = JobState;

// `n` jobs of type "t" on `queue`, one attempt each (a retryable failure ends dead).
std::vector<JobSpec> admin_test_specs(const std::string& queue, int n) {
  std::vector<JobSpec> out;
  for (int i = 0; i < n; ++i) {
    JobSpec s = spec("t");
    s.queue = queue;
    s.retry.max_attempts = 1;
    out.push_back(std::move(s));
  }
  return out;
}

const QueueStats* admin_test_find(const std::vector<QueueStats>& queues, const std::string& name) {
  for (const QueueStats& q : queues)
    if (q.queue == name) return &q;
  return nullptr;
}

std::int64_t admin_test_count(const QueueStats* q, JobState s) {
  if (q == nullptr) return 0;
  auto it = q->counts.find(s);
  return it == q->counts.end() ? 0 : it->second;
}

TEST_P(BrokerContract, APausedQueueIsNotClaimedFromWhileAnotherIsAndResumeLetsItRun) {
  std::vector<std::string> first_claim, after_resume, peeked;
  std::size_t assigned_while_paused = 9;
  bool listed_paused = false, empty_listed = false, never_listed = true;
  std::string paused_by;
  std::int64_t pending_while_paused = 0;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    CO_ASSERT_OK(co_await broker.enqueue(ctx, admin_test_specs("held", 2)));
    CO_ASSERT_OK(co_await broker.enqueue(ctx, admin_test_specs("free", 1)));
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t", 10)));
    CO_ASSERT_OK(co_await broker.set_queue_paused(with_actor(ctx, "ops"), "held", true));
    // Paused again: the first actor stays.
    CO_ASSERT_OK(co_await broker.set_queue_paused(with_actor(ctx, "late"), "held", true));
    CO_ASSERT_OK(co_await broker.set_queue_paused(ctx, "idle", true));    // no job ever
    CO_ASSERT_OK(co_await broker.set_queue_paused(ctx, "never", false));  // nothing to resume
    // Enqueue still adds to a paused queue.
    CO_ASSERT_OK(co_await broker.enqueue(ctx, admin_test_specs("held", 1)));
    PeekRequest peek;
    peek.types = split_list("t");
    auto seen = co_await broker.peek_pending(ctx, peek);
    CO_ASSERT_OK(seen);
    for (const Job& j : *seen)
      peeked.push_back(j.spec.queue);
    // The center's assignment of a job it saw before the pause is refused too.
    auto held = co_await broker.list(ctx, filter(S::kPending));
    CO_ASSERT_OK(held);
    std::vector<Assignment> to_n;
    for (const Job& j : *held)
      if (j.spec.queue == "held") to_n.push_back(Assignment{j.id, 0, "n"});
    auto assigned = co_await broker.assign(ctx, to_n, 10s);
    CO_ASSERT_OK(assigned);
    assigned_while_paused = assigned->size();
    auto claimed = co_await broker.claim(ctx, pull("n", "t", 10));
    CO_ASSERT_OK(claimed);
    for (const Job& j : *claimed)
      first_claim.push_back(j.spec.queue);
    auto stats = co_await broker.queues(ctx);
    CO_ASSERT_OK(stats);
    if (const QueueStats* q = admin_test_find(*stats, "held")) {
      listed_paused = q->paused;
      paused_by = q->paused_by;
      pending_while_paused = admin_test_count(q, S::kPending);
    }
    const QueueStats* idle = admin_test_find(*stats, "idle");
    empty_listed = idle != nullptr && idle->paused;
    never_listed = admin_test_find(*stats, "never") != nullptr;
    CO_ASSERT_OK(co_await broker.set_queue_paused(ctx, "held", false));
    auto again = co_await broker.claim(ctx, pull("n", "t", 10));
    CO_ASSERT_OK(again);
    for (const Job& j : *again)
      after_resume.push_back(j.spec.queue);
  });
  EXPECT_EQ(peeked, (std::vector<std::string>{"free"}));
  EXPECT_EQ(assigned_while_paused, 0u) << "a paused queue's job was assigned";
  EXPECT_EQ(first_claim, (std::vector<std::string>{"free"}));
  EXPECT_TRUE(listed_paused);
  EXPECT_EQ(paused_by, "ops");
  EXPECT_EQ(pending_while_paused, 3)
      << "enqueue to a paused queue: got " << pending_while_paused << " pending, want 3";
  EXPECT_TRUE(empty_listed) << "a paused queue without jobs is not listed";
  EXPECT_FALSE(never_listed) << "resuming an unknown queue made it";
  EXPECT_EQ(after_resume, (std::vector<std::string>{"held", "held", "held"}));
}

TEST_P(BrokerContract, APauseSurvivesANewBrokerOnTheStore) {
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    CO_ASSERT_OK(co_await broker.enqueue(ctx, admin_test_specs("held", 1)));
    CO_ASSERT_OK(co_await broker.set_queue_paused(ctx, "held", true));
  });
  std::size_t claimed_n = 9;
  bool paused = false;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t", 10)));
    auto claimed = co_await broker.claim(ctx, pull("n", "t", 10));
    CO_ASSERT_OK(claimed);
    claimed_n = claimed->size();
    auto stats = co_await broker.queues(ctx);
    CO_ASSERT_OK(stats);
    const QueueStats* q = admin_test_find(*stats, "held");
    paused = q != nullptr && q->paused;
  });
  EXPECT_EQ(claimed_n, 0u);
  EXPECT_TRUE(paused);
}

TEST_P(BrokerContract, RemoveDeletesAFinishedJobWithItsTrailAndRefusesALiveOne) {
  std::error_code live, unknown, gone;
  std::size_t trail_rows = 9;
  std::int64_t cancelled_left = -1;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto added = co_await broker.enqueue(ctx, admin_test_specs("default", 2));
    CO_ASSERT_OK(added);
    const JobId done = (*added)[0].id, pending = (*added)[1].id;
    CO_ASSERT_OK(co_await broker.cancel(ctx, done));
    auto refused = co_await broker.remove(ctx, pending);
    if (!refused) live = refused.error();
    CO_ASSERT_OK(co_await broker.remove(ctx, done));
    auto again = co_await broker.remove(ctx, done);
    if (!again) unknown = again.error();
    auto job = co_await broker.get(ctx, done);
    if (!job) gone = job.error();
    auto audit = co_await broker.audit(ctx, done);  // empty, or not_found (Redis)
    trail_rows = audit ? audit->size() : 0;
    auto stats = co_await broker.queues(ctx);
    CO_ASSERT_OK(stats);
    cancelled_left = admin_test_count(admin_test_find(*stats, "default"), S::kCancelled);
  });
  EXPECT_EQ(live, make_error_code(errc::invalid_state));
  EXPECT_EQ(unknown, make_error_code(errc::not_found));
  EXPECT_EQ(gone, make_error_code(errc::not_found));
  EXPECT_EQ(trail_rows, 0u);
  EXPECT_EQ(cancelled_left, 0);
}

// 510 jobs: more than one batch (kBulkBatch) of each bulk call.
TEST_P(BrokerContract, BulkRequeueDeadAndDeleteFinishedCountRight) {
  constexpr int kJobs = 510;
  static_assert(kJobs > static_cast<int>(kBulkBatch));
  std::int64_t requeued = -1, other_dead = -1, none = -1, succeeded = -1, rest = -1;
  std::size_t disk_errors = 0;
  std::error_code live_state;
  std::string requeued_by;
  std::map<JobState, std::int64_t> left;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    CO_ASSERT_OK(co_await broker.enqueue(ctx, admin_test_specs("bulk", kJobs)));
    CO_ASSERT_OK(co_await broker.enqueue(ctx, admin_test_specs("other", 1)));
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t", kJobs + 1)));
    auto claimed = co_await broker.claim(ctx, pull("n", "t", kJobs + 1));
    CO_ASSERT_OK(claimed);
    std::vector<Completion> dead;
    JobId bulk_job = 0;
    for (const Job& j : *claimed) {
      if (j.spec.queue == "bulk") bulk_job = j.id;
      dead.push_back(
          completion(j.id, "n", 1, Outcome::kRetryable, dead.size() < 5 ? "disk full" : "boom")
              .front());
    }
    CO_ASSERT_OK(co_await broker.complete(ctx, dead));
    JobFilter by_error = filter();
    by_error.error = "disk";
    auto matching = co_await broker.list(ctx, by_error);
    CO_ASSERT_OK(matching);
    disk_errors = matching->size();
    auto r = co_await broker.requeue_dead(with_actor(ctx, "ops"), "bulk");
    CO_ASSERT_OK(r);
    requeued = *r;
    auto trail = co_await broker.audit(ctx, bulk_job);
    if (trail && !trail->empty()) requeued_by = trail->back().actor;
    // Run them again to success, then cancel one more job.
    auto again = co_await broker.claim(ctx, pull("n", "t", kJobs + 1));
    CO_ASSERT_OK(again);
    std::vector<Completion> ok;
    for (const Job& j : *again)
      ok.push_back(completion(j.id, "n", j.attempt).front());
    CO_ASSERT_OK(co_await broker.complete(ctx, ok));
    auto one = co_await broker.enqueue(ctx, admin_test_specs("bulk", 1));
    CO_ASSERT_OK(one);
    CO_ASSERT_OK(co_await broker.cancel(ctx, one->front().id));
    auto zero = co_await broker.delete_finished(ctx, "bulk", S::kDead);
    CO_ASSERT_OK(zero);
    none = *zero;
    auto s = co_await broker.delete_finished(ctx, "bulk", S::kSucceeded);
    CO_ASSERT_OK(s);
    succeeded = *s;
    auto stats = co_await broker.queues(ctx);
    CO_ASSERT_OK(stats);
    if (const QueueStats* q = admin_test_find(*stats, "bulk")) left = q->counts;
    other_dead = admin_test_count(admin_test_find(*stats, "other"), S::kDead);
    auto all = co_await broker.delete_finished(ctx, "bulk", std::nullopt);
    CO_ASSERT_OK(all);
    rest = *all;
    auto live = co_await broker.delete_finished(ctx, "bulk", S::kPending);
    if (!live) live_state = live.error();
  });
  EXPECT_EQ(live_state, make_error_code(errc::invalid_job));
  EXPECT_EQ(disk_errors, 5u);
  EXPECT_EQ(requeued, kJobs) << "the other queue's dead job is not this queue's";
  EXPECT_EQ(requeued_by, "ops");
  EXPECT_EQ(none, 0);
  EXPECT_EQ(succeeded, kJobs);
  EXPECT_EQ(left, (std::map<JobState, std::int64_t>{{S::kCancelled, 1}}));
  EXPECT_EQ(other_dead, 1);
  EXPECT_EQ(rest, 1);
}

TEST_P(BrokerContract, AdministrationRefusesABadQueueName) {
  std::vector<std::error_code> errors;
  run_on_broker([&](Broker& broker) -> Task<void> {
    Context ctx = hang_guard();
    auto paused = co_await broker.set_queue_paused(ctx, "no spaces", true);
    errors.push_back(paused ? std::error_code() : std::error_code(paused.error()));
    auto requeued = co_await broker.requeue_dead(ctx, "");
    errors.push_back(requeued ? std::error_code() : std::error_code(requeued.error()));
    auto deleted = co_await broker.delete_finished(ctx, "{tag}", std::nullopt);
    errors.push_back(deleted ? std::error_code() : std::error_code(deleted.error()));
  });
  EXPECT_EQ(errors, std::vector<std::error_code>(3, make_error_code(errc::invalid_job)));
}

// A store written by schema version 5 (no paused queues) opens as version 6, its
// queues running, and a pause is kept from then on.
TEST(SqliteBroker, OpensAVersionFiveStoreAndPausesFromThen) {
  TempDir dir;
  orca::run([&]() -> Task<void> {
    auto opened = SqliteBroker::open({.path = dir.db()});
    CO_ASSERT_OK(opened);
    CO_ASSERT_OK(co_await (*opened)->enqueue_one(hang_guard(), spec("t")));
  });
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db,
                                "ALTER TABLE queues DROP COLUMN paused; ALTER TABLE queues DROP "
                                "COLUMN paused_by; ALTER TABLE queues DROP COLUMN paused_ms; "
                                "PRAGMA user_version=5;",
                                nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  std::size_t claimed_n = 9;
  bool paused = false;
  orca::run([&]() -> Task<void> {
    Context ctx = hang_guard();
    {
      auto opened = SqliteBroker::open({.path = dir.db()});
      CO_ASSERT_OK(opened);
      CO_ASSERT_OK(co_await (*opened)->set_queue_paused(ctx, "default", true));
    }
    auto reopened = SqliteBroker::open({.path = dir.db()});
    CO_ASSERT_OK(reopened);
    SqliteBroker& broker = **reopened;
    CO_ASSERT_OK(co_await broker.register_node(ctx, node_info("n", "t")));
    auto claimed = co_await broker.claim(ctx, pull("n", "t", 1));
    CO_ASSERT_OK(claimed);
    claimed_n = claimed->size();
    auto stats = co_await broker.queues(ctx);
    CO_ASSERT_OK(stats);
    paused = !stats->empty() && stats->front().paused;
  });
  EXPECT_EQ(claimed_n, 0u);
  EXPECT_TRUE(paused);
}

}  // namespace
}  // namespace orca::jobs::testing
