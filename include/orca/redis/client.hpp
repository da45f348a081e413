// Client: a small pool of Connections to one Redis server that heals itself.
//
//   auto client = co_await orca::redis::Client::connect(ctx, *url);
//   if (!client) return client.error();
//   orca::Result<Reply> r = co_await client->command(ctx, {"INCR", "hits"});
//
// Each call goes to one of the pool's connections, round robin; within a
// connection concurrent calls are auto-pipelined (see connection.hpp), so a few
// connections are enough to keep Redis busy. When a connection breaks, a
// background task reconnects it with exponential backoff (with jitter, capped at
// ClientOptions::max_backoff); meanwhile calls go to the live connections, and
// when none is live they fail at once with errc::connection_lost. So while Redis is
// down callers see errors (never a hang past their context), and once it is back
// the client works again with no action from the user.
//
// No call is ever retried automatically: a command that was sent on a connection
// which then broke may or may not have run, and only the caller knows whether it is
// safe to send again.
//
// Errors: as Connection::command; errc::connection_lost while no connection is up;
// errc::closed after close().
// Cancel safety: as Connection::command.
// Thread safety: every member may be called from any task at once. Destroying the
// client closes it (the background tasks leave on their own); await closed() to
// wait for them.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/redis/connection.hpp"
#include "orca/redis/reply.hpp"
#include "orca/redis/url.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::redis {

class FleetRateLimiter;
namespace detail {
class ClientCore;
}  // namespace detail

struct ClientOptions {
  // Connections in the pool. A few suffice: each one pipelines its callers.
  std::size_t pool_size = 3;
  // Bounds one connection attempt (TCP connect plus AUTH and SELECT).
  std::chrono::milliseconds connect_timeout{2000};
  // Reconnect delays: the first after a failure, doubled each failed attempt up
  // to the cap; each delay is drawn uniformly from [d/2, d] so that clients that
  // lost the same server do not return in lockstep.
  std::chrono::milliseconds min_backoff{20};
  std::chrono::milliseconds max_backoff{1000};
  ConnectionOptions connection;
};

class Client {
 public:
  // Not connected: every call fails with errc::closed.
  Client() noexcept;
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  // Opens the pool: every connection is made before this returns, so a wrong
  // address or password is reported here (the first connection's error), not later
  // as connection_lost.
  static Task<Result<Client>> connect(Context ctx, RedisUrl url, ClientOptions options = {});

  // As Connection::command / pipeline, on one of the pool's live connections.
  Task<Result<Reply>> command(Context ctx, std::vector<std::string> args);
  Task<Result<std::vector<Reply>>> pipeline(Context ctx,
                                            std::vector<std::vector<std::string>> commands);

  // Connections up right now (0 while the server is unreachable).
  std::size_t live_connections() const noexcept;
  const RedisUrl& url() const noexcept;

  // Stops reconnecting and closes every connection; calls fail with errc::closed.
  void close() noexcept;
  // close(), then waits for the background tasks and connections to finish.
  Task<void> closed();

 private:
  friend class FleetRateLimiter;  // holds the pool itself (its batches may outlive the calls)
  explicit Client(std::shared_ptr<detail::ClientCore> core) noexcept;
  std::shared_ptr<detail::ClientCore> core_;
};

}  // namespace orca::redis
