/* mgr tests — the shared list's semantics against Python's (expected values
 * were produced by CPython 3.11), driven through the pure dispatch path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "server_util.h"

#define NIL INT64_MIN

static mgr_value ints_v[64];
static mgr_value ints(const int64_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    ints_v[i] = mgr_int(v[i]);
  return mgr_array(ints_v, n);
}

static uint64_t new_list(const int64_t *v, size_t n) {
  mgr_value init = ints(v, n);
  uint64_t id = mgri_h_create(&H, C, MGR_K_LIST, &init);
  assert_true(id != 0);
  return id;
}

static uint64_t range10(void) {
  static const int64_t r[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  return new_list(r, 10);
}

/* The list's items must be exactly these ints (type-checked). */
static void expect_items(uint64_t id, const int64_t *v, size_t n) {
  mgri_hreply *r = call(MGRI_OP_LIST_COPY, id, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_ARRAY);
  if (r->result.u.a.len != n)
    fail_msg("expected %zu items, got %zu", n, r->result.u.a.len);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(r->result.u.a.items[i].type, MGR_T_INT);
    assert_int_equal(r->result.u.a.items[i].u.i, v[i]);
  }
}

static mgr_value opt(int64_t v) { return v == NIL ? mgr_nil() : mgr_int(v); }

static void test_index(void **st) {
  (void)st;
  uint64_t l = range10();
  mgri_hreply *r = call(MGRI_OP_LIST_GET, l, A(mgr_int(-1)));
  ok(r);
  assert_int_equal(r->result.u.i, 9);
  r = call(MGRI_OP_LIST_GET, l, A(mgr_int(-10)));
  ok(r);
  assert_int_equal(r->result.u.i, 0);
  err(call(MGRI_OP_LIST_GET, l, A(mgr_int(10))), MGR_EINDEX,
      "list index out of range");
  err(call(MGRI_OP_LIST_GET, l, A(mgr_int(-11))), MGR_EINDEX,
      "list index out of range");
  err(call(MGRI_OP_LIST_GET, l, A(mgr_int(INT64_MIN))), MGR_EINDEX, NULL);
  err(call(MGRI_OP_LIST_GET, l, A(mgr_text("0"))), MGR_ETYPE, "str");
  ok(call(MGRI_OP_LIST_SET, l, A(mgr_int(-2), mgr_int(80))));
  err(call(MGRI_OP_LIST_SET, l, A(mgr_int(10), mgr_int(0))), MGR_EINDEX,
      "list assignment index out of range");
  ok(call(MGRI_OP_LIST_DEL, l, A(mgr_int(0))));
  err(call(MGRI_OP_LIST_DEL, l, A(mgr_int(9))), MGR_EINDEX, NULL);
  static const int64_t want[] = {1, 2, 3, 4, 5, 6, 7, 80, 9};
  expect_items(l, want, 9);
  r = call(MGRI_OP_LIST_LEN, l, NULL, 0);
  assert_int_equal(r->result.u.i, 9);
}

typedef struct slice_case {
  int64_t start, stop, step;
  size_t n;
  int64_t get[10];
  size_t ndel;
  int64_t del[10];
} slice_case;

