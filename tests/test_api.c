/* mgr tests — the public API's edges (issue 10): the *_incr_int calls never
 * return a wrong int, every entry that takes an mgr_value refuses the same
 * invalid values with MGR_EINVAL (one validation, mgri_value_valid) and
 * changes nothing, and slice and index bounds express every int64. Against a
 * real manager (mgr_start). */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client_util.h"

static mgr_client *M;

static int setup(void **state) {
  (void)state;
  M = cu_start();
  return M ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return cu_stop(M) == MGR_OK ? 0 : -1;
}

/* --- *_incr_int ------------------------------------------------------------ */

static void test_incr_int_floats(void **state) {
  (void)state;
  mgr_value k = T("n"), kb = T("b"), kh = T("h");
  mgr_value pairs[] = {k,  mgr_float(2.5),  kb, mgr_bool(true),
                       kh, mgr_float(1e300)};
  mgr_value init = mgr_map(pairs, 3);
  mgr_proxy *d;
  assert_ok(M, mgr_dict_new(M, &init, &d));
  int64_t out = 77;
  /* 2.5 + 1 is 3.5: no int says it. ETYPE, out untouched, the entry 3.5. */
  assert_rc(M, mgr_dict_incr_int(d, &k, 1, false, &out), MGR_ETYPE);
  assert_int_equal(out, 77);
  assert_non_null(strstr(mgr_errmsg(M), "float"));
  mgr_value v;
  assert_ok(M, mgr_dict_get(d, &k, &v));
  assert_int_equal(v.type, MGR_T_FLOAT);
  assert_true(v.u.f == 3.5);
  /* 1e300 + 1: once INT64_MIN by an undefined cast; now ETYPE. */
  assert_rc(M, mgr_dict_incr_int(d, &kh, 1, false, &out), MGR_ETYPE);
  assert_int_equal(out, 77);
  /* A bool is not a number here: the server refuses, nothing changes. */
  assert_rc(M, mgr_dict_incr_int(d, &kb, 1, false, &out), MGR_ETYPE);
  assert_ok(M, mgr_dict_get(d, &kb, &v));
  assert_int_equal(v.type, MGR_T_BOOL);
  /* Ints stay exact, overflow is refused and leaves the entry. */
  mgr_value big = mgr_int(INT64_MAX - 1);
  assert_ok(M, mgr_dict_set(d, &k, &big));
  assert_ok(M, mgr_dict_incr_int(d, &k, 1, false, &out));
  assert_int_equal(out, INT64_MAX);
  assert_rc(M, mgr_dict_incr_int(d, &k, 1, false, &out), MGR_EOVERFLOW);
  assert_int_equal(out, INT64_MAX);
  assert_ok(M, mgr_release(d));

  mgr_value items[] = {mgr_float(-0.5), I(1)};
  mgr_value arr = mgr_array(items, 2);
  mgr_proxy *l;
  assert_ok(M, mgr_list_new(M, &arr, &l));
  assert_rc(M, mgr_list_incr_int(l, 0, 1, &out), MGR_ETYPE);
  assert_ok(M, mgr_list_incr_int(l, 1, 1, &out));
  assert_int_equal(out, 2);
  assert_ok(M, mgr_release(l));

  mgr_value f = mgr_float(0.25);
  mgr_proxy *var;
  assert_ok(M, mgr_var_new(M, &f, &var));
  assert_rc(M, mgr_var_incr_int(var, 2, &out), MGR_ETYPE);
  assert_ok(M, mgr_var_get(var, &v));
  assert_true(v.u.f == 2.25);
  assert_ok(M, mgr_release(var));
}

/* --- one validation, every entry ----------------------------------------- */

/* A value nested `levels` deep (1: a scalar), in static storage. */
static mgr_value nested(unsigned levels) {
  static mgr_value cells[64];
  mgr_value v = mgr_int(0);
  for (unsigned i = 1; i < levels && i < 64; i++) {
    cells[i] = v;
    v = mgr_array(&cells[i], 1);
  }
  return v;
}

typedef struct bad {
  const char *what;
  mgr_value v;
} bad;

