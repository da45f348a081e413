// The job model's plain functions: state names, backoff, spec checks, error category.
#include "orca/jobs/job.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "orca/jobs/broker.hpp"
#include "orca/jobs/errors.hpp"
#include "orca/resilience/limiter.hpp"

namespace orca::jobs {

namespace {

constexpr std::string_view kStateNames[] = {"pending", "scheduled", "retrying",
                                            "leased",  "running",   "succeeded",
                                            "failed",  "cancelled", "dead"};

class JobsCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "orca.jobs"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::invalid_job:
        return "invalid job";
      case errc::not_found:
        return "no such job";
      case errc::lease_lost:
        return "the node no longer holds the job's lease";
      case errc::invalid_state:
        return "not allowed in the job's current state";
      case errc::not_supported:
        return "not supported";
      case errc::broker_failure:
        return "broker failure";
      case errc::permanent:
        return "permanent failure";
      case errc::bad_schedule:
        return "bad schedule";
      case errc::shutting_down:
        return "shutting down";
    }
    return "unknown orca.jobs error";
  }
};

bool is_name(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
  });
}

}  // namespace

const std::error_category& error_category() noexcept {
  static const JobsCategory category;
  return category;
}

std::string_view to_string(JobState s) noexcept {
  const auto i = static_cast<std::size_t>(s);
  return i < std::size(kStateNames) ? kStateNames[i] : "unknown";
}

std::optional<JobState> parse_job_state(std::string_view name) noexcept {
  for (std::size_t i = 0; i < std::size(kStateNames); ++i)
    if (kStateNames[i] == name) return static_cast<JobState>(i);
  return std::nullopt;
}

std::string_view to_string(NodeState s) noexcept {
  switch (s) {
    case NodeState::kAlive:
      return "alive";
    case NodeState::kLeft:
      return "left";
    case NodeState::kDead:
      return "dead";
  }
  return "unknown";
}

std::chrono::milliseconds RetryPolicy::delay_after(int attempt, double random01) const noexcept {
  const double exponent = std::max(0, attempt - 1);
  double ms =
      static_cast<double>(base_delay.count()) * std::pow(std::max(1.0, multiplier), exponent);
  ms = std::min(ms, static_cast<double>(max_delay.count()));
  const double spread = std::clamp(jitter, 0.0, 1.0);
  ms *= 1.0 + spread * (2.0 * std::clamp(random01, 0.0, 1.0) - 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(0.0, ms)));
}

std::string check_queue_name(std::string_view queue, const JobLimits& limits) {
  if (is_name(queue, limits.max_queue_bytes)) return {};
  std::string why = "queue must be 1.." + std::to_string(limits.max_queue_bytes);
  why.append(" characters of [A-Za-z0-9_.:-], got \"").append(queue.substr(0, 200)).append("\"");
  return why;
}

std::string check_delete_finished(std::string_view queue, std::optional<JobState> state,
                                  const JobLimits& limits) {
  if (std::string why = check_queue_name(queue, limits); !why.empty()) return why;
  if (state && is_live(*state))
    return std::string("delete_finished: ")
        .append(to_string(*state))
        .append(" is not a finished state");
  return {};
}

std::string check_job_spec(const JobSpec& spec, const JobLimits& limits) {
  if (!is_name(spec.type, limits.max_type_bytes))
    return "type must be 1.." + std::to_string(limits.max_type_bytes) +
           " characters of [A-Za-z0-9_.:-], got \"" + spec.type.substr(0, 200) + "\"";
  if (std::string why = check_queue_name(spec.queue, limits); !why.empty()) return why;
  if (spec.payload.size() > limits.max_payload_bytes)
    return "payload is " + std::to_string(spec.payload.size()) + " bytes, the limit is " +
           std::to_string(limits.max_payload_bytes);
  if (spec.unique_key.size() > limits.max_unique_key_bytes)
    return "unique key is " + std::to_string(spec.unique_key.size()) + " bytes, the limit is " +
           std::to_string(limits.max_unique_key_bytes);
  if (spec.headers.size() > limits.max_headers)
    return "too many headers: " + std::to_string(spec.headers.size()) + ", the limit is " +
           std::to_string(limits.max_headers);
  const RetryPolicy& r = spec.retry;
  if (r.max_attempts < 1 || r.max_attempts > limits.max_attempts)
    return "max_attempts must be 1.." + std::to_string(limits.max_attempts) + ", got " +
           std::to_string(r.max_attempts);
  if (r.base_delay.count() < 0 || r.max_delay.count() < 0)
    return "backoff delays must not be negative";
  if (!(r.multiplier >= 1.0 && r.multiplier <= 100.0))
    return "backoff multiplier must be in 1..100";
  if (!(r.jitter >= 0.0 && r.jitter <= 1.0)) return "jitter must be in 0..1";
  if (spec.timeout.count() < 0) return "timeout must not be negative";
  if (spec.priority < -1000000 || spec.priority > 1000000)
    return "priority must be in -1000000..1000000";
  return {};
}

std::set<std::string> live_types(const std::vector<NodeInfo>& nodes) {
  std::set<std::string> types;
  for (const NodeInfo& n : nodes)
    if (n.state == NodeState::kAlive) types.insert(n.types.begin(), n.types.end());
  return types;
}

bool holds_back(const NodeInfo& node, std::string_view type) {
  for (const std::string& tag : node.tags)
    if (tag.size() == kBreakerOpenTag.size() + type.size() && tag.starts_with(kBreakerOpenTag) &&
        std::string_view(tag).substr(kBreakerOpenTag.size()) == type)
      return true;
  return false;
}

std::unique_ptr<resilience::Limiter> Broker::shared_rate_limiter(
    const resilience::RateLimiterOptions&) {
  return nullptr;
}

Task<Result<void>> Broker::watch(Context, BrokerEvents) {
  co_return make_error_code(errc::not_supported);
}

Task<Result<EnqueueResult>> Broker::enqueue_one(Context ctx, JobSpec spec) {
  std::vector<JobSpec> specs;
  specs.push_back(std::move(spec));
  auto r = co_await enqueue(std::move(ctx), std::move(specs));
  if (!r) co_return r.error();
  co_return r->front();
}

}  // namespace orca::jobs
