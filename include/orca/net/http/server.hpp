// Server: an HTTP/1.1 server on orca's TCP, in the manner of Go's http.Server.
//
//   using namespace orca::http;
//   Router router;
//   router.get("/hello", [](orca::Context, Request) -> orca::Task<Response> {
//     co_return Response::text(200, "hello\n");
//   });
//   Server server(std::move(router));
//   auto started = server.start(orca::net::Address::loopback_v4(0));  // port 0: any free port
//   ... server.local_address().port() ...
//   auto [ctx, cancel] = orca::with_timeout(orca::background(), 5s);
//   orca::Result<void> r = co_await server.shutdown(ctx);  // graceful, then cut at 5 s
//
// Per connection (one TcpStream), two tasks:
//  - the reader reads and parses requests (libhttp-parser) and queues them, up to
//    ServerOptions::max_pipelined ahead of the one being answered; after that it
//    keeps reading (discarding) only to notice the peer leaving;
//  - the responder takes requests in order, runs the handler, writes the response.
// So pipelined requests are answered in order, and the socket is always being read
// while a handler runs (except while a client has max_pipelined requests queued
// behind the running one: the reader then waits for room, and notices a departure
// only when it reads again).
//
// Handler contexts. Each request's Context derives from the connection's and is
// cancelled (1) when the reader sees the peer close or reset the connection (read
// returns 0 or an error) while the handler runs: the client went away, as Go's
// background read detects it; (2) when shutdown() gives up waiting and cuts the
// remaining connections, or ServerOptions::base_context is cancelled; (3) when the
// handler returns. A client that half-closes its side after sending (shutdown(WR))
// looks the same as one that left; its handler is cancelled too (as in Go).
//
// Connections. HTTP/1.1 keeps a connection open by default; "Connection: close",
// or HTTP/1.0 without "Connection: keep-alive", makes its request the last one.
// A malformed request is answered 400, a request over a limit 413 or 431 (a short
// text body says which limit), then the connection is closed after the pending
// responses; other connections are unaffected. A handler that throws gets a 500 and
// the connection goes on. Upgrade and CONNECT are not supported: the request is
// answered by its handler (if any) and the connection closed. Before closing, the
// server half-closes and reads (and drops) what the client still sends for up to
// 500 ms, so that the client receives the last response instead of a reset (Go's
// rstAvoidanceDelay). Bodies are read in full before the handler runs;
// "Expect: 100-continue" is not answered early (clients send the body after their
// own short timeout).
//
// TLS (HTTPS): with ServerOptions::tls set, each connection first runs the TLS
// handshake, bounded by tls_handshake_timeout (a client that connects and stays
// silent cannot hold the connection longer), then HTTP as above over the TLS
// stream. A failed handshake (a plaintext client, a client refusing our
// certificate) closes that connection only. reload_tls() loads the certificate
// and key files again for new connections (certificate rotation; open connections
// keep the certificate they were made with).
//
// Shutdown, as Go's http.Server.Shutdown:
//  1. stop accepting (the listener is closed; new connections are refused);
//  2. close idle connections (nothing received since the last response); a busy
//     connection closes after the response that leaves it idle, which carries
//     "Connection: close" when the server knows in time;
//  3. wait until every connection has closed, or ctx is done;
//  4. if ctx is done first: cancel every remaining handler's context, stop every
//     read and write, and return ctx's error once the connections have closed.
// Step 4 waits for handlers to return: a handler that ignores its context delays
// shutdown() until it does.
//
// Thread safety: start, shutdown and the accessors may be called from any task;
// shutdown may be called more than once and concurrently (each call waits).
// Cancel safety: shutdown's ctx bounds the graceful wait only; the cut always runs.
// Errors: start returns the listener's error (address in use...), or
// std::errc::operation_not_permitted if already started; shutdown returns ctx's
// error if it had to cut.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "orca/context/context.hpp"
#include "orca/net/address.hpp"
#include "orca/net/http/limits.hpp"
#include "orca/net/http/router.hpp"
#include "orca/net/tls_context.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::http {

struct ServerOptions {
  Limits limits;
  // Requests parsed ahead of the one being answered on a pipelining connection.
  // Bounds the memory a connection can hold (max_pipelined full requests).
  std::size_t max_pipelined = 8;
  // Close a keep-alive connection after this long without a new request (nothing
  // received since its last response). Zero: never (Go's default too). Slow
  // clients mid-request are not timed out: bound those with shutdown's context.
  Clock::duration idle_timeout = Clock::duration::zero();
  // Parent of every connection's and handler's context: its values reach the
  // handlers, and cancelling it cuts every connection (shutdown still has to be
  // called to stop accepting).
  Context base_context = background();
  // Serve HTTPS with this server configuration (TlsContext::server); null: plain
  // HTTP. Shared, so the caller may also reload() it directly.
  std::shared_ptr<net::TlsContext> tls;
  // Bound on a connection's TLS handshake.
  Clock::duration tls_handshake_timeout = std::chrono::seconds(10);
};

namespace detail {
struct ServerState;
}

class Server {
 public:
  explicit Server(Router router, ServerOptions options = {});
  Server(Server&&) noexcept = default;
  Server& operator=(Server&&) noexcept = default;
  // If still serving: stops accepting and cuts every connection (as shutdown with
  // an expired context), without waiting; the tasks end on their own.
  ~Server();

  // Listens on `address` and starts accepting in a new task. Call inside
  // orca::run. Port 0 picks a free port: see local_address().
  Result<void> start(net::Address address);
  // The bound address (after start).
  net::Address local_address() const;
  // Connections currently open.
  std::size_t connection_count() const;

  // Reloads ServerOptions::tls's files (TlsContext::reload): connections accepted
  // afterwards use them. May be called from any thread or task (it reads a few
  // files with blocking calls). errc::operation_not_permitted without TLS; a file
  // that does not load changes nothing and returns its error (`why` names it).
  Result<void> reload_tls(std::string* why = nullptr);

  // Graceful shutdown, see the protocol above.
  Task<Result<void>> shutdown(Context ctx);

 private:
  std::shared_ptr<detail::ServerState> state_;
};

}  // namespace orca::http
