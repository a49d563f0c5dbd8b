/* mgr tests — the Event (spec 9.10, waiting ops 9.7): every op and error
 * through the pure dispatch path (waiters in FIFO order, deadlines driven
 * by an injected clock, connections closing or deaf while parked, the
 * event destroyed, shutdown, BATCH, DUMP), then against a real manager
 * with forked processes waiting on one event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>
#include <signal.h>
#include <time.h>

#include "client_util.h"
#include "server_util.h"

#define SEC 1000000000LL
#define NIL mgr_nil()
#define B(x) mgr_bool(x)
#define ARR(...)                                                               \
  mgr_array((mgr_value[]){__VA_ARGS__},                                        \
            sizeof((mgr_value[]){__VA_ARGS__}) / sizeof(mgr_value))
#define SUB(op, oid, args) ARR(I(op), I((int64_t)(oid)), args)
#define NOARGS mgr_array(NULL, 0)

/* --- harness helpers --------------------------------------------------------- */

static void is_bool(mgri_hreply *r, bool v) {
  ok(r);
  assert_int_equal(r->result.type, MGR_T_BOOL);
  assert_int_equal(r->result.u.b, v);
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

/* EVENT_WAIT on c with args (a, n); the rid used (the reply may be parked). */
static uint64_t wait_on(mgri_sconn *c, uint64_t ev, const mgr_value *a,
                        size_t n) {
  mgri_h_clear(&H);
  mgri_h_call(&H, c, MGRI_OP_EVENT_WAIT, ev, a, n);
  return H.rid;
}

/* DUMP's state of object id. */
static const mgr_value *dump_state(uint64_t id) {
  mgri_hreply *r = call(MGRI_OP_DUMP, id, NULL, 0);
  ok(r);
  mgr_value k = T("state");
  const mgr_value *st = mgr_map_get(&r->result, &k);
  assert_non_null(st);
  return st;
}

static void dump_is(uint64_t ev, bool set, int64_t waiters) {
  const mgr_value *st = dump_state(ev);
  assert_int_equal(st->type, MGR_T_MAP);
  assert_int_equal(st->u.a.len, 2);
  mgr_value ks = T("set"), kw = T("waiters");
  const mgr_value *s = mgr_map_get(st, &ks), *w = mgr_map_get(st, &kw);
  assert_non_null(s);
  assert_non_null(w);
  assert_int_equal(s->type, MGR_T_BOOL);
  assert_int_equal(s->u.b, set);
  assert_int_equal(w->type, MGR_T_INT);
  assert_int_equal(w->u.i, waiters);
}

/* --- harness tests ----------------------------------------------------------- */

static void test_create(void **st) {
  (void)st;
  assert_true(mgri_h_create(&H, C, MGR_K_EVENT, NULL) > 0);
  mgr_value nil = NIL;
  assert_true(mgri_h_create(&H, C, MGR_K_EVENT, &nil) > 0);
  err(call(MGRI_OP_CREATE, 0, A(I(MGR_K_EVENT), I(1))), MGR_ETYPE,
      "TypeError: Event() takes no initial value");
  err(call(MGRI_OP_CREATE, 0, A(I(MGR_K_EVENT), B(false))), MGR_ETYPE, NULL);
  /* OPEN checks init even when the object exists. */
  mgri_hreply *r = call(MGRI_OP_OPEN, 0, A(T("ev"), I(MGR_K_EVENT)));
  ok(r);
  assert_true(r->result.u.a.items[1].u.b);
  r = call(MGRI_OP_OPEN, 0, A(T("ev"), I(MGR_K_EVENT), NIL));
  ok(r);
  assert_false(r->result.u.a.items[1].u.b);
  err(call(MGRI_OP_OPEN, 0, A(T("ev"), I(MGR_K_EVENT), T("x"))), MGR_ETYPE,
      NULL);
  /* Under another kind: TYPE. */
  err(call(MGRI_OP_OPEN, 0, A(T("ev"), I(MGR_K_LOCK))), MGR_ETYPE, NULL);
}

static void test_set_clear_is_set(void **st) {
  (void)st;
  uint64_t ev = mgri_h_create(&H, C, MGR_K_EVENT, NULL);
  is_bool(call(MGRI_OP_EVENT_IS_SET, ev, NULL, 0), false);
  dump_is(ev, false, 0);
  ok(call(MGRI_OP_EVENT_SET, ev, NULL, 0));
  assert_int_equal(call(MGRI_OP_EVENT_SET, ev, NULL, 0)->result.type,
                   MGR_T_NIL);
  is_bool(call(MGRI_OP_EVENT_IS_SET, ev, NULL, 0), true);
  dump_is(ev, true, 0);
  /* A set event answers at once, whatever the timeout. */
  is_bool(call(MGRI_OP_EVENT_WAIT, ev, NULL, 0), true);
  is_bool(call(MGRI_OP_EVENT_WAIT, ev, A(NIL)), true);
  is_bool(call(MGRI_OP_EVENT_WAIT, ev, A(I(0))), true);
  is_bool(call(MGRI_OP_EVENT_WAIT, ev, A(mgr_float(2.5))), true);
  ok(call(MGRI_OP_EVENT_CLEAR, ev, NULL, 0));
  ok(call(MGRI_OP_EVENT_CLEAR, ev, NULL, 0));
  is_bool(call(MGRI_OP_EVENT_IS_SET, ev, NULL, 0), false);
  /* Timeout 0 (or -0.0) answers false at once. */
  is_bool(call(MGRI_OP_EVENT_WAIT, ev, A(I(0))), false);
  is_bool(call(MGRI_OP_EVENT_WAIT, ev, A(mgr_float(0.0))), false);
  is_bool(call(MGRI_OP_EVENT_WAIT, ev, A(mgr_float(-0.0))), false);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  /* Arity: the dispatch's TYPE. */
  err(call(MGRI_OP_EVENT_SET, ev, A(I(1))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_EVENT_CLEAR, ev, A(I(1))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_EVENT_IS_SET, ev, A(I(1))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_EVENT_WAIT, ev, A(I(1), I(1))), MGR_ETYPE, NULL);
  /* Event ops on another kind, other kinds' ops on an event: BADOP. */
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  err(call(MGRI_OP_EVENT_SET, d, NULL, 0), MGR_EBADOP, NULL);
  err(call(MGRI_OP_LOCK_LOCKED, ev, NULL, 0), MGR_EBADOP, NULL);
  err(call(MGRI_OP_EVENT_IS_SET, 999, NULL, 0), MGR_ENOTFOUND, NULL);
}

static void test_wait_timeout_args(void **st) {
  (void)st;
  uint64_t ev = mgri_h_create(&H, C, MGR_K_EVENT, NULL);
  err(call(MGRI_OP_EVENT_WAIT, ev, A(T("1"))), MGR_ETYPE,
      "TypeError: timeout must be a number or None, not str");
  err(call(MGRI_OP_EVENT_WAIT, ev, A(B(true))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_EVENT_WAIT, ev, A(mgr_float(-0.5))), MGR_EVALUE,
      "ValueError: timeout value must be a non-negative number");
  err(call(MGRI_OP_EVENT_WAIT, ev, A(I(-2))), MGR_EVALUE, NULL);
  err(call(MGRI_OP_EVENT_WAIT, ev, A(mgr_float(NAN))), MGR_EVALUE, NULL);
  /* Checked even when the flag is set (spec 9.7). */
  ok(call(MGRI_OP_EVENT_SET, ev, NULL, 0));
  err(call(MGRI_OP_EVENT_WAIT, ev, A(T("1"))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_EVENT_WAIT, ev, A(I(-2))), MGR_EVALUE, NULL);
  ok(call(MGRI_OP_EVENT_CLEAR, ev, NULL, 0));
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  /* No timeout in every spelling parks without a deadline. */
  wait_on(C, ev, NULL, 0);
  wait_on(C, ev, A(NIL));
  wait_on(C, ev, A(I(-1)));
  wait_on(C, ev, A(mgr_float(-1.0)));
  wait_on(C, ev, A(mgr_float(INFINITY)));
  wait_on(C, ev, A(mgr_float(1e300)));
  assert_int_equal(H.nrep, 0);
  assert_int_equal(mgri_store_parked_count(H.s), 6);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  dump_is(ev, false, 6);
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_EVENT_SET, ev, NULL, 0);
  assert_int_equal(H.nrep, 7); /* six waiters, then the SET itself */
  for (size_t i = 0; i < 6; i++) {
    assert_int_equal(H.rep[i].status, MGR_OK);
    assert_true(H.rep[i].result.type == MGR_T_BOOL && H.rep[i].result.u.b);
  }
  assert_int_equal(H.rep[6].rid, H.rid);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
}

