/* mgr tests — keys built to collide under fixed public hashes: the unkeyed
 * ones of mgr 0.x (a splitmix64 finalizer on ints, FNV-1a 64 on names), so
 * that the tests can show the keyed hash shrugs them off. A hostile client
 * builds exactly these (issue 9, attacks 1 and 2). Header-only. */
#ifndef MGR_TEST_COLLIDE_H
#define MGR_TEST_COLLIDE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The old int hash: splitmix64's finalizer, invertible. */
static inline uint64_t collide_old_mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

/* The inverse of multiplying by odd a modulo 2^64 (Newton's iteration). */
static inline uint64_t collide_inv(uint64_t a) {
  uint64_t x = a; /* correct to 3 bits: a * a == 1 mod 8 for odd a */
  for (int i = 0; i < 5; i++)
    x *= 2 - a * x;
  return x;
}

/* x = y ^ (y >> s) undone. */
static inline uint64_t collide_unxorshift(uint64_t y, unsigned s) {
  uint64_t x = y;
  for (unsigned k = s; k < 64; k += s)
    x = y ^ (x >> s);
  return x;
}

static inline uint64_t collide_old_unmix(uint64_t x) {
  x = collide_unxorshift(x, 31);
  x *= collide_inv(0x94d049bb133111ebull);
  x = collide_unxorshift(x, 27);
  x *= collide_inv(0xbf58476d1ce4e5b9ull);
  x = collide_unxorshift(x, 30);
  return x;
}

/* The i-th int key (i >= 1) whose old hash has its low 32 bits zero: under
 * the old dict (slot = low bits of the hash) every one of them lands in the
 * same slot. */
static inline int64_t collide_int(uint64_t i) {
  return (int64_t)collide_old_unmix(i << 32);
}

/* The old name hash: FNV-1a 64, unseeded. */
static inline uint64_t collide_old_fnv(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
  return h;
}

/* Writes into buf (at least 24 bytes) the next name, counting from
 * *counter, whose old hash has its low `bits` bits zero (so it lands in the
 * same bucket of any old name table of up to 2^bits buckets); returns its
 * length. About 2^bits tries each. */
static inline size_t collide_name(uint64_t *counter, unsigned bits, char *buf) {
  uint64_t mask = bits >= 64 ? ~0ull : (1ull << bits) - 1;
  for (;;) {
    int n = snprintf(buf, 24, "k%llx", (unsigned long long)(*counter)++);
    if ((collide_old_fnv(buf, (size_t)n) & mask) == 0) return (size_t)n;
  }
}

#endif
