/* mgr tests — Semaphore and BoundedSemaphore (spec 9.12): every op and
 * error through the pure dispatch path (units handed to waiters in FIFO
 * order, deadlines driven by an injected clock, connections closing while
 * parked, a destroyed semaphore, BATCH, DUMP), then the client against a
 * real manager, with forked workers that a semaphore keeps to K at a
 * time. */
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
#include "mgr/sync.h"
#include "proto/ops.h"
#include "server_util.h"

#define SEC 1000000000LL

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

/* SEM_ACQUIRE on c with args; the rid used (the reply may be parked). The
 * replies before are forgotten. */
static uint64_t acq(mgri_sconn *c, uint64_t s, const mgr_value *a, size_t n) {
  mgri_h_clear(&H);
  mgri_h_call(&H, c, MGRI_OP_SEM_ACQUIRE, s, a, n);
  return H.rid;
}

static int64_t value_of(uint64_t s) {
  mgri_hreply *r = call(MGRI_OP_SEM_VALUE, s, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_INT);
  return r->result.u.i;
}

static uint64_t sem(uint32_t kind, int64_t v) {
  mgr_value init = mgr_int(v);
  uint64_t id = mgri_h_create(&H, C, kind, &init);
  assert_true(id != 0);
  return id;
}

/* --- the ops and their errors ------------------------------------------ */

static void test_create(void **st) {
  (void)st;
  /* Omitted or nil: 1, Python's default. */
  uint64_t s = mgri_h_create(&H, C, MGR_K_SEMAPHORE, NULL);
  assert_int_equal(value_of(s), 1);
  mgr_value nil = mgr_nil();
  s = mgri_h_create(&H, C, MGR_K_BSEMAPHORE, &nil);
  assert_int_equal(value_of(s), 1);
  assert_int_equal(value_of(sem(MGR_K_SEMAPHORE, 0)), 0);
  assert_int_equal(value_of(sem(MGR_K_BSEMAPHORE, INT64_MAX)), INT64_MAX);
  /* Bad init values, for both kinds, CREATE and OPEN. */
  for (uint32_t k = MGR_K_SEMAPHORE; k <= MGR_K_BSEMAPHORE; k++) {
    err(call(MGRI_OP_CREATE, 0, A(mgr_int(k), mgr_int(-1))), MGR_EVALUE,
        "ValueError: semaphore initial value must be >= 0");
    err(call(MGRI_OP_CREATE, 0, A(mgr_int(k), mgr_int(INT64_MIN))), MGR_EVALUE,
        NULL);
    err(call(MGRI_OP_CREATE, 0, A(mgr_int(k), mgr_text("a"))), MGR_ETYPE,
        "TypeError: ");
    err(call(MGRI_OP_CREATE, 0, A(mgr_int(k), mgr_float(1.0))), MGR_ETYPE,
        "float");
    err(call(MGRI_OP_CREATE, 0, A(mgr_int(k), mgr_bool(true))), MGR_ETYPE,
        "bool");
    err(call(MGRI_OP_CREATE, 0, A(mgr_int(k), mgr_array(NULL, 0))), MGR_ETYPE,
        NULL);
  }
  /* OPEN checks init even when the object exists (spec 9.1). */
  mgri_hreply *r = call(MGRI_OP_OPEN, 0,
                        A(mgr_text("s"), mgr_int(MGR_K_SEMAPHORE), mgr_int(3)));
  ok(r);
  assert_true(r->result.u.a.items[1].u.b);
  err(call(MGRI_OP_OPEN, 0,
           A(mgr_text("s"), mgr_int(MGR_K_SEMAPHORE), mgr_int(-3))),
      MGR_EVALUE, NULL);
  r = call(MGRI_OP_OPEN, 0,
           A(mgr_text("s"), mgr_int(MGR_K_SEMAPHORE), mgr_int(7)));
  ok(r);
  assert_false(r->result.u.a.items[1].u.b);
  assert_int_equal(value_of(r->result.u.a.items[0].u.ref.id), 3);
  /* A BoundedSemaphore of the same name is another kind. */
  err(call(MGRI_OP_OPEN, 0,
           A(mgr_text("s"), mgr_int(MGR_K_BSEMAPHORE), mgr_int(3))),
      MGR_ETYPE, NULL);
}