/* Waiters of several connections: deadlines answer false, SET answers the
 * others true, oldest first; a SET finding a waiter past its deadline
 * (before the clock ticked) answers it false. */
static void test_waiters_fifo_and_deadlines(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0), *b = mgri_h_conn(&H, 0),
             *c = mgri_h_conn(&H, 0), *d = mgri_h_conn(&H, 0);
  uint64_t ev = mgri_h_create(&H, C, MGR_K_EVENT, NULL);
  int64_t t0 = H.now;
  uint64_t ra = wait_on(a, ev, NULL, 0);
  uint64_t rb = wait_on(b, ev, A(mgr_float(1.5)));
  uint64_t rc = wait_on(c, ev, A(I(3)));
  uint64_t rd = wait_on(d, ev, A(I(10)));
  assert_int_equal(H.nrep, 0);
  assert_int_equal(mgri_store_parked_count(H.s), 4);
  assert_int_equal(mgri_store_next_deadline(H.s), t0 + 3 * SEC / 2);
  dump_is(ev, false, 4);
  /* Just before b's deadline: nothing; at it: b gets false. */
  mgri_h_clear(&H);
  mgri_store_tick(H.s, t0 + 3 * SEC / 2 - 1);
  assert_int_equal(H.nrep, 0);
  mgri_store_tick(H.s, t0 + 3 * SEC / 2);
  assert_int_equal(H.nrep, 1);
  is_bool(reply_for(b, rb), false);
  dump_is(ev, false, 3);
  /* c's deadline passed, the clock not ticked yet: the SET at that time
   * answers c false (it timed out first), a and d true, in FIFO order. */
  H.now = t0 + 5 * SEC;
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_EVENT_SET, ev, NULL, 0);
  assert_int_equal(H.nrep, 4);
  assert_ptr_equal(H.rep[0].conn, a);
  assert_ptr_equal(H.rep[1].conn, c);
  assert_ptr_equal(H.rep[2].conn, d);
  is_bool(reply_for(a, ra), true);
  is_bool(reply_for(c, rc), false);
  is_bool(reply_for(d, rd), true);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  dump_is(ev, true, 0);
  /* Clear, wait again: a new SET after a CLEAR wakes the new waiters. */
  ok(call(MGRI_OP_EVENT_CLEAR, ev, NULL, 0));
  uint64_t ra2 = wait_on(a, ev, A(I(1)));
  mgri_h_clear(&H);
  mgri_h_call(&H, b, MGRI_OP_EVENT_SET, ev, NULL, 0);
  is_bool(reply_for(a, ra2), true);
  ok(reply_for(b, H.rid));
}

