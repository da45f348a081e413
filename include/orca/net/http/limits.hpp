// Limits: how much of a message the HTTP server (and client) will read before
// refusing it. A request over a limit is answered with a clear 4xx naming the
// limit (in ServerOptions::error_format, JSON by default), and the connection is
// closed (its remaining bytes cannot be trusted). How long the server waits for
// those bytes is ServerOptions' business (header_read_timeout...).
#pragma once

#include <cstddef>

namespace orca::http {

struct Limits {
  // Request line (or status line) plus all header fields, in bytes. Over it: 431
  // "request header fields too large". Also capped by libhttp-parser's own 80 KiB
  // (HTTP_MAX_HEADER_SIZE), which is answered the same way.
  std::size_t max_header_bytes = 16 * 1024;
  // Number of header fields. Over it: 431 "too many header fields".
  std::size_t max_header_count = 100;
  // Decoded body bytes (Content-Length, or the sum of the chunks). Over it: 413
  // "request body too large"; a Content-Length over it is refused before any body
  // byte is read.
  std::size_t max_body_bytes = 8 * 1024 * 1024;
};

}  // namespace orca::http
