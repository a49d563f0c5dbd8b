/* mgr tests — the strict CBOR codec: accepted and rejected items with their
 * offsets, truncation, limits, preferred widths, canonical round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"
#include "mgr/mgr.h"
#include "util.h"

#define ARR(...) ((mgr_value[]){__VA_ARGS__})
#define NARGS(...) (sizeof(ARR(__VA_ARGS__)) / sizeof(mgr_value))
#define A(...) mgr_array(ARR(__VA_ARGS__), NARGS(__VA_ARGS__))
#define M(...) mgr_map(ARR(__VA_ARGS__), NARGS(__VA_ARGS__) / 2)

static mgr_value ref(uint32_t kind, uint64_t id) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_REF;
  v.u.ref.kind = kind;
  v.u.ref.id = id;
  return v;
}

/* Strict structural identity: unlike ==, NaN matches NaN and 1 != 1.0. */
static bool same(const mgr_value *a, const mgr_value *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case MGR_T_NIL:
    return true;
  case MGR_T_BOOL:
    return a->u.b == b->u.b;
  case MGR_T_INT:
    return a->u.i == b->u.i;
  case MGR_T_FLOAT:
    return (isnan(a->u.f) && isnan(b->u.f)) ||
           memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0;
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    return a->u.s.len == b->u.s.len &&
           (!a->u.s.len || !memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len));
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    if (a->u.a.len != b->u.a.len) return false;
    size_t n = a->u.a.len * (a->type == MGR_T_MAP ? 2 : 1);
    for (size_t i = 0; i < n; i++)
      if (!same(&a->u.a.items[i], &b->u.a.items[i])) return false;
    return true;
  }
  case MGR_T_REF:
    return a->u.ref.kind == b->u.ref.kind && a->u.ref.id == b->u.ref.id;
  }
  return false;
}

/* Decodes from an exact-size heap copy so ASan sees any read past the end. */
static int decode_lim(const uint8_t *p, size_t n, const mgri_limits *lim,
                      mgri_arena *a, mgr_value *out, mgri_decode_error *e) {
  uint8_t *copy = malloc(n ? n : 1);
  assert_non_null(copy);
  if (n) memcpy(copy, p, n);
  int rc = mgri_cbor_decode(copy, n, lim, a, out, e);
  free(copy);
  return rc;
}

/* Decodes hex; on success re-encodes and checks the bytes are identical. */
static int try_hex(const char *hex, mgri_decode_error *e,
                   const mgri_limits *lim) {
  uint8_t *p;
  size_t n = tu_unhex(hex, &p);
  assert_true(n != (size_t)-1);
  mgri_arena a;
  mgri_arena_init(&a, 0);
  mgr_value v;
  int rc = decode_lim(p, n, lim, &a, &v, e);
  if (rc == MGR_OK) {
    mgri_buf b;
    mgri_buf_init(&b, 0);
    assert_int_equal(mgri_cbor_value(&b, &v), MGR_OK);
    if (b.len != n || memcmp(b.data, p, n) != 0)
      fail_msg("re-encoding of %s differs", hex);
    mgri_buf_fini(&b);
  } else {
    assert_int_equal(v.type, MGR_T_NIL);
  }
  mgri_arena_fini(&a);
  free(p);
  return rc;
}

static void expect_ok(const char *hex) {
  mgri_decode_error e;
  int rc = try_hex(hex, &e, NULL);
  if (rc != MGR_OK)
    fail_msg("%s: %s at %zu (%s)", hex, mgr_err_name(rc), e.offset, e.what);
}

static void expect_err(const char *hex, int code, size_t off) {
  mgri_decode_error e = {0, 0, NULL};
  int rc = try_hex(hex, &e, NULL);
  if (rc != code || e.code != code || e.offset != off)
    fail_msg("%s: got %s @%zu (%s), want %s @%zu", hex, mgr_err_name(rc),
             e.offset, e.what ? e.what : "", mgr_err_name(code), off);
  assert_non_null(e.what);
}

static const char *const valid[] = {
    "00",
    "17",
    "1818",
    "18ff",
    "190100",
    "19ffff",
    "1a00010000",
    "1affffffff",
    "1b0000000100000000",
    "1b7fffffffffffffff",
    "20",
    "37",
    "3818",
    "38ff",
    "390100",
    "3b7fffffffffffffff",
    "f4",
    "f5",
    "f6",
    "f90000",
    "f98000",
    "f93c00",
    "f93e00",
    "f97bff",
    "f97c00",
    "f9fc00",
    "f97e00",
    "f90001",
    "f903ff",
    "f90400",
    "fa477fe100",
    "fa47c35000",
    "fa7f7fffff",
    "fa00000001",
    "fa33000000",
    "fb3fd5555555555555",
    "fb3fb999999999999a",
    "fb7e37e43c8800759c",
    "fb3690000000000000",
    "40",
    "4161",
    "5818000102030405060708090a0b0c0d0e0f1011121314151617",
    "60",
    "6161",
    "62c3a9",
    "63e282ac",
    "64f0908d88",
    "63efbfbf",
    "64f48fbfbf",
    "80",
    "83010203",
    "8301820203820405",
    "a0",
    "a1616101",
    "a2616101616202",
    "a201010202",
    "a3f6f4f5f4f4f5", /* None, True, False */
    "a1820102f5",
    "d96d67820101",
    "d96d67820505",
    "d96d6782011b7fffffffffffffff",
    "82d96d67820203d96d67820304",
    "a1d96d6782010a01",
    "a26161a1616281f6616283f93e00fa47c3500063c3a961",
};

