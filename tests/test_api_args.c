/* mgr tests — every public call refuses a NULL where it needs a pointer with
 * MGR_EINVAL, as include/mgr's comments say ("MGR_EINVAL (m or out NULL)"),
 * before any word to the manager: no crash, and the connection still works
 * after. A NULL proxy too. Removing any of these guards makes the call
 * dereference NULL: the test crashes. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "client_util.h"
#include "mgr/server.h"
#include "mgr/sync.h"

static mgr_client *M;

#define EINV(call) assert_int_equal((call), MGR_EINVAL)

static int setup(void **state) {
  (void)state;
  M = cu_start();
  return M ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return cu_stop(M) == MGR_OK ? 0 : -1;
}

/* The manager's calls and the constructors. */
static void test_manager_calls(void **state) {
  (void)state;
  mgr_value v = mgr_nil(), nil = mgr_nil();
  mgr_proxy *p = NULL;
  mgr_client *m = NULL;
  EINV(mgr_connect(NULL, NULL, &m));
  EINV(mgr_connect("x", NULL, NULL));
  EINV(mgr_start(NULL, NULL));
  EINV(mgr_ping(NULL));
  EINV(mgr_objects(NULL, &v));
  EINV(mgr_objects(M, NULL));
  EINV(mgr_stats(NULL, &v));
  EINV(mgr_stats(M, NULL));
  EINV(mgr_dump(NULL, 1, &v));
  EINV(mgr_dump(M, 1, NULL));
  EINV(mgr_dump(M, 0, &v));
  EINV(mgr_dump(M, (uint64_t)INT64_MAX + 1, &v));
  EINV(mgr_shutdown(NULL));
  EINV(mgr_open(NULL, "n", MGR_K_DICT, NULL, true, &p, NULL));
  EINV(mgr_open(M, NULL, MGR_K_DICT, NULL, true, &p, NULL));
  EINV(mgr_open(M, "n", MGR_K_DICT, NULL, true, NULL, NULL));
  EINV(mgr_unlink(NULL, "n"));
  EINV(mgr_unlink(M, NULL));
  EINV(mgr_proxy_from_value(NULL, &v, &p));
  assert_int_equal(mgr_proxy_from_value(M, NULL, &p),
                   MGR_ETYPE); /* not a ref */
  EINV(mgr_proxy_from_value(M, &v, NULL));
  EINV(mgr_array_new(NULL, 'q', &nil, &p));
  EINV(mgr_array_new(M, 'q', NULL, &p));
  EINV(mgr_array_new(M, 'q', &nil, NULL));
  mgr_batch *b = NULL;
  EINV(mgr_batch_new(NULL, &b));
  EINV(mgr_batch_new(M, NULL));
  assert_ok(M, mgr_ping(M));
}

/* Dict, list and Value proxies: a NULL key, value, delta or result. */
static void test_container_calls(void **state) {
  (void)state;
  mgr_proxy *d, *l, *v;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  assert_ok(M, mgr_list_new(M, NULL, &l));
  assert_ok(M, mgr_var_new(M, NULL, &v));
  mgr_value k = I(1), out;
  bool b;
  size_t n;
  EINV(mgr_dict_get(d, NULL, &out));
  EINV(mgr_dict_get_default(d, NULL, &k, &out));
  EINV(mgr_dict_set(d, NULL, &k));
  EINV(mgr_dict_set(d, &k, NULL));
  EINV(mgr_dict_del(d, NULL));
  EINV(mgr_dict_contains(d, NULL, &b));
  EINV(mgr_dict_pop(d, NULL, NULL, &out));
  EINV(mgr_dict_setdefault(d, NULL, &k, &out));
  EINV(mgr_dict_update(d, NULL));
  EINV(mgr_dict_incr(d, NULL, &k, NULL, &out));
  EINV(mgr_dict_incr(d, &k, NULL, NULL, &out));
  EINV(mgr_dict_incr_int(d, NULL, 1, false, NULL));
  EINV(mgr_dict_cas(d, NULL, &k, &k, &b, NULL));
  EINV(mgr_dict_cas(d, &k, NULL, &k, &b, NULL));
  EINV(mgr_dict_cas(d, &k, &k, NULL, &b, NULL));
  EINV(mgr_list_set(l, 0, NULL));
  EINV(mgr_list_contains(l, NULL, &b));
  EINV(mgr_list_setslice(l, mgr_omit(), mgr_omit(), mgr_omit(), NULL));
  EINV(mgr_list_append(l, NULL));
  EINV(mgr_list_extend(l, NULL));
  EINV(mgr_list_insert(l, 0, NULL));
  EINV(mgr_list_remove(l, NULL));
  int64_t at;
  EINV(mgr_list_index(l, NULL, mgr_omit(), mgr_omit(), &at));
  EINV(mgr_list_count(l, NULL, &n));
  EINV(mgr_list_incr(l, 0, NULL, &out));
  EINV(mgr_list_cas(l, 0, NULL, &k, &b, NULL));
  EINV(mgr_list_cas(l, 0, &k, NULL, &b, NULL));
  EINV(mgr_var_set(v, NULL));
  EINV(mgr_var_incr(v, NULL, NULL, &out));
  EINV(mgr_var_cas(v, NULL, &k, &b, NULL));
  EINV(mgr_var_cas(v, &k, NULL, &b, NULL));
  /* A NULL proxy. */
  EINV(mgr_dict_len(NULL, &n));
  EINV(mgr_list_len(NULL, &n));
  EINV(mgr_var_get(NULL, &out));
  assert_ok(M, mgr_dict_len(d, &n));
  assert_ok(M, mgr_release(v));
  assert_ok(M, mgr_release(l));
  assert_ok(M, mgr_release(d));
}

