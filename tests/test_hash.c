/* mgr tests — keyed hashing (spec 5.3, 14.2.5): SipHash-c-d against its
 * published vectors and, where OpenSSL 3 is installed, against EVP_MAC
 * "SIPHASH" (streaming equals one-shot); the keyed value hash (equal keys
 * hash alike, the hash depends on the key, TYPE and VALUE); and the probe
 * bounds of the dict index and the name table under keys built to collide
 * under the old unkeyed hashes (tests/collide.h), read back from STATS. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor/model.h"
#include "common/limits.h"
#include "common/siphash.h"
#include "mgr/error.h"
#include "util.h"

#include "collide.h"
#include "server_util.h"

#ifdef MGR_HAVE_OPENSSL
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#endif

/* --- SipHash ------------------------------------------------------------- */

static uint64_t le64(const uint8_t *p) {
  uint64_t x = 0;
  for (int i = 7; i >= 0; i--)
    x = x << 8 | p[i];
  return x;
}

static mgri_sipkey key_of(const uint8_t k[16]) {
  mgri_sipkey key = {le64(k), le64(k + 8)};
  return key;
}

static uint64_t sip_oneshot(const mgri_sipkey *k, unsigned c, unsigned d,
                            const uint8_t *p, size_t n) {
  mgri_siphash h;
  mgri_siphash_init(&h, k, c, d);
  mgri_siphash_update(&h, p, n);
  return mgri_siphash_final(&h);
}

/* The same message fed in random pieces: updates of 0..19 bytes, and whole
 * words through mgri_siphash_u64 whether or not a partial word is pending. */
static uint64_t sip_chunked(const mgri_sipkey *k, unsigned c, unsigned d,
                            const uint8_t *p, size_t n, uint64_t *rng) {
  mgri_siphash h;
  mgri_siphash_init(&h, k, c, d);
  size_t off = 0;
  while (off < n) {
    uint64_t r = tu_rand(rng);
    if (n - off >= 8 && r % 3 == 0) {
      mgri_siphash_u64(&h, le64(p + off));
      off += 8;
      continue;
    }
    size_t take = (size_t)(r >> 8) % 20;
    if (take > n - off) take = n - off;
    mgri_siphash_update(&h, take ? p + off : NULL, take);
    off += take;
  }
  if (tu_rand(rng) & 1) mgri_siphash_update(&h, NULL, 0);
  return mgri_siphash_final(&h);
}

/* The vectors everyone quotes. SipHash-2-4, key 00 01 .. 0f, message
 * 00 01 .. (n-1): the paper's appendix A (n = 15) and the first entry of the
 * reference implementation's vectors.h (n = 0). SipHash-1-3, key all zero,
 * message 00 .. (n-1): the vectors other SipHash-1-3 users check against
 * (OCaml's runtime tests, from the reference implementation). All five were
 * also checked here against OpenSSL 3.0's EVP_MAC "SIPHASH". */
static void test_siphash_vectors(void **st) {
  (void)st;
  uint8_t k[16], m[64];
  for (int i = 0; i < 16; i++)
    k[i] = (uint8_t)i;
  for (int i = 0; i < 64; i++)
    m[i] = (uint8_t)i;
  mgri_sipkey key = key_of(k);
  assert_true(key.k0 == 0x0706050403020100ull);
  assert_true(key.k1 == 0x0f0e0d0c0b0a0908ull);
  assert_true(sip_oneshot(&key, 2, 4, m, 0) == 0x726fdb47dd0e0e31ull);
  assert_true(sip_oneshot(&key, 2, 4, m, 15) == 0xa129ca6149be45e5ull);

  mgri_sipkey zero = {0, 0};
  assert_true(sip_oneshot(&zero, 1, 3, m, 0) == 0xd1fba762150c532cull);
  assert_true(sip_oneshot(&zero, 1, 3, m, 1) == 0x68a914128e01e473ull);
  assert_true(sip_oneshot(&zero, 1, 3, m, 2) == 0x010bac45c41e3669ull);
  /* mgri_siphash13 is SipHash-1-3. */
  assert_true(mgri_siphash13(&zero, m, 0) == 0xd1fba762150c532cull);
  assert_true(mgri_siphash13(&zero, m, 2) == 0x010bac45c41e3669ull);
  assert_true(mgri_siphash13(&zero, NULL, 0) == 0xd1fba762150c532cull);
  /* The round counts matter (a variant that ignored them would agree). */
  assert_true(sip_oneshot(&key, 1, 3, m, 15) != sip_oneshot(&key, 2, 4, m, 15));
  /* 0 rounds are taken as 1 (at least one of each: never no mixing). */
  assert_true(sip_oneshot(&key, 0, 3, m, 15) == sip_oneshot(&key, 1, 3, m, 15));
  assert_true(sip_oneshot(&key, 2, 0, m, 15) == sip_oneshot(&key, 2, 1, m, 15));
}

