// Headers: the header fields of an HTTP message, in arrival order, looked up by
// name case-insensitively (RFC 9110 §5.1), as Go's http.Header.
//
//   req.headers.get("content-type")   // "application/json" if sent as Content-Type
//   resp.headers.set("Cache-Control", "no-store");
//
// Names keep the spelling they were given; repeated fields keep every value (get
// returns the first, get_all all of them). A small vector, not a map: requests
// carry a handful of fields, and a linear scan over them beats hashing.
//
// Thread safety: a plain value type; concurrent reads are safe, writes are not.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orca::http {

// ASCII case-insensitive equality, for header names and tokens.
bool iequals(std::string_view a, std::string_view b) noexcept;

class Headers {
 public:
  using Field = std::pair<std::string, std::string>;

  // The first value of `name`, or nothing.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  // Every value of `name`, in arrival order.
  std::vector<std::string_view> get_all(std::string_view name) const;
  bool contains(std::string_view name) const noexcept { return get(name).has_value(); }
  // Replaces every field called `name` with one.
  void set(std::string name, std::string value);
  // Appends a field, keeping the ones already there (Set-Cookie, Vary...).
  void add(std::string name, std::string value);
  // Removes every field called `name`; returns how many there were.
  std::size_t remove(std::string_view name);
  // True if a comma-separated field (Connection, Transfer-Encoding) lists `token`.
  bool has_token(std::string_view name, std::string_view token) const noexcept;

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  void clear() noexcept { fields_.clear(); }
  auto begin() const noexcept { return fields_.begin(); }
  auto end() const noexcept { return fields_.end(); }

 private:
  std::vector<Field> fields_;
};

}  // namespace orca::http
