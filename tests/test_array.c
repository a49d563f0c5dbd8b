/* mgr tests — manager.Array (spec 9.14): every op through the pure dispatch
 * path, with the conversions, bounds and messages of Python's array module
 * (expected values and texts produced by CPython 3.11), slices, atomic
 * increment and CAS, BATCH, DUMP, memory; then the proxies against a real
 * manager: forked workers incrementing every element (exact totals) and
 * the lost update of get + set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>

#include "client_util.h"
#include "server_util.h"

#include "common/limits.h"
#include "proto/ops.h"

#define NIL INT64_MIN /* an omitted slice bound */

/* --- helpers ----------------------------------------------------------------
 */

/* CREATE [14, [typecode, seq]]: the reply. */
static mgri_hreply *create_raw(const mgr_value *init) {
  mgr_value a[2] = {mgr_int(MGR_K_ARRAY), init ? *init : mgr_nil()};
  return call(MGRI_OP_CREATE, 0, a, init ? 2 : 1);
}

static mgri_hreply *create_tc(const char *code, mgr_value seq) {
  mgr_value pair[2] = {mgr_text(code), seq};
  mgr_value init = mgr_array(pair, 2);
  return create_raw(&init);
}

static uint64_t new_array(const char *code, mgr_value seq) {
  mgri_hreply *r = create_tc(code, seq);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_REF);
  assert_int_equal(r->result.u.ref.kind, MGR_K_ARRAY);
  return r->result.u.ref.id;
}

static mgr_value ints_v[64];
static mgr_value ints(const int64_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    ints_v[i] = mgr_int(v[i]);
  return mgr_array(ints_v, n);
}

static uint64_t range10(const char *code) {
  static const int64_t r[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  return new_array(code, ints(r, 10));
}

static void is_int(mgri_hreply *r, int64_t v) {
  ok(r);
  assert_int_equal(r->result.type, MGR_T_INT);
  assert_int_equal(r->result.u.i, v);
}

/* A float result, compared bit for bit (NaN with NaN). */
static void is_float(mgri_hreply *r, double v) {
  ok(r);
  assert_int_equal(r->result.type, MGR_T_FLOAT);
  double got = r->result.u.f;
  if (isnan(v) ? !isnan(got) : memcmp(&got, &v, sizeof v))
    fail_msg("expected %.17g, got %.17g", v, got);
}

static mgri_hreply *get(uint64_t a, int64_t i) {
  return call(MGRI_OP_ARRAY_GET, a, A(mgr_int(i)));
}

static mgri_hreply *set(uint64_t a, int64_t i, mgr_value v) {
  return call(MGRI_OP_ARRAY_SET, a, A(mgr_int(i), v));
}

static mgr_value opt(int64_t v) { return v == NIL ? mgr_nil() : mgr_int(v); }

/* The array's elements must be exactly these ints. */
static void expect_ints(uint64_t a, const int64_t *v, size_t n) {
  mgri_hreply *r =
      call(MGRI_OP_ARRAY_GETSLICE, a, A(mgr_nil(), mgr_nil(), mgr_nil()));
  ok(r);
  assert_int_equal(r->result.type, MGR_T_ARRAY);
  if (r->result.u.a.len != n)
    fail_msg("expected %zu elements, got %zu", n, r->result.u.a.len);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r->result.u.a.items[i].type, MGR_T_INT);
    assert_int_equal(r->result.u.a.items[i].u.i, v[i]);
  }
}

static size_t array_count(void) {
  return (size_t)mgri_store_stats_of(H.s)->kind_count[MGR_K_ARRAY];
}

/* --- CREATE ------------------------------------------------------------------
 */

static void test_create_sizes(void **st) {
  (void)st;
  static const char *codes[] = {"b", "B", "h", "H", "i", "I",
                                "l", "L", "q", "Q", "f", "d"};
  for (size_t k = 0; k < 12; k++) {
    uint64_t a = new_array(codes[k], mgr_int(3));
    is_int(call(MGRI_OP_ARRAY_LEN, a, NULL, 0), 3);
    mgri_hreply *r = call(MGRI_OP_ARRAY_TYPECODE, a, NULL, 0);
    ok(r);
    assert_int_equal(r->result.type, MGR_T_TEXT);
    assert_int_equal(r->result.u.s.len, 1);
    assert_memory_equal(r->result.u.s.ptr, codes[k], 1);
    for (int64_t i = 0; i < 3; i++) {
      if (k >= 10)
        is_float(get(a, i), 0.0);
      else
        is_int(get(a, i), 0);
    }
  }
  /* An empty array. */
  uint64_t e = new_array("d", mgr_int(0));
  is_int(call(MGRI_OP_ARRAY_LEN, e, NULL, 0), 0);
  err(get(e, 0), MGR_EINDEX, "array index out of range");
  mgri_hreply *r =
      call(MGRI_OP_ARRAY_GETSLICE, e, A(mgr_nil(), mgr_nil(), mgr_nil()));
  ok(r);
  assert_int_equal(r->result.u.a.len, 0);
  ok(call(MGRI_OP_ARRAY_SETSLICE, e,
          A(mgr_nil(), mgr_nil(), mgr_nil(), mgr_array(NULL, 0))));
  uint64_t e2 = new_array("i", mgr_array(NULL, 0));
  is_int(call(MGRI_OP_ARRAY_LEN, e2, NULL, 0), 0);
  /* From items: ints, bools, floats as the typecode takes them. */
  uint64_t d =
      new_array("d", mgr_array(A(mgr_int(1), mgr_bool(true), mgr_float(2.5))));
  is_float(get(d, 0), 1.0);
  is_float(get(d, 1), 1.0);
  is_float(get(d, 2), 2.5);
  uint64_t b = new_array(
      "b", mgr_array(A(mgr_int(-128), mgr_bool(false), mgr_int(127))));
  expect_ints(b, (int64_t[]){-128, 0, 127}, 3);
}

