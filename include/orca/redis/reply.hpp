// Reply: one RESP2 reply as an owning value: nil, status ("+OK"), error
// ("-ERR ..."), integer, bulk string, or array of replies (nested to any depth the
// decoder allows).
//
//   orca::Result<Reply> r = co_await client.command(ctx, {"INCR", "hits"});
//   if (!r) return r.error();              // transport, context, connection_lost...
//   if (r->is_error()) log(r->str());      // the server said -ERR ...
//   orca::Result<long long> n = r->as_int();
//
// Thread safety: a value type (copy, move, compare).
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "orca/redis/error.hpp"
#include "orca/runtime/result.hpp"

namespace orca::redis {

class Reply {
 public:
  enum class Type { nil, status, error, integer, string, array };

  // A nil reply.
  Reply() noexcept = default;
  static Reply nil() { return Reply(); }
  static Reply status(std::string text) { return Reply(Type::status, std::move(text)); }
  static Reply error(std::string text) { return Reply(Type::error, std::move(text)); }
  static Reply integer(long long value) {
    Reply r;
    r.type_ = Type::integer;
    r.integer_ = value;
    return r;
  }
  static Reply string(std::string bytes) { return Reply(Type::string, std::move(bytes)); }
  static Reply array(std::vector<Reply> elements) {
    Reply r;
    r.type_ = Type::array;
    r.elements_ = std::move(elements);
    return r;
  }

  Type type() const noexcept { return type_; }
  bool is_nil() const noexcept { return type_ == Type::nil; }
  bool is_status() const noexcept { return type_ == Type::status; }
  bool is_error() const noexcept { return type_ == Type::error; }
  bool is_integer() const noexcept { return type_ == Type::integer; }
  bool is_string() const noexcept { return type_ == Type::string; }
  bool is_array() const noexcept { return type_ == Type::array; }

  // The text of a status, error or bulk string reply; empty for the other types.
  const std::string& str() const noexcept { return text_; }
  // The value of an integer reply; 0 for the other types.
  long long integer() const noexcept { return integer_; }
  // The elements of an array reply; empty for the other types.
  const std::vector<Reply>& elements() const noexcept { return elements_; }
  std::vector<Reply>& elements() noexcept { return elements_; }
  std::size_t size() const noexcept { return elements_.size(); }
  const Reply& operator[](std::size_t i) const { return elements_.at(i); }

  // Checked conversions. An error reply gives errc::server_error, a reply of
  // another type errc::unexpected_reply.
  //  - as_int: an integer, or a bulk/status string holding a decimal integer;
  //  - as_string: a bulk string or a status (nil is unexpected_reply: test is_nil());
  //  - as_optional_string: as as_string, and nil gives std::nullopt (GET's "no key").
  Result<long long> as_int() const;
  Result<std::string> as_string() const;
  Result<std::optional<std::string>> as_optional_string() const;
  // True for a status reply reading "OK" (SET, SELECT...).
  bool is_ok() const noexcept { return type_ == Type::status && text_ == "OK"; }
  // For error replies: whether the message starts with `prefix` as its first word
  // ("NOSCRIPT", "MOVED", "WRONGTYPE").
  bool is_error_kind(std::string_view prefix) const noexcept;

  // redis-cli's rendering: (nil), OK, (error) ERR ..., (integer) 1, "bytes",
  // arrays as 1) ... one element a line, for logs and test failures.
  std::string to_string() const;

  friend bool operator==(const Reply&, const Reply&) = default;

 private:
  Reply(Type type, std::string text) noexcept : type_(type), text_(std::move(text)) {}

  Type type_ = Type::nil;
  long long integer_ = 0;
  std::string text_;
  std::vector<Reply> elements_;
};

// gtest and logs print a Reply as to_string().
std::ostream& operator<<(std::ostream& out, const Reply& reply);

}  // namespace orca::redis
