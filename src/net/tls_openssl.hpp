// Private helpers shared by the TLS sources: OpenSSL's thread-local error queue
// turned into std::error_code and text.
#pragma once

#include <openssl/err.h>

#include <string>
#include <system_error>

#include "orca/net/tls_error.hpp"

namespace orca::net::detail {

// The error for one packed OpenSSL code: a system error (fopen...) as its errno,
// the rest in tls_category(). Codes fit an int: OpenSSL 3 packs a library (8 bits)
// and a reason (23 bits); bit 31 marks system errors, handled first.
inline std::error_code tls_error_code(unsigned long e) noexcept {
  if (ERR_SYSTEM_ERROR(e)) return {static_cast<int>(ERR_GET_REASON(e)), std::system_category()};
  return {static_cast<int>(e & 0x7fffffffUL), tls_category()};
}

// Takes the oldest error off this thread's queue (the cause; later entries say
// where it surfaced) and clears the rest; `fallback` if the queue is empty.
inline std::error_code take_tls_error(std::error_code fallback) noexcept {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  return e == 0 ? fallback : tls_error_code(e);
}

}  // namespace orca::net::detail
