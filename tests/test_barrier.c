/* mgr tests — Barrier (spec 9.13): every op and error through the pure
 * dispatch path (generations and their indices, deadlines driven by an
 * injected clock, abort and reset, connections closing while parked —
 * one with two waiters pipelined —, a destroyed barrier, BATCH, DUMP),
 * then the client against a real manager: forked workers through several
 * phases, and a worker killed while it waits. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client_util.h"
#include "mgr/sync.h"
#include "proto/ops.h"
#include "server_util.h"

#define SEC 1000000000LL

static void is_int(mgri_hreply *r, int64_t v) {
  ok(r);
  assert_int_equal(r->result.type, MGR_T_INT);
  assert_int_equal(r->result.u.i, v);
}

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

/* BARRIER_WAIT on c with args, the replies before forgotten; the rid used
 * (the reply may be parked). */
static uint64_t bwait(mgri_sconn *c, uint64_t b, const mgr_value *a, size_t n) {
  mgri_h_clear(&H);
  mgri_h_call(&H, c, MGRI_OP_BARRIER_WAIT, b, a, n);
  return H.rid;
}

static uint64_t barrier(mgr_value init) {
  uint64_t id = mgri_h_create(&H, C, MGR_K_BARRIER, &init);
  assert_true(id != 0);
  return id;
}

static int64_t n_waiting(uint64_t b) {
  mgri_hreply *r = call(MGRI_OP_BARRIER_N_WAITING, b, NULL, 0);
  ok(r);
  return r->result.u.i;
}

static bool broken(uint64_t b) {
  mgri_hreply *r = call(MGRI_OP_BARRIER_BROKEN, b, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_BOOL);
  return r->result.u.b;
}

/* --- create -------------------------------------------------------------- */

static void test_create(void **st) {
  (void)st;
  is_int(call(MGRI_OP_BARRIER_PARTIES, barrier(mgr_int(3)), NULL, 0), 3);
  mgr_value p[2] = {mgr_int(2), mgr_float(1.5)};
  uint64_t b = barrier(mgr_array(p, 2));
  is_int(call(MGRI_OP_BARRIER_PARTIES, b, NULL, 0), 2);
  is_int(call(MGRI_OP_BARRIER_N_WAITING, b, NULL, 0), 0);
  is_bool(call(MGRI_OP_BARRIER_BROKEN, b, NULL, 0), false);
  p[1] = mgr_nil();
  barrier(mgr_array(p, 2));
  p[1] = mgr_int(-1); /* none, as an argument's -1 (spec 9.7) */
  barrier(mgr_array(p, 2));
  p[1] = mgr_float(__builtin_inf());
  barrier(mgr_array(p, 2));
  p[0] = mgr_int(INT64_MAX);
  p[1] = mgr_int(0);
  barrier(mgr_array(p, 2));
#define BAD(code, text, ...)                                                   \
  err(call(MGRI_OP_CREATE, 0, A(mgr_int(MGR_K_BARRIER), __VA_ARGS__)), code,   \
      text)
  /* parties is required (Python's too). */
  err(call(MGRI_OP_CREATE, 0, A(mgr_int(MGR_K_BARRIER))), MGR_ETYPE,
      "missing required argument: 'parties'");
  BAD(MGR_ETYPE, "'parties'", mgr_nil());
  BAD(MGR_EVALUE, "ValueError: parties must be >= 1", mgr_int(0));
  BAD(MGR_EVALUE, "parties must be >= 1", mgr_int(INT64_MIN));
  BAD(MGR_ETYPE, "not float", mgr_float(2.0));
  BAD(MGR_ETYPE, "not bool", mgr_bool(true));
  BAD(MGR_ETYPE, "not str", mgr_text("2"));
  BAD(MGR_ETYPE, "array of 1", mgr_array(p, 1));
  mgr_value three[3] = {mgr_int(2), mgr_nil(), mgr_nil()};
  BAD(MGR_ETYPE, "array of 3", mgr_array(three, 3));
  mgr_value q[2] = {mgr_int(0), mgr_int(1)};
  BAD(MGR_EVALUE, "parties", mgr_array(q, 2));
  q[0] = mgr_nil();
  BAD(MGR_ETYPE, "parties must be int", mgr_array(q, 2));
  q[0] = mgr_int(2);
  q[1] = mgr_text("1");
  BAD(MGR_ETYPE, "timeout must be a number or None", mgr_array(q, 2));
  q[1] = mgr_int(-5);
  BAD(MGR_EVALUE, "non-negative", mgr_array(q, 2));
  q[1] = mgr_float(__builtin_nan(""));
  BAD(MGR_EVALUE, NULL, mgr_array(q, 2));
#undef BAD
  /* OPEN checks init even when the object exists. */
  ok(call(MGRI_OP_OPEN, 0,
          A(mgr_text("b"), mgr_int(MGR_K_BARRIER), mgr_int(4))));
  err(call(MGRI_OP_OPEN, 0,
           A(mgr_text("b"), mgr_int(MGR_K_BARRIER), mgr_int(0))),
      MGR_EVALUE, NULL);
  mgri_hreply *r = call(MGRI_OP_OPEN, 0,
                        A(mgr_text("b"), mgr_int(MGR_K_BARRIER), mgr_int(9)));
  ok(r);
  assert_false(r->result.u.a.items[1].u.b);
  is_int(
      call(MGRI_OP_BARRIER_PARTIES, r->result.u.a.items[0].u.ref.id, NULL, 0),
      4);
}