static void accepts(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
    expect_ok(valid[i]);
  expect_ok("8181818181818181818181818181818181818181818181818181818181818180");
}

static void decoded_values(void **state) {
  (void)state;
  static const struct {
    const char *hex;
    int64_t i;
  } ints[] = {
      {"17", 23},
      {"1818", 24},
      {"18ff", 255},
      {"190100", 256},
      {"19ffff", 65535},
      {"1a00010000", 65536},
      {"1affffffff", 4294967295},
      {"1b0000000100000000", 4294967296},
      {"1b7fffffffffffffff", INT64_MAX},
      {"20", -1},
      {"37", -24},
      {"3818", -25},
      {"3b7fffffffffffffff", INT64_MIN},
  };
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    uint8_t *p;
    size_t n = tu_unhex(ints[i].hex, &p);
    mgri_arena a;
    mgri_arena_init(&a, 0);
    mgr_value v;
    assert_int_equal(mgri_cbor_decode(p, n, NULL, &a, &v, NULL), MGR_OK);
    assert_int_equal(v.type, MGR_T_INT);
    assert_true(v.u.i == ints[i].i);
    mgri_buf b;
    mgri_buf_init(&b, 0);
    mgri_cbor_int(&b, ints[i].i);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, p, n);
    mgri_buf_fini(&b);
    mgri_arena_fini(&a);
    free(p);
  }
  /* Text is copied into the arena and NUL-terminated. */
  uint8_t in[] = {0x82, 0x62, 'h', 'i', 0x42, 1, 2};
  mgri_arena a;
  mgri_arena_init(&a, 0);
  mgr_value v;
  assert_int_equal(mgri_cbor_decode(in, sizeof in, NULL, &a, &v, NULL), MGR_OK);
  assert_int_equal(v.type, MGR_T_ARRAY);
  assert_int_equal(v.u.a.len, 2);
  assert_string_equal(v.u.a.items[0].u.s.ptr, "hi");
  assert_true(v.u.a.items[0].u.s.ptr != (const char *)in + 2);
  assert_int_equal(v.u.a.items[1].type, MGR_T_BYTES);
  assert_memory_equal(v.u.a.items[1].u.s.ptr, "\1\2", 2);
  mgri_arena_reset(&a);
  uint8_t r[] = {0xd9, 0x6d, 0x67, 0x82, 0x03, 0x18, 0x2a};
  assert_int_equal(mgri_cbor_decode(r, sizeof r, NULL, &a, &v, NULL), MGR_OK);
  assert_int_equal(v.type, MGR_T_REF);
  assert_int_equal(v.u.ref.kind, MGR_K_VAR);
  assert_int_equal(v.u.ref.id, 42);
  uint8_t e[] = {0x60};
  assert_int_equal(mgri_cbor_decode(e, 1, NULL, &a, &v, NULL), MGR_OK);
  assert_non_null(v.u.s.ptr);
  assert_string_equal(v.u.s.ptr, "");
  mgri_arena_fini(&a);
}

