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
// or HTTP/1.0 without "Connection: keep-alive", makes its request the last one, as
// does the max_requests_per_connection-th (answered with "Connection: close").
// A malformed request is answered 400, a request over a limit 413 or 431, an HTTP
// version other than 1.x 505 (the error says which limit or why), then the
// connection is closed after the pending responses; other connections are
// unaffected. A handler that throws gets a 500 and the connection goes on. Upgrade and CONNECT are
// not supported: the request is answered by its handler (if any) and the connection closed. Before
// closing, the server half-closes and reads (and drops) what the client still sends for up to 500
// ms, so that the client receives the last response instead of a reset (Go's rstAvoidanceDelay).
// Bodies are read in full before the handler runs; "Expect: 100-continue" is not answered early
// (clients send the body after their own short timeout).
//
// Timeouts (ServerOptions; each zero for none). A slow client is cut without
// touching the others:
//  - header_read_timeout (10 s): a request's line and header block must arrive
//    within it, counted from its first byte, or from accept for a connection's
//    first request (so a client that connects and sends nothing is cut too, and
//    gets the 408 as well);
//  - body_read_timeout (60 s): its body must arrive within it of its header's end;
//  - idle_timeout (60 s): a keep-alive connection with nothing in flight (nothing
//    received since the last response) is closed after it, silently.
// A request cut by its header or body timeout is answered 408 after the responses
// before it (pipelined requests keep their order), and the connection is closed.
// There is no write timeout: a client that stops reading its responses holds its
// connection (one of max_connections) until it leaves or shutdown cuts it.
//
// Greedy clients. max_connections (10,000) bounds the open connections: one more
// is accepted, answered 503 {"error":"too many connections"} with "Connection:
// close" and closed at once, so it never hangs in the listen backlog; the others
// are served on, and new clients are taken again as connections close. If the
// process runs out of descriptors (EMFILE) first, the server frees a descriptor it
// holds in reserve to accept and refuse the client the same way.
//
// Streams (Response::stream, response.hpp). A response with a stream function is
// sent as its headers ("Transfer-Encoding: chunked" to HTTP/1.1, close-delimited to
// HTTP/1.0; "Connection: close" either way), then the function's writes, one chunk
// each; the connection closes when the function returns (a HEAD request, or a
// bodiless status, gets the headers only). Bounds:
//  - max_streams: streams open at once; one more is answered 503 {"error":"too many
//    streams"} instead, with Retry-After;
//  - stream_write_timeout: a write the client has not taken (its socket buffer full)
//    within it ends the stream: a client that stops reading is dropped, and what the
//    server holds for it is one chunk, never a growing buffer;
//  - neither header, body nor idle timeout applies while a stream runs (it is a
//    response in flight, not an idle connection).
// The stream's context is done when the client leaves (the reader sees the close),
// when shutdown() begins (step 2 ends every stream: the stream function returns, the
// final chunk is written, and the connection closes like any busy one), or when
// the server cuts connections (step 4, base_context).
//
// Errors the server writes itself (400, 404, 405, 408, 413, 431, 500, 503, 505,
// the router's 404 and 405 included) come from Response::error in
// ServerOptions::error_format: {"error":"..."} as application/json by default.
//
// Refusals are counted (stats(): timeouts, idle closes, connection refusals,
// request-cap closes, bad requests) and reported through ServerOptions::log at
// most once a second per kind; counting is a relaxed atomic increment, on the
// refusal's path only.
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
//  2. close idle connections (nothing received since the last response), and end
//     every stream; a busy connection closes after the response that leaves it
//     idle, which carries "Connection: close" when the server knows in time;
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
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "orca/context/context.hpp"
#include "orca/net/address.hpp"
#include "orca/net/http/limits.hpp"
#include "orca/net/http/response.hpp"
#include "orca/net/http/router.hpp"
#include "orca/net/tls_context.hpp"
#include "orca/runtime/clock.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::metrics {
class Registry;
}

namespace orca::http {

struct ServerOptions {
  Limits limits;
  // Requests parsed ahead of the one being answered on a pipelining connection.
  // Bounds the memory a connection can hold (max_pipelined full requests).
  std::size_t max_pipelined = 8;

  // Slow clients (see "Timeouts" above). Zero: no limit.
  // The request line and header block must be complete within this long: of the
  // request's first byte, or of accept for a connection's first request. Over it:
  // 408 and close. 10 s lets any real client through while a "slowloris" client
  // trickling one header byte at a time holds its connection for 10 s, not forever.
  Clock::duration header_read_timeout = std::chrono::seconds(10);
  // The body must be complete within this long of the end of its header block.
  // Over it: 408 and close. 60 s covers an 8 MiB body (the default max_body_bytes)
  // at ~140 KB/s; raise it with max_body_bytes for slow links.
  Clock::duration body_read_timeout = std::chrono::seconds(60);
  // Close a keep-alive connection after this long with nothing in flight (nothing
  // received since its last response, or since accept). Silent: no response is
  // written. 60 s outlasts the reuse window of common clients (curl, browsers, Go's
  // 90 s idle pool notices the close) while bounding what idle clients hold.
  Clock::duration idle_timeout = std::chrono::seconds(60);

