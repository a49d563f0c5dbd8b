/* mgr tests — the client against a started manager: every proxy function,
 * checked against what Python's manager proxies do (results, defaults,
 * errors), nested refs, named objects, error messages, reference lifetime. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "client_util.h"

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

static mgr_proxy *new_dict(const char *k1, int64_t v1, const char *k2,
                           int64_t v2) {
  mgr_value pairs[4] = {T(k1), I(v1), T(k2), I(v2)};
  mgr_value init = mgr_map(pairs, 2);
  mgr_proxy *d = NULL;
  assert_ok(M, mgr_dict_new(M, &init, &d));
  return d;
}

static mgr_proxy *new_list(const int64_t *xs, size_t n) {
  mgr_value items[16];
  for (size_t i = 0; i < n; i++)
    items[i] = I(xs[i]);
  mgr_value init = mgr_array(items, n);
  mgr_proxy *l = NULL;
  assert_ok(M, mgr_list_new(M, &init, &l));
  return l;
}

static void test_manager(void **state) {
  (void)state;
  assert_ok(M, mgr_ping(M));
  assert_true(mgr_server_pid(M) > 0);
  assert_non_null(mgr_address(M));
  assert_true(strlen(mgr_address(M)) > 0);
  mgr_client *bad = NULL;
  assert_rc(NULL, mgr_connect("/nonexistent/mgr.sock", NULL, &bad),
            MGR_ECONNECT);
  assert_null(bad);
  assert_true(strlen(mgr_errmsg(NULL)) > 0);
}

static void test_dict_basic(void **state) {
  (void)state;
  mgr_proxy *d = new_dict("a", 1, "b", 2);
  assert_int_equal(mgr_proxy_kind(d), MGR_K_DICT);
  assert_true(mgr_proxy_id(d) >= 1);
  mgr_value v, k = T("a"), x = T("x");
  assert_ok(M, mgr_dict_get(d, &k, &v));
  assert_repr(v, "1");
  assert_string_equal(mgr_errmsg(M), "");
  /* d['x'] -> KeyError, with a message */
  assert_rc(M, mgr_dict_get(d, &x, &v), MGR_EKEY);
  assert_true(strlen(mgr_errmsg(M)) > 0);
  assert_int_equal(v.type, MGR_T_NIL);
  /* d.get('x') -> None; d.get('x', 7) -> 7 */
  assert_ok(M, mgr_dict_get_default(d, &x, NULL, &v));
  assert_repr(v, "None");
  mgr_value seven = I(7);
  assert_ok(M, mgr_dict_get_default(d, &x, &seven, &v));
  assert_repr(v, "7");
  /* d['x'] = 'hello' */
  mgr_value hello = T("hello");
  assert_ok(M, mgr_dict_set(d, &x, &hello));
  assert_ok(M, mgr_dict_get(d, &x, &v));
  assert_repr(v, "'hello'");
  bool in = false;
  assert_ok(M, mgr_dict_contains(d, &x, &in));
  assert_true(in);
  size_t n = 0;
  assert_ok(M, mgr_dict_len(d, &n));
  assert_int_equal(n, 3);
  assert_ok(M, mgr_dict_keys(d, &v));
  assert_repr(v, "['a', 'b', 'x']");
  assert_ok(M, mgr_dict_values(d, &v));
  assert_repr(v, "[1, 2, 'hello']");
  assert_ok(M, mgr_dict_items(d, &v));
  assert_repr(v, "[['a', 1], ['b', 2], ['x', 'hello']]");
  assert_ok(M, mgr_dict_copy(d, &v));
  assert_repr(v, "{'a': 1, 'b': 2, 'x': 'hello'}");
  /* del d['x']; del d['x'] -> KeyError */
  assert_ok(M, mgr_dict_del(d, &x));
  assert_rc(M, mgr_dict_del(d, &x), MGR_EKEY);
  assert_ok(M, mgr_dict_contains(d, &x, &in));
  assert_false(in);
  assert_ok(M, mgr_release(d));
}

