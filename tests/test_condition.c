/* mgr tests — Condition (spec 9.11): through the pure dispatch path (its
 * own RLock and a shared Lock/RLock, FIFO notify, recursion counts
 * restored, deadlines by an injected clock, owner death, connections
 * closing, undeliverable grants, destruction while waiters sit in a shared
 * lock's FIFO, BATCH, DUMP), then the C proxies against a real manager,
 * with forked producers and consumers. No sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <signal.h>
#include <errno.h>

#include <cmocka.h>

#include "client_util.h"
#include "proto/ops.h"
#include "server/kinds/kinds.h"
#include "server/objects.h"
#include "server_util.h"

#define SEC 1000000000LL
#define NIL mgr_nil()
#define B(x) mgr_bool(x)

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

/* A request on c whose reply may be parked; returns its rid. Replies of
 * earlier calls are forgotten. */
static uint64_t send_req(mgri_sconn *c, uint64_t op, uint64_t oid,
                         const mgr_value *a, size_t n) {
  mgri_h_clear(&H);
  mgri_h_call(&H, c, op, oid, a, n);
  return H.rid;
}

static mgri_hreply *cacquire(mgri_sconn *c, uint64_t cv) {
  return callc(c, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL));
}

/* COND_WAIT [timeout] on c (it must park); returns its rid. */
static uint64_t cwait(mgri_sconn *c, uint64_t cv, mgr_value timeout) {
  uint64_t rid = send_req(c, MGRI_OP_COND_WAIT, cv, A(timeout));
  assert_null(reply_for(c, rid));
  return rid;
}

static uint64_t cwait0(mgri_sconn *c, uint64_t cv) {
  uint64_t rid = send_req(c, MGRI_OP_COND_WAIT, cv, NULL, 0);
  assert_null(reply_for(c, rid));
  return rid;
}

static const mgr_value *map_get(const mgr_value *m, const char *key) {
  assert_int_equal(m->type, MGR_T_MAP);
  for (size_t i = 0; i < m->u.a.len; i++) {
    const mgr_value *k = &m->u.a.items[2 * i];
    if (k->type == MGR_T_TEXT && k->u.s.len == strlen(key) &&
        !memcmp(k->u.s.ptr, key, k->u.s.len))
      return &m->u.a.items[2 * i + 1];
  }
  fail_msg("no key '%s'", key);
  return NULL;
}

/* DUMP's state of object id, the last reply (valid until the next call). */
static const mgr_value *dump_state(uint64_t id) {
  mgri_hreply *r = call(MGRI_OP_DUMP, id, NULL, 0);
  ok(r);
  return map_get(&r->result, "state");
}

static int64_t state_int(uint64_t cv, const char *key) {
  const mgr_value *v = map_get(dump_state(cv), key);
  assert_int_equal(v->type, MGR_T_INT);
  return v->u.i;
}

/* The condition's lock: held or not, its depth, its FIFO's length. */
static void lock_is(uint64_t cv, bool locked, int64_t depth, int64_t waiters) {
  const mgr_value *ls = map_get(dump_state(cv), "lock_state");
  assert_int_equal(map_get(ls, "locked")->u.b, locked);
  assert_int_equal(map_get(ls, "depth")->u.i, depth);
  assert_int_equal(map_get(ls, "waiters")->u.i, waiters);
}

static uint64_t refs_of(uint64_t id) {
  uint64_t refs = 0;
  assert_int_equal(mgri_store_object_info(H.s, id, NULL, &refs, NULL), MGR_OK);
  return refs;
}

/* --- creation ---------------------------------------------------------- */

static void test_create(void **st) {
  (void)st;
  mgr_value nil = NIL;
  assert_true(mgri_h_create(&H, C, MGR_K_CONDITION, NULL));
  assert_true(mgri_h_create(&H, C, MGR_K_CONDITION, &nil));
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  uint64_t rl = mgri_h_create(&H, C, MGR_K_RLOCK, NULL);
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  mgr_value r = mgri_h_ref(MGR_K_LOCK, lk);
  uint64_t c1 = mgri_h_create(&H, C, MGR_K_CONDITION, &r);
  assert_true(c1);
  assert_int_equal(refs_of(lk), 2); /* the session and the condition */
  r = mgri_h_ref(MGR_K_RLOCK, rl);
  assert_true(mgri_h_create(&H, C, MGR_K_CONDITION, &r));
  /* Not a lock: TYPE (Python: AttributeError on lock.acquire). */
  err(call(MGRI_OP_CREATE, 0, A(mgr_int(MGR_K_CONDITION), mgr_int(5))),
      MGR_ETYPE,
      "TypeError: Condition() lock must be a Lock or RLock, not int");
  err(call(MGRI_OP_CREATE, 0,
           A(mgr_int(MGR_K_CONDITION), mgri_h_ref(MGR_K_DICT, d))),
      MGR_ETYPE, "not DictProxy");
  err(call(MGRI_OP_CREATE, 0,
           A(mgr_int(MGR_K_CONDITION),
             mgr_array(A(mgri_h_ref(MGR_K_LOCK, lk))))),
      MGR_ETYPE, "not list");
  /* A dead lock, or a lock ref naming something else: NOTFOUND. */
  err(call(MGRI_OP_CREATE, 0,
           A(mgr_int(MGR_K_CONDITION), mgri_h_ref(MGR_K_LOCK, 999))),
      MGR_ENOTFOUND, NULL);
  err(call(MGRI_OP_CREATE, 0,
           A(mgr_int(MGR_K_CONDITION), mgri_h_ref(MGR_K_LOCK, d))),
      MGR_ENOTFOUND, NULL);
  /* OPEN checks init even when the name exists. */
  ok(call(MGRI_OP_OPEN, 0, A(mgr_text("cv"), mgr_int(MGR_K_CONDITION))));
  err(call(MGRI_OP_OPEN, 0,
           A(mgr_text("cv"), mgr_int(MGR_K_CONDITION), mgr_text("x"))),
      MGR_ETYPE, "Lock or RLock");
  mgri_hreply *o =
      call(MGRI_OP_OPEN, 0, A(mgr_text("cv"), mgr_int(MGR_K_CONDITION), NIL));
  ok(o);
  assert_false(o->result.u.a.items[1].u.b); /* found, not created */
  /* The condition keeps its lock alive: released by the session, the lock
   * lives until the condition goes. */
  ok(call(MGRI_OP_RELEASE, lk, NULL, 0));
  assert_int_equal(refs_of(lk), 1);
  ok(call(MGRI_OP_COND_ACQUIRE, c1, A(B(true), NIL)));
  ok(call(MGRI_OP_COND_RELEASE, c1, NULL, 0));
  ok(call(MGRI_OP_RELEASE, c1, NULL, 0));
  assert_int_equal(mgri_store_object_info(H.s, c1, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
  assert_int_equal(mgri_store_object_info(H.s, lk, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
}

/* --- acquire and release (its own RLock) -----------------------------------
 */

/* Checks spec R-13.2-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_acquire_release(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c3 = mgri_h_conn(&H, 0);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  /* Arguments (spec 13.2). */
  err(call(MGRI_OP_COND_ACQUIRE, cv, A(mgr_int(1), NIL)), MGR_ETYPE,
      "blocking must be bool");
  err(call(MGRI_OP_COND_ACQUIRE, cv, A(B(true), mgr_text("1"))), MGR_ETYPE,
      "timeout");
  err(call(MGRI_OP_COND_ACQUIRE, cv, A(B(true), mgr_int(-2))), MGR_EVALUE,
      NULL);
  err(call(MGRI_OP_COND_ACQUIRE, cv, A(B(false), mgr_int(1))), MGR_EVALUE,
      "non-blocking");
  err(call(MGRI_OP_COND_ACQUIRE, cv, A(B(true))), MGR_ETYPE, NULL); /* arity */
  err(call(MGRI_OP_COND_RELEASE, cv, NULL, 0), MGR_ESTATE,
      "RuntimeError: cannot release un-acquired lock");
  /* Recursive: it is an RLock. */
  is_int(call(MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL)), 1);
  is_int(call(MGRI_OP_COND_ACQUIRE, cv, A(B(false), NIL)), 1);
  lock_is(cv, true, 2, 0);
  is_int(callc(b, MGRI_OP_COND_ACQUIRE, cv, A(B(false), NIL)), 0);
  is_int(callc(b, MGRI_OP_COND_ACQUIRE, cv, A(B(true), mgr_int(0))), 0);
  err(callc(b, MGRI_OP_COND_RELEASE, cv, NULL, 0), MGR_ESTATE, "un-acquired");
  /* Parked acquires: FIFO, deadlines. */
  uint64_t rb = send_req(b, MGRI_OP_COND_ACQUIRE, cv, A(B(true), mgr_int(2)));
  uint64_t r3 = send_req(c3, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL));
  assert_int_equal(mgri_store_parked_count(H.s), 2);
  lock_is(cv, true, 2, 2);
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now + 2 * SEC - 1);
  assert_int_equal(H.nrep, 0);
  mgri_store_tick(H.s, H.now + 2 * SEC);
  is_int(reply_for(b, rb), 0);
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
  assert_null(reply_for(c3, r3));
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(c3, r3), 1);
  err(call(MGRI_OP_COND_RELEASE, cv, NULL, 0), MGR_ESTATE, NULL);
  ok(callc(c3, MGRI_OP_COND_RELEASE, cv, NULL, 0));
  lock_is(cv, false, 0, 0);
  /* Kinds: a condition has no lock ops, a lock no condition ops. */
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  err(call(MGRI_OP_LOCK_ACQUIRE, cv, A(B(true), NIL)), MGR_EBADOP, NULL);
  err(call(MGRI_OP_LOCK_LOCKED, cv, NULL, 0), MGR_EBADOP, NULL);
  err(call(MGRI_OP_COND_WAIT, lk, NULL, 0), MGR_EBADOP, NULL);
  err(call(MGRI_OP_COND_NOTIFY, lk, NULL, 0), MGR_EBADOP, NULL);
}