static size_t bad_values(bad *out) {
  static mgr_value nan_key[2], dup[4], unhashable[2], inner_map[2];
  static const char bad_utf8[] = {'a', (char)0xc0, (char)0x80};
  nan_key[0] = mgr_float(NAN);
  nan_key[1] = I(1);
  dup[0] = I(1);
  dup[1] = I(2);
  dup[2] = mgr_float(1.0); /* 1 and 1.0 are one key */
  dup[3] = I(3);
  inner_map[0] = T("k");
  inner_map[1] = I(1);
  unhashable[0] = mgr_map(inner_map, 1);
  unhashable[1] = I(2);
  mgr_value ref0 = mgr_nil(), refk = mgr_nil();
  ref0.type = refk.type = MGR_T_REF;
  ref0.u.ref.kind = MGR_K_DICT;
  ref0.u.ref.id = 0;
  refk.u.ref.kind = 0;
  refk.u.ref.id = 1;
  mgr_value bogus = mgr_nil();
  bogus.type = (mgr_type)99;
  size_t n = 0;
  out[n++] = (bad){"bytes(NULL, 3)", mgr_bytes(NULL, 3)};
  out[n++] = (bad){"text(NULL, 1)", mgr_textn(NULL, 1)};
  out[n++] = (bad){"invalid UTF-8", mgr_textn(bad_utf8, sizeof bad_utf8)};
  out[n++] = (bad){"array(NULL, 2)", mgr_array(NULL, 2)};
  out[n++] = (bad){"NaN map key", mgr_map(nan_key, 1)};
  out[n++] = (bad){"repeated map key", mgr_map(dup, 2)};
  out[n++] = (bad){"unhashable map key", mgr_map(unhashable, 1)};
  out[n++] = (bad){"ref id 0", ref0};
  out[n++] = (bad){"ref kind 0", refk};
  out[n++] = (bad){"unknown type", bogus};
  out[n++] = (bad){"nested 40 levels", nested(40)};
  return n;
}

static void test_invalid_values_everywhere(void **state) {
  (void)state;
  mgr_proxy *d, *l, *v;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  assert_ok(M, mgr_list_new(M, NULL, &l));
  assert_ok(M, mgr_var_new(M, NULL, &v));
  mgr_batch *b;
  assert_ok(M, mgr_batch_new(M, &b));
  bad t[16];
  size_t n = bad_values(t);
  mgr_value k = T("k"), ok1 = I(1);
  for (size_t i = 0; i < n; i++) {
    const mgr_value *x = &t[i].v;
    int rc[12];
    size_t e = 0;
    rc[e++] = mgr_dict_set(d, &k, x);
    rc[e++] = mgr_dict_set(d, x, &ok1);
    rc[e++] = mgr_dict_get_default(d, &k, x, &(mgr_value){0});
    rc[e++] = mgr_list_append(l, x);
    rc[e++] = mgr_var_set(v, x);
    mgr_value copy;
    rc[e++] = mgr_value_copy(&copy, x);
    mgr_batch_clear(b);
    rc[e++] = mgr_batch_dict_set(b, d, &k, x);
    mgr_batch_clear(b);
    rc[e++] = mgr_batch_list_append(b, l, x);
    mgr_batch_clear(b);
    rc[e++] = mgr_batch_var_set(b, v, x);
    mgr_batch_clear(b);
    rc[e++] = mgr_batch_add(b, d, "DICT_SET", (mgr_value[]){k, *x}, 2);
    for (size_t j = 0; j < e; j++)
      if (rc[j] != MGR_EINVAL)
        fail_msg("%s: entry %zu returned %s, not MGR_EINVAL", t[i].what, j,
                 mgr_err_name(rc[j]));
  }
  /* NULL pointers where a value is required. */
  assert_rc(M, mgr_dict_set(d, &k, NULL), MGR_EINVAL);
  assert_rc(M, mgr_dict_get(d, NULL, &(mgr_value){0}), MGR_EINVAL);
  assert_rc(M, mgr_list_append(l, NULL), MGR_EINVAL);
  assert_int_equal(mgr_value_copy(NULL, &ok1), MGR_EINVAL);
  assert_int_equal(mgr_value_copy(&(mgr_value){0}, NULL), MGR_EINVAL);
  mgr_batch_clear(b);
  assert_int_equal(mgr_batch_dict_set(b, d, &k, NULL), MGR_EINVAL);
  /* Nothing reached the objects, and the connection is fine. */
  size_t len = 9;
  assert_ok(M, mgr_dict_len(d, &len));
  assert_int_equal(len, 0);
  assert_ok(M, mgr_list_len(l, &len));
  assert_int_equal(len, 0);
  assert_ok(M, mgr_ping(M));
  mgr_batch_free(b);
  assert_ok(M, mgr_release(d));
  assert_ok(M, mgr_release(l));
  assert_ok(M, mgr_release(v));
}

/* Depth: each entry takes exactly what its place in a message allows (a
 * lone value 32 levels, a call's argument 30, a batch's 27). */
