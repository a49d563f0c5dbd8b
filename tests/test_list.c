/* mgr tests — the shared list's semantics against Python's (expected values
 * were produced by CPython 3.11), driven through the pure dispatch path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server_util.h"

#define NIL INT64_MIN


static mgr_value ints_v[64];
static mgr_value ints(const int64_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) ints_v[i] = mgr_int(v[i]);
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
  err(call(MGRI_OP_LIST_GET, l, A(mgr_int(10))), MGR_EINDEX, "list index out of range");
  err(call(MGRI_OP_LIST_GET, l, A(mgr_int(-11))), MGR_EINDEX, "list index out of range");
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
    ok(call(MGRI_OP_LIST_DELSLICE, l, A(opt(sc->start), opt(sc->stop), opt(sc->step))));
    expect_items(l, sc->del, sc->ndel);
  }
  uint64_t l = range10();
  err(call(MGRI_OP_LIST_GETSLICE, l, A(mgr_nil(), mgr_nil(), mgr_int(0))), MGR_EVALUE,
      "slice step cannot be zero");
  err(call(MGRI_OP_LIST_DELSLICE, l, A(mgr_nil(), mgr_nil(), mgr_int(0))), MGR_EVALUE, NULL);
  err(call(MGRI_OP_LIST_GETSLICE, l, A(mgr_text("a"), mgr_nil(), mgr_nil())), MGR_ETYPE,
      "slice indices");
  /* Extreme bounds do not overflow. */
  mgri_hreply *r = call(MGRI_OP_LIST_GETSLICE, l,
                        A(mgr_int(INT64_MAX), mgr_int(INT64_MIN), mgr_int(INT64_MIN)));
  ok(r);
  assert_int_equal(r->result.u.a.len, 1);
  assert_int_equal(r->result.u.a.items[0].u.i, 9);
}