static void test_create_errors(void **st) {
  (void)st;
  size_t before = array_count();
  err(create_raw(NULL), MGR_ETYPE, "missing 2 required positional");
  mgr_value nil = mgr_nil();
  err(create_raw(&nil), MGR_ETYPE, "missing 2 required positional");
  mgr_value empty = mgr_array(NULL, 0);
  err(create_raw(&empty), MGR_ETYPE, "missing 2 required positional");
  mgr_value one = mgr_array(A(mgr_text("b")));
  err(create_raw(&one), MGR_ETYPE,
      "missing 1 required positional argument: 'sequence'");
  mgr_value three = mgr_array(A(mgr_text("b"), mgr_int(1), mgr_bool(true)));
  err(create_raw(&three), MGR_ETYPE,
      "takes 2 positional arguments but 3 were given");
  mgr_value num = mgr_int(3);
  err(create_raw(&num), MGR_ETYPE, "[typecode, size or items]");
  /* The typecode (Python's messages). */
  mgr_value notext = mgr_array(A(mgr_int(98), mgr_int(1)));
  err(create_raw(&notext), MGR_ETYPE,
      "TypeError: array() argument 1 must be a unicode character, not int");
  err(create_tc("bb", mgr_int(1)), MGR_ETYPE,
      "TypeError: array() argument 1 must be a unicode character, not str");
  err(create_tc("", mgr_int(1)), MGR_ETYPE, "unicode character, not str");
  err(create_tc("u", mgr_int(1)), MGR_EVALUE,
      "ValueError: bad typecode (must be b, B, h, H, i, I, l, L, q, Q, f or "
      "d)");
  err(create_tc("z", mgr_int(1)), MGR_EVALUE, "bad typecode");
  err(create_tc("\xc3\xa9", mgr_int(1)), MGR_EVALUE, "bad typecode"); /* é */
  /* The size or items. */
  err(create_tc("b", mgr_int(-1)), MGR_EVALUE,
      "ValueError: Array length must be >= 0");
  err(create_tc("b", mgr_text("abc")), MGR_ETYPE,
      "TypeError: cannot use a str to initialize an array with typecode 'b'");
  err(create_tc("b", mgr_float(3.0)), MGR_ETYPE, "not float");
  err(create_tc("b", mgr_bool(true)), MGR_ETYPE, "not bool");
  err(create_tc("b", mgr_nil()), MGR_ETYPE, "not NoneType");
  err(create_tc("b", mgr_array(A(mgr_int(1), mgr_int(300)))), MGR_EOVERFLOW,
      "OverflowError: signed char is greater than maximum");
  err(create_tc("b", mgr_array(A(mgr_int(1), mgr_text("x")))), MGR_ETYPE,
      "TypeError: 'str' object cannot be interpreted as an integer");
  err(create_tc("d", mgr_array(A(mgr_int(1), mgr_text("x")))), MGR_ETYPE,
      "TypeError: must be real number, not str");
  err(create_tc("i", mgr_array(A(mgr_float(1.0)))), MGR_ETYPE,
      "'float' object cannot be interpreted as an integer");
  /* The length limit (spec 14.1), before any allocation. */
  err(create_tc("b", mgr_int((int64_t)MGRI_ARRAY_LEN_MAX + 1)), MGR_ELIMIT,
      "exceeds 16777216 elements");
  err(create_tc("d", mgr_int(100000000)), MGR_ELIMIT, NULL);
  err(create_tc("d", mgr_int(INT64_MAX)), MGR_ELIMIT, NULL);
  assert_int_equal(array_count(), before);
  /* OPEN checks init even when the name exists (spec 9.1). */
  mgr_value good = mgr_array(A(mgr_text("h"), mgr_int(4)));
  mgri_hreply *r =
      call(MGRI_OP_OPEN, 0, A(mgr_text("arr"), mgr_int(MGR_K_ARRAY), good));
  ok(r);
  assert_true(r->result.u.a.items[1].u.b);
  uint64_t id = r->result.u.a.items[0].u.ref.id;
  mgr_value bad = mgr_array(A(mgr_text("h"), mgr_array(A(mgr_int(70000)))));
  err(call(MGRI_OP_OPEN, 0, A(mgr_text("arr"), mgr_int(MGR_K_ARRAY), bad)),
      MGR_EOVERFLOW, "signed short integer is greater than maximum");
  mgr_value other = mgr_array(A(mgr_text("d"), mgr_int(1)));
  r = call(MGRI_OP_OPEN, 0, A(mgr_text("arr"), mgr_int(MGR_K_ARRAY), other));
  ok(r); /* found: init ignored */
  assert_false(r->result.u.a.items[1].u.b);
  assert_int_equal(r->result.u.a.items[0].u.ref.id, id);
  r = call(MGRI_OP_ARRAY_TYPECODE, id, NULL, 0);
  assert_memory_equal(r->result.u.s.ptr, "h", 1);
  ok(call(MGRI_OP_UNLINK, 0, A(mgr_text("arr"))));
}

/* The memory limit refuses a large CREATE before allocating; an allocation
 * that fails anyway leaves nothing behind. */
static void test_create_memory(void **st) {
  (void)st;
  mgri_harness h;
  mgri_store_config cfg;
  mgri_store_config_init(&cfg);
  cfg.memory_max = 1u << 20;
  assert_int_equal(mgri_h_init_cfg(&h, &cfg), MGR_OK);
  mgri_sconn *c = mgri_h_conn(&h, 0);
  assert_non_null(c);
  mgri_mem *mem = mgri_store_mem(h.s);
  size_t used = mem->total;
  mgr_value pair[2] = {mgr_text("d"), mgr_int(200000)}; /* 1.6 MB */
  mgr_value a[2] = {mgr_int(MGR_K_ARRAY), mgr_array(pair, 2)};
  mgri_hreply *r = mgri_h_call(&h, c, MGRI_OP_CREATE, 0, a, 2);
  assert_non_null(r);
  assert_int_equal(r->status, MGR_ELIMIT);
  assert_non_null(strstr(r->msg, "memory limit"));
  assert_int_equal(mgri_store_stats_of(h.s)->kind_count[MGR_K_ARRAY], 0);
  pair[1] = mgr_int(1000);
  /* Each allocation of the CREATE failed in turn: LIMIT, nothing kept. */
  for (uint64_t n = 1;; n++) {
    mgri_h_clear(&h);
    mem->fail_in = n;
    r = mgri_h_call(&h, c, MGRI_OP_CREATE, 0, a, 2);
    mem->fail_in = 0;
    assert_non_null(r);
    if (r->status == MGR_OK) break;
    assert_int_equal(r->status, MGR_ELIMIT);
    assert_int_equal(mgri_store_stats_of(h.s)->kind_count[MGR_K_ARRAY], 0);
    assert_true(n < 20);
  }
  assert_int_equal(mgri_store_stats_of(h.s)->kind_count[MGR_K_ARRAY], 1);
  assert_true(mgri_store_stats_of(h.s)->kind_bytes[MGR_K_ARRAY] >= 8000);
  /* Released: its memory goes back. */
  uint64_t id = r->result.u.ref.id;
  mgri_h_clear(&h);
  r = mgri_h_call(&h, c, MGRI_OP_RELEASE, id, NULL, 0);
  assert_int_equal(r->status, MGR_OK);
  mgri_h_clear(&h);
  assert_int_equal(mgri_store_stats_of(h.s)->kind_count[MGR_K_ARRAY], 0);
  assert_int_equal(mgri_store_stats_of(h.s)->kind_bytes[MGR_K_ARRAY], 0);
  assert_true(mem->total <= used + 4096); /* the arenas may keep some */
  mgri_h_fini(&h);
}