/* Checks spec R-3.1-a, R-4-a, R-4.2-a, R-4.3-a, R-4.5-a, R-4.6-d, R-4.6-f, R-4.7-a, R-4.7-b (spec/protocol.md; tests/reqs/check_reqs.py). */
static void rejects(void **state) {
  (void)state;
  static const struct {
    const char *hex;
    int code;
    size_t off;
  } t[] = {
      /* empty, truncated, counts beyond the input */
      {"", MGR_EDECODE, 0},
      {"18", MGR_EDECODE, 0},
      {"8201", MGR_EDECODE, 0},
      {"a10101a1", MGR_EDECODE, 3},
      {"5affffffff", MGR_EDECODE, 0},
      {"7b7fffffffffffffff", MGR_EDECODE, 0},
      {"9b7fffffffffffffff", MGR_ETOOBIG, 0},
      {"bb7fffffffffffffff", MGR_ETOOBIG, 0},
      {"a2010203", MGR_EDECODE, 0}, /* 2 pairs need 4 bytes, 3 left */
      /* non-shortest heads */
      {"1800", MGR_EDECODE, 0},
      {"1817", MGR_EDECODE, 0},
      {"1900ff", MGR_EDECODE, 0},
      {"1a0000ffff", MGR_EDECODE, 0},
      {"1b00000000ffffffff", MGR_EDECODE, 0},
      {"3800", MGR_EDECODE, 0},
      {"5800", MGR_EDECODE, 0},
      {"7800", MGR_EDECODE, 0},
      {"9800", MGR_EDECODE, 0},
      {"b800", MGR_EDECODE, 0},
      {"d80001", MGR_EDECODE, 0},
      {"82011900ff", MGR_EDECODE, 2},
      {"d96d678201190001", MGR_EDECODE, 5},
      /* integers outside int64 */
      {"1b8000000000000000", MGR_EDECODE, 0},
      {"1bffffffffffffffff", MGR_EDECODE, 0},
      {"3b8000000000000000", MGR_EDECODE, 0},
      /* reserved additional info, indefinite lengths, break */
      {"1c", MGR_EDECODE, 0},
      {"1d", MGR_EDECODE, 0},
      {"1e", MGR_EDECODE, 0},
      {"3c", MGR_EDECODE, 0},
      {"fc", MGR_EDECODE, 0},
      {"1f", MGR_EDECODE, 0},
      {"5f4100ff", MGR_EDECODE, 0},
      {"7f6161ff", MGR_EDECODE, 0},
      {"9f01ff", MGR_EDECODE, 0},
      {"bf0101ff", MGR_EDECODE, 0},
      {"ff", MGR_EDECODE, 0},
      {"8101ff", MGR_EDECODE, 2},
      /* simple values */
      {"f7", MGR_EDECODE, 0},
      {"e0", MGR_EDECODE, 0},
      {"f3", MGR_EDECODE, 0},
      {"f820", MGR_EDECODE, 0},
      {"f8", MGR_EDECODE, 0},
      /* floats: NaN payloads and non-preferred widths */
      {"f97e01", MGR_EDECODE, 0},
      {"f9fe00", MGR_EDECODE, 0},
      {"f97c01", MGR_EDECODE, 0},
      {"f97fff", MGR_EDECODE, 0},
      {"fa7fc00000", MGR_EDECODE, 0},
      {"fb7ff8000000000000", MGR_EDECODE, 0},
      {"fa3f800000", MGR_EDECODE, 0}, /* 1.0 */
      {"fa00000000", MGR_EDECODE, 0}, /* 0.0 */
      {"fa80000000", MGR_EDECODE, 0}, /* -0.0 */
      {"fa7f800000", MGR_EDECODE, 0}, /* inf */
      {"fa477fe000", MGR_EDECODE, 0}, /* 65504 */
      {"fa33800000", MGR_EDECODE, 0}, /* 2^-24, a half subnormal */
      {"fb3ff0000000000000", MGR_EDECODE, 0},
      {"fb40effc0000000000", MGR_EDECODE, 0}, /* 65504 */
      {"fb40efffc000000000", MGR_EDECODE, 0}, /* 65535.0 exact in f32 */
      {"fb7ff0000000000000", MGR_EDECODE, 0},
      {"fb8000000000000000", MGR_EDECODE, 0},
      {"fb3690000000000000"
       "00",
       MGR_EDECODE, 9},
      {"820bfa3f800000", MGR_EDECODE, 2},
      /* tags */
      {"c000", MGR_EDECODE, 0},
      {"c11a00000000", MGR_EDECODE, 0},
      {"d96d66820101", MGR_EDECODE, 0},
      {"da00006d67820101", MGR_EDECODE, 0}, /* 28007, non-shortest head */
      {"d96d6701", MGR_EDECODE, 0},
      {"d96d678101", MGR_EDECODE, 0},
      {"d96d6783010101", MGR_EDECODE, 0},
      {"d96d67820001", MGR_EDECODE, 0},
      {"d96d67820f01", MGR_EDECODE, 0},
      {"d96d67822001", MGR_EDECODE, 0},
      {"d96d67820100", MGR_EDECODE, 0},
      {"d96d678201f6", MGR_EDECODE, 0},
      {"d96d67820120", MGR_EDECODE, 0},
      {"82f6d96d67820100", MGR_EDECODE, 2},
      {"d96d67d96d67820101", MGR_EDECODE, 0},
      /* trailing bytes */
      {"0000", MGR_EDECODE, 1},
      {"80f6", MGR_EDECODE, 1},
      {"a0a0", MGR_EDECODE, 1},
      /* UTF-8 */
      {"61ff", MGR_EDECODE, 0},
      {"6180", MGR_EDECODE, 0},
      {"62c080", MGR_EDECODE, 0},
      {"62c1bf", MGR_EDECODE, 0},
      {"63e09fbf", MGR_EDECODE, 0},
      {"64f08fbfbf", MGR_EDECODE, 0},
      {"63eda080", MGR_EDECODE, 0},
      {"63edbfbf", MGR_EDECODE, 0},
      {"64f4908080", MGR_EDECODE, 0},
      {"61c3", MGR_EDECODE, 0},
      {"820161ff", MGR_EDECODE, 2},
      /* map keys: duplicates by Python equality, unhashable, NaN */
      {"a201010102", MGR_EDECODE, 3},
      {"a20100f93c0000", MGR_EDECODE, 3},
      {"a20100f500", MGR_EDECODE, 3},
      {"a2f500f93c0000", MGR_EDECODE, 3},
      {"a2f400f9800000", MGR_EDECODE, 3},
      {"a2616101616102", MGR_EDECODE, 4},
      {"a3616101616202616103", MGR_EDECODE, 7},
      {"a2820102008201f9400000", MGR_EDECODE, 5},
      {"a2d96d67820101f6d96d67820101f6", MGR_EDECODE, 8},
      {"a2f600f600", MGR_EDECODE, 3},
      {"a1a001", MGR_EDECODE, 1},
      {"a181a001", MGR_EDECODE, 1},
      {"a18201a0f5", MGR_EDECODE, 1},
      {"a1f97e0001", MGR_EDECODE, 1},
      {"a181f97e0000", MGR_EDECODE, 1},
      {"a2010201a1a001", MGR_EDECODE, 5},
      {"81a2010101f6", MGR_EDECODE, 4},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    expect_err(t[i].hex, t[i].code, t[i].off);
  expect_err("a181a0f5", MGR_EDECODE, 1);
}

/* Checks spec R-4.5-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void what_strings(void **state) {
  (void)state;
  mgri_decode_error e;
  assert_int_equal(try_hex("8201", &e, NULL), MGR_EDECODE);
  assert_string_equal(e.what, "unexpected end");
  assert_int_equal(try_hex("1800", &e, NULL), MGR_EDECODE);
  assert_string_equal(e.what, "non-shortest head");
  assert_int_equal(try_hex("a201010102", &e, NULL), MGR_EDECODE);
  assert_string_equal(e.what, "duplicate map key");
  assert_int_equal(try_hex("0000", &e, NULL), MGR_EDECODE);
  assert_string_equal(e.what, "trailing bytes");
  /* err may be NULL */
  uint8_t x[] = {0x18, 0x00};
  mgri_arena a;
  mgri_arena_init(&a, 0);
  mgr_value v;
  assert_int_equal(mgri_cbor_decode(x, 2, NULL, &a, &v, NULL), MGR_EDECODE);
  mgri_arena_fini(&a);
}