static void test_dict_more(void **state) {
  (void)state;
  mgr_proxy *d = new_dict("a", 1, "b", 2);
  mgr_value v, k, val, a = T("a"), z = T("z");
  /* pop */
  assert_ok(M, mgr_dict_pop(d, &a, NULL, &v));
  assert_repr(v, "1");
  assert_rc(M, mgr_dict_pop(d, &a, NULL, &v), MGR_EKEY);
  mgr_value dflt = T("dflt");
  assert_ok(M, mgr_dict_pop(d, &a, &dflt, &v));
  assert_repr(v, "'dflt'");
  /* setdefault */
  assert_ok(M, mgr_dict_setdefault(d, &z, NULL, &v));
  assert_repr(v, "None");
  mgr_value five = I(5);
  assert_ok(M, mgr_dict_setdefault(d, &z, &five, &v));
  assert_repr(v, "None");
  assert_ok(M, mgr_dict_setdefault(d, &a, &five, &v));
  assert_repr(v, "5");
  /* update from a map and from pairs */
  mgr_value pairs[4] = {T("b"), I(20), T("c"), I(30)};
  mgr_value upd = mgr_map(pairs, 2);
  assert_ok(M, mgr_dict_update(d, &upd));
  mgr_value p1[2] = {T("d"), I(40)};
  mgr_value pl[1] = {mgr_array(p1, 2)};
  mgr_value upd2 = mgr_array(pl, 1);
  assert_ok(M, mgr_dict_update(d, &upd2));
  assert_ok(M, mgr_dict_copy(d, &v));
  assert_repr(v, "{'b': 20, 'z': None, 'a': 5, 'c': 30, 'd': 40}");
  mgr_value notmap = I(3);
  assert_rc(M, mgr_dict_update(d, &notmap), MGR_ETYPE);
  /* popitem: last inserted */
  assert_ok(M, mgr_dict_popitem(d, &k, &val));
  assert_repr(k, "'d'");
  assert_repr(val, "40");
  /* 1, 1.0 and True are one key */
  mgr_value one = I(1), onef = mgr_float(1.0), tru = mgr_bool(true);
  assert_ok(M, mgr_dict_set(d, &one, &one));
  mgr_value two = I(2);
  assert_ok(M, mgr_dict_set(d, &onef, &two));
  assert_ok(M, mgr_dict_get(d, &tru, &v));
  assert_repr(v, "2");
  /* unhashable and NaN keys */
  mgr_value mp[2] = {T("k"), I(1)};
  mgr_value mkey = mgr_map(mp, 1);
  assert_rc(M, mgr_dict_get(d, &mkey, &v), MGR_ETYPE);
  mgr_value nan = mgr_float(NAN);
  assert_rc(M, mgr_dict_set(d, &nan, &one), MGR_EVALUE);
  /* clear, popitem on empty */
  assert_ok(M, mgr_dict_clear(d));
  size_t n = 9;
  assert_ok(M, mgr_dict_len(d, &n));
  assert_int_equal(n, 0);
  assert_rc(M, mgr_dict_popitem(d, &k, &val), MGR_EKEY);
  /* cas */
  bool sw = true;
  assert_rc(M, mgr_dict_cas(d, &z, &one, &two, &sw, &v), MGR_EKEY);
  assert_ok(M, mgr_dict_set(d, &z, &one));
  assert_ok(M, mgr_dict_cas(d, &z, &two, &five, &sw, &v));
  assert_false(sw);
  assert_repr(v, "1");
  assert_ok(M, mgr_dict_cas(d, &z, &one, &five, &sw, &v));
  assert_true(sw);
  assert_repr(v, "5");
  assert_ok(M, mgr_release(d));
}