static void test_acquire_args(void **st) {
  (void)st;
  uint64_t s = sem(MGR_K_SEMAPHORE, 3);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, NULL, 0), true);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(false))), true);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(true), mgr_int(5))), true);
  assert_int_equal(value_of(s), 0);
  /* At 0: non-blocking, or a timeout of 0, answer false at once. */
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(false))), false);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(false), mgr_nil())), false);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(true), mgr_int(0))), false);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(true), mgr_float(-0.0))),
          false);
  /* Python's threading.Semaphore refuses any timeout but None when not
   * blocking, -1 included, before looking at the timeout at all. */
  const char *nb = "ValueError: can't specify timeout for non-blocking acquire";
  err(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(false), mgr_int(1))), MGR_EVALUE,
      nb);
  err(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(false), mgr_int(0))), MGR_EVALUE,
      nb);
  err(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(false), mgr_int(-1))), MGR_EVALUE,
      nb);
  err(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(false), mgr_text("x"))),
      MGR_EVALUE, nb);
  /* Types and values (spec 9.7). */
  err(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_int(1))), MGR_ETYPE,
      "TypeError: blocking must be bool, not int");
  err(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_nil())), MGR_ETYPE, NULL);
  err(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(true), mgr_text("1"))), MGR_ETYPE,
      "timeout");
  err(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(true), mgr_float(-0.5))),
      MGR_EVALUE, "non-negative");
  err(call(MGRI_OP_SEM_ACQUIRE, s,
           A(mgr_bool(true), mgr_float(__builtin_nan("")))),
      MGR_EVALUE, NULL);
  err(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(true), mgr_nil(), mgr_nil())),
      MGR_ETYPE, NULL); /* arity */
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(value_of(s), 0);
}

static void test_release(void **st) {
  (void)st;
  uint64_t s = sem(MGR_K_SEMAPHORE, 0);
  ok(call(MGRI_OP_SEM_RELEASE, s, NULL, 0));
  assert_int_equal(value_of(s), 1);
  ok(call(MGRI_OP_SEM_RELEASE, s, A(mgr_int(3))));
  assert_int_equal(value_of(s), 4);
  err(call(MGRI_OP_SEM_RELEASE, s, A(mgr_int(0))), MGR_EVALUE,
      "ValueError: n must be one or more");
  err(call(MGRI_OP_SEM_RELEASE, s, A(mgr_int(INT64_MIN))), MGR_EVALUE, NULL);
  err(call(MGRI_OP_SEM_RELEASE, s, A(mgr_float(1.5))), MGR_ETYPE,
      "TypeError: 'float' object cannot be interpreted as an integer");
  err(call(MGRI_OP_SEM_RELEASE, s, A(mgr_bool(true))), MGR_ETYPE, "'bool'");
  err(call(MGRI_OP_SEM_RELEASE, s, A(mgr_nil())), MGR_ETYPE, NULL);
  assert_int_equal(value_of(s), 4);
  /* The counter is an int64: a release past it is OVERFLOW, unchanged. */
  ok(call(MGRI_OP_SEM_RELEASE, s, A(mgr_int(INT64_MAX - 5))));
  assert_int_equal(value_of(s), INT64_MAX - 1);
  err(call(MGRI_OP_SEM_RELEASE, s, A(mgr_int(2))), MGR_EOVERFLOW,
      "OverflowError: ");
  err(call(MGRI_OP_SEM_RELEASE, s, A(mgr_int(INT64_MAX))), MGR_EOVERFLOW, NULL);
  assert_int_equal(value_of(s), INT64_MAX - 1);
  ok(call(MGRI_OP_SEM_RELEASE, s, NULL, 0));
  assert_int_equal(value_of(s), INT64_MAX);
  err(call(MGRI_OP_SEM_RELEASE, s, NULL, 0), MGR_EOVERFLOW, NULL);
  /* No owner: another connection (another session) releases too. */
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t s2 = sem(MGR_K_SEMAPHORE, 1);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s2, NULL, 0), true);
  ok(callc(b, MGRI_OP_SEM_RELEASE, s2, NULL, 0));
  assert_int_equal(value_of(s2), 1);
  /* Other kinds' ops do not apply, nor these to other kinds. */
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  err(call(MGRI_OP_SEM_RELEASE, lk, NULL, 0), MGR_EBADOP, NULL);
  err(call(MGRI_OP_LOCK_RELEASE, s2, NULL, 0), MGR_EBADOP, NULL);
  err(call(MGRI_OP_BARRIER_WAIT, s2, NULL, 0), MGR_EBADOP, NULL);
}

