/* mgr — SipHash-c-d (Aumasson & Bernstein, "SipHash: a fast short-input
 * PRF", 2012), streaming: the keyed hash behind the server's hash tables.
 * The server uses SipHash-1-3 (as CPython and Rust do for their tables)
 * under a per-server random key, so a client cannot choose keys that collide.
 * Pure: no I/O, no global state. */
#ifndef MGRI_SIPHASH_H
#define MGRI_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* A 128-bit key: k0 is the key's first 8 bytes read little-endian. */
typedef struct mgri_sipkey {
  uint64_t k0, k1;
} mgri_sipkey;

typedef struct mgri_siphash {
  uint64_t v0, v1, v2, v3;
  uint64_t tail;  /* up to 7 bytes not yet compressed, little-endian */
  unsigned ntail; /* bytes in tail */
  unsigned c, d;  /* compression and finalization rounds */
  uint64_t len;   /* bytes fed so far */
} mgri_siphash;

/* Starts a SipHash-c-d of key k (c, d >= 1). */
void mgri_siphash_init(mgri_siphash *h, const mgri_sipkey *k, unsigned c,
                       unsigned d);
/* Feeds n bytes (p may be NULL when n is 0). */
void mgri_siphash_update(mgri_siphash *h, const void *p, size_t n);
/* Feeds the 8 bytes of x, little-endian. */
void mgri_siphash_u64(mgri_siphash *h, uint64_t x);
/* The 64-bit result; h must not be fed afterwards. */
uint64_t mgri_siphash_final(mgri_siphash *h);

/* SipHash-1-3 of p[0..n) under k, in one call. */
uint64_t mgri_siphash13(const mgri_sipkey *k, const void *p, size_t n);

#endif
