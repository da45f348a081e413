// The flash sale's orders (docs/FLASHSALE.md): the order store, the payment service
// stub, and the handler of the `order` jobs the gateway enqueues.
//
//   OrderStore   a SQLite file of its own (the orders' database): one row per
//                (item, user), placed then paid, written idempotently, so an order job
//                that runs twice (at-least-once delivery) leaves one order, paid once.
//   PaymentStub  an orca HTTP service that charges an order once per Idempotency-Key,
//                and fails a given fraction of calls (503) or answers slowly when
//                told to (POST /control): the dependency that breaks.
//   order_handler  the `order` job: place the order, charge it through an HTTP client
//                with a circuit breaker and up to 3 attempts (the payment call
//                carries the order as its Idempotency-Key, so a retry never charges
//                twice), mark it paid; then ask for recommendations, a non-core call
//                behind its own breaker that is skipped (and counted) when it fails.
//                A payment that fails after its attempts fails the job: it is retried
//                with the job's backoff, and a node with breaker_enabled stops taking
//                `order` jobs while payments keep failing, so orders wait in the
//                queue instead of running out their attempts. A placed order also
//                sends an `inventory` event through the queue: the catalogue's
//                inventory follows the orders asynchronously (eventual consistency).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orca/jobs/broker.hpp"
#include "orca/jobs/node.hpp"
#include "orca/net/http/client.hpp"
#include "orca/net/http/router.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

struct sqlite3;

namespace flashsale {

struct Order {
  std::string item;
  std::string user;
  bool paid = false;
  std::string payment;  // the payment service's id, once paid
};

// An item of the catalogue, and its inventory: the units put on sale and the sales
// applied from order events so far (eventually the orders placed).
struct ItemInfo {
  std::string item;
  std::string description;
  std::int64_t price_cents = 0;
  std::int64_t units = 0;
  std::int64_t sold = 0;  // put_item leaves it as it is
};

struct OrderFigures {
  std::int64_t placed = 0;  // orders, paid or not
  std::int64_t paid = 0;
};

class OrderStore {
 public:
  // Opens (creating if needed) the store at `path`.
  static orca::Result<std::unique_ptr<OrderStore>> open(const std::string& path);
  ~OrderStore();
  OrderStore(const OrderStore&) = delete;
  OrderStore& operator=(const OrderStore&) = delete;

  // The order of (item, user), placed if it was not: true if this call placed it.
  orca::Task<orca::Result<bool>> place(orca::Context ctx, std::string item, std::string user);
  // Marks it paid by `payment`; an order already paid keeps its first payment.
  orca::Task<orca::Result<void>> mark_paid(orca::Context ctx, std::string item, std::string user,
                                           std::string payment);
  orca::Task<orca::Result<OrderFigures>> figures(orca::Context ctx, std::string item);
  orca::Task<orca::Result<std::vector<Order>>> orders(orca::Context ctx, std::string item);

  // Adds an item to the catalogue, or updates its description, price and units.
  orca::Task<orca::Result<void>> put_item(orca::Context ctx, ItemInfo item);
  // The item; nothing when the catalogue has no such item.
  orca::Task<orca::Result<std::optional<ItemInfo>>> item(orca::Context ctx, std::string item);
  // Applies the sale of (item, user) to the item's inventory, once: true if this call
  // applied it (an event delivered twice changes nothing the second time). An item
  // not in the catalogue gets a row with no units, so no sale is ever dropped.
  orca::Task<orca::Result<bool>> apply_sale(orca::Context ctx, std::string item, std::string user);
  // The users of item's orders whose sale is not applied to the inventory yet.
  orca::Task<orca::Result<std::vector<std::string>>> unapplied_sales(orca::Context ctx,
                                                                     std::string item);

 private:
  explicit OrderStore(sqlite3* db) : db_(db) {}
  std::mutex mu_;  // one statement at a time on db_ (calls run on the blocking pool)
  sqlite3* db_;
};

// ---------------------------------------------------------------- payment stub

struct PaymentStub {
  // Set at any time (POST /control {"fail": 0.3, "delay_ms": 200} does the same).
  std::atomic<double> fail_fraction{0};
  std::atomic<std::int64_t> delay_ms{0};

  // What it did (relaxed counts), and the charges it made, one per key.
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> failed{0};
  std::mutex mu;
  std::map<std::string, std::string> charges;  // Idempotency-Key -> payment id

  std::size_t charge_count() {
    std::lock_guard lock(mu);
    return charges.size();
  }
};

// POST /pay (header Idempotency-Key, required): 200 {"payment": ID}, the same ID for
// the same key; 503 for the fraction told to fail, decided per call. POST /control
// {"fail": F, "delay_ms": D}: 204.
orca::http::Router payment_stub_routes(std::shared_ptr<PaymentStub> stub);

// ---------------------------------------------------------------- order handler

// What a purchase and its order job name: {"user": U, "item": I}, each 1 to 64 of
// [A-Za-z0-9_.:-] (other members are ignored); nothing for anything else.
struct OrderKey {
  std::string user;
  std::string item;
};
std::optional<OrderKey> parse_order_key(std::string_view json);
// A user or item name: 1 to 64 of [A-Za-z0-9_.:-].
bool valid_name(std::string_view name);

// The order job of (item, user): type "order", unique key "order:ITEM:USER" (a second
// enqueue while one is alive adds nothing), payload {"user": U, "item": I}.
orca::jobs::JobSpec order_job(const std::string& item, const std::string& user,
                              const std::string& queue = "orders");

// The inventory event of (item, user): type "inventory", unique key
// "inventory:ITEM:USER", payload {"user": U, "item": I}. Its handler
// (inventory_handler) applies the sale to the order store's inventory.
orca::jobs::JobSpec inventory_job(const std::string& item, const std::string& user,
                                  const std::string& queue = "inventory");

// The `inventory` job's handler; `store` must outlive it. A malformed payload fails
// the job at once (jobs::errc::permanent).
orca::jobs::Handler inventory_handler(OrderStore& store);

struct OrderHandlerCounters {
  std::atomic<std::uint64_t> paid{0};
  std::atomic<std::uint64_t> payment_failures{0};  // jobs failed for their payment
  std::atomic<std::uint64_t> recommendations_skipped{0};
};

struct OrderHandlerOptions {
  std::string payment_url;          // the service's POST /pay, e.g. http://127.0.0.1:8081/pay
  std::string recommendations_url;  // empty: none asked
  // Up to 3 attempts a payment (retrying 503s and connection errors), a breaker per
  // host: the defaults of make_order_clients.
  std::shared_ptr<OrderHandlerCounters> counters;  // null: a private set
  // Where each placed order's inventory event (inventory_job) goes, on its queue;
  // null: none. It must outlive the handler. An order whose event cannot be enqueued
  // fails its attempt and is retried (placing it again changes nothing).
  orca::jobs::Broker* events = nullptr;
  std::string events_queue = "inventory";
};

// The two clients an order handler calls through: payments (breaker + 3 attempts)
// and recommendations (breaker, no retry: it is skipped instead).
struct OrderClients {
  std::shared_ptr<orca::http::Client> payments;
  std::shared_ptr<orca::http::Client> recommendations;
};
OrderClients make_order_clients();

// The `order` job's handler (payload {"user": U, "item": I}); `store` must outlive
// it. A malformed payload fails the job at once (jobs::errc::permanent).
orca::jobs::Handler order_handler(OrderStore& store, OrderClients clients,
                                  OrderHandlerOptions options);

}  // namespace flashsale
