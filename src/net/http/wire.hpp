// Serialization of messages onto the wire: a response as the server sends it, a
// request as the client sends it. Private to orca_http.
#pragma once

#include <string>
#include <string_view>

#include "orca/net/http/request.hpp"
#include "orca/net/http/response.hpp"

namespace orca::http::detail {

// Appends `resp` to `out`: status line, the handler's headers (minus framing
// fields the server owns), Date, Content-Length, "Connection: close" when
// `keep_alive` is false ("Connection: keep-alive" when it is true for an HTTP/1.0
// client, which would close otherwise), and the body unless `head`.
void write_response(const Response& resp, bool head, bool keep_alive, bool http10,
                    std::string& out);

// Appends the head of a streamed response (Response::stream) to `out`: as
// write_response's, with "Transfer-Encoding: chunked" for an HTTP/1.1 client (none
// for HTTP/1.0: the close ends the body) and "Connection: close".
void write_stream_head(const Response& resp, bool http10, std::string& out);

// Appends a request for `path_and_query` on `host` (the Host header) to `out`.
void write_request(const Request& req, std::string_view host, std::string_view path_and_query,
                   std::string& out);

}  // namespace orca::http::detail