/* Every proper prefix of an accepted item is "unexpected end", read within
 * bounds. */
/* Checks spec R-4.6-c, R-4.6-f, R-4.7-c (spec/protocol.md; tests/reqs/check_reqs.py). */
static void truncations(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
    uint8_t *p;
    size_t n = tu_unhex(valid[i], &p);
    mgri_arena a;
    mgri_arena_init(&a, 0);
    for (size_t k = 0; k < n; k++) {
      mgri_decode_error e;
      mgr_value v;
      int rc = decode_lim(p, k, NULL, &a, &v, &e);
      if (rc != MGR_EDECODE || strcmp(e.what, "unexpected end") != 0)
        fail_msg("%s cut at %zu: %s (%s)", valid[i], k, mgr_err_name(rc),
                 e.what ? e.what : "");
      assert_true(e.offset < n);
      mgri_arena_reset(&a);
    }
    mgri_arena_fini(&a);
    free(p);
  }
}

static char *nested(const char *open, unsigned depth, const char *leaf) {
  size_t ol = strlen(open), ll = strlen(leaf);
  char *s = malloc(ol * depth + ll + 1);
  for (unsigned i = 0; i < depth; i++)
    memcpy(s + ol * i, open, ol);
  memcpy(s + ol * depth, leaf, ll + 1);
  return s;
}

/* Checks spec R-4.6-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void depth_limit(void **state) {
  (void)state;
  mgri_decode_error e;
  /* 31 arrays around an empty one: depth 32 accepted. */
  char *h = nested("81", 31, "80");
  assert_int_equal(try_hex(h, &e, NULL), MGR_OK);
  free(h);
  h = nested("81", 31, "01");
  assert_int_equal(try_hex(h, &e, NULL), MGR_OK);
  free(h);
  /* 32 arrays then an int: the int is at depth 33. */
  h = nested("81", 32, "01");
  assert_int_equal(try_hex(h, &e, NULL), MGR_ETOOBIG);
  assert_int_equal(e.offset, 32);
  free(h);
  h = nested("a101", 31, "01");
  assert_int_equal(try_hex(h, &e, NULL), MGR_OK);
  free(h);
  /* In the 32nd map the key (at 63) is already at depth 33. */
  h = nested("a101", 32, "01");
  assert_int_equal(try_hex(h, &e, NULL), MGR_ETOOBIG);
  assert_int_equal(e.offset, 63);
  free(h);
  /* A ref is a leaf: its [kind, id] does not count as a level. */
  h = nested("81", 31, "d96d67820101");
  assert_int_equal(try_hex(h, &e, NULL), MGR_OK);
  free(h);
  /* A lower configured limit. */
  mgri_limits lim;
  mgri_limits_default(&lim);
  lim.depth_max = 3;
  assert_int_equal(try_hex("818101", &e, &lim), MGR_OK);
  assert_int_equal(try_hex("81818101", &e, &lim), MGR_ETOOBIG);
  assert_int_equal(e.offset, 3);
  /* Above the ceiling is clamped to it. */
  lim.depth_max = 1000;
  h = nested("81", 32, "01");
  assert_int_equal(try_hex(h, &e, &lim), MGR_ETOOBIG);
  free(h);
}

/* Checks spec R-4.6-b (spec/protocol.md; tests/reqs/check_reqs.py). */
static void items_limit(void **state) {
  (void)state;
  mgri_decode_error e;
  mgri_limits lim;
  mgri_limits_default(&lim);
  lim.items_max = 10;
  assert_int_equal(try_hex("89010203040506070809", &e, &lim), MGR_OK);
  assert_int_equal(try_hex("8a0102030405060708090a", &e, &lim), MGR_ETOOBIG);
  assert_int_equal(e.offset, 0); /* refused at the head, before allocating */
  lim.items_max = 11;
  assert_int_equal(try_hex("82840102030485050607080a", &e, &lim), MGR_ETOOBIG);
  assert_int_equal(e.offset, 6);
  lim.items_max = 12;
  assert_int_equal(try_hex("82840102030485050607080a", &e, &lim), MGR_OK);
  /* A map counts keys and values. */
  lim.items_max = 4;
  assert_int_equal(try_hex("a201020304", &e, &lim), MGR_ETOOBIG);
  lim.items_max = 5;
  assert_int_equal(try_hex("a201020304", &e, &lim), MGR_OK);
  /* One item. */
  lim.items_max = 1;
  assert_int_equal(try_hex("01", &e, &lim), MGR_OK);
  assert_int_equal(try_hex("8101", &e, &lim), MGR_ETOOBIG);
  assert_int_equal(try_hex("80", &e, &lim), MGR_OK);
}

