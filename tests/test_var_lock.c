/* mgr tests — manager.Value, Lock and RLock through the pure dispatch path:
 * incr rules, CAS, lock grants in FIFO order, deadlines driven by an
 * injected clock (no sleeps), owner death, parked requests of closed
 * connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server_util.h"

#define SEC 1000000000LL

static void is_int(mgri_hreply *r, int64_t v) {
  ok(r);
  assert_int_equal(r->result.type, MGR_T_INT);
  assert_int_equal(r->result.u.i, v);
}

/* The one reply captured for (conn, rid) since the last clear, or NULL. */
static mgri_hreply *reply_for(mgri_sconn *c, uint64_t rid) {
  mgri_hreply *found = NULL;
  for (size_t i = 0; i < H.nrep; i++) {
    if (H.rep[i].conn != c || H.rep[i].rid != rid) continue;
    if (found) fail_msg("two replies to rid %llu", (unsigned long long)rid);
    found = &H.rep[i];
  }
  return found;
}

/* LOCK_ACQUIRE on c; returns the rid used (the reply may be parked). */
static uint64_t acquire(mgri_sconn *c, uint64_t lk, mgr_value blocking,
                        mgr_value timeout) {
  mgri_h_clear(&H);
  mgri_h_call(&H, c, MGRI_OP_LOCK_ACQUIRE, lk, A(blocking, timeout));
  return H.rid;
}

/* --- var ------------------------------------------------------------------ */

static void test_var(void **st) {
  (void)st;
  uint64_t v = mgri_h_create(&H, C, MGR_K_VAR, NULL);
  mgri_hreply *r = call(MGRI_OP_VAR_GET, v, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_NIL);
  err(call(MGRI_OP_VAR_INCR, v, A(mgr_int(1))), MGR_ETYPE, "NoneType");
  is_int(call(MGRI_OP_VAR_INCR, v, A(mgr_int(1), mgr_int(10))), 11);
  is_int(call(MGRI_OP_VAR_INCR, v, A(mgr_int(1), mgr_int(100))),
         12); /* default ignored */
  err(call(MGRI_OP_VAR_INCR, v, A(mgr_int(1), mgr_text("x"))), MGR_ETYPE,
      NULL); /* still checked */
  r = call(MGRI_OP_VAR_INCR, v, A(mgr_float(0.25)));
  ok(r);
  assert_int_equal(r->result.type, MGR_T_FLOAT);
  assert_true(r->result.u.f == 12.25);
  ok(call(MGRI_OP_VAR_SET, v, A(mgr_int(INT64_MIN))));
  err(call(MGRI_OP_VAR_INCR, v, A(mgr_int(-1))), MGR_EOVERFLOW, NULL);
  is_int(call(MGRI_OP_VAR_GET, v, NULL, 0), INT64_MIN);
  ok(call(MGRI_OP_VAR_SET, v, A(mgr_text("text"))));
  err(call(MGRI_OP_VAR_INCR, v, A(mgr_int(1))), MGR_ETYPE, "'str' and 'int'");
  r = call(MGRI_OP_VAR_GET, v, NULL, 0);
  assert_string_equal(r->result.u.s.ptr, "text");
  r = call(MGRI_OP_VAR_CAS, v,
           A(mgr_text("text"), mgr_array(A(mgr_int(1), mgr_text("a")))));
  ok(r);
  assert_true(r->result.u.a.items[0].u.b);
  assert_int_equal(r->result.u.a.items[1].type, MGR_T_ARRAY);
  r = call(MGRI_OP_VAR_CAS, v, A(mgr_text("text"), mgr_nil()));
  assert_false(r->result.u.a.items[0].u.b);
  assert_int_equal(r->result.u.a.items[1].u.a.len, 2);
  err(call(MGRI_OP_VAR_SET, v, A(mgri_h_ref(MGR_K_VAR, 555))), MGR_ENOTFOUND,
      NULL);
  /* CREATE with an init value. */
  mgr_value init = mgr_float(2.5);
  uint64_t v2 = mgri_h_create(&H, C, MGR_K_VAR, &init);
  r = call(MGRI_OP_VAR_GET, v2, NULL, 0);
  assert_true(r->result.u.f == 2.5);
}