static const slice_case slices[] = {
    {NIL, NIL, NIL, 10, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0, {0}},
    {2, 7, NIL, 5, {2, 3, 4, 5, 6}, 5, {0, 1, 7, 8, 9}},
    {-3, NIL, NIL, 3, {7, 8, 9}, 7, {0, 1, 2, 3, 4, 5, 6}},
    {NIL, -3, NIL, 7, {0, 1, 2, 3, 4, 5, 6}, 3, {7, 8, 9}},
    {NIL, NIL, -1, 10, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, 0, {0}},
    {8, 2, -2, 3, {8, 6, 4}, 7, {0, 1, 2, 3, 5, 7, 9}},
    {-1, -11, -3, 4, {9, 6, 3, 0}, 6, {1, 2, 4, 5, 7, 8}},
    {1, 100, 3, 3, {1, 4, 7}, 7, {0, 2, 3, 5, 6, 8, 9}},
    {-100, 100, 4, 3, {0, 4, 8}, 7, {1, 2, 3, 5, 6, 7, 9}},
    {5, 2, NIL, 0, {0}, 10, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
    {NIL, NIL, 2, 5, {0, 2, 4, 6, 8}, 5, {1, 3, 5, 7, 9}},
    {3, NIL, -1, 4, {3, 2, 1, 0}, 6, {4, 5, 6, 7, 8, 9}},
    {-20, -15, NIL, 0, {0}, 10, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
    {20, 30, NIL, 0, {0}, 10, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
    {9, NIL, -4, 3, {9, 5, 1}, 7, {0, 2, 3, 4, 6, 7, 8}},
    {0, 0, NIL, 0, {0}, 10, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
};

static void test_slices(void **st) {
  (void)st;
  for (size_t i = 0; i < sizeof slices / sizeof slices[0]; i++) {
    const slice_case *sc = &slices[i];
    uint64_t l = range10();
    mgri_hreply *r = call(MGRI_OP_LIST_GETSLICE, l,
                          A(opt(sc->start), opt(sc->stop), opt(sc->step)));
    ok(r);
    assert_int_equal(r->result.u.a.len, sc->n);
    for (size_t k = 0; k < sc->n; k++)
      assert_int_equal(r->result.u.a.items[k].u.i, sc->get[k]);
    ok(call(MGRI_OP_LIST_DELSLICE, l,
            A(opt(sc->start), opt(sc->stop), opt(sc->step))));
    expect_items(l, sc->del, sc->ndel);
  }
  uint64_t l = range10();
  err(call(MGRI_OP_LIST_GETSLICE, l, A(mgr_nil(), mgr_nil(), mgr_int(0))),
      MGR_EVALUE, "slice step cannot be zero");
  err(call(MGRI_OP_LIST_DELSLICE, l, A(mgr_nil(), mgr_nil(), mgr_int(0))),
      MGR_EVALUE, NULL);
  err(call(MGRI_OP_LIST_GETSLICE, l, A(mgr_text("a"), mgr_nil(), mgr_nil())),
      MGR_ETYPE, "slice indices");
  /* Extreme bounds do not overflow. */
  mgri_hreply *r =
      call(MGRI_OP_LIST_GETSLICE, l,
           A(mgr_int(INT64_MAX), mgr_int(INT64_MIN), mgr_int(INT64_MIN)));
  ok(r);
  assert_int_equal(r->result.u.a.len, 1);
  assert_int_equal(r->result.u.a.items[0].u.i, 9);
}

/* Checks spec R-9.3-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_setslice(void **st) {
  (void)st;
  uint64_t l = range10();
  ok(call(MGRI_OP_LIST_SETSLICE, l,
          A(mgr_int(2), mgr_int(5), mgr_nil(),
            mgr_array(A(mgr_int(100), mgr_int(101))))));
  static const int64_t w1[] = {0, 1, 100, 101, 5, 6, 7, 8, 9};
  expect_items(l, w1, 9);

  l = range10();
  ok(call(MGRI_OP_LIST_SETSLICE, l,
          A(mgr_int(5), mgr_int(2), mgr_nil(), mgr_array(A(mgr_int(7))))));
  static const int64_t w2[] = {0, 1, 2, 3, 4, 7, 5, 6, 7, 8, 9};
  expect_items(l, w2, 11);

  l = range10();
  ok(call(MGRI_OP_LIST_SETSLICE, l,
          A(mgr_nil(), mgr_nil(), mgr_int(2),
            mgr_array(A(mgr_int(1), mgr_int(2), mgr_int(3), mgr_int(4),
                        mgr_int(5))))));
  static const int64_t w3[] = {1, 1, 2, 3, 3, 5, 4, 7, 5, 9};
  expect_items(l, w3, 10);

  l = range10();
  ok(call(MGRI_OP_LIST_SETSLICE, l,
          A(mgr_int(8), mgr_nil(), mgr_int(-3),
            mgr_array(A(mgr_int(7), mgr_int(8), mgr_int(9))))));
  static const int64_t w4[] = {0, 1, 9, 3, 4, 8, 6, 7, 7, 9};
  expect_items(l, w4, 10);

  l = range10();
  ok(call(MGRI_OP_LIST_SETSLICE, l,
          A(mgr_int(-2), mgr_nil(), mgr_nil(),
            mgr_array(A(mgr_int(5), mgr_int(5), mgr_int(5))))));
  static const int64_t w5[] = {0, 1, 2, 3, 4, 5, 6, 7, 5, 5, 5};
  expect_items(l, w5, 11);

  ok(call(MGRI_OP_LIST_SETSLICE, l,
          A(mgr_nil(), mgr_nil(), mgr_nil(), mgr_array(NULL, 0))));
  expect_items(l, NULL, 0);

  l = range10();
  err(call(MGRI_OP_LIST_SETSLICE, l,
           A(mgr_nil(), mgr_nil(), mgr_int(2), mgr_array(A(mgr_int(1))))),
      MGR_EVALUE,
      "attempt to assign sequence of size 1 to extended slice of size 5");
  err(call(MGRI_OP_LIST_SETSLICE, l,
           A(mgr_nil(), mgr_nil(), mgr_nil(), mgr_int(3))),
      MGR_ETYPE, NULL);
  /* A ref to an unknown object: NOTFOUND, list unchanged. */
  err(call(MGRI_OP_LIST_SETSLICE, l,
           A(mgr_int(0), mgr_int(2), mgr_nil(),
             mgr_array(A(mgr_int(1), mgri_h_ref(1, 999))))),
      MGR_ENOTFOUND, NULL);
  static const int64_t r10[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  expect_items(l, r10, 10);
}

static void test_insert_pop_remove_index(void **st) {
  (void)st;
  static const int64_t init[] = {1, 2};
  uint64_t l = new_list(init, 2);
  ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(-10), mgr_text("a"))));
  ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(10), mgr_text("b"))));
  ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(-1), mgr_text("c"))));
  /* Python: ['a', 1, 2, 'c', 'b'] */
  mgri_hreply *r = call(MGRI_OP_LIST_COPY, l, NULL, 0);
  mgr_value want = mgr_array(
      A(mgr_text("a"), mgr_int(1), mgr_int(2), mgr_text("c"), mgr_text("b")));
  assert_true(mgr_value_equal(&r->result, &want));

  r = call(MGRI_OP_LIST_POP, l, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_TEXT);
  assert_string_equal(r->result.u.s.ptr, "b");
  r = call(MGRI_OP_LIST_POP, l, A(mgr_int(0)));
  assert_string_equal(r->result.u.s.ptr, "a");
  err(call(MGRI_OP_LIST_POP, l, A(mgr_int(5))), MGR_EINDEX,
      "pop index out of range");
  ok(call(MGRI_OP_LIST_CLEAR, l, NULL, 0));
  err(call(MGRI_OP_LIST_POP, l, NULL, 0), MGR_EINDEX, "pop from empty list");

  static const int64_t v[] = {0, 1, 2, 3, 1, 2};
  l = new_list(v, 6);
  r = call(MGRI_OP_LIST_INDEX, l, A(mgr_int(1)));
  assert_int_equal(r->result.u.i, 1);
  r = call(MGRI_OP_LIST_INDEX, l, A(mgr_int(1), mgr_int(2)));
  assert_int_equal(r->result.u.i, 4);
  r = call(MGRI_OP_LIST_INDEX, l, A(mgr_int(2), mgr_int(-2)));
  assert_int_equal(r->result.u.i, 5);
  r = call(MGRI_OP_LIST_INDEX, l, A(mgr_int(1), mgr_int(-100), mgr_int(100)));
  assert_int_equal(r->result.u.i, 1);
  r = call(MGRI_OP_LIST_INDEX, l, A(mgr_float(3.0)));
  assert_int_equal(r->result.u.i, 3); /* 3.0 == 3 */
  err(call(MGRI_OP_LIST_INDEX, l, A(mgr_int(1), mgr_int(5))), MGR_EVALUE,
      "1 is not in list");
  /* list.index(1, None) is a TypeError in Python (bounds are not slices). */
  err(call(MGRI_OP_LIST_INDEX, l, A(mgr_int(1), mgr_nil())), MGR_ETYPE,
      "integers");
  err(call(MGRI_OP_LIST_INDEX, l, A(mgr_int(1), mgr_int(0), mgr_nil())),
      MGR_ETYPE, NULL);
  r = call(MGRI_OP_LIST_COUNT, l, A(mgr_bool(true)));
  assert_int_equal(r->result.u.i, 2); /* True == 1 */
  r = call(MGRI_OP_LIST_CONTAINS, l, A(mgr_text("x")));
  assert_false(r->result.u.b);
  ok(call(MGRI_OP_LIST_REMOVE, l, A(mgr_int(1))));
  static const int64_t w[] = {0, 2, 3, 1, 2};
  expect_items(l, w, 5);
  err(call(MGRI_OP_LIST_REMOVE, l, A(mgr_int(7))), MGR_EVALUE, "x not in list");
  ok(call(MGRI_OP_LIST_REVERSE, l, NULL, 0));
  static const int64_t wr[] = {2, 1, 3, 2, 0};
  expect_items(l, wr, 5);
}

