// The flash sale's orders (orders.hpp).
#include "orders.hpp"

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>
#include <system_error>
#include <utility>

#include "orca/jobs/errors.hpp"
#include "orca/runtime/blocking.hpp"
#include "orca/runtime/sleep.hpp"

namespace flashsale {

namespace {

orca::Error store_error(sqlite3* db, const char* what) {
  return orca::Error(std::make_error_code(std::errc::io_error),
                     std::string("order store: ") + what + ": " + sqlite3_errmsg(db));
}

// A prepared statement, finalized on scope exit.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr); }
  ~Statement() { sqlite3_finalize(stmt); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  void bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  std::string text(int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
    return p == nullptr ? std::string() : std::string(p);
  }
};

constexpr std::size_t kMaxNameBytes = 64;

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS orders ("
    "  item TEXT NOT NULL, user TEXT NOT NULL, payment TEXT,"
    "  placed_ms INTEGER NOT NULL, paid_ms INTEGER,"
    "  PRIMARY KEY (item, user));"
    "CREATE TABLE IF NOT EXISTS items ("
    "  item TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '',"
    "  price_cents INTEGER NOT NULL DEFAULT 0, units INTEGER NOT NULL DEFAULT 0,"
    "  sold INTEGER NOT NULL DEFAULT 0);"
    // The inventory events applied: a second delivery of one finds its row.
    "CREATE TABLE IF NOT EXISTS sales ("
    "  item TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (item, user));";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---------------------------------------------------------------- OrderStore

orca::Result<std::unique_ptr<OrderStore>> OrderStore::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    orca::Error e = store_error(db, ("open " + path).c_str());
    sqlite3_close(db);
    return e;
  }
  sqlite3_busy_timeout(db, 5000);
  char* message = nullptr;
  if (sqlite3_exec(db, "PRAGMA journal_mode=WAL;", nullptr, nullptr, &message) != SQLITE_OK ||
      sqlite3_exec(db, kSchema, nullptr, nullptr, &message) != SQLITE_OK) {
    orca::Error e(std::make_error_code(std::errc::io_error),
                  "order store: schema of " + path + ": " + (message ? message : "?"));
    sqlite3_free(message);
    sqlite3_close(db);
    return e;
  }
  return std::unique_ptr<OrderStore>(new OrderStore(db));
}

OrderStore::~OrderStore() {
  sqlite3_close(db_);
}

orca::Task<orca::Result<bool>> OrderStore::place(orca::Context, std::string item,
                                                 std::string user) {
  co_return co_await orca::blocking([&]() -> orca::Result<bool> {
    std::lock_guard lock(mu_);
    Statement s(db_, "INSERT OR IGNORE INTO orders (item, user, placed_ms) VALUES (?, ?, ?)");
    s.bind(1, item);
    s.bind(2, user);
    sqlite3_bind_int64(s.stmt, 3, now_ms());
    if (sqlite3_step(s.stmt) != SQLITE_DONE) return store_error(db_, "place");
    return sqlite3_changes(db_) == 1;
  });
}

orca::Task<orca::Result<void>> OrderStore::mark_paid(orca::Context, std::string item,
                                                     std::string user, std::string payment) {
  co_return co_await orca::blocking([&]() -> orca::Result<void> {
    std::lock_guard lock(mu_);
    Statement s(db_,
                "UPDATE orders SET payment = ?, paid_ms = ? "
                "WHERE item = ? AND user = ? AND payment IS NULL");
    s.bind(1, payment);
    sqlite3_bind_int64(s.stmt, 2, now_ms());
    s.bind(3, item);
    s.bind(4, user);
    if (sqlite3_step(s.stmt) != SQLITE_DONE) return store_error(db_, "mark paid");
    return {};
  });
}

orca::Task<orca::Result<OrderFigures>> OrderStore::figures(orca::Context, std::string item) {
  co_return co_await orca::blocking([&]() -> orca::Result<OrderFigures> {
    std::lock_guard lock(mu_);
    Statement s(db_, "SELECT COUNT(*), COUNT(payment) FROM orders WHERE item = ?");
    s.bind(1, item);
    if (sqlite3_step(s.stmt) != SQLITE_ROW) return store_error(db_, "figures");
    return OrderFigures{sqlite3_column_int64(s.stmt, 0), sqlite3_column_int64(s.stmt, 1)};
  });
}

orca::Task<orca::Result<std::vector<Order>>> OrderStore::orders(orca::Context, std::string item) {
  co_return co_await orca::blocking([&]() -> orca::Result<std::vector<Order>> {
    std::lock_guard lock(mu_);
    Statement s(db_, "SELECT item, user, payment FROM orders WHERE item = ? ORDER BY user");
    s.bind(1, item);
    std::vector<Order> out;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
      Order o{s.text(0), s.text(1), sqlite3_column_type(s.stmt, 2) != SQLITE_NULL, s.text(2)};
      out.push_back(std::move(o));
    }
    if (rc != SQLITE_DONE) return store_error(db_, "orders");
    return out;
  });
}

