// otlp_http_writer (otlp_writer.hpp).
#include "orca/net/http/otlp_writer.hpp"

#include <stdexcept>

namespace orca::http {

namespace {

// A free coroutine owning its arguments: its frame refers to no lambda object.
Task<Result<void>> post_spans(std::shared_ptr<Client> client, std::string endpoint,
                              Clock::duration timeout, Context ctx, std::string body) {
  auto [bounded, stop] = with_timeout(ctx, timeout);
  Task<Result<Response>> posted =
      client->post(bounded, std::move(endpoint), std::move(body), "application/json");
  Result<Response> r = co_await std::move(posted);
  stop();
  if (!r) co_return r.error();
  if (r->status >= 200 && r->status < 300) co_return Result<void>{};
  if (r->status >= 500) co_return make_error_code(errc::server_error);
  co_return std::make_error_code(std::errc::protocol_error);
}

}  // namespace

trace::SpanWriter otlp_http_writer(std::shared_ptr<Client> client, std::string endpoint,
                                   Clock::duration timeout) {
  if (!client) throw std::invalid_argument("otlp_http_writer: the client is null");
  if (!parse_url(endpoint))
    throw std::invalid_argument(std::string("OTLP endpoint ")
                                    .append(endpoint)
                                    .append(": expected http://HOST:PORT/PATH, e.g. "
                                            "http://127.0.0.1:4318/v1/traces"));
  return [client = std::move(client), endpoint = std::move(endpoint), timeout](Context ctx,
                                                                               std::string body) {
    return post_spans(client, endpoint, timeout, std::move(ctx), std::move(body));
  };
}

}  // namespace orca::http