/* Checks spec R-5.5-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_sort(void **st) {
  (void)st;
  /* Stable: equal numbers keep their order, both directions
   * (Python: sorted([2, 1.0, True, 1, 0]) == [0, 1.0, True, 1, 2]). */
  mgr_value init = mgr_array(
      A(mgr_int(2), mgr_float(1.0), mgr_bool(true), mgr_int(1), mgr_int(0)));
  uint64_t l = mgri_h_create(&H, C, MGR_K_LIST, &init);
  ok(call(MGRI_OP_LIST_SORT, l, NULL, 0));
  mgri_hreply *r = call(MGRI_OP_LIST_COPY, l, NULL, 0);
  const mgr_value *it = r->result.u.a.items;
  assert_int_equal(it[0].type, MGR_T_INT);
  assert_int_equal(it[1].type, MGR_T_FLOAT);
  assert_int_equal(it[2].type, MGR_T_BOOL);
  assert_int_equal(it[3].type, MGR_T_INT);
  assert_int_equal(it[4].u.i, 2);
  /* reverse=True: [2, 1.0, True, 1, 0], ties in original order. */
  ok(call(MGRI_OP_LIST_SORT, l, A(mgr_bool(true))));
  r = call(MGRI_OP_LIST_COPY, l, NULL, 0);
  it = r->result.u.a.items;
  assert_int_equal(it[0].u.i, 2);
  assert_int_equal(it[1].type, MGR_T_FLOAT);
  assert_int_equal(it[2].type, MGR_T_BOOL);
  assert_int_equal(it[3].type, MGR_T_INT);
  assert_int_equal(it[4].u.i, 0);

  /* A permutation of 0..59 sorts ascending. */
  int64_t big[60];
  for (int i = 0; i < 60; i++)
    big[i] = (i * 37) % 60;
  l = new_list(big, 60);
  ok(call(MGRI_OP_LIST_SORT, l, NULL, 0));
  int64_t want[60];
  for (int i = 0; i < 60; i++)
    want[i] = i;
  expect_items(l, want, 60);

  /* TypeError leaves the list unchanged. */
  static const int64_t v[] = {3, 1, 2};
  l = new_list(v, 3);
  ok(call(MGRI_OP_LIST_APPEND, l, A(mgr_text("x"))));
  err(call(MGRI_OP_LIST_SORT, l, NULL, 0), MGR_ETYPE,
      "not supported between instances");
  r = call(MGRI_OP_LIST_COPY, l, NULL, 0);
  mgr_value w = mgr_array(A(mgr_int(3), mgr_int(1), mgr_int(2), mgr_text("x")));
  assert_true(mgr_value_equal(&r->result, &w));
  err(call(MGRI_OP_LIST_SORT, l, A(mgr_int(1))), MGR_ETYPE, "reverse");
  /* NaN cannot be ordered. */
  mgr_value nan = mgr_array(A(mgr_float(1.0), mgr_float(__builtin_nan(""))));
  l = mgri_h_create(&H, C, MGR_K_LIST, &nan);
  err(call(MGRI_OP_LIST_SORT, l, NULL, 0), MGR_ETYPE, "NaN cannot be ordered");
  /* A float and a str: Python's words, the types in its order. */
  mgr_value fs = mgr_array(A(mgr_float(1.5), mgr_text("x")));
  l = mgri_h_create(&H, C, MGR_K_LIST, &fs);
  err(call(MGRI_OP_LIST_SORT, l, NULL, 0), MGR_ETYPE,
      "TypeError: '<' not supported between instances of 'str' and 'float'");
}