orca::Task<orca::Result<void>> OrderStore::put_item(orca::Context, ItemInfo item) {
  co_return co_await orca::blocking([&]() -> orca::Result<void> {
    std::lock_guard lock(mu_);
    Statement s(db_,
                "INSERT INTO items (item, description, price_cents, units) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (item) DO UPDATE SET description = excluded.description, "
                "price_cents = excluded.price_cents, units = excluded.units");
    s.bind(1, item.item);
    s.bind(2, item.description);
    sqlite3_bind_int64(s.stmt, 3, item.price_cents);
    sqlite3_bind_int64(s.stmt, 4, item.units);
    if (sqlite3_step(s.stmt) != SQLITE_DONE) return store_error(db_, "put item");
    return {};
  });
}

orca::Task<orca::Result<std::optional<ItemInfo>>> OrderStore::item(orca::Context,
                                                                   std::string item) {
  co_return co_await orca::blocking([&]() -> orca::Result<std::optional<ItemInfo>> {
    std::lock_guard lock(mu_);
    Statement s(db_, "SELECT description, price_cents, units, sold FROM items WHERE item = ?");
    s.bind(1, item);
    const int rc = sqlite3_step(s.stmt);
    if (rc == SQLITE_DONE) return std::optional<ItemInfo>();
    if (rc != SQLITE_ROW) return store_error(db_, "item");
    return std::optional<ItemInfo>(ItemInfo{item, s.text(0), sqlite3_column_int64(s.stmt, 1),
                                            sqlite3_column_int64(s.stmt, 2),
                                            sqlite3_column_int64(s.stmt, 3)});
  });
}

orca::Task<orca::Result<bool>> OrderStore::apply_sale(orca::Context, std::string item,
                                                      std::string user) {
  co_return co_await orca::blocking([&]() -> orca::Result<bool> {
    std::lock_guard lock(mu_);
    // One transaction: the event's row and the count move together or not at all.
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
      return store_error(db_, "apply sale: begin");
    auto rollback = [this](const char* what) {
      orca::Error e = store_error(db_, what);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return e;
    };
    Statement event(db_, "INSERT OR IGNORE INTO sales (item, user) VALUES (?, ?)");
    event.bind(1, item);
    event.bind(2, user);
    if (sqlite3_step(event.stmt) != SQLITE_DONE) return rollback("apply sale");
    const bool applied = sqlite3_changes(db_) == 1;
    if (applied) {
      Statement count(db_,
                      "INSERT INTO items (item, sold) VALUES (?, 1) "
                      "ON CONFLICT (item) DO UPDATE SET sold = sold + 1");
      count.bind(1, item);
      if (sqlite3_step(count.stmt) != SQLITE_DONE) return rollback("apply sale: count");
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
      return rollback("apply sale: commit");
    return applied;
  });
}

orca::Task<orca::Result<std::vector<std::string>>> OrderStore::unapplied_sales(orca::Context,
                                                                               std::string item) {
  co_return co_await orca::blocking([&]() -> orca::Result<std::vector<std::string>> {
    std::lock_guard lock(mu_);
    Statement s(db_,
                "SELECT o.user FROM orders o LEFT JOIN sales s ON s.item = o.item AND "
                "s.user = o.user WHERE o.item = ? AND s.user IS NULL ORDER BY o.user");
    s.bind(1, item);
    std::vector<std::string> out;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW)
      out.push_back(s.text(0));
    if (rc != SQLITE_DONE) return store_error(db_, "unapplied sales");
    return out;
  });
}

// ---------------------------------------------------------------- payment stub

