// orca::redis's error category.
#include "orca/redis/error.hpp"

#include <string>

namespace orca::redis {
namespace {

class RedisCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "orca.redis"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::invalid_url:
        return "invalid Redis URL (want redis://[user:password@]host[:port][/db])";
      case errc::connection_lost:
        return "connection to Redis lost (or not re-established yet)";
      case errc::protocol_error:
        return "Redis protocol error: the server sent bytes that are not RESP";
      case errc::server_error:
        return "Redis replied with an error";
      case errc::auth_failed:
        return "Redis refused AUTH: wrong user or password";
      case errc::unexpected_reply:
        return "unexpected Redis reply type";
      case errc::closed:
        return "Redis connection closed by its owner";
      case errc::too_many_redirects:
        return "Redis Cluster: too many MOVED/ASK redirections";
      case errc::slot_not_covered:
        return "Redis Cluster: no known master serves the key's hash slot";
      case errc::lock_not_held:
        return "the Redis lock's lease is no longer held on a majority of its servers";
    }
    return "unknown orca.redis error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const RedisCategory category;
  return category;
}

}  // namespace orca::redis
