/* mgr fuzz targets — shared declarations. Each target defines
 * LLVMFuzzerTestOneInput; replay.c gives it a main() that replays files and
 * directories, so every target also runs as an ordinary test under gcc. */
#ifndef MGR_FUZZ_H
#define MGR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (a finding) when cond is false: fuzzers must not use assert(), which
 * NDEBUG removes. */
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) fuzz_fail(#cond, __FILE__, __LINE__);                         \
  } while (0)
void fuzz_fail(const char *what, const char *file, int line);

#endif