orca::http::Router payment_stub_routes(std::shared_ptr<PaymentStub> stub) {
  orca::http::Router routes;
  routes.post(
      "/pay",
      [stub](orca::Context ctx, orca::http::Request req) -> orca::Task<orca::http::Response> {
        stub->calls.fetch_add(1, std::memory_order_relaxed);
        const auto key = req.headers.get("Idempotency-Key");
        if (!key || key->empty())
          co_return orca::http::Response::error(400, "an Idempotency-Key header is required");
        if (const auto delay = stub->delay_ms.load(std::memory_order_relaxed); delay > 0)
          (void)co_await orca::sleep_for(ctx, std::chrono::milliseconds(delay));
        thread_local std::minstd_rand random{std::random_device{}()};
        const double fail = stub->fail_fraction.load(std::memory_order_relaxed);
        if (fail > 0 && std::uniform_real_distribution<double>(0, 1)(random) < fail) {
          stub->failed.fetch_add(1, std::memory_order_relaxed);
          co_return orca::http::Response::error(503, "payment service failing (as told)");
        }
        std::string id;
        {
          std::lock_guard lock(stub->mu);
          auto [it, added] = stub->charges.try_emplace(std::string(*key), "");
          if (added) it->second = "p-" + std::to_string(stub->charges.size());
          id = it->second;
        }
        nlohmann::json body = {{"payment", id}};
        co_return orca::http::Response::json(200, body.dump());
      });
  routes.post("/control",
              [stub](orca::Context, orca::http::Request req) -> orca::Task<orca::http::Response> {
                const nlohmann::json j = nlohmann::json::parse(req.body, nullptr, false);
                if (!j.is_object())
                  co_return orca::http::Response::error(400,
                                                        R"(expected {"fail": F, "delay_ms": D})");
                if (const auto f = j.find("fail"); f != j.end() && f->is_number())
                  stub->fail_fraction.store(f->get<double>(), std::memory_order_relaxed);
                if (const auto d = j.find("delay_ms"); d != j.end() && d->is_number_integer())
                  stub->delay_ms.store(d->get<std::int64_t>(), std::memory_order_relaxed);
                co_return orca::http::Response::text(204, "");
              });
  return routes;
}

// ---------------------------------------------------------------- order handler

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
  });
}

std::optional<OrderKey> parse_order_key(std::string_view body) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  const auto user = j.find("user");
  const auto item = j.find("item");
  if (user == j.end() || item == j.end() || !user->is_string() || !item->is_string())
    return std::nullopt;
  OrderKey p{user->get<std::string>(), item->get<std::string>()};
  if (!valid_name(p.user) || !valid_name(p.item)) return std::nullopt;
  return p;
}

namespace {

// A job about one purchase: payload {"user": U, "item": I}, unique key TYPE:ITEM:USER.
orca::jobs::JobSpec purchase_job(const char* type, const std::string& item, const std::string& user,
                                 const std::string& queue) {
  orca::jobs::JobSpec spec;
  spec.type = type;
  spec.queue = queue;
  spec.unique_key = std::string(type) + ":" + item + ":" + user;
  spec.payload = nlohmann::json{{"user", user}, {"item", item}}.dump();
  return spec;
}

}  // namespace

orca::jobs::JobSpec order_job(const std::string& item, const std::string& user,
                              const std::string& queue) {
  return purchase_job("order", item, user, queue);
}

orca::jobs::JobSpec inventory_job(const std::string& item, const std::string& user,
                                  const std::string& queue) {
  return purchase_job("inventory", item, user, queue);
}

namespace {

// A coroutine of its own, not a capturing coroutine lambda: the handler object may be
// copied or destroyed while a job runs, its arguments stay in the frame.
orca::Task<orca::Result<void>> apply_inventory_event(OrderStore* store, orca::Context ctx,
                                                     orca::jobs::Job job) {
  std::optional<OrderKey> key = parse_order_key(job.spec.payload);
  if (!key)
    co_return orca::Error(make_error_code(orca::jobs::errc::permanent),
                          "inventory payload: expected {\"user\": U, \"item\": I}");
  auto applied = co_await store->apply_sale(ctx, key->item, key->user);
  if (!applied) co_return applied.error();
  co_return orca::Result<void>{};
}

}  // namespace

orca::jobs::Handler inventory_handler(OrderStore& store) {
  return [store = &store](orca::Context ctx, orca::jobs::Job job) {
    return apply_inventory_event(store, std::move(ctx), std::move(job));
  };
}

