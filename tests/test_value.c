/* mgr tests — the value model: UTF-8, ==, hash, ordering, owned copies,
 * refs, repr and map lookup. */
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

/* A fixed key: equal keys must hash alike under any key. */
static const mgri_sipkey HKEY = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};

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

static void utf8(void **state) {
  (void)state;
  static const struct {
    const char *s;
    bool ok;
  } t[] = {
      {"", true},
      {"abc", true},
      {"\xc2\x80", true},          /* U+0080 */
      {"\xdf\xbf", true},          /* U+07FF */
      {"\xe0\xa0\x80", true},      /* U+0800 */
      {"\xed\x9f\xbf", true},      /* U+D7FF */
      {"\xee\x80\x80", true},      /* U+E000 */
      {"\xef\xbf\xbf", true},      /* U+FFFF */
      {"\xf0\x90\x80\x80", true},  /* U+10000 */
      {"\xf4\x8f\xbf\xbf", true},  /* U+10FFFF */
      {"\x80", false},             /* lone continuation */
      {"\xc0\x80", false},         /* overlong NUL */
      {"\xc1\xbf", false},         /* overlong */
      {"\xe0\x9f\xbf", false},     /* overlong 3-byte */
      {"\xf0\x8f\xbf\xbf", false}, /* overlong 4-byte */
      {"\xed\xa0\x80", false},     /* U+D800 surrogate */
      {"\xed\xbf\xbf", false},     /* U+DFFF surrogate */
      {"\xf4\x90\x80\x80", false}, /* U+110000 */
      {"\xf5\x80\x80\x80", false},
      {"\xff", false},
      {"\xc2", false}, /* truncated */
      {"\xe0\xa0", false},
      {"\xf0\x90\x80", false},
      {"\xc2\x41", false}, /* bad continuation */
      {"\xe1\x80\x41", false},
      {"a\xf0\x90\x80\x41", false},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    assert_int_equal(mgri_utf8_valid(t[i].s, strlen(t[i].s)), t[i].ok);
  assert_true(mgri_utf8_valid("a\0b", 3)); /* NUL is a valid code point */
}

static bool heq(const mgr_value *a, const mgr_value *b) {
  uint64_t x, y;
  assert_int_equal(mgri_value_hash(a, &HKEY, &x), MGR_OK);
  assert_int_equal(mgri_value_hash(b, &HKEY, &y), MGR_OK);
  return x == y;
}

static void equality(void **state) {
  (void)state;
  const double two53 = 9007199254740992.0;
  struct {
    mgr_value a, b;
    bool eq;
  } t[] = {
      {mgr_nil(), mgr_nil(), true},
      {mgr_nil(), mgr_bool(false), false},
      {mgr_nil(), mgr_int(0), false},
      {mgr_bool(true), mgr_int(1), true},
      {mgr_bool(true), mgr_float(1.0), true},
      {mgr_bool(false), mgr_float(-0.0), true},
      {mgr_int(1), mgr_float(1.0), true},
      {mgr_int(0), mgr_float(-0.0), true},
      {mgr_float(0.0), mgr_float(-0.0), true},
      {mgr_int(1), mgr_float(1.5), false},
      {mgr_int(9007199254740993), mgr_float(two53), false}, /* 2^53+1 */
      {mgr_int(9007199254740992), mgr_float(two53), true},
      {mgr_int(INT64_MAX), mgr_float(0x1p63), false},
      {mgr_int(INT64_MIN), mgr_float(-0x1p63), true},
      {mgr_int(INT64_MIN + 1), mgr_float(-0x1p63), false},
      {mgr_int(1), mgr_float(INFINITY), false},
      {mgr_float(NAN), mgr_float(NAN), false},
      {mgr_int(0), mgr_float(NAN), false},
      {mgr_text("a"), mgr_text("a"), true},
      {mgr_text("a"), mgr_text("b"), false},
      {mgr_text("a"), mgr_text("ab"), false},
      {mgr_text("a"), mgr_bytes("a", 1), false},
      {mgr_bytes("", 0), mgr_bytes(NULL, 0), true},
      {mgr_text("1"), mgr_int(1), false},
      {A(mgr_int(1), mgr_text("x")), A(mgr_float(1.0), mgr_text("x")), true},
      {A(mgr_int(1)), A(mgr_int(1), mgr_int(2)), false},
      {A(mgr_float(NAN)), A(mgr_float(NAN)), false},
      {M(mgr_text("a"), mgr_int(1), mgr_text("b"), mgr_int(2)),
       M(mgr_text("b"), mgr_int(2), mgr_text("a"), mgr_int(1)), true},
      {M(mgr_text("a"), mgr_int(1)), M(mgr_text("a"), mgr_int(2)), false},
      {M(mgr_text("a"), mgr_int(1)), M(mgr_text("b"), mgr_int(1)), false},
      {M(mgr_int(1), mgr_nil()), M(mgr_bool(true), mgr_nil()), true},
      {M(mgr_int(1), mgr_nil()), A(mgr_int(1), mgr_nil()), false},
      {ref(MGR_K_DICT, 3), ref(MGR_K_DICT, 3), true},
      {ref(MGR_K_DICT, 3), ref(MGR_K_LIST, 3), false},
      {ref(MGR_K_DICT, 3), ref(MGR_K_DICT, 4), false},
      {ref(MGR_K_DICT, 3), mgr_int(3), false},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    if (mgri_value_eq(&t[i].a, &t[i].b) != t[i].eq) fail_msg("case %zu", i);
    assert_int_equal(mgri_value_eq(&t[i].b, &t[i].a), t[i].eq);
    assert_int_equal(mgr_value_equal(&t[i].a, &t[i].b), t[i].eq);
    uint64_t ha, hb;
    if (t[i].eq && mgri_value_hash(&t[i].a, &HKEY, &ha) == MGR_OK) {
      assert_int_equal(mgri_value_hash(&t[i].b, &HKEY, &hb), MGR_OK);
      if (ha != hb) fail_msg("hash differs, case %zu", i);
    }
  }
}

static void big_maps_equal_any_order(void **state) {
  (void)state;
  enum { N = 300 };
  mgr_value *a = calloc(2 * N, sizeof *a), *b = calloc(2 * N, sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  for (int i = 0; i < N; i++) {
    a[2 * i] = mgr_int(i);
    a[2 * i + 1] = mgr_int(i * i);
    int j = (i * 7) % N; /* 7 is coprime with 300: a permutation */
    b[2 * j] = mgr_float(i);
    b[2 * j + 1] = mgr_int(i * i);
  }
  mgr_value ma = mgr_map(a, N), mb = mgr_map(b, N);
  assert_true(mgri_value_eq(&ma, &mb));
  b[1] = mgr_int(-1);
  assert_false(mgri_value_eq(&ma, &mb));
  b[1] = mgr_int(0);
  /* One key differs (the values alike): not equal. */
  b[2 * 7] = mgr_int(N + 1);
  assert_false(mgri_value_eq(&ma, &mb));
  b[2 * 7] = mgr_float(1);
  assert_true(mgri_value_eq(&ma, &mb));
  /* One pair fewer: not equal, whatever the pairs. */
  mgr_value mc = mgr_map(b, N - 1);
  assert_false(mgri_value_eq(&ma, &mc));
  assert_false(mgri_value_eq(&mc, &ma));
  /* A key that cannot be ordered (a dict, as values built by hand may
   * have): compared pair by pair instead, with the same answers. */
  mgr_value inner = M(mgr_int(1), mgr_int(2));
  a[2 * 5] = inner;
  assert_false(mgri_value_eq(&ma, &mb));
  b[2 * 35] = inner; /* (5 * 7) % N: where b holds a's key 5 */
  assert_true(mgri_value_eq(&ma, &mb));
  free(a);
  free(b);
}

static void hashing(void **state) {
  (void)state;
  mgr_value one = mgr_int(1), onef = mgr_float(1.0), t = mgr_bool(true);
  assert_true(heq(&one, &onef));
  assert_true(heq(&one, &t));
  mgr_value z = mgr_int(0), nz = mgr_float(-0.0), f = mgr_bool(false);
  assert_true(heq(&z, &nz));
  assert_true(heq(&z, &f));
  mgr_value big = mgr_int(INT64_MIN), bigf = mgr_float(-0x1p63);
  assert_true(heq(&big, &bigf));
  mgr_value x = A(mgr_int(1), mgr_text("a")),
            y = A(mgr_float(1), mgr_text("a"));
  assert_true(heq(&x, &y));
  mgr_value s = mgr_text("ab"), by = mgr_bytes("ab", 2);
  assert_false(heq(&s, &by));
  mgr_value a12 = A(mgr_int(1), mgr_int(2)), a21 = A(mgr_int(2), mgr_int(1));
  assert_false(heq(&a12, &a21));
  uint64_t h;
  mgr_value m = M(mgr_int(1), mgr_int(2));
  assert_int_equal(mgri_value_hash(&m, &HKEY, &h), MGR_ETYPE);
  mgr_value am = A(mgr_int(1), A(M(mgr_int(1), mgr_int(2))));
  assert_int_equal(mgri_value_hash(&am, &HKEY, &h), MGR_ETYPE);
  mgr_value nan = mgr_float(NAN);
  assert_int_equal(mgri_value_hash(&nan, &HKEY, &h), MGR_EVALUE);
  mgr_value an = A(mgr_float(NAN));
  assert_int_equal(mgri_value_hash(&an, &HKEY, &h), MGR_EVALUE);
  mgr_value anm = A(mgr_float(NAN), M(mgr_int(1), mgr_int(2)));
  assert_int_equal(mgri_value_hash(&anm, &HKEY, &h), MGR_ETYPE);
  mgr_value r = ref(2, 9), n = mgr_nil(), e = mgr_text("");
  assert_int_equal(mgri_value_hash(&r, &HKEY, &h), MGR_OK);
  assert_int_equal(mgri_value_hash(&n, &HKEY, &h), MGR_OK);
  assert_int_equal(mgri_value_hash(&e, &HKEY, &h), MGR_OK);
}

static void ordering(void **state) {
  (void)state;
  struct {
    mgr_value a, b;
    int rc, sign;
  } t[] = {
      {mgr_int(1), mgr_int(2), MGR_OK, -1},
      {mgr_int(2), mgr_int(2), MGR_OK, 0},
      {mgr_int(INT64_MIN), mgr_int(INT64_MAX), MGR_OK, -1},
      {mgr_bool(true), mgr_int(1), MGR_OK, 0},
      {mgr_bool(false), mgr_bool(true), MGR_OK, -1},
      {mgr_int(1), mgr_float(1.5), MGR_OK, -1},
      {mgr_float(-1.5), mgr_int(-1), MGR_OK, -1},
      {mgr_int(-1), mgr_float(-1.5), MGR_OK, 1},
      {mgr_int(9007199254740993), mgr_float(9007199254740992.0), MGR_OK, 1},
      {mgr_int(INT64_MAX), mgr_float(0x1p63), MGR_OK, -1},
      {mgr_int(INT64_MIN), mgr_float(-0x1p63), MGR_OK, 0},
      {mgr_int(INT64_MIN), mgr_float(-INFINITY), MGR_OK, 1},
      {mgr_float(INFINITY), mgr_int(INT64_MAX), MGR_OK, 1},
      {mgr_text("a"), mgr_text("b"), MGR_OK, -1},
      {mgr_text("a"), mgr_text("ab"), MGR_OK, -1},
      {mgr_text("\xc3\xa9"), mgr_text("z"), MGR_OK, 1},
      {mgr_bytes("\x01", 1), mgr_bytes("\x01\x00", 2), MGR_OK, -1},
      {A(mgr_int(1), mgr_int(2)), A(mgr_int(1), mgr_int(3)), MGR_OK, -1},
      {A(mgr_int(1)), A(mgr_int(1), mgr_int(0)), MGR_OK, -1},
      {A(mgr_nil(), mgr_int(1)), A(mgr_nil(), mgr_int(2)), MGR_OK, -1},
      {A(mgr_int(1), mgr_nil()), A(mgr_int(2), mgr_text("x")), MGR_OK, -1},
      {A(mgr_int(1), mgr_nil()), A(mgr_int(1), mgr_int(2)), MGR_ETYPE, 0},
      {mgr_int(1), mgr_text("1"), MGR_ETYPE, 0},
      {mgr_text("a"), mgr_bytes("a", 1), MGR_ETYPE, 0},
      {mgr_nil(), mgr_nil(), MGR_ETYPE, 0},
      {mgr_float(NAN), mgr_float(1), MGR_ETYPE, 0},
      {mgr_int(1), mgr_float(NAN), MGR_ETYPE, 0},
      {M(mgr_int(1), mgr_int(1)), M(mgr_int(1), mgr_int(1)), MGR_ETYPE, 0},
      {ref(1, 1), ref(1, 2), MGR_ETYPE, 0},
      {A(mgr_int(1)), mgr_int(1), MGR_ETYPE, 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    int c = 99;
    int rc = mgri_value_cmp(&t[i].a, &t[i].b, &c);
    if (rc != t[i].rc) fail_msg("case %zu: rc %d", i, rc);
    if (rc != MGR_OK) continue;
    if ((c > 0) - (c < 0) != t[i].sign) fail_msg("case %zu: %d", i, c);
    assert_int_equal(mgri_value_cmp(&t[i].b, &t[i].a, &c), MGR_OK);
    assert_int_equal((c > 0) - (c < 0), -t[i].sign);
  }
}

static void copy_and_free(void **state) {
  (void)state;
  mgr_value src =
      M(mgr_text("k"),
        A(mgr_int(1), mgr_text(""), mgr_bytes("\0x", 2), A(), M(), ref(3, 7)),
        mgr_int(2), mgr_float(2.5));
  mgr_value dst;
  assert_int_equal(mgr_value_copy(&dst, &src), MGR_OK);
  assert_true(mgr_value_equal(&dst, &src));
  assert_ptr_not_equal(dst.u.a.items, src.u.a.items);
  const mgr_value *arr = &dst.u.a.items[1];
  assert_string_equal(dst.u.a.items[0].u.s.ptr, "k");
  assert_non_null(arr->u.a.items[1].u.s.ptr);
  assert_int_equal(arr->u.a.items[1].u.s.ptr[0], '\0');
  assert_memory_equal(arr->u.a.items[2].u.s.ptr, "\0x", 2);
  assert_int_equal(mgri_value_refs(&dst, NULL, NULL), 1);
  mgr_value_free(&dst);
  assert_int_equal(dst.type, MGR_T_NIL);
  mgr_value_free(&dst);
  mgr_value_free(NULL);

  /* Scalars and empty containers allocate nothing; text always does. */
  mgr_value s[] = {
      mgr_nil(), mgr_int(5), mgr_float(1.5), mgr_bool(true), ref(1, 1),
      A(),       M()};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    assert_int_equal(mgr_value_copy(&dst, &s[i]), MGR_OK);
    assert_true(mgr_value_equal(&dst, &s[i]));
    mgr_value_free(&dst);
  }
  mgr_value e = mgr_textn(NULL, 0);
  assert_int_equal(mgr_value_copy(&dst, &e), MGR_OK);
  assert_non_null(dst.u.s.ptr);
  assert_string_equal(dst.u.s.ptr, "");
  mgr_value_free(&dst);
  mgr_value t = mgr_text("hello");
  assert_int_equal(mgr_value_copy(&dst, &t), MGR_OK);
  assert_string_equal(dst.u.s.ptr, "hello");
  mgr_value_free(&dst);
}

static void copy_rejects(void **state) {
  (void)state;
  mgr_value dst = mgr_int(5);
  mgr_value bad = mgr_textn("\xff", 1);
  assert_int_equal(mgr_value_copy(&dst, &bad), MGR_EINVAL);
  assert_int_equal(dst.type, MGR_T_NIL);
  mgr_value nb = mgr_bytes(NULL, 3);
  assert_int_equal(mgr_value_copy(&dst, &nb), MGR_EINVAL);
  mgr_value na = mgr_array(NULL, 1);
  assert_int_equal(mgr_value_copy(&dst, &na), MGR_EINVAL);
  mgr_value inner = A(bad);
  assert_int_equal(mgr_value_copy(&dst, &inner), MGR_EINVAL);
  mgr_value wrong = mgr_nil();
  wrong.type = (mgr_type)42;
  assert_int_equal(mgr_value_copy(&dst, &wrong), MGR_EINVAL);

  /* Depth: 32 levels copy, 33 do not. */
  mgr_value chain[34];
  chain[0] = mgr_int(1);
  for (int i = 1; i < 34; i++)
    chain[i] = mgr_array(&chain[i - 1], 1);
  assert_int_equal(mgr_value_copy(&dst, &chain[31]), MGR_OK); /* depth 32 */
  assert_true(mgr_value_equal(&dst, &chain[31]));
  mgr_value_free(&dst);
  assert_int_equal(mgr_value_copy(&dst, &chain[32]), MGR_EINVAL);

  /* Sizes that would overflow are refused, not wrapped. */
  mgr_value huge = mgr_map(chain, SIZE_MAX / 2 + 1);
  assert_int_equal(mgri_value_size(&huge), SIZE_MAX);
  mgr_value hs = mgr_bytes("", SIZE_MAX);
  assert_int_equal(mgri_value_size(&hs), SIZE_MAX);
  /* And so are their copies: a map of more pairs than memory can hold is
   * not a value; bytes too long to copy are out of memory. */
  dst = mgr_int(5);
  assert_int_equal(mgr_value_copy(&dst, &huge), MGR_EINVAL);
  assert_int_equal(dst.type, MGR_T_NIL);
  assert_int_equal(mgr_value_copy(&dst, &hs), MGR_ENOMEM);
  assert_int_equal(dst.type, MGR_T_NIL);
}

static void size_and_copy_into(void **state) {
  (void)state;
  mgr_value v = A(mgr_text("ab"), mgr_bytes("c", 1), A(mgr_int(1)));
  size_t n = mgri_value_size(&v);
  assert_int_equal(n, 4 * sizeof(mgr_value) + 3 + 2);
  void *mem = malloc(n);
  mgr_value d;
  mgri_value_copy_into(&d, &v, mem);
  assert_ptr_equal(d.u.a.items, mem);
  assert_true(mgri_value_eq(&d, &v));
  mgr_value_free(&d);
  mgr_value i5 = mgr_int(5);
  assert_int_equal(mgri_value_size(&i5), 0);
}

static void count_ref(void *ctx, uint64_t id) { *(uint64_t *)ctx += id; }

static void refs(void **state) {
  (void)state;
  mgr_value v = M(mgr_text("a"), ref(1, 2), ref(2, 3),
                  A(ref(4, 10), mgr_int(5), A(ref(5, 100))));
  uint64_t sum = 0;
  assert_int_equal(mgri_value_refs(&v, count_ref, &sum), 4);
  assert_int_equal(sum, 115);
  mgr_value i = mgr_int(1);
  assert_int_equal(mgri_value_refs(&i, count_ref, &sum), 0);
}

static void map_get(void **state) {
  (void)state;
  mgr_value m = M(mgr_int(1), mgr_text("one"), mgr_text("a"), mgr_int(2),
                  A(mgr_int(1), mgr_int(2)), mgr_nil());
  mgr_value k1 = mgr_float(1.0), kt = mgr_bool(true), ka = mgr_text("a"),
            kb = mgr_bytes("a", 1), karr = A(mgr_float(1), mgr_bool(false)),
            karr2 = A(mgr_int(1), mgr_int(2)), nan = mgr_float(NAN);
  assert_string_equal(mgr_map_get(&m, &k1)->u.s.ptr, "one");
  assert_string_equal(mgr_map_get(&m, &kt)->u.s.ptr, "one");
  assert_int_equal(mgr_map_get(&m, &ka)->u.i, 2);
  assert_null(mgr_map_get(&m, &kb));
  assert_null(mgr_map_get(&m, &karr));
  assert_int_equal(mgr_map_get(&m, &karr2)->type, MGR_T_NIL);
  assert_null(mgr_map_get(&m, &nan));
  assert_null(mgr_map_get(&ka, &ka));
  assert_null(mgr_map_get(NULL, &ka));
  assert_null(mgr_map_get(&m, NULL));
  /* NULL equals only NULL. */
  assert_true(mgr_value_equal(NULL, NULL));
  assert_false(mgr_value_equal(&ka, NULL));
  assert_false(mgr_value_equal(NULL, &ka));
  mgr_value dst;
  assert_int_equal(mgr_value_copy(&dst, NULL), MGR_EINVAL);
}

static void check_repr(const mgr_value *v, const char *want) {
  char buf[256];
  size_t n = mgr_value_repr(v, buf, sizeof buf);
  if (strcmp(buf, want) != 0) fail_msg("repr %s, want %s", buf, want);
  assert_int_equal(n, strlen(want));
}

static void repr_float(double d, const char *want) {
  mgr_value v = mgr_float(d);
  check_repr(&v, want);
}

static void repr(void **state) {
  (void)state;
  mgr_value v;
  check_repr(&(mgr_value){MGR_T_NIL, {0}}, "None");
  v = mgr_bool(true), check_repr(&v, "True");
  v = mgr_bool(false), check_repr(&v, "False");
  v = mgr_int(-42), check_repr(&v, "-42");
  v = mgr_int(INT64_MIN), check_repr(&v, "-9223372036854775808");
  repr_float(1.0, "1.0");
  repr_float(0.1, "0.1");
  repr_float(1.0 / 3, "0.3333333333333333");
  repr_float(2.5, "2.5");
  repr_float(-0.0, "-0.0");
  repr_float(0.0, "0.0");
  repr_float(1e16, "1e+16");
  repr_float(1e15, "1000000000000000.0");
  repr_float(123456789012345678.0, "1.2345678901234568e+17");
  repr_float(1e-5, "1e-05");
  repr_float(1.5e-7, "1.5e-07");
  repr_float(0.0001, "0.0001");
  repr_float(1e22, "1e+22");
  repr_float(1.7976931348623157e308, "1.7976931348623157e+308");
  repr_float(5e-324, "5e-324");
  repr_float(100.0, "100.0");
  repr_float(0.5, "0.5");
  repr_float(-1.25, "-1.25");
  repr_float(INFINITY, "inf");
  repr_float(-INFINITY, "-inf");
  repr_float(NAN, "nan");
  v = mgr_text("hi"), check_repr(&v, "'hi'");
  v = mgr_text("it's"), check_repr(&v, "\"it's\"");
  v = mgr_text("say \"x\""), check_repr(&v, "'say \"x\"'");
  v = mgr_text("'\""), check_repr(&v, "'\\'\"'");
  v = mgr_text("a\\b\n\r\t\x01\x7f"),
  check_repr(&v, "'a\\\\b\\n\\r\\t\\x01\\x7f'");
  v = mgr_text("\xc3\xa9t\xc3\xa9"), check_repr(&v, "'\xc3\xa9t\xc3\xa9'");
  v = mgr_text("\xc2\xa0"), check_repr(&v, "'\\xa0'");
  v = mgr_text("\xe2\x80\xa8"), check_repr(&v, "'\\u2028'");
  v = mgr_textn("a\0b", 3), check_repr(&v, "'a\\x00b'");
  v = mgr_bytes("ab\xff'", 4), check_repr(&v, "b\"ab\\xff'\"");
  v = mgr_bytes("", 0), check_repr(&v, "b''");
  v = M(mgr_text("a"), mgr_int(1), mgr_text("b"), mgr_int(2), mgr_text("c"),
        mgr_int(3));
  check_repr(&v, "{'a': 1, 'b': 2, 'c': 3}");
  v = A(mgr_int(1), mgr_int(2), mgr_int(3), mgr_int(4), mgr_int(5));
  check_repr(&v, "[1, 2, 3, 4, 5]");
  v = M(mgr_int(1), mgr_int(1), mgr_int(22), mgr_int(484));
  check_repr(&v, "{1: 1, 22: 484}");
  v = M(mgr_text("a"), A(mgr_int(1), mgr_float(2.5), mgr_nil()));
  check_repr(&v, "{'a': [1, 2.5, None]}");
  v = A(), check_repr(&v, "[]");
  v = M(), check_repr(&v, "{}");
  v = A(ref(1, 3), ref(2, 4), ref(3, 5), ref(4, 6), ref(5, 7));
  check_repr(&v, "[<dict #3>, <list #4>, <value #5>, <lock #6>, <rlock #7>]");
}

static size_t utf8_put(uint32_t cp, char *o) {
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800)
    return o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
  if (cp < 0x10000)
    return o[0] = (char)(0xe0 | cp >> 12),
           o[1] = (char)(0x80 | (cp >> 6 & 0x3f)),
           o[2] = (char)(0x80 | (cp & 0x3f)), 3;
  return o[0] = (char)(0xf0 | cp >> 18),
         o[1] = (char)(0x80 | (cp >> 12 & 0x3f)),
         o[2] = (char)(0x80 | (cp >> 6 & 0x3f)),
         o[3] = (char)(0x80 | (cp & 0x3f)), 4;
}

/* Both ends of every range of code points repr escapes beyond ASCII, and
 * the printable ones just outside: escaped or not as CPython 3.11's repr()
 * does it (str.isprintable()), as \xXX, \uXXXX or \UXXXXXXXX. Also
 * repr(NULL), a text with no bytes at all, and a type no value has. */
static void repr_unprintable(void **state) {
  (void)state;
  static const struct {
    uint32_t cp;
    bool escaped;
  } rows[] = {
      {0x80, true},    {0xa0, true},     {0xa1, false},    {0xad, true},
      {0xae, false},   {0x1680, true},   {0x1681, false},  {0x2000, true},
      {0x200f, true},  {0x2010, false},  {0x2027, false},  {0x2028, true},
      {0x202f, true},  {0x2030, false},  {0x205e, false},  {0x205f, true},
      {0x206f, true},  {0x2070, false},  {0x3000, true},   {0x3001, false},
      {0xe000, true},  {0xf8ff, true},   {0xf900, false},  {0xfeff, true},
      {0xfff0, true},  {0xfffb, true},   {0xfffc, false},  {0xfffd, false},
      {0xfffe, true},  {0xffff, true},   {0x10000, false}, {0x1f600, false},
      {0xf0000, true}, {0x10ffff, true},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char txt[8], want[16];
    size_t n = utf8_put(rows[i].cp, txt);
    if (!rows[i].escaped)
      snprintf(want, sizeof want, "'%.*s'", (int)n, txt);
    else if (rows[i].cp <= 0xff)
      snprintf(want, sizeof want, "'\\x%02x'", (unsigned)rows[i].cp);
    else if (rows[i].cp <= 0xffff)
      snprintf(want, sizeof want, "'\\u%04x'", (unsigned)rows[i].cp);
    else
      snprintf(want, sizeof want, "'\\U%08x'", (unsigned)rows[i].cp);
    mgr_value v = mgr_textn(txt, n);
    check_repr(&v, want);
  }
  char buf[16];
  assert_int_equal(mgr_value_repr(NULL, buf, sizeof buf), 4);
  assert_string_equal(buf, "NULL");
  mgr_value e = {.type = MGR_T_TEXT};
  check_repr(&e, "''");
  e.type = MGR_T_BYTES;
  check_repr(&e, "b''");
  mgr_value odd = {.type = (mgr_type)99};
  check_repr(&odd, "<?>");
}

static void repr_truncates(void **state) {
  (void)state;
  mgr_value v = A(mgr_int(1), mgr_int(2), mgr_int(3), mgr_int(4), mgr_int(5));
  const char *full = "[1, 2, 3, 4, 5]";
  for (size_t cap = 0; cap <= 20; cap++) {
    char *buf = malloc(cap ? cap : 1);
    if (cap == 0) buf[0] = 'Z';
    size_t n = mgr_value_repr(&v, cap ? buf : buf, cap);
    assert_int_equal(n, strlen(full));
    if (cap == 0) {
      assert_int_equal(buf[0], 'Z');
    } else {
      size_t k = cap - 1 < n ? cap - 1 : n;
      assert_int_equal(strlen(buf), k);
      assert_memory_equal(buf, full, k);
    }
    free(buf);
  }
  assert_int_equal(mgr_value_repr(&v, NULL, 0), strlen(full));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(utf8),
      cmocka_unit_test(equality),
      cmocka_unit_test(big_maps_equal_any_order),
      cmocka_unit_test(hashing),
      cmocka_unit_test(ordering),
      cmocka_unit_test(copy_and_free),
      cmocka_unit_test(copy_rejects),
      cmocka_unit_test(size_and_copy_into),
      cmocka_unit_test(refs),
      cmocka_unit_test(map_get),
      cmocka_unit_test(repr),
      cmocka_unit_test(repr_unprintable),
      cmocka_unit_test(repr_truncates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