static void test_bounded(void **st) {
  (void)st;
  const char *tm = "ValueError: Semaphore released too many times";
  uint64_t s = sem(MGR_K_BSEMAPHORE, 2);
  err(call(MGRI_OP_SEM_RELEASE, s, NULL, 0), MGR_EVALUE, tm);
  assert_int_equal(value_of(s), 2);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, NULL, 0), true);
  err(call(MGRI_OP_SEM_RELEASE, s, A(mgr_int(2))), MGR_EVALUE, tm);
  err(call(MGRI_OP_SEM_RELEASE, s, A(mgr_int(INT64_MAX))), MGR_EVALUE, tm);
  assert_int_equal(value_of(s), 1); /* unchanged */
  err(call(MGRI_OP_SEM_RELEASE, s, A(mgr_int(0))), MGR_EVALUE, "n must be");
  ok(call(MGRI_OP_SEM_RELEASE, s, NULL, 0));
  assert_int_equal(value_of(s), 2);
  /* With waiters the counter is 0: a release of up to `initial` units
   * goes to them. */
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(true), mgr_nil())), true);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(true), mgr_nil())), true);
  uint64_t rb = acq(b, s, NULL, 0), rc = acq(c, s, NULL, 0);
  assert_int_equal(H.nrep, 0);
  err(call(MGRI_OP_SEM_RELEASE, s, A(mgr_int(3))), MGR_EVALUE, tm);
  assert_int_equal(mgri_store_parked_count(H.s), 2);
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_SEM_RELEASE, s, A(mgr_int(2)));
  is_bool(reply_for(b, rb), true);
  is_bool(reply_for(c, rc), true);
  assert_int_equal(value_of(s), 0);
  /* A BoundedSemaphore(0) can never be released. */
  uint64_t z = sem(MGR_K_BSEMAPHORE, 0);
  err(call(MGRI_OP_SEM_RELEASE, z, NULL, 0), MGR_EVALUE, tm);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, z, A(mgr_bool(false))), false);
  /* The kind-12 object runs the kind-11 ops, and nothing else. */
  err(call(MGRI_OP_LOCK_LOCKED, z, NULL, 0), MGR_EBADOP, NULL);
}

/* --- waiting ------------------------------------------------------------- */

static void test_fifo(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0);
  uint64_t s = sem(MGR_K_SEMAPHORE, 0);
  uint64_t rb = acq(b, s, NULL, 0);
  uint64_t rc = acq(c, s, A(mgr_bool(true)));
  uint64_t rd = acq(d, s, A(mgr_bool(true), mgr_nil()));
  uint64_t rb2 = acq(b, s, NULL, 0); /* pipelined on b: behind d */
  assert_int_equal(H.nrep, 0);
  assert_int_equal(mgri_store_parked_count(H.s), 4);
  /* A non-blocking acquire does not jump the queue. */
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, A(mgr_bool(false))), false);
  /* Two units: the two oldest, one each. */
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_SEM_RELEASE, s, A(mgr_int(2)));
  assert_int_equal(H.nrep, 3); /* b, c, and the release itself */
  is_bool(reply_for(b, rb), true);
  is_bool(reply_for(c, rc), true);
  assert_null(reply_for(d, rd));
  assert_int_equal(value_of(s), 0);
  /* Five units for two waiters: three stay in the counter. */
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_SEM_RELEASE, s, A(mgr_int(5)));
  is_bool(reply_for(d, rd), true);
  is_bool(reply_for(b, rb2), true);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(value_of(s), 3);
  /* A positive counter is taken at once. */
  is_bool(callc(d, MGRI_OP_SEM_ACQUIRE, s, NULL, 0), true);
  assert_int_equal(value_of(s), 2);
}

