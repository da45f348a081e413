// The flash sale's gateway (gateway.hpp).
#include "gateway.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <utility>

#include "orca/net/http/load_shedding.hpp"
#include "orca/net/http/rate_limit.hpp"
#include "orca/net/http/retry_after.hpp"

namespace flashsale {

namespace {

orca::http::Response answer(int status, nlohmann::json body) {
  return orca::http::Response::json(status, body.dump());
}

orca::http::Response retry_later(int status, std::chrono::nanoseconds after,
                                 std::string status_text) {
  orca::http::Response r = answer(status, nlohmann::json{{"status", std::move(status_text)}});
  r.headers.set("Retry-After", orca::http::retry_after_seconds(after));
  return r;
}

struct Gateway {
  Stock& stock;
  orca::jobs::Broker& orders;
  GatewayOptions options;

  orca::Task<bool> enqueue_order(orca::Context ctx, OrderKey p) {
    orca::jobs::JobSpec spec = order_job(p.item, p.user, options.orders_queue);
    auto enqueued = co_await orders.enqueue_one(std::move(ctx), std::move(spec));
    co_return static_cast<bool>(enqueued);
  }

  // Static, with the gateway held by the request: a request outlives nothing.
  static orca::Task<orca::http::Response> buy(std::shared_ptr<Gateway> g, orca::Context ctx,
                                              orca::http::Request req) {
    GatewayCounters& counters = *g->options.counters;
    std::optional<OrderKey> p = parse_order_key(req.body);
    if (!p) {
      counters.bad_requests.fetch_add(1, std::memory_order_relaxed);
      co_return orca::http::Response::error(
          400,
          "the body must be {\"user\": NAME, \"item\": NAME}, each 1 to 64 of [A-Za-z0-9_.:-]");
    }
    if (g->options.per_user != nullptr) {
      auto decided = co_await g->options.per_user->decide(ctx, p->user);
      if (decided && !decided->allowed) {
        counters.rate_limited.fetch_add(1, std::memory_order_relaxed);
        co_return retry_later(429, decided->retry_after, "rate_limited");
      }
    }
    orca::Result<Reservation> r = co_await g->stock.reserve(ctx, p->item, p->user);
    if (!r || r->outcome == Purchase::kBusy) {
      counters.unavailable.fetch_add(1, std::memory_order_relaxed);
      co_return retry_later(503, g->options.busy_retry_after, "busy");
    }
    if (r->outcome == Purchase::kSoldOut) {
      counters.sold_out.fetch_add(1, std::memory_order_relaxed);
      nlohmann::json body = {{"status", "sold_out"}, {"item", p->item}};
      co_return answer(409, std::move(body));
    }
    const bool repeat = r->outcome == Purchase::kAlreadyBought;
    (repeat ? counters.repeats : counters.reserved).fetch_add(1, std::memory_order_relaxed);
    const bool enqueued = co_await g->enqueue_order(ctx, *p);
    if (!enqueued) counters.orders_not_enqueued.fetch_add(1, std::memory_order_relaxed);
    nlohmann::json body = {{"status", "reserved"}, {"item", p->item}};
    if (repeat) {
      body["repeat"] = true;
      co_return answer(200, std::move(body));
    }
    body["left"] = r->left;
    co_return answer(201, std::move(body));
  }
};

}  // namespace

orca::http::Router gateway_routes(Stock& stock, orca::jobs::Broker& orders,
                                  GatewayOptions options) {
  if (options.counters == nullptr) options.counters = std::make_shared<GatewayCounters>();
  auto shedding = options.shedding;
  auto global = options.global;
  auto gateway = std::make_shared<Gateway>(Gateway{stock, orders, std::move(options)});
  orca::http::Router routes;
  routes.post("/buy", [gateway](orca::Context ctx, orca::http::Request req) {
    return Gateway::buy(gateway, std::move(ctx), std::move(req));
  });
  // Innermost the shedder (it learns the stock's latency), then the sale-wide limit,
  // which refuses before anything is read or waited for.
  if (shedding != nullptr) {
    orca::http::LoadSheddingOptions shed;
    shed.limiter = std::move(shedding);
    routes = orca::http::shed_load(std::move(routes), std::move(shed));
  }
  if (global != nullptr) {
    orca::http::RateLimitOptions limits;
    limits.global = std::move(global);
    routes = orca::http::rate_limit(std::move(routes), std::move(limits));
  }
  return routes;
}

}  // namespace flashsale
