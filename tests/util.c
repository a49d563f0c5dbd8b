/* mgr tests — shared helpers. */
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

size_t tu_unhex(const char *hex, uint8_t **out) {
  size_t n = strlen(hex), len = 0;
  uint8_t *buf = malloc(n / 2 + 1);
  int hi = -1;
  if (!buf) return (size_t)-1;
  for (size_t i = 0; i < n; i++) {
    if (isspace((unsigned char)hex[i])) continue;
    int v = hexval((unsigned char)hex[i]);
    if (v < 0) {
      free(buf);
      return (size_t)-1;
    }
    if (hi < 0) {
      hi = v;
    } else {
      buf[len++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  if (hi >= 0) {
    free(buf);
    return (size_t)-1;
  }
  *out = buf;
  return len;
}

uint64_t tu_seed(const char *test) {
  const char *env = getenv("MGR_TEST_SEED");
  uint64_t seed =
      env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) * 2654435761u;
  if (seed == 0) seed = 1;
  printf("# %s: seed %llu (set MGR_TEST_SEED to replay)\n", test,
         (unsigned long long)seed);
  return seed;
}

uint64_t tu_rand(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 2685821657736338717ull;
}

char *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[n] = 0;
    if (len) *len = (size_t)n;
  }
  return buf;
}

#ifdef MGR_COVERAGE
/* Coverage builds (tests/coverage): the tests' forked children end with
 * _exit(), which writes no gcov counters, so what they ran and checked
 * (a fork child's first call, its RETAIN of the inherited proxies ...) would
 * count as never run. tests/CMakeLists.txt links the tests with
 * --wrap=_exit in these builds only: the counters are written first, as
 * the server processes do (src/common/coverage.h). */
void __gcov_dump(void);
_Noreturn void __real__exit(int status);
_Noreturn void __wrap__exit(int status);
_Noreturn void __wrap__exit(int status) {
  __gcov_dump();
  __real__exit(status);
}
#endif
