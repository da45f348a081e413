// ClusterClient: Redis Cluster, routing each command to the master that owns its
// key's hash slot.
//
//   auto cluster = co_await orca::redis::ClusterClient::connect(ctx, {seed1, seed2});
//   auto r = co_await cluster->command(ctx, "user:{42}:name", {"GET", "user:{42}:name"});
//
// Slots: CRC16 (XMODEM) of the key modulo 16384, where a key holding "{tag}" with a
// non-empty tag hashes only the tag, so keys sharing a tag live in one slot (and a
// multi-key command or script may use them together). The slot map comes from
// CLUSTER SLOTS, asked of the seeds (then of any known node) at connect and
// whenever a redirection says the map is stale. Seeds, the endpoints CLUSTER SLOTS
// lists and the targets of redirections may be IPs or host names (a cluster with
// cluster-announce-hostname and cluster-preferred-endpoint-type hostname): a node
// is known by "host:port" as the cluster names it, resolved when its pool connects.
//
// Routing: the caller names the routing key explicitly (the key the command is
// about; for EVALSHA, the first key: see Script). Each master has its own Client
// pool (so its connections heal themselves, see client.hpp). Redirections are
// followed, up to ClusterOptions::max_redirects:
//   - MOVED slot host:port: the slot has moved for good. The map entry is updated
//     at once, a full refresh runs in the background, the command is sent again to
//     the new owner.
//   - ASK slot host:port: the slot is being migrated and this key is already on
//     the target: ASKING and the command are sent back to back on one connection
//     to the target; the map is not changed.
//   - TRYAGAIN (a multi-key command during a migration): sent again after a short
//     pause.
// A redirection reply means the command was not executed, so following it is safe
// for every command; nothing else is retried (see client.hpp).
//
// Errors: as Client::command; errc::slot_not_covered when no known master owns the
// slot (the cluster is down or incomplete), errc::too_many_redirects.
// Cancel safety: as Client::command. Thread safety: every member may be called from
// any task at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/redis/client.hpp"
#include "orca/redis/reply.hpp"
#include "orca/redis/url.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::redis {

class FleetRateLimiter;
namespace detail {
class ClusterCore;
}  // namespace detail

inline constexpr std::uint16_t kClusterSlots = 16384;

// The hash slot of `key` (honouring {hash tags}), as the Redis Cluster spec.
std::uint16_t cluster_slot(std::string_view key) noexcept;
// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), which the slot uses.
std::uint16_t crc16_xmodem(std::string_view data) noexcept;

struct ClusterOptions {
  // The pool opened to each master (user and password come from the seed URLs).
  // (A lambda, not a designated initializer: GCC 12's -Wextra flags those.)
  ClientOptions node = [] {
    ClientOptions o;
    o.pool_size = 2;
    return o;
  }();
  // Redirections followed for one command before giving up.
  int max_redirects = 5;
};

class ClusterClient {
 public:
  ClusterClient() noexcept;
  ClusterClient(ClusterClient&&) noexcept;
  ClusterClient& operator=(ClusterClient&&) noexcept;
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;
  ~ClusterClient();

  // Loads the slot map from the first seed that answers CLUSTER SLOTS and opens a
  // pool to every master. Seeds must have db 0 (clusters have one database).
  static Task<Result<ClusterClient>> connect(Context ctx, std::vector<RedisUrl> seeds,
                                             ClusterOptions options = {});

  // Sends `args` to the master owning `key`'s slot, following redirections.
  Task<Result<Reply>> command(Context ctx, std::string key, std::vector<std::string> args);
  // Sends `args` to the master at `authority` ("127.0.0.1:7000"), without routing
  // or redirections: for per-node commands (DBSIZE, FLUSHALL, SCRIPT FLUSH, ...).
  Task<Result<Reply>> command_on(Context ctx, std::string authority, std::vector<std::string> args);

  // Reloads the slot map now.
  Task<Result<void>> refresh(Context ctx);
  // "host:port" of the master that owns `slot` in the current map, empty if none.
  std::string master_of(std::uint16_t slot) const;
  // Every master in the current map, sorted.
  std::vector<std::string> masters() const;

  // Closes every node's pool; calls fail with errc::closed.
  void close() noexcept;
  // close(), then waits for the background work to finish.
  Task<void> closed();

 private:
  friend class FleetRateLimiter;  // holds the pool itself (its batches may outlive the calls)
  explicit ClusterClient(std::shared_ptr<detail::ClusterCore> core) noexcept;
  std::shared_ptr<detail::ClusterCore> core_;
};

}  // namespace orca::redis