/* --- generations ------------------------------------------------------- */

static void test_generations(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0);
  uint64_t br = barrier(mgr_int(3));
  for (int gen = 0; gen < 3; gen++) {
    /* Arrival order rotates: the first to arrive gets 0, the last
     * parties - 1 (threading.Barrier: index = the count at arrival). */
    mgri_sconn *order[3] = {b, c, C};
    mgri_sconn *o0 = order[gen % 3], *o1 = order[(gen + 1) % 3],
               *o2 = order[(gen + 2) % 3];
    uint64_t r0 = bwait(o0, br, NULL, 0);
    assert_int_equal(H.nrep, 0);
    uint64_t r1 = bwait(o1, br, A(mgr_nil()));
    assert_int_equal(H.nrep, 0);
    assert_int_equal(n_waiting(br), 2);
    uint64_t r2 = bwait(o2, br, A(mgr_int(100)));
    assert_int_equal(H.nrep, 3); /* the whole generation, at once */
    is_int(reply_for(o0, r0), 0);
    is_int(reply_for(o1, r1), 1);
    is_int(reply_for(o2, r2), 2);
    assert_int_equal(n_waiting(br), 0);
    assert_false(broken(br));
  }
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  /* One connection may hold several parties (pipelined waits). */
  uint64_t r0 = bwait(b, br, NULL, 0), r1 = bwait(b, br, NULL, 0);
  is_int(callc(c, MGRI_OP_BARRIER_WAIT, br, NULL, 0), 2);
  assert_int_equal(H.nrep, 3);
  is_int(reply_for(b, r0), 0);
  is_int(reply_for(b, r1), 1);
  /* parties = 1: every wait passes at once with index 0. */
  uint64_t one = barrier(mgr_int(1));
  for (int i = 0; i < 3; i++)
    is_int(call(MGRI_OP_BARRIER_WAIT, one, A(mgr_int(0))), 0);
  mgri_hreply *r = call(MGRI_OP_DUMP, one, NULL, 0);
  char buf[512];
  mgr_value_repr(&r->result, buf, sizeof buf);
  assert_non_null(strstr(buf, "'generation': 3"));
}

/* --- breaking ------------------------------------------------------------ */