static void test_extend_imul_copy(void **st) {
  (void)st;
  /* Empty lists hold no array: every op on them stays defined (UBSan). */
  uint64_t e = new_list(NULL, 0);
  ok(call(MGRI_OP_LIST_EXTEND, e, A(mgr_array(NULL, 0))));
  ok(call(MGRI_OP_LIST_SETSLICE, e,
          A(mgr_int(0), mgr_int(0), mgr_nil(), mgr_array(NULL, 0))));
  ok(call(MGRI_OP_LIST_SETSLICE, e,
          A(mgr_nil(), mgr_nil(), mgr_int(INT64_MIN), mgr_array(NULL, 0))));
  ok(call(MGRI_OP_LIST_DELSLICE, e, A(mgr_nil(), mgr_nil(), mgr_nil())));
  ok(call(MGRI_OP_LIST_SORT, e, NULL, 0));
  ok(call(MGRI_OP_LIST_REVERSE, e, NULL, 0));
  ok(call(MGRI_OP_LIST_IMUL, e, A(mgr_int(5))));
  expect_items(e, NULL, 0);
  static const int64_t v[] = {1, 2};
  uint64_t l = new_list(v, 2);
  ok(call(MGRI_OP_LIST_EXTEND, l, A(mgr_array(A(mgr_int(3), mgr_int(4))))));
  err(call(MGRI_OP_LIST_EXTEND, l, A(mgr_int(3))), MGR_ETYPE, "not iterable");
  ok(call(MGRI_OP_LIST_IMUL, l, A(mgr_int(2))));
  static const int64_t w[] = {1, 2, 3, 4, 1, 2, 3, 4};
  expect_items(l, w, 8);
  err(call(MGRI_OP_LIST_IMUL, l, A(mgr_int(INT64_MAX))), MGR_ELIMIT, NULL);
  expect_items(l, w, 8);
  ok(call(MGRI_OP_LIST_IMUL, l, A(mgr_int(0))));
  expect_items(l, NULL, 0);
  /* Text items are deep copies: each freed once (ASan checks). */
  ok(call(MGRI_OP_LIST_APPEND, l, A(mgr_text("hello"))));
  ok(call(MGRI_OP_LIST_IMUL, l, A(mgr_int(3))));
  mgri_hreply *r = call(MGRI_OP_LIST_COUNT, l, A(mgr_text("hello")));
  assert_int_equal(r->result.u.i, 3);
  err(call(MGRI_OP_LIST_APPEND, l, A(mgri_h_ref(MGR_K_DICT, 777))),
      MGR_ENOTFOUND, NULL);
  r = call(MGRI_OP_LIST_LEN, l, NULL, 0);
  assert_int_equal(r->result.u.i, 3);
}

/* Checks spec R-11.1-d (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_incr_cas(void **st) {
  (void)st;
  mgr_value init = mgr_array(A(mgr_int(1), mgr_float(0.5), mgr_text("s"),
                               mgr_bool(true), mgr_int(INT64_MAX)));
  uint64_t l = mgri_h_create(&H, C, MGR_K_LIST, &init);
  mgri_hreply *r = call(MGRI_OP_LIST_INCR, l, A(mgr_int(0), mgr_int(41)));
  ok(r);
  assert_int_equal(r->result.u.i, 42);
  r = call(MGRI_OP_LIST_INCR, l, A(mgr_int(-4), mgr_int(0)));
  assert_int_equal(r->result.type, MGR_T_FLOAT);
  r = call(MGRI_OP_LIST_INCR, l, A(mgr_int(1), mgr_int(2)));
  assert_int_equal(r->result.type, MGR_T_FLOAT);
  assert_true(r->result.u.f == 2.5);
  err(call(MGRI_OP_LIST_INCR, l, A(mgr_int(2), mgr_int(1))), MGR_ETYPE,
      "'str' and 'int'");
  err(call(MGRI_OP_LIST_INCR, l, A(mgr_int(3), mgr_int(1))), MGR_ETYPE, "bool");
  err(call(MGRI_OP_LIST_INCR, l, A(mgr_int(4), mgr_int(1))), MGR_EOVERFLOW,
      NULL);
  r = call(MGRI_OP_LIST_GET, l, A(mgr_int(4)));
  assert_int_equal(r->result.u.i, INT64_MAX);
  err(call(MGRI_OP_LIST_INCR, l, A(mgr_int(5), mgr_int(1))), MGR_EINDEX, NULL);

  r = call(MGRI_OP_LIST_CAS, l, A(mgr_int(0), mgr_int(41), mgr_int(0)));
  ok(r);
  assert_false(r->result.u.a.items[0].u.b);
  assert_int_equal(r->result.u.a.items[1].u.i, 42);
  r = call(MGRI_OP_LIST_CAS, l,
           A(mgr_int(0), mgr_float(42.0), mgr_text("done")));
  assert_true(r->result.u.a.items[0].u.b);
  assert_string_equal(r->result.u.a.items[1].u.s.ptr, "done");
  err(call(MGRI_OP_LIST_CAS, l, A(mgr_int(9), mgr_int(0), mgr_int(0))),
      MGR_EINDEX, NULL);
}

/* --- the ends: room at both ends (spec 9.3, issue 15) --------------------- */

