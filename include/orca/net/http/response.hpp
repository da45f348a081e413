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
// A streamed body (Server-Sent Events, a long export): set Response::stream instead
// of `body`. The server sends the headers (chunked to an HTTP/1.1 client, delimited
// by the close to an HTTP/1.0 one), then runs the stream function with a BodyWriter
// until it returns; the connection closes after it ("Connection: close"):
//   Response r;
//   r.headers.add("Content-Type", "text/event-stream");
//   r.stream = [](orca::Context ctx, BodyWriter& out) { return send_events(ctx, out); };
// The stream's context is done when the client leaves, when Server::shutdown begins
// (an endless response is never about to finish: it is ended at once, gracefully),
// or when the server cuts its connections; the function must then return soon.
// Writes are bounded by ServerOptions::stream_write_timeout: a client that stops
// reading is dropped, never buffered for. See server.hpp "Streams".
//
// Thread safety: a plain value type.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "orca/context/context.hpp"
#include "orca/net/http/headers.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::http {

// Where a streamed response writes its body. One writer per response, used by its
// stream function only, one write at a time.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  // Sends `data` now (one chunk; empty data sends nothing). An error when the
  // client left, took longer than the server's stream_write_timeout to take it, or
  // the stream's context is done: the stream is over, return.
  virtual Task<Result<void>> write(std::string_view data) = 0;
};

// A streamed body: called once with the stream's context and writer; the response
// ends when the returned task does. It must not throw from the task (what it throws
// is dropped and ends the stream).
using BodyStream = std::function<Task<void>(Context, BodyWriter&)>;

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
  // Server side: a streamed body instead of `body` (see above); empty: none.
  BodyStream stream;
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