static void test_timeouts(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0);
  uint64_t br = barrier(mgr_int(3));
  /* Argument checks come first, and change nothing. */
  err(call(MGRI_OP_BARRIER_WAIT, br, A(mgr_text("1"))), MGR_ETYPE,
      "timeout must be a number or None, not str");
  err(call(MGRI_OP_BARRIER_WAIT, br, A(mgr_bool(true))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_BARRIER_WAIT, br, A(mgr_float(-0.5))), MGR_EVALUE,
      "non-negative");
  err(call(MGRI_OP_BARRIER_WAIT, br, A(mgr_int(1), mgr_int(1))), MGR_ETYPE,
      NULL);
  assert_false(broken(br));
  /* A timeout of 0 before the last party: broken at once, the others too
   * (Python's wait(0) raises BrokenBarrierError in every party). */
  uint64_t rb = bwait(b, br, NULL, 0);
  mgri_h_clear(&H);
  mgri_hreply *r = mgri_h_call(&H, c, MGRI_OP_BARRIER_WAIT, br, A(mgr_int(0)));
  err(r, MGR_EBROKEN, "BrokenBarrierError: the wait timed out");
  err(reply_for(b, rb), MGR_EBROKEN, "BrokenBarrierError: ");
  assert_true(broken(br));
  assert_int_equal(n_waiting(br), 0);
  /* Broken: every wait is refused at once, until a reset. */
  err(call(MGRI_OP_BARRIER_WAIT, br, NULL, 0), MGR_EBROKEN,
      "BrokenBarrierError: the barrier is broken");
  ok(call(MGRI_OP_BARRIER_RESET, br, NULL, 0));
  assert_false(broken(br));
  /* A deadline: that party and every other get BROKEN. */
  rb = bwait(b, br, A(mgr_float(1.5)));
  uint64_t rc = bwait(c, br, NULL, 0);
  assert_int_equal(mgri_store_next_deadline(H.s), H.now + 3 * SEC / 2);
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now + 3 * SEC / 2 - 1);
  assert_int_equal(H.nrep, 0);
  mgri_store_tick(H.s, H.now + 3 * SEC / 2);
  assert_int_equal(H.nrep, 2);
  err(reply_for(b, rb), MGR_EBROKEN, "the wait timed out");
  err(reply_for(c, rc), MGR_EBROKEN, "a party's wait timed out");
  assert_true(broken(br));
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  /* The last party finds a waiter past its deadline that the clock has not
   * answered yet: it timed out first, the barrier breaks, nobody passes. */
  ok(call(MGRI_OP_BARRIER_RESET, br, NULL, 0));
  rb = bwait(b, br, A(mgr_int(1)));
  rc = bwait(c, br, NULL, 0);
  H.now += 2 * SEC;
  mgri_h_clear(&H);
  r = mgri_h_call(&H, C, MGRI_OP_BARRIER_WAIT, br, NULL, 0);
  err(r, MGR_EBROKEN, "timed out");
  err(reply_for(b, rb), MGR_EBROKEN, NULL);
  err(reply_for(c, rc), MGR_EBROKEN, NULL);
  assert_true(broken(br));
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
}

static void test_default_timeout(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0);
  mgr_value p[2] = {mgr_int(4), mgr_int(2)};
  uint64_t br = barrier(mgr_array(p, 2));
  /* Omitted or nil: the barrier's 2 s; -1: none; a number: its own. */
  uint64_t rb = bwait(b, br, NULL, 0);
  assert_int_equal(mgri_store_next_deadline(H.s), H.now + 2 * SEC);
  uint64_t rc = bwait(c, br, A(mgr_nil()));
  uint64_t rd = bwait(d, br, A(mgr_int(-1)));
  uint64_t rd2 = bwait(d, br, A(mgr_int(5)));
  (void)rd2; /* the 4th party: passes */
  is_int(reply_for(d, rd2), 3);
  is_int(reply_for(b, rb), 0);
  is_int(reply_for(c, rc), 1);
  is_int(reply_for(d, rd), 2);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  /* Only -1 waits: no deadline at all. */
  rd = bwait(d, br, A(mgr_int(-1)));
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  rb = bwait(b, br, A(mgr_int(5)));
  rc = bwait(c, br, NULL, 0);
  /* c's default (2 s) comes before b's 5 s. */
  assert_int_equal(mgri_store_next_deadline(H.s), H.now + 2 * SEC);
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now + 2 * SEC);
  assert_int_equal(H.nrep, 3);
  err(reply_for(c, rc), MGR_EBROKEN, "the wait timed out");
  err(reply_for(b, rb), MGR_EBROKEN, "a party's wait timed out");
  err(reply_for(d, rd), MGR_EBROKEN, "a party's wait timed out");
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  /* A default of 0: every wait but the last breaks it at once. */
  mgr_value z[2] = {mgr_int(2), mgr_int(0)};
  uint64_t bz = barrier(mgr_array(z, 2));
  err(call(MGRI_OP_BARRIER_WAIT, bz, NULL, 0), MGR_EBROKEN, "timed out");
  assert_true(broken(bz));
  ok(call(MGRI_OP_BARRIER_RESET, bz, NULL, 0));
  rb = bwait(b, bz, A(mgr_int(-1)));
  is_int(call(MGRI_OP_BARRIER_WAIT, bz, NULL, 0), 1); /* the last party */
  is_int(reply_for(b, rb), 0);
}