static uint64_t g_rng;
static uint64_t rnd64(void) { /* xorshift64* */
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return g_rng * 0x2545F4914F6CDD1Dull;
}
static int64_t rndi(int64_t lo, int64_t hi) { /* inclusive */
  return lo + (int64_t)(rnd64() % (uint64_t)(hi - lo + 1));
}

/* The value of key in DUMP's map for object id. */
static int64_t dump_num(uint64_t id, const char *key) {
  mgri_hreply *r = call(MGRI_OP_DUMP, id, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_MAP);
  for (size_t i = 0; i < r->result.u.a.len; i++) {
    const mgr_value *k = &r->result.u.a.items[2 * i];
    if (k->type == MGR_T_TEXT && !strcmp(k->u.s.ptr, key)) {
      assert_int_equal(r->result.u.a.items[2 * i + 1].type, MGR_T_INT);
      return r->result.u.a.items[2 * i + 1].u.i;
    }
  }
  fail_msg("DUMP has no '%s'", key);
  return -1;
}

/* The bytes a list of len ints may hold beyond an empty list's: its array
 * is at most 4x the items (it shrinks at a quarter), at least 8 slots, plus
 * the allocator's rounding (a page for a mapped block). */
static int64_t bytes_bound(size_t len) {
  size_t slots = 4 * len > 8 ? 4 * len : 8;
  return (int64_t)(slots * sizeof(mgr_value)) + 4096 + 64;
}

static int64_t g_empty; /* the bytes of an empty list */

static void expect_bounded(uint64_t l, size_t len) {
  int64_t b = dump_num(l, "bytes");
  if (len == 0 && b != g_empty)
    fail_msg("an empty list holds %lld bytes, a new one %lld", (long long)b,
             (long long)g_empty);
  if (b - g_empty > bytes_bound(len))
    fail_msg("a list of %zu ints holds %lld bytes (empty: %lld, bound +%lld)",
             len, (long long)b, (long long)g_empty,
             (long long)bytes_bound(len));
}

/* The list's items must be the model's m[0..n), read in pieces. */
static void expect_model(uint64_t l, const int64_t *m, size_t n) {
  mgri_hreply *r = call(MGRI_OP_LIST_LEN, l, NULL, 0);
  assert_int_equal(r->result.u.i, (int64_t)n);
  r = call(MGRI_OP_LIST_COPY, l, NULL, 0);
  ok(r);
  assert_int_equal(r->result.u.a.len, n);
  for (size_t i = 0; i < n; i++)
    if (r->result.u.a.items[i].type != MGR_T_INT ||
        r->result.u.a.items[i].u.i != m[i])
      fail_msg("item %zu of %zu: got %lld, want %lld", i, n,
               (long long)r->result.u.a.items[i].u.i, (long long)m[i]);
}

static void new_empty(uint64_t *l) {
  *l = new_list(NULL, 0);
  g_empty = dump_num(*l, "bytes");
}

/* Queue-like: append at the back, pop(0) at the front, n items throughout:
 * the array moves within itself as the front room grows (the items stay in
 * order, FIFO), and never grows beyond its bound. */
static void test_ends_queue(void **st) {
  (void)st;
  uint64_t l;
  new_empty(&l);
  static const size_t sizes[] = {1, 7, 1000, 5000};
  int64_t next = 0, head = 0;
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    while (next - head < (int64_t)sizes[s])
      ok(call(MGRI_OP_LIST_APPEND, l, A(mgr_int(next++))));
    for (int k = 0; k < 40000; k++) {
      ok(call(MGRI_OP_LIST_APPEND, l, A(mgr_int(next++))));
      mgri_hreply *r = call(MGRI_OP_LIST_POP, l, A(mgr_int(0)));
      ok(r);
      if (r->result.u.i != head)
        fail_msg("pop(0) %lld, want %lld", (long long)r->result.u.i,
                 (long long)head);
      head++;
      if (k % 4999 == 0) expect_bounded(l, (size_t)(next - head));
    }
    {
      mgri_hreply *r =
          call(MGRI_OP_LIST_GETSLICE, l, A(mgr_nil(), mgr_nil(), mgr_nil()));
      ok(r);
      assert_int_equal(r->result.u.a.len, (size_t)(next - head));
      for (size_t i = 0; i < r->result.u.a.len; i++)
        assert_int_equal(r->result.u.a.items[i].u.i, head + (int64_t)i);
    }
  }
  /* Drained from the front: its memory goes back (the array is freed). */
  while (head < next) {
    mgri_hreply *r = call(MGRI_OP_LIST_POP, l, A(mgr_int(0)));
    assert_int_equal(r->result.u.i, head);
    head++;
    if ((next - head) % 977 == 0) expect_bounded(l, (size_t)(next - head));
  }
  expect_bounded(l, 0);
  /* The other way round: insert(0) and pop() is a queue too. */
  for (int k = 0; k < 3000; k++)
    ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(0), mgr_int(k))));
  for (int k = 3000; k < 60000; k++) {
    ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(0), mgr_int(k))));
    mgri_hreply *r = call(MGRI_OP_LIST_POP, l, NULL, 0);
    assert_int_equal(r->result.u.i, k - 3000);
    if (k % 4999 == 0) expect_bounded(l, 3000);
  }
  while (call(MGRI_OP_LIST_LEN, l, NULL, 0)->result.u.i)
    ok(call(MGRI_OP_LIST_POP, l, NULL, 0));
  expect_bounded(l, 0);
}