static void test_conn_closed_while_waiting(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0), *b = mgri_h_conn(&H, 0);
  uint64_t ev = mgri_h_create(&H, C, MGR_K_EVENT, NULL);
  wait_on(a, ev, A(I(10)));
  wait_on(a, ev, NULL, 0);
  uint64_t rb = wait_on(b, ev, NULL, 0);
  assert_int_equal(mgri_store_parked_count(H.s), 3);
  mgri_h_clear(&H);
  mgri_h_close(&H, a);
  assert_int_equal(H.nrep, 0); /* dropped without a reply */
  assert_int_equal(mgri_store_parked_count(H.s), 1);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  dump_is(ev, false, 1);
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_EVENT_SET, ev, NULL, 0);
  assert_int_equal(H.nrep, 2);
  is_bool(reply_for(b, rb), true);
  /* A waiter whose reply cannot be delivered (its connection closing) is
   * answered and gone all the same: nothing is left parked. */
  ok(call(MGRI_OP_EVENT_CLEAR, ev, NULL, 0));
  wait_on(b, ev, NULL, 0);
  uint64_t rc = wait_on(C, ev, NULL, 0);
  mgri_h_deafen(&H, b);
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_EVENT_SET, ev, NULL, 0);
  is_bool(reply_for(C, rc), true);
  assert_int_equal(H.nrep, 2); /* C's wait and its SET; b's went nowhere */
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(mgri_sconn_parked(b), 0);
  /* At most MGRI_PENDING_MAX parked per connection. */
  ok(call(MGRI_OP_EVENT_CLEAR, ev, NULL, 0));
  for (unsigned i = 0; i < MGRI_PENDING_MAX; i++) {
    wait_on(C, ev, A(I(100)));
    assert_int_equal(H.nrep, 0);
  }
  err(callc(C, MGRI_OP_EVENT_WAIT, ev, A(I(100))), MGR_ELIMIT, NULL);
  /* A wait that need not park is answered even then. */
  is_bool(callc(C, MGRI_OP_EVENT_WAIT, ev, A(I(0))), false);
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_EVENT_SET, ev, NULL, 0);
  assert_int_equal(H.nrep, MGRI_PENDING_MAX + 1);
}