/* --- argument and state errors of WAIT and NOTIFY ------------------------- */

/* Checks spec R-9.11-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_wait_notify_errors(void **st) {
  (void)st;
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  mgri_sconn *b = mgri_h_conn(&H, 0);
  err(call(MGRI_OP_COND_WAIT, cv, NULL, 0), MGR_ESTATE,
      "RuntimeError: cannot wait on un-acquired lock");
  err(call(MGRI_OP_COND_WAIT, cv, A(mgr_int(1))), MGR_ESTATE, NULL);
  err(call(MGRI_OP_COND_NOTIFY, cv, NULL, 0), MGR_ESTATE,
      "RuntimeError: cannot notify on un-acquired lock");
  err(call(MGRI_OP_COND_NOTIFY, cv, A(mgr_int(3))), MGR_ESTATE, NULL);
  err(call(MGRI_OP_COND_NOTIFY_ALL, cv, NULL, 0), MGR_ESTATE,
      "cannot notify on un-acquired lock");
  /* Arguments are checked before the state (spec 8.3). */
  err(call(MGRI_OP_COND_WAIT, cv, A(mgr_text("1"))), MGR_ETYPE,
      "timeout must be a number or None");
  err(call(MGRI_OP_COND_WAIT, cv, A(B(true))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_COND_WAIT, cv, A(mgr_int(-2))), MGR_EVALUE, NULL);
  err(call(MGRI_OP_COND_WAIT, cv, A(mgr_float(__builtin_nan("")))), MGR_EVALUE,
      NULL);
  err(call(MGRI_OP_COND_WAIT, cv, A(NIL, NIL)), MGR_ETYPE, NULL);
  err(call(MGRI_OP_COND_NOTIFY, cv, A(mgr_text("x"))), MGR_ETYPE,
      "TypeError: n must be int, not str");
  err(call(MGRI_OP_COND_NOTIFY, cv, A(B(true))), MGR_ETYPE, "not bool");
  err(call(MGRI_OP_COND_NOTIFY, cv, A(mgr_float(1.0))), MGR_ETYPE, "float");
  err(call(MGRI_OP_COND_NOTIFY, cv, A(NIL)), MGR_ETYPE, NULL);
  err(call(MGRI_OP_COND_NOTIFY, cv, A(mgr_int(-1))), MGR_EVALUE,
      "ValueError: n must be >= 0");
  err(call(MGRI_OP_COND_NOTIFY, cv, A(mgr_int(1), mgr_int(1))), MGR_ETYPE,
      NULL);
  err(call(MGRI_OP_COND_NOTIFY_ALL, cv, A(mgr_int(1))), MGR_ETYPE, NULL);
  /* Held by another connection: still not ours. */
  is_int(callc(b, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL)), 1);
  err(call(MGRI_OP_COND_WAIT, cv, NULL, 0), MGR_ESTATE, NULL);
  err(call(MGRI_OP_COND_NOTIFY, cv, NULL, 0), MGR_ESTATE, NULL);
  err(call(MGRI_OP_COND_NOTIFY_ALL, cv, NULL, 0), MGR_ESTATE, NULL);
  /* Held: notify with no waiter is a no-op, any n. */
  ok(callc(b, MGRI_OP_COND_NOTIFY, cv, NULL, 0));
  ok(callc(b, MGRI_OP_COND_NOTIFY, cv, A(mgr_int(0))));
  ok(callc(b, MGRI_OP_COND_NOTIFY, cv, A(mgr_int(INT64_MAX))));
  ok(callc(b, MGRI_OP_COND_NOTIFY_ALL, cv, NULL, 0));
  assert_int_equal(mgri_store_parked_count(H.s), 0);
}

/* --- notify order -------------------------------------------------------- */