/* --- stores: each typecode's bounds and messages -------------------------- */

typedef struct bound_case {
  const char *code;
  int64_t min, max;
  const char *above, *below; /* Python's OverflowError texts */
  bool above_exists;         /* max + 1 is an int64 */
} bound_case;

static const bound_case BOUNDS[] = {
    {"b", -128, 127, "signed char is greater than maximum",
     "signed char is less than minimum", true},
    {"B", 0, 255, "unsigned byte integer is greater than maximum",
     "unsigned byte integer is less than minimum", true},
    {"h", -32768, 32767, "signed short integer is greater than maximum",
     "signed short integer is less than minimum", true},
    {"H", 0, 65535, "unsigned short is greater than maximum",
     "unsigned short is less than minimum", true},
    {"i", INT32_MIN, INT32_MAX, "signed integer is greater than maximum",
     "signed integer is less than minimum", true},
    {"I", 0, UINT32_MAX, "unsigned int is greater than maximum",
     "can't convert negative value to unsigned int", true},
    {"l", INT64_MIN, INT64_MAX, "Python int too large to convert to C long",
     "Python int too large to convert to C long", false},
    {"L", 0, INT64_MAX, "mgr's ints are signed 64-bit",
     "can't convert negative value to unsigned int", false},
    {"q", INT64_MIN, INT64_MAX, "int too big to convert",
     "int too big to convert", false},
    {"Q", 0, INT64_MAX, "mgr's ints are signed 64-bit",
     "can't convert negative int to unsigned", false},
};

static void test_bounds(void **st) {
  (void)st;
  for (size_t k = 0; k < sizeof BOUNDS / sizeof BOUNDS[0]; k++) {
    const bound_case *b = &BOUNDS[k];
    uint64_t a = new_array(b->code, mgr_int(2));
    ok(set(a, 0, mgr_int(b->min)));
    ok(set(a, 1, mgr_int(b->max)));
    is_int(get(a, 0), b->min);
    is_int(get(a, 1), b->max);
    char want[160];
    if (b->above_exists) {
      snprintf(want, sizeof want, "OverflowError: %s", b->above);
      err(set(a, 0, mgr_int(b->max + 1)), MGR_EOVERFLOW, want);
      is_int(get(a, 0), b->min); /* unchanged */
    }
    if (b->min > INT64_MIN) {
      snprintf(want, sizeof want, "OverflowError: %s", b->below);
      err(set(a, 1, mgr_int(b->min - 1)), MGR_EOVERFLOW, want);
      is_int(get(a, 1), b->max);
    }
    /* Past the int64 range only by increment: max + 1 and min - 1. */
    snprintf(want, sizeof want, "%s", b->above);
    err(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(1), mgr_int(1))), MGR_EOVERFLOW,
        want);
    is_int(get(a, 1), b->max);
    snprintf(want, sizeof want, "%s", b->below);
    err(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(0), mgr_int(-1))), MGR_EOVERFLOW,
        want);
    is_int(get(a, 0), b->min);
    /* A bool stores 0 / 1; other types are TypeErrors. */
    ok(set(a, 0, mgr_bool(true)));
    is_int(get(a, 0), 1);
    ok(set(a, 0, mgr_bool(false)));
    is_int(get(a, 0), 0);
    err(set(a, 0, mgr_float(2.0)), MGR_ETYPE,
        "TypeError: 'float' object cannot be interpreted as an integer");
    err(set(a, 0, mgr_float(NAN)), MGR_ETYPE, "'float' object");
    err(set(a, 0, mgr_text("x")), MGR_ETYPE,
        "'str' object cannot be interpreted");
    err(set(a, 0, mgr_nil()), MGR_ETYPE, "'NoneType' object");
    err(set(a, 0, mgr_bytes("a", 1)), MGR_ETYPE, "'bytes' object");
    err(set(a, 0, mgr_array(A(mgr_int(1)))), MGR_ETYPE, "'list' object");
    is_int(get(a, 0), 0);
  }
}

static void test_floats(void **st) {
  (void)st;
  uint64_t f = new_array("f", mgr_int(1)), d = new_array("d", mgr_int(1));
  /* 'f' rounds to single precision and reads back its double. */
  ok(set(f, 0, mgr_float(0.1)));
  is_float(get(f, 0), 0.10000000149011612);
  ok(set(d, 0, mgr_float(0.1)));
  is_float(get(d, 0), 0.1);
  /* Beyond FLT_MAX: to FLT_MAX below half an ulp above it, else infinity
   * (CPython: 3.4028235677973362e+38 -> 3.4028234663852886e+38,
   * 3.4028235677973366e+38 -> inf). */
  ok(set(f, 0, mgr_float(3.4028235677973362e+38)));
  is_float(get(f, 0), 3.4028234663852886e+38);
  ok(set(f, 0, mgr_float(3.4028235677973366e+38)));
  is_float(get(f, 0), INFINITY);
  ok(set(f, 0, mgr_float(-1e300)));
  is_float(get(f, 0), -INFINITY);
  ok(set(f, 0, mgr_float(1e-50)));
  is_float(get(f, 0), 0.0);
  ok(set(f, 0, mgr_float(-0.0)));
  is_float(get(f, 0), -0.0);
  ok(set(f, 0, mgr_float(NAN)));
  is_float(get(f, 0), NAN);
  ok(set(d, 0, mgr_float(INFINITY)));
  is_float(get(d, 0), INFINITY);
  /* Ints through a double as Python's float(int): 2**60 + 2**36 + 1 is
   * 2**60 in an 'f' (a direct int -> float rounding gives 2**60 + 2**37). */
  ok(set(f, 0, mgr_int((INT64_C(1) << 60) + (INT64_C(1) << 36) + 1)));
  is_float(get(f, 0), 0x1p60);
  ok(set(d, 0, mgr_int(INT64_MAX)));
  is_float(get(d, 0), 0x1p63);
  ok(set(d, 0, mgr_int((INT64_C(1) << 53) + 1)));
  is_float(get(d, 0), 9007199254740992.0);
  ok(set(d, 0, mgr_bool(true)));
  is_float(get(d, 0), 1.0);
  err(set(d, 0, mgr_text("1")), MGR_ETYPE,
      "TypeError: must be real number, not str");
  err(set(f, 0, mgr_nil()), MGR_ETYPE, "must be real number, not NoneType");
  err(set(f, 0, mgri_h_ref(MGR_K_ARRAY, f)), MGR_ETYPE, "must be real number");
  is_float(get(d, 0), 1.0);
}