static void test_destroyed_while_waiting(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0); /* another session: does not hold ev */
  uint64_t ev = mgri_h_create(&H, C, MGR_K_EVENT, NULL);
  uint64_t r1 = wait_on(b, ev, NULL, 0);
  uint64_t r2 = wait_on(b, ev, A(I(5)));
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_RELEASE, ev, NULL, 0); /* the last reference */
  assert_int_equal(mgri_store_object_info(H.s, ev, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
  err(reply_for(b, r1), MGR_ENOTFOUND, "LookupError: the event was destroyed");
  err(reply_for(b, r2), MGR_ENOTFOUND, NULL);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  err(callc(b, MGRI_OP_EVENT_WAIT, ev, NULL, 0), MGR_ENOTFOUND, NULL);
}

static void test_shutdown_answers_waiters(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t ev = mgri_h_create(&H, C, MGR_K_EVENT, NULL);
  uint64_t rb = wait_on(b, ev, A(I(30)));
  ok(call(MGRI_OP_SHUTDOWN, 0, NULL, 0));
  assert_int_equal(H.last_action, MGRI_DISPATCH_SHUTDOWN);
  mgri_h_clear(&H);
  mgri_store_shutdown(H.s);
  err(reply_for(b, rb), MGR_ESHUTDOWN, NULL);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
}

static void test_batch(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t ev = mgri_h_create(&H, C, MGR_K_EVENT, NULL);
  uint64_t rb = wait_on(b, ev, NULL, 0);
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_BATCH, 0,
              A(ARR(SUB(MGRI_OP_EVENT_IS_SET, ev, NOARGS),
                    SUB(MGRI_OP_EVENT_WAIT, ev, NOARGS),
                    SUB(MGRI_OP_EVENT_WAIT, ev, ARR(I(0))),
                    SUB(MGRI_OP_EVENT_SET, ev, NOARGS),
                    SUB(MGRI_OP_EVENT_IS_SET, ev, NOARGS),
                    SUB(MGRI_OP_EVENT_CLEAR, ev, NOARGS))));
  /* b's waiter is answered by the batch's SET, before the batch's reply. */
  is_bool(reply_for(b, rb), true);
  mgri_hreply *r = reply_for(C, H.rid);
  ok(r);
  assert_int_equal(r->result.u.a.len, 6);
  const mgr_value *s = r->result.u.a.items;
  int64_t value = (int64_t)mgri_err_to_wire(MGR_EVALUE);
  int64_t codes[6] = {0, value, value, 0, 0, 0};
  for (size_t i = 0; i < 6; i++)
    assert_int_equal(s[i].u.a.items[0].u.i, codes[i]);
  assert_false(s[0].u.a.items[1].u.b);
  assert_true(s[4].u.a.items[1].u.b);
  is_bool(call(MGRI_OP_EVENT_IS_SET, ev, NULL, 0), false);
}

/* The cost estimate's size: waiters + 1 (spec 14.2.4). */
static void test_cost(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t ev = mgri_h_create(&H, C, MGR_K_EVENT, NULL);
  ok(call(MGRI_OP_EVENT_SET, ev, NULL, 0));
  assert_int_equal(mgri_store_last_cost(H.s), 2);
  ok(call(MGRI_OP_EVENT_CLEAR, ev, NULL, 0));
  for (int i = 0; i < 5; i++)
    wait_on(b, ev, NULL, 0);
  is_bool(call(MGRI_OP_EVENT_IS_SET, ev, NULL, 0), false);
  assert_int_equal(mgri_store_last_cost(H.s), 1);
  ok(call(MGRI_OP_EVENT_SET, ev, NULL, 0));
  assert_int_equal(mgri_store_last_cost(H.s), 7);
}

