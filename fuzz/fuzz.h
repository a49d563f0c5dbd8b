/* mgr fuzz targets — shared declarations. Each target defines
 * LLVMFuzzerTestOneInput; replay.c gives it a main() that replays files and
 * directories, so every target also runs as an ordinary test under gcc. */
#ifndef MGR_FUZZ_H
#define MGR_FUZZ_H

#include <stdbool.h>
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

/* True when the environment variable MGR_FUZZ_KNOWN (a comma-separated list)
 * names this known, reported and not yet fixed finding: a target may then
 * step around it to keep fuzzing what lies behind. Unset (CI, ctest): every
 * check runs. */
bool fuzz_known(const char *name);

/* A cursor over the fuzzer's bytes for structure-aware targets: reads past
 * the end give zeros, so every input is a complete program. */
typedef struct fuzz_in {
  const uint8_t *p;
  size_t n, pos;
} fuzz_in;

static inline bool fuzz_more(const fuzz_in *in) { return in->pos < in->n; }
static inline uint8_t fuzz_u8(fuzz_in *in) {
  return in->pos < in->n ? in->p[in->pos++] : 0;
}
static inline uint64_t fuzz_un(fuzz_in *in, unsigned nbytes) {
  uint64_t v = 0;
  for (unsigned i = 0; i < nbytes; i++)
    v = v << 8 | fuzz_u8(in);
  return v;
}
/* Up to n bytes of input, as a pointer into it (*got gets how many). */
static inline const uint8_t *fuzz_take(fuzz_in *in, size_t n, size_t *got) {
  size_t left = in->n - in->pos;
  if (n > left) n = left;
  const uint8_t *p = in->p + in->pos;
  in->pos += n;
  *got = n;
  return p;
}

#endif