/* Streaming equals one-shot for every length 0..300 and random chunkings,
 * under random keys, for SipHash-1-3 and 2-4. */
static void test_siphash_streaming(void **st) {
  (void)st;
  uint64_t rng = tu_seed("siphash_streaming");
  uint8_t m[301];
  static const unsigned cd[2][2] = {{1, 3}, {2, 4}};
  for (int round = 0; round < 4; round++) {
    mgri_sipkey key = {tu_rand(&rng), tu_rand(&rng)};
    for (size_t i = 0; i < sizeof m; i++)
      m[i] = (uint8_t)tu_rand(&rng);
    for (int v = 0; v < 2; v++) {
      for (size_t n = 0; n <= 300; n++) {
        uint64_t one = sip_oneshot(&key, cd[v][0], cd[v][1], m, n);
        if (cd[v][0] == 1 && cd[v][1] == 3)
          assert_true(mgri_siphash13(&key, m, n) == one);
        for (int t = 0; t < 3; t++) {
          uint64_t ch = sip_chunked(&key, cd[v][0], cd[v][1], m, n, &rng);
          if (ch != one)
            fail_msg(
                "SipHash-%u-%u len %zu: chunked %016llx != one-shot %016llx",
                cd[v][0], cd[v][1], n, (unsigned long long)ch,
                (unsigned long long)one);
        }
        /* One changed byte changes the hash. */
        if (n) {
          m[n - 1] ^= 0x80;
          assert_true(sip_oneshot(&key, cd[v][0], cd[v][1], m, n) != one);
          m[n - 1] ^= 0x80;
        }
      }
    }
  }
}

#ifdef MGR_HAVE_OPENSSL
/* OpenSSL 3's SipHash as an EVP_MAC: "size" 8 (a 64-bit tag, little-endian),
 * "c-rounds" and "d-rounds" (documented in EVP_MAC-Siphash(7) since 3.0). */
static uint64_t ossl_siphash(EVP_MAC *mac, const uint8_t k[16], unsigned c,
                             unsigned d, const uint8_t *p, size_t n,
                             uint64_t *rng) {
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
  assert_non_null(ctx);
  size_t size = 8;
  OSSL_PARAM params[4] = {
      OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
      OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_C_ROUNDS, &c),
      OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_D_ROUNDS, &d),
      OSSL_PARAM_construct_end()};
  assert_int_equal(EVP_MAC_init(ctx, k, 16, params), 1);
  /* OpenSSL's own streaming, in random pieces too. */
  size_t off = 0;
  while (off < n) {
    size_t take = 1 + (size_t)(tu_rand(rng) % 37);
    if (take > n - off) take = n - off;
    assert_int_equal(EVP_MAC_update(ctx, p + off, take), 1);
    off += take;
  }
  uint8_t out[16];
  size_t outl = 0;
  assert_int_equal(EVP_MAC_final(ctx, out, &outl, sizeof out), 1);
  assert_int_equal(outl, 8);
  EVP_MAC_CTX_free(ctx);
  return le64(out);
}
#endif

static void test_siphash_openssl(void **st) {
  (void)st;
#ifdef MGR_HAVE_OPENSSL
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
  if (!mac) {
    printf("# skipped: OpenSSL has no EVP_MAC \"SIPHASH\" (provider not "
           "loaded)\n");
    ERR_clear_error();
    skip();
  }
  uint64_t rng = tu_seed("siphash_openssl");
  uint8_t m[301], k[16];
  for (int i = 0; i < 16; i++)
    k[i] = (uint8_t)i;
  for (size_t i = 0; i < sizeof m; i++)
    m[i] = (uint8_t)i;
  /* The quoted vectors, from OpenSSL. */
  assert_true(ossl_siphash(mac, k, 2, 4, m, 0, &rng) == 0x726fdb47dd0e0e31ull);
  assert_true(ossl_siphash(mac, k, 2, 4, m, 15, &rng) == 0xa129ca6149be45e5ull);
  static const unsigned cd[2][2] = {{1, 3}, {2, 4}};
  char bad[200] = "";
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 16; i++)
      k[i] = (uint8_t)tu_rand(&rng);
    for (size_t i = 0; i < sizeof m; i++)
      m[i] = (uint8_t)tu_rand(&rng);
    mgri_sipkey key = key_of(k);
    for (int v = 0; v < 2; v++) {
      unsigned c = cd[v][0], d = cd[v][1];
      for (size_t n = 0; n <= 300; n++) {
        uint64_t want = ossl_siphash(mac, k, c, d, m, n, &rng);
        uint64_t one = sip_oneshot(&key, c, d, m, n);
        uint64_t ch = sip_chunked(&key, c, d, m, n, &rng);
        if ((one != want || ch != want) && !bad[0])
          snprintf(bad, sizeof bad,
                   "SipHash-%u-%u len %zu: OpenSSL %016llx, one-shot %016llx, "
                   "chunked %016llx",
                   c, d, n, (unsigned long long)want, (unsigned long long)one,
                   (unsigned long long)ch);
      }
    }
  }
  EVP_MAC_free(mac);
  if (bad[0]) fail_msg("%s", bad);