static void test_abort_reset(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0);
  uint64_t br = barrier(mgr_int(3));
  uint64_t rb = bwait(b, br, NULL, 0), rc = bwait(c, br, NULL, 0);
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_BARRIER_ABORT, br, NULL, 0);
  err(reply_for(b, rb), MGR_EBROKEN,
      "BrokenBarrierError: the barrier was aborted");
  err(reply_for(c, rc), MGR_EBROKEN, "aborted");
  assert_true(broken(br));
  err(call(MGRI_OP_BARRIER_WAIT, br, NULL, 0), MGR_EBROKEN, "broken");
  ok(call(MGRI_OP_BARRIER_ABORT, br, NULL, 0)); /* again: no change */
  assert_true(broken(br));
  /* Reset: whole again (a reset with no waiters answers nobody). */
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_BARRIER_RESET, br, NULL, 0);
  assert_int_equal(H.nrep, 1);
  assert_false(broken(br));
  /* Reset with waiters: they get BROKEN, and the barrier is not broken. */
  rb = bwait(b, br, NULL, 0);
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_BARRIER_RESET, br, NULL, 0);
  err(reply_for(b, rb), MGR_EBROKEN,
      "BrokenBarrierError: the barrier was reset");
  assert_false(broken(br));
  assert_int_equal(n_waiting(br), 0);
  /* The next generation starts from index 0. */
  rb = bwait(b, br, NULL, 0);
  rc = bwait(c, br, NULL, 0);
  is_int(call(MGRI_OP_BARRIER_WAIT, br, NULL, 0), 2);
  is_int(reply_for(b, rb), 0);
  is_int(reply_for(c, rc), 1);
}

/* --- connections closing, objects destroyed, shutdown --------------------- */

static void test_close_while_parked(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0);
  uint64_t br = barrier(mgr_int(3));
  bwait(b, br, A(mgr_int(10)));
  uint64_t rc = bwait(c, br, NULL, 0);
  mgri_h_clear(&H);
  mgri_h_close(&H, b);
  /* b's party can never arrive: the barrier breaks (spec 9.13). */
  assert_int_equal(H.nrep, 1);
  err(reply_for(c, rc), MGR_EBROKEN,
      "BrokenBarrierError: a waiting party's connection closed");
  assert_true(broken(br));
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  /* A connection that is not waiting closes: nothing happens. */
  ok(call(MGRI_OP_BARRIER_RESET, br, NULL, 0));
  mgri_sconn *d = mgri_h_conn(&H, 0);
  rc = bwait(c, br, NULL, 0);
  mgri_h_clear(&H);
  mgri_h_close(&H, d);
  assert_int_equal(H.nrep, 0);
  assert_false(broken(br));
  assert_int_equal(n_waiting(br), 1);
}

/* One connection with two waiters on one barrier, pipelined, and another
 * connection's between them: the close answers that one (and, since
 * wait.c drops the connection's waiters one by one and the first one's
 * gone hook answers the other, the closing connection's own second waiter,
 * whose reply goes nowhere), and leaves nothing behind. Both orders, with
 * the closing connection's replies deliverable (the harness captures them)
 * or not. */
/* Closes c with its replies undeliverable to the end, as a closing
 * connection's are in the server (mgri_h_close makes them deliverable
 * again first). */
static void close_deaf(mgri_sconn *c) {
  mgri_h_deafen(&H, c);
  for (size_t i = 0; i < H.nconns; i++)
    if (H.conns[i] == c) H.conns[i] = H.conns[--H.nconns];
  mgri_store_conn_close(H.s, c);
  for (size_t j = 0; j < sizeof H.deaf / sizeof H.deaf[0]; j++)
    if (H.deaf[j] == c) H.deaf[j] = NULL;
}

