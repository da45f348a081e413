// Client: an HTTP/1.1 client with a keep-alive connection pool per host, and
// (opt-in) a circuit breaker per host and retries within a budget.
//
//   orca::http::Client client;
//   auto [ctx, cancel] = orca::with_timeout(orca::background(), 2s);
//   orca::Result<orca::http::Response> r = co_await client.get(ctx,
//   "http://127.0.0.1:8080/api/jobs"); if (!r) ... r.error() ...  // connect/read/write errors,
//   deadline_exceeded, http::errc r->status, r->headers.get("Content-Type"), r->body
//
// The response body may be delimited by Content-Length, chunked, or the server closing
// the connection; the whole body is read (bounded by ClientOptions::limits) before
// request() returns, so a connection is always back in its pool, or closed, by then.
// URLs: http[s]://host[:port][/path][?query], host a name ("api.internal",
// "localhost"), an IPv4 literal or an [IPv6] literal. A new connection is opened with
// orca::net::dial: a name is resolved (getaddrinfo on the blocking pool, see
// net/resolve.hpp) and its addresses tried in order; the Host header carries the
// host as written. Interim 1xx responses are skipped.
//
// Connection pool (as Go's http.Transport). Connections are pooled per host: scheme,
// host as written and port (one Client has one TLS configuration). A request takes
// the most recently used idle connection of its host (LIFO: the one the server is
// least likely to have closed by its own idle timeout), else dials a new one; any
// number of requests run at once, each on its own connection. After the response a
// connection goes back to the pool unless it cannot carry another exchange: the
// response said "Connection: close" (or was HTTP/1.0 without keep-alive), its body
// ran to the connection's end, the request itself said "Connection: close", an
// error or the context cut the exchange, the server sent more than the response, or
// the response switched protocols. The pool keeps at most max_idle_per_host per host
// (a connection returned to a full host pool displaces the oldest idle one) and
// max_idle_total in all (beyond it a returned connection is closed). An idle
// connection is closed once idle longer than idle_timeout: checked when its host's
// pool is used, and for every host at most every idle_timeout / 4 when any request
// runs (no background task: a Client may be made and dropped outside orca::run). A
// connection taken from the pool is first checked without waiting (a peek at the
// socket): if the server closed it, or sent anything while it was idle, it is closed
// and the next one tried. A server may still close a connection just as a request is
// sent on it; such a request, when idempotent (below) and failed before any byte of
// the response arrived, is sent once more on a new connection, as Go does.
// max_idle_per_host = 0 turns pooling off: every request sends "Connection: close"
// on a connection of its own.
//
// Idempotent requests: GET, HEAD, OPTIONS, TRACE, PUT and DELETE (RFC 9110 9.2.2), and
// any request carrying an Idempotency-Key or X-Idempotency-Key header (as Go).
// Only they are ever sent twice.
//
// Circuit breaker (ClientOptions::breakers, off by default): one CircuitBreaker per
// host (resilience::KeyedBreakers, key "http://host:port"). A 5xx answer counts as a
// failure (the breaker's is_failure sees http::errc::server_error), as does a
// connection or protocol error (a cancelled request counts as nothing). An open
// breaker fails a request at once with resilience::errc::circuit_open, without
// connecting.
// Retries (ClientOptions::retry, off by default): only what is safe and useful. An
// idempotent request that fails with a connection error, or is answered with one of
// ClientOptions::retry_statuses (429, 502, 503, 504: overload or a gateway that could
// not reach its upstream, which a later attempt may find gone), is tried again
// (resilience::Retry: at most max_attempts in all, backoff with full jitter, no
// attempt that cannot finish before the context's deadline), each retry taken from a
// RetryBudget (retry->budget if set, else the client's own, from retry_budget), so
// that retries add at most a ratio of the traffic during an outage. An answer's
// Retry-After (seconds or an HTTP-date, http/retry_after.hpp) replaces the jittered
// backoff, capped by retry->max_backoff; when that wait would end past the context's
// deadline there is no wait and no retry: the answer is returned at once. Not retried:
// a 500 (a bug in the server, which answers it the same way again) or any other
// status outside retry_statuses, a non-idempotent request (POST, PATCH) whatever
// happened to it, the context's errors, circuit_open, bad URLs, malformed or oversized
// responses, refused certificates, unknown hosts. When the retries end on an answer,
// it is returned as a Response. Each attempt goes through the breaker, so an opening
// breaker also ends the retries.
//
// https:// runs the exchange over TLS (TlsStream), verifying the server's
// certificate against ClientOptions::tls's CAs (default: the system store) and
// the URL's host (a name, also sent as SNI, or an IP literal); a refused
// certificate fails the request with a net::tls_verify_category() error. The TLS
// configuration is loaded once per process and reused by every connection
// (TlsContext::shared_client): files changed later are not read again.
//
// Thread safety: any number of requests may run at once from any tasks; the pool is
// guarded by one mutex held only to take or return a connection (never across a
// wait). A Client must outlive the requests it runs. close_idle() and stats() may be
// called from any thread. The destructor closes the idle connections.
// Cancel safety: the context bounds the whole exchange (connect, write, read, the
// retries' backoffs); when it is done the request returns its error and its
// connection is closed, never pooled.
// Errors: orca::errc::canceled / deadline_exceeded from ctx; std::errc values from
// the socket (connection_refused...); net::errc::no_such_host, resolver_temporary
// and resolver_failure from name resolution; http::errc::bad_url,
// malformed_response, response_too_large, connection_closed; TLS errors
// (net/tls_error.hpp), and ClientOptions::tls's file errors (TlsContext::client);
// resilience::errc::circuit_open from an open breaker. The constructor throws
// std::invalid_argument for bad breaker, retry or budget options (the message names
// the value).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/net/http/error.hpp"
#include "orca/net/http/limits.hpp"
#include "orca/net/http/request.hpp"
#include "orca/net/http/response.hpp"
#include "orca/net/tls_config.hpp"
#include "orca/resilience/circuit_breaker.hpp"
#include "orca/resilience/keyed_breakers.hpp"
#include "orca/resilience/retry.hpp"
#include "orca/resilience/retry_budget.hpp"
#include "orca/runtime/clock.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::http {