static void test_notify_fifo(void **st) {
  (void)st;
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  mgri_sconn *w[4];
  uint64_t rid[4];
  for (int i = 0; i < 4; i++) {
    w[i] = mgri_h_conn(&H, 0);
    is_int(cacquire(w[i], cv), 1);
    rid[i] = cwait0(w[i], cv); /* releases: the next one acquires */
  }
  assert_int_equal(state_int(cv, "waiters"), 4);
  lock_is(cv, false, 0, 0);
  is_int(cacquire(C, cv), 1);
  /* notify() moves the oldest to the lock, which C still holds. */
  ok(call(MGRI_OP_COND_NOTIFY, cv, NULL, 0));
  assert_int_equal(state_int(cv, "waiters"), 3);
  lock_is(cv, true, 1, 1);
  assert_int_equal(H.nrep, 1);
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(w[0], rid[0]), 1);
  lock_is(cv, true, 1, 0);
  ok(callc(w[0], MGRI_OP_COND_RELEASE, cv, NULL, 0));
  /* notify(2) moves the next two, in order; notify(0) none. */
  is_int(cacquire(C, cv), 1);
  ok(call(MGRI_OP_COND_NOTIFY, cv, A(mgr_int(2))));
  ok(call(MGRI_OP_COND_NOTIFY, cv, A(mgr_int(0))));
  assert_int_equal(state_int(cv, "waiters"), 1);
  lock_is(cv, true, 1, 2);
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(w[1], rid[1]), 1);
  assert_null(reply_for(w[2], rid[2]));
  ok(callc(w[1], MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(w[2], rid[2]), 1);
  /* An acquire that came before the notify is granted before the
   * notified waiter (both wait in the lock's FIFO). */
  uint64_t ra = send_req(C, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL));
  ok(callc(w[2], MGRI_OP_COND_NOTIFY_ALL, cv, NULL, 0));
  assert_int_equal(state_int(cv, "waiters"), 0);
  ok(callc(w[2], MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(C, ra), 1);
  assert_null(reply_for(w[3], rid[3]));
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(w[3], rid[3]), 1);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
}

/* A notified waiter waits for the lock and gets it back with its RLock
 * recursion count. */
static void test_recursion_restored(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  for (int i = 0; i < 3; i++)
    is_int(cacquire(a, cv), 1);
  uint64_t ra = cwait0(a, cv);
  lock_is(cv, false, 0, 0); /* released wholly */
  is_int(cacquire(C, cv), 1);
  is_int(cacquire(C, cv), 1);
  ok(call(MGRI_OP_COND_NOTIFY, cv, NULL, 0));
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
  assert_null(reply_for(a, ra)); /* C still holds it once */
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(a, ra), 1);
  lock_is(cv, true, 3, 0);
  for (int i = 0; i < 3; i++)
    ok(callc(a, MGRI_OP_COND_RELEASE, cv, NULL, 0));
  err(callc(a, MGRI_OP_COND_RELEASE, cv, NULL, 0), MGR_ESTATE, NULL);
  lock_is(cv, false, 0, 0);
}

/* --- timeouts ------------------------------------------------------------ */

static void test_timeouts(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0), *b = mgri_h_conn(&H, 0);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  is_int(cacquire(a, cv), 1);
  is_int(cacquire(a, cv), 1);
  uint64_t ra = cwait(a, cv, mgr_float(1.5));
  assert_int_equal(mgri_store_next_deadline(H.s), H.now + 3 * SEC / 2);
  is_int(cacquire(b, cv), 1);
  /* At the deadline it waits for the lock, not answered until it has it. */
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now + 3 * SEC / 2 - 1);
  assert_int_equal(state_int(cv, "waiters"), 1);
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now + 3 * SEC / 2);
  assert_int_equal(H.nrep, 0);
  assert_int_equal(state_int(cv, "waiters"), 0);
  lock_is(cv, true, 1, 1);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  /* A notify now does not make it notified. */
  ok(callc(b, MGRI_OP_COND_NOTIFY_ALL, cv, NULL, 0));
  ok(callc(b, MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(a, ra), 0);
  lock_is(cv, true, 2, 0);
  /* Timeout 0: answered at the next tick, the lock taken back; nobody
   * else wanted it. */
  H.now += 10 * SEC;
  ra = cwait(a, cv, mgr_int(0));
  lock_is(cv, false, 0, 0);
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now);
  is_int(reply_for(a, ra), 0);
  lock_is(cv, true, 2, 0);
  /* Timeout 0 while an acquire waits: the lock goes to it first. */
  uint64_t rb = send_req(b, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL));
  ra = cwait(a, cv, mgr_float(-0.0));
  is_int(reply_for(b, rb), 1);
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now);
  assert_null(reply_for(a, ra));
  ok(callc(b, MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(a, ra), 0);
  /* No timeout in every spelling: never in the deadline heap. */
  ra = cwait(a, cv, mgr_int(-1));
  is_int(cacquire(a, cv), 1);
  uint64_t r2 = cwait(a, cv, mgr_float(__builtin_inf()));
  is_int(cacquire(a, cv), 1);
  uint64_t r3 = cwait(a, cv, NIL);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  assert_int_equal(state_int(cv, "waiters"), 3);
  is_int(cacquire(C, cv), 1);
  ok(call(MGRI_OP_COND_NOTIFY_ALL, cv, NULL, 0));
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(a, ra), 1);
  (void)r2;
  (void)r3;
}

/* --- owner death -----------------------------------------------------------
 */

