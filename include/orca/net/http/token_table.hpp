// TokenTable: the bearer tokens an HTTP service accepts, each with a role and a name,
// kept only as SHA-256 hashes. Invariant: no plaintext token outlives parse(); a
// lookup hashes the presented token and compares it with every entry in constant
// time (CRYPTO_memcmp), so neither the table nor the timing gives a token away.
//
//   auto table = orca::http::TokenTable::load_file("/etc/orca/api-tokens");  // mode 0600
//   if (auto who = table.find(presented)) ... who->name, who->role ...
//
// The text format, one token per line (a file, or ORCA_API_TOKENS with ';' or
// newlines between entries):
//
//   # comment
//   admin  4f9c1e0b7a2d43e5b8a1c6d9e2f3a4b5  ops
//   read   a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6  grafana
//
// ROLE is `read` or `admin`; TOKEN is 16 to 512 characters of RFC 6750's token68
// alphabet (letters, digits, -._~+/ and trailing '='); NAME (optional, at most 64
// characters of letters, digits and -._@:) names the caller in audit trails, by
// default ROLE-N (N the entry's number, from 1). Tokens and names must be unique.
//
// Thread safety: immutable after construction; find() from any number of threads.
// Errors: parse and load_file throw std::invalid_argument whose message names the
// line (never the token); load_file refuses a file that group or others can read
// or write, as ssh refuses such a private key.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orca::http {

// admin includes read.
enum class Role { kRead = 1, kAdmin = 2 };
std::string_view to_string(Role role) noexcept;

// Who a request was made by: the name of the token it presented and its role.
struct Principal {
  std::string name;
  Role role = Role::kRead;
  bool may(Role needed) const noexcept {
    return static_cast<int>(role) >= static_cast<int>(needed);
  }
};

class TokenTable {
 public:
  TokenTable() = default;

  // Parses entries (format above). `origin` names the source in errors
  // ("ORCA_API_TOKENS", a path). Entries accumulate: parse a file and the
  // environment into one table. On an error nothing is added.
  void parse(std::string_view text, std::string_view origin);
  // Reads and parses a file, refusing one with any permission bit for group or
  // others set, or that is not a regular file.
  void load_file(const std::string& path);

  // The principal whose token this is, or nothing. Takes the same time whichever
  // entry matches, or none.
  std::optional<Principal> find(std::string_view token) const;

  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    std::array<unsigned char, 32> hash;
    Principal principal;
  };
  std::vector<Entry> entries_;
};

}  // namespace orca::http
