// The "orca.resilience" error category.
#include "orca/resilience/errors.hpp"

#include <string>

namespace orca::resilience {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "orca.resilience"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::circuit_open:
        return "circuit breaker open";
      case errc::rate_limited:
        return "rate limited";
      case errc::bulkhead_full:
        return "bulkhead full";
      case errc::queue_timeout:
        return "bulkhead queue timeout";
      case errc::limit_exceeded:
        return "concurrency limit exceeded";
      case errc::too_large:
        return "request larger than the limiter's burst";
    }
    return "unknown resilience error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

bool is_rejection(std::error_code error) noexcept {
  if (error.category() != error_category()) return false;
  switch (static_cast<errc>(error.value())) {
    case errc::circuit_open:
    case errc::rate_limited:
    case errc::bulkhead_full:
    case errc::queue_timeout:
    case errc::limit_exceeded:
      return true;
    default:
      return false;
  }
}

}  // namespace orca::resilience

// Fallback reasons (include/orca/resilience/fallback.hpp) live with the errors they
// classify.
#include "orca/resilience/fallback.hpp"

namespace orca::resilience {

const char* to_string(FallbackReason reason) noexcept {
  switch (reason) {
    case FallbackReason::kNone:
      return "none";
    case FallbackReason::kFailure:
      return "failure";
    case FallbackReason::kCircuitOpen:
      return "circuit_open";
    case FallbackReason::kRejected:
      return "rejected";
  }
  return "?";
}

FallbackReason fallback_reason(std::error_code error) noexcept {
  if (!error) return FallbackReason::kNone;
  if (error == make_error_code(errc::circuit_open)) return FallbackReason::kCircuitOpen;
  if (is_rejection(error)) return FallbackReason::kRejected;
  return FallbackReason::kFailure;
}

}  // namespace orca::resilience