/* --- against a real manager ---------------------------------------------------- */

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

static pid_t fork_flushed(void) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  return pid;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* DUMP's waiter count of event e. */
static int64_t waiters_of(mgr_client *m, mgr_proxy *e) {
  mgr_value d;
  assert_ok(m, mgr_dump(m, mgr_proxy_id(e), &d));
  mgr_value ks = T("state"), kw = T("waiters");
  const mgr_value *st = mgr_map_get(&d, &ks);
  assert_non_null(st);
  const mgr_value *w = mgr_map_get(st, &kw);
  assert_non_null(w);
  assert_int_equal(w->type, MGR_T_INT);
  int64_t n = w->u.i;
  mgr_value_free(&d);
  return n;
}

/* Polls DUMP (one round trip each, no sleeping) until e has exactly n
 * waiters; a 60 s watchdog fails the test instead of hanging. */
static void await_waiters(mgr_client *m, mgr_proxy *e, int64_t n) {
  int64_t until = mono_ms() + 60000;
  while (waiters_of(m, e) != n)
    if (mono_ms() > until)
      fail_msg("the event never had %lld waiters", (long long)n);
}

static void test_client_basic(void **state) {
  (void)state;
  mgr_proxy *e = NULL;
  bool b = true;
  assert_ok(M, mgr_event_new(M, &e));
  assert_int_equal(mgr_proxy_kind(e), MGR_K_EVENT);
  assert_ok(M, mgr_event_is_set(e, &b));
  assert_false(b);
  b = true;
  assert_ok(M, mgr_event_wait(e, 0, &b));
  assert_false(b);
  /* A short timeout in the manager: false after it. */
  b = true;
  int64_t t0 = mono_ms();
  assert_ok(M, mgr_event_wait(e, 30, &b));
  assert_false(b);
  assert_true(mono_ms() - t0 >= 29);
  assert_ok(M, mgr_event_set(e));
  assert_ok(M, mgr_event_is_set(e, &b));
  assert_true(b);
  assert_ok(M, mgr_event_wait(e, -1, &b));
  assert_true(b);
  assert_ok(M, mgr_event_wait(e, 0, NULL));
  assert_ok(M, mgr_event_wait(e, 1500, &b));
  assert_true(b);
  assert_ok(M, mgr_event_clear(e));
  assert_ok(M, mgr_event_is_set(e, &b));
  assert_false(b);
  /* NULL arguments: nothing sent. */
  assert_int_equal(mgr_event_new(NULL, &e), MGR_EINVAL);
  assert_int_equal(mgr_event_new(M, NULL), MGR_EINVAL);
  assert_int_equal(mgr_event_set(NULL), MGR_EINVAL);
  assert_int_equal(mgr_event_clear(NULL), MGR_EINVAL);
  assert_int_equal(mgr_event_is_set(NULL, &b), MGR_EINVAL);
  assert_int_equal(mgr_event_is_set(e, NULL), MGR_EINVAL);
  assert_int_equal(mgr_event_wait(NULL, 0, &b), MGR_EINVAL);
  /* A proxy of another kind: BADOP from the manager. */
  mgr_proxy *d = NULL;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  assert_int_equal(mgr_event_set(d), MGR_EBADOP);
  assert_int_equal(mgr_event_wait(d, -1, &b), MGR_EBADOP);
  assert_ok(M, mgr_release(d));
  /* mgr_open: one named event, two proxies. */
  mgr_proxy *n1 = NULL, *n2 = NULL;
  bool created = false;
  assert_ok(M,
            mgr_open(M, "nsevent-ev", MGR_K_EVENT, NULL, true, &n1, &created));
  assert_true(created);
  assert_ok(M,
            mgr_open(M, "nsevent-ev", MGR_K_EVENT, NULL, true, &n2, &created));
  assert_false(created);
  assert_ok(M, mgr_event_set(n1));
  assert_ok(M, mgr_event_wait(n2, -1, &b));
  assert_true(b);
  assert_ok(M, mgr_unlink(M, "nsevent-ev"));
  assert_ok(M, mgr_release(n1));
  assert_ok(M, mgr_release(n2));
  assert_ok(M, mgr_release(e));
}

#define NKIDS 6