#else
  printf("# skipped: built without OpenSSL (libcrypto not found by "
         "pkg-config); SipHash checked against its published vectors only\n");
  skip();
#endif
}

/* --- the keyed value hash ------------------------------------------------ */

static uint64_t vhash(const mgr_value *v, const mgri_sipkey *k) {
  uint64_t h = 0;
  int rc = mgri_value_hash(v, k, &h);
  if (rc != MGR_OK) fail_msg("mgri_value_hash: %d", rc);
  return h;
}

/* Groups of keys that are equal (spec 5.3): every member hashes alike. */
/* Checks spec R-5.3-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_equal_keys_hash_alike(void **st) {
  (void)st;
  uint64_t rng = tu_seed("equal_keys_hash_alike");
  mgr_value a12[2] = {mgr_int(1), mgr_int(2)};
  mgr_value f12[2] = {mgr_float(1.0), mgr_int(2)};
  mgr_value t12[2] = {mgr_bool(true), mgr_float(2.0)};
  mgr_value in0[1] = {mgr_int(0)}, fn0[1] = {mgr_float(-0.0)};
  mgr_value in1[3] = {mgr_int(1), mgr_array(in0, 1), mgr_text("x")};
  mgr_value fn1[3] = {mgr_bool(true), mgr_array(fn0, 1), mgr_text("x")};
  mgr_value deep_i = mgr_array(in1, 3), deep_f = mgr_array(fn1, 3);
  mgr_value nest_i[2] = {deep_i, mgr_int(-7)};
  mgr_value nest_f[2] = {deep_f, mgr_float(-7.0)};
  const mgr_value groups[][4] = {
      {mgr_int(1), mgr_float(1.0), mgr_bool(true), mgr_int(1)},
      {mgr_int(0), mgr_float(0.0), mgr_float(-0.0), mgr_bool(false)},
      {mgr_array(a12, 2), mgr_array(f12, 2), mgr_array(t12, 2),
       mgr_array(a12, 2)},
      {mgr_int((int64_t)1 << 53), mgr_float(9007199254740992.0),
       mgr_float(0x1p53), mgr_int(9007199254740992)},
      {mgr_int(INT64_MIN), mgr_float(-0x1p63), mgr_int(INT64_MIN),
       mgr_float(-9223372036854775808.0)},
      {mgr_int(-3), mgr_float(-3.0), mgr_int(-3), mgr_float(-3.0)},
      {deep_i, deep_f, deep_i, deep_f},
      {mgr_array(nest_i, 2), mgr_array(nest_f, 2), mgr_array(nest_i, 2),
       mgr_array(nest_f, 2)},
      {mgr_float(INFINITY), mgr_float(INFINITY), mgr_float(HUGE_VAL),
       mgr_float(INFINITY)},
  };
  size_t ng = sizeof groups / sizeof groups[0];
  for (int round = 0; round < 8; round++) {
    mgri_sipkey key = {tu_rand(&rng), tu_rand(&rng)};
    for (size_t g = 0; g < ng; g++) {
      uint64_t h0 = vhash(&groups[g][0], &key);
      for (size_t i = 0; i < 4; i++) {
        /* The test's data: these are equal keys under the model's ==. */
        assert_true(mgri_value_eq(&groups[g][0], &groups[g][i]));
        assert_int_equal(mgri_value_hashable(&groups[g][i]), MGR_OK);
        if (vhash(&groups[g][i], &key) != h0)
          fail_msg("group %zu member %zu hashes apart", g, i);
      }
    }
  }
}

/* Random ints and the floats equal to them; random integral floats and the
 * ints equal to them. Equality is decided here, not by the code under test. */