/* The synchronisation kinds, Namespace and Array. */
static void test_sync_calls(void **state) {
  (void)state;
  mgr_proxy *q, *ns, *e, *s, *bar, *a, *lk, *c;
  assert_ok(M, mgr_queue_new(M, 0, &q));
  assert_ok(M, mgr_namespace_new(M, NULL, &ns));
  assert_ok(M, mgr_event_new(M, &e));
  assert_ok(M, mgr_semaphore_new(M, 1, &s));
  assert_ok(M, mgr_barrier_new(M, 2, -1, &bar));
  mgr_value init = mgr_array(NULL, 0);
  assert_ok(M, mgr_array_new(M, 'q', &init, &a));
  assert_ok(M, mgr_lock_new(M, &lk));
  assert_ok(M, mgr_condition_new(M, lk, &c));
  mgr_value k = I(1), out;
  EINV(mgr_queue_put(q, NULL, 0));
  EINV(mgr_queue_qsize(q, NULL));
  EINV(mgr_queue_empty(q, NULL));
  EINV(mgr_queue_full(q, NULL));
  EINV(mgr_ns_get(ns, NULL, &out));
  EINV(mgr_ns_get(ns, "x", NULL));
  EINV(mgr_ns_set(ns, NULL, &k));
  EINV(mgr_ns_set(ns, "x", NULL));
  EINV(mgr_ns_del(ns, NULL));
  EINV(mgr_ns_items(ns, NULL));
  EINV(mgr_ns_repr(ns, NULL));
  EINV(mgr_event_is_set(e, NULL));
  EINV(mgr_sem_value(s, NULL));
  EINV(mgr_barrier_parties(bar, NULL));
  EINV(mgr_barrier_n_waiting(bar, NULL));
  EINV(mgr_barrier_broken(bar, NULL));
  EINV(mgr_array_get(a, 0, NULL));
  EINV(mgr_array_set(a, 0, NULL));
  EINV(mgr_array_len(a, NULL));
  EINV(mgr_array_getslice(a, mgr_omit(), mgr_omit(), mgr_omit(), NULL));
  EINV(mgr_array_setslice(a, mgr_omit(), mgr_omit(), mgr_omit(), NULL));
  EINV(mgr_array_incr(a, 0, NULL, &out));
  EINV(mgr_array_cas(a, 0, NULL, &k, NULL, NULL));
  EINV(mgr_array_cas(a, 0, &k, NULL, NULL, NULL));
  EINV(mgr_array_typecode(a, NULL));
  EINV(mgr_cond_wait_for(c, NULL, NULL, -1, NULL));
  EINV(mgr_cond_wait_for(NULL, NULL, NULL, -1, NULL));
  mgr_proxy *c2;
  EINV(mgr_condition_new(NULL, lk, &c2));
  assert_ok(M, mgr_ping(M));
  mgr_proxy *all[] = {c, lk, a, bar, s, e, ns, q};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    assert_ok(M, mgr_release(all[i]));
}