static void test_owner_death(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0), *b = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  is_int(cacquire(a, cv), 1);
  uint64_t ra = cwait0(a, cv);
  is_int(cacquire(b, cv), 1);
  is_int(cacquire(b, cv), 1);
  ok(callc(b, MGRI_OP_COND_NOTIFY, cv, NULL, 0));
  mgri_h_clear(&H);
  mgri_h_close(&H, b);         /* dies holding it (twice) */
  is_int(reply_for(a, ra), 3); /* notified, owner died */
  lock_is(cv, true, 1, 0);
  /* Timed out, then the owner dies: 2. */
  ra = cwait(a, cv, mgr_int(1));
  is_int(cacquire(d, cv), 1);
  mgri_store_tick(H.s, H.now + SEC);
  mgri_h_clear(&H);
  mgri_h_close(&H, d);
  is_int(reply_for(a, ra), 2);
  /* The mark is told once; an acquire after a death gets 2. */
  ok(callc(a, MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(cacquire(C, cv), 1);
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(cacquire(a, cv), 1);
  mgri_h_close(&H, a);
  is_int(cacquire(C, cv), 2);
}

/* --- a shared lock ------------------------------------------------------- */

static void test_shared_lock(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0), *b = mgri_h_conn(&H, 0);
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  mgr_value r = mgri_h_ref(MGR_K_LOCK, lk);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, &r);
  /* Acquired directly: the condition sees it held by a. */
  is_int(callc(a, MGRI_OP_LOCK_ACQUIRE, lk, A(B(true), NIL)), 1);
  is_int(callc(b, MGRI_OP_COND_ACQUIRE, cv, A(B(false), NIL)), 0);
  /* A Lock is not recursive: a certain self-deadlock is refused. */
  err(callc(a, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL)), MGR_ESTATE,
      "deadlock");
  uint64_t ra = cwait0(a, cv);
  assert_false(callc(b, MGRI_OP_LOCK_LOCKED, lk, NULL, 0)->result.u.b);
  const mgr_value *s = dump_state(cv);
  assert_int_equal(map_get(s, "lock")->u.i, (int64_t)lk);
  assert_int_equal(map_get(s, "waiters")->u.i, 1);
  is_int(callc(b, MGRI_OP_LOCK_ACQUIRE, lk, A(B(true), NIL)), 1);
  ok(callc(b, MGRI_OP_COND_NOTIFY, cv, NULL, 0));
  ok(callc(b, MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  is_int(reply_for(a, ra), 1);
  mgri_hreply *dr = call(MGRI_OP_DUMP, lk, NULL, 0);
  assert_int_equal(map_get(&dr->result, "owner")->u.i,
                   (int64_t)mgri_sconn_id(a));
  /* A Lock may be released by any connection, through the condition too. */
  ok(callc(b, MGRI_OP_COND_RELEASE, cv, NULL, 0));
  err(callc(b, MGRI_OP_COND_RELEASE, cv, NULL, 0), MGR_ESTATE,
      "release unlocked lock");
  /* A shared RLock: its count restored, whoever acquired it. */
  uint64_t rl = mgri_h_create(&H, C, MGR_K_RLOCK, NULL);
  r = mgri_h_ref(MGR_K_RLOCK, rl);
  uint64_t cv2 = mgri_h_create(&H, C, MGR_K_CONDITION, &r);
  is_int(callc(a, MGRI_OP_LOCK_ACQUIRE, rl, A(B(true), NIL)), 1);
  is_int(callc(a, MGRI_OP_COND_ACQUIRE, cv2, A(B(true), NIL)), 1);
  ra = cwait0(a, cv2);
  is_int(callc(b, MGRI_OP_COND_ACQUIRE, cv2, A(B(true), NIL)), 1);
  ok(callc(b, MGRI_OP_COND_NOTIFY, cv2, NULL, 0));
  /* The lock's owner dies with the notified waiter in its FIFO: lock.c's
   * owner_closed passes it on, result 3. */
  mgri_h_clear(&H);
  mgri_h_close(&H, b);
  is_int(reply_for(a, ra), 3);
  ok(callc(a, MGRI_OP_LOCK_RELEASE, rl, NULL, 0));
  ok(callc(a, MGRI_OP_COND_RELEASE, cv2, NULL, 0));
  err(callc(a, MGRI_OP_LOCK_RELEASE, rl, NULL, 0), MGR_ESTATE, NULL);
  /* Two conditions over one lock: each notifies its own waiters only. */
  uint64_t cv3 = mgri_h_create(&H, C, MGR_K_CONDITION, &r);
  is_int(callc(a, MGRI_OP_COND_ACQUIRE, cv2, A(B(true), NIL)), 1);
  uint64_t r2 = cwait0(a, cv2);
  is_int(cacquire(C, cv3), 1);
  uint64_t r3 = cwait0(C, cv3);
  mgri_sconn *e = mgri_h_conn(&H, 0);
  is_int(callc(e, MGRI_OP_LOCK_ACQUIRE, rl, A(B(true), NIL)), 1);
  ok(callc(e, MGRI_OP_COND_NOTIFY_ALL, cv3, NULL, 0));
  ok(callc(e, MGRI_OP_LOCK_RELEASE, rl, NULL, 0));
  is_int(reply_for(C, r3), 1);
  assert_null(reply_for(a, r2));
  assert_int_equal(state_int(cv2, "waiters"), 1);
}

/* The condition goes while its waiters sit in a shared lock's FIFO: each
 * is answered NOTFOUND; the lock's own waiters stay. */
static void test_destroyed_over_shared_lock(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0), *b = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0), *e = mgri_h_conn(&H, 0),
             *f = mgri_h_conn(&H, 0);
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  mgr_value r = mgri_h_ref(MGR_K_LOCK, lk);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, &r);
  /* e waits on the condition, un-notified; d waits and is notified. */
  is_int(callc(e, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL)), 1);
  uint64_t re = cwait0(e, cv);
  is_int(callc(d, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL)), 1);
  uint64_t rd = cwait(d, cv, mgr_int(100));
  is_int(callc(a, MGRI_OP_LOCK_ACQUIRE, lk, A(B(true), NIL)), 1);
  /* The notify moves the oldest (e); d's deadline moves it (not notified). */
  ok(callc(a, MGRI_OP_COND_NOTIFY, cv, NULL, 0));
  mgri_store_tick(H.s, H.now + 100 * SEC);
  /* b's acquire through the condition, f's directly, parked on the lock. */
  uint64_t rb = send_req(b, MGRI_OP_COND_ACQUIRE, cv, A(B(true), mgr_int(500)));
  uint64_t rf = send_req(f, MGRI_OP_LOCK_ACQUIRE, lk, A(B(true), NIL));
  mgri_hreply *dr = call(MGRI_OP_DUMP, lk, NULL, 0);
  assert_int_equal(map_get(map_get(&dr->result, "state"), "waiters")->u.i, 4);
  assert_int_equal(mgri_store_parked_count(H.s), 4);
  /* Every session lets go of the condition (only C's held it). */
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_RELEASE, cv, NULL, 0);
  assert_int_equal(mgri_store_object_info(H.s, cv, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
  err(reply_for(e, re), MGR_ENOTFOUND, "destroyed");
  err(reply_for(d, rd), MGR_ENOTFOUND, "destroyed");
  err(reply_for(b, rb), MGR_ENOTFOUND, "destroyed");
  assert_null(reply_for(f, rf));
  assert_int_equal(mgri_store_parked_count(H.s), 1);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  assert_int_equal(refs_of(lk), 1);
  assert_int_equal(H.s->st.kind_count[MGR_K_CONDITION], 0);
  assert_int_equal(H.s->st.kind_bytes[MGR_K_CONDITION], 0);
  /* The lock lives on and works. */
  dr = call(MGRI_OP_DUMP, lk, NULL, 0);
  assert_int_equal(map_get(map_get(&dr->result, "state"), "waiters")->u.i, 1);
  ok(callc(a, MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  is_int(reply_for(f, rf), 1);
  err(callc(e, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL)), MGR_ENOTFOUND, NULL);
}

/* The same with its own lock: both FIFOs answered. */
static void test_destroyed_own_lock(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0), *b = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  is_int(cacquire(a, cv), 1);
  uint64_t ra = cwait0(a, cv);
  is_int(cacquire(b, cv), 1);
  uint64_t rb = cwait(b, cv, mgr_int(5));
  is_int(cacquire(d, cv), 1);
  ok(callc(d, MGRI_OP_COND_NOTIFY, cv, NULL, 0));
  uint64_t rc = send_req(C, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL));
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_RELEASE, cv, NULL, 0);
  err(reply_for(a, ra), MGR_ENOTFOUND, NULL);
  err(reply_for(b, rb), MGR_ENOTFOUND, NULL);
  err(reply_for(C, rc), MGR_ENOTFOUND, NULL);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  err(callc(d, MGRI_OP_COND_RELEASE, cv, NULL, 0), MGR_ENOTFOUND, NULL);
}

