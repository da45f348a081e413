// Schedule perturbation (perturb.hpp): what a named point does once
// ORCA_PERTURB_SEED turns the points on. Built only with ORCA_SCHEDULE_PERTURBATION.
//
// Each thread draws from its own generator, seeded from the process's seed and the
// order in which threads first reached a point (so no thread waits on another for
// a number). At a point the thread first decides whether to act, with a
// probability that the seed picks per point (so that each seed stresses some
// steps more than others, as a randomized scheduler would), then how: almost
// always a spin of up to about ten microseconds, rarely a yield or a sleep.
#include "orca/runtime/detail/perturb.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "orca/runtime/detail/wait_node.hpp"

namespace orca::detail {
namespace {

struct Config {
  bool enabled = false;
  std::uint64_t seed = 0;
  std::vector<std::string> prefixes;  // ORCA_PERTURB_POINTS; empty: every point
};

Config read_config() {
  Config c;
  const char* seed = std::getenv("ORCA_PERTURB_SEED");
  if (seed == nullptr || *seed == '\0') return c;
  c.enabled = true;
  if (std::strcmp(seed, "random") == 0) {
    // 32 bits: short enough to copy from a log, plenty for a test run.
    c.seed = std::random_device{}();
  } else {
    const char* end = seed + std::strlen(seed);
    const auto [ptr, ec] = std::from_chars(seed, end, c.seed);
    if (ec != std::errc{} || ptr != end) {
      // A typo must not silently run every test under seed 0.
      std::fprintf(stderr,
                   "orca: ORCA_PERTURB_SEED=%s is neither a decimal number below 2^64 nor "
                   "\"random\"\n",
                   seed);
      std::exit(2);
    }
  }
  if (const char* points = std::getenv("ORCA_PERTURB_POINTS")) {
    std::string all(points);
    for (std::size_t at = 0; at <= all.size();) {
      const std::size_t comma = std::min(all.find(',', at), all.size());
      if (comma > at) c.prefixes.push_back(all.substr(at, comma - at));
      at = comma + 1;
    }
  }
  return c;
}

// Never destroyed: threads that outlive main (the blocking pool's) may still pass
// points during static destruction.
const Config& config() {
  static const Config* const c = new Config(read_config());
  return *c;
}

std::uint64_t splitmix64(std::uint64_t& s) noexcept {
  s += 0x9E3779B97F4A7C15ull;
  std::uint64_t z = s;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// FNV-1a of the point's name: its identity across runs (the literal's address is not).
std::uint64_t name_hash(const char* name) noexcept {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (; *name != '\0'; ++name)
    h = (h ^ static_cast<unsigned char>(*name)) * 0x100000001B3ull;
  return h;
}

bool selected(const Config& c, const char* point) noexcept {
  if (c.prefixes.empty()) return true;
  for (const std::string& p : c.prefixes) {
    if (std::strncmp(point, p.c_str(), p.size()) == 0) return true;
  }
  return false;
}

// Thread-local, read only here (out of line: see perturb.hpp).
thread_local std::uint64_t t_state = 0;
thread_local bool t_seeded = false;
std::atomic<std::uint64_t> g_threads{0};

}  // namespace

bool perturb_enabled() noexcept {
  return config().enabled;
}

std::uint64_t perturb_seed() noexcept {
  return config().seed;
}

void perturb(const char* point) noexcept {
  const Config& c = config();
  if (!c.enabled || !selected(c, point)) return;
  if (!t_seeded) {
    t_seeded = true;
    // Relaxed: only a distinct number per thread is needed.
    std::uint64_t mix = c.seed ^ (g_threads.fetch_add(1, std::memory_order_relaxed) << 32);
    t_state = splitmix64(mix);
  }
  // The seed gives each point an odds of acting between 1 in 2 and 1 in 32: a
  // point that acts every time mostly shifts the whole protocol late as one (the
  // interleaving barely changes), one that never acts explores nothing.
  std::uint64_t point_mix = c.seed ^ name_hash(point);
  const unsigned odds_shift = 1 + static_cast<unsigned>(splitmix64(point_mix) % 5);
  const std::uint64_t r = splitmix64(t_state);
  if ((r & ((std::uint64_t{1} << odds_shift) - 1)) != 0) return;
  // How: almost always a spin. Giving up the CPU costs milliseconds, not
  // microseconds, once other processes want it (a yield or a 50 µs sleep then
  // waits for a time slice): on a loaded 2-core machine 10% yields or 1% sleeps made
  // select_stress_test 10x slower, and found the old select race no sooner.
  const unsigned how = static_cast<unsigned>((r >> 8) % 1000);
  if (how < 970) {
    // Up to 256 pauses: at most 1-12 µs by CPU (a PAUSE is 10-140 cycles), the
    // length of some channel operations on another core, or of one under TSan.
    const unsigned spins = 1 + static_cast<unsigned>((r >> 20) % 256);
    for (unsigned i = 0; i < spins; ++i)
      cpu_relax();
  } else if (how < 997) {
    std::this_thread::yield();  // as if preempted, if another thread wants the CPU
  } else {
    // As if preempted for a while: the other threads run on.
    std::this_thread::sleep_for(std::chrono::microseconds(1 + (r >> 32) % 50));
  }
}

}  // namespace orca::detail
