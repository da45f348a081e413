// Script: a Lua script run with EVALSHA, falling back to EVAL when the server does
// not know it.
//
//   static const orca::redis::Script kIncrBy(
//       "return redis.call('INCRBY', KEYS[1], ARGV[1])");
//   orca::Result<Reply> r = co_await kIncrBy.eval(ctx, client, {"counter"}, {"5"});
//
// The SHA1 of the source is computed once, locally, at construction. eval() sends
// EVALSHA; if the reply is NOSCRIPT (a fresh server, SCRIPT FLUSH, a restart that
// emptied the script cache) it sends EVAL with the source, which runs the script and
// caches it on the server, so the next EVALSHA hits. The fallback is safe to do
// automatically: a NOSCRIPT reply means the script did not run.
//
// Errors: as the client's command(); a script that raises an error comes back as a
// Reply with is_error(). Cancel safety: as command() (the script may or may not
// have run). Thread safety: a Script is immutable; eval may run from any number of
// tasks at once.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/redis/client.hpp"
#include "orca/redis/connection.hpp"
#include "orca/redis/reply.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

namespace orca::redis {

class ClusterClient;

class Script {
 public:
  explicit Script(std::string source);

  const std::string& source() const noexcept { return source_; }
  // Lower-case hex SHA1 of the source, as SCRIPT LOAD returns it.
  const std::string& sha1() const noexcept { return sha1_; }

  Task<Result<Reply>> eval(Context ctx, Client& client, std::vector<std::string> keys,
                           std::vector<std::string> args) const;
  Task<Result<Reply>> eval(Context ctx, Connection& connection, std::vector<std::string> keys,
                           std::vector<std::string> args) const;
  // Routed by keys[0] (all keys must hash to one slot: give them one {hash tag});
  // with no keys, to any master.
  Task<Result<Reply>> eval(Context ctx, ClusterClient& cluster, std::vector<std::string> keys,
                           std::vector<std::string> args) const;
  // Through any way of sending one command (called once, or twice on NOSCRIPT).
  using Send = std::function<Task<Result<Reply>>(Context, std::vector<std::string>)>;
  Task<Result<Reply>> eval(Context ctx, Send send, std::vector<std::string> keys,
                           std::vector<std::string> args) const;

  // The EVALSHA (or, with use_source, EVAL) command for these keys and args.
  std::vector<std::string> command(const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args, bool use_source) const;

 private:
  std::string source_;
  std::string sha1_;
};

// Lower-case hex SHA1 of `data` (FIPS 180-4), as Redis names scripts.
std::string sha1_hex(std::string_view data);

}  // namespace orca::redis
