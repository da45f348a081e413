// Connection: one TCP connection to a Redis server (TLS for rediss://), shared by
// any number of tasks. Commands are encoded by hiredis; every byte goes through
// orca::net::TcpStream (under a TlsStream for rediss://) on the runtime's
// netpoller, so no call ever blocks a scheduler worker.
//
//   auto conn = co_await orca::redis::Connection::connect(ctx, url);
//   if (!conn) return conn.error();           // refused, auth_failed, server_error...
//   orca::Result<Reply> r = co_await conn->command(ctx, {"SET", "k", "v"});
//
// Auto-pipelining. Callers do not take turns: each call queues its encoded command
// and waits for its reply. One writer task takes everything queued at that moment
// and sends it in one write; one reader task decodes replies and hands each to the
// oldest waiting call (Redis answers in order). So N tasks issuing commands at once
// cost about one write and one read per round trip instead of N. pipeline() puts
// its commands into the queue together: they go out back to back, on this one
// connection, and the replies come back as a vector in order.
//
// Connecting: TCP connect through orca::net::dial (a host name in the URL is
// resolved now and each of its addresses tried in turn; net::errc::no_such_host
// and the other resolver errors come back from connect), the TLS handshake for
// rediss:// (see RedisUrl), then AUTH (`AUTH user password`, or `AUTH password`
// when the URL has no user) if the URL has a password, then SELECT db if db != 0.
// RESP2 throughout (no HELLO).
//
// Errors: command() and pipeline() return transport failures and the context's
// error as Result errors; a -ERR reply is a Reply with is_error(). When the
// connection fails (EOF, I/O error, undecodable bytes), every call waiting for a
// reply fails with the reason (errc::connection_lost, or errc::protocol_error for
// bytes that are not RESP) and every later call with errc::connection_lost; the
// connection reports itself broken() and stays so: make a new one (Client does).
// After close(), calls fail with errc::closed.
//
// Cancel safety: a call whose context ends returns the context's error at once. Its
// command may still be sent (or may have run already); its reply is read and
// dropped, so the connection stays in step for everyone else. So a cancelled
// non-idempotent command (INCR, LPUSH) may or may not have taken effect, as with any
// request whose answer was not seen.
//
// Thread safety: every member may be called from any task at once; the object may
// be moved (not while a member call is being started). Destroying it closes the
// connection, as close() does; calls still waiting fail with errc::closed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/redis/error.hpp"
#include "orca/redis/reply.hpp"
#include "orca/redis/url.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::redis {

namespace detail {
class ConnectionCore;
}  // namespace detail

struct ConnectionOptions {
  // Commands queued but not yet written, past which callers wait for room (a bound
  // on memory when Redis is slower than the callers).
  std::size_t max_queued = 4096;
  // One write carries at most this much (more waits for the next write).
  std::size_t max_write_bytes = 256 * 1024;
};

class Connection {
 public:
  // Not connected: every call fails with errc::closed.
  Connection() noexcept;
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Connects to `url` and logs in (see Connecting). Errors: the socket's
  // (connection_refused...), the context's, errc::auth_failed (the message is
  // logged nowhere: AUTH's reply says only that the pair is wrong), server_error
  // (SELECT refused, e.g. db out of range), connection_lost / protocol_error.
  static Task<Result<Connection>> connect(Context ctx, RedisUrl url,
                                          ConnectionOptions options = {});

  // Sends one command (args[0] is its name) and returns its reply.
  Task<Result<Reply>> command(Context ctx, std::vector<std::string> args);
  // Sends the commands back to back and returns their replies in order.
  Task<Result<std::vector<Reply>>> pipeline(Context ctx,
                                            std::vector<std::vector<std::string>> commands);

  // True once the connection has failed or was closed; it never recovers.
  bool broken() const noexcept;
  // Why it is broken: connection_lost, protocol_error, closed...; empty while usable.
  std::error_code error() const noexcept;
  // A context that is cancelled when the connection breaks: co_await
  // conn.broken_context().done() waits for that moment (Client's reconnect does).
  Context broken_context() const;

  // Fails waiting calls with errc::closed, closes the socket. Idempotent; returns at
  // once (the I/O tasks leave in the background; await closed() to wait for them).
  void close() noexcept;
  // close(), then waits until the connection's I/O tasks have finished.
  Task<void> closed();

 private:
  explicit Connection(std::shared_ptr<detail::ConnectionCore> core) noexcept;
  std::shared_ptr<detail::ConnectionCore> core_;
};

}  // namespace orca::redis