static void test_index(void **st) {
  (void)st;
  uint64_t a = range10("i");
  is_int(get(a, -1), 9);
  is_int(get(a, -10), 0);
  err(get(a, 10), MGR_EINDEX, "IndexError: array index out of range");
  err(get(a, -11), MGR_EINDEX, "array index out of range");
  err(get(a, INT64_MIN), MGR_EINDEX, NULL);
  err(get(a, INT64_MAX), MGR_EINDEX, NULL);
  err(set(a, 10, mgr_int(1)), MGR_EINDEX,
      "array assignment index out of range");
  ok(set(a, -2, mgr_int(80)));
  is_int(get(a, 8), 80);
  /* A bool is not an index (spec 9.3). */
  err(call(MGRI_OP_ARRAY_GET, a, A(mgr_bool(true))), MGR_ETYPE,
      "array indices must be integers");
  err(call(MGRI_OP_ARRAY_GET, a, A(mgr_float(1.0))), MGR_ETYPE, "not float");
  err(call(MGRI_OP_ARRAY_SET, a, A(mgr_text("0"), mgr_int(1))), MGR_ETYPE,
      "not str");
  /* The index is checked before the value. */
  err(set(a, 10, mgr_text("x")), MGR_EINDEX, NULL);
  /* Arity, and the ops of other kinds. */
  err(call(MGRI_OP_ARRAY_GET, a, NULL, 0), MGR_ETYPE, NULL);
  err(call(MGRI_OP_ARRAY_LEN, a, A(mgr_int(1))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_LIST_GET, a, A(mgr_int(0))), MGR_EBADOP, NULL);
  uint64_t l = mgri_h_create(&H, C, MGR_K_LIST, NULL);
  err(call(MGRI_OP_ARRAY_LEN, l, NULL, 0), MGR_EBADOP, NULL);
  err(call(MGRI_OP_ARRAY_LEN, 0, NULL, 0), MGR_EBADOP, NULL);
  err(call(MGRI_OP_ARRAY_LEN, 99999, NULL, 0), MGR_ENOTFOUND, NULL);
}

/* --- slices ------------------------------------------------------------------
 */

typedef struct slice_case {
  int64_t start, stop, step;
  size_t n;
  int64_t want[10];
} slice_case;