OrderClients make_order_clients() {
  orca::http::ClientOptions payments;
  orca::resilience::KeyedBreakersOptions breakers;
  // Payments: opens when half of the last 20 calls (10 at least) failed, for 2 s.
  breakers.breaker.failure_rate_threshold = 50;
  breakers.breaker.window_size = 20;
  breakers.breaker.minimum_calls = 10;
  breakers.breaker.open_duration = std::chrono::seconds(2);
  payments.breakers = breakers;
  orca::resilience::RetryOptions retry;
  retry.max_attempts = 3;
  retry.initial_backoff = std::chrono::milliseconds(20);
  retry.max_backoff = std::chrono::milliseconds(200);
  payments.retry = retry;
  orca::http::ClientOptions recommendations;
  recommendations.breakers = breakers;
  return OrderClients{std::make_shared<orca::http::Client>(std::move(payments)),
                      std::make_shared<orca::http::Client>(std::move(recommendations))};
}

namespace {

struct OrderJob {
  OrderStore& store;
  OrderClients clients;
  OrderHandlerOptions options;

  static orca::Task<orca::Result<void>> run(std::shared_ptr<OrderJob> o, orca::Context ctx,
                                            orca::jobs::Job job) {
    OrderHandlerCounters& counters = *o->options.counters;
    std::optional<OrderKey> key = parse_order_key(job.spec.payload);
    if (!key)
      co_return orca::Error(make_error_code(orca::jobs::errc::permanent),
                            "order payload: expected {\"user\": U, \"item\": I}");
    const std::string user = std::move(key->user);
    const std::string item = std::move(key->item);

    auto placed = co_await o->store.place(ctx, item, user);
    if (!placed) co_return placed.error();
    // Sent on every attempt, not only when this one placed the order: an attempt that
    // placed it and then failed to send must not leave the inventory behind for good.
    if (o->options.events != nullptr) {
      orca::jobs::JobSpec event = inventory_job(item, user, o->options.events_queue);
      auto sent = co_await o->options.events->enqueue_one(ctx, std::move(event));
      if (!sent) co_return sent.error();
    }

    // The order's key: a retry, a second attempt or a second job charge it once.
    orca::http::Request pay;
    pay.method = "POST";
    pay.target = o->options.payment_url;
    pay.headers.set("Idempotency-Key", "order:" + item + ":" + user);
    pay.headers.set("Content-Type", "application/json");
    pay.body = nlohmann::json{{"item", item}, {"user", user}}.dump();
    auto paid = co_await o->clients.payments->request(ctx, std::move(pay));
    if (!paid || paid->status != 200) {
      counters.payment_failures.fetch_add(1, std::memory_order_relaxed);
      if (!paid) co_return paid.error();
      co_return orca::Error(std::make_error_code(std::errc::connection_refused),
                            "payment answered " + std::to_string(paid->status));
    }
    const nlohmann::json receipt = nlohmann::json::parse(paid->body, nullptr, false);
    const std::string payment =
        receipt.is_object() ? receipt.value("payment", std::string()) : std::string();
    if (payment.empty())
      co_return orca::Error(std::make_error_code(std::errc::protocol_error),
                            "payment answered without a payment id");
    auto marked = co_await o->store.mark_paid(ctx, item, user, payment);
    if (!marked) co_return marked.error();
    counters.paid.fetch_add(1, std::memory_order_relaxed);

    // Non-core: recommendations for the buyer. Its failure or open breaker never fails
    // the order: it is skipped and counted (degradation).
    if (!o->options.recommendations_url.empty()) {
      auto [rctx, cancel] = orca::with_timeout(ctx, std::chrono::milliseconds(200));
      auto recs = co_await o->clients.recommendations->get(
          rctx, o->options.recommendations_url + "?user=" + user);
      cancel();
      if (!recs || recs->status != 200)
        counters.recommendations_skipped.fetch_add(1, std::memory_order_relaxed);
    }
    co_return orca::Result<void>{};
  }
};

}  // namespace

orca::jobs::Handler order_handler(OrderStore& store, OrderClients clients,
                                  OrderHandlerOptions options) {
  if (options.counters == nullptr) options.counters = std::make_shared<OrderHandlerCounters>();
  auto job = std::make_shared<OrderJob>(OrderJob{store, std::move(clients), std::move(options)});
  return [job](orca::Context ctx, orca::jobs::Job j) {
    return OrderJob::run(job, std::move(ctx), std::move(j));
  };
}

}  // namespace flashsale
