// alert_webhook (alert_webhook.hpp): one resilience::Retry around bounded POSTs.
#include "orca/jobs/alert_webhook.hpp"

#include <memory>
#include <stdexcept>
#include <system_error>

#include <nlohmann/json.hpp>

#include "orca/net/http/client.hpp"
#include "orca/resilience/retry.hpp"
#include "orca/trace/log.hpp"

namespace orca::jobs {

namespace {

// What the retry must not try again: an answer outside 2xx, 5xx and 429 (the receiver
// refused this request as it is), or a URL the client cannot use.
std::error_code refused() {
  return std::make_error_code(std::errc::protocol_error);
}

// What a log line may say of the URL: its scheme and authority. Webhook URLs often
// carry a token in their path or query (chat services' do), which logs must not.
std::string loggable(std::string_view url) {
  auto parsed = http::parse_url(url);
  if (!parsed) return "(not a URL)";
  return std::string(parsed->https ? "https://" : "http://").append(parsed->authority());
}

struct Webhook {
  Webhook(std::string u, AlertWebhookOptions o, resilience::RetryOptions r)
      : url(std::move(u)), shown(loggable(url)), options(o), retry(std::move(r)) {}
  std::string url;
  std::string shown;  // loggable(url)
  AlertWebhookOptions options;
  http::Client client;
  resilience::Retry retry;
};

// One attempt, bounded by the attempt timeout. A free coroutine owning its arguments:
// its frame refers to no lambda object (GCC PR 101367).
Task<Result<void>> post_once(std::shared_ptr<Webhook> hook, Context ctx, std::string key,
                             std::string body) {
  auto [bounded, stop] = with_timeout(ctx, hook->options.timeout);
  http::Request req;
  req.method = "POST";
  req.target = hook->url;
  req.body = std::move(body);
  req.headers.set("Content-Type", "application/json");
  req.headers.set("Idempotency-Key", std::move(key));
  Task<Result<http::Response>> posted = hook->client.request(bounded, std::move(req));
  Result<http::Response> r = co_await std::move(posted);
  stop();
  if (!r) {
    // The attempt's own deadline, not the caller's: worth another attempt.
    if (!ctx.err() && r.error() == make_error_code(orca::errc::deadline_exceeded))
      co_return std::make_error_code(std::errc::timed_out);
    co_return r.error();
  }
  if (r->status >= 200 && r->status < 300) co_return Result<void>{};
  if (r->status == 429) co_return http::make_error_code(http::errc::too_many_requests);
  if (r->status >= 500) co_return http::make_error_code(http::errc::server_error);
  co_return refused();
}

Task<void> post_summary(std::shared_ptr<Webhook> hook, Context ctx, std::string body) {
  // The report's name (orca-p99-UNIXMS) keys the request: the same summary sent again
  // by a retry is recognisable as such.
  std::string key = "orca-p99";
  if (auto parsed = nlohmann::json::parse(body, nullptr, false); parsed.is_object())
    key = parsed.value("report_name", key);
  auto attempt = [hook, key, body](Context c) { return post_once(hook, std::move(c), key, body); };
  Task<Result<void>> sent = hook->retry.call(ctx, attempt);
  Result<void> r = co_await std::move(sent);
  if (!r)
    trace::log(trace::LogLevel::kWarn, std::string("orca: alert webhook ")
                                           .append(hook->shown)
                                           .append(": not delivered: ")
                                           .append(r.error().message()));
}

}  // namespace

P99Notify alert_webhook(std::string url, AlertWebhookOptions options) {
  if (!http::parse_url(url))
    throw std::invalid_argument(
        "alert webhook: expected an http:// or https:// URL, e.g. http://127.0.0.1:9095/alerts");
  if (options.timeout.count() <= 0)
    throw std::invalid_argument("alert webhook: the timeout must be positive");
  if (options.max_attempts < 1 || options.max_attempts > 10)
    throw std::invalid_argument("alert webhook: max_attempts must be 1 to 10");
  resilience::RetryOptions ro;
  ro.max_attempts = options.max_attempts;
  ro.retryable = [](std::error_code e) {
    return e != refused() && e != http::make_error_code(http::errc::bad_url) &&
           e != make_error_code(orca::errc::canceled) &&
           e != make_error_code(orca::errc::deadline_exceeded);
  };
  auto hook = std::make_shared<Webhook>(std::move(url), options, std::move(ro));
  return [hook](Context ctx, std::string body) {
    return post_summary(hook, std::move(ctx), std::move(body));
  };
}

}  // namespace orca::jobs