/* Alternating ends at scale: a list of 100000 grown at the front only
 * (insert(0)), drained from the back, grown at both ends alternately,
 * emptied by del l[0] and del l[:k]; each time its memory follows its
 * length. */
static void test_ends_growth(void **st) {
  (void)st;
  uint64_t l;
  new_empty(&l);
  const int64_t N = 100000;
  for (int64_t k = 0; k < N; k++) {
    ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(0), mgr_int(k))));
    if (k % 9973 == 0) expect_bounded(l, (size_t)k + 1);
  }
  mgri_hreply *r = call(MGRI_OP_LIST_GET, l, A(mgr_int(0)));
  assert_int_equal(r->result.u.i, N - 1);
  r = call(MGRI_OP_LIST_GET, l, A(mgr_int(-1)));
  assert_int_equal(r->result.u.i, 0);
  for (int64_t k = 0; k < N; k++) {
    r = call(MGRI_OP_LIST_POP, l, NULL, 0);
    assert_int_equal(r->result.u.i, k);
    if (k % 9973 == 0) expect_bounded(l, (size_t)(N - k - 1));
  }
  expect_bounded(l, 0);
  /* Both ends: front gets -k, back +k: [-(N-1) .. -1, 0, 1 .. N-1]. */
  ok(call(MGRI_OP_LIST_APPEND, l, A(mgr_int(0))));
  for (int64_t k = 1; k < N; k++) {
    ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(0), mgr_int(-k))));
    ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(INT64_MAX), mgr_int(k))));
  }
  size_t n = (size_t)(2 * N - 1);
  int64_t *m = malloc(n * sizeof *m);
  assert_non_null(m);
  for (size_t i = 0; i < n; i++)
    m[i] = (int64_t)i - (N - 1);
  expect_model(l, m, n);
  expect_bounded(l, n);
  /* Emptied from the front by del l[0] and del l[:7]. */
  size_t off = 0;
  while (off < n) {
    if (off % 2) {
      ok(call(MGRI_OP_LIST_DEL, l, A(mgr_int(0))));
      off++;
    } else {
      ok(call(MGRI_OP_LIST_DELSLICE, l, A(mgr_nil(), mgr_int(7), mgr_nil())));
      off = off + 7 < n ? off + 7 : n;
    }
    if (off % 10007 < 8) {
      expect_bounded(l, n - off);
      r = call(MGRI_OP_LIST_GET, l, A(mgr_int(0)));
      if (off < n) assert_int_equal(r->result.u.i, m[off]);
    }
  }
  expect_bounded(l, 0);
  free(m);
}

/* Random ops biased to the ends on lists that grow to thousands of items
 * and back to none, against a model (Python's semantics); every op of the
 * list that moves items (insert and pop anywhere, slices, sort, reverse,
 * imul, remove) runs on layouts with room at either end. MGR_TEST_SEED
 * replays a seed. */
