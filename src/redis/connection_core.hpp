// ConnectionCore: the shared state of one pipelined Redis connection, private to
// orca_redis (Client and ClusterClient use it directly).
//
// Invariants:
//  - Every submitted Request is completed exactly once: with its replies, or with
//    the connection's error. It lives in exactly one place at a time: the queue
//    (callers -> writer), the writer's batch, or `inflight_` (writer -> reader).
//  - `inflight_` holds requests in the order their bytes were written, so the
//    reader matches replies to them in FIFO order. The writer appends a batch to
//    `inflight_` before writing it, so a reply never arrives for a request the
//    reader cannot see.
//  - Once broken_ is set (under mu_), nothing is added to `inflight_` again.
//
// Failure protocol (fail(), first caller wins; later calls do nothing):
//   1. Under mu_: record the error, set broken_, take `inflight_`.
//   2. Close the queue: later sends fail at once; values already queued are still
//      received by the writer, which completes them with the error.
//   3. Cancel the I/O context and close the socket: the reader and writer wake.
//   4. Complete the taken in-flight requests with the error.
// The queue is closed before the context is cancelled, so a writer woken by the
// cancel already sees a closed queue when it drains it: nothing enqueued can be
// missed.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/redis/connection.hpp"
#include "orca/sync/channel.hpp"
#include "orca/sync/wait_group.hpp"
#include "wire.hpp"

namespace orca::redis::detail {

// One call: the encoded commands and where their replies go.
struct Request {
  Request(std::string w, std::size_t n) : wire(std::move(w)), replies(n) {}
  std::string wire;
  std::size_t replies;     // replies expected
  std::vector<Reply> got;  // filled by the reader before it signals `done`
  // The outcome: an empty error for success (then `got` holds every reply), else the
  // connection's error. A channel of the error alone, not of the replies: sending
  // the channel value publishes `got` too (the channel's lock orders the reader's
  // writes before the caller's reads), and GCC 12 warns falsely (-Wmaybe-
  // uninitialized) on a channel of Result<std::vector<Reply>>.
  struct Outcome {
    std::error_code error;
  };
  Channel<Outcome> done{1};
  // Set by a caller that gave up (its context ended): the writer skips the request
  // if it has not been written yet. Relaxed: a stale read only means the command is
  // sent anyway, which is also correct.
  std::atomic<bool> abandoned{false};
};

class ConnectionCore : public std::enable_shared_from_this<ConnectionCore> {
 public:
  ConnectionCore(Session session, ConnectionOptions options);
  ConnectionCore(const ConnectionCore&) = delete;
  ConnectionCore& operator=(const ConnectionCore&) = delete;
  ~ConnectionCore();

  // Starts the reader and writer tasks. Once, right after construction.
  void start();

  // Queues `wire` (holding `replies` commands) and waits for their replies.
  Task<Result<std::vector<Reply>>> submit(Context ctx, std::string wire, std::size_t replies);
  // One command.
  Task<Result<Reply>> command(Context ctx, std::vector<std::string> args);
  Task<Result<std::vector<Reply>>> pipeline(Context ctx,
                                            std::vector<std::vector<std::string>> commands);

  bool broken() const noexcept { return broken_.load(std::memory_order_acquire); }
  std::error_code error() const;
  Context broken_context() const { return io_ctx_; }

  // See the failure protocol above.
  void fail(std::error_code why) noexcept;
  // Waits until the reader and writer tasks have finished (after fail()).
  Task<void> stopped();

 private:
  Task<void> write_loop();
  Task<void> read_loop();
  // The error for a call made after the connection broke.
  std::error_code later_error() const;

  ConnectionOptions options_;
  net::Stream stream_;
  ReplyDecoder decoder_;  // the reader task's alone
  Channel<std::shared_ptr<Request>> queue_;
  Context io_ctx_;
  CancelFunc cancel_io_;
  WaitGroup tasks_;

  mutable std::mutex mu_;
  std::deque<std::shared_ptr<Request>> inflight_;  // guarded by mu_
  std::error_code error_;                          // guarded by mu_
  // Also set under mu_; read without it as a fast path. Release/acquire: a reader
  // that sees true may read error_ under mu_ and find it set.
  std::atomic<bool> broken_{false};
};

}  // namespace orca::redis::detail