static void test_depth_boundaries(void **state) {
  (void)state;
  mgr_value copy;
  mgr_value v32 = nested(32), v33 = nested(33);
  assert_int_equal(mgr_value_copy(&copy, &v32), MGR_OK);
  mgr_value_free(&copy);
  assert_int_equal(mgr_value_copy(&copy, &v33), MGR_EINVAL);
  mgr_proxy *var;
  assert_ok(M, mgr_var_new(M, NULL, &var));
  mgr_value v30 = nested(30), v31 = nested(31);
  assert_ok(M, mgr_var_set(var, &v30));
  assert_rc(M, mgr_var_set(var, &v31), MGR_EINVAL);
  mgr_batch *b;
  assert_ok(M, mgr_batch_new(M, &b));
  mgr_value v27 = nested(27), v28 = nested(28);
  assert_int_equal(mgr_batch_var_set(b, var, &v27), MGR_OK);
  assert_int_equal(mgr_batch_var_set(b, var, &v28), MGR_EINVAL);
  mgr_batch_free(b);
  assert_ok(M, mgr_release(var));
}

/* --- bounds: every int64 -------------------------------------------------- */

static int64_t item(const mgr_value *arr, size_t i) {
  return arr->u.a.items[i].u.i;
}

static void test_bounds_every_int64(void **state) {
  (void)state;
  mgr_value items[] = {I(0), I(1), I(2), I(3), I(4)};
  mgr_value arr = mgr_array(items, 5);
  mgr_proxy *l;
  assert_ok(M, mgr_list_new(M, &arr, &l));
  mgr_value v;
  /* Python: l[0:-2**63] == [] (an omitted stop would give the whole list). */
  assert_ok(M,
            mgr_list_getslice(l, mgr_at(0), mgr_at(INT64_MIN), MGR_OMIT, &v));
  assert_int_equal(v.u.a.len, 0);
  mgr_value_free(&v);
  assert_ok(M, mgr_list_getslice(l, mgr_at(0), MGR_OMIT, MGR_OMIT, &v));
  assert_int_equal(v.u.a.len, 5);
  mgr_value_free(&v);
  /* l[-2**63:] == l; l[::-2**63] == [l[-1]]; l[2**63-1::-1] == reversed. */
  assert_ok(M, mgr_list_getslice(l, mgr_at(INT64_MIN), MGR_OMIT, MGR_OMIT, &v));
  assert_int_equal(v.u.a.len, 5);
  mgr_value_free(&v);
  assert_ok(M, mgr_list_getslice(l, MGR_OMIT, MGR_OMIT, mgr_at(INT64_MIN), &v));
  assert_int_equal(v.u.a.len, 1);
  assert_int_equal(item(&v, 0), 4);
  mgr_value_free(&v);
  assert_ok(M,
            mgr_list_getslice(l, mgr_at(INT64_MAX), MGR_OMIT, mgr_at(-1), &v));
  assert_int_equal(v.u.a.len, 5);
  assert_int_equal(item(&v, 0), 4);
  mgr_value_free(&v);
  /* l.index(3, -2**63) finds it; l.index(3, 0, -2**63) does not. */
  int64_t at = -1;
  mgr_value three = I(3);
  assert_ok(M, mgr_list_index(l, &three, mgr_at(INT64_MIN), MGR_OMIT, &at));
  assert_int_equal(at, 3);
  assert_rc(M, mgr_list_index(l, &three, mgr_at(0), mgr_at(INT64_MIN), &at),
            MGR_EVALUE);
  /* del l[-2**63:1] removes the first; l[0:-2**63] = [9] inserts at 0. */
  assert_ok(M, mgr_list_delslice(l, mgr_at(INT64_MIN), mgr_at(1), MGR_OMIT));
  mgr_value nine[] = {I(9)};
  mgr_value ins = mgr_array(nine, 1);
  assert_ok(M,
            mgr_list_setslice(l, mgr_at(0), mgr_at(INT64_MIN), MGR_OMIT, &ins));
  assert_ok(M, mgr_list_copy(l, &v));
  assert_int_equal(v.u.a.len, 5);
  assert_int_equal(item(&v, 0), 9);
  assert_int_equal(item(&v, 1), 1);
  mgr_value_free(&v);
  assert_ok(M, mgr_release(l));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_incr_int_floats),
      cmocka_unit_test(test_invalid_values_everywhere),
      cmocka_unit_test(test_depth_boundaries),
      cmocka_unit_test(test_bounds_every_int64),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