static void test_list(void **state) {
  (void)state;
  int64_t xs[5] = {0, 1, 2, 3, 4};
  mgr_proxy *l = new_list(xs, 5);
  mgr_value v;
  assert_ok(M, mgr_list_get(l, 0, &v));
  assert_repr(v, "0");
  assert_ok(M, mgr_list_get(l, -1, &v));
  assert_repr(v, "4");
  assert_rc(M, mgr_list_get(l, 5, &v), MGR_EINDEX);
  assert_rc(M, mgr_list_get(l, -6, &v), MGR_EINDEX);
  mgr_value s = T("s");
  assert_ok(M, mgr_list_set(l, 1, &s));
  assert_rc(M, mgr_list_set(l, 9, &s), MGR_EINDEX);
  assert_ok(M, mgr_list_copy(l, &v));
  assert_repr(v, "[0, 's', 2, 3, 4]");
  assert_ok(M, mgr_list_del(l, 1));
  assert_rc(M, mgr_list_del(l, 4), MGR_EINDEX);
  size_t n;
  assert_ok(M, mgr_list_len(l, &n));
  assert_int_equal(n, 4);
  bool in;
  mgr_value three = I(3), nine = I(9);
  assert_ok(M, mgr_list_contains(l, &three, &in));
  assert_true(in);
  assert_ok(M, mgr_list_contains(l, &nine, &in));
  assert_false(in);
  /* slices: [0, 2, 3, 4] */
  assert_ok(M, mgr_list_getslice(l, mgr_at(1), mgr_at(3), MGR_OMIT, &v));
  assert_repr(v, "[2, 3]");
  assert_ok(M, mgr_list_getslice(l, MGR_OMIT, MGR_OMIT, mgr_at(-1), &v));
  assert_repr(v, "[4, 3, 2, 0]");
  assert_ok(M, mgr_list_getslice(l, mgr_at(-2), MGR_OMIT, MGR_OMIT, &v));
  assert_repr(v, "[3, 4]");
  assert_rc(M, mgr_list_getslice(l, MGR_OMIT, MGR_OMIT, mgr_at(0), &v),
            MGR_EVALUE);
  mgr_value it[3] = {I(7), I(8), I(9)};
  mgr_value items = mgr_array(it, 3);
  assert_ok(M, mgr_list_setslice(l, mgr_at(1), mgr_at(2), MGR_OMIT, &items));
  assert_ok(M, mgr_list_copy(l, &v));
  assert_repr(v, "[0, 7, 8, 9, 3, 4]");
  /* an extended slice takes exactly as many items as it selects */
  assert_rc(M, mgr_list_setslice(l, MGR_OMIT, MGR_OMIT, mgr_at(3), &items),
            MGR_EVALUE);
  assert_ok(M, mgr_list_setslice(l, MGR_OMIT, MGR_OMIT, mgr_at(2), &items));
  assert_ok(M, mgr_list_copy(l, &v));
  assert_repr(v, "[7, 7, 8, 9, 9, 4]");
  assert_ok(M, mgr_list_delslice(l, mgr_at(0), MGR_OMIT, mgr_at(2)));
  assert_ok(M, mgr_list_copy(l, &v));
  assert_repr(v, "[7, 9, 4]");
  /* append, extend, insert (clamped), pop */
  assert_ok(M, mgr_list_append(l, &s));
  assert_ok(M, mgr_list_extend(l, &items));
  assert_ok(M, mgr_list_insert(l, 100, &three));
  assert_ok(M, mgr_list_insert(l, -100, &nine));
  assert_ok(M, mgr_list_copy(l, &v));
  assert_repr(v, "[9, 7, 9, 4, 's', 7, 8, 9, 3]");
  assert_ok(M, mgr_list_pop(l, -1, &v));
  assert_repr(v, "3");
  assert_ok(M, mgr_list_pop(l, 0, &v));
  assert_repr(v, "9");
  assert_rc(M, mgr_list_pop(l, 50, &v), MGR_EINDEX);
  /* remove, index, count: [7, 9, 4, 's', 7, 8, 9] */
  assert_ok(M, mgr_list_remove(l, &s));
  assert_rc(M, mgr_list_remove(l, &s), MGR_EVALUE);
  int64_t idx = -1;
  assert_ok(M, mgr_list_index(l, &nine, MGR_OMIT, MGR_OMIT, &idx));
  assert_int_equal(idx, 1);
  assert_ok(M, mgr_list_index(l, &nine, mgr_at(2), MGR_OMIT, &idx));
  assert_int_equal(idx, 5);
  assert_rc(M, mgr_list_index(l, &nine, mgr_at(2), mgr_at(5), &idx),
            MGR_EVALUE);
  assert_rc(M, mgr_list_index(l, &s, MGR_OMIT, MGR_OMIT, &idx), MGR_EVALUE);
  mgr_value seven = I(7);
  assert_ok(M, mgr_list_count(l, &seven, &n));
  assert_int_equal(n, 2);
  /* reverse, sort */
  assert_ok(M, mgr_list_reverse(l));
  assert_ok(M, mgr_list_copy(l, &v));
  assert_repr(v, "[9, 8, 7, 4, 9, 7]");
  assert_ok(M, mgr_list_sort(l, false));
  assert_ok(M, mgr_list_copy(l, &v));
  assert_repr(v, "[4, 7, 7, 8, 9, 9]");
  assert_ok(M, mgr_list_sort(l, true));
  assert_ok(M, mgr_list_copy(l, &v));
  assert_repr(v, "[9, 9, 8, 7, 7, 4]");
  assert_ok(M, mgr_list_append(l, &s));
  assert_rc(M, mgr_list_sort(l, false), MGR_ETYPE);
  assert_ok(M, mgr_list_copy(l, &v));
  assert_repr(v, "[9, 9, 8, 7, 7, 4, 's']");
  /* imul, clear */
  assert_ok(M, mgr_list_delslice(l, mgr_at(1), MGR_OMIT, MGR_OMIT));
  assert_ok(M, mgr_list_imul(l, 3));
  assert_ok(M, mgr_list_copy(l, &v));
  assert_repr(v, "[9, 9, 9]");
  assert_ok(M, mgr_list_imul(l, 0));
  assert_ok(M, mgr_list_len(l, &n));
  assert_int_equal(n, 0);
  assert_rc(M, mgr_list_pop(l, -1, &v), MGR_EINDEX);
  assert_ok(M, mgr_list_append(l, &s));
  assert_ok(M, mgr_list_clear(l));
  assert_ok(M, mgr_list_len(l, &n));
  assert_int_equal(n, 0);
  /* cas */
  assert_ok(M, mgr_list_append(l, &seven));
  bool sw;
  assert_ok(M, mgr_list_cas(l, 0, &seven, &nine, &sw, &v));
  assert_true(sw);
  assert_repr(v, "9");
  assert_rc(M, mgr_list_cas(l, 3, &seven, &nine, &sw, NULL), MGR_EINDEX);
  assert_ok(M, mgr_release(l));
}

