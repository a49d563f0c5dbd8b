/* mgr fuzz targets — the failure hook and known-finding switch shared by
 * every target. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

void fuzz_fail(const char *what, const char *file, int line) {
  fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
  abort();
}

bool fuzz_known(const char *name) {
  const char *env = getenv("MGR_FUZZ_KNOWN");
  size_t n = strlen(name);
  while (env && *env) {
    const char *end = strchr(env, ',');
    size_t len = end ? (size_t)(end - env) : strlen(env);
    if (len == n && memcmp(env, name, n) == 0) return true;
    env = end ? end + 1 : NULL;
  }
  return false;
}