/* Checks spec R-4.7-d (spec/protocol.md; tests/reqs/check_reqs.py). */
static void arena_limit(void **state) {
  (void)state;
  uint8_t *p;
  size_t n = tu_unhex("8301820203820405", &p);
  mgri_arena a;
  /* Raise the limit step by step until decoding succeeds; each failure is a
   * clean ENOMEM. */
  size_t lim = 0;
  for (lim = 16;; lim += 16) {
    mgri_arena_init(&a, lim);
    mgri_decode_error e;
    mgr_value v;
    int rc = mgri_cbor_decode(p, n, NULL, &a, &v, &e);
    mgri_arena_fini(&a);
    if (rc == MGR_OK) break;
    assert_int_equal(rc, MGR_ENOMEM);
    assert_int_equal(e.code, MGR_ENOMEM);
    assert_int_equal(v.type, MGR_T_NIL);
    assert_true(lim < 4096);
  }
  assert_true(lim >= 3 * sizeof(mgr_value));
  free(p);
}

static void expect_enc(const mgr_value *v, const char *hex) {
  mgri_buf b;
  mgri_buf_init(&b, 0);
  assert_int_equal(mgri_cbor_value(&b, v), MGR_OK);
  uint8_t *p;
  size_t n = tu_unhex(hex, &p);
  if (b.len != n || memcmp(b.data, p, n) != 0) {
    char got[256] = "";
    for (size_t i = 0; i < b.len && i < 100; i++)
      sprintf(got + 2 * i, "%02x", b.data[i]);
    fail_msg("encoded %s, want %s", got, hex);
  }
  free(p);
  mgri_buf_fini(&b);
}

/* Checks spec R-4.4-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void float_widths(void **state) {
  (void)state;
  static const struct {
    double d;
    const char *hex;
  } t[] = {
      {0.0, "f90000"},
      {-0.0, "f98000"},
      {1.0, "f93c00"},
      {1.5, "f93e00"},
      {65504.0, "f97bff"},
      {65505.0, "fa477fe100"},
      {-65504.0, "f9fbff"},
      {65536.0, "fa47800000"},
      {0x1p-14, "f90400"},
      {0x1p-24, "f90001"},
      {0x3ffp-24, "f903ff"},
      {0x1.8p-24, "fa33c00000"},
      {0x1p-25, "fa33000000"},
      {-0x1p-24, "f98001"},
      {1.0 / 3, "fb3fd5555555555555"},
      {0.1, "fb3fb999999999999a"},
      {100000.0, "fa47c35000"},
      {3.4028234663852886e38, "fa7f7fffff"},
      {0x1p-149, "fa00000001"},
      {0x1p-150, "fb3690000000000000"},
      {1e300, "fb7e37e43c8800759c"},
      {INFINITY, "f97c00"},
      {-INFINITY, "f9fc00"},
      {NAN, "f97e00"},
      {-NAN, "f97e00"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    mgr_value v = mgr_float(t[i].d);
    expect_enc(&v, t[i].hex);
    expect_ok(t[i].hex);
  }
  /* Every half decodes, and a non-NaN half re-encodes to itself. */
  for (uint32_t h = 0; h <= 0xffff; h++) {
    uint8_t in[3] = {0xf9, (uint8_t)(h >> 8), (uint8_t)h};
    mgri_arena a;
    mgri_arena_init(&a, 0);
    mgr_value v;
    int rc = mgri_cbor_decode(in, 3, NULL, &a, &v, NULL);
    bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
    if (nan) {
      assert_int_equal(rc, h == 0x7e00 ? MGR_OK : MGR_EDECODE);
    } else {
      assert_int_equal(rc, MGR_OK);
      mgri_buf b;
      mgri_buf_init(&b, 0);
      mgri_cbor_float(&b, v.u.f);
      assert_int_equal(b.len, 3);
      assert_memory_equal(b.data, in, 3);
      mgri_buf_fini(&b);
    }
    mgri_arena_fini(&a);
  }
}

