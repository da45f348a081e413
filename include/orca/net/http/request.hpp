// Request: one HTTP/1.1 request, as a server handler receives it or as a client
// sends it. A plain value: the body is read in full before the handler runs
// (bounded by Limits::max_body_bytes), so handlers never wait on the socket.
//
//   router.get("/api/jobs/{id}", [](orca::Context ctx, orca::http::Request req)
//                                    -> orca::Task<orca::http::Response> {
//     auto id = req.path_param("id");         // "42" for /api/jobs/42
//     auto verbose = req.query_param("v");    // "1" for ?v=1
//     auto type = req.headers.get("Content-Type");
//     co_return orca::http::Response::json(200, ...);
//   });
//
// Thread safety: a plain value type.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "orca/net/http/headers.hpp"

namespace orca::http {

struct Request {
  // Upper-case method token: "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"...
  std::string method = "GET";
  // Server side: the request-target as received ("/a/b?x=1"). Client side: the
  // absolute URL to fetch ("http://127.0.0.1:8080/a/b?x=1").
  std::string target;
  // Server side: the path of the target, still percent-encoded ("/a%20b").
  std::string path;
  // Server side: the query of the target without '?', still encoded ("x=1&y=%20").
  std::string query;
  Headers headers;
  std::string body;
  int version_major = 1;
  int version_minor = 1;
  // Server side: false when this is the connection's last request (Connection:
  // close, or HTTP/1.0 without keep-alive); the server then closes after replying.
  bool keep_alive = true;
  // Server side: "{name}" segments of the matched route, percent-decoded.
  std::vector<std::pair<std::string, std::string>> path_params;
  // Server side: the client's address ("127.0.0.1:51234"), for logs.
  std::string remote_address;

  // The first value of query parameter `name`, percent-decoded ('+' is a space),
  // or nothing if absent. "?flag" gives "" for flag.
  std::optional<std::string> query_param(std::string_view name) const;
  // Every query parameter in order, decoded.
  std::vector<std::pair<std::string, std::string>> query_params() const;
  // The value of route segment {name}, or nothing if the route has no such segment.
  std::optional<std::string_view> path_param(std::string_view name) const noexcept;
};

// Decodes %XX escapes (and '+' as a space when `plus_is_space`). Nothing if an
// escape is malformed ("%4", "%zz").
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space = false);

}  // namespace orca::http
