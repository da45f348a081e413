// The flash sale tests' stores in a fresh directory: the order store (orders.hpp)
// alone, or with the job queue (an embedded SQLite broker), each a file of its own.
#pragma once
#include <memory>
#include <string>

#include "jobs_test_support.hpp"
#include "orca/jobs/sqlite_broker.hpp"
#include "orders.hpp"

namespace orca::jobs::testing {

// An order store alone, in a fresh directory.
struct OrderStoreFile {
  TempDir dir;
  std::unique_ptr<flashsale::OrderStore> store;

  // Empty if it opened, else why not.
  std::string open() {
    auto opened = flashsale::OrderStore::open((dir.path() / "orders.db").string());
    if (!opened) return std::string(opened.error().detail());
    store = std::move(*opened);
    return "";
  }
};

struct SaleStores {
  TempDir dir;
  std::unique_ptr<SqliteBroker> jobs;
  std::unique_ptr<flashsale::OrderStore> orders;

  // Empty if both opened, else what failed.
  std::string open() {
    auto broker = SqliteBroker::open({.path = dir.db()});
    if (!broker) return std::string(broker.error().detail());
    jobs = std::move(*broker);
    auto store = flashsale::OrderStore::open((dir.path() / "orders.db").string());
    if (!store) return std::string(store.error().detail());
    orders = std::move(*store);
    return "";
  }
};

}  // namespace orca::jobs::testing