static void test_numbers_hash_like_their_equals(void **st) {
  (void)st;
  uint64_t rng = tu_seed("numbers_hash_like_their_equals");
  mgri_sipkey key = {tu_rand(&rng), tu_rand(&rng)};
  size_t equal = 0;
  for (int i = 0; i < 20000; i++) {
    uint64_t r = tu_rand(&rng);
    int64_t x = (int64_t)(r >> (r & 63)); /* every magnitude */
    if ((r & 64) && x != INT64_MIN) x = -x;
    double d = (double)x;
    mgr_value vi = mgr_int(x), vf = mgr_float(d);
    /* d equals x exactly when d is in int64 range and converts back. */
    bool same = d >= -0x1p63 && d < 0x1p63 && (int64_t)d == x;
    if (same) {
      equal++;
      assert_true(vhash(&vi, &key) == vhash(&vf, &key));
    } else {
      assert_true(vhash(&vi, &key) != vhash(&vf, &key));
    }
    /* Off by one, far above 2^53: never equal to the rounded float. */
    if (x > ((int64_t)1 << 54) && x < INT64_MAX && same) {
      mgr_value vi1 = mgr_int(x + 1);
      assert_true(vhash(&vi1, &key) != vhash(&vf, &key));
    }
    /* A non-integral float equals no int. */
    double frac = (double)(x >> 12) + 0.5;
    mgr_value vh = mgr_float(frac), vt = mgr_int(x >> 12);
    assert_true(vhash(&vh, &key) != vhash(&vt, &key));
  }
  assert_true(equal > 1000); /* the loop did test equal pairs */
  /* 2^63 as a float equals no int64. */
  mgr_value big = mgr_float(0x1p63), imax = mgr_int(INT64_MAX);
  assert_true(vhash(&big, &key) != vhash(&imax, &key));
}

/* Distinct keys hash apart (a sample; 64-bit hashes make a collision a
 * 2^-64 event per pair), and every hash changes with the key. */
/* Checks spec R-5.3-b (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_distinct_keys_and_key_dependence(void **st) {
  (void)st;
  uint64_t rng = tu_seed("distinct_keys_and_key_dependence");
  mgr_value e0[1] = {mgr_nil()}, ea[1] = {mgr_text("a")};
  mgr_value eab[2] = {mgr_text("a"), mgr_text("b")}, ebs[1] = {mgr_text("ab")};
  mgr_value eba[2] = {mgr_text("b"), mgr_text("a")};
  mgr_value ee[1] = {mgr_array(NULL, 0)};
  mgr_value e1[1] = {mgr_int(1)}, e11[2] = {mgr_int(1), mgr_int(1)};
  mgr_value r1 = mgri_h_ref(1, 5), r2 = mgri_h_ref(2, 5), r3 = mgri_h_ref(1, 6);
  const uint8_t one_le[8] = {1, 0, 0, 0, 0, 0, 0, 0};
  const mgr_value sample[] = {
      mgr_nil(),
      mgr_int(0),
      mgr_int(1),
      mgr_int(-1),
      mgr_int(2),
      mgr_int(((int64_t)1 << 53) + 1),
      mgr_float(9007199254740992.0),
      mgr_int(INT64_MAX),
      mgr_float(0x1p63),
      mgr_float(0.5),
      mgr_float(-0.5),
      mgr_float(INFINITY),
      mgr_float(-INFINITY),
      mgr_float(1e300),
      mgr_float(5e-324),
      mgr_text(""),
      mgr_bytes("", 0),
      mgr_text("a"),
      mgr_bytes("a", 1),
      mgr_text("ab"),
      mgr_text("b"),
      mgr_textn("\x01\0\0\0\0\0\0\0", 8),
      mgr_bytes(one_le, 8),
      mgr_array(NULL, 0),
      mgr_array(ee, 1),
      mgr_array(e0, 1),
      mgr_array(ea, 1),
      mgr_array(eab, 2),
      mgr_array(ebs, 1),
      mgr_array(eba, 2),
      mgr_array(e1, 1),
      mgr_array(e11, 2),
      r1,
      r2,
      r3,
  };
  size_t n = sizeof sample / sizeof sample[0];
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      if (mgri_value_eq(&sample[i], &sample[j]))
        fail_msg("test data: samples %zu and %zu are equal", i, j);
  uint64_t h[sizeof sample / sizeof sample[0]];
  for (int round = 0; round < 4; round++) {
    mgri_sipkey key = {tu_rand(&rng), tu_rand(&rng)};
    for (size_t i = 0; i < n; i++)
      h[i] = vhash(&sample[i], &key);
    for (size_t i = 0; i < n; i++)
      for (size_t j = i + 1; j < n; j++)
        if (h[i] == h[j]) fail_msg("samples %zu and %zu hash alike", i, j);
    /* Another key, and the same key with one bit flipped: every hash
     * changes. */
    mgri_sipkey other = {tu_rand(&rng), tu_rand(&rng)};
    mgri_sipkey flip = key;
    unsigned bit = (unsigned)(tu_rand(&rng) % 128);
    if (bit < 64)
      flip.k0 ^= 1ull << bit;
    else
      flip.k1 ^= 1ull << (bit - 64);
    for (size_t i = 0; i < n; i++) {
      assert_true(vhash(&sample[i], &other) != h[i]);
      assert_true(vhash(&sample[i], &flip) != h[i]);
      assert_true(vhash(&sample[i], &key) == h[i]); /* deterministic */
    }
  }
}