static void test_close_two_waiters(void **st) {
  (void)st;
  for (int deaf = 0; deaf < 2; deaf++)
    for (int order = 0; order < 2; order++) {
      mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0);
      uint64_t br = barrier(mgr_int(5));
      uint64_t rc = 0, rb1, rb2;
      if (order == 0) rc = bwait(c, br, NULL, 0);
      rb1 = bwait(b, br, A(mgr_int(7)));
      if (order == 1) rc = bwait(c, br, A(mgr_int(3)));
      rb2 = bwait(b, br, NULL, 0);
      assert_int_equal(n_waiting(br), 3);
      assert_int_equal(mgri_store_parked_count(H.s), 3);
      mgri_h_clear(&H);
      if (deaf)
        close_deaf(b);
      else
        mgri_h_close(&H, b);
      err(reply_for(c, rc), MGR_EBROKEN, "connection closed");
      /* b's own waiters: at most one reply (the one the first gone hook
       * answered), none when undeliverable. */
      size_t from_b = (reply_for(b, rb1) != NULL) + (reply_for(b, rb2) != NULL);
      assert_int_equal(from_b, deaf ? 0 : 1);
      assert_int_equal(H.nrep, 1 + from_b);
      assert_int_equal(mgri_store_parked_count(H.s), 0);
      assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
      assert_int_equal(n_waiting(br), 0);
      assert_true(broken(br));
      mgri_h_close(&H, c);
    }
}

