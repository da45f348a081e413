// Broker fixtures: the contract tests (BrokerContract) and the end-to-end tests
// (CenterNode) run once per kind of broker, each test on a fresh, empty store of
// its own. The kinds are instantiated elsewhere: sqlite_instances_test.cpp always,
// redis_instances_test.cpp when the Redis broker is built.
//
// Lifetime: a test's brokers are opened inside the test's orca::run, before the body,
// and destroyed inside it, after the body, so a broker that holds connections on the
// runtime (Redis) never outlives the runtime that made them.
#pragma once

#include <sqlite3.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "jobs_test_support.hpp"

namespace orca::jobs::testing {

// One test's store: a SQLite file in a temporary directory, or a key prefix on a
// Redis server.
class BrokerStore {
 public:
  virtual ~BrokerStore() = default;
  // Opens a broker on this store. Every broker opened on one store sees the same
  // jobs, as processes sharing a store do.
  virtual Task<Result<std::unique_ptr<Broker>>> open(Context ctx, JobLimits limits) = 0;
  // Overwrites job `id`'s stored spec (of queue `queue`) with one that does not
  // parse, as another program writing to the store could. True if it did.
  virtual Task<bool> corrupt_spec(Context ctx, JobId id, std::string queue) = 0;
};

struct BrokerKind {
  std::string name;  // the suffix of the test names: "sqlite", "redis"
  // Called first in SetUp: skips or fails the test (GTEST_SKIP, GTEST_FAIL) when the
  // machine lacks the service this kind needs (ORCA_REQUIRE_REDIS); empty if it needs
  // none.
  std::function<void()> require_service;
  // A fresh, empty store for one test. Called on the test's thread, outside orca::run.
  std::function<std::unique_ptr<BrokerStore>()> make_store;
};

// gtest prints the parameter of a failing test: the kind's name, not its bytes.
inline void PrintTo(const BrokerKind& kind, std::ostream* os) {
  *os << kind.name;
}

// Names instances after their kind: Brokers/BrokerContract.Test/sqlite.
struct BrokerKindName {
  std::string operator()(const ::testing::TestParamInfo<BrokerKind>& info) const {
    return info.param.name;
  }
};

class SqliteStore final : public BrokerStore {
 public:
  Task<Result<std::unique_ptr<Broker>>> open(Context ctx, JobLimits limits) override {
    (void)ctx;
    SqliteOptions options;
    options.path = dir_.db();
    options.limits = limits;
    auto opened = SqliteBroker::open(std::move(options));
    if (!opened) co_return opened.error();
    co_return std::unique_ptr<Broker>(std::move(*opened));
  }

  // The headers column, the one part of a row's spec that is JSON.
  Task<bool> corrupt_spec(Context, JobId id, std::string) override {
    sqlite3* db = nullptr;
    bool ok = sqlite3_open(dir_.db().c_str(), &db) == SQLITE_OK;
    sqlite3_busy_timeout(db, 5000);
    const std::string sql = "UPDATE jobs SET headers = '{' WHERE id = " + std::to_string(id);
    ok = ok && sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK &&
         sqlite3_changes(db) == 1;
    sqlite3_close(db);
    co_return ok;
  }

 private:
  TempDir dir_;
};

inline BrokerKind sqlite_kind() {
  return BrokerKind{"sqlite", nullptr,
                    [] { return std::unique_ptr<BrokerStore>(std::make_unique<SqliteStore>()); }};
}

class BrokerFixture : public ::testing::TestWithParam<BrokerKind> {
 public:
  void SetUp() override {
    if (GetParam().require_service) GetParam().require_service();
    if (IsSkipped() || HasFatalFailure()) return;
    store_ = GetParam().make_store();
    ASSERT_NE(store_, nullptr) << "the " << GetParam().name << " kind made no store";
  }

  // Runs `body(Broker&)` (a coroutine lambda returning Task<void>) on a runtime, with
  // a broker open on this test's store.
  template <class Body>
  void run_on_broker(Body body) {
    run_on_broker(JobLimits{}, std::move(body));
  }

  // As above, with a broker that enforces `limits`.
  template <class Body>
  void run_on_broker(JobLimits limits, Body body) {
    orca::run([&]() -> Task<void> {
      std::unique_ptr<Broker> broker = co_await open_or_fail(limits);
      if (broker == nullptr) co_return;
      co_await body(*broker);
      broker.reset();
    });
  }

  // As run_on_broker, with two brokers open on the same store: `body(Broker&, Broker&)`.
  template <class Body>
  void run_on_two_brokers(Body body) {
    orca::run([&]() -> Task<void> {
      std::unique_ptr<Broker> a = co_await open_or_fail(JobLimits{});
      std::unique_ptr<Broker> b = co_await open_or_fail(JobLimits{});
      if (a == nullptr || b == nullptr) co_return;
      co_await body(*a, *b);
      b.reset();
      a.reset();
    });
  }

 protected:
  BrokerStore& store() { return *store_; }

 private:
  // A broker on the store, or nothing with the failure recorded.
  Task<std::unique_ptr<Broker>> open_or_fail(JobLimits limits) {
    auto opened = co_await store_->open(hang_guard(), limits);
    if (!opened) {
      ADD_FAILURE() << "opening a " << GetParam().name << " broker: got error "
                    << opened.error().message() << ", want a broker";
      co_return nullptr;
    }
    co_return std::move(*opened);
  }

  std::unique_ptr<BrokerStore> store_;
};

// The Broker contract (broker.hpp), on every kind: broker_test.cpp.
class BrokerContract : public BrokerFixture {};

// Center and nodes end to end, on every kind: center_node_test.cpp.
class CenterNode : public BrokerFixture {};

}  // namespace orca::jobs::testing