/* range(10)[start:stop:step] by CPython 3.11. */
static const slice_case SLICES[] = {
    {NIL, NIL, NIL, 10, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
    {NIL, NIL, -1, 10, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
    {8, 1, -3, 3, {8, 5, 2}},
    {-100, 100, NIL, 10, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
    {5, 2, NIL, 0, {0}},
    {NIL, NIL, -4, 3, {9, 5, 1}},
    {-3, NIL, NIL, 3, {7, 8, 9}},
    {1, -1, 2, 4, {1, 3, 5, 7}},
    {9, -11, -2, 5, {9, 7, 5, 3, 1}},
    {INT64_C(1) << 62, -(INT64_C(1) << 62), -3, 4, {9, 6, 3, 0}},
    /* NIL is INT64_MIN: the extremes here are one above it. */
    {-INT64_MAX, INT64_MAX, -INT64_MAX, 0, {0}},
    {INT64_MAX, -INT64_MAX, -INT64_MAX, 1, {9}},
    {INT64_MAX, -INT64_MAX, -1, 10, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
    {-INT64_MAX, INT64_MAX, INT64_MAX, 1, {0}},
};

static void test_getslice(void **st) {
  (void)st;
  uint64_t a = range10("q");
  for (size_t k = 0; k < sizeof SLICES / sizeof SLICES[0]; k++) {
    const slice_case *c = &SLICES[k];
    mgri_hreply *r = call(MGRI_OP_ARRAY_GETSLICE, a,
                          A(opt(c->start), opt(c->stop), opt(c->step)));
    ok(r);
    if (r->result.u.a.len != c->n)
      fail_msg("case %zu: %zu elements", k, r->result.u.a.len);
    for (size_t i = 0; i < c->n; i++) {
      assert_int_equal(r->result.u.a.items[i].type, MGR_T_INT);
      assert_int_equal(r->result.u.a.items[i].u.i, c->want[i]);
    }
  }
  /* step -2**63 is clamped to -(2**63 - 1), as CPython's: l[::-2**63] */
  mgri_hreply *r0 = call(MGRI_OP_ARRAY_GETSLICE, a,
                         A(mgr_nil(), mgr_nil(), mgr_int(INT64_MIN)));
  ok(r0);
  assert_int_equal(r0->result.u.a.len, 1);
  assert_int_equal(r0->result.u.a.items[0].u.i, 9);
  err(call(MGRI_OP_ARRAY_GETSLICE, a, A(mgr_nil(), mgr_nil(), mgr_int(0))),
      MGR_EVALUE, "ValueError: slice step cannot be zero");
  err(call(MGRI_OP_ARRAY_GETSLICE, a, A(mgr_text("1"), mgr_nil(), mgr_nil())),
      MGR_ETYPE, "slice indices must be integers or None, not str");
  err(call(MGRI_OP_ARRAY_GETSLICE, a, A(mgr_nil(), mgr_float(1.0), mgr_nil())),
      MGR_ETYPE, "not float");
  /* Floats come back as floats. */
  uint64_t f =
      new_array("f", mgr_array(A(mgr_float(0.5), mgr_int(2), mgr_float(0.1))));
  mgri_hreply *r =
      call(MGRI_OP_ARRAY_GETSLICE, f, A(mgr_nil(), mgr_nil(), mgr_int(-1)));
  ok(r);
  assert_int_equal(r->result.u.a.len, 3);
  assert_int_equal(r->result.u.a.items[0].type, MGR_T_FLOAT);
  assert_true(r->result.u.a.items[0].u.f == 0.10000000149011612);
  assert_true(r->result.u.a.items[1].u.f == 2.0);
  assert_true(r->result.u.a.items[2].u.f == 0.5);
}

/* Checks spec R-9.14-a, R-9.14-b (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_setslice(void **st) {
  (void)st;
  uint64_t a = range10("b");
  /* Extended slices, negative steps. */
  ok(call(MGRI_OP_ARRAY_SETSLICE, a,
          A(mgr_nil(), mgr_nil(), mgr_int(-2),
            mgr_array(A(mgr_int(-9), mgr_int(-7), mgr_int(-5), mgr_int(-3),
                        mgr_int(-1))))));
  expect_ints(a, (int64_t[]){0, -1, 2, -3, 4, -5, 6, -7, 8, -9}, 10);
  ok(call(MGRI_OP_ARRAY_SETSLICE, a,
          A(mgr_int(1), mgr_int(4), mgr_nil(),
            mgr_array(A(mgr_int(10), mgr_bool(true), mgr_int(30))))));
  expect_ints(a, (int64_t[]){0, 10, 1, 30, 4, -5, 6, -7, 8, -9}, 10);
  /* The length is fixed: a step-1 slice takes as many items as it has. */
  err(call(MGRI_OP_ARRAY_SETSLICE, a,
           A(mgr_int(0), mgr_int(2), mgr_nil(), mgr_array(A(mgr_int(1))))),
      MGR_EVALUE, "attempt to assign array of size 1 to slice of size 2");
  err(call(MGRI_OP_ARRAY_SETSLICE, a,
           A(mgr_int(0), mgr_int(1), mgr_nil(),
             mgr_array(A(mgr_int(1), mgr_int(2))))),
      MGR_EVALUE, "length is fixed");
  err(call(MGRI_OP_ARRAY_SETSLICE, a,
           A(mgr_nil(), mgr_nil(), mgr_int(3), mgr_array(A(mgr_int(1))))),
      MGR_EVALUE,
      "attempt to assign array of size 1 to extended slice of size 4");
  /* Every item is checked before any is stored. */
  err(call(MGRI_OP_ARRAY_SETSLICE, a,
           A(mgr_int(0), mgr_int(3), mgr_nil(),
             mgr_array(A(mgr_int(1), mgr_int(2), mgr_int(128))))),
      MGR_EOVERFLOW, "signed char is greater than maximum");
  err(call(MGRI_OP_ARRAY_SETSLICE, a,
           A(mgr_int(0), mgr_int(3), mgr_nil(),
             mgr_array(A(mgr_int(1), mgr_int(2), mgr_float(3.0))))),
      MGR_ETYPE, "'float' object cannot be interpreted as an integer");
  expect_ints(a, (int64_t[]){0, 10, 1, 30, 4, -5, 6, -7, 8, -9}, 10);
  err(call(MGRI_OP_ARRAY_SETSLICE, a,
           A(mgr_nil(), mgr_nil(), mgr_nil(), mgr_int(1))),
      MGR_ETYPE, "can only assign array (not \"int\") to array slice");
  err(call(MGRI_OP_ARRAY_SETSLICE, a,
           A(mgr_nil(), mgr_nil(), mgr_int(0), mgr_array(NULL, 0))),
      MGR_EVALUE, "slice step cannot be zero");
  /* An empty slice takes an empty array. */
  ok(call(MGRI_OP_ARRAY_SETSLICE, a,
          A(mgr_int(5), mgr_int(2), mgr_nil(), mgr_array(NULL, 0))));
  expect_ints(a, (int64_t[]){0, 10, 1, 30, 4, -5, 6, -7, 8, -9}, 10);
  /* 'd': items as stored. */
  uint64_t d = new_array("d", mgr_int(3));
  ok(call(MGRI_OP_ARRAY_SETSLICE, d,
          A(mgr_nil(), mgr_nil(), mgr_int(-1),
            mgr_array(A(mgr_int(1), mgr_float(0.5), mgr_bool(true))))));
  is_float(get(d, 0), 1.0);
  is_float(get(d, 1), 0.5);
  is_float(get(d, 2), 1.0);
}

/* --- increment and CAS
 * -------------------------------------------------------- */

/* Checks spec R-9.14-c (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_incr(void **st) {
  (void)st;
  uint64_t a = new_array("h", mgr_array(A(mgr_int(5), mgr_int(32766))));
  is_int(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(0), mgr_int(10))), 15);
  is_int(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(-2), mgr_int(-20))), -5);
  is_int(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(1), mgr_int(1))), 32767);
  err(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(1), mgr_int(1))), MGR_EOVERFLOW,
      "OverflowError: signed short integer is greater than maximum");
  is_int(get(a, 1), 32767);
  /* A float delta into an integer array is a TypeError, unchanged; a bool
   * is not a number for INCR (spec 11.1). */
  err(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(0), mgr_float(0.5))), MGR_ETYPE,
      "'float' object cannot be interpreted as an integer");
  err(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(0), mgr_float(1.0))), MGR_ETYPE,
      NULL);
  err(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(0), mgr_bool(true))), MGR_ETYPE,
      "'int' and 'bool'");
  err(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(0), mgr_text("1"))), MGR_ETYPE,
      "'int' and 'str'");
  err(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(0), mgr_nil())), MGR_ETYPE, NULL);
  is_int(get(a, 0), -5);
  err(call(MGRI_OP_ARRAY_INCR, a, A(mgr_int(2), mgr_int(1))), MGR_EINDEX,
      "array index out of range");
  err(call(MGRI_OP_ARRAY_INCR, a, A(mgr_text("0"), mgr_int(1))), MGR_ETYPE,
      NULL);
  /* int64 overflow of the sum itself. */
  uint64_t q =
      new_array("q", mgr_array(A(mgr_int(INT64_MAX), mgr_int(INT64_MIN))));
  err(call(MGRI_OP_ARRAY_INCR, q, A(mgr_int(0), mgr_int(INT64_MAX))),
      MGR_EOVERFLOW, "int too big to convert");
  err(call(MGRI_OP_ARRAY_INCR, q, A(mgr_int(1), mgr_int(INT64_MIN))),
      MGR_EOVERFLOW, "int too big to convert");
  is_int(get(q, 0), INT64_MAX);
  is_int(get(q, 1), INT64_MIN);
  is_int(call(MGRI_OP_ARRAY_INCR, q, A(mgr_int(0), mgr_int(INT64_MIN))), -1);
  /* Floats: IEEE sums, an 'f' element rounded as stored. */
  uint64_t d = new_array("d", mgr_array(A(mgr_float(1.5), mgr_int(0))));
  is_float(call(MGRI_OP_ARRAY_INCR, d, A(mgr_int(0), mgr_int(1))), 2.5);
  is_float(call(MGRI_OP_ARRAY_INCR, d, A(mgr_int(0), mgr_float(0.25))), 2.75);
  is_float(call(MGRI_OP_ARRAY_INCR, d, A(mgr_int(1), mgr_float(INFINITY))),
           INFINITY);
  is_float(call(MGRI_OP_ARRAY_INCR, d, A(mgr_int(1), mgr_float(-INFINITY))),
           NAN);
  err(call(MGRI_OP_ARRAY_INCR, d, A(mgr_int(0), mgr_bool(false))), MGR_ETYPE,
      NULL);
  is_float(get(d, 0), 2.75);
  uint64_t f = new_array("f", mgr_int(1));
  is_float(call(MGRI_OP_ARRAY_INCR, f, A(mgr_int(0), mgr_float(0.1))),
           0.10000000149011612);
  is_float(call(MGRI_OP_ARRAY_INCR, f, A(mgr_int(0), mgr_float(1e300))),
           INFINITY);
}