/* --- connections closing, replies that cannot be delivered -------------- */

static void test_waiter_conn_closes(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0), *b = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  is_int(cacquire(a, cv), 1);
  cwait(a, cv, mgr_int(3));
  is_int(cacquire(b, cv), 1);
  uint64_t rb = cwait0(b, cv);
  is_int(cacquire(d, cv), 1);
  uint64_t rd = cwait0(d, cv);
  /* a goes from the condition's FIFO, with its deadline. */
  mgri_h_clear(&H);
  mgri_h_close(&H, a);
  assert_int_equal(H.nrep, 0);
  assert_int_equal(state_int(cv, "waiters"), 2);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  /* b goes from the lock's FIFO after its notify. */
  is_int(cacquire(C, cv), 1);
  ok(call(MGRI_OP_COND_NOTIFY, cv, NULL, 0));
  mgri_h_close(&H, b);
  lock_is(cv, true, 1, 0);
  /* notify() now moves d, the only one left. */
  ok(call(MGRI_OP_COND_NOTIFY, cv, NULL, 0));
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(d, rd), 1);
  assert_null(reply_for(b, rb));
  assert_int_equal(mgri_store_parked_count(H.s), 0);
}

/* A grant whose reply cannot be delivered (its connection is closing) is
 * taken back: the lock passes on and nobody is told an owner died. */
static void test_undeliverable_grant(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0), *b = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  is_int(cacquire(a, cv), 1);
  is_int(cacquire(a, cv), 1);
  cwait0(a, cv);
  is_int(cacquire(b, cv), 1);
  ok(callc(b, MGRI_OP_COND_NOTIFY, cv, NULL, 0));
  uint64_t rd = send_req(d, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL));
  mgri_h_deafen(&H, a);
  mgri_h_clear(&H);
  ok(callc(b, MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(reply_for(d, rd), 1); /* not 2 */
  lock_is(cv, true, 1, 0);
  mgri_h_close(&H, a);
  ok(callc(d, MGRI_OP_COND_RELEASE, cv, NULL, 0));
  is_int(cacquire(C, cv), 1);
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
  /* The same for a parked acquire, of a condition and of a Lock. */
  is_int(cacquire(b, cv), 1);
  send_req(d, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL));
  mgri_h_deafen(&H, d);
  ok(callc(b, MGRI_OP_COND_RELEASE, cv, NULL, 0));
  lock_is(cv, false, 0, 0);
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  is_int(callc(b, MGRI_OP_LOCK_ACQUIRE, lk, A(B(true), NIL)), 1);
  send_req(d, MGRI_OP_LOCK_ACQUIRE, lk, A(B(true), NIL));
  ok(callc(b, MGRI_OP_LOCK_RELEASE, lk, NULL, 0));
  assert_false(call(MGRI_OP_LOCK_LOCKED, lk, NULL, 0)->result.u.b);
  is_int(call(MGRI_OP_LOCK_ACQUIRE, lk, A(B(true), NIL)), 1);
  /* An owner-died mark stays for the next grant that is delivered. */
  mgri_sconn *g = mgri_h_conn(&H, 0);
  is_int(cacquire(g, cv), 1);
  send_req(d, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL)); /* d is deaf */
  uint64_t rb = send_req(b, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL));
  mgri_h_clear(&H);
  mgri_h_close(&H, g);
  is_int(reply_for(b, rb), 2);
}

/* A wait refused for lack of room leaves the lock held. */
static void test_wait_limit(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  is_int(callc(b, MGRI_OP_LOCK_ACQUIRE, lk, A(B(true), NIL)), 1);
  for (unsigned i = 0; i < MGRI_PENDING_MAX; i++)
    send_req(C, MGRI_OP_LOCK_ACQUIRE, lk, A(B(true), NIL));
  is_int(cacquire(C, cv), 1);
  err(call(MGRI_OP_COND_WAIT, cv, NULL, 0), MGR_ELIMIT, "parked");
  lock_is(cv, true, 1, 0);
  assert_int_equal(state_int(cv, "waiters"), 0);
  ok(call(MGRI_OP_COND_RELEASE, cv, NULL, 0));
}

/* Each allocation of CREATE over a lock, of a parked acquire and of a
 * wait failed in turn (spec 14.2.2): LIMIT, nothing changed — the lock
 * held as it was, no waiter, the lock's count as it was — until the
 * request needs no failed allocation and works. */
static void test_alloc_failure(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  mgri_mem *mem = mgri_store_mem(H.s);
  uint64_t lk = mgri_h_create(&H, C, MGR_K_RLOCK, NULL);
  mgr_value args[2] = {mgr_int(MGR_K_CONDITION), mgri_h_ref(MGR_K_RLOCK, lk)};
  size_t objs = mgri_store_object_count(H.s);
  uint64_t cv = 0;
  unsigned failed = 0;
  for (uint64_t k = 1; !cv; k++) {
    mem->fail_in = k;
    mgri_hreply *r = callc(C, MGRI_OP_CREATE, 0, args, 2);
    assert_non_null(r);
    if (r->status == MGR_OK) {
      cv = r->result.u.ref.id;
      break;
    }
    err(r, MGR_ELIMIT, NULL);
    failed++;
    assert_int_equal(mgri_store_object_count(H.s), objs);
    assert_int_equal(refs_of(lk), 1);
  }
  mem->fail_in = 0;
  assert_true(failed > 0);
  assert_int_equal(refs_of(lk), 2);
  is_int(cacquire(C, cv), 1);
  is_int(cacquire(C, cv), 1);
  /* A parked acquire with a deadline, then a wait with one. */
  failed = 0;
  for (uint64_t k = 1;; k++) {
    mem->fail_in = k;
    uint64_t rid =
        send_req(b, MGRI_OP_COND_ACQUIRE, cv, A(B(true), mgr_int(9)));
    mgri_hreply *r = reply_for(b, rid);
    if (!r) break; /* parked */
    err(r, MGR_ELIMIT, NULL);
    failed++;
    assert_int_equal(mgri_store_parked_count(H.s), 0);
  }
  mem->fail_in = 0;
  assert_true(failed > 0);
  failed = 0;
  for (uint64_t k = 1;; k++) {
    mem->fail_in = k;
    uint64_t rid = send_req(C, MGRI_OP_COND_WAIT, cv, A(mgr_int(5)));
    mgri_hreply *r = reply_for(C, rid);
    if (!r) break; /* parked */
    err(r, MGR_ELIMIT, NULL);
    failed++;
    mem->fail_in = 0;
    lock_is(cv, true, 2, 1);
    assert_int_equal(state_int(cv, "waiters"), 0);
  }
  mem->fail_in = 0;
  assert_true(failed > 0);
  /* The wait released the lock to b's acquire. */
  lock_is(cv, true, 1, 0);
  assert_int_equal(state_int(cv, "waiters"), 1);
}