static void test_ends_random(void **st) {
  (void)st;
  g_rng = 0x5eed1234abcdull;
  const char *env = getenv("MGR_TEST_SEED");
  if (env) g_rng = strtoull(env, NULL, 0) | 1;
  print_message("test_ends_random seed 0x%llx\n", (unsigned long long)g_rng);
  uint64_t l;
  new_empty(&l);
  enum { MAXN = 6000 };
  int64_t *m = malloc(4 * MAXN * sizeof *m), *t = malloc(4 * MAXN * sizeof *t);
  assert_non_null(m);
  assert_non_null(t);
  size_t n = 0, maxn = 0, empties = 0;
  bool grow = true;
  for (int step = 0; step < 60000; step++) {
    if (n >= MAXN) grow = false;
    if (n == 0)
      grow = true;
    else if (rndi(0, 3000) == 0)
      grow = !grow;
    int64_t v = rndi(-1000, 1000);
    int c = (int)rndi(0, 99);
    bool add = c < 44 ? grow : c < 88 ? !grow : false;
    const char *op = "?";
    if (c < 88 && add) {
      int which = (int)rndi(0, 9);
      if (which < 4) { /* insert(0) */
        op = "insert(0)";
        ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(0), mgr_int(v))));
        memmove(m + 1, m, n * sizeof *m);
        m[0] = v;
        n++;
      } else if (which < 8) {
        op = "append";
        ok(call(MGRI_OP_LIST_APPEND, l, A(mgr_int(v))));
        m[n++] = v;
      } else { /* insert anywhere, clamped, near an end often */
        op = "insert(i)";
        int64_t i =
            rndi(0, 1) ? rndi(-(int64_t)n - 3, (int64_t)n + 3) : rndi(-3, 3);
        ok(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(i), mgr_int(v))));
        int64_t at = i < 0 ? i + (int64_t)n : i;
        if (at < 0) at = 0;
        if (at > (int64_t)n) at = (int64_t)n;
        memmove(m + at + 1, m + at, (n - (size_t)at) * sizeof *m);
        m[at] = v;
        n++;
      }
    } else if (c < 88) {
      if (!n) continue;
      int which = (int)rndi(0, 9);
      int64_t i = which < 4   ? 0
                  : which < 8 ? -1
                              : rndi(-(int64_t)n, (int64_t)n - 1);
      size_t at = (size_t)(i < 0 ? i + (int64_t)n : i);
      mgri_hreply *r;
      if (rndi(0, 3)) {
        op = "pop";
        if (which >= 4 && which < 8 && rndi(0, 1))
          r = call(MGRI_OP_LIST_POP, l, NULL, 0);
        else
          r = call(MGRI_OP_LIST_POP, l, A(mgr_int(i)));
        ok(r);
        if (r->result.u.i != m[at])
          fail_msg("step %d: pop(%lld) %lld, want %lld", step, (long long)i,
                   (long long)r->result.u.i, (long long)m[at]);
      } else {
        op = "del";
        ok(call(MGRI_OP_LIST_DEL, l, A(mgr_int(i))));
      }
      memmove(m + at, m + at + 1, (n - at - 1) * sizeof *m);
      n--;
    } else if (c <
               93) { /* a step-1 slice replaced or deleted, often at an end */
      int64_t a = rndi(0, 1) ? rndi(0, 5) : rndi(0, (int64_t)n);
      int64_t b = a + rndi(0, 8);
      if (rndi(0, 1)) { /* from the back */
        int64_t a2 = (int64_t)n - b, b2 = (int64_t)n - a;
        a = a2 < 0 ? 0 : a2;
        b = b2;
      }
      if (b > (int64_t)n) b = (int64_t)n;
      if (b < 0) b = 0;
      if (a > b) a = b;
      size_t k = grow ? (size_t)rndi(0, 12) : (size_t)rndi(0, 3);
      mgr_value items[12];
      for (size_t j = 0; j < k; j++)
        items[j] = mgr_int(v + (int64_t)j);
      if (rndi(0, 2)) {
        op = "setslice";
        ok(call(MGRI_OP_LIST_SETSLICE, l,
                A(mgr_int(a), mgr_int(b), mgr_nil(), mgr_array(items, k))));
      } else {
        op = "delslice";
        k = 0;
        ok(call(MGRI_OP_LIST_DELSLICE, l,
                A(mgr_int(a), mgr_int(b), mgr_int(1))));
      }
      memcpy(t, m + b, (n - (size_t)b) * sizeof *m);
      for (size_t j = 0; j < k; j++)
        m[(size_t)a + j] = v + (int64_t)j;
      memcpy(m + (size_t)a + k, t, (n - (size_t)b) * sizeof *m);
      n = (size_t)a + k + (n - (size_t)b);
    } else if (c < 95) { /* an extended slice: every 3rd from somewhere */
      op = "delslice step";
      int64_t a = rndi(0, 5), s = rndi(0, 1) ? 3 : -2;
      if (s < 0) a = (int64_t)n - 1 - a < 0 ? 0 : (int64_t)n - 1 - a;
      ok(call(MGRI_OP_LIST_DELSLICE, l, A(mgr_int(a), mgr_nil(), mgr_int(s))));
      size_t w = 0;
      for (size_t j = 0; j < n; j++) {
        int64_t d = (int64_t)j - a;
        bool gone = a >= 0 && d % s == 0 && (s > 0 ? d >= 0 : d <= 0);
        if (!gone) m[w++] = m[j];
      }
      n = w;
    } else if (c < 96) {
      op = "reverse";
      ok(call(MGRI_OP_LIST_REVERSE, l, NULL, 0));
      for (size_t j = 0; j < n / 2; j++) {
        int64_t x = m[j];
        m[j] = m[n - 1 - j];
        m[n - 1 - j] = x;
      }
    } else if (c < 97) {
      op = "sort";
      ok(call(MGRI_OP_LIST_SORT, l, NULL, 0));
      for (size_t j = 1; j < n; j++) /* insertion sort: small n often */
        for (size_t q = j; q > 0 && m[q - 1] > m[q]; q--) {
          int64_t x = m[q];
          m[q] = m[q - 1];
          m[q - 1] = x;
        }
    } else if (c < 98) {
      op = "imul/extend";
      if (n && n < MAXN / 2 && grow) {
        ok(call(MGRI_OP_LIST_IMUL, l, A(mgr_int(2))));
        memcpy(m + n, m, n * sizeof *m);
        n *= 2;
      } else {
        ok(call(MGRI_OP_LIST_EXTEND, l,
                A(mgr_array(A(mgr_int(v), mgr_int(-v))))));
        m[n++] = v;
        m[n++] = -v;
      }
    } else if (c < 99) {
      op = "remove";
      size_t j = 0;
      while (j < n && m[j] != v)
        j++;
      if (j < n) {
        ok(call(MGRI_OP_LIST_REMOVE, l, A(mgr_int(v))));
        memmove(m + j, m + j + 1, (n - j - 1) * sizeof *m);
        n--;
      } else {
        err(call(MGRI_OP_LIST_REMOVE, l, A(mgr_int(v))), MGR_EVALUE, NULL);
      }
    } else {
      op = rndi(0, 20) ? "get/set/incr" : "clear";
      if (op[0] == 'c') {
        ok(call(MGRI_OP_LIST_CLEAR, l, NULL, 0));
        n = 0;
      } else if (n) {
        int64_t i = rndi(-(int64_t)n, (int64_t)n - 1);
        size_t at = (size_t)(i < 0 ? i + (int64_t)n : i);
        mgri_hreply *r = call(MGRI_OP_LIST_INCR, l, A(mgr_int(i), mgr_int(v)));
        m[at] += v;
        assert_int_equal(r->result.u.i, m[at]);
        ok(call(MGRI_OP_LIST_SET, l, A(mgr_int(-1), mgr_int(v))));
        m[n - 1] = v;
      }
    }
    assert_true(n <= 4 * MAXN);
    if (n > maxn) maxn = n;
    empties += n == 0;
    if (n < 64 || step % 97 == 0) {
      mgri_hreply *r = call(MGRI_OP_LIST_COPY, l, NULL, 0);
      ok(r);
      bool same = r->result.u.a.len == n;
      for (size_t j = 0; same && j < n; j++)
        same = r->result.u.a.items[j].u.i == m[j];
      if (!same) { /* around the first difference: got, want */
        size_t j0 = 0, got = r->result.u.a.len;
        while (j0 < got && j0 < n && r->result.u.a.items[j0].u.i == m[j0])
          j0++;
        for (size_t j = j0 > 3 ? j0 - 3 : 0; j < j0 + 8 && (j < got || j < n);
             j++)
          print_message("  [%zu] %s%lld %lld\n", j, j == j0 ? "-> " : "",
                        j < got ? (long long)r->result.u.a.items[j].u.i
                                : -99999LL,
                        j < n ? (long long)m[j] : -99999LL);
      }
      if (!same)
        fail_msg(
            "step %d (%s): the list (%zu items) differs from the model (%zu)",
            step, op, r->result.u.a.len, n);
    } else {
      size_t j = (size_t)rndi(0, (int64_t)n - 1);
      mgri_hreply *r = call(MGRI_OP_LIST_GET, l, A(mgr_int((int64_t)j)));
      if (r->result.u.i != m[j])
        fail_msg("step %d (%s): l[%zu] differs", step, op, j);
    }
    if (step % 499 == 0) expect_bounded(l, n);
  }
  expect_model(l, m, n);
  print_message("test_ends_random: up to %zu items, empty %zu times\n", maxn,
                empties);
  free(m);
  free(t);
}