static void cas_is(mgri_hreply *r, bool swapped) {
  ok(r);
  assert_int_equal(r->result.type, MGR_T_ARRAY);
  assert_int_equal(r->result.u.a.len, 2);
  assert_int_equal(r->result.u.a.items[0].type, MGR_T_BOOL);
  assert_int_equal(r->result.u.a.items[0].u.b, swapped);
}

static void test_cas(void **st) {
  (void)st;
  uint64_t a = new_array("i", mgr_array(A(mgr_int(5), mgr_int(1))));
  mgri_hreply *r =
      call(MGRI_OP_ARRAY_CAS, a, A(mgr_int(0), mgr_int(5), mgr_int(7)));
  cas_is(r, true);
  assert_int_equal(r->result.u.a.items[1].u.i, 7);
  r = call(MGRI_OP_ARRAY_CAS, a, A(mgr_int(0), mgr_int(5), mgr_int(9)));
  cas_is(r, false);
  assert_int_equal(r->result.u.a.items[1].u.i, 7);
  /* Python's ==: 7 == 7.0, 1 == True. */
  cas_is(call(MGRI_OP_ARRAY_CAS, a, A(mgr_int(0), mgr_float(7.0), mgr_int(8))),
         true);
  cas_is(call(MGRI_OP_ARRAY_CAS, a,
              A(mgr_int(-1), mgr_bool(true), mgr_bool(false))),
         true);
  is_int(get(a, 1), 0);
  cas_is(call(MGRI_OP_ARRAY_CAS, a, A(mgr_int(0), mgr_text("8"), mgr_int(1))),
         false);
  /* desired is checked as a store, swap or not. */
  err(call(MGRI_OP_ARRAY_CAS, a, A(mgr_int(0), mgr_int(8), mgr_float(1.5))),
      MGR_ETYPE, "'float' object cannot be interpreted as an integer");
  err(call(MGRI_OP_ARRAY_CAS, a,
           A(mgr_int(0), mgr_int(99), mgr_int(INT64_MAX))),
      MGR_EOVERFLOW, "signed integer is greater than maximum");
  is_int(get(a, 0), 8);
  err(call(MGRI_OP_ARRAY_CAS, a, A(mgr_int(2), mgr_int(8), mgr_int(1))),
      MGR_EINDEX, NULL);
  /* Floats: NaN never matches; an 'f' current is the stored float. */
  uint64_t f = new_array("f", mgr_array(A(mgr_float(NAN), mgr_int(1))));
  cas_is(call(MGRI_OP_ARRAY_CAS, f, A(mgr_int(0), mgr_float(NAN), mgr_int(1))),
         false);
  r = call(MGRI_OP_ARRAY_CAS, f, A(mgr_int(1), mgr_int(1), mgr_float(0.1)));
  cas_is(r, true);
  assert_true(r->result.u.a.items[1].u.f == 0.10000000149011612);
  cas_is(call(MGRI_OP_ARRAY_CAS, f, A(mgr_int(1), mgr_float(0.1), mgr_int(2))),
         false);
  err(call(MGRI_OP_ARRAY_CAS, f, A(mgr_int(1), mgr_int(0), mgr_text("x"))),
      MGR_ETYPE, "must be real number, not str");
}

/* --- BATCH and DUMP
 * ----------------------------------------------------------- */

static mgr_value sub(uint64_t op, uint64_t oid, mgr_value *args, size_t n) {
  mgr_value *v = test_malloc(3 * sizeof *v);
  v[0] = mgr_int((int64_t)op);
  v[1] = mgr_int((int64_t)oid);
  v[2] = mgr_array(args, n);
  return mgr_array(v, 3);
}

static void test_batch(void **st) {
  (void)st;
  uint64_t a = new_array("B", mgr_int(4));
  mgr_value subs[] = {
      sub(MGRI_OP_ARRAY_SET, a, A(mgr_int(0), mgr_int(200))),
      sub(MGRI_OP_ARRAY_INCR, a, A(mgr_int(0), mgr_int(55))),
      sub(MGRI_OP_ARRAY_INCR, a, A(mgr_int(0), mgr_int(1))), /* 256: overflow */
      sub(MGRI_OP_ARRAY_CAS, a, A(mgr_int(1), mgr_int(0), mgr_int(9))),
      sub(MGRI_OP_ARRAY_GET, a, A(mgr_int(0))),
      sub(MGRI_OP_ARRAY_GET, a, A(mgr_int(4))), /* index error */
      sub(MGRI_OP_ARRAY_LEN, a, NULL, 0),
      sub(MGRI_OP_ARRAY_TYPECODE, a, NULL, 0),
      sub(MGRI_OP_ARRAY_SETSLICE, a,
          A(mgr_int(2), mgr_nil(), mgr_nil(),
            mgr_array(A(mgr_int(7), mgr_int(8))))),
      sub(MGRI_OP_ARRAY_GETSLICE, a, A(mgr_nil(), mgr_nil(), mgr_int(-1))),
  };
  size_t n = sizeof subs / sizeof subs[0];
  mgri_hreply *r = call(MGRI_OP_BATCH, 0, A(mgr_array(subs, n)));
  for (size_t i = 0; i < n; i++)
    test_free((void *)subs[i].u.a.items);
  ok(r);
  assert_int_equal(r->result.u.a.len, n);
  static const int want[] = {0, 0, MGR_EOVERFLOW, 0, 0, MGR_EINDEX, 0, 0, 0, 0};
  for (size_t i = 0; i < n; i++) {
    const mgr_value *slot = &r->result.u.a.items[i];
    assert_int_equal(slot->u.a.items[0].u.i, -want[i]);
  }
  const mgr_value *res = r->result.u.a.items;
  assert_int_equal(res[1].u.a.items[1].u.i, 255);
  assert_int_equal(res[3].u.a.items[1].u.a.items[1].u.i, 9);
  assert_int_equal(res[4].u.a.items[1].u.i, 255);
  assert_int_equal(res[6].u.a.items[1].u.i, 4);
  assert_memory_equal(res[7].u.a.items[1].u.s.ptr, "B", 1);
  const mgr_value *all = &res[9].u.a.items[1];
  assert_int_equal(all->u.a.len, 4);
  assert_int_equal(all->u.a.items[0].u.i, 8);
  assert_int_equal(all->u.a.items[1].u.i, 7);
  assert_int_equal(all->u.a.items[2].u.i, 9);
  assert_int_equal(all->u.a.items[3].u.i, 255);
}

