// The RESP layer, private to orca_redis: commands encoded with hiredis's
// redisFormatCommandArgv, replies decoded with hiredis's redisReader into Reply
// values, and the login exchange (AUTH, SELECT) on a fresh socket. Nothing here does
// I/O except dial/round_trip/read_reply, which go through net::TcpStream.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "orca/context/context.hpp"
#include "orca/net/stream.hpp"
#include "orca/net/tcp_stream.hpp"
#include "orca/redis/reply.hpp"
#include "orca/redis/url.hpp"
#include "orca/runtime/result.hpp"
#include "orca/runtime/task.hpp"

struct redisReader;

namespace orca::redis::detail {

// Appends the RESP encoding of one command (args[0] is its name) to `out`.
void append_command(std::string& out, const std::vector<std::string>& args);
// Encodes several commands back to back.
std::string encode_commands(const std::vector<std::vector<std::string>>& commands);

inline std::span<const std::byte> bytes_of(std::string_view s) noexcept {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// Incremental decoder over hiredis's redisReader: feed bytes as they arrive, take
// complete replies out. After a protocol error it stays failed. An array reply of
// more than 16,777,216 elements is a protocol error (its header alone would make
// hiredis allocate them all).
class ReplyDecoder {
 public:
  ReplyDecoder();
  ReplyDecoder(ReplyDecoder&& other) noexcept;
  ReplyDecoder& operator=(ReplyDecoder&& other) noexcept;
  ReplyDecoder(const ReplyDecoder&) = delete;
  ReplyDecoder& operator=(const ReplyDecoder&) = delete;
  ~ReplyDecoder();

  // errc::protocol_error if the decoder has failed.
  Result<void> feed(std::span<const std::byte> bytes);
  // The next complete reply; std::nullopt if more bytes are needed;
  // errc::protocol_error if the bytes are not RESP.
  Result<std::optional<Reply>> next();
  // hiredis's description of the protocol error, empty if none.
  std::string error_text() const;

 private:
  redisReader* reader_;
};

// A logged-in socket that nobody else uses yet.
struct Session {
  net::Stream stream;  // TCP, or TLS for rediss://
  ReplyDecoder decoder;
};

// Connects to `url` (TCP, then the TLS handshake for rediss://), then AUTH and
// SELECT as the URL asks. Errors as Connection::connect.
Task<Result<Session>> dial(Context ctx, RedisUrl url);
// Sends one command on a session nobody else uses and reads its reply.
Task<Result<Reply>> round_trip(Context ctx, Session* session, std::vector<std::string> args);
// Reads one reply; errc::connection_lost on EOF.
Task<Result<Reply>> read_reply(Context ctx, Session* session);

}  // namespace orca::redis::detail