/* Keys that differ only in bytes the hash must not lose: short text or bytes
 * fed after a partial word (a pending word completed by neither this piece
 * nor the next). The two arrays are distinct keys; a hash that dropped the
 * count of pending bytes would OR their bytes together and give both the
 * same hash under every key. */
static void test_partial_words_not_lost(void **st) {
  (void)st;
  uint64_t rng = tu_seed("partial_words_not_lost");
  mgr_value k1[4] = {mgr_bytes("a", 1), mgr_bytes("\0\1", 2), mgr_int(0),
                     mgr_bytes("\0\0\0", 3)};
  mgr_value k2[4] = {mgr_bytes("a", 1), mgr_bytes("\0\0", 2), mgr_int(0),
                     mgr_bytes("\0\0\1", 3)};
  mgr_value t1[3] = {mgr_text("ab"), mgr_text("c"), mgr_text("d")};
  mgr_value t2[3] = {mgr_text("ab"), mgr_text("c"), mgr_text("e")};
  mgr_value v1 = mgr_array(k1, 4), v2 = mgr_array(k2, 4);
  mgr_value w1 = mgr_array(t1, 3), w2 = mgr_array(t2, 3);
  assert_false(mgri_value_eq(&v1, &v2));
  assert_false(mgri_value_eq(&w1, &w2));
  for (int round = 0; round < 4; round++) {
    mgri_sipkey key = {tu_rand(&rng), tu_rand(&rng)};
    assert_true(vhash(&v1, &key) != vhash(&v2, &key));
    assert_true(vhash(&w1, &key) != vhash(&w2, &key));
  }
  /* The same in the raw streaming interface: "ab", "c", "d" is "abcd". */
  mgri_sipkey key = {tu_rand(&rng), tu_rand(&rng)};
  mgri_siphash h;
  mgri_siphash_init(&h, &key, 1, 3);
  mgri_siphash_update(&h, "ab", 2);
  mgri_siphash_update(&h, "c", 1);
  mgri_siphash_update(&h, "d", 1);
  assert_true(mgri_siphash_final(&h) == mgri_siphash13(&key, "abcd", 4));
}

/* Maps are TYPE, NaN is VALUE, and a map anywhere in an array is TYPE even
 * after a NaN (spec 5.4); *out is untouched on error. */
static void test_hashable_status(void **st) {
  (void)st;
  mgri_sipkey key = {0x0123456789abcdefull, 0xfedcba9876543210ull};
  mgr_value kv[2] = {mgr_int(1), mgr_int(2)};
  mgr_value map = mgr_map(kv, 1), empty_map = mgr_map(NULL, 0);
  mgr_value nan = mgr_float(NAN);
  mgr_value a_nan[2] = {mgr_int(1), nan};
  mgr_value a_nan_map[3] = {nan, mgr_int(1), map};
  mgr_value a_map_nan[2] = {empty_map, nan};
  mgr_value inner_nan[1] = {nan}, inner_map[1] = {empty_map};
  mgr_value a_deep[2] = {mgr_array(inner_nan, 1), mgr_array(inner_map, 1)};
  mgr_value a_deep_nan[2] = {mgr_int(3), mgr_array(inner_nan, 1)};
  mgr_value a_ok[3] = {mgr_int(1), mgr_text("x"), mgr_array(kv, 2)};
  const struct {
    mgr_value v;
    int want;
  } cases[] = {
      {map, MGR_ETYPE},
      {empty_map, MGR_ETYPE},
      {nan, MGR_EVALUE},
      {mgr_float(-NAN), MGR_EVALUE},
      {mgr_array(a_nan, 2), MGR_EVALUE},
      {mgr_array(a_nan_map, 3), MGR_ETYPE},
      {mgr_array(a_map_nan, 2), MGR_ETYPE},
      {mgr_array(a_deep, 2), MGR_ETYPE},
      {mgr_array(a_deep_nan, 2), MGR_EVALUE},
      {mgr_array(inner_map, 1), MGR_ETYPE},
      {mgr_array(a_ok, 3), MGR_OK},
      {mgr_nil(), MGR_OK},
      {mgri_h_ref(3, 9), MGR_OK},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int got = mgri_value_hashable(&cases[i].v);
    if (got != cases[i].want)
      fail_msg("case %zu: hashable %d, want %d", i, got, cases[i].want);
    uint64_t out = 0x5a5a5a5a5a5a5a5aull;
    got = mgri_value_hash(&cases[i].v, &key, &out);
    if (got != cases[i].want)
      fail_msg("case %zu: hash %d, want %d", i, got, cases[i].want);
    if (got != MGR_OK)
      assert_true(out == 0x5a5a5a5a5a5a5a5aull);
    else
      assert_true(out != 0x5a5a5a5a5a5a5a5aull);
  }
}