static void test_dump(void **st) {
  (void)st;
  uint64_t a = new_array("d", mgr_int(100));
  ok(set(a, 1, mgr_float(2.5)));
  mgri_hreply *r = call(MGRI_OP_DUMP, a, NULL, 0);
  ok(r);
  mgr_value k = mgr_text("kind");
  assert_string_equal(mgr_map_get(&r->result, &k)->u.s.ptr, "array");
  k = mgr_text("items");
  assert_int_equal(mgr_map_get(&r->result, &k)->u.i, 100);
  k = mgr_text("bytes");
  assert_true(mgr_map_get(&r->result, &k)->u.i >= 800);
  k = mgr_text("state");
  const mgr_value *state = mgr_map_get(&r->result, &k);
  assert_non_null(state);
  k = mgr_text("typecode");
  assert_memory_equal(mgr_map_get(state, &k)->u.s.ptr, "d", 1);
  k = mgr_text("len");
  assert_int_equal(mgr_map_get(state, &k)->u.i, 100);
  k = mgr_text("head");
  const mgr_value *head = mgr_map_get(state, &k);
  assert_int_equal(head->u.a.len, 8);
  assert_true(head->u.a.items[1].u.f == 2.5);
  uint64_t e = new_array("b", mgr_int(0));
  r = call(MGRI_OP_DUMP, e, NULL, 0);
  ok(r);
  k = mgr_text("state");
  state = mgr_map_get(&r->result, &k);
  k = mgr_text("head");
  assert_int_equal(mgr_map_get(state, &k)->u.a.len, 0);
}

/* --- the proxies against a real manager --------------------------------------
 */

static mgr_client *M;

static int client_setup(void **st) {
  (void)st;
  M = cu_start();
  return M ? 0 : -1;
}

static int client_teardown(void **st) {
  (void)st;
  return cu_stop(M) == MGR_OK ? 0 : -1;
}

static void test_client_ops(void **st) {
  (void)st;
  mgr_proxy *a = NULL, *d = NULL;
  mgr_value n4 = I(4), v;
  assert_rc(M, mgr_array_new(M, 'i', NULL, &a), MGR_EINVAL);
  assert_rc(M, mgr_array_new(M, 'i', &n4, NULL), MGR_EINVAL);
  assert_rc(M, mgr_array_new(M, 'x', &n4, &a), MGR_EVALUE);
  assert_true(strstr(mgr_errmsg(M), "bad typecode") != NULL);
  mgr_value big[] = {I(1), I(1LL << 40)};
  mgr_value bigv = mgr_array(big, 2);
  assert_rc(M, mgr_array_new(M, 'i', &bigv, &a), MGR_EOVERFLOW);
  assert_ok(M, mgr_array_new(M, 'i', &n4, &a));
  char tc = 0;
  assert_ok(M, mgr_array_typecode(a, &tc));
  assert_int_equal(tc, 'i');
  size_t len = 0;
  assert_ok(M, mgr_array_len(a, &len));
  assert_int_equal(len, 4);
  mgr_value seven = I(7), half = mgr_float(0.5);
  assert_ok(M, mgr_array_set(a, -1, &seven));
  assert_ok(M, mgr_array_get(a, 3, &v));
  assert_repr(v, "7");
  assert_rc(M, mgr_array_set(a, 4, &seven), MGR_EINDEX);
  assert_rc(M, mgr_array_set(a, 0, &half), MGR_ETYPE);
  assert_rc(M, mgr_array_get(a, 9, &v), MGR_EINDEX);
  int64_t n = 0;
  assert_ok(M, mgr_array_incr_int(a, 3, 3, &n));
  assert_int_equal(n, 10);
  assert_rc(M, mgr_array_incr_int(a, 3, INT32_MAX, &n), MGR_EOVERFLOW);
  assert_ok(M, mgr_array_incr(a, 3, &seven, &v));
  assert_repr(v, "17");
  assert_rc(M, mgr_array_incr(a, 3, &half, &v), MGR_ETYPE);
  bool swapped = false;
  assert_ok(M, mgr_array_cas(a, 3, &seven, &n4, &swapped, &v));
  assert_false(swapped);
  assert_repr(v, "17");
  mgr_value seventeen = I(17);
  assert_ok(M, mgr_array_cas(a, 3, &seventeen, &n4, &swapped, NULL));
  assert_true(swapped);
  mgr_value items[] = {I(-1), I(-2)};
  mgr_value iv = mgr_array(items, 2);
  assert_ok(M, mgr_array_setslice(a, MGR_OMIT, MGR_OMIT, mgr_at(-3), &iv));
  assert_ok(M, mgr_array_getslice(a, MGR_OMIT, MGR_OMIT, MGR_OMIT, &v));
  assert_repr(v, "[-2, 0, 0, -1]");
  assert_rc(M, mgr_array_setslice(a, mgr_at(0), mgr_at(1), MGR_OMIT, &iv),
            MGR_EVALUE);
  assert_rc(M, mgr_array_getslice(a, MGR_OMIT, MGR_OMIT, mgr_at(0), &v),
            MGR_EVALUE);
  /* NULL arguments: nothing sent. */
  assert_rc(M, mgr_array_get(a, 0, NULL), MGR_EINVAL);
  assert_rc(M, mgr_array_set(a, 0, NULL), MGR_EINVAL);
  assert_rc(M, mgr_array_len(a, NULL), MGR_EINVAL);
  assert_rc(M, mgr_array_typecode(a, NULL), MGR_EINVAL);
  assert_rc(M, mgr_array_getslice(a, MGR_OMIT, MGR_OMIT, MGR_OMIT, NULL),
            MGR_EINVAL);
  assert_rc(M, mgr_array_setslice(a, MGR_OMIT, MGR_OMIT, MGR_OMIT, NULL),
            MGR_EINVAL);
  assert_rc(M, mgr_array_incr(a, 0, NULL, NULL), MGR_EINVAL);
  assert_rc(M, mgr_array_cas(a, 0, NULL, &n4, NULL, NULL), MGR_EINVAL);
  assert_rc(M, mgr_array_cas(a, 0, &n4, NULL, NULL, NULL), MGR_EINVAL);
  assert_rc(M, mgr_array_len(NULL, &len), MGR_EINVAL);
  /* An Array proxy refuses the ops of other kinds, and back. */
  assert_rc(M, mgr_list_len(a, &len), MGR_EBADOP);
  mgr_proxy *l = NULL;
  assert_ok(M, mgr_list_new(M, NULL, &l));
  assert_rc(M, mgr_array_len(l, &len), MGR_EBADOP);
  assert_ok(M, mgr_release(l));
  /* 'd': incr_int's result is a float: ETYPE, the increment applied. */
  mgr_value ditems[] = {mgr_float(1.5), I(2)};
  mgr_value dv = mgr_array(ditems, 2);
  assert_ok(M, mgr_array_new(M, 'd', &dv, &d));
  assert_rc(M, mgr_array_incr_int(d, 0, 1, &n), MGR_ETYPE);
  assert_ok(M, mgr_array_get(d, 0, &v));
  assert_repr(v, "2.5");
  assert_ok(M, mgr_array_get(d, 1, &v));
  assert_repr(v, "2.0");
  /* mgr_open works for the kind. */
  mgr_proxy *o1 = NULL, *o2 = NULL;
  bool created = false;
  mgr_value qinit[] = {T("Q"), I(2)};
  mgr_value qv = mgr_array(qinit, 2);
  assert_ok(M,
            mgr_open(M, "test_array.q", MGR_K_ARRAY, &qv, true, &o1, &created));
  assert_true(created);
  assert_ok(M,
            mgr_open(M, "test_array.q", MGR_K_ARRAY, &qv, true, &o2, &created));
  assert_false(created);
  assert_ok(M, mgr_array_incr_int(o1, 1, 5, &n));
  assert_ok(M, mgr_array_get(o2, 1, &v));
  assert_repr(v, "5");
  assert_ok(M, mgr_array_typecode(o2, &tc));
  assert_int_equal(tc, 'Q');
  assert_ok(M, mgr_unlink(M, "test_array.q"));
  assert_ok(M, mgr_release(o1));
  assert_ok(M, mgr_release(o2));
  assert_ok(M, mgr_release(a));
  assert_ok(M, mgr_release(d));
}

