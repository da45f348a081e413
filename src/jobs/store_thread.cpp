// The SQLite broker's I/O thread: group commit of concurrent calls (store_thread.hpp).
#include "store_thread.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace orca::jobs::detail {

Db::Db(const std::string& path) {
  const int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string what = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open " + path + ": " + what);
  }
}

Db::~Db() {
  for (auto& [sql, stmt] : cache_)
    sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Stmt Db::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) throw SqliteError(rc, std::string(sqlite3_errmsg(db_)) + " in: " + sql);
    it = cache_.emplace(sql, s).first;
  }
  return Stmt(db_, it->second);
}

void Db::exec(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string what = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw SqliteError(rc, what);
  }
}

StoreThread::StoreThread(std::string path, std::function<void(Db&)> init,
                         std::function<void(Db&)> init_reader, std::size_t max_group)
    : max_group_(max_group == 0 ? 1 : max_group) {
  // On the constructing thread: errors reach the caller as exceptions.
  writer_.db = std::make_unique<Db>(path);
  init(*writer_.db);
  reader_.db = std::make_unique<Db>(path);
  init_reader(*reader_.db);
  // The checkpointer's connection too, so that a failure to open it is reported to
  // the caller instead of leaving the WAL to grow unchecked.
  auto checkpoint_db = std::make_unique<Db>(path);
  checkpoint_db->exec("PRAGMA busy_timeout=5000");
  // No automatic checkpoints on the calls' connection; the hook asks the
  // checkpointer instead (SQLite's default threshold: 1000 pages of WAL).
  sqlite3_wal_hook(writer_.db->raw(), &StoreThread::on_wal_commit, this);
  checkpointer_ = std::thread(
      [this, db = std::move(checkpoint_db)]() mutable { checkpoint_loop(std::move(db)); });
  writer_.thread = std::thread([this] { loop(writer_, Access::kWrite); });
  reader_.thread = std::thread([this] { loop(reader_, Access::kRead); });
}

int StoreThread::on_wal_commit(void* self, sqlite3*, const char*, int pages) {
  constexpr int kCheckpointPages = 1000;
  if (pages >= kCheckpointPages) {
    auto* t = static_cast<StoreThread*>(self);
    {
      std::lock_guard lock(t->checkpoint_mu_);
      t->checkpoint_wanted_ = true;
    }
    t->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void StoreThread::checkpoint_loop(std::unique_ptr<Db> db) {
  for (;;) {
    {
      std::unique_lock lock(checkpoint_mu_);
      checkpoint_cv_.wait(lock, [&] { return checkpoint_wanted_ || checkpoint_stop_; });
      if (checkpoint_stop_) return;
      checkpoint_wanted_ = false;
    }
    // PASSIVE: copies what it can without blocking writers or readers; the WAL is
    // reused from the start by the first commit after a complete checkpoint.
    sqlite3_wal_checkpoint_v2(db->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
}

StoreThread::~StoreThread() {
  stop_lane(reader_, "reader");
  stop_lane(writer_, "writer");
  {
    std::lock_guard lock(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_cv_.notify_one();
  checkpointer_.join();
}

void StoreThread::stop_lane(Lane& lane, const char* name) {
  {
    std::lock_guard lock(lane.mu);
    lane.stop = true;
  }
  lane.cv.notify_one();
  lane.thread.join();
  // ORCA_JOBS_STATS=1: how well calls were grouped, for tuning (docs/JOBS.md).
  if (std::getenv("ORCA_JOBS_STATS"))
    std::fprintf(stderr, "store %s: %zu groups, %zu calls, %.1f ms in transactions, %.1f ms CPU\n",
                 name, lane.groups, lane.calls, lane.busy_ns / 1e6, lane.cpu_ns / 1e6);
}

void StoreThread::submit(StoreOp* op, Access access) {
  Lane& lane = access == Access::kWrite ? writer_ : reader_;
  {
    std::lock_guard lock(lane.mu);
    if (lane.stop) {
      // Cannot happen while the broker is alive (its destructor runs after every
      // call); fail it rather than lose the task.
      op->fail(make_error_code(errc::shutting_down));
      orca::detail::wake(op->task, orca::detail::WakeOrder::kBack);
      return;
    }
    op->next = nullptr;
    const bool was_empty = lane.head == nullptr;
    (was_empty ? lane.head : lane.tail->next) = op;
    lane.tail = op;
    // Only the first call of a batch needs to wake the thread: later ones find it
    // busy or about to look at the queue. Under the lock: once the op is queued the
    // thread may run it and wake its task, which may destroy the broker (and this
    // condition variable) before a notify made after unlocking would return.
    if (was_empty) lane.cv.notify_one();
  }
}

void StoreThread::loop(Lane& lane, Access access) {
  for (;;) {
    StoreOp* group = nullptr;
    {
      std::unique_lock lock(lane.mu);
      lane.cv.wait(lock, [&] { return lane.head != nullptr || lane.stop; });
      if (lane.head == nullptr) return;  // stopping and drained
      // Take up to max_group calls, leaving the rest for the next transaction so that
      // one huge burst does not hold the write lock for long.
      group = lane.head;
      StoreOp* last = lane.head;
      for (std::size_t n = 1; n < max_group_ && last->next != nullptr; ++n)
        last = last->next;
      lane.head = last->next;
      if (lane.head == nullptr) lane.tail = nullptr;
      last->next = nullptr;
    }
    run_group(lane, access, group);
  }
}

void StoreThread::run_group(Lane& lane, Access access, StoreOp* first) {
  Db& db = *lane.db;
  const bool writes = access == Access::kWrite;
  const auto t0 = Clock::now();
  timespec c0{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  ++lane.groups;
  for (StoreOp* op = first; op; op = op->next)
    ++lane.calls;
  bool began = false;
  Error group_error;
  try {
    db.prepare(writes ? "BEGIN IMMEDIATE" : "BEGIN").run();
    began = true;
    const auto now = Clock::now();
    for (StoreOp* op = first; op != nullptr; op = op->next) {
      if (op->deadline && *op->deadline <= now) {
        // The caller's deadline passed while it queued: skip it (broker.hpp, rule 4).
        op->fail(make_error_code(orca::errc::deadline_exceeded));
        continue;
      }
      if (!writes) {
        op->execute(db);
        continue;
      }
      db.prepare("SAVEPOINT call").run();
      op->execute(db);
      if (!op->ok()) db.prepare("ROLLBACK TO call").run();
      db.prepare("RELEASE call").run();
    }
    db.prepare("COMMIT").run();
  } catch (const SqliteError& e) {
    group_error = Error(make_error_code(errc::broker_failure), e.what());
    if (began && !sqlite3_get_autocommit(db.raw())) {
      try {
        db.exec("ROLLBACK");
      } catch (const SqliteError&) {
      }
    }
  }
  lane.busy_ns += std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  timespec c1{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  lane.cpu_ns += (c1.tv_sec - c0.tv_sec) * 1e9 + (c1.tv_nsec - c0.tv_nsec);
  // Wake every task of the group in one batch, after the commit: a task must never
  // see its call's result before it is durable.
  orca::detail::TaskHeader* wake_head = nullptr;
  for (StoreOp* op = first; op != nullptr;) {
    StoreOp* next = op->next;  // read before the task can run and free `op`
    if (group_error) op->fail(group_error);
    op->task->next = wake_head;
    wake_head = op->task;
    op = next;
  }
  orca::detail::wake_list(wake_head);
}

}  // namespace orca::jobs::detail
