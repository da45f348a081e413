// The flash sale's gateway: `POST /buy {"user": U, "item": I}` over a Stock, with a
// per-user rate limit (429), a sale-wide limit and load shedding (503) in front, and
// an `order` job enqueued for every reservation (docs/FLASHSALE.md).
//
//   flashsale::GatewayOptions options;
//   options.per_user = std::make_shared<orca::resilience::KeyedRateLimiter>(...);
//   orca::http::Server server(flashsale::gateway_routes(stock, broker, options));
//
// Answers (JSON, {"status": ..., ...}):
//   201 reserved         one unit is the user's; its order job is enqueued
//   200 reserved, repeat the user had bought it already: the same answer again, so a
//                        client that retried after a lost response learns it bought
//                        (its order job is enqueued again: the unique key and the
//                        order store's key make that harmless, and it heals an
//                        enqueue that failed the first time)
//   409 sold_out         none left
//   400                  not JSON, or user/item missing, empty, longer than 64 bytes
//                        or outside [A-Za-z0-9_.:-]
//   429 + Retry-After    this user asked too often (per_user), or the sale's
//                        requests passed its limit (global)
//   503 + Retry-After    the shedder, a busy item lock, or the stock's Redis
//                        failing: try again later; nothing was bought, unless the
//                        buyers set says so (then a retry answers 200)
//
// An order job: type "order", queue `orders_queue`, unique key "order:ITEM:USER",
// payload {"user": U, "item": I}. When the enqueue fails after a reservation the
// buyer still gets 201 (the unit is theirs) and the reservation is counted in
// GatewayCounters::orders_not_enqueued: the reconciliation job finds reservations
// without an order.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "orca/jobs/broker.hpp"
#include "orca/net/http/router.hpp"
#include "orca/resilience/adaptive_limiter.hpp"
#include "orca/resilience/keyed_rate_limiter.hpp"
#include "orca/resilience/rate_limiter.hpp"
#include "orders.hpp"
#include "stock.hpp"

namespace flashsale {

// relaxed: counts, read alone.
struct GatewayCounters {
  std::atomic<std::uint64_t> reserved{0};
  std::atomic<std::uint64_t> repeats{0};
  std::atomic<std::uint64_t> sold_out{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint64_t> rate_limited{0};  // 429s by per_user (global's: its own)
  std::atomic<std::uint64_t> unavailable{0};   // 503s of the item lock or Redis
  std::atomic<std::uint64_t> orders_not_enqueued{0};
};

struct GatewayOptions {
  // Each user's limit (the key is the body's user). Null: none.
  std::shared_ptr<orca::resilience::KeyedRateLimiter> per_user;
  // One limit for the whole sale, before the body is read (429). Null: none.
  std::shared_ptr<orca::resilience::RateLimiter> global;
  // Sheds requests past the concurrency the stock keeps up with (503). Null: none.
  std::shared_ptr<orca::resilience::AdaptiveLimiter> shedding;
  std::string orders_queue = "orders";
  std::chrono::seconds busy_retry_after{1};   // the 503's Retry-After
  std::shared_ptr<GatewayCounters> counters;  // null: a private set
};

// The gateway's routes; `stock` and `orders` must outlive them.
orca::http::Router gateway_routes(Stock& stock, orca::jobs::Broker& orders,
                                  GatewayOptions options = {});

}  // namespace flashsale