static void test_deadlines(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0);
  uint64_t s = sem(MGR_K_SEMAPHORE, 0);
  uint64_t rb = acq(b, s, A(mgr_bool(true), mgr_float(1.5)));
  uint64_t rc = acq(c, s, A(mgr_bool(true), mgr_nil()));
  uint64_t rd = acq(d, s, A(mgr_bool(true), mgr_int(3)));
  assert_int_equal(mgri_store_next_deadline(H.s), H.now + 3 * SEC / 2);
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now + 3 * SEC / 2 - 1);
  assert_int_equal(H.nrep, 0);
  mgri_store_tick(H.s, H.now + 3 * SEC / 2);
  assert_int_equal(H.nrep, 1);
  is_bool(reply_for(b, rb), false);
  assert_int_equal(mgri_store_parked_count(H.s), 2);
  /* The unit goes to c (no deadline), d waits on. */
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_SEM_RELEASE, s, NULL, 0);
  is_bool(reply_for(c, rc), true);
  assert_null(reply_for(d, rd));
  /* d's deadline passed but the clock has not answered it yet: the release
   * answers it false and keeps the unit (as a lock's, spec 13.3). */
  H.now += 4 * SEC;
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_SEM_RELEASE, s, NULL, 0);
  is_bool(reply_for(d, rd), false);
  assert_int_equal(value_of(s), 1);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  /* No timeout in every spelling: never in the deadline heap. */
  is_bool(call(MGRI_OP_SEM_ACQUIRE, s, NULL, 0), true);
  acq(b, s, A(mgr_bool(true), mgr_float(__builtin_inf())));
  acq(b, s, A(mgr_bool(true), mgr_float(1e300)));
  acq(b, s, A(mgr_bool(true), mgr_int(-1)));
  acq(b, s, A(mgr_bool(true), mgr_float(-1.0)));
  assert_int_equal(mgri_store_parked_count(H.s), 4);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
}

static void test_close_while_parked(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0);
  uint64_t s = sem(MGR_K_SEMAPHORE, 0);
  acq(b, s, A(mgr_bool(true), mgr_int(10)));
  acq(b, s, NULL, 0);
  uint64_t rc = acq(c, s, NULL, 0);
  mgri_h_clear(&H);
  mgri_h_close(&H, b);
  assert_int_equal(H.nrep, 0); /* dropped without a reply */
  assert_int_equal(mgri_store_parked_count(H.s), 1);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  /* b took nothing with it: the next unit is c's. */
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_SEM_RELEASE, s, NULL, 0);
  is_bool(reply_for(c, rc), true);
  assert_int_equal(value_of(s), 0);
  /* A grant whose reply cannot be delivered (the connection is closing)
   * takes no unit: it goes to the next waiter, or back to the counter. */
  acq(d, s, NULL, 0);
  rc = acq(c, s, NULL, 0);
  mgri_h_deafen(&H, d);
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_SEM_RELEASE, s, NULL, 0);
  is_bool(reply_for(c, rc), true);
  assert_int_equal(value_of(s), 0);
  acq(d, s, NULL, 0);
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_SEM_RELEASE, s, A(mgr_int(2)));
  assert_int_equal(H.nrep, 1); /* the release only */
  assert_int_equal(value_of(s), 2);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  mgri_h_close(&H, d);
  /* At most MGRI_PENDING_MAX parked per connection. */
  uint64_t z = sem(MGR_K_SEMAPHORE, 0);
  for (unsigned i = 0; i < MGRI_PENDING_MAX; i++) {
    acq(c, z, NULL, 0);
    assert_int_equal(H.nrep, 0);
  }
  err(callc(c, MGRI_OP_SEM_ACQUIRE, z, NULL, 0), MGR_ELIMIT, NULL);
  /* ... and a closing connection drops them all. */
  mgri_h_clear(&H);
  mgri_h_close(&H, c);
  assert_int_equal(H.nrep, 0);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(value_of(z), 0);
}

static void test_destroyed_while_waiting(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0); /* another session: does not hold s */
  for (uint32_t k = MGR_K_SEMAPHORE; k <= MGR_K_BSEMAPHORE; k++) {
    uint64_t s = sem(k, 0);
    uint64_t rb = acq(b, s, NULL, 0);
    uint64_t rb2 = acq(b, s, A(mgr_bool(true), mgr_int(9)));
    mgri_h_clear(&H);
    mgri_h_call(&H, C, MGRI_OP_RELEASE, s, NULL, 0); /* the last reference */
    assert_int_equal(mgri_store_object_info(H.s, s, NULL, NULL, NULL),
                     MGR_ENOTFOUND);
    err(reply_for(b, rb), MGR_ENOTFOUND, "destroyed");
    err(reply_for(b, rb2), MGR_ENOTFOUND, "destroyed");
    assert_int_equal(mgri_store_parked_count(H.s), 0);
    assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
    err(callc(b, MGRI_OP_SEM_RELEASE, s, NULL, 0), MGR_ENOTFOUND, NULL);
  }
}