/* Checks spec R-4-b, R-4.2-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void int_and_head_encoding(void **state) {
  (void)state;
  static const struct {
    int64_t i;
    const char *hex;
  } t[] = {
      {0, "00"},
      {23, "17"},
      {24, "1818"},
      {255, "18ff"},
      {256, "190100"},
      {65535, "19ffff"},
      {65536, "1a00010000"},
      {4294967295, "1affffffff"},
      {4294967296, "1b0000000100000000"},
      {INT64_MAX, "1b7fffffffffffffff"},
      {-1, "20"},
      {-24, "37"},
      {-25, "3818"},
      {-256, "38ff"},
      {-257, "390100"},
      {INT64_MIN, "3b7fffffffffffffff"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    mgr_value v = mgr_int(t[i].i);
    expect_enc(&v, t[i].hex);
  }
  mgri_buf b;
  mgri_buf_init(&b, 0);
  mgri_cbor_uint(&b, UINT64_MAX);
  mgri_cbor_head(&b, 5, 1);
  mgri_cbor_ref(&b, 2, 300);
  mgri_cbor_text(&b, "", 0);
  mgri_cbor_bytes(&b, NULL, 0);
  mgri_cbor_array(&b, 0);
  mgri_cbor_map(&b, 24);
  mgri_cbor_bool(&b, false);
  mgri_cbor_nil(&b);
  uint8_t *p;
  size_t n = tu_unhex(
      "1bffffffffffffffff a1 d96d67820219012c 60 40 80 b818 f4 f6", &p);
  assert_int_equal(b.len, n);
  assert_memory_equal(b.data, p, n);
  free(p);
  mgri_buf_fini(&b);
  mgr_value v = M(mgr_text("b"), A(), mgr_text("a"), ref(5, 1));
  expect_enc(&v, "a26162806161d96d67820501");
}

/* Checks spec R-4.8-b (spec/protocol.md; tests/reqs/check_reqs.py). */
static void encoder_rejects(void **state) {
  (void)state;
  mgr_value chain[34];
  chain[0] = mgr_int(1);
  for (int i = 1; i < 34; i++)
    chain[i] = mgr_array(&chain[i - 1], 1);
  mgr_value bad[] = {
      mgr_textn("\xff", 1),
      mgr_textn(NULL, 1),
      mgr_bytes(NULL, 2),
      mgr_array(NULL, 1),
      A(mgr_int(1), mgr_textn("\xed\xa0\x80", 3)),
      M(mgr_int(1), mgr_nil(), mgr_float(1.0), mgr_nil()),
      M(mgr_text("a"), mgr_nil(), mgr_text("a"), mgr_nil()),
      M(mgr_bool(true), mgr_nil(), mgr_int(1), mgr_nil()),
      M(M(), mgr_nil()),
      M(A(M()), mgr_nil()),
      M(mgr_float(NAN), mgr_nil()),
      ref(0, 1),
      ref(15, 1),
      ref(1, 0),
      chain[32], /* depth 33 */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mgri_buf b;
    mgri_buf_init(&b, 0);
    mgri_cbor_nil(&b);
    int rc = mgri_cbor_value(&b, &bad[i]);
    if (rc != MGR_EINVAL) fail_msg("case %zu: %s", i, mgr_err_name(rc));
    assert_int_equal(b.len, 1); /* nothing of the value appended */
    assert_int_equal(b.err, 0);
    mgri_buf_fini(&b);
  }
  mgri_buf b;
  mgri_buf_init(&b, 0);
  assert_int_equal(mgri_cbor_value(&b, &chain[31]), MGR_OK);
  /* Nested in a message: a reply's result is at depth 2. */
  mgri_buf_clear(&b);
  assert_int_equal(mgri_cbor_value_at(&b, &chain[31], 2), MGR_EINVAL);
  assert_int_equal(b.len, 0);
  assert_int_equal(mgri_cbor_value_at(&b, &chain[30], 2), MGR_OK);
  assert_int_equal(mgri_cbor_value_at(&b, &chain[29], 3), MGR_OK);
  assert_int_equal(mgri_cbor_value_at(&b, &chain[30], 3), MGR_EINVAL);
  mgri_buf_fini(&b);
  /* Buffer limit: sticky ETOOBIG. */
  mgri_buf_init(&b, 4);
  mgr_value t = mgr_text("hello");
  assert_int_equal(mgri_cbor_value(&b, &t), MGR_ETOOBIG);
  mgr_value one = mgr_int(1);
  assert_int_equal(mgri_cbor_value(&b, &one), MGR_ETOOBIG);
  mgri_buf_fini(&b);
}

/* A big map whose only duplicate comes last must be found (and fast). */
/* Checks spec R-4.6-e (spec/protocol.md; tests/reqs/check_reqs.py). */
static void big_map_duplicates(void **state) {
  (void)state;
  enum { N = 50000 };
  mgr_value *pairs = calloc(2 * N, sizeof *pairs);
  char(*keys)[12] = calloc(N, sizeof *keys);
  assert_non_null(pairs);
  for (int i = 0; i < N; i++) {
    if (i % 2) {
      pairs[2 * i] = mgr_int(i);
    } else {
      snprintf(keys[i], sizeof keys[i], "k%d", i);
      pairs[2 * i] = mgr_text(keys[i]);
    }
    pairs[2 * i + 1] = mgr_int(i);
  }
  mgr_value m = mgr_map(pairs, N);
  mgri_buf b;
  mgri_buf_init(&b, 0);
  assert_int_equal(mgri_cbor_value(&b, &m), MGR_OK);
  mgri_arena a;
  mgri_arena_init(&a, 0);
  mgr_value v;
  mgri_decode_error e;
  assert_int_equal(mgri_cbor_decode(b.data, b.len, NULL, &a, &v, &e), MGR_OK);
  assert_true(mgri_value_eq(&v, &m));
  mgri_arena_reset(&a);

  /* Make the last key 1.0, which equals the int key 1. */
  pairs[2 * (N - 1)] = mgr_float(1.0);
  assert_int_equal(mgri_cbor_value(&b, &m), MGR_EINVAL);
  mgri_buf_clear(&b);
  pairs[2 * (N - 1)] = mgr_int(N - 1);
  assert_int_equal(mgri_cbor_value(&b, &m), MGR_OK);
  size_t len = b.len;
  /* The last pair is int 49999 -> 49999 (19c34f 19c34f, 6 bytes); replace it
   * with 1 -> 0, a repeat of the int key 1 of pair 1. */
  mgri_buf c;
  mgri_buf_init(&c, 0);
  mgri_buf_append(&c, b.data, len - 6);
  uint8_t tail[] = {0x01, 0x00};
  mgri_buf_append(&c, tail, 2);
  assert_int_equal(mgri_cbor_decode(c.data, c.len, NULL, &a, &v, &e),
                   MGR_EDECODE);
  assert_string_equal(e.what, "duplicate map key");
  assert_int_equal(e.offset, len - 6);
  /* A second, earlier repeat is the one reported: the map head is b9c350,
   * pairs 0..4 ("k0" 0, 1 1, "k2" 2, 3 3, "k4" 4) take bytes 3..18, and
   * the key of pair 5 (05) at 19 becomes 03. */
  mgri_arena_reset(&a);
  assert_int_equal(c.data[0], 0xb9);
  assert_int_equal(c.data[19], 0x05);
  c.data[19] = 0x03;
  assert_int_equal(mgri_cbor_decode(c.data, c.len, NULL, &a, &v, &e),
                   MGR_EDECODE);
  assert_int_equal(e.offset, 19);
  mgri_buf_fini(&c);
  mgri_buf_fini(&b);
  mgri_arena_fini(&a);
  free(keys);
  free(pairs);
}

