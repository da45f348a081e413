// Client: one connection per request; the response is parsed by libhttp-parser.
#include "orca/net/http/client.hpp"

#include <http_parser.h>

#include <span>
#include <vector>

#include "message_parser.hpp"
#include "orca/net/address.hpp"
#include "orca/net/dial.hpp"
#include "orca/net/stream.hpp"
#include "orca/net/tcp_stream.hpp"
#include "wire.hpp"

namespace orca::http {

namespace {
// Read size for responses: large enough that a big body arrives in few reads.
constexpr std::size_t kReadBuffer = 16 * 1024;

}  // namespace

std::string Url::authority() const {
  return net::host_port(host, port);
}

Result<Url> parse_url(std::string_view text) {
  http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(text.data(), text.size(), 0, &u) != 0)
    return make_error_code(errc::bad_url);
  const auto field = [&](http_parser_url_fields f) {
    return (u.field_set & (1u << f)) ? text.substr(u.field_data[f].off, u.field_data[f].len)
                                     : std::string_view();
  };
  const std::string_view schema = field(UF_SCHEMA);
  const bool https = iequals(schema, "https");
  if (!https && !iequals(schema, "http")) return make_error_code(errc::bad_url);
  Url url;
  url.https = https;
  if (https) url.port = 443;
  url.host = std::string(field(UF_HOST));
  if (url.host.empty()) return make_error_code(errc::bad_url);
  if (u.field_set & (1u << UF_PORT)) {
    if (u.port == 0) return make_error_code(errc::bad_url);
    url.port = u.port;
  }
  url.path_and_query = std::string(field(UF_PATH));
  if (url.path_and_query.empty()) url.path_and_query = std::string("/");
  if (u.field_set & (1u << UF_QUERY)) {
    url.path_and_query += '?';
    url.path_and_query += field(UF_QUERY);
  }
  return url;
}

Task<Result<Response>> Client::get(Context ctx, std::string url) {
  Request req;
  req.method = "GET";
  req.target = std::move(url);
  Task<Result<Response>> sent = request(std::move(ctx), std::move(req));
  co_return co_await std::move(sent);
}

Task<Result<Response>> Client::post(Context ctx, std::string url, std::string body,
                                    std::string content_type) {
  Request req;
  req.method = "POST";
  req.target = std::move(url);
  req.body = std::move(body);
  if (!content_type.empty()) req.headers.set("Content-Type", std::move(content_type));
  Task<Result<Response>> sent = request(std::move(ctx), std::move(req));
  co_return co_await std::move(sent);
}

Task<Result<Response>> Client::request(Context ctx, Request req) {
  Result<Url> url = parse_url(req.target);
  if (!url) co_return url.error();
  Result<net::TcpStream> tcp = co_await net::dial(ctx, url->host, url->port);
  if (!tcp) co_return tcp.error();
  Task<Result<net::Stream>> secured =
      net::client_stream(ctx, std::move(*tcp), url->https ? &options_.tls : nullptr, url->host);
  Result<net::Stream> conn = co_await std::move(secured);
  if (!conn) co_return conn.error();

  if (!req.headers.contains("Connection")) req.headers.set("Connection", "close");
  std::string out;
  detail::write_request(req, url->authority(), url->path_and_query, out);
  const Result<void> written =
      co_await conn->write_all(ctx, std::as_bytes(std::span(out.data(), out.size())));
  if (!written) co_return written.error();

  detail::MessageParser parser(detail::MessageParser::Kind::kResponse, options_.limits);
  if (req.method == "HEAD") parser.expect_no_body();
  std::vector<std::byte> buf(kReadBuffer);
  using State = detail::MessageParser::State;
  while (true) {
    Result<std::size_t> n = co_await conn->read(ctx, std::span(buf.data(), buf.size()));
    if (!n) co_return n.error();
    if (*n == 0) {
      const State before = parser.state();
      parser.feed_eof();  // completes a close-delimited body
      if (parser.state() == State::kComplete) co_return parser.take_response();
      if (before == State::kIdle) co_return make_error_code(errc::connection_closed);
      co_return parser.error_status() == 413 || parser.error_status() == 431
          ? make_error_code(errc::response_too_large)
          : make_error_code(errc::connection_closed);
    }
    std::string_view data(reinterpret_cast<const char*>(buf.data()), *n);
    while (!data.empty()) {
      data.remove_prefix(parser.feed(data));
      const State st = parser.state();
      if (st == State::kError) {
        co_return parser.error_status() == 413 || parser.error_status() == 431
            ? make_error_code(errc::response_too_large)
            : make_error_code(errc::malformed_response);
      }
      if (st != State::kComplete) continue;
      Response resp = parser.take_response();
      if (resp.status >= 100 && resp.status < 200 && resp.status != 101) continue;  // interim
      co_return resp;
    }
  }
}

}  // namespace orca::http
