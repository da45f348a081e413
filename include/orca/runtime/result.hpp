// Result<T>: a value or an error (std::error_code), as Go returns (v, err).
//
//   orca::Result<int> r = co_await ch.recv(ctx);
//   if (!r) return r.error();      // canceled, deadline_exceeded, closed...
//   use(*r);
//
// value() on an error throws std::system_error carrying the error: the checked
// way to escalate an error that should not happen.
#pragma once

#include <cassert>
#include <optional>
#include <system_error>
#include <utility>

#include "orca/runtime/error.hpp"

namespace orca {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit, like a return value
  Result(std::error_code error) : error_(error) { assert(error); }  // NOLINT
  Result(errc error) : error_(make_error_code(error)) {}            // NOLINT

  bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return error_; }

  T& value() & {
    if (!value_) throw std::system_error(error_);
    return *value_;
  }
  T&& value() && {
    if (!value_) throw std::system_error(error_);
    return std::move(*value_);
  }
  T& operator*() & noexcept { return *value_; }
  T&& operator*() && noexcept { return std::move(*value_); }
  T* operator->() noexcept { return &*value_; }
  const T* operator->() const noexcept { return &*value_; }

 private:
  std::optional<T> value_;
  std::error_code error_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() noexcept = default;
  Result(std::error_code error) noexcept : error_(error) {}        // NOLINT
  Result(errc error) noexcept : error_(make_error_code(error)) {}  // NOLINT

  bool has_value() const noexcept { return !error_; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return error_; }
  void value() const {
    if (error_) throw std::system_error(error_);
  }

 private:
  std::error_code error_;
};

}  // namespace orca