/* l[0:0] = [] on a list that never held anything (found by test_model: the
 * server once passed a NULL array to memmove). Its own manager, so that a
 * crash does not take the other tests with it. */
static void test_list_empty_setslice(void **state) {
  (void)state;
  mgr_client *m = cu_start();
  mgr_proxy *empty = NULL;
  assert_ok(m, mgr_list_new(m, NULL, &empty));
  mgr_value none = mgr_array(NULL, 0);
  assert_ok(m, mgr_list_setslice(empty, mgr_at(0), mgr_at(0), MGR_OMIT, &none));
  assert_ok(m, mgr_list_delslice(empty, MGR_OMIT, MGR_OMIT, MGR_OMIT));
  assert_ok(m, mgr_list_extend(empty, &none));
  size_t n = 9;
  assert_ok(m, mgr_list_len(empty, &n));
  assert_int_equal(n, 0);
  assert_ok(m, mgr_release(empty));
  assert_ok(m, cu_stop(m));
}

static void test_badop(void **state) {
  (void)state;
  int64_t xs[1] = {1};
  mgr_proxy *l = new_list(xs, 1);
  mgr_value ref = mgr_proxy_value(l);
  ref.u.ref.kind = MGR_K_DICT; /* lie about the kind */
  mgr_proxy *d = NULL;
  assert_ok(M, mgr_proxy_from_value(M, &ref, &d));
  mgr_value k = T("a"), v;
  assert_rc(M, mgr_dict_get(d, &k, &v), MGR_EBADOP);
  assert_ok(M, mgr_release(d));
  assert_ok(M, mgr_release(l));
}