/* --- random trees ---------------------------------------------------------- */

typedef struct gen {
  uint64_t s;
  char *pool; /* string storage */
  size_t used, cap;
  mgr_value *nodes;
  size_t nused, ncap;
} gen;

static uint64_t rnd(gen *g, uint64_t n) { return tu_rand(&g->s) % n; }

static char *gbytes(gen *g, size_t n) {
  assert_true(g->used + n <= g->cap);
  char *p = g->pool + g->used;
  g->used += n;
  return p;
}

static size_t put_utf8(char *p, uint32_t c) {
  if (c < 0x80) return p[0] = (char)c, 1;
  if (c < 0x800) {
    p[0] = (char)(0xc0 | c >> 6);
    p[1] = (char)(0x80 | (c & 0x3f));
    return 2;
  }
  if (c < 0x10000) {
    p[0] = (char)(0xe0 | c >> 12);
    p[1] = (char)(0x80 | (c >> 6 & 0x3f));
    p[2] = (char)(0x80 | (c & 0x3f));
    return 3;
  }
  p[0] = (char)(0xf0 | c >> 18);
  p[1] = (char)(0x80 | (c >> 12 & 0x3f));
  p[2] = (char)(0x80 | (c >> 6 & 0x3f));
  p[3] = (char)(0x80 | (c & 0x3f));
  return 4;
}

static mgr_value gen_value(gen *g, int depth, bool key);

static double gen_double(gen *g) {
  switch (rnd(g, 6)) {
  case 0: { /* any bit pattern */
    uint64_t u = tu_rand(&g->s);
    double d;
    memcpy(&d, &u, 8);
    return d;
  }
  case 1: { /* any float */
    uint32_t u = (uint32_t)tu_rand(&g->s);
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  case 2: { /* any half-ish: small integer over a power of two */
    return ldexp((double)(int64_t)rnd(g, 4096) - 2048, (int)rnd(g, 60) - 40);
  }
  case 3:
    return (double)(int64_t)tu_rand(&g->s);
  case 4: {
    static const double sp[] = {0.0,      -0.0,     INFINITY, -INFINITY,
                                65504,    65505,    0x1p-24,  0x1p-25,
                                0x1p-149, 0x1p-150, 0x1p63};
    return sp[rnd(g, sizeof sp / sizeof sp[0])];
  }
  default:
    return (double)rnd(g, 1000) / 8;
  }
}

static mgr_value gen_value(gen *g, int depth, bool key) {
  int kind = (int)rnd(g, depth > 5 ? 7 : 10);
  if (key && kind == 9) kind = 8; /* no maps as keys */
  switch (kind) {
  case 0:
    return mgr_nil();
  case 1:
    return mgr_bool(rnd(g, 2));
  case 2: {
    int64_t i = (int64_t)tu_rand(&g->s) >> rnd(g, 64);
    return mgr_int(i);
  }
  case 3: {
    double d = gen_double(g);
    if (key && isnan(d)) d = 0.5;
    return mgr_float(d);
  }
  case 4: {
    size_t n = (size_t)rnd(g, 8), len = 0;
    if (rnd(g, 20) == 0) n = 30 + (size_t)rnd(g, 300);
    char *p = gbytes(g, n * 4 + 1);
    for (size_t i = 0; i < n; i++) {
      uint32_t c;
      switch (rnd(g, 4)) {
      case 0:
        c = (uint32_t)rnd(g, 0x80);
        break;
      case 1:
        c = 0x80 + (uint32_t)rnd(g, 0x780);
        break;
      case 2:
        c = 0x800 + (uint32_t)rnd(g, 0xf800);
        if (c >= 0xd800 && c <= 0xdfff) c = 0xe000;
        break;
      default:
        c = 0x10000 + (uint32_t)rnd(g, 0x100000);
      }
      len += put_utf8(p + len, c);
    }
    return mgr_textn(p, len);
  }
  case 5: {
    size_t n = (size_t)rnd(g, 30);
    char *p = gbytes(g, n);
    for (size_t i = 0; i < n; i++)
      p[i] = (char)rnd(g, 256);
    return mgr_bytes(p, n);
  }
  case 6:
    return ref(1 + (uint32_t)rnd(g, 5),
               1 + (tu_rand(&g->s) >> (1 + rnd(g, 63))));
  case 7:
  case 8: {
    size_t n = (size_t)rnd(g, 6);
    assert_true(g->nused + n <= g->ncap);
    mgr_value *it = g->nodes + g->nused;
    g->nused += n;
    for (size_t i = 0; i < n; i++)
      it[i] = gen_value(g, depth + 1, key);
    return mgr_array(it, n);
  }
  default: {
    size_t n = (size_t)rnd(g, 6);
    if (rnd(g, 30) == 0) n = 20 + (size_t)rnd(g, 40); /* the sorted path */
    assert_true(g->nused + 2 * n <= g->ncap);
    mgr_value *it = g->nodes + g->nused;
    g->nused += 2 * n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      mgr_value key_ = gen_value(g, depth + 1, true);
      bool dup = false;
      for (size_t j = 0; j < k && !dup; j++)
        dup = mgri_value_eq(&it[2 * j], &key_);
      if (dup) continue;
      it[2 * k] = key_;
      it[2 * k + 1] = gen_value(g, depth + 1, false);
      k++;
    }
    return mgr_map(it, k);
  }
  }
}