/* Under a small memory limit an op whose new value (or sort's scratch)
 * does not fit is LIMIT and changes nothing (spec 14.2.2); a value naming
 * no object is NOTFOUND, the same. */
static void test_memory_limit(void **st) {
  (void)st;
  mgri_h_fini(&H);
  mgri_store_config cfg;
  mgri_store_config_init(&cfg);
  cfg.memory_max = 64 << 10;
  assert_int_equal(mgri_h_init_cfg(&H, &cfg), MGR_OK);
  C = mgri_h_conn(&H, 0);
  assert_non_null(C);
  static const int64_t v[] = {3, 1, 2};
  uint64_t l = new_list(v, 3);
  static char big[100 << 10];
  memset(big, 'x', sizeof big - 1);
  err(call(MGRI_OP_LIST_SET, l, A(mgr_int(0), mgr_text(big))), MGR_ELIMIT,
      NULL);
  err(call(MGRI_OP_LIST_CAS, l, A(mgr_int(0), mgr_int(3), mgr_text(big))),
      MGR_ELIMIT, NULL);
  mgr_value none = mgri_h_ref(MGR_K_DICT, 999);
  err(call(MGRI_OP_LIST_SET, l, A(mgr_int(0), none)), MGR_ENOTFOUND, "#999");
  err(call(MGRI_OP_LIST_INSERT, l, A(mgr_int(0), none)), MGR_ENOTFOUND, "#999");
  expect_items(l, v, 3);
  /* 1500 ints (24 KB) fit; sorting them needs 48 KB more. */
  enum { N = 1500 };
  static mgr_value many[N];
  for (int i = 0; i < N; i++)
    many[i] = mgr_int(N - i);
  mgr_value init = mgr_array(many, N);
  uint64_t big_l = mgri_h_create(&H, C, MGR_K_LIST, &init);
  assert_true(big_l != 0);
  err(call(MGRI_OP_LIST_SORT, big_l, NULL, 0), MGR_ELIMIT, NULL);
  mgri_hreply *r = call(MGRI_OP_LIST_GET, big_l, A(mgr_int(0)));
  ok(r);
  assert_int_equal(r->result.u.i, N);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_index, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_slices, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_setslice, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_insert_pop_remove_index, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_sort, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_memory_limit, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_extend_imul_copy, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_incr_cas, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_ends_queue, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_ends_growth, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_ends_random, su_setup, su_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