static void test_shutdown_answers_parked(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t s = sem(MGR_K_BSEMAPHORE, 0);
  uint64_t rb = acq(b, s, NULL, 0);
  ok(call(MGRI_OP_SHUTDOWN, 0, NULL, 0));
  mgri_h_clear(&H);
  mgri_store_shutdown(H.s);
  err(reply_for(b, rb), MGR_ESHUTDOWN, NULL);
}

/* Each allocation of CREATE and of a parked acquire (with a deadline: the
 * heap too) failed in turn (spec 14.2.2): LIMIT and nothing changed — no
 * object, no waiter, the counter as it was — until it works. */
static void test_alloc_failure(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  mgri_mem *mem = mgri_store_mem(H.s);
  for (uint32_t kind = MGR_K_SEMAPHORE; kind <= MGR_K_BSEMAPHORE; kind++) {
    size_t objs = mgri_store_object_count(H.s);
    uint64_t s = 0;
    unsigned failed = 0;
    for (uint64_t k = 1;; k++) {
      mem->fail_in = k;
      mgri_hreply *r = call(MGRI_OP_CREATE, 0, A(mgr_int(kind), mgr_int(0)));
      mem->fail_in = 0;
      if (r->status == MGR_OK) {
        s = r->result.u.ref.id;
        break;
      }
      err(r, MGR_ELIMIT, NULL);
      failed++;
      assert_int_equal(mgri_store_object_count(H.s), objs);
    }
    assert_true(failed > 0);
    failed = 0;
    for (uint64_t k = 1;; k++) {
      mem->fail_in = k;
      uint64_t rid = acq(b, s, A(mgr_bool(true), mgr_int(9)));
      mem->fail_in = 0;
      mgri_hreply *r = reply_for(b, rid);
      if (!r) break; /* parked */
      err(r, MGR_ELIMIT, NULL);
      failed++;
      assert_int_equal(mgri_store_parked_count(H.s), 0);
      assert_int_equal(value_of(s), 0);
    }
    assert_true(failed > 0);
    assert_int_equal(mgri_store_parked_count(H.s), 1);
    /* The waiter that finally parked gets the next unit. */
    mgri_h_clear(&H);
    mgri_h_call(&H, C, MGRI_OP_SEM_RELEASE, s, NULL, 0);
    assert_int_equal(H.nrep, kind == MGR_K_BSEMAPHORE ? 1 : 2);
    if (kind == MGR_K_BSEMAPHORE) { /* a BoundedSemaphore(0) refuses it */
      err(&H.rep[0], MGR_EVALUE, "too many");
      ok(call(MGRI_OP_RELEASE, s, NULL, 0)); /* destroyed: NOTFOUND */
    }
    assert_int_equal(mgri_store_parked_count(H.s), 0);
  }
}

/* --- BATCH and DUMP --------------------------------------------------------
 */

static mgr_value sub(uint64_t op, uint64_t oid, mgr_value *args, size_t n) {
  mgr_value *v = malloc(3 * sizeof *v);
  assert_non_null(v);
  v[0] = mgr_int((int64_t)op);
  v[1] = mgr_int((int64_t)oid);
  v[2] = mgr_array(args, n);
  return mgr_array(v, 3);
}