static void test_var(void **state) {
  (void)state;
  mgr_proxy *x = NULL;
  assert_ok(M, mgr_var_new(M, NULL, &x));
  assert_int_equal(mgr_proxy_kind(x), MGR_K_VAR);
  mgr_value v;
  assert_ok(M, mgr_var_get(x, &v));
  assert_repr(v, "None");
  mgr_value one = I(1);
  assert_rc(M, mgr_var_incr(x, &one, NULL, &v), MGR_ETYPE);
  mgr_value ten = I(10);
  assert_ok(M, mgr_var_incr(x, &one, &ten, &v));
  assert_repr(v, "11");
  int64_t n = 0;
  assert_ok(M, mgr_var_incr_int(x, 5, &n));
  assert_int_equal(n, 16);
  mgr_value half = mgr_float(0.5);
  assert_ok(M, mgr_var_incr(x, &half, NULL, &v));
  assert_repr(v, "16.5");
  mgr_value arr[2] = {T("x"), mgr_bytes("\x01\xff", 2)};
  mgr_value a = mgr_array(arr, 2);
  assert_ok(M, mgr_var_set(x, &a));
  assert_ok(M, mgr_var_get(x, &v));
  assert_repr(v, "['x', b'\\x01\\xff']");
  bool sw;
  assert_ok(M, mgr_var_cas(x, &one, &ten, &sw, &v));
  assert_false(sw);
  assert_repr(v, "['x', b'\\x01\\xff']");
  assert_ok(M, mgr_var_cas(x, &a, &ten, &sw, NULL));
  assert_true(sw);
  assert_ok(M, mgr_var_get(x, &v));
  assert_repr(v, "10");
  mgr_proxy *y = NULL;
  mgr_value s = T("init");
  assert_ok(M, mgr_var_new(M, &s, &y));
  assert_ok(M, mgr_var_get(y, &v));
  assert_repr(v, "'init'");
  assert_ok(M, mgr_release(y));
  assert_ok(M, mgr_release(x));
}

static void test_lock(void **state) {
  (void)state;
  mgr_proxy *lk = NULL;
  assert_ok(M, mgr_lock_new(M, &lk));
  assert_int_equal(mgr_proxy_kind(lk), MGR_K_LOCK);
  bool b = true, acq = false;
  assert_ok(M, mgr_lock_locked(lk, &b));
  assert_false(b);
  assert_rc(M, mgr_lock_release(lk), MGR_ESTATE);
  assert_ok(M, mgr_lock_acquire(lk, -1, &acq));
  assert_true(acq);
  assert_ok(M, mgr_lock_locked(lk, &b));
  assert_true(b);
  /* Held by us: a try fails, a blocking acquire would deadlock (STATE). */
  assert_ok(M, mgr_lock_acquire(lk, 0, &acq));
  assert_false(acq);
  assert_ok(M, mgr_lock_acquire(lk, 50, &acq));
  assert_false(acq);
  assert_rc(M, mgr_lock_acquire(lk, -1, &acq), MGR_ESTATE);
  /* Another client (its own connection) cannot take it either. */
  mgr_client *m2 = NULL;
  assert_ok(NULL, mgr_connect(mgr_address(M), NULL, &m2));
  mgr_value ref = mgr_proxy_value(lk);
  mgr_proxy *lk2 = NULL;
  assert_ok(m2, mgr_proxy_from_value(m2, &ref, &lk2));
  assert_ok(m2, mgr_lock_acquire(lk2, 0, &acq));
  assert_false(acq);
  /* Python's Lock may be released by anyone. */
  assert_ok(m2, mgr_lock_release(lk2));
  assert_ok(m2, mgr_lock_acquire(lk2, 0, &acq));
  assert_true(acq);
  assert_ok(m2, mgr_lock_release(lk2));
  assert_ok(m2, mgr_release(lk2));
  mgr_close(m2);
  assert_ok(M, mgr_release(lk));
}