/* --- probe bounds through the store -------------------------------------- */

#define N_INT_KEYS 40000u
#define NAME_BITS 13u
#define N_NAMES (1u << NAME_BITS)

/* A store with a fixed hash key (the attacks below do not depend on it: they
 * are built against the old public hashes). */
static void start(void) {
  mgri_store_config cfg;
  mgri_store_config_init(&cfg);
  cfg.hash_key_set = true;
  cfg.hash_key[0] = 0x6d67722d74657374ull;
  cfg.hash_key[1] = 0x2d70726f62652d31ull;
  assert_int_equal(mgri_h_init_cfg(&H, &cfg), MGR_OK);
  C = mgri_h_conn(&H, 0);
  assert_non_null(C);
}

static void stop(void) { mgri_h_fini(&H); }

static const mgr_value *map_get(const mgr_value *m, const char *key) {
  assert_int_equal(m->type, MGR_T_MAP);
  for (size_t i = 0; i < m->u.a.len; i++) {
    const mgr_value *k = &m->u.a.items[2 * i];
    if (k->type == MGR_T_TEXT && k->u.s.len == strlen(key) &&
        memcmp(k->u.s.ptr, key, k->u.s.len) == 0)
      return &m->u.a.items[2 * i + 1];
  }
  fail_msg("no key '%s' in the map", key);
  return NULL;
}

/* STATS "hash" -> field. */
static uint64_t stats_hash(const char *field) {
  mgri_hreply *r = call(11, 0, NULL, 0);
  ok(r);
  const mgr_value *v = map_get(map_get(&r->result, "hash"), field);
  assert_int_equal(v->type, MGR_T_INT);
  assert_true(v->u.i >= 0);
  return (uint64_t)v->u.i;
}

static uint64_t new_dict(void) {
  uint64_t id = mgri_h_create(&H, C, 1, NULL);
  assert_true(id != 0);
  return id;
}

static int64_t dict_len(uint64_t id) {
  mgri_hreply *r = call(20, id, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_INT);
  return r->result.u.i;
}

/* DICT_UPDATE with the n keys (values 0..n-1), then every 7th key looked up
 * (DICT_CONTAINS), so both failed and successful probes are counted. */
static void update_and_find(uint64_t id, const mgr_value *keys, size_t n) {
  mgr_value *pairs = malloc(2 * n * sizeof *pairs);
  assert_non_null(pairs);
  for (size_t i = 0; i < n; i++) {
    pairs[2 * i] = keys[i];
    pairs[2 * i + 1] = mgr_int((int64_t)i);
  }
  mgr_value arg = mgr_map(pairs, n);
  ok(call(27, id, &arg, 1));
  free(pairs);
  for (size_t i = 0; i < n; i += 7) {
    mgri_hreply *r = call(19, id, &keys[i], 1);
    ok(r);
    assert_int_equal(r->result.type, MGR_T_BOOL);
    assert_true(r->result.u.b);
  }
}

/* STATS "hash" -> field, printed; STATS reports the bound itself. */
static uint64_t probe_max(const char *field) {
  uint64_t got = stats_hash(field);
  printf("# %s = %llu (bound %u)\n", field, (unsigned long long)got,
         MGRI_PROBE_BOUND);
  assert_int_equal(stats_hash("probe_bound"), MGRI_PROBE_BOUND);
  return got;
}

/* Checked after the store and the keys are gone, so that a failure leaks
 * nothing. */
static void check_probe_bound(uint64_t got) {
  assert_true(got >= 1); /* probes were counted at all */
  if (got > MGRI_PROBE_BOUND)
    fail_msg("longest probe sequence %llu > MGRI_PROBE_BOUND %u",
             (unsigned long long)got, MGRI_PROBE_BOUND);
}

/* Ints whose old hash (splitmix64's finalizer) has its low 32 bits zero:
 * one slot of any old table. */
