/* mgr tests — shared helpers: hex, vectors, seeds. */
#ifndef MGR_TEST_UTIL_H
#define MGR_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Parses hex (spaces allowed) into a malloc'd buffer; returns its length or
 * (size_t)-1 on bad input. */
size_t tu_unhex(const char *hex, uint8_t **out);
/* The seed for random tests: $MGR_TEST_SEED if set, else time-based; printed. */
uint64_t tu_seed(const char *test);
/* xorshift64* */
uint64_t tu_rand(uint64_t *state);
/* Reads a whole file (malloc'd, NUL-terminated); NULL if absent. */
char *tu_read_file(const char *path, size_t *len);

#endif
