/* mgr tests — increments: atomic incr from many processes is exact; a lock
 * around get+set is exact; get-then-set loses updates (shown
 * deterministically); overflow, type errors and floats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client_util.h"

#define NPROC 8
#define NITER 300

static mgr_client *M;

static int group_setup(void **state) {
  (void)state;
  M = cu_start();
  return M ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  return cu_stop(M) == MGR_OK ? 0 : -1;
}

/* Forks n children running fn(i, ctx), all released at once, and asserts each
 * exits 0. */
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

struct counters {
  mgr_proxy *d, *l, *v, *lk;
};

static int atomic_worker(int i, void *ctx) {
  (void)i;
  struct counters *c = ctx;
  mgr_value key = T("n");
  for (int k = 0; k < NITER; k++) {
    CU_CHECK(1, mgr_dict_incr_int(c->d, &key, 1, false, NULL) == MGR_OK);
    CU_CHECK(2, mgr_list_incr_int(c->l, 1, 1, NULL) == MGR_OK);
    CU_CHECK(3, mgr_var_incr_int(c->v, 1, NULL) == MGR_OK);
  }
  return 0;
}

static void test_atomic_many(void **state) {
  (void)state;
  struct counters c;
  mgr_value pairs[2] = {T("n"), I(0)};
  mgr_value init = mgr_map(pairs, 1);
  assert_ok(M, mgr_dict_new(M, &init, &c.d));
  mgr_value items[2] = {I(-1), I(0)};
  mgr_value linit = mgr_array(items, 2);
  assert_ok(M, mgr_list_new(M, &linit, &c.l));
  mgr_value zero = I(0);
  assert_ok(M, mgr_var_new(M, &zero, &c.v));
  run_workers(NPROC, atomic_worker, &c);
  mgr_value key = T("n"), v;
  assert_ok(M, mgr_dict_get(c.d, &key, &v));
  assert_int_equal(v.u.i, NPROC * NITER);
  assert_ok(M, mgr_list_get(c.l, 1, &v));
  assert_int_equal(v.u.i, NPROC * NITER);
  assert_ok(M, mgr_list_get(c.l, 0, &v));
  assert_int_equal(v.u.i, -1);
  assert_ok(M, mgr_var_get(c.v, &v));
  assert_int_equal(v.u.i, NPROC * NITER);
  assert_ok(M, mgr_release(c.d));
  assert_ok(M, mgr_release(c.l));
  assert_ok(M, mgr_release(c.v));
}

static int locked_worker(int i, void *ctx) {
  (void)i;
  struct counters *c = ctx;
  mgr_value key = T("n");
  for (int k = 0; k < NITER; k++) {
    bool acq = false;
    CU_CHECK(1, mgr_lock_acquire(c->lk, -1, &acq) == MGR_OK && acq);
    mgr_value v;
    CU_CHECK(2, mgr_dict_get(c->d, &key, &v) == MGR_OK && v.type == MGR_T_INT);
    mgr_value nv = I(v.u.i + 1);
    CU_CHECK(3, mgr_dict_set(c->d, &key, &nv) == MGR_OK);
    CU_CHECK(4, mgr_lock_release(c->lk) == MGR_OK);
  }
  return 0;
}

static void test_locked_many(void **state) {
  (void)state;
  struct counters c;
  mgr_value pairs[2] = {T("n"), I(0)};
  mgr_value init = mgr_map(pairs, 1);
  assert_ok(M, mgr_dict_new(M, &init, &c.d));
  assert_ok(M, mgr_lock_new(M, &c.lk));
  run_workers(NPROC, locked_worker, &c);
  mgr_value key = T("n"), v;
  assert_ok(M, mgr_dict_get(c.d, &key, &v));
  assert_int_equal(v.u.i, NPROC * NITER);
  assert_ok(M, mgr_release(c.d));
  assert_ok(M, mgr_release(c.lk));
}

/* Python's d[k] += 1 is GET then SET: two clients interleaved as
 * GET(A) GET(B) SET(A) SET(B) leave +1, not +2. */
static void test_lost_update_interleaving(void **state) {
  (void)state;
  mgr_proxy *d = NULL;
  mgr_value pairs[2] = {T("k"), I(10)};
  mgr_value init = mgr_map(pairs, 1);
  assert_ok(M, mgr_dict_new(M, &init, &d));
  mgr_client *a = NULL, *b = NULL;
  assert_ok(NULL, mgr_connect(mgr_address(M), NULL, &a));
  assert_ok(NULL, mgr_connect(mgr_address(M), NULL, &b));
  mgr_value ref = mgr_proxy_value(d);
  mgr_proxy *da = NULL, *db = NULL;
  assert_ok(a, mgr_proxy_from_value(a, &ref, &da));
  assert_ok(b, mgr_proxy_from_value(b, &ref, &db));
  mgr_value k = T("k"), va, vb;
  assert_ok(a, mgr_dict_get(da, &k, &va));
  assert_ok(b, mgr_dict_get(db, &k, &vb));
  mgr_value na = I(va.u.i + 1), nb = I(vb.u.i + 1);
  assert_ok(a, mgr_dict_set(da, &k, &na));
  assert_ok(b, mgr_dict_set(db, &k, &nb));
  mgr_value v;
  assert_ok(M, mgr_dict_get(d, &k, &v));
  assert_int_equal(v.u.i, 11); /* one update lost */
  /* The same interleaving with incr: both land. */
  assert_ok(a, mgr_dict_incr_int(da, &k, 1, false, NULL));
  assert_ok(b, mgr_dict_incr_int(db, &k, 1, false, NULL));
  assert_ok(M, mgr_dict_get(d, &k, &v));
  assert_int_equal(v.u.i, 13);
  assert_ok(a, mgr_release(da));
  assert_ok(b, mgr_release(db));
  mgr_close(a);
  mgr_close(b);
  assert_ok(M, mgr_release(d));
}

