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

StoreThread::StoreThread(std::string path, std::function<void(Db&)> init, std::size_t max_group)
    : max_group_(max_group == 0 ? 1 : max_group) {
  db_ = std::make_unique<Db>(path);
  init(*db_);  // on the constructing thread: errors reach the caller as exceptions
  // No automatic checkpoints on the calls' connection; the hook asks the
  // checkpointer instead (SQLite's default threshold: 1000 pages of WAL).
  sqlite3_wal_hook(db_->raw(), &StoreThread::on_wal_commit, this);
  checkpointer_ = std::thread([this, path] { checkpoint_loop(path); });
  thread_ = std::thread([this] { loop(); });
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

void StoreThread::checkpoint_loop(std::string path) {
  std::unique_ptr<Db> db;
  try {
    db = std::make_unique<Db>(path);
    db->exec("PRAGMA busy_timeout=5000");
  } catch (const std::exception& e) {
    record_failure(std::string("checkpointer: ") + e.what());
  }
  for (;;) {
    {
      std::unique_lock lock(checkpoint_mu_);
      checkpoint_cv_.wait(lock, [&] { return checkpoint_wanted_ || checkpoint_stop_; });
      if (checkpoint_stop_) return;
      checkpoint_wanted_ = false;
    }
    // PASSIVE: copies what it can without blocking writers or readers; the WAL is
    // reused from the start by the first commit after a complete checkpoint.
    if (db)
      sqlite3_wal_checkpoint_v2(db->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
}

StoreThread::~StoreThread() {
  // ORCA_JOBS_STATS=1: how well calls were grouped, for tuning (docs/JOBS.md).
  if (std::getenv("ORCA_JOBS_STATS"))
    std::fprintf(stderr, "store: %zu groups, %zu calls, %.1f ms in transactions, %.1f ms CPU\n",
                 groups_, calls_, busy_ns_ / 1e6, cpu_ns_ / 1e6);
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
  {
    std::lock_guard lock(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_cv_.notify_one();
  checkpointer_.join();
}

void StoreThread::submit(StoreOp* op) {
  bool was_empty;
  {
    std::lock_guard lock(mu_);
    if (stop_) {
      // Cannot happen while the broker is alive (its destructor runs after every
      // call); fail it rather than lose the task.
      op->fail(make_error_code(errc::shutting_down));
      orca::detail::wake(op->task, orca::detail::WakeOrder::kBack);
      return;
    }
    op->next = nullptr;
    was_empty = head_ == nullptr;
    (was_empty ? head_ : tail_->next) = op;
    tail_ = op;
  }
  // Only the first call of a batch needs to wake the thread: later ones find it busy
  // or about to look at the queue.
  if (was_empty) cv_.notify_one();
}

void StoreThread::record_failure(const std::string& what) {
  std::lock_guard lock(mu_);
  last_failure_ = what;
}

std::string StoreThread::last_failure() const {
  std::lock_guard lock(mu_);
  return last_failure_;
}

void StoreThread::loop() {
  for (;;) {
    StoreOp* group = nullptr;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return head_ != nullptr || stop_; });
      if (head_ == nullptr) return;  // stopping and drained
      // Take up to max_group calls, leaving the rest for the next transaction so that
      // one huge burst does not hold the write lock for long.
      group = head_;
      StoreOp* last = head_;
      for (std::size_t n = 1; n < max_group_ && last->next != nullptr; ++n)
        last = last->next;
      head_ = last->next;
      if (head_ == nullptr) tail_ = nullptr;
      last->next = nullptr;
    }
    run_group(group);
  }
}

void StoreThread::run_group(StoreOp* first) {
  Db& db = *db_;
  const auto t0 = Clock::now();
  timespec c0{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  ++groups_;
  for (StoreOp* op = first; op; op = op->next)
    ++calls_;
  bool began = false;
  std::error_code group_error;
  try {
    db.prepare("BEGIN IMMEDIATE").run();
    began = true;
    const auto now = Clock::now();
    for (StoreOp* op = first; op != nullptr; op = op->next) {
      if (op->deadline && *op->deadline <= now) {
        // The caller's deadline passed while it queued: skip it (broker.hpp, rule 4).
        op->fail(make_error_code(orca::errc::deadline_exceeded));
        continue;
      }
      db.prepare("SAVEPOINT call").run();
      op->execute(db);
      if (!op->ok()) db.prepare("ROLLBACK TO call").run();
      db.prepare("RELEASE call").run();
    }
    db.prepare("COMMIT").run();
  } catch (const SqliteError& e) {
    record_failure(e.what());
    group_error = make_error_code(errc::broker_failure);
    if (began && !sqlite3_get_autocommit(db.raw())) {
      try {
        db.exec("ROLLBACK");
      } catch (const SqliteError&) {
      }
    }
  }
  busy_ns_ += std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  timespec c1{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  cpu_ns_ += (c1.tv_sec - c0.tv_sec) * 1e9 + (c1.tv_nsec - c0.tv_nsec);
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