static void test_batch(void **st) {
  (void)st;
  uint64_t s = sem(MGR_K_SEMAPHORE, 1);
  mgr_value t = mgr_bool(true), f = mgr_bool(false), nil = mgr_nil(),
            two = mgr_int(2);
  mgr_value tn[2] = {t, nil}, fn[2] = {f, nil};
  mgr_value subs[] = {
      sub(MGRI_OP_SEM_ACQUIRE, s, NULL, 0), /* blocking: refused */
      sub(MGRI_OP_SEM_ACQUIRE, s, &t, 1),   /* refused */
      sub(MGRI_OP_SEM_ACQUIRE, s, tn, 2),   /* refused */
      sub(MGRI_OP_SEM_ACQUIRE, s, &f, 1),   /* true: takes the unit */
      sub(MGRI_OP_SEM_ACQUIRE, s, fn, 2),   /* false */
      sub(MGRI_OP_SEM_RELEASE, s, &two, 1), sub(MGRI_OP_SEM_VALUE, s, NULL, 0),
  };
  size_t n = sizeof subs / sizeof subs[0];
  mgri_hreply *r = call(MGRI_OP_BATCH, 0, A(mgr_array(subs, n)));
  for (size_t i = 0; i < n; i++)
    free((void *)subs[i].u.a.items);
  ok(r);
  assert_int_equal(r->result.u.a.len, n);
  const mgr_value *sl = r->result.u.a.items;
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(sl[i].u.a.items[0].u.i, 43); /* VALUE */
    assert_non_null(strstr(sl[i].u.a.items[1].u.s.ptr, "cannot be batched"));
  }
  assert_int_equal(sl[3].u.a.items[0].u.i, 0);
  assert_true(sl[3].u.a.items[1].u.b);
  assert_int_equal(sl[4].u.a.items[0].u.i, 0);
  assert_false(sl[4].u.a.items[1].u.b);
  assert_int_equal(sl[5].u.a.items[0].u.i, 0);
  assert_int_equal(sl[6].u.a.items[1].u.i, 2);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
}

static void test_dump(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t s = sem(MGR_K_SEMAPHORE, 0), bs = sem(MGR_K_BSEMAPHORE, 4);
  acq(b, s, NULL, 0);
  acq(b, s, NULL, 0);
  is_bool(call(MGRI_OP_SEM_ACQUIRE, bs, NULL, 0), true);
  mgri_hreply *r = call(MGRI_OP_DUMP, s, NULL, 0);
  ok(r);
  char buf[512];
  mgr_value_repr(&r->result, buf, sizeof buf);
  assert_non_null(strstr(buf, "'kind': 'semaphore'"));
  assert_non_null(strstr(buf, "'owner': None"));
  assert_non_null(strstr(buf, "'state': {'value': 0, 'waiters': 2}"));
  r = call(MGRI_OP_DUMP, bs, NULL, 0);
  ok(r);
  mgr_value_repr(&r->result, buf, sizeof buf);
  assert_non_null(strstr(buf, "'kind': 'bsemaphore'"));
  assert_non_null(
      strstr(buf, "'state': {'value': 3, 'waiters': 0, 'initial': 4}"));
}

/* --- against a real manager -------------------------------------------------
 */