static void test_rlock(void **state) {
  (void)state;
  mgr_proxy *rl = NULL;
  assert_ok(M, mgr_rlock_new(M, &rl));
  assert_int_equal(mgr_proxy_kind(rl), MGR_K_RLOCK);
  bool acq = false, b;
  assert_ok(M, mgr_lock_acquire(rl, -1, &acq));
  assert_true(acq);
  assert_ok(M, mgr_lock_acquire(rl, -1, &acq));
  assert_true(acq);
  mgr_client *m2 = NULL;
  assert_ok(NULL, mgr_connect(mgr_address(M), NULL, &m2));
  mgr_value ref = mgr_proxy_value(rl);
  mgr_proxy *rl2 = NULL;
  assert_ok(m2, mgr_proxy_from_value(m2, &ref, &rl2));
  assert_ok(m2, mgr_lock_acquire(rl2, 0, &acq));
  assert_false(acq);
  /* not the owner: RuntimeError */
  assert_rc(m2, mgr_lock_release(rl2), MGR_ESTATE);
  assert_ok(M, mgr_lock_release(rl));
  assert_ok(M, mgr_lock_locked(rl, &b));
  assert_true(b);
  assert_ok(M, mgr_lock_release(rl));
  assert_ok(M, mgr_lock_locked(rl, &b));
  assert_false(b);
  assert_rc(M, mgr_lock_release(rl), MGR_ESTATE);
  assert_ok(m2, mgr_lock_acquire(rl2, 0, &acq));
  assert_true(acq);
  assert_ok(m2, mgr_release(rl2));
  mgr_close(m2); /* its connection closes: the rlock is released */
  assert_rc(M, mgr_lock_acquire(rl, 5000, &acq), MGR_EOWNERDEAD);
  assert_true(acq);
  assert_ok(M, mgr_lock_release(rl));
  assert_ok(M, mgr_release(rl));
}

/* Checks spec R-12.4-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_nested(void **state) {
  (void)state;
  mgr_proxy *inner = new_dict("k", 1, "j", 2);
  uint64_t inner_id = mgr_proxy_id(inner);
  mgr_proxy *outer = NULL;
  assert_ok(M, mgr_list_new(M, NULL, &outer));
  mgr_value ref = mgr_proxy_value(inner);
  assert_ok(M, mgr_list_append(outer, &ref));
  /* The list now references the dict: our proxy can go. */
  assert_ok(M, mgr_release(inner));
  assert_int_equal(cu_has_object(M, inner_id), 1);
  mgr_value got;
  assert_ok(M, mgr_list_get(outer, 0, &got));
  assert_int_equal(got.type, MGR_T_REF);
  assert_int_equal(got.u.ref.id, inner_id);
  assert_int_equal(got.u.ref.kind, MGR_K_DICT);
  mgr_proxy *again = NULL;
  assert_ok(M, mgr_proxy_from_value(M, &got, &again));
  mgr_value_free(&got);
  mgr_value k = T("k"), v;
  assert_ok(M, mgr_dict_get(again, &k, &v));
  assert_repr(v, "1");
  /* Not a ref: TypeError. */
  mgr_value notref = I(3);
  mgr_proxy *p = NULL;
  assert_rc(M, mgr_proxy_from_value(M, &notref, &p), MGR_ETYPE);
  assert_null(p);
  /* A ref value no manager gives: id 0, kind 0, a kind this library does
   * not know. TypeError, nothing asked of the manager. */
  mgr_value badref = mgr_proxy_value(again);
  badref.u.ref.id = 0;
  assert_rc(M, mgr_proxy_from_value(M, &badref, &p), MGR_ETYPE);
  badref = mgr_proxy_value(again);
  badref.u.ref.kind = 0;
  assert_rc(M, mgr_proxy_from_value(M, &badref, &p), MGR_ETYPE);
  badref.u.ref.kind = 9999;
  assert_rc(M, mgr_proxy_from_value(M, &badref, &p), MGR_ETYPE);
  assert_string_equal(mgr_errmsg(M), "not a ref");
  assert_null(p);
  /* A second proxy from the same ref shares this process's reference:
   * dropping one leaves the object to the other. */
  mgr_value same = mgr_proxy_value(again);
  mgr_proxy *twin = NULL;
  assert_ok(M, mgr_proxy_from_value(M, &same, &twin));
  assert_ok(M, mgr_release(twin));
  assert_int_equal(cu_has_object(M, inner_id), 1);
  assert_ok(M, mgr_dict_get(again, &k, &v));
  assert_repr(v, "1");
  /* Storing a ref to an unknown id: NOTFOUND. */
  mgr_value bogus = mgr_proxy_value(again);
  bogus.u.ref.id = 999999999;
  assert_rc(M, mgr_list_append(outer, &bogus), MGR_ENOTFOUND);
  assert_rc(M, mgr_proxy_from_value(M, &bogus, &p), MGR_ENOTFOUND);
  /* Emptying the list and dropping the last proxy frees the dict. */
  assert_ok(M, mgr_list_clear(outer));
  assert_int_equal(cu_has_object(M, inner_id), 1);
  assert_ok(M, mgr_release(again));
  assert_int_equal(cu_has_object(M, inner_id), 0);
  assert_ok(M, mgr_release(outer));
}

