// KeyedBreakers (include/orca/resilience/keyed_breakers.hpp).
#include "orca/resilience/keyed_breakers.hpp"

#include <stdexcept>

namespace orca::resilience {

std::string validate(const KeyedBreakersOptions& options) {
  if (options.max_keys < 1) return "keyed breakers: max_keys is 0; it must be at least 1";
  return validate(options.breaker);
}

namespace {
const KeyedBreakersOptions& checked(const KeyedBreakersOptions& options) {
  if (std::string why = validate(options); !why.empty()) throw std::invalid_argument(why);
  return options;
}
}  // namespace

KeyedBreakers::KeyedBreakers(KeyedBreakersOptions options)
    : options_(checked(options)), map_(options_.max_keys, [this](std::string_view key) {
        CircuitBreakerOptions each = options_.breaker;
        each.name = std::string(key);
        return std::make_shared<CircuitBreaker>(std::move(each));
      }) {}

std::shared_ptr<CircuitBreaker> KeyedBreakers::get(std::string_view key) {
  return map_.get(key);
}

}  // namespace orca::resilience
