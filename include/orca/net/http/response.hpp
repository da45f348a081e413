// Response: an HTTP status, header fields and a body, as a handler returns it or
// as the client receives it. A plain value. Also the one renderer of the errors the
// server and router answer by themselves (Response::error, ErrorFormat).
//
//   co_return orca::http::Response::text(200, "hello\n");
//   co_return orca::http::Response::json(201, R"({"id": 42})");
//   co_return orca::http::Response::error(404, "no such job");  // {"error":"no such job"}
//
// On the server the body is sent with Content-Length (set by the server; a
// Content-Length or Transfer-Encoding a handler sets is replaced), a Date header
// is added, and a HEAD request gets the headers without the body.
//
// Thread safety: a plain value type.
#pragma once

#include <string>
#include <string_view>

#include "orca/net/http/headers.hpp"

namespace orca::http {

// How the server and the router write the errors they answer by themselves (400,
// 404, 405, 408, 413, 431, 500, 503, 505): see Response::error.
enum class ErrorFormat {
  kJson,  // {"error":"<message>"}, Content-Type: application/json (the default)
  kText,  // <message>\n, Content-Type: text/plain; charset=utf-8
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // Client side: the version the server answered with, and whether it let the
  // connection stay open.
  int version_major = 1;
  int version_minor = 1;
  bool keep_alive = true;
  // Server side: the pattern of the route whose handler made this response
  // ("/api/jobs/{id}"), set by Router::dispatch (the innermost router's, when
  // routers nest); empty for the answers no route made (a router's own 404 and 405,
  // an access policy's or a rate limit's refusals). It points into the router, so it
  // is valid while the router lives. The HTTP metrics label requests with it: a
  // pattern, never the raw path, so that label sets stay bounded.
  std::string_view route;

  // A text/plain; charset=utf-8 response.
  static Response text(int status, std::string body);
  // An application/json response; `body` must already be JSON.
  static Response json(int status, std::string body);
  // An error: `message` (any bytes; escaped for JSON) in `format`. Every error the
  // server or router makes itself is built here, so they all look alike; each
  // carries "X-Content-Type-Options: nosniff".
  static Response error(int status, std::string_view message,
                        ErrorFormat format = ErrorFormat::kJson);
};

// The reason phrase of a status code ("Not Found"), or "Unknown" for codes
// RFC 9110 does not name.
std::string_view status_text(int status) noexcept;

}  // namespace orca::http
