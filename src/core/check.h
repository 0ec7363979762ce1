#pragma once

#include <cstdio>
#include <cstdlib>

/// Aborts with file:line when an invariant that protects state does not hold. Always on.
#define CHECK(condition, why)                                                                      \
  do {                                                                                             \
    if (!(condition)) {                                                                            \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #condition, why); \
      std::abort();                                                                                \
    }                                                                                              \
  } while (false)
