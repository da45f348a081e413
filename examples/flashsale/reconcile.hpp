// The flash sale's reconciliation (docs/FLASHSALE.md): stock and buyers live in
// Redis, orders in the order store, and the two are joined only by the `order` jobs
// in between, so they agree eventually, not at every instant. A periodic `reconcile`
// job (every 10 s) compares them for an item and repairs what it can:
//
//   - a buyer in Redis with no order in the store: its order job is enqueued again.
//     If one is alive, the unique key makes that a no-op (the order is in flight);
//     if none is (its enqueue failed after the reservation, or it went dead), the new
//     job is the repair, counted;
//   - an order in the store whose user is not among Redis's buyers (a reservation
//     released, or Redis lost a write): reported, never repaired by guessing;
//   - drift: buyers minus orders placed, minus order jobs still on their way. 0 when
//     every reservation has its order or is about to; above 0 for lost orders (before
//     the repair), below 0 for orders without a reservation;
//   - the inventory (the catalogue's sold count in the order store, fed by the
//     `inventory` events that order jobs send): an order whose sale is not applied
//     and whose event is not alive gets its event enqueued again (the same unique
//     key rule); inventory drift is those sales, before the repair.
//
// Each run logs one line (trace::log: info when both drifts are 0, warn otherwise)
// and, when given a registry, sets the gauges flashsale_reconcile_drift{item} and
// flashsale_reconcile_inventory_drift{item} and the counter
// flashsale_reconcile_repaired_total{item,what="order"|"inventory"}.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "orca/jobs/broker.hpp"
#include "orca/jobs/node.hpp"
#include "orca/metrics/registry.hpp"
#include "orca/redis/client.hpp"
#include "orders.hpp"

namespace flashsale {

struct ReconcileReport {
  std::int64_t buyers = 0;           // in Redis
  std::int64_t orders = 0;           // in the order store
  std::int64_t in_flight = 0;        // buyers without an order whose order job is alive
  std::int64_t repaired = 0;         // buyers without an order or a job: enqueued again
  std::vector<std::string> orphans;  // users with an order but no reservation
  std::int64_t drift = 0;            // buyers - orders - in_flight (repaired count in it)
  std::int64_t sales_in_flight = 0;  // orders not in the inventory whose event is alive
  std::int64_t sales_repaired = 0;   // orders not in the inventory nor on the way: sent again
  std::int64_t inventory_drift = 0;  // = sales_repaired
};

// Compares and repairs `item` once (see above). Errors: Redis's, the store's or the
// broker's (nothing half repaired: a repair is one enqueue per buyer).
orca::Task<orca::Result<ReconcileReport>> reconcile(orca::Context ctx, orca::redis::Client& redis,
                                                    OrderStore& store, orca::jobs::Broker& orders,
                                                    std::string item,
                                                    std::string orders_queue = "orders",
                                                    std::string inventory_queue = "inventory");

// The `reconcile` job's handler (payload {"item": I}); everything given must outlive
// it. `registry` may be null. Register it every 10 s with
//   center.add_periodic(ctx, "reconcile-item1", "@every 10s", spec)
// where spec.type is "reconcile" and spec.payload {"item": "item1"}.
orca::jobs::Handler reconcile_handler(orca::redis::Client& redis, OrderStore& store,
                                      orca::jobs::Broker& orders,
                                      orca::metrics::Registry* registry);

}  // namespace flashsale