static void test_shutdown(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0), *b = mgri_h_conn(&H, 0);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  is_int(cacquire(a, cv), 1);
  uint64_t ra = cwait(a, cv, mgr_int(5));
  is_int(cacquire(C, cv), 1);
  uint64_t rb = send_req(b, MGRI_OP_COND_ACQUIRE, cv, A(B(true), NIL));
  ok(call(MGRI_OP_SHUTDOWN, 0, NULL, 0));
  mgri_h_clear(&H);
  mgri_store_shutdown(H.s);
  err(reply_for(a, ra), MGR_ESHUTDOWN, NULL);
  err(reply_for(b, rb), MGR_ESHUTDOWN, NULL);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
}

/* --- BATCH and DUMP --------------------------------------------------------
 */

static mgr_value sub(uint64_t op, uint64_t oid, mgr_value args) {
  static mgr_value store[16][3];
  static int k;
  mgr_value *s = store[k++ & 15];
  s[0] = mgr_int((int64_t)op);
  s[1] = mgr_int((int64_t)oid);
  s[2] = args;
  return mgr_array(s, 3);
}

static void slot_is(const mgr_value *slot, int64_t code) {
  assert_int_equal(slot->type, MGR_T_ARRAY);
  assert_int_equal(slot->u.a.items[0].u.i, code);
}

static void test_batch(void **st) {
  (void)st;
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  mgr_value none = mgr_array(NULL, 0);
  mgr_value subs[] = {
      sub(MGRI_OP_COND_ACQUIRE, cv, mgr_array(A(B(false), NIL))),
      sub(MGRI_OP_COND_ACQUIRE, cv, mgr_array(A(B(true), NIL))),
      sub(MGRI_OP_COND_ACQUIRE, cv, mgr_array(A(B(true), mgr_int(0)))),
      sub(MGRI_OP_COND_WAIT, cv, none),
      sub(MGRI_OP_COND_WAIT, cv, mgr_array(A(mgr_int(0)))),
      sub(MGRI_OP_COND_NOTIFY, cv, mgr_array(A(mgr_int(2)))),
      sub(MGRI_OP_COND_NOTIFY_ALL, cv, none),
      sub(MGRI_OP_COND_RELEASE, cv, none),
      sub(MGRI_OP_COND_RELEASE, cv, none),
  };
  mgri_hreply *r =
      call(MGRI_OP_BATCH, 0, A(mgr_array(subs, sizeof subs / sizeof subs[0])));
  ok(r);
  const mgr_value *sl = r->result.u.a.items;
  slot_is(&sl[0], 0);
  assert_int_equal(sl[0].u.a.items[1].u.i, 1);
  slot_is(&sl[1], 43); /* VALUE: could park */
  slot_is(&sl[2], 43);
  slot_is(&sl[3], 43);
  slot_is(&sl[4], 43);
  slot_is(&sl[5], 0);
  slot_is(&sl[6], 0);
  slot_is(&sl[7], 0);
  slot_is(&sl[8], 46); /* STATE: released already */
  assert_int_equal(mgri_store_parked_count(H.s), 0);
}

static void test_dump(void **st) {
  (void)st;
  mgri_sconn *a = mgri_h_conn(&H, 0);
  uint64_t cv = mgri_h_create(&H, C, MGR_K_CONDITION, NULL);
  mgri_hreply *r = call(MGRI_OP_DUMP, cv, NULL, 0);
  ok(r);
  assert_string_equal(map_get(&r->result, "kind")->u.s.ptr, "condition");
  assert_int_equal(map_get(&r->result, "owner")->type, MGR_T_NIL);
  const mgr_value *s = map_get(&r->result, "state");
  assert_int_equal(s->u.a.len, 3);
  assert_int_equal(map_get(s, "waiters")->u.i, 0);
  assert_int_equal(map_get(s, "lock")->type, MGR_T_NIL);
  const mgr_value *ls = map_get(s, "lock_state");
  assert_int_equal(ls->u.a.len, 5);
  assert_false(map_get(ls, "locked")->u.b);
  assert_int_equal(map_get(ls, "owner")->type, MGR_T_NIL);
  assert_false(map_get(ls, "owner_died")->u.b);
  is_int(cacquire(a, cv), 1);
  cwait0(a, cv);
  is_int(cacquire(C, cv), 1);
  is_int(cacquire(C, cv), 1);
  r = call(MGRI_OP_DUMP, cv, NULL, 0);
  assert_int_equal(map_get(&r->result, "owner")->u.i,
                   (int64_t)mgri_sconn_id(C));
  s = map_get(&r->result, "state");
  assert_int_equal(map_get(s, "waiters")->u.i, 1);
  ls = map_get(s, "lock_state");
  assert_true(map_get(ls, "locked")->u.b);
  assert_int_equal(map_get(ls, "owner")->u.i, (int64_t)mgri_sconn_id(C));
  assert_int_equal(map_get(ls, "depth")->u.i, 2);
  /* Its cost size is its waiters + 1: NOTIFY_ALL is LEN. */
  assert_int_equal(mgri_kinds[MGR_K_CONDITION]->len(mgri_obj_find(H.s, cv)), 2);
}

/* --- the C proxies against a real manager -------------------------------- */

