// protect(): wraps a Router so that every request passes an access policy before its
// route runs, and every response carries the browser security headers. Invariant: no
// route of the inner router runs for a request the policy refused, and every response
// the wrapped router gives carries the headers (refusals, 404s and 405s included; not
// the server's own 400/413/431 for a malformed request, nor the 405 of a method other
// than GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS, which never reach a route).
//
//   AccessOptions access;
//   access.tokens = std::make_shared<TokenTable>(...);       // none: no authentication
//   access.allowed_hosts = {"orca.internal"};                 // besides the loopback names
//   access.allowed_origins = {"https://ops.example.com"};     // pages that may call it
//   Server server(protect(std::move(api_routes), access));
//   ... in a handler: if (const Principal* who = principal_of(ctx)) who->name ...
//
// The checks, in order (each refusal is a JSON {"error": "..."} body):
//  1. Host (DNS rebinding): the Host header must name localhost, 127.0.0.1 or [::1],
//     or one of allowed_hosts, with any port; else 421 (a request without Host too).
//  2. CORS preflight: OPTIONS with Origin and Access-Control-Request-Method is
//     answered here, 204 with the CORS headers for an allowed origin, else 403.
//  3. The client's address is blocked by the failure limiter (too many bad tokens):
//     429 with Retry-After.
//  4. State-changing methods (anything but GET, HEAD, OPTIONS), against CSRF:
//     - an Origin in allowed_origins passes; otherwise a Sec-Fetch-Site other than
//       same-origin or none is 403, and an Origin other than the server's own
//       ("http://" + Host) is 403 ("null" included);
//     - a body, or any Content-Type, must be application/json (a parameter such as
//       charset may follow): else 415. Bodiless requests (cancel) need none, and a
//       browser cannot send one cross-site unnoticed: it adds Origin.
//  5. Authentication, when tokens is not empty: no "Authorization: Bearer TOKEN"
//     is 401 with "WWW-Authenticate: Bearer"; a token not in the table is 401 and
//     counts as a failure of the client's address; a token whose role is below the
//     method's (read for GET, HEAD, OPTIONS; admin for the rest) is 403.
// Then the inner router runs under a Context carrying the principal (principal_of).
//
// Every response gets X-Content-Type-Options: nosniff, X-Frame-Options: DENY and
// Referrer-Policy: no-referrer, and, unless the route set its own,
// Content-Security-Policy (AccessOptions::content_security_policy) and Cache-Control:
// no-store. A response to an allowed origin gets Access-Control-Allow-Origin and
// Vary: Origin.
//
// Thread safety: the returned Router is as any Router (read-only once serving); the
// failure table it shares between requests is locked (failure_limiter.hpp).
// Errors: protect throws std::invalid_argument for a malformed allowed host or origin.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/net/http/failure_limiter.hpp"
#include "orca/net/http/router.hpp"
#include "orca/net/http/token_table.hpp"

namespace orca::http {

struct AccessOptions {
  // Null or empty: no authentication; every request runs without a principal.
  std::shared_ptr<const TokenTable> tokens;
  // Host names accepted besides localhost, 127.0.0.1 and [::1], compared without
  // the port, case-insensitively: "orca.internal", "10.0.0.5", "[2001:db8::5]".
  std::vector<std::string> allowed_hosts;
  // Origins, "scheme://host[:port]" as browsers send them, whose pages may call
  // state-changing routes (and get CORS headers), besides the server's own.
  std::vector<std::string> allowed_origins;
  // The server speaks HTTPS: its own origin is "https://" + Host, not "http://".
  bool https = false;
  FailureLimiterOptions failures;
  std::string content_security_policy = "default-src 'none'; frame-ancestors 'none'";
};

// The role a method needs: read for GET, HEAD and OPTIONS, admin for the rest.
Role role_for_method(std::string_view method) noexcept;

// The principal of the request a handler runs for, or nullptr when the policy has
// no tokens. Valid as long as ctx (or a copy) lives.
const Principal* principal_of(const Context& ctx) noexcept;

// The host part of a Host header value, lower case, IPv6 in brackets
// ("[::1]:8080" -> "[::1]", "Orca.Internal" -> "orca.internal"); empty if malformed.
std::string host_of(std::string_view host_header);

// `routes` behind the policy (see above).
Router protect(Router routes, AccessOptions options);

}  // namespace orca::http
