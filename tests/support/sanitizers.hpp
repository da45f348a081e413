// kSanitized: whether this test program is built with AddressSanitizer or
// ThreadSanitizer. Tests scale their big loops down under a sanitizer: they check the
// same property, only slower. GCC says so through __SANITIZE_*__; Clang 14 only
// through __has_feature.
#pragma once

namespace orca_test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace orca_test