static void test_client_basic(void **st) {
  (void)st;
  mgr_client *m = cu_start();
  mgr_proxy *cv, *lk, *d, *cv2;
  assert_ok(m, mgr_condition_new(m, NULL, &cv));
  assert_int_equal(mgr_proxy_kind(cv), MGR_K_CONDITION);
  bool b = true;
  assert_rc(m, mgr_cond_wait(cv, -1, &b), MGR_ESTATE);
  assert_false(b);
  assert_rc(m, mgr_cond_notify(cv, 1), MGR_ESTATE);
  assert_rc(m, mgr_cond_notify_all(cv), MGR_ESTATE);
  assert_rc(m, mgr_cond_release(cv), MGR_ESTATE);
  assert_ok(m, mgr_cond_acquire(cv, -1, &b));
  assert_true(b);
  assert_ok(m, mgr_cond_acquire(cv, 0, &b)); /* an RLock */
  assert_true(b);
  assert_rc(m, mgr_cond_notify(cv, -1), MGR_EVALUE);
  assert_ok(m, mgr_cond_notify(cv, 5));
  assert_ok(m, mgr_cond_notify_all(cv));
  /* Timed out waits come back with the lock (both levels). */
  b = true;
  assert_ok(m, mgr_cond_wait(cv, 0, &b));
  assert_false(b);
  b = true;
  assert_ok(m, mgr_cond_wait(cv, 20, &b));
  assert_false(b);
  assert_ok(m, mgr_cond_release(cv));
  assert_ok(m, mgr_cond_release(cv));
  assert_rc(m, mgr_cond_release(cv), MGR_ESTATE);
  /* Over a Lock; not over a dict. */
  assert_ok(m, mgr_lock_new(m, &lk));
  assert_ok(m, mgr_condition_new(m, lk, &cv2));
  assert_ok(m, mgr_cond_acquire(cv2, -1, &b));
  bool locked = false;
  assert_ok(m, mgr_lock_locked(lk, &locked));
  assert_true(locked);
  assert_rc(m, mgr_cond_acquire(cv2, -1, &b), MGR_ESTATE); /* self-deadlock */
  assert_ok(m, mgr_lock_release(lk));
  assert_rc(m, mgr_cond_release(cv2), MGR_ESTATE);
  assert_ok(m, mgr_dict_new(m, NULL, &d));
  mgr_proxy *bad = (mgr_proxy *)1;
  assert_rc(m, mgr_condition_new(m, d, &bad), MGR_ETYPE);
  assert_null(bad);
  /* Argument checks: nothing sent. */
  assert_rc(m, mgr_condition_new(NULL, NULL, &bad), MGR_EINVAL);
  assert_rc(m, mgr_condition_new(m, NULL, NULL), MGR_EINVAL);
  assert_rc(m, mgr_cond_acquire(NULL, -1, &b), MGR_EINVAL);
  assert_rc(m, mgr_cond_release(NULL), MGR_EINVAL);
  assert_rc(m, mgr_cond_wait(NULL, -1, &b), MGR_EINVAL);
  assert_rc(m, mgr_cond_wait_for(NULL, NULL, NULL, -1, &b), MGR_EINVAL);
  assert_rc(m, mgr_cond_wait_for(cv, NULL, NULL, -1, &b), MGR_EINVAL);
  assert_rc(m, mgr_cond_notify(NULL, 1), MGR_EINVAL);
  assert_rc(m, mgr_cond_notify_all(NULL), MGR_EINVAL);
  /* A proxy of another client. */
  mgr_client *m2 = cu_start();
  mgr_proxy *lk2;
  assert_ok(m2, mgr_lock_new(m2, &lk2));
  assert_rc(m, mgr_condition_new(m, lk2, &bad), MGR_EINVAL);
  mgr_release(lk2);
  assert_ok(m2, cu_stop(m2));
  /* Kinds: a condition proxy is not a lock. */
  assert_rc(m, mgr_lock_acquire(cv, -1, &b), MGR_EBADOP);
  assert_rc(m, mgr_cond_wait(lk, -1, &b), MGR_EBADOP);
  /* By name. */
  mgr_proxy *named, *again;
  bool created = false;
  assert_ok(m,
            mgr_open(m, "cond", MGR_K_CONDITION, NULL, true, &named, &created));
  assert_true(created);
  mgr_value lref = mgr_proxy_value(lk);
  assert_ok(
      m, mgr_open(m, "cond", MGR_K_CONDITION, &lref, true, &again, &created));
  assert_false(created);
  assert_int_equal(mgr_proxy_id(again), mgr_proxy_id(named));
  mgr_release(named);
  mgr_release(again);
  mgr_release(cv);
  mgr_release(cv2);
  mgr_release(lk);
  mgr_release(d);
  assert_ok(m, cu_stop(m));
}

static int pred_calls;
static bool pred_false(void *ctx) {
  (void)ctx;
  pred_calls++;
  return false;
}
static bool pred_true(void *ctx) {
  (void)ctx;
  pred_calls++;
  return true;
}

static void test_client_wait_for(void **st) {
  (void)st;
  mgr_client *m = cu_start();
  mgr_proxy *cv;
  assert_ok(m, mgr_condition_new(m, NULL, &cv));
  bool r = false;
  assert_rc(m, mgr_cond_wait_for(cv, pred_true, NULL, -1, &r), MGR_OK);
  assert_true(r); /* true at once: no wait, even without the lock */
  assert_int_equal(pred_calls, 1);
  /* A timeout past any deadline the clock can hold is none; result NULL. */
  pred_calls = 0;
  assert_ok(m, mgr_cond_wait_for(cv, pred_true, NULL, INT64_MAX, NULL));
  assert_int_equal(pred_calls, 1);
  /* With a lock of its own but nowhere to put the proxy: refused. */
  mgr_proxy *lk;
  assert_ok(m, mgr_lock_new(m, &lk));
  assert_rc(m, mgr_condition_new(m, lk, NULL), MGR_EINVAL);
  mgr_release(lk);
  /* Timeout 0: the predicate once, no wait. */
  pred_calls = 0;
  r = true;
  assert_ok(m, mgr_cond_wait_for(cv, pred_false, NULL, 0, &r));
  assert_false(r);
  assert_int_equal(pred_calls, 1);
  /* Not held: the wait fails, as mgr_cond_wait. */
  assert_rc(m, mgr_cond_wait_for(cv, pred_false, NULL, -1, &r), MGR_ESTATE);
  /* A timeout: false after at least one wait, the lock held again. */
  assert_ok(m, mgr_cond_acquire(cv, -1, NULL));
  pred_calls = 0;
  r = true;
  assert_ok(m, mgr_cond_wait_for(cv, pred_false, NULL, 30, &r));
  assert_false(r);
  assert_true(pred_calls >= 2);
  assert_ok(m, mgr_cond_release(cv));
  assert_rc(m, mgr_cond_release(cv), MGR_ESTATE);
  mgr_release(cv);
  assert_ok(m, cu_stop(m));
}

/* The lock comes back from a process that died holding it: the waiter is
 * told (MGR_EOWNERDEAD, notified) and holds the lock. */
static void test_client_owner_dies(void **st) {
  (void)st;
  mgr_client *m = cu_start();
  mgr_proxy *cv;
  assert_ok(m, mgr_condition_new(m, NULL, &cv));
  assert_ok(m, mgr_cond_acquire(cv, -1, NULL));
  pid_t pid = fork();
  if (pid == 0) {
    /* Granted once the parent's wait released it. */
    CU_CHECK(1, mgr_cond_acquire(cv, -1, NULL) == MGR_OK);
    CU_CHECK(2, mgr_cond_notify(cv, 1) == MGR_OK);
    _exit(0); /* holding it */
  }
  bool notified = false;
  assert_rc(m, mgr_cond_wait(cv, -1, &notified), MGR_EOWNERDEAD);
  assert_true(notified);
  assert_child_ok(pid);
  assert_ok(m, mgr_cond_release(cv));
  assert_rc(m, mgr_cond_release(cv), MGR_ESTATE);
  mgr_release(cv);
  assert_ok(m, cu_stop(m));
}