static void test_release_frees(void **state) {
  (void)state;
  mgr_proxy *d = new_dict("a", 1, "b", 2);
  uint64_t id = mgr_proxy_id(d);
  assert_int_equal(cu_has_object(M, id), 1);
  /* Two local proxies: dropping one keeps the object. */
  mgr_value ref = mgr_proxy_value(d);
  mgr_proxy *d2 = NULL;
  assert_ok(M, mgr_proxy_from_value(M, &ref, &d2));
  assert_ok(M, mgr_release(d));
  assert_int_equal(cu_has_object(M, id), 1);
  assert_ok(M, mgr_release(d2));
  assert_int_equal(cu_has_object(M, id), 0);
  assert_ok(M, mgr_release(NULL));
}

static void test_named(void **state) {
  (void)state;
  mgr_proxy *a = NULL;
  bool created = false;
  mgr_value pairs[2] = {T("n"), I(0)};
  mgr_value init = mgr_map(pairs, 1);
  assert_ok(
      M, mgr_open(M, "shared-counter", MGR_K_DICT, &init, true, &a, &created));
  assert_true(created);
  uint64_t id = mgr_proxy_id(a);
  /* Named: survives its last proxy. */
  assert_ok(M, mgr_release(a));
  assert_int_equal(cu_has_object(M, id), 1);

  /* An unrelated client finds it by name. */
  mgr_client *m2 = NULL;
  assert_ok(NULL, mgr_connect(mgr_address(M), NULL, &m2));
  mgr_proxy *b = NULL;
  assert_ok(m2, mgr_open(m2, "shared-counter", MGR_K_DICT, NULL, false, &b,
                         &created));
  assert_false(created);
  assert_int_equal(mgr_proxy_id(b), id);
  mgr_value k = T("n");
  int64_t n = 0;
  assert_ok(m2, mgr_dict_incr_int(b, &k, 5, false, &n));
  assert_int_equal(n, 5);
  /* wrong kind, absent, bad names */
  mgr_proxy *c = NULL;
  assert_rc(m2,
            mgr_open(m2, "shared-counter", MGR_K_LIST, NULL, true, &c, NULL),
            MGR_ETYPE);
  assert_true(strlen(mgr_errmsg(m2)) > 0);
  assert_rc(m2, mgr_open(m2, "absent", MGR_K_DICT, NULL, false, &c, NULL),
            MGR_ENOTFOUND);
  assert_rc(m2, mgr_open(m2, "", MGR_K_DICT, NULL, true, &c, NULL), MGR_EVALUE);
  char longname[300];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  assert_rc(m2, mgr_open(m2, longname, MGR_K_DICT, NULL, true, &c, NULL),
            MGR_EVALUE);
  assert_null(c);
  assert_ok(m2, mgr_release(b));
  mgr_close(m2);

  /* the first client sees the update; unlink drops the name */
  assert_ok(M,
            mgr_open(M, "shared-counter", MGR_K_DICT, NULL, false, &a, NULL));
  mgr_value v;
  assert_ok(M, mgr_dict_get(a, &k, &v));
  assert_repr(v, "5");
  assert_ok(M, mgr_unlink(M, "shared-counter"));
  assert_rc(M, mgr_unlink(M, "shared-counter"), MGR_ENOTFOUND);
  assert_rc(M, mgr_open(M, "shared-counter", MGR_K_DICT, NULL, false, &c, NULL),
            MGR_ENOTFOUND);
  assert_int_equal(cu_has_object(M, id), 1);
  assert_ok(M, mgr_release(a));
  assert_int_equal(cu_has_object(M, id), 0);
}