/* The batch builder: a NULL builder, value or operation. */
static void test_batch_calls(void **state) {
  (void)state;
  mgr_proxy *d;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  mgr_batch *b;
  assert_ok(M, mgr_batch_new(M, &b));
  mgr_value k = I(1), res;
  EINV(mgr_batch_add(NULL, d, "DICT_LEN", NULL, 0));
  EINV(mgr_batch_add(b, d, "NO_SUCH_OP", NULL, 0));
  EINV(mgr_batch_dict_set(NULL, d, &k, &k));
  EINV(mgr_batch_dict_set(b, d, NULL, &k));
  EINV(mgr_batch_run(NULL, &res));
  /* The builder keeps its first error until cleared (client.h). */
  EINV(mgr_batch_run(b, &res));
  mgr_batch_clear(b);
  assert_ok(M, mgr_batch_dict_set(b, d, &k, &k));
  assert_int_equal(mgr_batch_len(b), 1);
  /* Every adder refuses a NULL key or value, adds nothing, and the error
   * sticks: the next add, even a good one, returns it. */
  mgr_proxy *l, *v;
  assert_ok(M, mgr_list_new(M, NULL, &l));
  assert_ok(M, mgr_var_new(M, NULL, &v));
  for (int c = 0; c < 8; c++) {
    mgr_batch_clear(b);
    int rc = c == 0   ? mgr_batch_dict_get(b, d, NULL)
             : c == 1 ? mgr_batch_dict_get_default(b, d, NULL, &k)
             : c == 2 ? mgr_batch_dict_del(b, d, NULL)
             : c == 3 ? mgr_batch_dict_contains(b, d, NULL)
             : c == 4 ? mgr_batch_dict_incr_int(b, d, NULL, 1, true)
             : c == 5 ? mgr_batch_list_set(b, l, 0, NULL)
             : c == 6 ? mgr_batch_list_append(b, l, NULL)
                      : mgr_batch_var_set(b, v, NULL);
    if (rc != MGR_EINVAL) fail_msg("adder %d: %s", c, mgr_err_name(rc));
    assert_int_equal(mgr_batch_len(b), 0);
    EINV(mgr_batch_dict_len(b, d));
    assert_int_equal(mgr_batch_len(b), 0);
  }
  /* A NULL builder: no status, no message, no length. */
  EINV(mgr_batch_status(NULL, 0));
  assert_string_equal(mgr_batch_errmsg(NULL, 0), "");
  assert_int_equal(mgr_batch_len(NULL), 0);
  mgr_batch_free(b);
  assert_ok(M, mgr_release(v));
  assert_ok(M, mgr_release(l));
  assert_ok(M, mgr_release(d));
}

/* The other side: out-parameters the header says may be NULL ("result not
 * wanted") are left NULL, and the call still does all it does; the state
 * after is read back. */
static void test_null_outs(void **state) {
  (void)state;
  mgr_proxy *d, *l, *v, *lk;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  assert_ok(M, mgr_list_new(M, NULL, &l));
  assert_ok(M, mgr_var_new(M, NULL, &v));
  assert_ok(M, mgr_lock_new(M, &lk));
  mgr_value a = T("a"), b = T("b"), one = I(1), two = I(2), seven = I(7), got;
  size_t n;

  /* dict: popitem with either or both outs NULL removes the last pair. */
  assert_ok(M, mgr_dict_set(d, &a, &one));
  assert_ok(M, mgr_dict_set(d, &b, &two));
  assert_ok(M, mgr_dict_popitem(d, NULL, &got));
  assert_int_equal(got.u.i, 2);
  assert_ok(M, mgr_dict_set(d, &b, &two));
  assert_ok(M, mgr_dict_popitem(d, &got, NULL));
  assert_string_equal(got.u.s.ptr, "b");
  mgr_value_free(&got);
  assert_ok(M, mgr_dict_popitem(d, NULL, NULL));
  assert_ok(M, mgr_dict_len(d, &n));
  assert_int_equal(n, 0);
  assert_rc(M, mgr_dict_popitem(d, NULL, NULL), MGR_EKEY);
  /* incr, cas, contains, len: the effect without the result. */
  assert_ok(M, mgr_dict_incr(d, &a, &one, &one, NULL)); /* 1 + 1 */
  assert_ok(M, mgr_dict_incr_int(d, &a, 5, false, NULL));
  assert_ok(M, mgr_dict_cas(d, &a, &seven, &two, NULL, NULL));
  assert_ok(M, mgr_dict_contains(d, &a, NULL));
  assert_ok(M, mgr_dict_len(d, NULL));
  assert_ok(M, mgr_dict_get(d, &a, &got));
  assert_int_equal(got.u.i, 2);
  assert_ok(M, mgr_dict_pop(d, &a, NULL, NULL));
  bool has = true;
  assert_ok(M, mgr_dict_contains(d, &a, &has));
  assert_false(has);

  /* list. */
  mgr_value items[] = {I(10), I(20), I(10)};
  mgr_value arr = mgr_array(items, 3);
  assert_ok(M, mgr_list_extend(l, &arr));
  assert_ok(M, mgr_list_incr(l, 0, &one, NULL));
  assert_ok(M, mgr_list_incr_int(l, 1, 2, NULL));
  assert_ok(M, mgr_list_cas(l, 2, &items[0], &two, NULL, NULL));
  assert_ok(M, mgr_list_len(l, NULL));
  assert_ok(M, mgr_list_count(l, &two, NULL));
  assert_ok(M, mgr_list_contains(l, &two, NULL));
  assert_ok(M, mgr_list_index(l, &two, MGR_OMIT, MGR_OMIT, NULL));
  assert_ok(M, mgr_list_pop(l, 0, NULL));
  assert_ok(M, mgr_list_copy(l, &got));
  assert_int_equal(got.u.a.len, 2);
  assert_int_equal(got.u.a.items[0].u.i, 22);
  assert_int_equal(got.u.a.items[1].u.i, 2);
  mgr_value_free(&got);

  /* var. */
  assert_ok(M, mgr_var_set(v, &one));
  assert_ok(M, mgr_var_incr(v, &two, NULL, NULL));
  assert_ok(M, mgr_var_incr_int(v, 4, NULL));
  assert_ok(M, mgr_var_cas(v, &seven, &a, NULL, NULL));
  assert_ok(M, mgr_var_get(v, &got));
  assert_string_equal(got.u.s.ptr, "a");
  mgr_value_free(&got);

  /* lock: acquired NULL; the lock is then held (a try fails, and a release
   * succeeds). */
  assert_ok(M, mgr_lock_acquire(lk, -1, NULL));
  bool acq = true;
  assert_ok(M, mgr_lock_acquire(lk, 0, &acq));
  assert_false(acq);
  assert_ok(M, mgr_lock_acquire(lk, 0, NULL)); /* not acquired: still OK */
  assert_ok(M, mgr_lock_release(lk));
  assert_rc(M, mgr_lock_release(lk), MGR_ESTATE);

  assert_ok(M, mgr_release(lk));
  assert_ok(M, mgr_release(v));
  assert_ok(M, mgr_release(l));
  assert_ok(M, mgr_release(d));
}