/* --- lock ------------------------------------------------------------------ */

static void test_lock_basic(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  ok(call(MGRI_OP_LOCK_LOCKED, lk, NULL, 0));
  assert_false(H.rep[0].result.u.b);
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 1);
  assert_true(call(MGRI_OP_LOCK_LOCKED, lk, NULL, 0)->result.u.b);
  /* Held: non-blocking and zero timeout answer 0 at once. */
  is_int(callc(b, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(false), mgr_nil())), 0);
  /* acquire(False, -1) is Python's default timeout, not a timeout (13.2). */
  is_int(callc(b, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(false), mgr_int(-1))),
         0);
  is_int(
      callc(b, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(false), mgr_float(-1.0))),
      0);
  is_int(callc(b, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_int(0))), 0);
  /* Self-deadlock is refused. */
  err(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), MGR_ESTATE,
      "deadlock");
  err(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_int(-1))),
      MGR_ESTATE, NULL);
  /* Argument checks (spec 13.2). */
  err(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_int(1), mgr_nil())), MGR_ETYPE,
      NULL);
  err(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_text("1"))),
      MGR_ETYPE, NULL);
  err(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_float(-0.5))),
      MGR_EVALUE, NULL);
  err(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(false), mgr_int(1))),
      MGR_EVALUE, "non-blocking");
  /* A Lock may be released by another connection. */
  ok(callc(b, MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  err(call(MGRI_OP_LOCK_RELEASE, lk, NULL, 0), MGR_ESTATE,
      "release unlocked lock");
  assert_false(call(MGRI_OP_LOCK_LOCKED, lk, NULL, 0)->result.u.b);
}

static void test_lock_fifo_and_timeouts(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c2 = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0);
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 1);
  uint64_t rb = acquire(b, lk, mgr_bool(true), mgr_nil());
  assert_int_equal(H.nrep, 0); /* parked */
  uint64_t rc2 = acquire(c2, lk, mgr_bool(true), mgr_float(1.5));
  uint64_t rd = acquire(d, lk, mgr_bool(true), mgr_int(3));
  assert_int_equal(H.nrep, 0);
  assert_int_equal(mgri_store_parked_count(H.s), 3);
  assert_int_equal(mgri_store_next_deadline(H.s), H.now + 3 * SEC / 2);
  /* Just before c2's deadline: nothing. At it: c2 gets 0. */
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now + 3 * SEC / 2 - 1);
  assert_int_equal(H.nrep, 0);
  mgri_store_tick(H.s, H.now + 3 * SEC / 2);
  assert_int_equal(H.nrep, 1);
  is_int(reply_for(c2, rc2), 0);
  assert_int_equal(mgri_store_parked_count(H.s), 2);
  /* Release: b (first in FIFO, no deadline) gets it, d keeps waiting. */
  ok(call(MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  is_int(reply_for(b, rb), 1);
  assert_null(reply_for(d, rd));
  /* d's deadline passes while b holds it: the release answers d 0 rather
   * than granting (spec 13.3). */
  H.now += 4 * SEC;
  ok(callc(b, MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  is_int(reply_for(d, rd), 0);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_false(call(MGRI_OP_LOCK_LOCKED, lk, NULL, 0)->result.u.b);
  /* Infinite timeouts in every spelling never enter the deadline heap. */
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 1);
  acquire(b, lk, mgr_bool(true), mgr_float(__builtin_inf()));
  acquire(b, lk, mgr_bool(true), mgr_float(1e300));
  acquire(b, lk, mgr_bool(true), mgr_int(-1));
  assert_int_equal(mgri_store_parked_count(H.s), 3);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
}

static void test_owner_death(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0), *b = mgri_h_conn(&H, 0);
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  is_int(callc(a, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 1);
  uint64_t rb = acquire(b, lk, mgr_bool(true), mgr_nil());
  mgri_h_clear(&H);
  mgri_h_close(&H, a);
  is_int(reply_for(b, rb), 2); /* granted, previous owner died */
  ok(callc(b, MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  is_int(callc(b, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())),
         1); /* once */
  /* No waiter: the mark waits for the next acquire; a 0 does not clear it. */
  mgri_h_close(&H, b);
  assert_false(call(MGRI_OP_LOCK_LOCKED, lk, NULL, 0)->result.u.b);
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 2);
  ok(call(MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 1);
}

static void test_rlock(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t lk = mgri_h_create(&H, C, MGR_K_RLOCK, NULL);
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 1);
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(false), mgr_nil())), 1);
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 1);
  err(callc(b, MGRI_OP_LOCK_RELEASE, lk, NULL, 0), MGR_ESTATE, "un-acquired");
  uint64_t rb = acquire(b, lk, mgr_bool(true), mgr_nil());
  ok(call(MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  ok(call(MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  assert_null(reply_for(b, rb));
  ok(call(MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  is_int(reply_for(b, rb), 1);
  err(call(MGRI_OP_LOCK_RELEASE, lk, NULL, 0), MGR_ESTATE, NULL);
  /* Owner death releases an RLock whatever its depth. */
  is_int(callc(b, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 1);
  uint64_t rc = acquire(C, lk, mgr_bool(true), mgr_nil());
  mgri_h_clear(&H);
  mgri_h_close(&H, b);
  is_int(reply_for(C, rc), 2);
  /* LOCK ops do not apply to other kinds; other kinds' ops not to locks. */
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  err(call(MGRI_OP_LOCK_ACQUIRE, d, A(mgr_bool(true), mgr_nil())), MGR_EBADOP,
      NULL);
  err(call(MGRI_OP_VAR_GET, lk, NULL, 0), MGR_EBADOP, NULL);
}

static void test_parked_of_closed_conn(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c3 = mgri_h_conn(&H, 0);
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 1);
  acquire(b, lk, mgr_bool(true), mgr_int(10));
  uint64_t r3 = acquire(c3, lk, mgr_bool(true), mgr_nil());
  mgri_h_clear(&H);
  mgri_h_close(&H, b);
  assert_int_equal(H.nrep, 0); /* dropped without reply */
  assert_int_equal(mgri_store_parked_count(H.s), 1);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  ok(call(MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  is_int(reply_for(c3, r3), 1);
  /* At most MGRI_PENDING_MAX parked per connection. */
  for (unsigned i = 0; i < MGRI_PENDING_MAX; i++) {
    acquire(C, lk, mgr_bool(true), mgr_int(100));
    assert_int_equal(H.nrep, 0);
  }
  err(callc(C, MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_int(100))),
      MGR_ELIMIT, NULL);
}

static void test_lock_destroyed_while_waiting(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0); /* another session: does not hold lk */
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 1);
  uint64_t rb = acquire(b, lk, mgr_bool(true), mgr_nil());
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_RELEASE, lk, NULL, 0); /* last reference */
  assert_int_equal(mgri_store_object_info(H.s, lk, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
  err(reply_for(b, rb), MGR_ENOTFOUND, NULL);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  err(callc(b, MGRI_OP_LOCK_RELEASE, lk, NULL, 0), MGR_ENOTFOUND, NULL);
}

/* Checks spec R-8.6-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_shutdown_answers_parked(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(mgr_bool(true), mgr_nil())), 1);
  uint64_t rb = acquire(b, lk, mgr_bool(true), mgr_nil());
  ok(call(MGRI_OP_SHUTDOWN, 0, NULL, 0));
  assert_int_equal(H.last_action, MGRI_DISPATCH_SHUTDOWN);
  mgri_h_clear(&H);
  mgri_store_shutdown(H.s);
  err(reply_for(b, rb), MGR_ESHUTDOWN, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_var, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_lock_basic, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_lock_fifo_and_timeouts, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_owner_death, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_rlock, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_parked_of_closed_conn, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_lock_destroyed_while_waiting,
                                      su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_answers_parked, su_setup,
                                      su_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