static void test_probe_old_int_hash(void **st) {
  (void)st;
  mgr_value *keys = malloc(N_INT_KEYS * sizeof *keys);
  assert_non_null(keys);
  for (uint64_t i = 0; i < N_INT_KEYS; i++) {
    int64_t k = collide_int(i + 1);
    /* They really collide under the old hash, and are distinct. */
    assert_true((collide_old_mix((uint64_t)k) & 0xffffffffull) == 0);
    assert_true(collide_old_mix((uint64_t)k) >> 32 == i + 1);
    keys[i] = mgr_int(k);
  }
  start();
  uint64_t d = new_dict();
  assert_int_equal(stats_hash("dict_probe_max"), 0);
  update_and_find(d, keys, N_INT_KEYS);
  assert_int_equal(dict_len(d), N_INT_KEYS);
  uint64_t got = probe_max("dict_probe_max");
  stop();
  free(keys);
  check_probe_bound(got);
}

/* Ints i << 20 (one slot under an identity hash), and the floats equal to
 * them: one key each, hashed alike. */
static void test_probe_identity_hash(void **st) {
  (void)st;
  mgr_value *ints = malloc(N_INT_KEYS * sizeof *ints);
  mgr_value *floats = malloc(N_INT_KEYS * sizeof *floats);
  assert_non_null(ints);
  assert_non_null(floats);
  for (uint64_t i = 0; i < N_INT_KEYS; i++) {
    int64_t k = (int64_t)((i + 1) << 20);
    assert_true((k & ((1 << 20) - 1)) == 0);
    ints[i] = mgr_int(k);
    floats[i] = mgr_float((double)k);
    assert_true((int64_t)floats[i].u.f == k); /* exact */
  }
  start();
  uint64_t di = new_dict(), df = new_dict();
  update_and_find(di, ints, N_INT_KEYS);
  update_and_find(df, floats, N_INT_KEYS);
  assert_int_equal(dict_len(di), N_INT_KEYS);
  assert_int_equal(dict_len(df), N_INT_KEYS);
  /* The floats are the ints' keys: updating the int dict with them adds
   * nothing. */
  update_and_find(di, floats, N_INT_KEYS);
  assert_int_equal(dict_len(di), N_INT_KEYS);
  uint64_t got = probe_max("dict_probe_max");
  stop();
  free(ints);
  free(floats);
  check_probe_bound(got);
}

/* collide_name, fast: the FNV-1a state of "k" and every hex digit but the
 * last is computed once per 16 counters (they share it), and the 16 last
 * digits tried from there. The same names as collide_name, in the same order
 * (test_collide_name_fast checks it). */
static size_t fast_collide_name(uint64_t *counter, unsigned bits, char *buf) {
  static const char hex[] = "0123456789abcdef";
  const uint64_t mask = (1ull << bits) - 1, prime = 0x100000001b3ull;
  for (;;) {
    uint64_t c = *counter;
    char digits[17];
    int nd = 0;
    uint64_t x = c;
    do {
      digits[nd++] = hex[x & 15];
      x >>= 4;
    } while (x);
    buf[0] = 'k';
    for (int i = 0; i < nd; i++)
      buf[1 + i] = digits[nd - 1 - i];
    size_t n = 1 + (size_t)nd;
    buf[n] = '\0';
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i + 1 < n; i++)
      h = (h ^ (uint8_t)buf[i]) * prime;
    for (uint64_t dgt = c & 15; dgt < 16; dgt++) {
      if ((((h ^ (uint8_t)hex[dgt]) * prime) & mask) == 0) {
        buf[n - 1] = hex[dgt];
        *counter = (c & ~15ull) + dgt + 1;
        return n;
      }
    }
    *counter = (c | 15) + 1;
  }
}