#define NPROC 8
#define NITER 200
#define NELEM 5

/* Forks n children running fn(i, ctx), all released at once, and asserts
 * each exits 0. */
static void run_workers(int n, int (*fn)(int i, void *ctx), void *ctx) {
  cu_pipe go = cu_pipe_new();
  pid_t pids[64];
  fflush(stdout);
  fflush(stderr);
  for (int i = 0; i < n; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      close(go.w);
      cu_waitsig(go); /* end of stream: the parent closed it, go */
      _exit(fn(i, ctx));
    }
  }
  cu_pipe_close(go);
  for (int i = 0; i < n; i++)
    assert_child_ok(pids[i]);
}

struct arrays {
  mgr_proxy *i, *d;
};

static int incr_worker(int w, void *ctx) {
  struct arrays *a = ctx;
  mgr_value one = mgr_float(1.0);
  for (int k = 0; k < NITER; k++)
    for (int e = 0; e < NELEM; e++) {
      /* each worker walks the elements from another starting point */
      int idx = (e + w) % NELEM;
      CU_CHECK(1, mgr_array_incr_int(a->i, idx, 1, NULL) == MGR_OK);
      CU_CHECK(2, mgr_array_incr(a->d, idx, &one, NULL) == MGR_OK);
    }
  return 0;
}

static void test_workers_exact(void **st) {
  (void)st;
  struct arrays a;
  mgr_value n = I(NELEM);
  assert_ok(M, mgr_array_new(M, 'l', &n, &a.i));
  assert_ok(M, mgr_array_new(M, 'd', &n, &a.d));
  run_workers(NPROC, incr_worker, &a);
  mgr_value v;
  assert_ok(M, mgr_array_getslice(a.i, MGR_OMIT, MGR_OMIT, MGR_OMIT, &v));
  assert_int_equal(v.u.a.len, NELEM);
  for (size_t e = 0; e < NELEM; e++)
    assert_int_equal(v.u.a.items[e].u.i, NPROC * NITER);
  mgr_value_free(&v);
  assert_ok(M, mgr_array_getslice(a.d, MGR_OMIT, MGR_OMIT, MGR_OMIT, &v));
  for (size_t e = 0; e < NELEM; e++)
    assert_true(v.u.a.items[e].u.f == (double)(NPROC * NITER));
  mgr_value_free(&v);
  assert_ok(M, mgr_release(a.i));
  assert_ok(M, mgr_release(a.d));
}

/* a[0] += 1 as get then set: two clients interleaved as GET(A) GET(B)
 * SET(A) SET(B) leave +1, not +2 (deterministic: each call is answered
 * before the next is sent). ARRAY_INCR in the same interleaving loses
 * nothing. */
static void test_lost_update(void **st) {
  (void)st;
  mgr_proxy *arr = NULL;
  mgr_value n = I(1);
  assert_ok(M, mgr_array_new(M, 'i', &n, &arr));
  mgr_value ten = I(10);
  assert_ok(M, mgr_array_set(arr, 0, &ten));
  mgr_client *ca = NULL, *cb = NULL;
  assert_ok(NULL, mgr_connect(mgr_address(M), NULL, &ca));
  assert_ok(NULL, mgr_connect(mgr_address(M), NULL, &cb));
  mgr_value ref = mgr_proxy_value(arr);
  mgr_proxy *pa = NULL, *pb = NULL;
  assert_ok(ca, mgr_proxy_from_value(ca, &ref, &pa));
  assert_ok(cb, mgr_proxy_from_value(cb, &ref, &pb));
  mgr_value va, vb, v;
  assert_ok(ca, mgr_array_get(pa, 0, &va));
  assert_ok(cb, mgr_array_get(pb, 0, &vb));
  mgr_value na = I(va.u.i + 1), nb = I(vb.u.i + 1);
  assert_ok(ca, mgr_array_set(pa, 0, &na));
  assert_ok(cb, mgr_array_set(pb, 0, &nb));
  assert_ok(M, mgr_array_get(arr, 0, &v));
  assert_repr(v, "11"); /* one update lost */
  int64_t r = 0;
  assert_ok(ca, mgr_array_incr_int(pa, 0, 1, &r));
  assert_ok(cb, mgr_array_incr_int(pb, 0, 1, &r));
  assert_int_equal(r, 13);
  assert_ok(M, mgr_array_get(arr, 0, &v));
  assert_repr(v, "13"); /* both landed */
  assert_ok(ca, mgr_release(pa));
  assert_ok(cb, mgr_release(pb));
  mgr_close(ca);
  mgr_close(cb);
  assert_ok(M, mgr_release(arr));
}

int main(void) {
  const struct CMUnitTest pure[] = {
      cmocka_unit_test(test_create_sizes),
      cmocka_unit_test(test_create_errors),
      cmocka_unit_test(test_create_memory),
      cmocka_unit_test(test_bounds),
      cmocka_unit_test(test_floats),
      cmocka_unit_test(test_index),
      cmocka_unit_test(test_getslice),
      cmocka_unit_test(test_setslice),
      cmocka_unit_test(test_incr),
      cmocka_unit_test(test_cas),
      cmocka_unit_test(test_batch),
      cmocka_unit_test(test_dump),
  };
  const struct CMUnitTest client[] = {
      cmocka_unit_test(test_client_ops),
      cmocka_unit_test(test_workers_exact),
      cmocka_unit_test(test_lost_update),
  };
  int fails = cmocka_run_group_tests_name("array (dispatch)", pure, su_setup,
                                          su_teardown);
  fails += cmocka_run_group_tests_name("array (manager)", client, client_setup,
                                       client_teardown);
  return fails;
}