  // Greedy clients. Zero: no limit.
  // Open connections at most. One accepted beyond it is answered at once with 503
  // {"error":"too many connections"} and "Connection: close", and closed: never
  // left waiting in the backlog. Keep it below the process's descriptor limit
  // (ulimit -n), with room for the descriptors the handlers use: 10,000 idle
  // connections hold ~40 MiB of read buffers.
  std::size_t max_connections = 10'000;
  // Requests served on one connection at most; the last one is answered with
  // "Connection: close" (the client reconnects). Spreads long-lived clients over
  // the servers behind a load balancer, and bounds what one connection can do.
  std::size_t max_requests_per_connection = 10'000;
  // Streamed responses (Response::stream) open at once; one more is answered 503.
  // Each holds a connection and a task for as long as its client stays: this keeps
  // a flood of streams from taking every connection.
  std::size_t max_streams = 1'000;
  // A stream's write must be taken by the client's socket within this long, or the
  // stream ends (see "Streams"). 10 s rides out a stalled network while a client
  // that stopped reading holds a kernel buffer and one chunk, not an ever-growing
  // queue. Zero: no limit (not advised: a stalled client then holds its stream
  // until it leaves or shutdown).
  Clock::duration stream_write_timeout = std::chrono::seconds(10);

  // The body of every response the server and router make themselves (400, 404,
  // 405, 408, 413, 431, 500, 503, 505): JSON by default, as orca's JSON APIs answer.
  ErrorFormat error_format = ErrorFormat::kJson;
  // Where refusals are reported: at most one line a second per kind (header and
  // body timeouts, connection-limit refusals, malformed or over-limit requests),
  // with the count since that kind's previous line ("header_read_timeout: 12
  // connections cut"). Idle and request-cap closes are routine and only counted
  // (Server::stats). The default writes the line to stderr prefixed "orca http: ";
  // an empty function logs nothing. Called from the server's tasks, on any worker,
  // possibly concurrently for different kinds: it must be thread-safe and quick
  // (what it throws is dropped).
  std::function<void(std::string_view)> log = default_log;
  // The default `log`: one write(2) of "orca http: <line>\n" to stderr.
  static void default_log(std::string_view line);

  // Parent of every connection's and handler's context: its values reach the
  // handlers, and cancelling it cuts every connection (shutdown still has to be
  // called to stop accepting).
  Context base_context = background();
  // Serve HTTPS with this server configuration (TlsContext::server); null: plain
  // HTTP. Shared, so the caller may also reload() it directly.
  std::shared_ptr<net::TlsContext> tls;
  // Bound on a connection's TLS handshake.
  Clock::duration tls_handshake_timeout = std::chrono::seconds(10);

  // Where the server reports its requests, latencies and connections (the families
  // of net/http/metrics.hpp); null: nowhere, at no cost. Must outlive the server.
  ::orca::metrics::Registry* metrics = nullptr;  // qualified: the member has its name
};

// What the server refused or cut, since start. Counters only grow.
struct ServerStats {
  std::uint64_t header_timeouts = 0;        // cut at header_read_timeout (408)
  std::uint64_t body_timeouts = 0;          // cut at body_read_timeout (408)
  std::uint64_t idle_closes = 0;            // closed after idle_timeout
  std::uint64_t connection_refusals = 0;    // refused over max_connections (503)
  std::uint64_t request_cap_closes = 0;     // closed after max_requests_per_connection
  std::uint64_t bad_requests = 0;           // malformed or over a Limit (400, 413, 431, 505)
  std::uint64_t stream_refusals = 0;        // streams refused over max_streams (503)
  std::uint64_t stream_write_timeouts = 0;  // streams ended by stream_write_timeout
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
  // Streamed responses running now.
  std::size_t stream_count() const;
  // The refusal counters (relaxed reads: each is exact, together not a snapshot).
  ServerStats stats() const;

  // Reloads ServerOptions::tls's files (TlsContext::reload): connections accepted
  // afterwards use them. May be called from any thread or task (it reads a few
  // files with blocking calls). std::errc::operation_not_permitted without TLS; a
  // file that does not load changes nothing and returns its error (its detail()
  // names the file).
  Result<void> reload_tls();

  // Graceful shutdown, see the protocol above.
  Task<Result<void>> shutdown(Context ctx);

 private:
  std::shared_ptr<detail::ServerState> state_;
};

}  // namespace orca::http