static void test_overflow(void **state) {
  (void)state;
  mgr_value big = I(INT64_MAX), small = I(INT64_MIN), v;
  mgr_proxy *x = NULL;
  assert_ok(M, mgr_var_new(M, &big, &x));
  int64_t n = 0;
  assert_rc(M, mgr_var_incr_int(x, 1, &n), MGR_EOVERFLOW);
  assert_true(strlen(mgr_errmsg(M)) > 0);
  assert_ok(M, mgr_var_get(x, &v));
  assert_int_equal(v.u.i, INT64_MAX);
  assert_ok(M, mgr_var_incr_int(x, -1, &n));
  assert_int_equal(n, INT64_MAX - 1);
  assert_ok(M, mgr_var_set(x, &small));
  assert_rc(M, mgr_var_incr_int(x, -1, &n), MGR_EOVERFLOW);
  assert_ok(M, mgr_var_get(x, &v));
  assert_int_equal(v.u.i, INT64_MIN);

  mgr_value pairs[2] = {T("k"), I(INT64_MAX)};
  mgr_value init = mgr_map(pairs, 1);
  mgr_proxy *d = NULL;
  assert_ok(M, mgr_dict_new(M, &init, &d));
  mgr_value k = T("k");
  assert_rc(M, mgr_dict_incr_int(d, &k, 1, false, &n), MGR_EOVERFLOW);
  assert_ok(M, mgr_dict_get(d, &k, &v));
  assert_int_equal(v.u.i, INT64_MAX);

  mgr_value items[1] = {I(INT64_MIN)};
  mgr_value linit = mgr_array(items, 1);
  mgr_proxy *l = NULL;
  assert_ok(M, mgr_list_new(M, &linit, &l));
  assert_rc(M, mgr_list_incr_int(l, 0, INT64_MIN, &n), MGR_EOVERFLOW);
  assert_ok(M, mgr_list_get(l, 0, &v));
  assert_int_equal(v.u.i, INT64_MIN);
  assert_ok(M, mgr_release(x));
  assert_ok(M, mgr_release(d));
  assert_ok(M, mgr_release(l));
}

/* Checks spec R-11.1-a, R-11.1-b (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_incr_types(void **state) {
  (void)state;
  mgr_value pairs[6] = {T("s"),         T("text"), T("b"),
                        mgr_bool(true), T("f"),    mgr_float(1.5)};
  mgr_value init = mgr_map(pairs, 3);
  mgr_proxy *d = NULL;
  assert_ok(M, mgr_dict_new(M, &init, &d));
  mgr_value s = T("s"), b = T("b"), f = T("f"), miss = T("missing"), v;
  int64_t n;
  assert_rc(M, mgr_dict_incr_int(d, &s, 1, false, &n), MGR_ETYPE);
  assert_ok(M, mgr_dict_get(d, &s, &v));
  assert_repr(v, "'text'");
  /* bool is not a number for incr (a deliberate difference from Python) */
  assert_rc(M, mgr_dict_incr_int(d, &b, 1, false, &n), MGR_ETYPE);
  mgr_value tdelta = T("x");
  mgr_value one = I(1);
  assert_ok(M, mgr_dict_set(d, &miss, &one));
  assert_rc(M, mgr_dict_incr(d, &miss, &tdelta, NULL, &v), MGR_ETYPE);
  assert_ok(M, mgr_dict_del(d, &miss));
  /* floats */
  mgr_value half = mgr_float(0.5);
  assert_ok(M, mgr_dict_incr(d, &f, &one, NULL, &v));
  assert_repr(v, "2.5");
  assert_ok(M, mgr_dict_incr(d, &f, &half, NULL, &v));
  assert_repr(v, "3.0");
  assert_ok(M, mgr_dict_get(d, &f, &v));
  assert_int_equal(v.type, MGR_T_FLOAT);
  mgr_value_free(&v);
  mgr_value i2 = I(2);
  assert_ok(M, mgr_dict_set(d, &miss, &i2));
  assert_ok(M, mgr_dict_incr(d, &miss, &half, NULL, &v));
  assert_repr(v, "2.5");
  assert_ok(M, mgr_dict_del(d, &miss));
  /* missing key: KeyError unless a default is given */
  assert_rc(M, mgr_dict_incr_int(d, &miss, 1, false, &n), MGR_EKEY);
  assert_ok(M, mgr_dict_incr_int(d, &miss, 3, true, &n));
  assert_int_equal(n, 3);
  mgr_value ten = I(10);
  mgr_value miss2 = T("missing2");
  assert_ok(M, mgr_dict_incr(d, &miss2, &one, &ten, &v));
  assert_repr(v, "11");
  /* list index out of range */
  mgr_proxy *l = NULL;
  assert_ok(M, mgr_list_new(M, NULL, &l));
  assert_rc(M, mgr_list_incr_int(l, 0, 1, &n), MGR_EINDEX);
  mgr_value arr[1] = {mgr_float(0.25)};
  mgr_value ext = mgr_array(arr, 1);
  assert_ok(M, mgr_list_extend(l, &ext));
  assert_ok(M, mgr_list_incr(l, -1, &half, &v));
  assert_repr(v, "0.75");
  assert_ok(M, mgr_release(l));
  assert_ok(M, mgr_release(d));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_atomic_many),
      cmocka_unit_test(test_locked_many),
      cmocka_unit_test(test_lost_update_interleaving),
      cmocka_unit_test(test_overflow),
      cmocka_unit_test(test_incr_types),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