/* The options' documented edges: init of NULL, or with a size too small for
 * the size field, does nothing; a max_frame above the protocol's 64 MiB
 * ceiling is lowered to it and a timeout too large for poll() is as good as
 * none (the client connects, its calls and a lock acquire with such a
 * timeout work); mgr_set_timeout(NULL) does nothing and mgr_server_pid(NULL)
 * is 0. */
static void test_options_edges(void **state) {
  (void)state;
  mgr_options_init_(NULL, sizeof(mgr_options));
  mgr_server_options_init_(NULL, sizeof(mgr_server_options));
  mgr_options o, before;
  memset(&o, 0xa5, sizeof o);
  memcpy(&before, &o, sizeof o);
  mgr_options_init_(&o, sizeof(size_t) - 1);
  assert_memory_equal(&o, &before, sizeof o);
  mgr_server_options so, sbefore;
  memset(&so, 0x5a, sizeof so);
  memcpy(&sbefore, &so, sizeof so);
  mgr_server_options_init_(&so, 1);
  assert_memory_equal(&so, &sbefore, sizeof so);
  mgr_set_timeout(NULL, 5);
  assert_int_equal(mgr_server_pid(NULL), 0);
  mgr_batch_free(NULL); /* "NULL is a no-op" */
  mgr_batch_clear(NULL);

  mgr_options_init(&o);
  o.max_frame = UINT32_MAX;
  /* The largest timeout: connecting adds it to the clock, saturated (it
   * was a signed overflow UBSan reported, in transport.c and net.c). */
  o.timeout_ms = INT64_MAX;
  mgr_client *m2;
  assert_ok(M, mgr_connect(mgr_address(M), &o, &m2));
  assert_ok(m2, mgr_ping(m2));
  assert_int_equal(mgr_server_pid(m2), mgr_server_pid(M));
  mgr_proxy *lk;
  assert_ok(m2, mgr_lock_new(m2, &lk));
  bool acq = false;
  assert_ok(m2, mgr_lock_acquire(lk, INT64_MAX, &acq));
  assert_true(acq);
  assert_ok(m2, mgr_lock_release(lk));
  mgr_set_timeout(m2, INT64_MAX);
  assert_ok(m2, mgr_ping(m2));
  assert_ok(m2, mgr_release(lk));
  mgr_close(m2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_manager_calls),
      cmocka_unit_test(test_container_calls),
      cmocka_unit_test(test_sync_calls),
      cmocka_unit_test(test_batch_calls),
      cmocka_unit_test(test_null_outs),
      cmocka_unit_test(test_options_edges),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
