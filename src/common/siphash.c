/* mgr — SipHash-c-d, written from the paper's specification (section 2);
 * tests/test_hash.c checks it against OpenSSL's SipHash where OpenSSL is
 * installed, and against published vectors. */
#include "common/siphash.h"

#include <string.h>

static inline uint64_t rotl(uint64_t x, unsigned b) {
  return (x << b) | (x >> (64 - b));
}

/* One SipRound on the four words v[0..3], kept in locals by the callers so
 * that the compiler keeps them in registers. */
#define SIPROUND(v0, v1, v2, v3)                                               \
  do {                                                                         \
    v0 += v1;                                                                  \
    v1 = rotl(v1, 13);                                                         \
    v1 ^= v0;                                                                  \
    v0 = rotl(v0, 32);                                                         \
    v2 += v3;                                                                  \
    v3 = rotl(v3, 16);                                                         \
    v3 ^= v2;                                                                  \
    v0 += v3;                                                                  \
    v3 = rotl(v3, 21);                                                         \
    v3 ^= v0;                                                                  \
    v2 += v1;                                                                  \
    v1 = rotl(v1, 17);                                                         \
    v1 ^= v2;                                                                  \
    v2 = rotl(v2, 32);                                                         \
  } while (0)

void mgri_siphash_init(mgri_siphash *h, const mgri_sipkey *k, unsigned c,
                       unsigned d) {
  h->v0 = k->k0 ^ 0x736f6d6570736575ull;
  h->v1 = k->k1 ^ 0x646f72616e646f6dull;
  h->v2 = k->k0 ^ 0x6c7967656e657261ull;
  h->v3 = k->k1 ^ 0x7465646279746573ull;
  h->tail = 0;
  h->ntail = 0;
  h->c = c ? c : 1;
  h->d = d ? d : 1;
  h->len = 0;
}

static inline void compress(mgri_siphash *h, uint64_t m) {
  uint64_t v0 = h->v0, v1 = h->v1, v2 = h->v2, v3 = h->v3 ^ m;
  for (unsigned i = 0; i < h->c; i++)
    SIPROUND(v0, v1, v2, v3);
  h->v0 = v0 ^ m;
  h->v1 = v1;
  h->v2 = v2;
  h->v3 = v3;
}

static inline uint64_t load_le(const uint8_t *p) {
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
         (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
         (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

void mgri_siphash_update(mgri_siphash *h, const void *data, size_t n) {
  const uint8_t *p = data;
  h->len += n;
  /* Complete a pending word first. */
  while (h->ntail && n) {
    h->tail |= (uint64_t)*p++ << (8 * h->ntail);
    n--;
    if (++h->ntail == 8) {
      compress(h, h->tail);
      h->tail = 0;
      h->ntail = 0;
    }
  }
  if (h->ntail) return; /* all of p went into the pending word */
  for (; n >= 8; p += 8, n -= 8)
    compress(h, load_le(p));
  for (size_t i = 0; i < n; i++)
    h->tail |= (uint64_t)p[i] << (8 * i);
  h->ntail = (unsigned)n;
}

void mgri_siphash_u64(mgri_siphash *h, uint64_t x) {
  if (h->ntail == 0) {
    h->len += 8;
    compress(h, x);
    return;
  }
  uint8_t b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(x >> (8 * i));
  mgri_siphash_update(h, b, 8);
}

uint64_t mgri_siphash_final(mgri_siphash *h) {
  uint64_t b = h->tail | (h->len & 0xff) << 56;
  compress(h, b);
  uint64_t v0 = h->v0, v1 = h->v1, v2 = h->v2 ^ 0xff, v3 = h->v3;
  for (unsigned i = 0; i < h->d; i++)
    SIPROUND(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t mgri_siphash13(const mgri_sipkey *k, const void *p, size_t n) {
  mgri_siphash h;
  mgri_siphash_init(&h, k, 1, 3);
  mgri_siphash_update(&h, p, n);
  return mgri_siphash_final(&h);
}