/* A named object opened by a fork()ed-then-exec'd process: the test binary
 * re-runs itself with MGR_TEST_OPEN_CHILD=<address>. */
static int exec_child_main(const char *address) {
  mgr_client *m = NULL;
  if (mgr_connect(address, NULL, &m) != MGR_OK) return 3;
  mgr_proxy *l = NULL;
  bool created = true;
  int rc = mgr_open(m, "exec-list", MGR_K_LIST, NULL, false, &l, &created);
  if (rc != MGR_OK || created) return 4;
  mgr_value hi = T("from exec");
  rc = mgr_list_append(l, &hi);
  mgr_release(l);
  mgr_close(m);
  return rc == MGR_OK ? 0 : 5;
}

static void test_named_exec(void **state) {
  (void)state;
  mgr_proxy *l = NULL;
  assert_ok(M, mgr_open(M, "exec-list", MGR_K_LIST, NULL, true, &l, NULL));
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    setenv("MGR_TEST_OPEN_CHILD", mgr_address(M), 1);
    execl("/proc/self/exe", "test_client", (char *)NULL);
    _exit(127);
  }
  assert_child_ok(pid);
  mgr_value v;
  assert_ok(M, mgr_list_copy(l, &v));
  assert_repr(v, "['from exec']");
  assert_ok(M, mgr_unlink(M, "exec-list"));
  assert_ok(M, mgr_release(l));
}

static void test_errmsg(void **state) {
  (void)state;
  int64_t xs[1] = {1};
  mgr_proxy *l = new_list(xs, 1);
  mgr_value v;
  assert_rc(M, mgr_list_get(l, 7, &v), MGR_EINDEX);
  const char *msg = mgr_errmsg(M);
  assert_true(strlen(msg) > 0);
  assert_ok(M, mgr_list_get(l, 0, &v));
  assert_string_equal(mgr_errmsg(M), "");
  /* A value the protocol cannot carry fails locally, the connection stays. */
  mgr_value bad = mgr_textn("\xff\xfe", 2);
  assert_rc(M, mgr_list_append(l, &bad), MGR_EINVAL);
  assert_true(strlen(mgr_errmsg(M)) > 0);
  assert_ok(M, mgr_ping(M));
  assert_ok(M, mgr_release(l));
}

int main(void) {
  const char *child = getenv("MGR_TEST_OPEN_CHILD");
  if (child) return exec_child_main(child);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_manager),
      cmocka_unit_test(test_dict_basic),
      cmocka_unit_test(test_dict_more),
      cmocka_unit_test(test_list),
      cmocka_unit_test(test_badop),
      cmocka_unit_test(test_var),
      cmocka_unit_test(test_lock),
      cmocka_unit_test(test_rlock),
      cmocka_unit_test(test_nested),
      cmocka_unit_test(test_release_frees),
      cmocka_unit_test(test_named),
      cmocka_unit_test(test_named_exec),
      cmocka_unit_test(test_errmsg),
      cmocka_unit_test(test_list_empty_setslice),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
