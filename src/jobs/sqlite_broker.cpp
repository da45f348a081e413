// SqliteBroker: every Broker call as one savepoint inside a group-committed
// transaction on the I/O thread (store_thread.hpp).
//
// Schema invariants:
//  - jobs.state < 5 means live; the partial unique index on unique_key covers only
//    live jobs, so a key is free again once its job has finished.
//  - jobs_pending (state = 0) is ordered as claims take jobs: queue, priority desc,
//    ready time, id; claims never sort.
//  - Every change of jobs.state is paired with an audit row in the same savepoint.
//  - queue_counts holds, per queue and state, how many jobs are in it: every insert,
//    state change and delete of a job changes it in the same savepoint (audit() and
//    trim collect the changes, Impl::write applies them once at the end of the call),
//    so queues() reads a few rows, however many jobs there are.
//  - An audit row's key is (job << 24) + n, n counting the job's rows (jobs.audit_n):
//    one B-tree, clustered by job, so appending a row and reading a job's trail are
//    each one seek, and a trimmed job's rows go with it as one key range.
//  - queues holds every queue ever enqueued on or paused; a queue with paused = 1
//    gives no job to a peek, an assignment or a claim.
#include "orca/jobs/sqlite_broker.hpp"

#include <algorithm>
#include <array>
#include <random>
#include <set>

#include "orca/jobs/actor.hpp"
#include "orca/jobs/job_trace.hpp"
#include "orca/jobs/json.hpp"
#include "orca/jobs/state_machine.hpp"
#include "store_thread.hpp"

namespace orca::jobs {

namespace {

using detail::Db;
using detail::Stmt;
using nlohmann::json;
using std::chrono::milliseconds;

// 4: leadership leases (acquire_lease). A build that reads only 3 must not open a
// store of 4: its center would act without the lease beside centers that take it.
// 5: audit.actor, who asked for a change (actor.hpp). A build that reads only 4
// would write rows without it beside builds that record it.
// 6: paused queues (queues.paused). A build that reads only 5 would claim from them.
constexpr int kSchemaVersion = 6;
// Finished jobs deleted per trim transaction: a large backlog is trimmed in steps
// that other calls can interleave with.
constexpr std::int64_t kTrimChunk = 2000;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL, queue TEXT NOT NULL, priority INTEGER NOT NULL, payload BLOB NOT NULL,
  max_attempts INTEGER NOT NULL, base_delay_ms INTEGER NOT NULL, multiplier REAL NOT NULL,
  max_delay_ms INTEGER NOT NULL, jitter REAL NOT NULL, timeout_ms INTEGER NOT NULL,
  deadline_ms INTEGER, unique_key TEXT, trace_id TEXT NOT NULL, headers TEXT NOT NULL,
  state INTEGER NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, node TEXT NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, ready_ms INTEGER NOT NULL,
  lease_ms INTEGER NOT NULL DEFAULT 0, finished_ms INTEGER, run_at_ms INTEGER,
  audit_n INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs(queue, priority DESC, ready_ms, id) WHERE state = 0;
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(ready_ms) WHERE state IN (1, 2);
CREATE INDEX IF NOT EXISTS jobs_node ON jobs(node, state) WHERE state IN (3, 4);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_unique ON jobs(unique_key)
  WHERE unique_key IS NOT NULL AND state < 5;
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_ms) WHERE state >= 5;
CREATE INDEX IF NOT EXISTS jobs_dead ON jobs(id) WHERE state IN (6, 8);
CREATE INDEX IF NOT EXISTS jobs_dead_finished ON jobs(finished_ms) WHERE state IN (6, 8);
CREATE TABLE IF NOT EXISTS audit(
  seq INTEGER PRIMARY KEY, job INTEGER NOT NULL, from_state INTEGER,
  to_state INTEGER NOT NULL, node TEXT NOT NULL, attempt INTEGER NOT NULL,
  at_ms INTEGER NOT NULL, error TEXT NOT NULL, actor TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS nodes(
  id TEXT PRIMARY KEY, types TEXT NOT NULL, tags TEXT NOT NULL, capacity INTEGER NOT NULL,
  load INTEGER NOT NULL, state INTEGER NOT NULL, pid INTEGER NOT NULL,
  started_ms INTEGER NOT NULL, heartbeat_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS periodic(
  name TEXT PRIMARY KEY, schedule TEXT NOT NULL, spec TEXT NOT NULL, next_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS queues(
  name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0, paused_by TEXT NOT NULL DEFAULT '',
  paused_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS leases(
  name TEXT PRIMARY KEY, holder TEXT NOT NULL, token INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS queue_counts(
  queue TEXT NOT NULL, state INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY(queue, state)) WITHOUT ROWID;
)sql";

// Version 1 kept the audit in time order (AUTOINCREMENT) with an index by job.
constexpr const char* kMigrateFrom1 = R"sql(
ALTER TABLE jobs ADD COLUMN audit_n INTEGER NOT NULL DEFAULT 0;
CREATE TABLE audit_v2(
  seq INTEGER PRIMARY KEY, job INTEGER NOT NULL, from_state INTEGER,
  to_state INTEGER NOT NULL, node TEXT NOT NULL, attempt INTEGER NOT NULL,
  at_ms INTEGER NOT NULL, error TEXT NOT NULL);
INSERT INTO audit_v2 SELECT (job << 24) + row_number() OVER (PARTITION BY job ORDER BY seq) - 1,
  job, from_state, to_state, node, attempt, at_ms, error FROM audit;
DELETE FROM audit_v2 WHERE job NOT IN (SELECT id FROM jobs);
UPDATE jobs SET audit_n = (SELECT count(*) FROM audit_v2 WHERE seq >= (jobs.id << 24) AND
  seq < ((jobs.id + 1) << 24));
DROP TABLE audit;
ALTER TABLE audit_v2 RENAME TO audit;
)sql";

// Version 2 counted jobs per queue and state by scanning them (queues()).
constexpr const char* kMigrateFrom2 = R"sql(
CREATE TABLE queue_counts(
  queue TEXT NOT NULL, state INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY(queue, state)) WITHOUT ROWID;
INSERT INTO queue_counts SELECT queue, state, count(*) FROM jobs GROUP BY queue, state;
)sql";

// Versions 1 to 4 had no actor in the audit: their rows read as "" (no actor known).
constexpr const char* kMigrateFrom4 = R"sql(
ALTER TABLE audit ADD COLUMN actor TEXT NOT NULL DEFAULT '';
)sql";

// Versions 1 to 5 could not pause a queue: every queue runs.
constexpr const char* kMigrateFrom5 = R"sql(
ALTER TABLE queues ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queues ADD COLUMN paused_by TEXT NOT NULL DEFAULT '';
ALTER TABLE queues ADD COLUMN paused_ms INTEGER NOT NULL DEFAULT 0;
)sql";

#define ORCA_JOB_COLUMNS                                                                        \
  "id, type, queue, priority, payload, max_attempts, base_delay_ms, multiplier, max_delay_ms, " \
  "jitter, timeout_ms, deadline_ms, unique_key, trace_id, headers, state, attempt, node, "      \
  "cancel_requested, last_error, created_ms, updated_ms, ready_ms, lease_ms, finished_ms, "     \
  "run_at_ms"

std::int64_t now_ms() {
  return to_unix_ms(WallClock::now());
}

Job read_job(const Stmt& s) {
  Job j;
  j.id = s.i64(0);
  j.spec.type = s.text(1);
  j.spec.queue = s.text(2);
  j.spec.priority = s.i32(3);
  j.spec.payload = s.text(4);
  j.spec.retry.max_attempts = s.i32(5);
  j.spec.retry.base_delay = milliseconds(s.i64(6));
  j.spec.retry.multiplier = s.f64(7);
  j.spec.retry.max_delay = milliseconds(s.i64(8));
  j.spec.retry.jitter = s.f64(9);
  j.spec.timeout = milliseconds(s.i64(10));
  if (!s.null(11)) j.spec.deadline = from_unix_ms(s.i64(11));
  j.spec.unique_key = s.text(12);
  j.spec.trace_id = s.text(13);
  const std::string headers = s.text(14);
  if (!headers.empty() && headers != "{}")
    j.spec.headers = json::parse(headers).get<std::map<std::string, std::string>>();
  j.state = static_cast<JobState>(s.i32(15));
  j.attempt = s.i32(16);
  j.node = s.text(17);
  j.cancel_requested = s.i32(18) != 0;
  j.last_error = s.text(19);
  j.created_at = from_unix_ms(s.i64(20));
  j.updated_at = from_unix_ms(s.i64(21));
  j.ready_at = from_unix_ms(s.i64(22));
  j.lease_until = from_unix_ms(s.i64(23));
  if (!s.null(24)) j.finished_at = from_unix_ms(s.i64(24));
  if (!s.null(25)) j.spec.run_at = from_unix_ms(s.i64(25));
  return j;
}

// A job's row, or invalid_job with the parser's message as detail() if its spec does
// not parse (a row written by hand or by another program: enqueue writes only specs
// that do). Claims fail such a job alone instead of failing with it.
Result<Job> read_job_or(const Stmt& s) {
  try {
    return read_job(s);
  } catch (const std::exception& e) {
    return Error(make_error_code(errc::invalid_job), e.what());
  }
}

std::string json_array(const std::vector<std::string>& v) {
  return json(v).dump();
}

}  // namespace

