// Fuzz target: the RESP reply decoder (src/redis/wire.hpp, hiredis's redisReader
// under orca's ReplyDecoder). Properties: the bytes fed in one piece and fed in
// small pieces (sizes chosen by the first byte) give the same replies and the same
// failure; every reply renders (to_string) and, encoded back to RESP (where RESP2
// can carry it: status and error text without CR or LF), decodes to itself.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "orca/redis/reply.hpp"
#include "wire.hpp"

namespace {

using orca::redis::Reply;
using orca::redis::detail::bytes_of;
using orca::redis::detail::ReplyDecoder;

struct Outcome {
  std::vector<Reply> replies;
  bool failed = false;
};

// Feeds `bytes` in pieces of `piece` bytes (0: all at once), taking replies out
// after each piece, as Connection does after each read.
Outcome decode(std::string_view bytes, std::size_t piece) {
  Outcome o;
  ReplyDecoder decoder;
  if (piece == 0) piece = bytes.size() + 1;
  for (std::size_t at = 0; at < bytes.size() && !o.failed; at += piece) {
    if (!decoder.feed(bytes_of(bytes.substr(at, piece)))) {
      o.failed = true;
      break;
    }
    for (;;) {
      auto next = decoder.next();
      if (!next) {
        o.failed = true;
        FUZZ_CHECK(!decoder.error_text().empty());
        break;
      }
      if (!next->has_value()) break;
      o.replies.push_back(std::move(**next));
    }
  }
  return o;
}

// RESP2 for `r`; false if RESP2 cannot carry it (CR or LF in a status or error).
bool encode(const Reply& r, std::string& out) {
  switch (r.type()) {
    case Reply::Type::nil:
      out += "$-1\r\n";
      return true;
    case Reply::Type::status:
    case Reply::Type::error:
      if (r.str().find_first_of("\r\n") != std::string::npos) return false;
      out += r.is_status() ? '+' : '-';
      out += r.str();
      out += "\r\n";
      return true;
    case Reply::Type::integer:
      out += ':';
      out += std::to_string(r.integer());
      out += "\r\n";
      return true;
    case Reply::Type::string:
      out += '$';
      out += std::to_string(r.str().size());
      out += "\r\n";
      out += r.str();
      out += "\r\n";
      return true;
    case Reply::Type::array:
      out += '*';
      out += std::to_string(r.size());
      out += "\r\n";
      for (const Reply& e : r.elements())
        if (!encode(e, out)) return false;
      return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 16;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const Outcome whole = decode(bytes, 0);
  const Outcome split = decode(bytes, piece);
  FUZZ_CHECK(whole.failed == split.failed);
  FUZZ_CHECK(whole.replies == split.replies, "%zu replies in one piece, %zu in pieces of %zu",
             whole.replies.size(), split.replies.size(), piece);
  for (const Reply& r : whole.replies) {
    (void)r.to_string();
    std::string wire;
    if (!encode(r, wire)) continue;
    const Outcome back = decode(wire, 0);
    FUZZ_CHECK(!back.failed && back.replies.size() == 1 && back.replies[0] == r,
               "a reply re-encoded as %s does not decode to itself", wire.c_str());
  }
  return 0;
}