static void test_destroyed_while_waiting(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0); /* another session: does not hold br */
  uint64_t br = barrier(mgr_int(3));
  uint64_t rb = bwait(b, br, NULL, 0), rb2 = bwait(b, br, A(mgr_int(4)));
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_RELEASE, br, NULL, 0); /* the last reference */
  assert_int_equal(mgri_store_object_info(H.s, br, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
  err(reply_for(b, rb), MGR_ENOTFOUND, "destroyed");
  err(reply_for(b, rb2), MGR_ENOTFOUND, "destroyed");
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  err(callc(b, MGRI_OP_BARRIER_WAIT, br, NULL, 0), MGR_ENOTFOUND, NULL);
}

static void test_shutdown_and_limit(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t br = barrier(mgr_int(MGRI_PENDING_MAX + 2));
  for (unsigned i = 0; i < MGRI_PENDING_MAX; i++) {
    bwait(b, br, NULL, 0);
    assert_int_equal(H.nrep, 0);
  }
  /* One more on b is LIMIT and does not count as arrived (nor break). */
  err(callc(b, MGRI_OP_BARRIER_WAIT, br, NULL, 0), MGR_ELIMIT, NULL);
  assert_int_equal(n_waiting(br), MGRI_PENDING_MAX);
  assert_false(broken(br));
  uint64_t r = bwait(C, br, NULL, 0);
  ok(call(MGRI_OP_SHUTDOWN, 0, NULL, 0));
  mgri_h_clear(&H);
  mgri_store_shutdown(H.s);
  err(reply_for(C, r), MGR_ESHUTDOWN, NULL);
  assert_int_equal(H.nrep, MGRI_PENDING_MAX + 1);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
}

/* Each allocation of CREATE and of a parked wait (with a deadline: the
 * heap too) failed in turn (spec 14.2.2): LIMIT and nothing changed — no
 * object; the wait did not arrive, the barrier not broken — until it
 * works. */
static void test_alloc_failure(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  mgri_mem *mem = mgri_store_mem(H.s);
  size_t objs = mgri_store_object_count(H.s);
  mgr_value p[2] = {mgr_int(3), mgr_int(9)};
  uint64_t br = 0;
  unsigned failed = 0;
  for (uint64_t k = 1;; k++) {
    mem->fail_in = k;
    mgri_hreply *r =
        call(MGRI_OP_CREATE, 0, A(mgr_int(MGR_K_BARRIER), mgr_array(p, 2)));
    mem->fail_in = 0;
    if (r->status == MGR_OK) {
      br = r->result.u.ref.id;
      break;
    }
    err(r, MGR_ELIMIT, NULL);
    failed++;
    assert_int_equal(mgri_store_object_count(H.s), objs);
  }
  assert_true(failed > 0);
  for (int who = 0; who < 2; who++) {
    failed = 0;
    for (uint64_t k = 1;; k++) {
      mem->fail_in = k;
      uint64_t rid = bwait(b, br, NULL, 0); /* the default: 9 s */
      mem->fail_in = 0;
      mgri_hreply *r = reply_for(b, rid);
      if (!r) break; /* parked */
      err(r, MGR_ELIMIT, NULL);
      failed++;
      assert_int_equal(n_waiting(br), who);
      assert_false(broken(br));
    }
    assert_true(failed > 0);
  }
  /* The two that parked are parties 0 and 1. */
  assert_int_equal(n_waiting(br), 2);
  is_int(call(MGRI_OP_BARRIER_WAIT, br, NULL, 0), 2);
  assert_int_equal(H.nrep, 3);
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
  uint64_t br = barrier(mgr_int(1)); /* a wait could not even park */
  mgr_value zero = mgr_int(0), nil = mgr_nil();
  mgr_value subs[] = {
      sub(MGRI_OP_BARRIER_WAIT, br, NULL, 0),  /* never in a batch */
      sub(MGRI_OP_BARRIER_WAIT, br, &zero, 1), /* not even with 0 */
      sub(MGRI_OP_BARRIER_WAIT, br, &nil, 1),
      sub(MGRI_OP_BARRIER_PARTIES, br, NULL, 0),
      sub(MGRI_OP_BARRIER_N_WAITING, br, NULL, 0),
      sub(MGRI_OP_BARRIER_ABORT, br, NULL, 0),
      sub(MGRI_OP_BARRIER_BROKEN, br, NULL, 0),
      sub(MGRI_OP_BARRIER_RESET, br, NULL, 0),
      sub(MGRI_OP_BARRIER_BROKEN, br, NULL, 0),
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
    assert_non_null(
        strstr(sl[i].u.a.items[1].u.s.ptr, "BARRIER_WAIT cannot be batched"));
  }
  for (size_t i = 3; i < n; i++)
    assert_int_equal(sl[i].u.a.items[0].u.i, 0);
  assert_int_equal(sl[3].u.a.items[1].u.i, 1);
  assert_int_equal(sl[4].u.a.items[1].u.i, 0);
  assert_true(sl[6].u.a.items[1].u.b);
  assert_false(sl[8].u.a.items[1].u.b);
  /* The refused waits did not arrive. */
  mgri_hreply *d = call(MGRI_OP_DUMP, br, NULL, 0);
  char buf[512];
  mgr_value_repr(&d->result, buf, sizeof buf);
  assert_non_null(strstr(buf, "'generation': 0"));
}

static void test_dump(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  mgr_value p[2] = {mgr_int(3), mgr_float(2.5)};
  uint64_t br = barrier(mgr_array(p, 2));
  bwait(b, br, NULL, 0);
  bwait(b, br, NULL, 0);
  is_int(call(MGRI_OP_BARRIER_WAIT, br, NULL, 0), 2);
  bwait(b, br, A(mgr_int(-1)));
  mgri_hreply *r = call(MGRI_OP_DUMP, br, NULL, 0);
  ok(r);
  char buf[512];
  mgr_value_repr(&r->result, buf, sizeof buf);
  assert_non_null(strstr(buf, "'kind': 'barrier'"));
  assert_non_null(strstr(buf, "'owner': None"));
  assert_non_null(strstr(buf,
                         "'state': {'parties': 3, 'n_waiting': 1, 'broken': "
                         "False, 'generation': 1, 'timeout': 2.5}"));
  uint64_t b2 = barrier(mgr_int(2));
  ok(call(MGRI_OP_BARRIER_ABORT, b2, NULL, 0));
  r = call(MGRI_OP_DUMP, b2, NULL, 0);
  mgr_value_repr(&r->result, buf, sizeof buf);
  assert_non_null(strstr(buf,
                         "'state': {'parties': 2, 'n_waiting': 0, 'broken': "
                         "True, 'generation': 0, 'timeout': None}"));
}

/* --- against a real manager -------------------------------------------------
 */

static void test_client(void **st) {
  (void)st;
  mgr_client *m = cu_start();
  mgr_proxy *b, *o;
  int64_t v = -1, idx = -1;
  bool br = true;
  assert_ok(m, mgr_barrier_new(m, 1, -1, &b));
  assert_int_equal(mgr_proxy_kind(b), MGR_K_BARRIER);
  assert_ok(m, mgr_barrier_wait(b, -1, &idx));
  assert_int_equal(idx, 0);
  assert_ok(m, mgr_barrier_wait(b, 0, NULL));
  assert_ok(m, mgr_barrier_parties(b, &v));
  assert_int_equal(v, 1);
  assert_ok(m, mgr_barrier_n_waiting(b, &v));
  assert_int_equal(v, 0);
  assert_ok(m, mgr_barrier_broken(b, &br));
  assert_false(br);
  assert_ok(m, mgr_barrier_abort(b));
  assert_rc(m, mgr_barrier_wait(b, -1, &idx), MGR_EBROKEN);
  assert_int_equal(idx, -1);
  assert_non_null(strstr(mgr_errmsg(m), "BrokenBarrierError"));
  assert_ok(m, mgr_barrier_broken(b, &br));
  assert_true(br);
  assert_ok(m, mgr_barrier_reset(b));
  assert_ok(m, mgr_barrier_wait(b, -1, &idx));
  mgr_release(b);
  /* A wait that times out (20 ms, in the manager) breaks the barrier. */
  assert_ok(m, mgr_barrier_new(m, 2, -1, &b));
  assert_rc(m, mgr_barrier_wait(b, 20, &idx), MGR_EBROKEN);
  assert_ok(m, mgr_barrier_broken(b, &br));
  assert_true(br);
  mgr_release(b);
  /* The default timeout applies when the wait has none (-1): 0, then 30 ms. */
  assert_ok(m, mgr_barrier_new(m, 2, 0, &b));
  assert_rc(m, mgr_barrier_wait(b, -1, NULL), MGR_EBROKEN);
  mgr_release(b);
  assert_ok(m, mgr_barrier_new(m, 3, 30, &b));
  assert_rc(m, mgr_barrier_wait(b, -1, NULL), MGR_EBROKEN);
  mgr_value d;
  assert_ok(m, mgr_dump(m, mgr_proxy_id(b), &d));
  assert_non_null(strstr(cu_repr(&d), "'timeout': 0.03"));
  mgr_value_free(&d);
  mgr_release(b);
  /* Errors. */
  assert_rc(m, mgr_barrier_new(m, 0, -1, &o), MGR_EVALUE);
  assert_null(o);
  assert_non_null(strstr(mgr_errmsg(m), "parties must be >= 1"));
  assert_rc(m, mgr_barrier_new(m, -3, 10, &o), MGR_EVALUE);
  assert_rc(m, mgr_barrier_new(NULL, 2, -1, &o), MGR_EINVAL);
  assert_rc(m, mgr_barrier_new(m, 2, -1, NULL), MGR_EINVAL);
  assert_rc(m, mgr_barrier_wait(NULL, -1, NULL), MGR_EINVAL);
  assert_rc(m, mgr_barrier_reset(NULL), MGR_EINVAL);
  assert_rc(m, mgr_barrier_abort(NULL), MGR_EINVAL);
  assert_rc(m, mgr_barrier_parties(NULL, &v), MGR_EINVAL);
  assert_rc(m, mgr_barrier_n_waiting(NULL, &v), MGR_EINVAL);
  assert_rc(m, mgr_barrier_broken(NULL, &br), MGR_EINVAL);
  mgr_proxy *s;
  assert_ok(m, mgr_semaphore_new(m, 1, &s));
  assert_rc(m, mgr_barrier_parties(s, NULL), MGR_EINVAL);
  assert_rc(m, mgr_barrier_n_waiting(s, NULL), MGR_EINVAL);
  assert_rc(m, mgr_barrier_broken(s, NULL), MGR_EINVAL);
  assert_rc(m, mgr_barrier_parties(s, &v), MGR_EBADOP);
  /* By name. */
  bool created = false;
  mgr_value init = mgr_int(2);
  assert_ok(m, mgr_open(m, "bar", MGR_K_BARRIER, &init, true, &b, &created));
  assert_true(created);
  assert_ok(m, mgr_open(m, "bar", MGR_K_BARRIER, &init, true, &o, &created));
  assert_false(created);
  assert_ok(m, mgr_barrier_parties(o, &v));
  assert_int_equal(v, 2);
  mgr_release(o);
  mgr_release(b);
  mgr_release(s);
  assert_ok(m, cu_stop(m));
}

/* N forked workers through P phases of one barrier. In each phase every
 * worker counts itself in `done`, waits, then reads `done`: at least
 * (k + 1) * N (nobody passed before all had arrived) and less than
 * (k + 2) * N (nobody is two phases on); it records its index in the
 * phase's row, so each row must be a permutation of 0..N-1. */
static void test_phases(void **st) {
  (void)st;
  enum { N = 5, P = 6 };
  mgr_client *m = cu_start();
  mgr_proxy *b, *done, *seen;
  mgr_value zero = mgr_int(0);
  mgr_value zeros[N * P];
  for (int i = 0; i < N * P; i++)
    zeros[i] = mgr_int(0);
  mgr_value row = mgr_array(zeros, N * P);
  assert_ok(m, mgr_barrier_new(m, N, -1, &b));
  assert_ok(m, mgr_var_new(m, &zero, &done));
  assert_ok(m, mgr_list_new(m, &row, &seen));
  pid_t pids[N];
  for (int i = 0; i < N; i++) {
    pids[i] = fork();
    if (pids[i] != 0) continue;
    for (int k = 0; k < P; k++) {
      CU_CHECK(1, mgr_var_incr_int(done, 1, NULL) == MGR_OK);
      int64_t idx = -1;
      CU_CHECK(2, mgr_barrier_wait(b, -1, &idx) == MGR_OK);
      CU_CHECK(3, idx >= 0 && idx < N);
      int64_t now = 0;
      CU_CHECK(4, mgr_var_incr_int(done, 0, &now) == MGR_OK);
      CU_CHECK(5, now >= (int64_t)(k + 1) * N);
      CU_CHECK(6, now < (int64_t)(k + 2) * N);
      CU_CHECK(7, mgr_list_incr_int(seen, k * N + idx, 1, NULL) == MGR_OK);
    }
    _exit(0);
  }
  for (int i = 0; i < N; i++)
    assert_child_ok(pids[i]);
  for (int i = 0; i < N * P; i++) {
    mgr_value v;
    assert_ok(m, mgr_list_get(seen, i, &v));
    if (v.type != MGR_T_INT || v.u.i != 1)
      fail_msg("phase %d: index %d taken %s times", i / N, i % N, cu_repr(&v));
    mgr_value_free(&v);
  }
  mgr_value v;
  assert_ok(m, mgr_var_get(done, &v));
  assert_int_equal(v.u.i, N * P);
  int64_t w = -1;
  assert_ok(m, mgr_barrier_n_waiting(b, &w));
  assert_int_equal(w, 0);
  mgr_value d;
  assert_ok(m, mgr_dump(m, mgr_proxy_id(b), &d));
  assert_non_null(strstr(cu_repr(&d), "'generation': 6"));
  mgr_value_free(&d);
  mgr_release(b);
  mgr_release(done);
  mgr_release(seen);
  assert_ok(m, cu_stop(m));
}

/* A worker killed (SIGKILL) while it waits: the others get MGR_EBROKEN
 * instead of waiting for ever. */
static void test_killed_party(void **st) {
  (void)st;
  enum { N = 4 };
  mgr_client *m = cu_start();
  mgr_proxy *b;
  assert_ok(m, mgr_barrier_new(m, N, -1, &b));
  pid_t victim = fork();
  if (victim == 0) {
    mgr_barrier_wait(b, -1, NULL);
    _exit(99); /* never: it is killed first */
  }
  /* Until it waits (the manager says so). */
  int64_t w = 0;
  while (w < 1)
    assert_ok(m, mgr_barrier_n_waiting(b, &w));
  pid_t pids[N - 2];
  for (int i = 0; i < N - 2; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      int64_t idx = -1;
      int rc = mgr_barrier_wait(b, -1, &idx);
      CU_CHECK(1, rc == MGR_EBROKEN);
      CU_CHECK(2, idx == -1);
      _exit(0);
    }
  }
  while (w < N - 1)
    assert_ok(m, mgr_barrier_n_waiting(b, &w));
  assert_int_equal(w, N - 1);
  kill(victim, SIGKILL);
  assert_int_equal(cu_wait(victim), 1000 + SIGKILL);
  for (int i = 0; i < N - 2; i++)
    assert_child_ok(pids[i]);
  bool br = false;
  assert_ok(m, mgr_barrier_broken(b, &br));
  assert_true(br);
  assert_rc(m, mgr_barrier_wait(b, -1, NULL), MGR_EBROKEN);
  /* A reset makes it usable again. */
  assert_ok(m, mgr_barrier_reset(b));
  assert_ok(m, mgr_barrier_n_waiting(b, &w));
  assert_int_equal(w, 0);
  mgr_release(b);
  assert_ok(m, cu_stop(m));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_create, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_generations, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_timeouts, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_default_timeout, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_abort_reset, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_close_while_parked, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_close_two_waiters, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_destroyed_while_waiting, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_and_limit, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_alloc_failure, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_batch, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_dump, su_setup, su_teardown),
      cmocka_unit_test(test_client),
      cmocka_unit_test(test_phases),
      cmocka_unit_test(test_killed_party),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