/* Producers append to a shared list under the condition and notify;
 * consumers wait_for it to be non-empty and pop. Exact totals. */
enum { NPROD = 3, NCONS = 4, PER = 200 };

typedef struct pc {
  mgr_proxy *items;
  int err;
} pc;

static bool non_empty(void *ctx) {
  pc *p = ctx;
  size_t n = 0;
  int rc = mgr_list_len(p->items, &n);
  if (rc != MGR_OK) p->err = rc;
  return rc != MGR_OK || n > 0;
}

static void run_producer_consumer(bool shared_lock) {
  mgr_client *m = cu_start();
  mgr_proxy *cv, *items, *res, *lk = NULL;
  if (shared_lock) assert_ok(m, mgr_lock_new(m, &lk));
  assert_ok(m, mgr_condition_new(m, lk, &cv));
  assert_ok(m, mgr_list_new(m, NULL, &items));
  assert_ok(m, mgr_dict_new(m, NULL, &res));
  pid_t kids[NPROD + NCONS];
  for (int c = 0; c < NCONS; c++) {
    if ((kids[c] = fork()) != 0) continue;
    pc p = {items, MGR_OK};
    int64_t sum = 0, count = 0;
    for (;;) {
      CU_CHECK(1, mgr_cond_acquire(cv, -1, NULL) == MGR_OK);
      bool ok_ = false;
      CU_CHECK(2, mgr_cond_wait_for(cv, non_empty, &p, -1, &ok_) == MGR_OK);
      CU_CHECK(3, ok_ && p.err == MGR_OK);
      mgr_value v;
      CU_CHECK(4, mgr_list_pop(items, 0, &v) == MGR_OK);
      CU_CHECK(5, mgr_cond_release(cv) == MGR_OK);
      CU_CHECK(6, v.type == MGR_T_INT);
      if (v.u.i < 0) break; /* the end */
      sum += v.u.i;
      count++;
    }
    mgr_value k = mgr_text("sum"), kc = mgr_text("count");
    CU_CHECK(7, mgr_dict_incr_int(res, &k, sum, true, NULL) == MGR_OK);
    CU_CHECK(8, mgr_dict_incr_int(res, &kc, count, true, NULL) == MGR_OK);
    _exit(0);
  }
  for (int i = 0; i < NPROD; i++) {
    if ((kids[NCONS + i] = fork()) != 0) continue;
    for (int j = 1; j <= PER; j++) {
      mgr_value v = mgr_int(i * PER + j);
      CU_CHECK(1, mgr_cond_acquire(cv, -1, NULL) == MGR_OK);
      CU_CHECK(2, mgr_list_append(items, &v) == MGR_OK);
      CU_CHECK(3, mgr_cond_notify(cv, 1) == MGR_OK);
      CU_CHECK(4, mgr_cond_release(cv) == MGR_OK);
    }
    _exit(0);
  }
  for (int i = 0; i < NPROD; i++)
    assert_child_ok(kids[NCONS + i]);
  /* One end mark per consumer, all woken at once. */
  assert_ok(m, mgr_cond_acquire(cv, -1, NULL));
  for (int c = 0; c < NCONS; c++) {
    mgr_value end = mgr_int(-1);
    assert_ok(m, mgr_list_append(items, &end));
  }
  assert_ok(m, mgr_cond_notify_all(cv));
  assert_ok(m, mgr_cond_release(cv));
  for (int c = 0; c < NCONS; c++)
    assert_child_ok(kids[c]);
  int64_t total = NPROD * PER;
  mgr_value k = mgr_text("sum"), kc = mgr_text("count"), v;
  assert_ok(m, mgr_dict_get(res, &k, &v));
  assert_int_equal(v.u.i, total * (total + 1) / 2);
  assert_ok(m, mgr_dict_get(res, &kc, &v));
  assert_int_equal(v.u.i, total);
  size_t left = 1;
  assert_ok(m, mgr_list_len(items, &left));
  assert_int_equal(left, 0);
  mgr_release(cv);
  mgr_release(items);
  mgr_release(res);
  mgr_release(lk);
  assert_ok(m, cu_stop(m));
}

static void test_client_producer_consumer(void **st) {
  (void)st;
  run_producer_consumer(false);
}

static void test_client_producer_consumer_lock(void **st) {
  (void)st;
  run_producer_consumer(true);
}

/* The late reply of a condition acquire that timed out locally (the manager
 * stopped) grants its lock to nobody waiting: the client's next call reads
 * it and releases the lock after it, so another client can take it. */
static void test_client_late_acquire_given_back(void **st) {
  (void)st;
  if (getenv("MGR_TEST_ADDRESS")) skip(); /* not ours to stop */
  mgr_client *m = cu_start();
  mgr_proxy *cv;
  assert_ok(m, mgr_condition_new(m, NULL, &cv));
  mgr_client *m2;
  assert_ok(m, mgr_connect(mgr_address(m), NULL, &m2));
  mgr_value ref = mgr_proxy_value(cv);
  mgr_proxy *cv2;
  assert_ok(m2, mgr_proxy_from_value(m2, &ref, &cv2));
  pid_t pid = (pid_t)mgr_server_pid(m);
  assert_int_equal(kill(pid, SIGSTOP), 0);
  int ws = 0;
  pid_t r;
  while ((r = waitpid(pid, &ws, WUNTRACED)) < 0 && errno == EINTR) {
  }
  assert_int_equal(r, pid);
  assert_true(WIFSTOPPED(ws));
  mgr_set_timeout(m, 50);
  bool got = true;
  assert_rc(m, mgr_cond_acquire(cv, 0, &got), MGR_ETIMEDOUT);
  assert_false(got);
  assert_int_equal(kill(pid, SIGCONT), 0);
  mgr_set_timeout(m, -1);
  /* This ping reads the late grant and sends the release after itself;
   * the second ping's reply comes after the release ran. */
  assert_ok(m, mgr_ping(m));
  assert_ok(m, mgr_ping(m));
  assert_ok(m2, mgr_cond_acquire(cv2, 0, &got));
  assert_true(got);
  assert_ok(m2, mgr_cond_release(cv2));
  mgr_release(cv2);
  mgr_close(m2);
  mgr_release(cv);
  assert_ok(m, cu_stop(m));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_create, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_acquire_release, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_wait_notify_errors, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_notify_fifo, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_recursion_restored, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_timeouts, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_owner_death, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_shared_lock, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_destroyed_over_shared_lock, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_destroyed_own_lock, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_waiter_conn_closes, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_undeliverable_grant, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_wait_limit, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_alloc_failure, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_shutdown, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_batch, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_dump, su_setup, su_teardown),
      cmocka_unit_test(test_client_basic),
      cmocka_unit_test(test_client_wait_for),
      cmocka_unit_test(test_client_late_acquire_given_back),
      cmocka_unit_test(test_client_owner_dies),
      cmocka_unit_test(test_client_producer_consumer),
      cmocka_unit_test(test_client_producer_consumer_lock),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