struct ClientOptions {
  Limits limits{
      .max_header_bytes = 64 * 1024, .max_header_count = 200, .max_body_bytes = 64 * 1024 * 1024};
  // For https:// URLs: the CAs to trust (default: the system store) and an
  // optional client certificate. Loaded at the first https connection, then shared.
  net::TlsClientConfig tls;

  // Idle connections kept per host. Go's default is 2, which makes a client running
  // more than 2 requests at once to one host close and reopen connections in steady
  // state (a TCP and maybe a TLS handshake each, and a TIME_WAIT entry left on the
  // client each). 64 covers the concurrency orca's programs drive to one host (job
  // nodes and API callers: tens of requests in flight) for at most 64 descriptors
  // and their kernel buffers; hyper keeps an unbounded number. 0: no pooling.
  std::size_t max_idle_per_host = 64;
  // Idle connections kept over all hosts (Go's MaxIdleConns is 100; more here, as
  // per host): bounds the descriptors a client hitting many hosts holds.
  std::size_t max_idle_total = 1024;
  // An idle connection older than this is closed (Go's IdleConnTimeout, 90 s: past
  // the 60 s idle timeout of orca's and many servers, which close theirs first;
  // the peek on reuse notices that).
  Clock::duration idle_timeout = std::chrono::seconds(90);

  // A circuit breaker per host (see above); nothing: none.
  std::optional<resilience::KeyedBreakersOptions> breakers;
  // Retries of idempotent requests (see above); nothing: none. Its `retryable`, if
  // set, further narrows which errors are retried (an answer in retry_statuses is
  // http::errc::server_error, or too_many_requests for a 429).
  std::optional<resilience::RetryOptions> retry;
  // The client's own retry budget, used when retry->budget is null (default:
  // RetryBudgetOptions{}, 10% of the calls plus 10 retries a second).
  resilience::RetryBudgetOptions retry_budget;
  // Answers an idempotent request is retried on (with retry set). Add 500 only for a
  // server known to fail that way transiently.
  std::vector<int> retry_statuses{429, 502, 503, 504};
};

// What the pool did, since construction (relaxed counters: each exact, together
// not a snapshot).
struct ClientStats {
  std::uint64_t dials = 0;          // connections opened
  std::uint64_t reuses = 0;         // requests sent on a pooled connection
  std::uint64_t stale_closed = 0;   // pooled connections found closed by the server
  std::uint64_t stale_resends = 0;  // idempotent requests sent again after a reused
                                    // connection failed before any response byte
  std::size_t idle = 0;             // connections idle in the pool now
};

namespace detail {
struct ClientState;
}

class Client {
 public:
  // Throws std::invalid_argument for bad breakers / retry / retry_budget options.
  explicit Client(ClientOptions options = {});
  // Move only while no request runs (a request refers to its Client).
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  // Closes the idle connections. No request may be running.
  ~Client();

  Task<Result<Response>> get(Context ctx, std::string url);
  Task<Result<Response>> post(Context ctx, std::string url, std::string body,
                              std::string content_type);
  // Sends req.method, req.headers and req.body to the absolute URL req.target.
  Task<Result<Response>> request(Context ctx, Request req);

  // Closes every idle connection now (Go's CloseIdleConnections); requests in
  // flight keep theirs.
  void close_idle();
  ClientStats stats() const;
  // The breaker of a URL's host, if breakers are on and the host has one (for
  // metrics and tests).
  std::shared_ptr<resilience::CircuitBreaker> breaker(std::string_view url) const;

 private:
  std::unique_ptr<detail::ClientState> state_;
};

// The parts of an http:// or https:// URL the client needs.
struct Url {
  bool https = false;
  std::string host;            // as written, without brackets ("db.internal", "127.0.0.1", "::1")
  std::uint16_t port = 80;     // 443 for https
  std::string path_and_query;  // "/a/b?x=1" ("/" if the URL has no path)
  // "host:port", "[::1]:port": the Host header's form.
  std::string authority() const;
};
// Parses an absolute http:// or https:// URL (libhttp-parser's http_parser_parse_url).
Result<Url> parse_url(std::string_view url);

}  // namespace orca::http
