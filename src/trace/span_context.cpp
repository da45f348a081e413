// TraceId, SpanId and the traceparent header (span_context.hpp); random ids from a
// per-thread generator.
#include "orca/trace/span_context.hpp"

#include <chrono>
#include <random>
#include <thread>

namespace orca::trace {

namespace {

const ContextKey<SpanContext> kSpanContext{"orca.trace.span"};

constexpr char kHex[] = "0123456789abcdef";

// Lower-case hex only: W3C refuses upper case in traceparent.
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

template <std::size_t N>
bool parse_hex(std::string_view text, std::array<std::uint8_t, N>& out) noexcept {
  if (text.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <std::size_t N>
std::string to_hex(const std::array<std::uint8_t, N>& bytes) {
  std::string out(2 * N, '0');
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return out;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) noexcept {
  for (std::uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

// splitmix64 over a per-thread state seeded once from the OS: ids need to be unique,
// not secret, and a generator per thread costs no lock. Not inlined, so that no
// caller caches the thread-local's address across a suspension (STYLE.md, LLVM 47179).
[[gnu::noinline]] std::uint64_t next_random() noexcept {
  thread_local std::uint64_t state = [] {
    std::uint64_t seed = 0;
    try {
      std::random_device rd;
      seed = (std::uint64_t{rd()} << 32) ^ rd();
    } catch (...) {
      // No entropy source: the clock and the thread still make threads differ.
    }
    seed ^= static_cast<std::uint64_t>(
        std::chrono::high_resolution_clock::now().time_since_epoch().count());
    seed ^= std::hash<std::thread::id>()(std::this_thread::get_id()) << 1;
    return seed;
  }();
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <std::size_t N>
void fill_random(std::array<std::uint8_t, N>& bytes) noexcept {
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      std::uint64_t r = next_random();
      for (std::size_t j = i; j < i + 8 && j < N; ++j, r >>= 8)
        bytes[j] = static_cast<std::uint8_t>(r);
    }
  } while (all_zero(bytes));
}

}  // namespace

bool TraceId::valid() const noexcept {
  return !all_zero(bytes);
}
std::string TraceId::hex() const {
  return to_hex(bytes);
}
std::optional<TraceId> TraceId::from_hex(std::string_view text) noexcept {
  TraceId id;
  if (!parse_hex(text, id.bytes) || !id.valid()) return std::nullopt;
  return id;
}
TraceId TraceId::random() noexcept {
  TraceId id;
  fill_random(id.bytes);
  return id;
}

bool SpanId::valid() const noexcept {
  return !all_zero(bytes);
}
std::string SpanId::hex() const {
  return to_hex(bytes);
}
std::optional<SpanId> SpanId::from_hex(std::string_view text) noexcept {
  SpanId id;
  if (!parse_hex(text, id.bytes) || !id.valid()) return std::nullopt;
  return id;
}
SpanId SpanId::random() noexcept {
  SpanId id;
  fill_random(id.bytes);
  return id;
}

// W3C Trace Context, "traceparent Header Field Values":
//   version "-" trace-id "-" parent-id "-" trace-flags, 2+32+16+2 hex digits.
// Version 00 is exactly that; a higher version (not ff) may append "-..." fields,
// which are ignored; ff is invalid.
std::optional<SpanContext> parse_traceparent(std::string_view h) noexcept {
  constexpr std::size_t kLength = 55;
  if (h.size() < kLength) return std::nullopt;
  const int v_hi = hex_value(h[0]);
  const int v_lo = hex_value(h[1]);
  if (v_hi < 0 || v_lo < 0) return std::nullopt;
  const int version = v_hi << 4 | v_lo;
  if (version == 0xff) return std::nullopt;
  if (version == 0 && h.size() != kLength) return std::nullopt;
  if (h.size() > kLength && h[kLength] != '-') return std::nullopt;
  if (h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  SpanContext sc;
  if (!parse_hex(h.substr(3, 32), sc.trace_id.bytes) || !sc.trace_id.valid()) return std::nullopt;
  if (!parse_hex(h.substr(36, 16), sc.span_id.bytes) || !sc.span_id.valid()) return std::nullopt;
  std::array<std::uint8_t, 1> flags{};
  if (!parse_hex(h.substr(53, 2), flags)) return std::nullopt;
  // Version 00 defines bit 0 only; the others are passed on as zero.
  sc.flags = static_cast<std::uint8_t>(flags[0] & 1);
  return sc;
}

std::string format_traceparent(const SpanContext& sc) {
  std::string out;
  out.reserve(55);
  out.append("00-").append(sc.trace_id.hex()).append("-").append(sc.span_id.hex());
  out.append(sc.sampled() ? "-01" : "-00");
  return out;
}

std::string sanitize_tracestate(std::string_view header) {
  constexpr std::size_t kMax = 512;
  if (header.size() > kMax) return {};
  for (char c : header)
    if (c < 0x20 || c > 0x7e) return {};
  return std::string(header);
}

Context with_span_context(const Context& parent, SpanContext sc) {
  return with_value(parent, kSpanContext, std::move(sc));
}

const SpanContext* span_context_of(const Context& ctx) noexcept {
  return ctx.value(kSpanContext);
}

}  // namespace orca::trace