static void test_client(void **st) {
  (void)st;
  mgr_client *m = cu_start();
  mgr_proxy *s, *bs, *o;
  bool got = true;
  int64_t v = -1;
  assert_ok(m, mgr_semaphore_new(m, 2, &s));
  assert_int_equal(mgr_proxy_kind(s), MGR_K_SEMAPHORE);
  assert_ok(m, mgr_sem_acquire(s, -1, &got));
  assert_true(got);
  assert_ok(m, mgr_sem_acquire(s, 0, &got));
  assert_true(got);
  assert_ok(m, mgr_sem_value(s, &v));
  assert_int_equal(v, 0);
  assert_ok(m, mgr_sem_acquire(s, 0, &got));
  assert_false(got);
  assert_ok(m, mgr_sem_acquire(s, 20, &got)); /* waits 20 ms in the manager */
  assert_false(got);
  assert_ok(m, mgr_sem_release(s, 3));
  assert_ok(m, mgr_sem_acquire(s, 20, NULL));
  assert_ok(m, mgr_sem_value(s, &v));
  assert_int_equal(v, 2);
  assert_rc(m, mgr_sem_release(s, 0), MGR_EVALUE);
  assert_non_null(strstr(mgr_errmsg(m), "n must be one or more"));
  assert_rc(m, mgr_sem_release(s, INT64_MAX), MGR_EOVERFLOW);
  /* Bounded. */
  assert_ok(m, mgr_bounded_semaphore_new(m, 1, &bs));
  assert_int_equal(mgr_proxy_kind(bs), MGR_K_BSEMAPHORE);
  assert_rc(m, mgr_sem_release(bs, 1), MGR_EVALUE);
  assert_non_null(strstr(mgr_errmsg(m), "released too many times"));
  assert_ok(m, mgr_sem_acquire(bs, -1, &got));
  assert_ok(m, mgr_sem_release(bs, 1));
  /* Errors. */
  assert_rc(m, mgr_semaphore_new(m, -1, &o), MGR_EVALUE);
  assert_null(o);
  assert_rc(m, mgr_bounded_semaphore_new(m, -5, &o), MGR_EVALUE);
  assert_rc(m, mgr_semaphore_new(NULL, 1, &o), MGR_EINVAL);
  assert_rc(m, mgr_semaphore_new(m, 1, NULL), MGR_EINVAL);
  assert_rc(m, mgr_sem_acquire(NULL, -1, &got), MGR_EINVAL);
  assert_rc(m, mgr_sem_release(NULL, 1), MGR_EINVAL);
  assert_rc(m, mgr_sem_value(NULL, &v), MGR_EINVAL);
  assert_rc(m, mgr_sem_value(s, NULL), MGR_EINVAL);
  /* A proxy of another kind: the manager says BADOP. */
  mgr_proxy *lk;
  assert_ok(m, mgr_lock_new(m, &lk));
  assert_rc(m, mgr_sem_release(lk, 1), MGR_EBADOP);
  assert_rc(m, mgr_lock_release(s), MGR_EBADOP);
  /* mgr_open finds it by name, with its count. */
  bool created = false;
  mgr_value init = mgr_int(5);
  assert_ok(m, mgr_open(m, "sem", MGR_K_BSEMAPHORE, &init, true, &o, &created));
  assert_true(created);
  assert_ok(m, mgr_sem_acquire(o, 0, NULL));
  mgr_proxy *o2;
  assert_ok(m,
            mgr_open(m, "sem", MGR_K_BSEMAPHORE, &init, true, &o2, &created));
  assert_false(created);
  assert_ok(m, mgr_sem_value(o2, &v));
  assert_int_equal(v, 4);
  mgr_proxy *o3;
  assert_rc(m, mgr_open(m, "sem", MGR_K_SEMAPHORE, &init, true, &o3, NULL),
            MGR_ETYPE);
  assert_null(o3);
  /* mgrctl's view. */
  mgr_value d;
  assert_ok(m, mgr_dump(m, mgr_proxy_id(o), &d));
  assert_non_null(strstr(cu_repr(&d), "'state': {'value': 4, 'waiters': 0, "
                                      "'initial': 5}"));
  mgr_value_free(&d);
  mgr_release(o);
  mgr_release(o2);
  mgr_release(lk);
  mgr_release(bs);
  mgr_release(s);
  assert_ok(m, cu_stop(m));
}

/* A child blocked in acquire gets the unit a later release hands over:
 * the wait happens in the manager, across processes. */
static void test_client_wait_across_processes(void **st) {
  (void)st;
  mgr_client *m = cu_start();
  mgr_proxy *s;
  assert_ok(m, mgr_semaphore_new(m, 0, &s));
  pid_t pid = fork();
  if (pid == 0) {
    bool got = false;
    CU_CHECK(1, mgr_sem_acquire(s, -1, &got) == MGR_OK && got);
    CU_CHECK(2, mgr_sem_release(s, 5) == MGR_OK);
    _exit(0);
  }
  /* Once it waits (the protocol says so), release one unit. */
  mgr_value d;
  for (;;) {
    assert_ok(m, mgr_dump(m, mgr_proxy_id(s), &d));
    bool waiting = strstr(cu_repr(&d), "'waiters': 1") != NULL;
    mgr_value_free(&d);
    if (waiting) break;
  }
  assert_ok(m, mgr_sem_release(s, 1));
  assert_child_ok(pid);
  int64_t v;
  assert_ok(m, mgr_sem_value(s, &v));
  assert_int_equal(v, 5);
  mgr_release(s);
  assert_ok(m, cu_stop(m));
}

/* K units, N forked workers, each entering R times: never more than K
 * inside at once (an atomic counter of those inside, its maximum kept by
 * CAS), every entry counted. */
