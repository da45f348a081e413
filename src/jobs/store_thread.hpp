// StoreThread: the SQLite broker's I/O threads and the awaiter that hands them a call.
//
// Two threads, each with its own connection: the writer runs every call that may
// change the store, grouped into one transaction; the reader runs the calls that only
// read (queries, the center's peeks), each group in one read transaction of WAL's
// snapshot isolation. Reads then neither wait behind a commit nor take the writer's
// time, and a read sees every call that returned before it was made.
//
// Protocol of one call (StoreCall):
//   1. await_ready: a done context completes the call at once with its error.
//   2. await_suspend: an ExternalWaker is taken (the deadlock detector must not see
//      "every task parked" while the I/O thread holds the call), the task is
//      prepared to park, and the call is pushed on the thread's queue. From here on
//      the I/O thread owns the call until it wakes the task.
//   3. The writer takes every queued call (up to max_group), opens one
//      transaction (BEGIN IMMEDIATE: the write lock up front, so no call fails midway
//      on a lock upgrade), runs each call in its own savepoint (rolled back if the
//      call fails), commits, and only then stores the final results and wakes all
//      the tasks in one batch. A failed commit fails every call of the group. The
//      reader takes its queue the same way, in a deferred (read) transaction.
//   4. await_resume releases the ExternalWaker and returns the result.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <coroutine>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>

#include "orca/context/context.hpp"
#include "orca/jobs/errors.hpp"
#include "orca/runtime/detail/scheduling.hpp"
#include "orca/runtime/external_waker.hpp"
#include "orca/runtime/result.hpp"

namespace orca::jobs::detail {

// An SQLite error, thrown inside a call and turned into errc::broker_failure (or
// invalid_state for a constraint), with SQLite's message, by the store thread.
class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) noexcept : db_(db), s_(s) {}
  Stmt(const Stmt&) = delete;
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(s_, i, v));
    return *this;
  }
  Stmt& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind(int i, double v) {
    check(sqlite3_bind_double(s_, i, v));
    return *this;
  }
  Stmt& bind(int i, std::string_view v) {
    check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind_blob(int i, std::string_view v) {
    check(sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind_null(int i) {
    check(sqlite3_bind_null(s_, i));
    return *this;
  }
  // True while there is a row.
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw SqliteError(rc, sqlite3_errmsg(db_));
  }
  void run() {
    while (step()) {
    }
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  int i32(int c) const { return sqlite3_column_int(s_, c); }
  double f64(int c) const { return sqlite3_column_double(s_, c); }
  bool null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::string text(int c) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, c));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, c)))
             : std::string();
  }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) throw SqliteError(rc, sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* s_;
};

// A connection with a cache of prepared statements keyed by the SQL literal's address
// (every statement is a string literal, so its address identifies it).
class Db {
 public:
  explicit Db(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Stmt prepare(const char* sql);
  void exec(const char* sql);
  std::int64_t changes() const noexcept { return sqlite3_changes64(db_); }
  std::int64_t last_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }
  sqlite3* raw() const noexcept { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

struct StoreOp {
  virtual void execute(Db& db) noexcept = 0;
  virtual bool ok() const noexcept = 0;
  virtual void fail(Error e) noexcept = 0;
  orca::detail::TaskHeader* task = nullptr;
  std::optional<Clock::time_point> deadline;
  StoreOp* next = nullptr;

 protected:
  ~StoreOp() = default;
};

enum class Access : std::uint8_t { kWrite, kRead };

class StoreThread {
 public:
  // `init` prepares the writer's connection (schema, pragmas); `init_reader` the
  // reader's, after it. Throws (SqliteError, std::runtime_error) with SQLite's message
  // if a connection cannot be opened or prepared: SqliteBroker::open reports it.
  StoreThread(std::string path, std::function<void(Db&)> init, std::function<void(Db&)> init_reader,
              std::size_t max_group);
  ~StoreThread();  // runs what is queued, then stops
  void submit(StoreOp* op, Access access);

 private:
  struct Lane {
    std::mutex mu;
    std::condition_variable cv;
    StoreOp* head = nullptr;  // FIFO: head .. tail
    StoreOp* tail = nullptr;
    bool stop = false;
    std::size_t groups = 0;  // the lane's thread only
    std::size_t calls = 0;
    double busy_ns = 0;
    double cpu_ns = 0;
    std::unique_ptr<Db> db;
    std::thread thread;
  };

  void loop(Lane& lane, Access access);
  void run_group(Lane& lane, Access access, StoreOp* first);
  void stop_lane(Lane& lane, const char* name);
  void checkpoint_loop(std::unique_ptr<Db> db);
  static int on_wal_commit(void* self, sqlite3* db, const char* name, int pages);

  std::size_t max_group_;
  Lane writer_;
  Lane reader_;
  // Checkpoints run on their own thread and connection: a checkpoint ends with an
  // fsync (with synchronous=NORMAL, the only one), which must not stall the calls.
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;
  bool checkpoint_stop_ = false;
  std::thread checkpointer_;
};

// The awaitable of one broker call: `fn(Db&) -> Result<T>` runs on the I/O thread.
template <class T, class F>
class StoreCall final : public StoreOp {
 public:
  StoreCall(StoreThread& thread, Access access, const Context& ctx, F fn)
      : thread_(thread), access_(access), ctx_(ctx), fn_(std::move(fn)) {}
  StoreCall(const StoreCall&) = delete;

  bool await_ready() noexcept {
    if (std::error_code e = ctx_.err()) {
      result_.emplace(e);
      return true;
    }
    deadline = ctx_.deadline();
    return false;
  }
  [[gnu::noinline]] void await_suspend(std::coroutine_handle<> self) {
    waker_.emplace();
    task = orca::detail::current_task();
    orca::detail::prepare_park(task, self, "broker call");
    thread_.submit(this, access_);  // publishes: touch nothing after this
  }
  Result<T> await_resume() noexcept {
    waker_.reset();
    return std::move(*result_);
  }

  void execute(Db& db) noexcept override {
    try {
      result_.emplace(fn_(db));
    } catch (const SqliteError& e) {
      const errc code =
          (e.code() & 0xFF) == SQLITE_CONSTRAINT ? errc::invalid_state : errc::broker_failure;
      result_.emplace(Error(make_error_code(code), e.what()));
    } catch (const std::exception& e) {
      result_.emplace(Error(make_error_code(errc::broker_failure), e.what()));
    }
  }
  bool ok() const noexcept override { return result_ && result_->has_value(); }
  void fail(Error e) noexcept override { result_.emplace(std::move(e)); }

 private:
  StoreThread& thread_;
  Access access_;
  Context ctx_;
  F fn_;
  std::optional<Result<T>> result_;
  std::optional<ExternalWaker> waker_;
};

// A call that may change the store: on the writer, in a savepoint of a group commit.
template <class T, class F>
StoreCall<T, F> store_call(StoreThread& thread, const Context& ctx, F fn) {
  return StoreCall<T, F>(thread, Access::kWrite, ctx, std::move(fn));
}

// A call that only reads: on the reader (its connection is query_only).
template <class T, class F>
StoreCall<T, F> store_read(StoreThread& thread, const Context& ctx, F fn) {
  return StoreCall<T, F>(thread, Access::kRead, ctx, std::move(fn));
}

}  // namespace orca::jobs::detail
