// Client: a minimal HTTP/1.1 client for orca's own tools and tests.
//
//   orca::http::Client client;
//   auto [ctx, cancel] = orca::with_timeout(orca::background(), 2s);
//   orca::Result<orca::http::Response> r = co_await client.get(ctx,
//   "http://127.0.0.1:8080/api/jobs"); if (!r) ... r.error() ...  // connect/read/write errors,
//   deadline_exceeded, http::errc r->status, r->headers.get("Content-Type"), r->body
//
// One connection per request (sent with "Connection: close"; no pooling). The
// response body may be delimited by Content-Length, chunked, or the server closing
// the connection; the whole body is read (bounded by ClientOptions::limits).
// URLs: http[s]://host[:port][/path][?query], host a name ("api.internal",
// "localhost"), an IPv4 literal or an [IPv6] literal. The connection is opened with
// orca::net::dial: a name is resolved (getaddrinfo on the blocking pool, see
// net/resolve.hpp) and its addresses tried in order; the Host header carries the
// host as written. Interim 1xx responses are skipped.
//
// https:// runs the exchange over TLS (TlsStream), verifying the server's
// certificate against ClientOptions::tls's CAs (default: the system store) and
// the URL's host (a name, also sent as SNI, or an IP literal); a refused
// certificate fails the request with a net::tls_verify_category() error.
//
// Thread safety: a Client only holds options; any number of requests may run at
// once from any tasks. It must outlive the requests it runs.
// Cancel safety: the context bounds the whole exchange (connect, write, read);
// when it is done the request returns its error and the connection is closed.
// Errors: orca::errc::canceled / deadline_exceeded from ctx; std::errc values from
// the socket (connection_refused...); net::errc::no_such_host, resolver_temporary
// and resolver_failure from name resolution; http::errc::bad_url,
// malformed_response, response_too_large, connection_closed; TLS errors
// (net/tls_error.hpp), and ClientOptions::tls's file errors (TlsContext::client).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "orca/context/context.hpp"
#include "orca/net/http/error.hpp"
#include "orca/net/http/limits.hpp"
#include "orca/net/http/request.hpp"
#include "orca/net/http/response.hpp"
#include "orca/net/tls_config.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::http {

struct ClientOptions {
  Limits limits{
      .max_header_bytes = 64 * 1024, .max_header_count = 200, .max_body_bytes = 64 * 1024 * 1024};
  // For https:// URLs: the CAs to trust (default: the system store) and an
  // optional client certificate. Loaded per https request.
  net::TlsClientConfig tls;
};

class Client {
 public:
  explicit Client(ClientOptions options = {}) : options_(std::move(options)) {}

  Task<Result<Response>> get(Context ctx, std::string url);
  Task<Result<Response>> post(Context ctx, std::string url, std::string body,
                              std::string content_type);
  // Sends req.method, req.headers and req.body to the absolute URL req.target.
  Task<Result<Response>> request(Context ctx, Request req);

 private:
  ClientOptions options_;
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
