// ClientCore: a Client's pool, private to orca_redis (ClusterClient holds one per
// node).
//
// Each slot holds a live connection or nothing. One maintainer task per slot:
//   1. wait until the slot's connection breaks (its broken_context is done);
//   2. empty the slot, then dial again after Backoff::next(), until it succeeds or
//      the client is closed;
//   3. install the new connection (unless closed meanwhile: then close it) and go
//      back to 1.
// Callers pick a slot round robin and skip empty or broken ones; with none live
// they fail at once with connection_lost. close() sets closed_ under mu_, so a
// maintainer never installs a connection into a closed client.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "connection_core.hpp"
#include "orca/redis/client.hpp"

namespace orca::redis::detail {

class ClientCore : public std::enable_shared_from_this<ClientCore> {
 public:
  ClientCore(RedisUrl url, ClientOptions options);
  ~ClientCore();

  // Fills every slot (an error if any dial fails), then starts the maintainers.
  Task<Result<void>> open(Context ctx);

  Task<Result<Reply>> command(Context ctx, std::vector<std::string> args);
  Task<Result<std::vector<Reply>>> pipeline(Context ctx,
                                            std::vector<std::vector<std::string>> commands);
  // A live connection, or connection_lost / closed.
  Result<std::shared_ptr<ConnectionCore>> pick();

  std::size_t live() const noexcept;
  const RedisUrl& url() const noexcept { return url_; }
  void close() noexcept;
  Task<void> closed();

 private:
  Task<Result<std::shared_ptr<ConnectionCore>>> dial_one(Context ctx);
  Task<void> maintain(std::size_t slot);

  const RedisUrl url_;
  const ClientOptions options_;
  Context ctx_;  // cancelled by close(): stops backoff sleeps and dials
  CancelFunc cancel_;
  WaitGroup maintainers_;

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<ConnectionCore>> slots_;    // guarded by mu_
  std::vector<std::shared_ptr<ConnectionCore>> retired_;  // closed ones, for closed()
  bool closed_ = false;                                   // guarded by mu_
  bool started_ = false;                                  // guarded by mu_
  // Round-robin cursor. Relaxed: any interleaving spreads calls well enough.
  std::atomic<std::size_t> cursor_{0};
};

}  // namespace orca::redis::detail