static void test_limits_concurrency(void **st) {
  (void)st;
  enum { K = 3, N = 8, R = 40 };
  mgr_client *m = cu_start();
  mgr_proxy *s, *inside, *maxv, *total;
  mgr_value zero = mgr_int(0);
  assert_ok(m, mgr_semaphore_new(m, K, &s));
  assert_ok(m, mgr_var_new(m, &zero, &inside));
  assert_ok(m, mgr_var_new(m, &zero, &maxv));
  assert_ok(m, mgr_var_new(m, &zero, &total));
  pid_t pids[N];
  for (int i = 0; i < N; i++) {
    pids[i] = fork();
    if (pids[i] != 0) continue;
    for (int r = 0; r < R; r++) {
      bool got = false;
      CU_CHECK(1, mgr_sem_acquire(s, -1, &got) == MGR_OK && got);
      int64_t now = 0;
      CU_CHECK(2, mgr_var_incr_int(inside, 1, &now) == MGR_OK);
      CU_CHECK(3, now >= 1 && now <= K);
      /* max = max(max, now), atomically. */
      for (;;) {
        mgr_value cur;
        CU_CHECK(4, mgr_var_get(maxv, &cur) == MGR_OK && cur.type == MGR_T_INT);
        if (cur.u.i >= now) break;
        mgr_value nv = mgr_int(now);
        bool swapped = false;
        CU_CHECK(5, mgr_var_cas(maxv, &cur, &nv, &swapped, NULL) == MGR_OK);
        if (swapped) break;
      }
      CU_CHECK(6, mgr_var_incr_int(total, 1, NULL) == MGR_OK);
      CU_CHECK(7, mgr_var_incr_int(inside, -1, NULL) == MGR_OK);
      CU_CHECK(8, mgr_sem_release(s, 1) == MGR_OK);
    }
    _exit(0);
  }
  for (int i = 0; i < N; i++)
    assert_child_ok(pids[i]);
  mgr_value v;
  assert_ok(m, mgr_var_get(total, &v));
  assert_int_equal(v.u.i, N * R);
  assert_ok(m, mgr_var_get(inside, &v));
  assert_int_equal(v.u.i, 0);
  assert_ok(m, mgr_var_get(maxv, &v));
  assert_true(v.u.i >= 1 && v.u.i <= K);
  int64_t left;
  assert_ok(m, mgr_sem_value(s, &left));
  assert_int_equal(left, K);
  mgr_release(s);
  mgr_release(inside);
  mgr_release(maxv);
  mgr_release(total);
  assert_ok(m, cu_stop(m));
}

/* The late reply of an acquire that timed out locally (the manager stopped
 * while it was sent) grants a unit nobody waits for: the client's next call
 * reads it and gives the unit back (conn.c's orphan replies, as a Lock's
 * and a Queue get's), so the semaphore does not lose it. */
static void test_late_acquire_given_back(void **st) {
  (void)st;
  if (getenv("MGR_TEST_ADDRESS")) skip(); /* not ours to stop */
  mgr_client *m = cu_start();
  mgr_proxy *s;
  assert_ok(m, mgr_semaphore_new(m, 1, &s));
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
  /* A try (timeout 0): the stopped manager cannot answer in time. */
  assert_rc(m, mgr_sem_acquire(s, 0, &got), MGR_ETIMEDOUT);
  assert_false(got);
  assert_int_equal(kill(pid, SIGCONT), 0);
  mgr_set_timeout(m, -1);
  /* The manager granted the try (value 0) before this call; its late reply,
   * read by this call, sends a release after it. */
  int64_t v = -1;
  assert_ok(m, mgr_sem_value(s, &v));
  assert_int_equal(v, 0);
  assert_ok(m, mgr_sem_value(s, &v));
  assert_int_equal(v, 1);
  assert_ok(m, mgr_sem_acquire(s, 0, &got));
  assert_true(got);
  mgr_release(s);
  assert_ok(m, cu_stop(m));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_create, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_acquire_args, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_release, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_bounded, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_fifo, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_deadlines, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_close_while_parked, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_destroyed_while_waiting, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_answers_parked, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_alloc_failure, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_batch, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_dump, su_setup, su_teardown),
      cmocka_unit_test(test_client),
      cmocka_unit_test(test_client_wait_across_processes),
      cmocka_unit_test(test_limits_concurrency),
      cmocka_unit_test(test_late_acquire_given_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