/* NKIDS children wait on one event (some with a long timeout); once DUMP shows
 * all NKIDS parked, the parent sets it: every child's wait returns true. */
static void test_fork_waiters_all_woken(void **state) {
  (void)state;
  mgr_proxy *e = NULL;
  assert_ok(M, mgr_event_new(M, &e));
  pid_t kids[NKIDS];
  for (int i = 0; i < NKIDS; i++) {
    kids[i] = fork_flushed();
    if (kids[i] == 0) {
      bool got = false;
      int rc = mgr_event_wait(e, i % 2 ? 600000 : -1, &got);
      CU_CHECK(1, rc == MGR_OK);
      CU_CHECK(2, got);
      bool set = false;
      CU_CHECK(3, mgr_event_is_set(e, &set) == MGR_OK && set);
      _exit(0);
    }
  }
  await_waiters(M, e, NKIDS);
  bool b = true;
  assert_ok(M, mgr_event_is_set(e, &b));
  assert_false(b);
  assert_ok(M, mgr_event_set(e));
  for (int i = 0; i < NKIDS; i++)
    assert_child_ok(kids[i]);
  assert_int_equal(waiters_of(M, e), 0);
  assert_ok(M, mgr_release(e));
}

/* Waiters that time out get false and leave the others parked; a child
 * killed while waiting is dropped (its waiter goes); the rest are woken. */
static void test_fork_timeouts_and_death(void **state) {
  (void)state;
  mgr_proxy *e = NULL;
  assert_ok(M, mgr_event_new(M, &e));
  pid_t patient = fork_flushed();
  if (patient == 0) {
    bool got = false;
    CU_CHECK(1, mgr_event_wait(e, -1, &got) == MGR_OK && got);
    _exit(0);
  }
  pid_t doomed = fork_flushed();
  if (doomed == 0) {
    mgr_event_wait(e, -1, NULL);
    _exit(99); /* never: it is killed while waiting */
  }
  await_waiters(M, e, 2);
  pid_t hasty = fork_flushed();
  if (hasty == 0) {
    bool got = true;
    CU_CHECK(1, mgr_event_wait(e, 20, &got) == MGR_OK && !got);
    _exit(0);
  }
  assert_child_ok(hasty);
  assert_int_equal(waiters_of(M, e), 2);
  kill(doomed, SIGKILL);
  assert_int_equal(cu_wait(doomed), 1000 + SIGKILL);
  await_waiters(M, e, 1);
  assert_ok(M, mgr_event_set(e));
  assert_child_ok(patient);
  assert_ok(M, mgr_release(e));
}

/* A manager shutting down answers its waiters ESHUTDOWN. */
static void test_fork_shutdown_while_waiting(void **state) {
  (void)state;
  if (getenv("MGR_TEST_ADDRESS")) skip(); /* not ours to shut down */
  mgr_client *m = cu_start();
  mgr_proxy *e = NULL;
  assert_ok(m, mgr_event_new(m, &e));
  pid_t kid = fork_flushed();
  if (kid == 0) {
    int rc = mgr_event_wait(e, -1, NULL);
    CU_CHECK(1, rc == MGR_ESHUTDOWN);
    _exit(0);
  }
  await_waiters(m, e, 1);
  /* The child's session holds the event too: it stays, and so does the
   * wait. */
  assert_ok(m, mgr_release(e));
  assert_ok(m, mgr_shutdown(m));
  assert_child_ok(kid);
}

int main(void) {
  const struct CMUnitTest harness[] = {
      cmocka_unit_test_setup_teardown(test_create, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_set_clear_is_set, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_wait_timeout_args, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_waiters_fifo_and_deadlines, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_conn_closed_while_waiting, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_destroyed_while_waiting, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_answers_waiters, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_batch, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_cost, su_setup, su_teardown),
  };
  const struct CMUnitTest client[] = {
      cmocka_unit_test(test_client_basic),
      cmocka_unit_test(test_fork_waiters_all_woken),
      cmocka_unit_test(test_fork_timeouts_and_death),
      cmocka_unit_test(test_fork_shutdown_while_waiting),
  };
  int rc = cmocka_run_group_tests_name("harness", harness, NULL, NULL);
  rc |= cmocka_run_group_tests_name("client", client, group_setup,
                                    group_teardown);
  return rc;
}