static void test_collide_name_fast(void **st) {
  (void)st;
  uint64_t c1 = 0, c2 = 0;
  for (int i = 0; i < 24; i++) {
    char a[24], b[24];
    size_t na = collide_name(&c1, NAME_BITS, a);
    size_t nb = fast_collide_name(&c2, NAME_BITS, b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    assert_true(c1 == c2);
  }
}

/* N_NAMES names whose old FNV hash has its low NAME_BITS bits zero, each
 * checked against the old hash. */
static char (*colliding_names(size_t *lens))[24] {
  char(*names)[24] = malloc(N_NAMES * sizeof *names);
  assert_non_null(names);
  uint64_t counter = 0;
  for (size_t i = 0; i < N_NAMES; i++) {
    lens[i] = fast_collide_name(&counter, NAME_BITS, names[i]);
    assert_true((collide_old_fnv(names[i], lens[i]) & (N_NAMES - 1)) == 0);
    assert_true(i == 0 || strcmp(names[i], names[i - 1]) != 0);
  }
  return names;
}

/* Text dict keys that collide under the old FNV. */
static void test_probe_old_fnv_text_keys(void **st) {
  (void)st;
  size_t *lens = malloc(N_NAMES * sizeof *lens);
  assert_non_null(lens);
  char(*names)[24] = colliding_names(lens);
  mgr_value *keys = malloc(N_NAMES * sizeof *keys);
  assert_non_null(keys);
  for (size_t i = 0; i < N_NAMES; i++)
    keys[i] = mgr_textn(names[i], lens[i]);
  start();
  uint64_t d = new_dict();
  update_and_find(d, keys, N_NAMES);
  assert_int_equal(dict_len(d), N_NAMES);
  uint64_t got = probe_max("dict_probe_max");
  stop();
  free(keys);
  free(names);
  free(lens);
  check_probe_bound(got);
}

/* Object names that collide under the old FNV, through OPEN (create, then
 * open again). */
static void test_probe_old_fnv_names(void **st) {
  (void)st;
  size_t *lens = malloc(N_NAMES * sizeof *lens);
  assert_non_null(lens);
  char(*names)[24] = colliding_names(lens);
  start();
  assert_int_equal(stats_hash("name_probe_max"), 0);
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < N_NAMES; i++) {
      mgr_value a[2] = {mgr_textn(names[i], lens[i]), mgr_int(3)};
      mgri_hreply *r = call(4, 0, a, 2);
      ok(r);
      assert_int_equal(r->result.type, MGR_T_ARRAY);
      assert_int_equal(r->result.u.a.len, 2);
      const mgr_value *created = &r->result.u.a.items[1];
      assert_int_equal(created->type, MGR_T_BOOL);
      assert_int_equal(created->u.b, pass == 0);
    }
  }
  uint64_t got = probe_max("name_probe_max");
  stop();
  free(names);
  free(lens);
  check_probe_bound(got);
}

/* Arrays [b"a", s, 0, t] with s 6 bytes and t 7 bytes, t[i + 1] == ~s[i]:
 * distinct keys that a streaming hash losing a partial word's byte count
 * (test_partial_words_not_lost) would hash alike under every key, whatever
 * the server's secret. */
#define N_OR_KEYS 4096u

static void test_probe_partial_word_keys(void **st) {
  (void)st;
  uint8_t(*bytes)[13] = malloc(N_OR_KEYS * sizeof *bytes);
  mgr_value(*items)[4] = malloc(N_OR_KEYS * sizeof *items);
  mgr_value *keys = malloc(N_OR_KEYS * sizeof *keys);
  assert_non_null(bytes);
  assert_non_null(items);
  assert_non_null(keys);
  for (uint64_t j = 0; j < N_OR_KEYS; j++) {
    uint8_t *s = bytes[j], *t = bytes[j] + 6;
    t[0] = 0;
    for (int i = 0; i < 6; i++) {
      s[i] = (uint8_t)((j * 0x9e3779b97f4a7c15ull) >> (8 * i));
      t[i + 1] = (uint8_t)~s[i];
    }
    items[j][0] = mgr_bytes("a", 1);
    items[j][1] = mgr_bytes(s, 6);
    items[j][2] = mgr_int(0);
    items[j][3] = mgr_bytes(t, 7);
    keys[j] = mgr_array(items[j], 4);
  }
  start();
  uint64_t d = new_dict();
  update_and_find(d, keys, N_OR_KEYS);
  assert_int_equal(dict_len(d), N_OR_KEYS); /* distinct keys */
  uint64_t got = probe_max("dict_probe_max");
  stop();
  free(keys);
  free(items);
  free(bytes);
  check_probe_bound(got);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_siphash_vectors),
      cmocka_unit_test(test_siphash_streaming),
      cmocka_unit_test(test_siphash_openssl),
      cmocka_unit_test(test_equal_keys_hash_alike),
      cmocka_unit_test(test_numbers_hash_like_their_equals),
      cmocka_unit_test(test_distinct_keys_and_key_dependence),
      cmocka_unit_test(test_partial_words_not_lost),
      cmocka_unit_test(test_hashable_status),
      cmocka_unit_test(test_probe_old_int_hash),
      cmocka_unit_test(test_probe_identity_hash),
      cmocka_unit_test(test_collide_name_fast),
      cmocka_unit_test(test_probe_old_fnv_text_keys),
      cmocka_unit_test(test_probe_old_fnv_names),
      cmocka_unit_test(test_probe_partial_word_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