static void test_setslice(void **st) {
  (void)st;
  uint64_t l = range10();
  ok(call(MGRI_OP_LIST_SETSLICE, l,
          A(mgr_int(2), mgr_int(5), mgr_nil(), mgr_array(A(mgr_int(100), mgr_int(101))))));
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
            mgr_array(A(mgr_int(1), mgr_int(2), mgr_int(3), mgr_int(4), mgr_int(5))))));
  static const int64_t w3[] = {1, 1, 2, 3, 3, 5, 4, 7, 5, 9};
  expect_items(l, w3, 10);

  l = range10();
  ok(call(MGRI_OP_LIST_SETSLICE, l,
          A(mgr_int(8), mgr_nil(), mgr_int(-3), mgr_array(A(mgr_int(7), mgr_int(8), mgr_int(9))))));
  static const int64_t w4[] = {0, 1, 9, 3, 4, 8, 6, 7, 7, 9};
  expect_items(l, w4, 10);

  l = range10();
  ok(call(MGRI_OP_LIST_SETSLICE, l,
          A(mgr_int(-2), mgr_nil(), mgr_nil(), mgr_array(A(mgr_int(5), mgr_int(5), mgr_int(5))))));
  static const int64_t w5[] = {0, 1, 2, 3, 4, 5, 6, 7, 5, 5, 5};
  expect_items(l, w5, 11);

  ok(call(MGRI_OP_LIST_SETSLICE, l, A(mgr_nil(), mgr_nil(), mgr_nil(), mgr_array(NULL, 0))));
  expect_items(l, NULL, 0);

  l = range10();
  err(call(MGRI_OP_LIST_SETSLICE, l,
           A(mgr_nil(), mgr_nil(), mgr_int(2), mgr_array(A(mgr_int(1))))),
      MGR_EVALUE, "attempt to assign sequence of size 1 to extended slice of size 5");
  err(call(MGRI_OP_LIST_SETSLICE, l, A(mgr_nil(), mgr_nil(), mgr_nil(), mgr_int(3))),
      MGR_ETYPE, NULL);
  /* A ref to an unknown object: NOTFOUND, list unchanged. */
  err(call(MGRI_OP_LIST_SETSLICE, l,
           A(mgr_int(0), mgr_int(2), mgr_nil(), mgr_array(A(mgr_int(1), mgri_h_ref(1, 999))))),
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
  mgr_value want = mgr_array(A(mgr_text("a"), mgr_int(1), mgr_int(2), mgr_text("c"), mgr_text("b")));
  assert_true(mgr_value_equal(&r->result, &want));

  r = call(MGRI_OP_LIST_POP, l, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_TEXT);
  assert_string_equal(r->result.u.s.ptr, "b");
  r = call(MGRI_OP_LIST_POP, l, A(mgr_int(0)));
  assert_string_equal(r->result.u.s.ptr, "a");
  err(call(MGRI_OP_LIST_POP, l, A(mgr_int(5))), MGR_EINDEX, "pop index out of range");
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
  err(call(MGRI_OP_LIST_INDEX, l, A(mgr_int(1), mgr_int(5))), MGR_EVALUE, "1 is not in list");
  /* list.index(1, None) is a TypeError in Python (bounds are not slices). */
  err(call(MGRI_OP_LIST_INDEX, l, A(mgr_int(1), mgr_nil())), MGR_ETYPE, "integers");
  err(call(MGRI_OP_LIST_INDEX, l, A(mgr_int(1), mgr_int(0), mgr_nil())), MGR_ETYPE, NULL);
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

static void test_sort(void **st) {
  (void)st;
  /* Stable: equal numbers keep their order, both directions
   * (Python: sorted([2, 1.0, True, 1, 0]) == [0, 1.0, True, 1, 2]). */
  mgr_value init = mgr_array(A(mgr_int(2), mgr_float(1.0), mgr_bool(true), mgr_int(1), mgr_int(0)));
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
  for (int i = 0; i < 60; i++) big[i] = (i * 37) % 60;
  l = new_list(big, 60);
  ok(call(MGRI_OP_LIST_SORT, l, NULL, 0));
  int64_t want[60];
  for (int i = 0; i < 60; i++) want[i] = i;
  expect_items(l, want, 60);

  /* TypeError leaves the list unchanged. */
  static const int64_t v[] = {3, 1, 2};
  l = new_list(v, 3);
  ok(call(MGRI_OP_LIST_APPEND, l, A(mgr_text("x"))));
  err(call(MGRI_OP_LIST_SORT, l, NULL, 0), MGR_ETYPE, "not supported between instances");
  r = call(MGRI_OP_LIST_COPY, l, NULL, 0);
  mgr_value w = mgr_array(A(mgr_int(3), mgr_int(1), mgr_int(2), mgr_text("x")));
  assert_true(mgr_value_equal(&r->result, &w));
  err(call(MGRI_OP_LIST_SORT, l, A(mgr_int(1))), MGR_ETYPE, "reverse");
  /* NaN cannot be ordered. */
  mgr_value nan = mgr_array(A(mgr_float(1.0), mgr_float(__builtin_nan(""))));
  l = mgri_h_create(&H, C, MGR_K_LIST, &nan);
  err(call(MGRI_OP_LIST_SORT, l, NULL, 0), MGR_ETYPE, NULL);
}

static void test_extend_imul_copy(void **st) {
  (void)st;
  /* Empty lists hold no array: every op on them stays defined (UBSan). */
  uint64_t e = new_list(NULL, 0);
  ok(call(MGRI_OP_LIST_EXTEND, e, A(mgr_array(NULL, 0))));
  ok(call(MGRI_OP_LIST_SETSLICE, e, A(mgr_int(0), mgr_int(0), mgr_nil(), mgr_array(NULL, 0))));
  ok(call(MGRI_OP_LIST_SETSLICE, e, A(mgr_nil(), mgr_nil(), mgr_int(INT64_MIN), mgr_array(NULL, 0))));
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
  err(call(MGRI_OP_LIST_APPEND, l, A(mgri_h_ref(MGR_K_DICT, 777))), MGR_ENOTFOUND, NULL);
  r = call(MGRI_OP_LIST_LEN, l, NULL, 0);
  assert_int_equal(r->result.u.i, 3);
}

static void test_incr_cas(void **st) {
  (void)st;
  mgr_value init = mgr_array(A(mgr_int(1), mgr_float(0.5), mgr_text("s"), mgr_bool(true),
                               mgr_int(INT64_MAX)));
  uint64_t l = mgri_h_create(&H, C, MGR_K_LIST, &init);
  mgri_hreply *r = call(MGRI_OP_LIST_INCR, l, A(mgr_int(0), mgr_int(41)));
  ok(r);
  assert_int_equal(r->result.u.i, 42);
  r = call(MGRI_OP_LIST_INCR, l, A(mgr_int(-4), mgr_int(0)));
  assert_int_equal(r->result.type, MGR_T_FLOAT);
  r = call(MGRI_OP_LIST_INCR, l, A(mgr_int(1), mgr_int(2)));
  assert_int_equal(r->result.type, MGR_T_FLOAT);
  assert_true(r->result.u.f == 2.5);
  err(call(MGRI_OP_LIST_INCR, l, A(mgr_int(2), mgr_int(1))), MGR_ETYPE, "'str' and 'int'");
  err(call(MGRI_OP_LIST_INCR, l, A(mgr_int(3), mgr_int(1))), MGR_ETYPE, "bool");
  err(call(MGRI_OP_LIST_INCR, l, A(mgr_int(4), mgr_int(1))), MGR_EOVERFLOW, NULL);
  r = call(MGRI_OP_LIST_GET, l, A(mgr_int(4)));
  assert_int_equal(r->result.u.i, INT64_MAX);
  err(call(MGRI_OP_LIST_INCR, l, A(mgr_int(5), mgr_int(1))), MGR_EINDEX, NULL);

  r = call(MGRI_OP_LIST_CAS, l, A(mgr_int(0), mgr_int(41), mgr_int(0)));
  ok(r);
  assert_false(r->result.u.a.items[0].u.b);
  assert_int_equal(r->result.u.a.items[1].u.i, 42);
  r = call(MGRI_OP_LIST_CAS, l, A(mgr_int(0), mgr_float(42.0), mgr_text("done")));
  assert_true(r->result.u.a.items[0].u.b);
  assert_string_equal(r->result.u.a.items[1].u.s.ptr, "done");
  err(call(MGRI_OP_LIST_CAS, l, A(mgr_int(9), mgr_int(0), mgr_int(0))), MGR_EINDEX, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_index, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_slices, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_setslice, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_insert_pop_remove_index, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_sort, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_extend_imul_copy, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_incr_cas, su_setup, su_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