struct SqliteBroker::Impl {
  explicit Impl(const SqliteOptions& o)
      : options(o),
        store(
            o.path, [&o](Db& db) { init(db, o); }, [&o](Db& db) { init_reader(db, o); },
            o.max_group) {}

  // The reader's connection: the same caches, and it can only read.
  static void init_reader(Db& db, const SqliteOptions& o) {
    db.exec(("PRAGMA busy_timeout=" + std::to_string(o.busy_timeout.count())).c_str());
    db.exec("PRAGMA query_only=1");
    db.exec("PRAGMA cache_size=-65536");
    db.exec("PRAGMA temp_store=MEMORY");
    db.exec("PRAGMA mmap_size=268435456");
  }

  static bool has_column(Db& db, const char* table, const char* column) {
    Stmt s = db.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
    s.bind(1, std::string_view(table)).bind(2, std::string_view(column));
    return s.step();
  }

  static void init(Db& db, const SqliteOptions& o) {
    db.exec(("PRAGMA busy_timeout=" + std::to_string(o.busy_timeout.count())).c_str());
    // WAL: readers never block the writer and a commit appends to one file; the mode
    // is persistent, so every process sharing the file uses it.
    {
      Stmt mode = db.prepare("PRAGMA journal_mode=WAL");
      if (!mode.step() || mode.text(0) != "wal")
        throw std::runtime_error("cannot put " + o.path + " in WAL mode");
    }
    db.exec(o.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    // The working set (pending index, leased jobs, the tail of the audit) stays in
    // memory: a 64 MiB page cache and reads through mmap instead of pread calls.
    db.exec("PRAGMA cache_size=-65536");
    db.exec("PRAGMA temp_store=MEMORY");
    db.exec("PRAGMA mmap_size=268435456");
    db.exec("BEGIN IMMEDIATE");
    try {
      int v = 0;
      {
        Stmt version = db.prepare("PRAGMA user_version");
        version.step();
        v = version.i32(0);
      }
      // 1, 2, 4 and 5 are migrated below; 3 lacks only the leases table, which kSchema
      // makes, and the actor column, as 4.
      if (v < 0 || v > kSchemaVersion)
        throw std::runtime_error(o.path + " has orca schema version " + std::to_string(v) +
                                 ", this build reads version " + std::to_string(kSchemaVersion));
      if (v == 1) db.exec(kMigrateFrom1);
      if (v == 1 || v == 2) db.exec(kMigrateFrom2);
      if (v >= 1 && v <= 4 && !has_column(db, "audit", "actor")) db.exec(kMigrateFrom4);
      db.exec(kSchema);
      // (After kSchema, which makes the table in stores of versions that had none.)
      if (!has_column(db, "queues", "paused")) db.exec(kMigrateFrom5);
      db.exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
      db.exec("COMMIT");
    } catch (...) {
      db.exec("ROLLBACK");
      throw;
    }
  }

  // --- helpers run on the I/O thread ------------------------------------------------

  // Runs a call that may write on the writer, then applies the changes to
  // queue_counts its jobs' transitions made, in its savepoint: a claim of 50 jobs of
  // one queue is two row updates, not a hundred. A call that fails is rolled back
  // whole, counts included (what it collected is dropped at the next call's start).
  template <class T, class F>
  auto write(const Context& ctx, F fn) {
    return detail::store_call<T>(store, ctx, [this, fn = std::move(fn)](Db& db) -> Result<T> {
      count_deltas.clear();
      Result<T> r = fn(db);
      if (r) flush_counts(db);
      return r;
    });
  }

  // A job of `queue` left `from` (nothing: it was added) for `to` (nothing: deleted).
  void count(const std::string& queue, std::optional<JobState> from, std::optional<JobState> to) {
    if (from == to) return;
    if (from) --count_deltas[{queue, static_cast<int>(*from)}];
    if (to) ++count_deltas[{queue, static_cast<int>(*to)}];
  }

  void flush_counts(Db& db) {
    for (const auto& [key, delta] : count_deltas) {
      if (delta == 0) continue;
      db.prepare(
            "INSERT INTO queue_counts(queue, state, n) VALUES(?1, ?2, ?3) "
            "ON CONFLICT(queue, state) DO UPDATE SET n = n + ?3")
          .bind(1, key.first)
          .bind(2, key.second)
          .bind(3, delta)
          .run();
    }
    count_deltas.clear();
  }

  // The queue of a job a statement just changed, for its counts: a seek on a row
  // that is in the cache. (RETURNING queue on the UPDATE costs several times more:
  // SQLite runs the statement to its end into a temporary table first.)
  std::string queue_of(Db& db, JobId id) {
    Stmt s = db.prepare("SELECT queue FROM jobs WHERE id = ?1");
    s.bind(1, id);
    return s.step() ? s.text(0) : std::string();
  }

  // The row of a change just made to the job: every caller has bumped its audit_n
  // in the same savepoint (the statement that changed the job did). The job's queue
  // is counted by it (count()).
  void audit(Db& db, const std::string& queue, JobId job, std::optional<JobState> from, JobState to,
             std::string_view node, int attempt, std::int64_t at, std::string_view error,
             std::string_view actor = {}) {
    count(queue, from, to);
    Stmt s = db.prepare(
        "INSERT INTO audit(seq, job, from_state, to_state, node, attempt, at_ms, error, actor) "
        "VALUES((?1 << 24) + (SELECT audit_n - 1 FROM jobs WHERE id = ?1), ?1, ?2, ?3, ?4, ?5, "
        "?6, ?7, ?8)");
    s.bind(1, job);
    if (from)
      s.bind(2, static_cast<int>(*from));
    else
      s.bind_null(2);
    s.bind(3, static_cast<int>(to)).bind(4, node).bind(5, attempt).bind(6, at).bind(7, error);
    s.bind(8, actor.data() != nullptr ? actor : std::string_view(""));  // null data binds NULL
    s.run();
  }

  EnqueueResult insert_job(Db& db, const JobSpec& spec, std::int64_t now,
                           std::string_view actor = {}) {
    if (!spec.unique_key.empty()) {
      Stmt dup = db.prepare("SELECT id FROM jobs WHERE unique_key = ?1 AND state < 5");
      dup.bind(1, spec.unique_key);
      if (dup.step()) return {dup.i64(0), true};
    }
    if (known_queues.count(spec.queue) == 0) {
      db.prepare("INSERT OR IGNORE INTO queues(name) VALUES(?1)").bind(1, spec.queue).run();
      // Remembered only after commit would be exact; a rolled-back insert merely
      // leaves a queue name unknown to peek until it is seen again.
      known_queues.insert(spec.queue);
    }
    const std::int64_t ready = spec.run_at ? to_unix_ms(*spec.run_at) : now;
    const JobState state = enqueued_state(spec, from_unix_ms(now));
    Stmt s = db.prepare(
        "INSERT INTO jobs(type, queue, priority, payload, max_attempts, base_delay_ms, "
        "multiplier, max_delay_ms, jitter, timeout_ms, deadline_ms, unique_key, trace_id, "
        "headers, state, created_ms, updated_ms, ready_ms, run_at_ms, audit_n) VALUES(?1, ?2, ?3, "
        "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16, ?17, ?18, 1)");
    s.bind(1, spec.type).bind(2, spec.queue).bind(3, spec.priority).bind_blob(4, spec.payload);
    s.bind(5, spec.retry.max_attempts)
        .bind(6, static_cast<std::int64_t>(spec.retry.base_delay.count()));
    s.bind(7, spec.retry.multiplier)
        .bind(8, static_cast<std::int64_t>(spec.retry.max_delay.count()));
    s.bind(9, spec.retry.jitter).bind(10, static_cast<std::int64_t>(spec.timeout.count()));
    if (spec.deadline)
      s.bind(11, to_unix_ms(*spec.deadline));
    else
      s.bind_null(11);
    if (spec.unique_key.empty())
      s.bind_null(12);
    else
      s.bind(12, spec.unique_key);
    s.bind(13, spec.trace_id)
        .bind(14, spec.headers.empty() ? std::string("{}") : json(spec.headers).dump());
    s.bind(15, static_cast<int>(state)).bind(16, now).bind(17, ready);
    if (spec.run_at)
      s.bind(18, to_unix_ms(*spec.run_at));
    else
      s.bind_null(18);
    s.run();
    const JobId id = db.last_rowid();
    audit(db, spec.queue, id, std::nullopt, state, "", 0, now, "", actor);
    return {id, false};
  }

  std::optional<Job> load(Db& db, JobId id) {
    Stmt s = db.prepare("SELECT " ORCA_JOB_COLUMNS " FROM jobs WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_job(s);
  }

  // Only what transitions need (no payload, no headers; the queue for its counts): the
  // hot path of complete().
  std::optional<Job> load_state(Db& db, JobId id) {
    Stmt s = db.prepare(
        "SELECT state, attempt, node, cancel_requested, max_attempts, deadline_ms, ready_ms, "
        "last_error, queue FROM jobs WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    Job j;
    j.id = id;
    j.state = static_cast<JobState>(s.i32(0));
    j.attempt = s.i32(1);
    j.node = s.text(2);
    j.cancel_requested = s.i32(3) != 0;
    j.spec.retry.max_attempts = s.i32(4);
    if (!s.null(5)) j.spec.deadline = from_unix_ms(s.i64(5));
    j.ready_at = from_unix_ms(s.i64(6));
    j.last_error = s.text(7);
    j.spec.queue = s.text(8);
    return j;
  }

  // Applies an outcome of the state machine (state_machine.hpp) to the job that was
  // `job`, with its audit row; a refused or empty outcome writes nothing. The lease
  // stays while the job is leased or running, and goes otherwise.
  void apply(Db& db, const Job& job, const TransitionOutcome& o, std::int64_t now,
             std::string_view actor = {}) {
    if (o.refused || !o.changed) return;
    Stmt s = db.prepare(
        "UPDATE jobs SET state = ?2, node = ?3, attempt = ?4, last_error = ?5, updated_ms = ?6, "
        "ready_ms = ?7, lease_ms = CASE WHEN ?2 IN (3, 4) THEN lease_ms ELSE 0 END, "
        "finished_ms = CASE WHEN ?8 THEN ?6 ELSE NULL END, cancel_requested = ?9, "
        "audit_n = audit_n + 1 WHERE id = ?1");
    s.bind(1, job.id).bind(2, static_cast<int>(o.to)).bind(3, o.node).bind(4, o.attempt);
    s.bind(5, o.last_error).bind(6, now).bind(7, to_unix_ms(o.ready_at));
    s.bind(8, o.finished ? 1 : 0).bind(9, o.cancel_requested ? 1 : 0);
    s.run();
    audit(db, job.spec.queue, job.id, job.state, o.to, o.node, o.attempt, now, o.audit_error,
          actor);
  }

  // The state machine's outcome of `event` on `job`, applied.
  TransitionOutcome step(Db& db, const Job& job, const JobEvent& event, std::int64_t now,
                         std::string_view actor = {}) {
    TransitionOutcome o = jobs::transition(JobSnapshot::of(job), event, from_unix_ms(now));
    apply(db, job, o, now, actor);
    return o;
  }

  // requeue's transition of `job`, refused while another live job holds its unique key.
  TransitionOutcome requeue_job(Db& db, const Job& job, std::int64_t now, std::string_view actor) {
    bool key_held = false;  // by another live job: this one cannot take it back
    if (!job.spec.unique_key.empty()) {
      Stmt held = db.prepare("SELECT 1 FROM jobs WHERE unique_key = ?1 AND state < 5 AND id != ?2");
      held.bind(1, job.spec.unique_key).bind(2, job.id);
      key_held = held.step();
    }
    return step(db, job, JobEvent::requeue(key_held), now, actor);
  }

  // Deletes a job with its audit trail (one key range), counted out of its queue.
  // Returns the audit rows deleted, or nothing if there was no such job.
  std::optional<std::int64_t> delete_job(Db& db, JobId id) {
    {
      Stmt s = db.prepare("DELETE FROM jobs WHERE id = ?1 RETURNING queue, state");
      s.bind(1, id);
      if (!s.step()) return std::nullopt;
      count(s.text(0), static_cast<JobState>(s.i32(1)), std::nullopt);
      s.run();
    }
    db.prepare("DELETE FROM audit WHERE seq >= (?1 << 24) AND seq < ((?1 + 1) << 24)")
        .bind(1, id)
        .run();
    return db.changes();
  }

  // A leased or running job whose node is gone or whose lease expired. The node
  // failed, not the job: it is pending again at its place in the queue (its ready
  // time, which jobs_pending orders by), ahead of the jobs enqueued after it. A running
  // job's attempt still counts, so one that takes down every node that runs it ends
  // dead after max_attempts; one whose cancel was requested ends cancelled.
  void reclaim(Db& db, const Job& job, std::int64_t now, const std::string& why) {
    step(db, job, JobEvent::reclaim(why), now);
  }

  // scheduled/retrying jobs whose time has come -> pending.
  std::size_t promote(Db& db, std::int64_t now) {
    std::vector<Job> due;  // only what the transition reads
    {
      Stmt s = db.prepare(
          "SELECT id, attempt, state, queue, ready_ms FROM jobs WHERE state IN (1, 2) AND "
          "ready_ms <= ?1 ORDER BY ready_ms");
      s.bind(1, now);
      while (s.step()) {
        Job j;
        j.id = s.i64(0);
        j.attempt = s.i32(1);
        j.state = static_cast<JobState>(s.i32(2));
        j.spec.queue = s.text(3);
        j.ready_at = from_unix_ms(s.i64(4));
        due.push_back(std::move(j));
      }
    }
    std::size_t moved = 0;
    for (const Job& job : due) {
      const TransitionOutcome o =
          jobs::transition(JobSnapshot::of(job), JobEvent::promote(), from_unix_ms(now));
      if (!o.changed) continue;
      db.prepare(
            "UPDATE jobs SET state = ?3, node = ?4, updated_ms = ?2, audit_n = audit_n + 1 WHERE "
            "id = ?1")
          .bind(1, job.id)
          .bind(2, now)
          .bind(3, static_cast<int>(o.to))
          .bind(4, o.node)
          .run();
      audit(db, job.spec.queue, job.id, job.state, o.to, o.node, o.attempt, now, o.audit_error);
      ++moved;
    }
    return moved;
  }

  std::vector<std::string> nonempty_queues(Db& db) {
    std::vector<std::string> out;
    Stmt q = db.prepare("SELECT name FROM queues WHERE paused = 0");
    while (q.step())
      out.push_back(q.text(0));
    std::vector<std::string> live;
    for (const std::string& name : out) {
      Stmt s = db.prepare(
          "SELECT 1 FROM jobs INDEXED BY jobs_pending WHERE state = 0 AND queue = ?1 LIMIT 1");
      s.bind(1, name);
      if (s.step()) live.push_back(name);
    }
    return live;
  }

  // Up to `limit` pending jobs of `types`, queues drawn at random in proportion to
  // their weights (each draw is one slot), so every queue with work gets a share.
  // A job whose spec does not parse is left out: its id and the parser's message go
  // to `unreadable` (a claim fails it), or nowhere if that is null (a peek). A queue
  // in `caps` gives at most its cap (ClaimRequest::queue_caps).
  std::vector<Job> pick_pending(Db& db, std::mt19937_64& rng, const std::vector<std::string>& types,
                                std::size_t limit, const QueueWeights& weights,
                                std::vector<std::pair<JobId, std::string>>* unreadable = nullptr,
                                const std::map<std::string, std::size_t>* caps = nullptr) {
    std::vector<Job> out;
    if (limit == 0 || types.empty()) return out;
    std::vector<std::string> queues = nonempty_queues(db);
    const std::string types_json = json_array(types);
    std::map<std::string, std::size_t> taken;
    // What a queue may still give: its cap less what it gave.
    auto room = [&](const std::string& q) -> std::size_t {
      if (caps == nullptr) return limit;
      auto it = caps->find(q);
      if (it == caps->end()) return limit;
      return it->second > taken[q] ? it->second - taken[q] : 0;
    };
    std::erase_if(queues, [&](const std::string& q) { return room(q) == 0; });
    while (out.size() < limit && !queues.empty()) {
      std::vector<double> w;
      for (const std::string& q : queues) {
        auto it = weights.find(q);
        w.push_back(it == weights.end() ? 1.0 : std::max(0, it->second) + 1e-9);
      }
      std::map<std::string, std::size_t> want;
      std::discrete_distribution<std::size_t> pick(w.begin(), w.end());
      for (std::size_t i = out.size(); i < limit; ++i)
        ++want[queues[pick(rng)]];
      std::vector<std::string> still;
      for (const std::string& q : queues) {
        const std::size_t n = std::min(want[q], room(q));
        if (n == 0) {  // (room(q) > 0 for every queue in `queues`)
          still.push_back(q);
          continue;
        }
        Stmt s = db.prepare("SELECT " ORCA_JOB_COLUMNS
                            " FROM jobs INDEXED BY jobs_pending WHERE state = 0 AND queue = ?1 AND "
                            "type IN (SELECT value "
                            "FROM json_each(?2)) ORDER BY priority DESC, ready_ms, id LIMIT ?3 "
                            "OFFSET ?4");
        s.bind(1, q).bind(2, types_json).bind(3, static_cast<std::int64_t>(n));
        s.bind(4, static_cast<std::int64_t>(taken[q]));
        std::size_t got = 0;
        while (s.step()) {
          if (Result<Job> j = read_job_or(s))
            out.push_back(std::move(*j));
          else if (unreadable)
            unreadable->emplace_back(s.i64(0), std::string(j.error().detail()));
          ++got;
        }
        taken[q] += got;
        if (got == n && room(q) > 0) still.push_back(q);  // may have more
      }
      queues = std::move(still);
    }
    return out;
  }

  SqliteOptions options;
  std::set<std::string> known_queues;  // I/O thread only
  // (queue, state) -> change to queue_counts by the running call (the writer's only).
  std::map<std::pair<std::string, int>, std::int64_t> count_deltas;
  std::mt19937_64 rng{std::random_device{}()};       // the writer's thread only
  std::mt19937_64 read_rng{std::random_device{}()};  // the reader's thread only
  detail::StoreThread store;                         // last: stopped first
};

SqliteBroker::SqliteBroker(SqliteOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}

SqliteBroker::~SqliteBroker() = default;

Result<std::unique_ptr<SqliteBroker>> SqliteBroker::open(SqliteOptions options) {
  // Opening is the only place SQLite's errors arrive as exceptions (the connections
  // are made on this thread, not in a call): they become the Result's error here.
  try {
    return std::unique_ptr<SqliteBroker>(new SqliteBroker(std::move(options)));
  } catch (const std::exception& e) {
    return Error(make_error_code(errc::broker_failure), e.what());
  }
}

Task<Result<std::vector<EnqueueResult>>> SqliteBroker::enqueue(Context ctx,
                                                               std::vector<JobSpec> specs) {
  if (auto prepared = prepare_for_enqueue(ctx, specs, options_.limits); !prepared)
    co_return prepared.error();
  Impl* impl = impl_.get();
  const std::string actor(actor_of(ctx));
  auto call = impl->write<std::vector<EnqueueResult>>(
      ctx, [impl, &specs, &actor](Db& db) -> Result<std::vector<EnqueueResult>> {
        const std::int64_t now = now_ms();
        std::vector<EnqueueResult> out;
        out.reserve(specs.size());
        for (const JobSpec& spec : specs)
          out.push_back(impl->insert_job(db, spec, now, actor));
        return out;
      });
  co_return co_await call;
}

Task<Result<JobState>> SqliteBroker::cancel(Context ctx, JobId id) {
  Impl* impl = impl_.get();
  auto call = impl->write<JobState>(
      ctx, [impl, id, actor = std::string(actor_of(ctx))](Db& db) -> Result<JobState> {
        std::optional<Job> job = impl->load(db, id);
        if (!job) return make_error_code(errc::not_found);
        const TransitionOutcome o = impl->step(db, *job, JobEvent::cancel(), now_ms(), actor);
        if (o.refused) return make_error_code(*o.refused);
        return o.changed ? o.to : job->state;
      });
  co_return co_await call;
}

Task<Result<void>> SqliteBroker::requeue(Context ctx, JobId id) {
  Impl* impl = impl_.get();
  auto call = impl->write<void>(
      ctx, [impl, id, actor = std::string(actor_of(ctx))](Db& db) -> Result<void> {
        std::optional<Job> job = impl->load(db, id);
        if (!job) return make_error_code(errc::not_found);
        const TransitionOutcome o = impl->requeue_job(db, *job, now_ms(), actor);
        if (o.refused) return make_error_code(*o.refused);
        return {};
      });
  co_return co_await call;
}

Task<Result<void>> SqliteBroker::set_queue_paused(Context ctx, std::string queue, bool paused) {
  if (std::string why = check_queue_name(queue, options_.limits); !why.empty())
    co_return Error(make_error_code(errc::invalid_job), std::move(why));
  auto call = impl_->write<void>(
      ctx, [&queue, paused, actor = std::string(actor_of(ctx))](Db& db) -> Result<void> {
        // A paused queue keeps who paused it first; a resumed one forgets. (Resuming a
        // queue never seen adds no row.)
        if (!paused) {
          db.prepare("UPDATE queues SET paused = 0, paused_by = '', paused_ms = 0 WHERE name = ?1")
              .bind(1, queue)
              .run();
          return {};
        }
        db.prepare(
              "INSERT INTO queues(name, paused, paused_by, paused_ms) VALUES(?1, 1, ?2, ?3) ON "
              "CONFLICT(name) DO UPDATE SET paused_by = CASE WHEN paused = 1 THEN paused_by ELSE "
              "?2 END, paused_ms = CASE WHEN paused = 1 THEN paused_ms ELSE ?3 END, paused = 1")
            .bind(1, queue)
            .bind(2, actor)
            .bind(3, now_ms())
            .run();
        return {};
      });
  co_return co_await call;
}

Task<Result<void>> SqliteBroker::remove(Context ctx, JobId id) {
  Impl* impl = impl_.get();
  auto call = impl->write<void>(ctx, [impl, id](Db& db) -> Result<void> {
    Stmt s = db.prepare("SELECT state FROM jobs WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) return make_error_code(errc::not_found);
    if (is_live(static_cast<JobState>(s.i32(0)))) return make_error_code(errc::invalid_state);
    impl->delete_job(db, id);
    return {};
  });
  co_return co_await call;
}

// Both bulk calls walk the queue's matching jobs by id, kBulkBatch per transaction,
// from the lowest up to the largest id when the call began (jobs that arrive later
// are left alone, so a busy queue cannot keep the call going).
Task<Result<std::int64_t>> SqliteBroker::requeue_dead(Context ctx, std::string queue) {
  if (std::string why = check_queue_name(queue, options_.limits); !why.empty())
    co_return Error(make_error_code(errc::invalid_job), std::move(why));
  Impl* impl = impl_.get();
  const std::string actor(actor_of(ctx));
  std::int64_t total = 0;
  JobId after = 0;
  for (bool more = true; more;) {
    auto call = impl->write<std::int64_t>(
        ctx, [impl, &queue, &actor, &after, &more](Db& db) -> Result<std::int64_t> {
          std::vector<Job> dead;
          {
            Stmt s = db.prepare("SELECT " ORCA_JOB_COLUMNS
                                " FROM jobs INDEXED BY jobs_dead WHERE state IN (6, 8) AND state "
                                "= 8 AND queue = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
            s.bind(1, queue).bind(2, after).bind(3, static_cast<std::int64_t>(kBulkBatch));
            while (s.step()) {
              after = s.i64(0);
              if (Result<Job> j = read_job_or(s)) dead.push_back(std::move(*j));
            }
          }
          more = dead.size() == kBulkBatch;
          const std::int64_t now = now_ms();
          std::int64_t n = 0;
          for (const Job& job : dead)
            if (impl->requeue_job(db, job, now, actor).changed) ++n;
          return n;
        });
    auto n = co_await call;
    if (!n) co_return n.error();
    total += *n;
  }
  co_return total;
}

Task<Result<std::int64_t>> SqliteBroker::delete_finished(Context ctx, std::string queue,
                                                         std::optional<JobState> state) {
  if (std::string why = check_delete_finished(queue, state, options_.limits); !why.empty())
    co_return Error(make_error_code(errc::invalid_job), std::move(why));
  Impl* impl = impl_.get();
  std::int64_t total = 0;
  JobId after = 0;
  std::optional<JobId> last;  // the largest id when the call began
  const int only = state ? static_cast<int>(*state) : -1;
  for (bool more = true; more;) {
    auto call = impl->write<std::int64_t>(
        ctx, [impl, &queue, only, &after, &last, &more](Db& db) -> Result<std::int64_t> {
          if (!last) {
            Stmt m = db.prepare("SELECT coalesce(max(id), 0) FROM jobs");
            m.step();
            last = m.i64(0);
          }
          std::vector<JobId> ids;
          {
            Stmt s = db.prepare(
                "SELECT id FROM jobs WHERE queue = ?1 AND id > ?2 AND id <= ?3 AND state >= 5 AND "
                "(?4 < 0 OR state = ?4) ORDER BY id LIMIT ?5");
            s.bind(1, queue).bind(2, after).bind(3, *last).bind(4, only);
            s.bind(5, static_cast<std::int64_t>(kBulkBatch));
            while (s.step())
              ids.push_back(s.i64(0));
          }
          more = ids.size() == kBulkBatch;
          if (!ids.empty()) after = ids.back();
          std::int64_t n = 0;
          for (JobId id : ids)
            if (impl->delete_job(db, id)) ++n;
          return n;
        });
    auto n = co_await call;
    if (!n) co_return n.error();
    total += *n;
  }
  co_return total;
}

Task<Result<Job>> SqliteBroker::get(Context ctx, JobId id) {
  Impl* impl = impl_.get();
  auto call = detail::store_read<Job>(impl->store, ctx, [impl, id](Db& db) -> Result<Job> {
    std::optional<Job> job = impl->load(db, id);
    if (!job) return make_error_code(errc::not_found);
    return std::move(*job);
  });
  co_return co_await call;
}

Task<Result<std::vector<Job>>> SqliteBroker::list(Context ctx, JobFilter f) {
  Impl* impl = impl_.get();
  auto call = detail::store_read<std::vector<Job>>(
      impl->store, ctx, [&f](Db& db) -> Result<std::vector<Job>> {
        // Only the filters given are in the SQL: a condition of the form "(?6 = 0 OR
        // id < ?6)" cannot be a range on an index, so a deep page (`before`) of a
        // million-job queue would walk every newer row first. One statement per set of
        // filters, built once (Db caches statements by their text's address);
        // numbered parameters keep their numbers whether or not they are used. The
        // unary + keeps the planner off the partial state indexes: over jobs_pending it
        // would sort every pending job of the queue by id to find a page (0.5 s at a
        // million); walking the ids down from `before` finds a page of a common state
        // at once, and costs a scan only for a state rare in a large table (100 ms per
        // page at a million jobs), with no index of its own for every write to keep.
        static const std::array<std::string, 256> kListSql = [] {
          static constexpr const char* kConditions[8] = {
              " AND +state = ?1",     " AND type = ?2",
              " AND queue = ?3",      " AND node = ?4",
              " AND state IN (6, 8)", " AND id < ?6",
              " AND trace_id = ?8",   " AND instr(last_error, ?9) > 0"};
          std::array<std::string, 256> out;
          for (unsigned mask = 0; mask < out.size(); ++mask) {
            out[mask] = "SELECT " ORCA_JOB_COLUMNS " FROM jobs WHERE 1";
            for (unsigned bit = 0; bit < 8; ++bit)
              if (mask & (1u << bit)) out[mask].append(kConditions[bit]);
            out[mask].append(" ORDER BY id DESC LIMIT ?7");
          }
          return out;
        }();
        const bool given[8] = {f.state.has_value(), !f.type.empty(), !f.queue.empty(),
                               !f.node.empty(),     f.dead_letter,   f.before_id != 0,
                               !f.trace_id.empty(), !f.error.empty()};
        unsigned mask = 0;
        for (unsigned bit = 0; bit < 8; ++bit)
          if (given[bit]) mask |= 1u << bit;
        Stmt s = db.prepare(kListSql[mask].c_str());
        if (f.state) s.bind(1, static_cast<int>(*f.state));
        if (!f.type.empty()) s.bind(2, f.type);
        if (!f.queue.empty()) s.bind(3, f.queue);
        if (!f.node.empty()) s.bind(4, f.node);
        if (f.before_id != 0) s.bind(6, f.before_id);
        s.bind(7, static_cast<std::int64_t>(f.limit));
        if (!f.trace_id.empty()) s.bind(8, f.trace_id);
        if (!f.error.empty()) s.bind(9, f.error);
        std::vector<Job> out;
        while (s.step())
          out.push_back(read_job(s));
        return out;
      });
  co_return co_await call;
}

Task<Result<std::vector<AuditEntry>>> SqliteBroker::audit(Context ctx, JobId id) {
  auto call = detail::store_read<std::vector<AuditEntry>>(
      impl_->store, ctx, [id](Db& db) -> Result<std::vector<AuditEntry>> {
        Stmt s = db.prepare(
            "SELECT seq, job, from_state, to_state, node, attempt, at_ms, error, actor FROM audit "
            "WHERE seq >= (?1 << 24) AND seq < ((?1 + 1) << 24) ORDER BY seq");
        s.bind(1, id);
        std::vector<AuditEntry> out;
        while (s.step()) {
          AuditEntry e;
          e.seq = s.i64(0);
          e.job = s.i64(1);
          if (!s.null(2)) e.from = static_cast<JobState>(s.i32(2));
          e.to = static_cast<JobState>(s.i32(3));
          e.node = s.text(4);
          e.attempt = s.i32(5);
          e.at = from_unix_ms(s.i64(6));
          e.error = s.text(7);
          e.actor = s.text(8);
          out.push_back(std::move(e));
        }
        return out;
      });
  co_return co_await call;
}

Task<Result<std::vector<QueueStats>>> SqliteBroker::queues(Context ctx) {
  auto call = detail::store_read<std::vector<QueueStats>>(
      impl_->store, ctx, [](Db& db) -> Result<std::vector<QueueStats>> {
        Stmt s = db.prepare(
            "SELECT queue, state, n FROM queue_counts WHERE n != 0 ORDER BY queue, state");
        std::vector<QueueStats> out;
        while (s.step()) {
          std::string q = s.text(0);
          if (out.empty() || out.back().queue != q)
            out.push_back(QueueStats{q, {}, {}, {}, {}, {}});
          out.back().counts[static_cast<JobState>(s.i32(1))] = s.i64(2);
        }
        // The oldest due time of a queue's pending jobs, on jobs_pending (queue, priority
        // DESC, ready_ms) without an index of its own (which every enqueue and claim would
        // pay for): a skip scan that walks the distinct priorities, best first, one seek
        // each, and takes the first (oldest) ready_ms of each.
        for (QueueStats& q : out) {
          if (!q.counts.contains(JobState::kPending)) continue;
          Stmt oldest = db.prepare(
              "WITH RECURSIVE p(prio) AS ("
              " SELECT max(priority) FROM jobs WHERE state = 0 AND queue = ?1"
              " UNION ALL SELECT (SELECT max(priority) FROM jobs"
              "  WHERE state = 0 AND queue = ?1 AND priority < p.prio)"
              " FROM p WHERE p.prio IS NOT NULL) "
              "SELECT min((SELECT min(ready_ms) FROM jobs"
              " WHERE state = 0 AND queue = ?1 AND priority = p.prio)) FROM p");
          oldest.bind(1, q.queue);
          if (oldest.step() && !oldest.null(0)) q.oldest_pending_due = from_unix_ms(oldest.i64(0));
        }
        // Paused queues, listed even when they hold no job.
        Stmt paused = db.prepare("SELECT name, paused_by, paused_ms FROM queues WHERE paused = 1");
        while (paused.step()) {
          std::string name = paused.text(0);
          auto it = std::lower_bound(
              out.begin(), out.end(), name,
              [](const QueueStats& q, const std::string& n) { return q.queue < n; });
          if (it == out.end() || it->queue != name)
            it = out.insert(it, QueueStats{name, {}, {}, {}, {}, {}});
          it->paused = true;
          it->paused_by = paused.text(1);
          it->paused_at = from_unix_ms(paused.i64(2));
        }
        return out;
      });
  co_return co_await call;
}

Task<Result<std::vector<NodeInfo>>> SqliteBroker::nodes(Context ctx) {
  auto call = detail::store_read<std::vector<NodeInfo>>(
      impl_->store, ctx, [](Db& db) -> Result<std::vector<NodeInfo>> {
        Stmt s = db.prepare(
            "SELECT id, types, tags, capacity, load, state, pid, started_ms, heartbeat_ms, "
            "(SELECT count(*) FROM jobs WHERE state IN (3, 4) AND node = nodes.id) FROM nodes "
            "ORDER BY id");
        std::vector<NodeInfo> out;
        while (s.step()) {
          NodeInfo n;
          n.id = s.text(0);
          n.types = json::parse(s.text(1)).get<std::vector<std::string>>();
          n.tags = json::parse(s.text(2)).get<std::vector<std::string>>();
          n.capacity = s.i32(3);
          n.load = s.i32(4);
          n.state = static_cast<NodeState>(s.i32(5));
          n.pid = s.i64(6);
          n.started_at = from_unix_ms(s.i64(7));
          n.heartbeat_at = from_unix_ms(s.i64(8));
          n.active = s.i32(9);
          out.push_back(std::move(n));
        }
        return out;
      });
  co_return co_await call;
}

Task<Result<std::vector<Job>>> SqliteBroker::peek_pending(Context ctx, PeekRequest req) {
  Impl* impl = impl_.get();
  auto call = detail::store_read<std::vector<Job>>(
      impl->store, ctx, [impl, &req](Db& db) -> Result<std::vector<Job>> {
        return impl->pick_pending(db, impl->read_rng, req.types, req.limit, req.weights);
      });
  co_return co_await call;
}

Task<Result<std::vector<JobId>>> SqliteBroker::assign(Context ctx,
                                                      std::vector<Assignment> assignments,
                                                      milliseconds lease) {
  Impl* impl = impl_.get();
  auto call = impl->write<std::vector<JobId>>(
      ctx, [impl, &assignments, lease](Db& db) -> Result<std::vector<JobId>> {
        const std::int64_t now = now_ms();
        std::vector<JobId> out;
        std::map<std::string, bool> alive;  // per node, looked up once per call
        for (const Assignment& a : assignments) {
          // Conditional on the node still being alive (it may have left since the
          // center looked) and the job still pending at the attempt the center saw
          // (another center may have taken it, or it may have run and been requeued).
          auto [it, fresh] = alive.try_emplace(a.node, false);
          if (fresh) {
            Stmt n = db.prepare("SELECT 1 FROM nodes WHERE id = ?1 AND state = 0");
            n.bind(1, a.node);
            it->second = n.step();
          }
          if (!it->second) continue;
          // The job as the center peeked it; the UPDATE below applies only if it
          // still is (pending at that attempt).
          JobSnapshot peeked;
          peeked.state = JobState::kPending;
          peeked.attempt = a.attempt;
          const TransitionOutcome o = jobs::transition(
              peeked, JobEvent::assign(a.node, a.attempt, a.start), from_unix_ms(now));
          if (!o.changed) continue;
          const JobState to = o.to;
          const int attempt = o.attempt;
          db.prepare(
                "UPDATE jobs SET state = ?2, node = ?3, lease_ms = ?4, updated_ms = ?5, attempt = "
                "?6, audit_n = audit_n + 1 WHERE id = ?1 AND state = 0 AND attempt = ?7 AND NOT "
                "EXISTS (SELECT 1 FROM queues WHERE name = jobs.queue AND paused = 1)")
              .bind(1, a.id)
              .bind(2, static_cast<int>(to))
              .bind(3, o.node)
              .bind(4, now + (a.lease.count() > 0 ? a.lease : lease).count())
              .bind(5, now)
              .bind(6, attempt)
              .bind(7, a.attempt)
              .run();
          if (db.changes() == 0) continue;
          impl->audit(db, impl->queue_of(db, a.id), a.id, JobState::kPending, to, o.node, attempt,
                      now, o.audit_error);
          out.push_back(a.id);
        }
        return out;
      });
  co_return co_await call;
}

Task<Result<std::size_t>> SqliteBroker::promote_due(Context ctx) {
  Impl* impl = impl_.get();
  auto call = impl->write<std::size_t>(ctx, [impl](Db& db) -> Result<std::size_t> {
    const std::int64_t now = now_ms();
    return impl->promote(db, now);
  });
  co_return co_await call;
}

Task<Result<std::size_t>> SqliteBroker::reap(Context ctx, milliseconds node_timeout) {
  Impl* impl = impl_.get();
  auto call = impl->write<std::size_t>(ctx, [impl, node_timeout](Db& db) -> Result<std::size_t> {
    const std::int64_t now = now_ms();
    db.prepare("UPDATE nodes SET state = 2 WHERE state = 0 AND heartbeat_ms < ?1")
        .bind(1, now - node_timeout.count())
        .run();
    std::vector<std::pair<Job, std::string>> lost;
    {
      Stmt s = db.prepare(
          "SELECT " ORCA_JOB_COLUMNS
          ", node IN (SELECT id FROM nodes WHERE state = 0) FROM jobs INDEXED BY jobs_node WHERE "
          "state IN (3, 4) AND (lease_ms < ?1 OR node NOT IN (SELECT id FROM nodes WHERE state = "
          "0))");
      s.bind(1, now);
      while (s.step()) {
        Job j = read_job(s);
        // A gone node is the reason even when the lease has run out too (as on Redis,
        // which reclaims a dead node's jobs before it looks at leases).
        std::string why =
            s.i32(26) == 0 ? "node " + j.node + " is gone" : "lease expired on node " + j.node;
        lost.emplace_back(std::move(j), std::move(why));
      }
    }
    for (const auto& [job, why] : lost)
      impl->reclaim(db, job, now, why);
    return lost.size();
  });
  co_return co_await call;
}

Task<Result<TrimReport>> SqliteBroker::trim(Context ctx, Retention r) {
  Impl* impl = impl_.get();
  TrimReport total;
  for (bool more = true; more;) {
    auto call = impl->write<TrimReport>(ctx, [impl, r, &more](Db& db) -> Result<TrimReport> {
      const std::int64_t now = now_ms();
      const std::int64_t cutoff = now - r.max_age.count();
      TrimReport rep;
      // Per class (succeeded and cancelled; failed and dead, each on its own
      // index): the jobs past the age, then the oldest beyond the count, each with
      // its audit trail (one key range).
      std::vector<JobId> ids;
      auto take = [&db, &ids](const char* sql, std::int64_t bound, std::int64_t offset) {
        const std::int64_t room = kTrimChunk - static_cast<std::int64_t>(ids.size());
        if (room <= 0) return;
        Stmt s = db.prepare(sql);
        s.bind(1, bound).bind(2, room).bind(3, offset);
        while (s.step())
          ids.push_back(s.i64(0));
      };
      struct Bounds {
        const char* by_age;
        const char* by_count;
        std::int64_t cutoff;
        std::int64_t keep;
      };
      const Bounds classes[] = {
          {"SELECT id FROM jobs INDEXED BY jobs_finished WHERE state >= 5 AND state IN (5, 7) "
           "AND finished_ms < ?1 LIMIT ?2 OFFSET ?3",
           "SELECT id FROM jobs INDEXED BY jobs_finished WHERE state >= 5 AND state IN (5, 7) "
           "AND finished_ms >= ?1 ORDER BY finished_ms DESC, id DESC LIMIT ?2 OFFSET ?3",
           cutoff, r.max_finished_jobs},
          {"SELECT id FROM jobs INDEXED BY jobs_dead_finished WHERE state IN (6, 8) AND "
           "finished_ms < ?1 LIMIT ?2 OFFSET ?3",
           "SELECT id FROM jobs INDEXED BY jobs_dead_finished WHERE state IN (6, 8) AND "
           "finished_ms >= ?1 ORDER BY finished_ms DESC, id DESC LIMIT ?2 OFFSET ?3",
           now - r.dead_max_age.count(), r.max_dead_jobs},
      };
      for (const Bounds& c : classes) {
        take(c.by_age, c.cutoff, 0);
        take(c.by_count, c.cutoff, c.keep);
      }
      for (JobId id : ids) {
        if (std::optional<std::int64_t> rows = impl->delete_job(db, id)) {
          ++rep.jobs_deleted;
          rep.audit_deleted += *rows;
        }
      }
      more = static_cast<std::int64_t>(ids.size()) == kTrimChunk;
      if (more) return rep;
      // The count cap covers the live jobs' trails too: the oldest jobs' rows go.
      db.prepare(
            "DELETE FROM audit WHERE seq <= (SELECT seq FROM audit ORDER BY seq DESC LIMIT 1 "
            "OFFSET ?1)")
          .bind(1, r.max_audit_entries)
          .run();
      rep.audit_deleted += db.changes();
      db.prepare("DELETE FROM nodes WHERE state != 0 AND heartbeat_ms < ?1").bind(1, cutoff).run();
      rep.nodes_deleted += db.changes();
      return rep;
    });
    auto rep = co_await call;
    if (!rep) co_return rep.error();
    total.jobs_deleted += rep->jobs_deleted;
    total.audit_deleted += rep->audit_deleted;
    total.nodes_deleted += rep->nodes_deleted;
  }
  co_return total;
}

Task<Result<void>> SqliteBroker::put_periodic(Context ctx, PeriodicEntry e) {
  if (std::string why = check_job_spec(e.spec, options_.limits); !why.empty())
    co_return Error(make_error_code(errc::invalid_job), std::move(why));
  auto call = impl_->write<void>(ctx, [&e](Db& db) -> Result<void> {
    db.prepare(
          "INSERT INTO periodic(name, schedule, spec, next_ms) VALUES(?1, ?2, ?3, ?4) ON "
          "CONFLICT(name) DO UPDATE SET schedule = ?2, spec = ?3, next_ms = CASE WHEN schedule = "
          "?2 THEN next_ms ELSE ?4 END")
        .bind(1, e.name)
        .bind(2, e.schedule)
        .bind(3, to_json(e.spec).dump())
        .bind(4, to_unix_ms(e.next_run))
        .run();
    return {};
  });
  co_return co_await call;
}

Task<Result<std::vector<PeriodicEntry>>> SqliteBroker::periodic(Context ctx) {
  auto call = detail::store_read<std::vector<PeriodicEntry>>(
      impl_->store, ctx, [](Db& db) -> Result<std::vector<PeriodicEntry>> {
        Stmt s = db.prepare("SELECT name, schedule, spec, next_ms FROM periodic ORDER BY name");
        std::vector<PeriodicEntry> out;
        while (s.step()) {
          PeriodicEntry e;
          e.name = s.text(0);
          e.schedule = s.text(1);
          Result<JobSpec> spec = job_spec_from_json(json::parse(s.text(2)));
          if (!spec)
            throw std::runtime_error(
                std::string("periodic ").append(e.name).append(": ").append(spec.error().detail()));
          e.spec = std::move(*spec);
          e.next_run = from_unix_ms(s.i64(3));
          out.push_back(std::move(e));
        }
        return out;
      });
  co_return co_await call;
}

Task<Result<bool>> SqliteBroker::fire_periodic(Context ctx, std::string name,
                                               WallClock::time_point expected,
                                               WallClock::time_point next) {
  Impl* impl = impl_.get();
  auto call = impl->write<bool>(ctx, [impl, &name, expected, next](Db& db) -> Result<bool> {
    std::string spec_text;
    {
      Stmt s = db.prepare(
          "UPDATE periodic SET next_ms = ?3 WHERE name = ?1 AND next_ms = ?2 RETURNING spec");
      s.bind(1, name).bind(2, to_unix_ms(expected)).bind(3, to_unix_ms(next));
      if (!s.step()) return false;
      spec_text = s.text(0);
      s.run();
    }
    Result<JobSpec> spec = job_spec_from_json(json::parse(spec_text));
    if (!spec)
      throw std::runtime_error(
          std::string("periodic ").append(name).append(": ").append(spec.error().detail()));
    spec->run_at.reset();
    impl->insert_job(db, *spec, now_ms());
    return true;
  });
  co_return co_await call;
}

// One row per lease name, never deleted: its token is the last one granted, so the
// next holder's is larger even after a release. Times are this machine's wall clock,
// which every process sharing the file reads.
Task<Result<std::optional<LeaseGrant>>> SqliteBroker::acquire_lease(Context ctx, std::string name,
                                                                    std::string holder,
                                                                    milliseconds ttl) {
  auto call = impl_->write<std::optional<LeaseGrant>>(
      ctx, [&name, &holder, ttl](Db& db) -> Result<std::optional<LeaseGrant>> {
        const std::int64_t now = now_ms();
        std::string current;
        std::int64_t token = 0;
        std::int64_t expires = 0;
        {
          Stmt s = db.prepare("SELECT holder, token, expires_ms FROM leases WHERE name = ?1");
          s.bind(1, name);
          if (s.step()) {
            current = s.text(0);
            token = s.i64(1);
            expires = s.i64(2);
          }
        }
        const bool running = !current.empty() && expires > now;
        if (running && current != holder) return std::optional<LeaseGrant>{};
        // Anyone but the holder of record starts a new tenure. The holder of record
        // keeps its token even past expiry: nobody held the lease in between.
        if (current != holder) ++token;
        db.prepare(
              "INSERT INTO leases(name, holder, token, expires_ms) VALUES(?1, ?2, ?3, ?4) "
              "ON CONFLICT(name) DO UPDATE SET holder = ?2, token = ?3, expires_ms = ?4")
            .bind(1, name)
            .bind(2, holder)
            .bind(3, token)
            .bind(4, now + ttl.count())
            .run();
        return std::optional<LeaseGrant>{LeaseGrant{token, from_unix_ms(now + ttl.count())}};
      });
  co_return co_await call;
}

Task<Result<bool>> SqliteBroker::release_lease(Context ctx, std::string name, std::string holder,
                                               std::int64_t token) {
  auto call = impl_->write<bool>(ctx, [&name, &holder, token](Db& db) -> Result<bool> {
    Stmt s = db.prepare(
        "UPDATE leases SET holder = '', expires_ms = 0 WHERE name = ?1 AND holder = ?2 AND "
        "token = ?3 RETURNING token");
    s.bind(1, name).bind(2, holder).bind(3, token);
    if (!s.step()) return false;
    s.run();
    return true;
  });
  co_return co_await call;
}

Task<Result<void>> SqliteBroker::register_node(Context ctx, NodeInfo n) {
  auto call = impl_->write<void>(ctx, [&n](Db& db) -> Result<void> {
    const std::int64_t now = now_ms();
    db.prepare(
          "INSERT OR REPLACE INTO nodes(id, types, tags, capacity, load, state, pid, started_ms, "
          "heartbeat_ms) VALUES(?1, ?2, ?3, ?4, 0, 0, ?5, ?6, ?6)")
        .bind(1, n.id)
        .bind(2, json_array(n.types))
        .bind(3, json_array(n.tags))
        .bind(4, n.capacity)
        .bind(5, n.pid)
        .bind(6, now)
        .run();
    return {};
  });
  co_return co_await call;
}

Task<Result<HeartbeatReply>> SqliteBroker::heartbeat(Context ctx, std::string node, int load,
                                                     Leases lease, std::vector<JobId> held) {
  const std::string held_json = nlohmann::json(held).dump();
  nlohmann::json by_queue = nlohmann::json::object();
  for (const auto& [queue, ms] : lease.by_queue)
    by_queue[queue] = ms.count();
  const std::string leases_json = by_queue.dump();
  const std::int64_t fallback = lease.fallback.count();
  auto call = impl_->write<HeartbeatReply>(
      ctx, [&node, load, fallback, &leases_json, &held_json](Db& db) -> Result<HeartbeatReply> {
        const std::int64_t now = now_ms();
        HeartbeatReply reply;
        db.prepare("UPDATE nodes SET load = ?2, heartbeat_ms = ?3 WHERE id = ?1 AND state = 0")
            .bind(1, node)
            .bind(2, load)
            .bind(3, now)
            .run();
        reply.known = db.changes() == 1;
        if (!reply.known) return reply;
        // Jobs leased to it, and the running ones it says it holds (broker.hpp), each
        // for its queue's lease.
        db.prepare(
              "UPDATE jobs INDEXED BY jobs_node SET lease_ms = ?2 + COALESCE((SELECT value FROM "
              "json_each(?4) WHERE key = jobs.queue), ?5) WHERE state IN (3, 4) AND node = ?1 AND "
              "(state = 3 OR id IN (SELECT value FROM json_each(?3)))")
            .bind(1, node)
            .bind(2, now)
            .bind(3, held_json)
            .bind(4, leases_json)
            .bind(5, fallback)
            .run();
        Stmt s = db.prepare(
            "SELECT id FROM jobs INDEXED BY jobs_node WHERE state IN (3, 4) AND state = 4 AND node "
            "= ?1 AND cancel_requested = 1");
        s.bind(1, node);
        while (s.step())
          reply.cancel_requested.push_back(s.i64(0));
        return reply;
      });
  co_return co_await call;
}

Task<Result<void>> SqliteBroker::deregister_node(Context ctx, std::string node) {
  Impl* impl = impl_.get();
  auto call = impl->write<void>(ctx, [impl, &node](Db& db) -> Result<void> {
    const std::int64_t now = now_ms();
    db.prepare("UPDATE nodes SET state = 1, load = 0, heartbeat_ms = ?2 WHERE id = ?1")
        .bind(1, node)
        .bind(2, now)
        .run();
    std::vector<Job> held;
    {
      Stmt s =
          db.prepare("SELECT " ORCA_JOB_COLUMNS " FROM jobs WHERE state IN (3, 4) AND node = ?1");
      s.bind(1, node);
      while (s.step())
        held.push_back(read_job(s));
    }
    for (const Job& job : held)
      impl->reclaim(db, job, now, "node " + node + " left");
    return {};
  });
  co_return co_await call;
}

Task<Result<std::vector<Job>>> SqliteBroker::claim(Context ctx, ClaimRequest req) {
  Impl* impl = impl_.get();
  auto call = impl->write<std::vector<Job>>(ctx, [impl, &req](Db& db) -> Result<std::vector<Job>> {
    const std::int64_t now = now_ms();
    std::vector<Job> jobs;
    std::vector<std::pair<JobId, std::string>> unreadable;  // specs that do not parse
    {
      Stmt s = db.prepare(
          "SELECT " ORCA_JOB_COLUMNS
          " FROM jobs INDEXED BY jobs_node WHERE state IN (3, 4) AND state = 3 AND node = ?1 "
          "ORDER BY priority DESC, "
          "id LIMIT ?2");
      s.bind(1, req.node).bind(2, static_cast<std::int64_t>(req.limit));
      while (s.step()) {
        if (Result<Job> j = read_job_or(s))
          jobs.push_back(std::move(*j));
        else
          unreadable.emplace_back(s.i64(0), std::string(j.error().detail()));
      }
    }
    if (req.pull_pending && jobs.size() + unreadable.size() < req.limit) {
      // Pulling nodes may run without a center: due jobs become pending here too.
      impl->promote(db, now);
      std::vector<Job> more =
          impl->pick_pending(db, impl->rng, req.types, req.limit - jobs.size() - unreadable.size(),
                             req.weights, &unreadable, &req.queue_caps);
      for (Job& j : more)
        jobs.push_back(std::move(j));
    }
    // A job whose spec does not parse can never run: taken like the others (its
    // attempt counts), then failed at once with the parser's message, alone. Its
    // neighbours run, and later claims do not meet it again.
    for (const auto& [id, why] : unreadable) {
      std::optional<Job> job = impl->load_state(db, id);
      if (!job) continue;
      const TransitionOutcome taken = impl->step(db, *job, JobEvent::claim(req.node), now);
      if (!taken.changed) continue;
      job->state = taken.to;
      job->node = taken.node;
      job->attempt = taken.attempt;
      job->cancel_requested = taken.cancel_requested;
      job->last_error = taken.last_error;
      impl->step(db, *job, JobEvent::unreadable(req.node, "the job's spec does not parse: " + why),
                 now);
    }
    std::vector<Job> taken;
    taken.reserve(jobs.size());
    for (Job& j : jobs) {
      // (Every job here is pending or leased to the node: the selects above say so.)
      const TransitionOutcome o =
          jobs::transition(JobSnapshot::of(j), JobEvent::claim(req.node), from_unix_ms(now));
      if (!o.changed) continue;
      const std::int64_t lease_until = now + req.lease.of(j.spec.queue).count();
      db.prepare(
            "UPDATE jobs SET state = ?6, node = ?2, attempt = ?3, lease_ms = ?4, updated_ms = ?5, "
            "audit_n = audit_n + 1 WHERE id = ?1")
          .bind(1, j.id)
          .bind(2, o.node)
          .bind(3, o.attempt)
          .bind(4, lease_until)
          .bind(5, now)
          .bind(6, static_cast<int>(o.to))
          .run();
      impl->audit(db, j.spec.queue, j.id, j.state, o.to, o.node, o.attempt, now, o.audit_error);
      j.state = o.to;
      j.node = o.node;
      j.attempt = o.attempt;
      j.lease_until = from_unix_ms(lease_until);
      j.updated_at = from_unix_ms(now);
      taken.push_back(std::move(j));
    }
    return taken;
  });
  co_return co_await call;
}

Task<Result<std::vector<Result<JobState>>>> SqliteBroker::complete(
    Context ctx, std::vector<Completion> completions) {
  Impl* impl = impl_.get();
  auto call = impl->write<std::vector<Result<JobState>>>(
      ctx, [impl, &completions](Db& db) -> Result<std::vector<Result<JobState>>> {
        const std::int64_t now = now_ms();
        std::vector<Result<JobState>> out;
        out.reserve(completions.size());
        for (const Completion& c : completions) {
          if (c.outcome == Outcome::kSucceeded) {
            // The common case in one fenced statement, on the snapshot its WHERE
            // clause requires (the outcome of a success reads nothing else); a miss
            // is told apart below.
            JobSnapshot fenced;
            fenced.state = JobState::kRunning;
            fenced.node = c.node;
            fenced.attempt = c.attempt;
            const TransitionOutcome o =
                jobs::transition(fenced, JobEvent::complete(c), from_unix_ms(now));
            db.prepare(
                  "UPDATE jobs SET state = ?5, updated_ms = ?4, finished_ms = ?4, lease_ms = 0, "
                  "cancel_requested = 0, last_error = CASE WHEN ?6 = '' THEN last_error ELSE ?6 "
                  "END, audit_n = audit_n + 1 WHERE id = ?1 AND state = 4 AND node = ?2 AND "
                  "attempt = ?3")
                .bind(1, c.id)
                .bind(2, c.node)
                .bind(3, c.attempt)
                .bind(4, now)
                .bind(5, static_cast<int>(o.to))
                .bind(6, c.error)
                .run();
            if (db.changes() == 1) {
              impl->audit(db, impl->queue_of(db, c.id), c.id, JobState::kRunning, o.to, o.node,
                          o.attempt, now, o.audit_error);
              out.emplace_back(o.to);
              continue;
            }
          }
          std::optional<Job> job = impl->load_state(db, c.id);
          if (!job) {
            out.emplace_back(errc::not_found);
            continue;
          }
          const TransitionOutcome o = impl->step(db, *job, JobEvent::complete(c), now);
          if (o.refused)
            out.emplace_back(*o.refused);
          else
            out.emplace_back(o.to);
        }
        return out;
      });
  co_return co_await call;
}

}  // namespace orca::jobs
