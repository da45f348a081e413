// A library to preload into another program (redis-server) that shifts its wall clock
// by ORCA_TEST_CLOCK_OFFSET_MS milliseconds (positive: ahead), through the two calls
// programs read it with. Tests use it to give a server a clock that disagrees with
// the test's machine. Monotonic clocks are left alone.
#include <dlfcn.h>
#include <sys/time.h>
#include <time.h>

#include <cstdlib>

namespace {

long long offset_us() {
  static const long long offset = [] {
    const char* v = std::getenv("ORCA_TEST_CLOCK_OFFSET_MS");
    return v == nullptr ? 0LL : std::atoll(v) * 1000;
  }();
  return offset;
}

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int clock_gettime(clockid_t id, struct timespec* ts) noexcept {
  using Fn = int (*)(clockid_t, struct timespec*);
  static const Fn next = real<Fn>("clock_gettime");
  const int r = next(id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
    long long ns = static_cast<long long>(ts->tv_nsec) + (offset_us() % 1'000'000) * 1000;
    long long s = static_cast<long long>(ts->tv_sec) + offset_us() / 1'000'000;
    if (ns >= 1'000'000'000) ns -= 1'000'000'000, ++s;
    if (ns < 0) ns += 1'000'000'000, --s;
    ts->tv_sec = static_cast<time_t>(s);
    ts->tv_nsec = static_cast<long>(ns);
  }
  return r;
}

extern "C" int gettimeofday(struct timeval* __restrict tv, void* __restrict tz) noexcept {
  using Fn = int (*)(struct timeval*, void*);
  static const Fn next = real<Fn>("gettimeofday");
  const int r = next(tv, tz);
  if (r == 0) {
    long long us = static_cast<long long>(tv->tv_sec) * 1'000'000 + tv->tv_usec + offset_us();
    tv->tv_sec = static_cast<time_t>(us / 1'000'000);
    tv->tv_usec = static_cast<suseconds_t>(us % 1'000'000);
  }
  return r;
}
