// FUZZ_CHECK: the property checks of the fuzz targets. A failed check prints what
// was expected and aborts, which libFuzzer reports as a crash and saves the input
// (assert() would vanish under the -DNDEBUG of the fuzz build).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, ...)                                                          \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "" __VA_ARGS__);                                            \
      std::fputc('\n', stderr);                                                        \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)
