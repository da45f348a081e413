// Script: EVALSHA first, EVAL on NOSCRIPT, over any of the three clients.
#include "orca/redis/script.hpp"

#include <functional>
#include <utility>

#include "orca/redis/cluster.hpp"

namespace orca::redis {
namespace {

using Send = Script::Send;

Task<Result<Reply>> eval_via(Context ctx, Send send, const Script* script,
                             std::vector<std::string> keys, std::vector<std::string> args) {
  Task<Result<Reply>> by_sha = send(ctx, script->command(keys, args, false));
  Result<Reply> r = co_await std::move(by_sha);
  if (!r || !r->is_error_kind("NOSCRIPT")) co_return r;
  // NOSCRIPT: the script did not run. EVAL runs it and caches it on the server.
  Task<Result<Reply>> by_source = send(ctx, script->command(keys, args, true));
  co_return co_await std::move(by_source);
}

}  // namespace

Script::Script(std::string source) : source_(std::move(source)), sha1_(sha1_hex(source_)) {}

std::vector<std::string> Script::command(const std::vector<std::string>& keys,
                                         const std::vector<std::string>& args,
                                         bool use_source) const {
  std::vector<std::string> out;
  out.reserve(3 + keys.size() + args.size());
  out.emplace_back(use_source ? "EVAL" : "EVALSHA");
  out.push_back(use_source ? source_ : sha1_);
  out.push_back(std::to_string(keys.size()));
  out.insert(out.end(), keys.begin(), keys.end());
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

Task<Result<Reply>> Script::eval(Context ctx, Send send, std::vector<std::string> keys,
                                 std::vector<std::string> args) const {
  Task<Result<Reply>> run =
      eval_via(std::move(ctx), std::move(send), this, std::move(keys), std::move(args));
  co_return co_await std::move(run);
}

Task<Result<Reply>> Script::eval(Context ctx, Client& client, std::vector<std::string> keys,
                                 std::vector<std::string> args) const {
  Send send = [&client](Context c, std::vector<std::string> a) {
    return client.command(std::move(c), std::move(a));
  };
  Task<Result<Reply>> run =
      eval_via(std::move(ctx), std::move(send), this, std::move(keys), std::move(args));
  co_return co_await std::move(run);
}

Task<Result<Reply>> Script::eval(Context ctx, Connection& connection, std::vector<std::string> keys,
                                 std::vector<std::string> args) const {
  Send send = [&connection](Context c, std::vector<std::string> a) {
    return connection.command(std::move(c), std::move(a));
  };
  Task<Result<Reply>> run =
      eval_via(std::move(ctx), std::move(send), this, std::move(keys), std::move(args));
  co_return co_await std::move(run);
}

Task<Result<Reply>> Script::eval(Context ctx, ClusterClient& cluster, std::vector<std::string> keys,
                                 std::vector<std::string> args) const {
  std::string route = keys.empty() ? std::string() : keys.front();
  Send send = [&cluster, route](Context c, std::vector<std::string> a) {
    return cluster.command(std::move(c), route, std::move(a));
  };
  Task<Result<Reply>> run =
      eval_via(std::move(ctx), std::move(send), this, std::move(keys), std::move(args));
  co_return co_await std::move(run);
}

}  // namespace orca::redis