/* Checks spec R-4.8-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void random_round_trips(void **state) {
  (void)state;
  gen g = {tu_seed("random_round_trips"), NULL, 0, 1u << 22, NULL, 0, 1u << 20};
  g.pool = malloc(g.cap);
  g.nodes = malloc(g.ncap * sizeof *g.nodes);
  mgri_arena a;
  mgri_arena_init(&a, 0);
  mgri_buf b, c;
  mgri_buf_init(&b, 0);
  mgri_buf_init(&c, 0);
  for (int iter = 0; iter < 3000; iter++) {
    g.used = g.nused = 0;
    mgr_value v = gen_value(&g, 1, false);
    mgri_buf_clear(&b);
    mgri_buf_clear(&c);
    int rc = mgri_cbor_value(&b, &v);
    if (rc != MGR_OK) fail_msg("iter %d: encode %s", iter, mgr_err_name(rc));
    mgr_value d;
    mgri_decode_error e;
    rc = mgri_cbor_decode(b.data, b.len, NULL, &a, &d, &e);
    if (rc != MGR_OK)
      fail_msg("iter %d: decode %s @%zu %s", iter, mgr_err_name(rc), e.offset,
               e.what);
    assert_true(same(&v, &d));
    assert_int_equal(mgri_cbor_value(&c, &d), MGR_OK);
    assert_int_equal(c.len, b.len);
    assert_memory_equal(c.data, b.data, b.len);
    /* An owned copy compares equal and frees in one call. */
    mgr_value o;
    assert_int_equal(mgr_value_copy(&o, &d), MGR_OK);
    assert_true(same(&o, &v));
    mgr_value_free(&o);
    /* Mutated bytes: whatever decodes must re-encode to the same bytes. */
    for (int m = 0; m < 8 && b.len; m++) {
      mgri_buf_clear(&c);
      mgri_buf_append(&c, b.data, b.len);
      size_t at = (size_t)rnd(&g, b.len);
      c.data[at] = (uint8_t)(rnd(&g, 2) ? c.data[at] ^ (1u << rnd(&g, 8))
                                        : rnd(&g, 256));
      size_t n = rnd(&g, 4) ? c.len : (size_t)rnd(&g, c.len + 1);
      mgri_arena_reset(&a);
      rc = decode_lim(c.data, n, NULL, &a, &d, &e);
      if (rc == MGR_OK) {
        mgri_buf r;
        mgri_buf_init(&r, 0);
        assert_int_equal(mgri_cbor_value(&r, &d), MGR_OK);
        assert_int_equal(r.len, n);
        assert_memory_equal(r.data, c.data, n);
        mgri_buf_fini(&r);
      } else {
        assert_true(rc == MGR_EDECODE || rc == MGR_ETOOBIG);
        assert_true(e.offset <= n); /* a missing item "starts" at n */
      }
    }
    mgri_arena_reset(&a);
  }
  mgri_buf_fini(&b);
  mgri_buf_fini(&c);
  mgri_arena_fini(&a);
  free(g.pool);
  free(g.nodes);
}

/* Short random inputs: never a crash or an over-read; whatever decodes is
 * canonical (re-encodes to the same bytes). */
static void random_bytes(void **state) {
  (void)state;
  uint64_t s = tu_seed("random_bytes");
  static const uint8_t common[] = {0x00, 0x01, 0x18, 0x19, 0x1a, 0x1b, 0x20,
                                   0x40, 0x41, 0x60, 0x61, 0x80, 0x81, 0x82,
                                   0xa0, 0xa1, 0xa2, 0xd9, 0x6d, 0x67, 0xf4,
                                   0xf5, 0xf6, 0xf9, 0xfa, 0xfb, 0x7e, 0xff};
  mgri_arena a;
  mgri_arena_init(&a, 1u << 20);
  mgri_buf b;
  mgri_buf_init(&b, 0);
  size_t ok = 0;
  for (int iter = 0; iter < 200000; iter++) {
    uint8_t in[16];
    size_t n = (size_t)(tu_rand(&s) % sizeof in);
    for (size_t i = 0; i < n; i++) {
      uint64_t r = tu_rand(&s);
      in[i] = r & 1 ? common[(r >> 8) % sizeof common] : (uint8_t)(r >> 8);
    }
    mgr_value v;
    mgri_decode_error e;
    mgri_arena_reset(&a);
    int rc = decode_lim(in, n, NULL, &a, &v, &e);
    if (rc == MGR_OK) {
      ok++;
      mgri_buf_clear(&b);
      assert_int_equal(mgri_cbor_value(&b, &v), MGR_OK);
      assert_int_equal(b.len, n);
      assert_memory_equal(b.data, in, n);
    } else {
      assert_true(rc == MGR_EDECODE || rc == MGR_ETOOBIG);
      assert_int_equal(e.code, rc);
      assert_non_null(e.what);
      assert_true(e.offset <= n);
    }
  }
  assert_true(ok > 0);
  mgri_buf_fini(&b);
  mgri_arena_fini(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(accepts),
      cmocka_unit_test(decoded_values),
      cmocka_unit_test(rejects),
      cmocka_unit_test(what_strings),
      cmocka_unit_test(truncations),
      cmocka_unit_test(depth_limit),
      cmocka_unit_test(items_limit),
      cmocka_unit_test(arena_limit),
      cmocka_unit_test(float_widths),
      cmocka_unit_test(int_and_head_encoding),
      cmocka_unit_test(encoder_rejects),
      cmocka_unit_test(big_map_duplicates),
      cmocka_unit_test(random_round_trips),
      cmocka_unit_test(random_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
