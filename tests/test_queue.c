/* mgr tests — Queue and JoinableQueue (spec 9.8, waiting ops 9.7): every op
 * and error through the pure dispatch path (FIFO getters and putters, the
 * putters' items held while they wait, deadlines driven by an injected
 * clock, connections closing or deaf while parked, the queue destroyed,
 * shutdown, BATCH, DUMP, memory), then against a real manager with forked
 * producers and consumers, a consumer killed while waiting, and the late
 * reply of a get that timed out locally put back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
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

/* --- harness helpers ------------------------------------------------------ */

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

static void is_nil(mgri_hreply *r) {
  ok(r);
  assert_int_equal(r->result.type, MGR_T_NIL);
}

static void is_text(mgri_hreply *r, const char *s) {
  ok(r);
  assert_int_equal(r->result.type, MGR_T_TEXT);
  assert_int_equal(r->result.u.s.len, strlen(s));
  assert_memory_equal(r->result.u.s.ptr, s, strlen(s));
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

/* op on c with args (a, n), earlier replies forgotten; the rid used (the
 * reply may be parked). */
static uint64_t send_on(mgri_sconn *c, uint64_t op, uint64_t q,
                        const mgr_value *a, size_t n) {
  mgri_h_clear(&H);
  mgri_h_call(&H, c, op, q, a, n);
  return H.rid;
}

static uint64_t new_queue(uint32_t kind, int64_t maxsize) {
  mgr_value init = I(maxsize);
  uint64_t id = mgri_h_create(&H, C, kind, &init);
  assert_true(id > 0);
  return id;
}

static mgri_hreply *put_nowait(uint64_t q, mgr_value item) {
  return call(MGRI_OP_QUEUE_PUT, q, A(item, B(false)));
}
static mgri_hreply *get_nowait(uint64_t q) {
  return call(MGRI_OP_QUEUE_GET, q, A(B(false)));
}

/* DUMP's state of object id (valid until the next request). */
static const mgr_value *dump_state(uint64_t id) {
  mgri_hreply *r = call(MGRI_OP_DUMP, id, NULL, 0);
  ok(r);
  mgr_value k = T("state");
  const mgr_value *st = mgr_map_get(&r->result, &k);
  assert_non_null(st);
  assert_int_equal(st->type, MGR_T_MAP);
  return st;
}

static int64_t state_int(const mgr_value *st, const char *key) {
  mgr_value k = T(key);
  const mgr_value *v = mgr_map_get(st, &k);
  if (!v) fail_msg("no '%s' in the dump", key);
  assert_int_equal(v->type, MGR_T_INT);
  return v->u.i;
}

static int64_t dumped(uint64_t id, const char *key) {
  return state_int(dump_state(id), key);
}

static uint64_t refs_of(uint64_t id) {
  uint64_t refs = 0;
  assert_int_equal(mgri_store_object_info(H.s, id, NULL, &refs, NULL), MGR_OK);
  return refs;
}

/* --- create --------------------------------------------------------------- */

static void test_create(void **st) {
  (void)st;
  /* maxsize: omitted, nil, an int (<= 0 unbounded); anything else TYPE. */
  uint64_t q0 = mgri_h_create(&H, C, MGR_K_QUEUE, NULL);
  mgr_value nil = NIL, neg = I(-3), two = I(2), f = mgr_float(1.5), t = T("2");
  uint64_t q1 = mgri_h_create(&H, C, MGR_K_QUEUE, &nil);
  uint64_t q2 = mgri_h_create(&H, C, MGR_K_QUEUE, &neg);
  uint64_t q3 = mgri_h_create(&H, C, MGR_K_JQUEUE, &two);
  assert_true(q0 && q1 && q2 && q3);
  assert_int_equal(dumped(q0, "maxsize"), 0);
  assert_int_equal(dumped(q2, "maxsize"), -3);
  assert_int_equal(dumped(q3, "maxsize"), 2);
  err(call(MGRI_OP_CREATE, 0, A(I(MGR_K_QUEUE), f)), MGR_ETYPE,
      "TypeError: Queue() maxsize must be int or None, not float");
  err(call(MGRI_OP_CREATE, 0, A(I(MGR_K_JQUEUE), t)), MGR_ETYPE,
      "JoinableQueue() maxsize must be int or None, not str");
  err(call(MGRI_OP_CREATE, 0, A(I(MGR_K_QUEUE), B(true))), MGR_ETYPE, NULL);
  /* The result is a ref of the kind asked for. */
  mgri_hreply *r = call(MGRI_OP_CREATE, 0, A(I(MGR_K_JQUEUE)));
  ok(r);
  assert_int_equal(r->result.type, MGR_T_REF);
  assert_int_equal(r->result.u.ref.kind, MGR_K_JQUEUE);
  /* OPEN checks init even when the name exists. */
  r = call(MGRI_OP_OPEN, 0, A(T("q"), I(MGR_K_QUEUE), I(1)));
  ok(r);
  assert_true(r->result.u.a.items[1].u.b);
  uint64_t named = r->result.u.a.items[0].u.ref.id;
  r = call(MGRI_OP_OPEN, 0, A(T("q"), I(MGR_K_QUEUE), I(7)));
  ok(r);
  assert_false(r->result.u.a.items[1].u.b);
  assert_int_equal(r->result.u.a.items[0].u.ref.id, named);
  assert_int_equal(dumped(named, "maxsize"), 1); /* init ignored */
  err(call(MGRI_OP_OPEN, 0, A(T("q"), I(MGR_K_QUEUE), T("x"))), MGR_ETYPE,
      NULL);
  err(call(MGRI_OP_OPEN, 0, A(T("q"), I(MGR_K_JQUEUE))), MGR_ETYPE, NULL);
}

/* --- put and get ---------------------------------------------------------- */

static void test_put_get_fifo(void **st) {
  (void)st;
  uint64_t q = new_queue(MGR_K_QUEUE, 3);
  is_bool(call(MGRI_OP_QUEUE_EMPTY, q, NULL, 0), true);
  is_bool(call(MGRI_OP_QUEUE_FULL, q, NULL, 0), false);
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 0);
  /* Every way of putting without waiting: block omitted, true, false. */
  is_nil(call(MGRI_OP_QUEUE_PUT, q, A(T("a"))));
  is_nil(call(MGRI_OP_QUEUE_PUT, q, A(ARR(I(1), T("b")), B(true), NIL)));
  is_nil(call(MGRI_OP_QUEUE_PUT, q, A(NIL, B(false))));
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 3);
  is_bool(call(MGRI_OP_QUEUE_FULL, q, NULL, 0), true);
  is_bool(call(MGRI_OP_QUEUE_EMPTY, q, NULL, 0), false);
  /* Full: FULL at once without blocking or with timeout 0 (int or float);
   * the timeout is ignored when block is false, as Python's. */
  err(put_nowait(q, I(4)), MGR_EFULL, "queue.Full");
  err(call(MGRI_OP_QUEUE_PUT, q, A(I(4), B(true), I(0))), MGR_EFULL, NULL);
  err(call(MGRI_OP_QUEUE_PUT, q, A(I(4), B(true), mgr_float(-0.0))), MGR_EFULL,
      NULL);
  err(call(MGRI_OP_QUEUE_PUT, q, A(I(4), B(false), I(5))), MGR_EFULL, NULL);
  err(call(MGRI_OP_QUEUE_PUT, q, A(I(4), B(false), I(-1))), MGR_EFULL, NULL);
  err(call(MGRI_OP_QUEUE_PUT, q, A(I(4), B(false), mgr_float(NAN))), MGR_EFULL,
      NULL);
  assert_string_equal(H.rep[0].msg, "queue.Full");
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 3);
  /* FIFO. */
  is_text(get_nowait(q), "a");
  mgri_hreply *r = call(MGRI_OP_QUEUE_GET, q, NULL, 0);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_ARRAY);
  assert_int_equal(r->result.u.a.items[0].u.i, 1);
  is_nil(call(MGRI_OP_QUEUE_GET, q, A(B(true), I(1))));
  /* Empty: EMPTY at once. */
  err(get_nowait(q), MGR_EEMPTY, "queue.Empty");
  assert_string_equal(H.rep[0].msg, "queue.Empty");
  err(call(MGRI_OP_QUEUE_GET, q, A(B(true), I(0))), MGR_EEMPTY, NULL);
  err(call(MGRI_OP_QUEUE_GET, q, A(B(false), mgr_float(2.5))), MGR_EEMPTY,
      NULL);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  /* Unbounded (maxsize <= 0): never full. */
  uint64_t u = new_queue(MGR_K_QUEUE, -1);
  for (int i = 0; i < 100; i++)
    is_nil(put_nowait(u, I(i)));
  is_bool(call(MGRI_OP_QUEUE_FULL, u, NULL, 0), false);
  for (int i = 0; i < 100; i++)
    is_int(get_nowait(u), i);
  uint64_t z = new_queue(MGR_K_QUEUE, 0);
  is_nil(put_nowait(z, I(1)));
  is_bool(call(MGRI_OP_QUEUE_FULL, z, NULL, 0), false);
}

static void test_args(void **st) {
  (void)st;
  uint64_t q = new_queue(MGR_K_QUEUE, 1);
  is_nil(put_nowait(q, I(1)));
  /* block: a bool. */
  err(call(MGRI_OP_QUEUE_PUT, q, A(I(1), I(1))), MGR_ETYPE,
      "TypeError: block must be bool, not int");
  err(call(MGRI_OP_QUEUE_GET, q, A(NIL)), MGR_ETYPE,
      "TypeError: block must be bool, not NoneType");
  /* timeout: nil or a number, whatever block is. */
  err(call(MGRI_OP_QUEUE_PUT, q, A(I(1), B(true), T("1"))), MGR_ETYPE,
      "TypeError: timeout must be a number or None, not str");
  err(call(MGRI_OP_QUEUE_GET, q, A(B(false), B(true))), MGR_ETYPE, "not bool");
  /* Python's queue.Queue: a negative timeout, -1 included, or NaN is VALUE
   * when block is true (spec 9.8). */
  const char *neg = "ValueError: 'timeout' must be a non-negative number";
  err(call(MGRI_OP_QUEUE_PUT, q, A(I(2), B(true), I(-1))), MGR_EVALUE, neg);
  err(call(MGRI_OP_QUEUE_PUT, q, A(I(2), B(true), mgr_float(-0.5))), MGR_EVALUE,
      neg);
  err(call(MGRI_OP_QUEUE_GET, q, A(B(true), I(-1))), MGR_EVALUE, neg);
  err(call(MGRI_OP_QUEUE_GET, q, A(B(true), mgr_float(NAN))), MGR_EVALUE, neg);
  err(call(MGRI_OP_QUEUE_GET, q, A(B(true), mgr_float(-INFINITY))), MGR_EVALUE,
      neg);
  /* Checked before anything happens: the item is still there. */
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 1);
  /* Arity. */
  err(call(MGRI_OP_QUEUE_PUT, q, NULL, 0), MGR_ETYPE, NULL);
  err(call(MGRI_OP_QUEUE_PUT, q, A(I(1), B(false), NIL, NIL)), MGR_ETYPE, NULL);
  err(call(MGRI_OP_QUEUE_GET, q, A(B(false), NIL, NIL)), MGR_ETYPE, NULL);
  err(call(MGRI_OP_QUEUE_QSIZE, q, A(I(1))), MGR_ETYPE, NULL);
  /* A Queue has no TASK_DONE or JOIN; other kinds have no queue ops. */
  err(call(MGRI_OP_QUEUE_TASK_DONE, q, NULL, 0), MGR_EBADOP, NULL);
  err(call(MGRI_OP_QUEUE_JOIN, q, NULL, 0), MGR_EBADOP, NULL);
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  err(call(MGRI_OP_QUEUE_GET, d, A(B(false))), MGR_EBADOP, NULL);
  err(call(MGRI_OP_DICT_LEN, q, NULL, 0), MGR_EBADOP, NULL);
  /* A dead ref inside the item: NOTFOUND, nothing stored, whether it would
   * be stored, handed over or wait. */
  is_int(get_nowait(q), 1);
  err(put_nowait(q, ARR(I(1), mgri_h_ref(MGR_K_DICT, 999))), MGR_ENOTFOUND,
      NULL);
  err(put_nowait(q, mgri_h_ref(MGR_K_QUEUE, d)), MGR_ENOTFOUND,
      NULL); /* wrong kind */
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 0);
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t rb = send_on(b, MGRI_OP_QUEUE_GET, q, NULL, 0);
  err(put_nowait(q, mgri_h_ref(MGR_K_DICT, 999)), MGR_ENOTFOUND, NULL);
  assert_null(reply_for(b, rb));
  is_nil(put_nowait(q, I(5)));
  is_int(reply_for(b, rb), 5);
  is_nil(put_nowait(q, I(6)));
  err(call(MGRI_OP_QUEUE_PUT, q, A(mgri_h_ref(MGR_K_DICT, 999), B(true), NIL)),
      MGR_ENOTFOUND, NULL);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
}

/* Refs inside items are counted while the queue holds them. */
static void test_refs(void **st) {
  (void)st;
  uint64_t q = new_queue(MGR_K_QUEUE, 1);
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  assert_int_equal(refs_of(d), 1);
  mgr_value ref = mgri_h_ref(MGR_K_DICT, d);
  is_nil(put_nowait(q, ARR(ref, ref)));
  assert_int_equal(refs_of(d), 3);
  /* A waiting put's item holds its refs too. */
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t rb = send_on(b, MGRI_OP_QUEUE_PUT, q, A(ref, B(true), NIL));
  assert_int_equal(refs_of(d), 4);
  mgri_hreply *r = get_nowait(q);
  ok(r);
  assert_int_equal(r->result.type, MGR_T_ARRAY);
  assert_int_equal(r->result.u.a.items[0].u.ref.id, d);
  is_nil(reply_for(b, rb));
  assert_int_equal(refs_of(d), 2); /* the pair went, b's item is queued */
  r = get_nowait(q);
  assert_int_equal(r->result.type, MGR_T_REF);
  assert_int_equal(refs_of(d), 1);
  /* The last ref to an object can be the queue's. */
  is_nil(put_nowait(q, ref));
  ok(call(MGRI_OP_RELEASE, d, NULL, 0));
  assert_int_equal(refs_of(d), 1);
  r = get_nowait(q);
  assert_int_equal(r->result.u.ref.id, d);
  assert_int_equal(mgri_store_object_info(H.s, d, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
}

/* --- waiting getters ------------------------------------------------------ */

static void test_getters(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0), *e = mgri_h_conn(&H, 0);
  uint64_t q = new_queue(MGR_K_QUEUE, 0);
  uint64_t rb = send_on(b, MGRI_OP_QUEUE_GET, q, NULL, 0);
  uint64_t rc = send_on(c, MGRI_OP_QUEUE_GET, q, A(B(true), mgr_float(1.5)));
  uint64_t rd = send_on(d, MGRI_OP_QUEUE_GET, q, A(B(true), NIL));
  uint64_t re = send_on(e, MGRI_OP_QUEUE_GET, q, A(B(true), I(3)));
  assert_int_equal(H.nrep, 0);
  assert_int_equal(mgri_store_parked_count(H.s), 4);
  assert_int_equal(dumped(q, "getters"), 4);
  assert_int_equal(mgri_store_next_deadline(H.s), H.now + 3 * SEC / 2);
  /* A put goes to the oldest getter, not into the queue. */
  is_nil(put_nowait(q, T("x")));
  is_text(reply_for(b, rb), "x");
  assert_null(reply_for(c, rc));
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 0);
  /* c's deadline: EMPTY. */
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now + 3 * SEC / 2 - 1);
  assert_int_equal(H.nrep, 0);
  mgri_store_tick(H.s, H.now + 3 * SEC / 2);
  err(reply_for(c, rc), MGR_EEMPTY, "queue.Empty");
  /* e's deadline passes before a put but the clock has not ticked it: the
   * put finds it late (EMPTY), skips it... d came first anyway. */
  is_nil(put_nowait(q, I(1)));
  is_int(reply_for(d, rd), 1);
  H.now += 4 * SEC;
  is_nil(put_nowait(q, I(2)));
  err(reply_for(e, re), MGR_EEMPTY, NULL);
  /* ...and the item is stored, not lost. */
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 1);
  is_int(get_nowait(q), 2);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  /* Infinite timeouts never enter the deadline heap. */
  send_on(b, MGRI_OP_QUEUE_GET, q, A(B(true), mgr_float(INFINITY)));
  send_on(b, MGRI_OP_QUEUE_GET, q, A(B(true), mgr_float(1e300)));
  assert_int_equal(mgri_store_parked_count(H.s), 2);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
}

/* A getter whose reply cannot be delivered (its connection is closing)
 * does not take the item: the next getter does, or the queue keeps it. */
static void test_deaf_getter(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0);
  uint64_t q = new_queue(MGR_K_JQUEUE, 2);
  send_on(b, MGRI_OP_QUEUE_GET, q, NULL, 0);
  uint64_t rc = send_on(c, MGRI_OP_QUEUE_GET, q, NULL, 0);
  mgri_h_deafen(&H, b);
  is_nil(put_nowait(q, T("first")));
  is_text(reply_for(c, rc), "first");
  assert_int_equal(dumped(q, "unfinished"), 1);
  /* Only deaf getters: the item is stored. */
  send_on(b, MGRI_OP_QUEUE_GET, q, NULL, 0);
  send_on(b, MGRI_OP_QUEUE_GET, q, A(B(true), I(5)));
  assert_int_equal(mgri_store_parked_count(H.s), 2);
  is_nil(put_nowait(q, T("second")));
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 1);
  assert_int_equal(dumped(q, "unfinished"), 2);
  is_text(get_nowait(q), "second");
  /* A deaf getter parked with an item already queued cannot happen (a get
   * finds it at once), and the deaf connection's own gets are answered
   * (undelivered) like any other: the item is gone with them. */
}

/* --- waiting putters ------------------------------------------------------ */

static void test_putters(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0),
             *d = mgri_h_conn(&H, 0);
  uint64_t q = new_queue(MGR_K_QUEUE, 2);
  is_nil(put_nowait(q, I(1)));
  is_nil(put_nowait(q, I(2)));
  size_t bytes0 = mgri_store_object_bytes(H.s, q);
  uint64_t rb = send_on(b, MGRI_OP_QUEUE_PUT, q, A(T("b-item"), B(true), NIL));
  uint64_t rc = send_on(c, MGRI_OP_QUEUE_PUT, q, A(T("c-item"), B(true), I(2)));
  uint64_t rd = send_on(d, MGRI_OP_QUEUE_PUT, q, A(T("d-item")));
  assert_int_equal(H.nrep, 0);
  assert_int_equal(dumped(q, "putters"), 3);
  /* The waiting items are held (counted) by the queue, not in it. */
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 2);
  assert_true(mgri_store_object_bytes(H.s, q) > bytes0);
  /* A get frees a slot: the oldest putter's item goes in at the tail. */
  mgri_h_clear(&H);
  mgri_hreply *r = mgri_h_call(&H, C, MGRI_OP_QUEUE_GET, q, A(B(false)));
  is_int(r, 1);
  is_nil(reply_for(b, rb));
  assert_null(reply_for(c, rc));
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 2);
  /* c's deadline: FULL, its item dropped. */
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now + 2 * SEC);
  err(reply_for(c, rc), MGR_EFULL, "queue.Full");
  assert_int_equal(dumped(q, "putters"), 1);
  is_int(get_nowait(q), 2);
  is_nil(reply_for(d, rd));
  is_text(get_nowait(q), "b-item");
  is_text(get_nowait(q), "d-item");
  err(get_nowait(q), MGR_EEMPTY, NULL);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  /* A putter whose deadline passed but was not ticked yet is FULL when a
   * slot frees; the next putter gets the slot. */
  is_nil(put_nowait(q, I(1)));
  is_nil(put_nowait(q, I(2)));
  rb = send_on(b, MGRI_OP_QUEUE_PUT, q, A(T("late"), B(true), I(1)));
  rc = send_on(c, MGRI_OP_QUEUE_PUT, q, A(T("on time"), B(true), I(10)));
  H.now += 2 * SEC;
  mgri_h_clear(&H);
  is_int(mgri_h_call(&H, C, MGRI_OP_QUEUE_GET, q, A(B(false))), 1);
  err(reply_for(b, rb), MGR_EFULL, NULL);
  is_nil(reply_for(c, rc));
  is_int(get_nowait(q), 2);
  is_text(get_nowait(q), "on time");
  /* Everything held is gone: the ring (empty, small) at most. */
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(dumped(q, "size"), 0);
  assert_true(mgri_store_object_bytes(H.s, q) <= bytes0);
}

/* A putter whose reply cannot be delivered is as if it had never waited:
 * its item goes, the next putter gets the slot. */
static void test_deaf_putter(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0);
  uint64_t q = new_queue(MGR_K_JQUEUE, 1);
  is_nil(put_nowait(q, I(0)));
  send_on(b, MGRI_OP_QUEUE_PUT, q, A(T("deaf")));
  uint64_t rc = send_on(c, MGRI_OP_QUEUE_PUT, q, A(T("heard")));
  mgri_h_deafen(&H, b);
  mgri_h_clear(&H);
  is_int(mgri_h_call(&H, C, MGRI_OP_QUEUE_GET, q, A(B(false))), 0);
  is_nil(reply_for(c, rc));
  assert_int_equal(dumped(q, "putters"), 0);
  assert_int_equal(dumped(q, "unfinished"), 2); /* 0 and "heard" */
  is_text(get_nowait(q), "heard");
  err(get_nowait(q), MGR_EEMPTY, NULL);
}

/* FIFO across a queue whose ring wraps, grows while wrapped, and shrinks. */
static void test_ring(void **st) {
  (void)st;
  uint64_t q = new_queue(MGR_K_QUEUE, 0);
  size_t empty = mgri_store_object_bytes(H.s, q);
  int64_t in = 0, out = 0;
  /* Wrap a small ring, then grow it while wrapped. */
  for (int round = 0; round < 50; round++) {
    for (int i = 0; i < 3 + round % 5; i++)
      is_nil(put_nowait(q, I(in++)));
    for (int i = 0; i < 2 + round % 3; i++)
      is_int(get_nowait(q), out++);
  }
  for (int i = 0; i < 1000; i++)
    is_nil(put_nowait(q, I(in++)));
  size_t big = mgri_store_object_bytes(H.s, q);
  assert_true(big > empty + 1000 * sizeof(mgr_value));
  while (out < in)
    is_int(get_nowait(q), out++);
  /* No retention: an empty queue keeps no big ring. */
  assert_true(mgri_store_object_bytes(H.s, q) <=
              empty + 16 * sizeof(mgr_value) + 64);
  /* Halved when a quarter full: 4000 items, 3900 taken. */
  for (int i = 0; i < 4000; i++)
    is_nil(put_nowait(q, mgr_int(in++)));
  big = mgri_store_object_bytes(H.s, q);
  for (int i = 0; i < 3900; i++)
    is_int(get_nowait(q), out++);
  assert_true(mgri_store_object_bytes(H.s, q) < big / 8);
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 100);
  const mgr_value *s = dump_state(q);
  mgr_value kc = T("contents");
  const mgr_value *contents = mgr_map_get(s, &kc);
  assert_non_null(contents);
  assert_int_equal(contents->u.a.len, 100);
  for (size_t i = 0; i < 100; i++)
    assert_int_equal(contents->u.a.items[i].u.i, out + (int64_t)i);
  while (out < in)
    is_int(get_nowait(q), out++);
  /* Text items: their bytes come and go with them. */
  size_t before = mgri_store_object_bytes(H.s, q);
  char buf[64];
  for (int i = 0; i < 40; i++) {
    snprintf(buf, sizeof buf, "item number %d with some text", i);
    is_nil(put_nowait(q, T(buf)));
  }
  for (int i = 0; i < 40; i++) {
    snprintf(buf, sizeof buf, "item number %d with some text", i);
    is_text(get_nowait(q), buf);
  }
  assert_int_equal(mgri_store_object_bytes(H.s, q), before);
}

/* --- connections closing, the queue destroyed, shutdown ------------------- */

static void test_conn_closed(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0);
  uint64_t q = new_queue(MGR_K_QUEUE, 1);
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  /* A getter that goes: the next put is stored. */
  send_on(b, MGRI_OP_QUEUE_GET, q, A(B(true), I(10)));
  mgri_h_clear(&H);
  mgri_h_close(&H, b);
  assert_int_equal(H.nrep, 0);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  is_nil(put_nowait(q, I(1)));
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 1);
  /* A putter that goes: its item (and the refs in it) with it. */
  size_t bytes = mgri_store_object_bytes(H.s, q);
  send_on(c, MGRI_OP_QUEUE_PUT, q,
          A(ARR(mgri_h_ref(MGR_K_DICT, d), T("a text long enough to allocate")),
            B(true), NIL));
  assert_int_equal(refs_of(d), 2);
  assert_int_equal(dumped(q, "putters"), 1);
  mgri_h_clear(&H);
  mgri_h_close(&H, c);
  assert_int_equal(H.nrep, 0);
  assert_int_equal(refs_of(d), 1);
  assert_int_equal(mgri_store_object_bytes(H.s, q), bytes);
  is_int(get_nowait(q), 1);
  err(get_nowait(q), MGR_EEMPTY, NULL);
}

static void test_destroyed_while_parked(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0); /* another session: does not hold q */
  uint64_t q = new_queue(MGR_K_JQUEUE, 1);
  uint64_t e = new_queue(MGR_K_QUEUE, 1);
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  /* Getters of e, putters and a joiner of q. */
  uint64_t rg = send_on(b, MGRI_OP_QUEUE_GET, e, A(B(true), I(100)));
  is_nil(put_nowait(q, I(1)));
  uint64_t rp = send_on(b, MGRI_OP_QUEUE_PUT, q, A(mgri_h_ref(MGR_K_DICT, d)));
  uint64_t rj = send_on(b, MGRI_OP_QUEUE_JOIN, q, NULL, 0);
  assert_int_equal(mgri_store_parked_count(H.s), 3);
  assert_int_equal(refs_of(d), 2); /* the session, the pending item */
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_RELEASE, q, NULL, 0); /* last reference */
  assert_int_equal(mgri_store_object_info(H.s, q, NULL, NULL, NULL),
                   MGR_ENOTFOUND);
  err(reply_for(b, rp), MGR_ENOTFOUND, "destroyed");
  err(reply_for(b, rj), MGR_ENOTFOUND, "destroyed");
  assert_int_equal(refs_of(d), 1);
  mgri_h_clear(&H);
  mgri_h_call(&H, C, MGRI_OP_RELEASE, e, NULL, 0);
  err(reply_for(b, rg), MGR_ENOTFOUND, "LookupError: the queue was destroyed");
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(mgri_store_next_deadline(H.s), INT64_MAX);
  err(callc(b, MGRI_OP_QUEUE_QSIZE, q, NULL, 0), MGR_ENOTFOUND, NULL);
}

static void test_shutdown_answers_parked(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t q = new_queue(MGR_K_JQUEUE, 1);
  uint64_t e = new_queue(MGR_K_QUEUE, 1);
  is_nil(put_nowait(q, T("queued")));
  uint64_t rp =
      send_on(b, MGRI_OP_QUEUE_PUT, q, A(T("pending, freed with the queue")));
  uint64_t rj = send_on(b, MGRI_OP_QUEUE_JOIN, q, NULL, 0);
  uint64_t rg = send_on(b, MGRI_OP_QUEUE_GET, e, NULL, 0);
  ok(call(MGRI_OP_SHUTDOWN, 0, NULL, 0));
  mgri_h_clear(&H);
  mgri_store_shutdown(H.s);
  err(reply_for(b, rp), MGR_ESHUTDOWN, NULL);
  err(reply_for(b, rj), MGR_ESHUTDOWN, NULL);
  err(reply_for(b, rg), MGR_ESHUTDOWN, NULL);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  /* The teardown frees the queue with its pending item (LSan checks). */
}

/* --- JoinableQueue -------------------------------------------------------- */

static void test_joinable(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0), *c = mgri_h_conn(&H, 0),
             *g = mgri_h_conn(&H, 0);
  uint64_t q = new_queue(MGR_K_JQUEUE, 2);
  err(call(MGRI_OP_QUEUE_TASK_DONE, q, NULL, 0), MGR_EVALUE,
      "ValueError: task_done() called too many times");
  is_bool(call(MGRI_OP_QUEUE_JOIN, q, NULL, 0), true);
  is_bool(call(MGRI_OP_QUEUE_JOIN, q, A(NIL)), true);
  /* The timeout's rules are 9.7's: -1 is none, other negatives VALUE. */
  err(call(MGRI_OP_QUEUE_JOIN, q, A(T("1"))), MGR_ETYPE, NULL);
  err(call(MGRI_OP_QUEUE_JOIN, q, A(mgr_float(-0.5))), MGR_EVALUE, NULL);
  err(call(MGRI_OP_QUEUE_JOIN, q, A(I(1), I(2))), MGR_ETYPE, NULL);
  is_nil(put_nowait(q, I(1)));
  is_nil(put_nowait(q, I(2)));
  assert_int_equal(dumped(q, "unfinished"), 2);
  /* A failed put counts nothing. */
  err(put_nowait(q, I(3)), MGR_EFULL, NULL);
  assert_int_equal(dumped(q, "unfinished"), 2);
  is_bool(call(MGRI_OP_QUEUE_JOIN, q, A(I(0))), false);
  uint64_t rb = send_on(b, MGRI_OP_QUEUE_JOIN, q, NULL, 0);
  uint64_t rc = send_on(c, MGRI_OP_QUEUE_JOIN, q, A(mgr_float(0.5)));
  uint64_t rb2 = send_on(b, MGRI_OP_QUEUE_JOIN, q, A(I(-1)));
  assert_int_equal(dumped(q, "joiners"), 3);
  mgri_h_clear(&H);
  mgri_store_tick(H.s, H.now + SEC / 2);
  is_bool(reply_for(c, rc), false);
  /* Getting is not finishing: the count drops with TASK_DONE only. */
  is_int(get_nowait(q), 1);
  is_int(get_nowait(q), 2);
  assert_int_equal(dumped(q, "unfinished"), 2);
  ok(call(MGRI_OP_QUEUE_TASK_DONE, q, NULL, 0));
  assert_int_equal(dumped(q, "joiners"), 2);
  /* A put handed to a waiting getter counts, and a waiting put when it is
   * stored, not before. */
  uint64_t rg = send_on(g, MGRI_OP_QUEUE_GET, q, NULL, 0);
  is_nil(put_nowait(q, T("handed")));
  is_text(reply_for(g, rg), "handed");
  assert_int_equal(dumped(q, "unfinished"), 2);
  ok(call(MGRI_OP_QUEUE_TASK_DONE, q, NULL, 0));
  mgri_h_clear(&H);
  ok(mgri_h_call(&H, C, MGRI_OP_QUEUE_TASK_DONE, q, NULL, 0));
  /* 0: every joiner is answered true. */
  is_bool(reply_for(b, rb), true);
  is_bool(reply_for(b, rb2), true);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  err(call(MGRI_OP_QUEUE_TASK_DONE, q, NULL, 0), MGR_EVALUE, NULL);
  is_nil(put_nowait(q, I(1)));
  is_nil(put_nowait(q, I(2)));
  uint64_t rp = send_on(c, MGRI_OP_QUEUE_PUT, q, A(I(3)));
  assert_int_equal(dumped(q, "unfinished"), 2);
  mgri_h_clear(&H);
  is_int(mgri_h_call(&H, C, MGRI_OP_QUEUE_GET, q, NULL, 0), 1);
  is_nil(reply_for(c, rp));
  assert_int_equal(dumped(q, "unfinished"), 3);
  /* A joiner whose deadline passed before the count reached 0 (not ticked
   * yet) timed out. */
  rb = send_on(b, MGRI_OP_QUEUE_JOIN, q, A(I(1)));
  rc = send_on(c, MGRI_OP_QUEUE_JOIN, q, NULL, 0);
  H.now += 2 * SEC;
  ok(call(MGRI_OP_QUEUE_TASK_DONE, q, NULL, 0));
  ok(call(MGRI_OP_QUEUE_TASK_DONE, q, NULL, 0));
  mgri_h_clear(&H);
  ok(mgri_h_call(&H, C, MGRI_OP_QUEUE_TASK_DONE, q, NULL, 0));
  is_bool(reply_for(b, rb), false);
  is_bool(reply_for(c, rc), true);
  /* A joiner's connection closing leaves nothing behind. */
  is_int(get_nowait(q), 2);
  is_int(get_nowait(q), 3);
  is_nil(put_nowait(q, I(9)));
  send_on(b, MGRI_OP_QUEUE_JOIN, q, A(I(5)));
  mgri_h_close(&H, b);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(dumped(q, "joiners"), 0);
}

/* --- BATCH, DUMP, cost ---------------------------------------------------- */

static void test_batch(void **st) {
  (void)st;
  uint64_t q = new_queue(MGR_K_JQUEUE, 2);
  mgri_hreply *r = call(
      MGRI_OP_BATCH, 0,
      A(ARR(SUB(MGRI_OP_QUEUE_PUT, q, ARR(I(1), B(false))),
            SUB(MGRI_OP_QUEUE_PUT, q, ARR(I(2), B(false), I(5))),
            SUB(MGRI_OP_QUEUE_PUT, q, ARR(I(3), B(false))),      /* FULL */
            SUB(MGRI_OP_QUEUE_PUT, q, ARR(I(3))),                /* may wait */
            SUB(MGRI_OP_QUEUE_PUT, q, ARR(I(3), B(true), I(0))), /* may wait */
            SUB(MGRI_OP_QUEUE_QSIZE, q, NOARGS),
            SUB(MGRI_OP_QUEUE_FULL, q, NOARGS),
            SUB(MGRI_OP_QUEUE_GET, q, ARR(B(false))),
            SUB(MGRI_OP_QUEUE_GET, q, ARR(B(false), mgr_float(0.5))),
            SUB(MGRI_OP_QUEUE_GET, q, ARR(B(false))),      /* EMPTY */
            SUB(MGRI_OP_QUEUE_GET, q, NOARGS),             /* may wait */
            SUB(MGRI_OP_QUEUE_GET, q, ARR(B(true), I(0))), /* may wait */
            SUB(MGRI_OP_QUEUE_TASK_DONE, q, NOARGS),
            SUB(MGRI_OP_QUEUE_JOIN, q, ARR(I(0))),   /* never */
            SUB(MGRI_OP_QUEUE_GET, q, ARR(I(1)))))); /* TYPE */
  ok(r);
  assert_int_equal(r->result.u.a.len, 15);
  const mgr_value *s = r->result.u.a.items;
  int64_t V = (int64_t)mgri_err_to_wire(MGR_EVALUE);
  int64_t codes[15] = {0,
                       0,
                       (int64_t)mgri_err_to_wire(MGR_EFULL),
                       V,
                       V,
                       0,
                       0,
                       0,
                       0,
                       (int64_t)mgri_err_to_wire(MGR_EEMPTY),
                       V,
                       V,
                       0,
                       V,
                       (int64_t)mgri_err_to_wire(MGR_ETYPE)};
  for (size_t i = 0; i < 15; i++) {
    if (s[i].u.a.items[0].u.i != codes[i])
      fail_msg("slot %zu: code %lld, want %lld", i,
               (long long)s[i].u.a.items[0].u.i, (long long)codes[i]);
  }
  assert_non_null(strstr(s[3].u.a.items[1].u.s.ptr, "cannot be batched"));
  assert_int_equal(s[5].u.a.items[1].u.i, 2);
  assert_true(s[6].u.a.items[1].u.b);
  assert_int_equal(s[7].u.a.items[1].u.i, 1);
  assert_int_equal(s[8].u.a.items[1].u.i, 2);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(dumped(q, "unfinished"), 1);
  /* More gets in one batch than a request may free later (MGRI_LATER_MAX):
   * each sub-request's are freed before the next one runs. */
  uint64_t u = new_queue(MGR_K_QUEUE, 0);
  char buf[64];
  for (int i = 0; i < 20; i++) {
    snprintf(buf, sizeof buf, "batched item %02d, long enough to allocate", i);
    is_nil(put_nowait(u, T(buf)));
  }
  /* (No compound literals in the loop: they would end with each turn.) */
  mgr_value nowait[1] = {B(false)}, parts[20][3], subs[20];
  for (int i = 0; i < 20; i++) {
    parts[i][0] = I(MGRI_OP_QUEUE_GET);
    parts[i][1] = I((int64_t)u);
    parts[i][2] = mgr_array(nowait, 1);
    subs[i] = mgr_array(parts[i], 3);
  }
  r = call(MGRI_OP_BATCH, 0, A(mgr_array(subs, 20)));
  ok(r);
  for (int i = 0; i < 20; i++) {
    snprintf(buf, sizeof buf, "batched item %02d, long enough to allocate", i);
    const mgr_value *slot = &r->result.u.a.items[i];
    assert_int_equal(slot->u.a.items[0].u.i, 0);
    assert_memory_equal(slot->u.a.items[1].u.s.ptr, buf, strlen(buf));
  }
}

static void test_dump_and_cost(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  uint64_t q = new_queue(MGR_K_QUEUE, 2);
  const mgr_value *s = dump_state(q);
  assert_int_equal(s->u.a.len, 5); /* no JoinableQueue fields */
  mgr_value ku = T("unfinished");
  assert_null(mgr_map_get(s, &ku));
  is_nil(put_nowait(q, ARR(I(1), I(2), I(3))));
  assert_int_equal(mgri_store_last_cost(H.s), 1 + 5); /* 1 + a: [item, false] */
  is_nil(put_nowait(q, T("x")));
  send_on(b, MGRI_OP_QUEUE_PUT, q, A(ARR(I(4), I(5))));
  send_on(b, MGRI_OP_QUEUE_PUT, q, A(I(6), B(true), I(30)));
  s = dump_state(q);
  /* DUMP costs 1 + n, n the data items held: queued (4 + 1) and waiting
   * to be put (3 + 1). */
  assert_int_equal(mgri_store_last_cost(H.s), 1 + 9);
  assert_int_equal(state_int(s, "maxsize"), 2);
  assert_int_equal(state_int(s, "size"), 2);
  assert_int_equal(state_int(s, "getters"), 0);
  assert_int_equal(state_int(s, "putters"), 2);
  mgr_value kc = T("contents");
  const mgr_value *contents = mgr_map_get(s, &kc);
  assert_non_null(contents);
  assert_int_equal(contents->type, MGR_T_ARRAY);
  assert_int_equal(contents->u.a.len, 2);
  assert_int_equal(contents->u.a.items[0].u.a.len, 3);
  assert_int_equal(contents->u.a.items[1].type, MGR_T_TEXT);
  mgri_hreply *r = call(MGRI_OP_DUMP, q, NULL, 0);
  mgr_value ki = T("items"), kk = T("kind");
  const mgr_value *items = mgr_map_get(&r->result, &ki);
  assert_int_equal(items->u.i, 9);
  const mgr_value *kind = mgr_map_get(&r->result, &kk);
  assert_memory_equal(kind->u.s.ptr, "queue", 5);
  /* GET costs 1 whatever the queue holds. */
  ok(get_nowait(q));
  assert_int_equal(mgri_store_last_cost(H.s), 1);
}

/* --- memory --------------------------------------------------------------- */

static int small_setup(void **st) {
  (void)st;
  mgri_store_config cfg;
  mgri_store_config_init(&cfg);
  cfg.memory_max = 512 * 1024;
  if (mgri_h_init_cfg(&H, &cfg)) return -1;
  C = mgri_h_conn(&H, 0);
  return C ? 0 : -1;
}

/* An unbounded queue is bounded by the server's memory: LIMIT, the queue
 * unchanged; a waiting put's item counts too. */
static void test_memory_limit(void **st) {
  (void)st;
  uint64_t q = new_queue(MGR_K_QUEUE, 0);
  static uint8_t blob[16 * 1024];
  memset(blob, 'q', sizeof blob);
  int64_t n = 0;
  mgri_hreply *r;
  for (;;) {
    blob[0] = (uint8_t)n;
    r = put_nowait(q, mgr_bytes(blob, sizeof blob));
    if (r->status != MGR_OK) break;
    n++;
    assert_true(n < 100);
  }
  err(r, MGR_ELIMIT, "MemoryError");
  assert_true(n > 5);
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), n);
  /* Small items still fit. */
  is_nil(put_nowait(q, I(7)));
  for (int64_t i = 0; i < n; i++) {
    r = get_nowait(q);
    ok(r);
    assert_int_equal(r->result.type, MGR_T_BYTES);
    assert_int_equal(r->result.u.s.ptr[0], (char)(uint8_t)i);
  }
  is_int(get_nowait(q), 7);
  /* A waiting put whose item does not fit: LIMIT, nothing parked. */
  uint64_t f = new_queue(MGR_K_QUEUE, 1);
  is_nil(put_nowait(f, I(1)));
  static uint8_t huge[600 * 1024];
  err(call(MGRI_OP_QUEUE_PUT, f, A(mgr_bytes(huge, sizeof huge), B(true), NIL)),
      MGR_ELIMIT, NULL);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  assert_int_equal(dumped(f, "putters"), 0);
}

/* The N-th allocation fails, for N = 1, 2 ... until the op gets through:
 * until then the answer is LIMIT and the queue holds what it held (items,
 * waiting puts, the bytes of what it holds: a grown ring may stay, spec
 * 14.2.2). A put that grows the ring, and one that waits. */
static void test_alloc_failures(void **st) {
  (void)st;
  mgri_sconn *b = mgri_h_conn(&H, 0);
  mgri_mem *mem = mgri_store_mem(H.s);
  const char *text = "an item long enough to be allocated on its own";
  uint64_t q = new_queue(MGR_K_QUEUE, 0);
  for (int i = 0; i < 4; i++)
    is_nil(put_nowait(q, I(i))); /* a full ring */
  int n;
  for (n = 1; n < 50; n++) {
    mem->fail_in = (uint64_t)n;
    mgri_hreply *r = callc(C, MGRI_OP_QUEUE_PUT, q, A(T(text), B(false)));
    mem->fail_in = 0;
    assert_non_null(r);
    if (r->status == MGR_OK) break;
    err(r, MGR_ELIMIT, NULL);
    is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 4);
  }
  assert_true(n >= 3 && n < 50); /* the ring's growth, the item's copy */
  is_int(call(MGRI_OP_QUEUE_QSIZE, q, NULL, 0), 5);
  for (int i = 0; i < 4; i++)
    is_int(get_nowait(q), i);
  is_text(get_nowait(q), text);
  /* A put that waits. */
  uint64_t f = new_queue(MGR_K_QUEUE, 1);
  is_nil(put_nowait(f, I(0)));
  size_t bytes = mgri_store_object_bytes(H.s, f);
  uint64_t rid = 0;
  for (n = 1; n < 50; n++) {
    mem->fail_in = (uint64_t)n;
    rid = send_on(b, MGRI_OP_QUEUE_PUT, f, A(T(text), B(true), I(5)));
    mem->fail_in = 0;
    mgri_hreply *r = reply_for(b, rid);
    if (!r) break; /* parked */
    err(r, MGR_ELIMIT, NULL);
    assert_int_equal(mgri_store_parked_count(H.s), 0);
    assert_int_equal(mgri_store_object_bytes(H.s, f), bytes);
    assert_int_equal(dumped(f, "putters"), 0);
  }
  /* The deadline heap, the record, the item, the waiter. */
  assert_true(n >= 5 && n < 50);
  assert_int_equal(dumped(f, "putters"), 1);
  mgri_h_clear(&H);
  is_int(mgri_h_call(&H, C, MGRI_OP_QUEUE_GET, f, A(B(false))), 0);
  is_nil(reply_for(b, rid));
  is_text(get_nowait(f), text);
}

/* At most MGRI_PENDING_MAX parked requests per connection: one more is
 * LIMIT, and a put refused so keeps nothing. */
static void test_parked_limit(void **st) {
  (void)st;
  uint64_t q = new_queue(MGR_K_QUEUE, 1);
  is_nil(put_nowait(q, I(0)));
  size_t bytes = 0;
  for (unsigned i = 0; i < MGRI_PENDING_MAX; i++) {
    send_on(C, MGRI_OP_QUEUE_PUT, q,
            A(T("a pending item long enough"), B(true), I(100)));
    assert_int_equal(H.nrep, 0);
  }
  bytes = mgri_store_object_bytes(H.s, q);
  err(callc(C, MGRI_OP_QUEUE_PUT, q, A(T("a pending item long enough"))),
      MGR_ELIMIT, "parked");
  assert_int_equal(mgri_store_object_bytes(H.s, q), bytes);
  assert_int_equal(dumped(q, "putters"), MGRI_PENDING_MAX);
}

/* --- against a real manager ----------------------------------------------- */

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

/* A count in the DUMP state of queue q. */
static int64_t q_state(mgr_client *m, mgr_proxy *q, const char *key) {
  mgr_value d;
  assert_ok(m, mgr_dump(m, mgr_proxy_id(q), &d));
  mgr_value ks = T("state"), kk = T(key);
  const mgr_value *v = mgr_map_get(mgr_map_get(&d, &ks), &kk);
  assert_non_null(v);
  assert_int_equal(v->type, MGR_T_INT);
  int64_t n = v->u.i;
  mgr_value_free(&d);
  return n;
}

/* Polls DUMP (one round trip each, no sleeping) until q's count key is n;
 * a 60 s watchdog fails the test instead of hanging. */
static void await_state(mgr_client *m, mgr_proxy *q, const char *key,
                        int64_t n) {
  int64_t until = mono_ms() + 60000;
  while (q_state(m, q, key) != n)
    if (mono_ms() > until)
      fail_msg("the queue's %s never reached %lld", key, (long long)n);
}

static void test_client_basic(void **state) {
  (void)state;
  mgr_proxy *q = NULL, *j = NULL;
  assert_ok(M, mgr_queue_new(M, 2, &q));
  assert_int_equal(mgr_proxy_kind(q), MGR_K_QUEUE);
  size_t n = 9;
  bool b = false;
  assert_ok(M, mgr_queue_qsize(q, &n));
  assert_int_equal(n, 0);
  assert_ok(M, mgr_queue_empty(q, &b));
  assert_true(b);
  mgr_value item = T("hello"), got;
  assert_ok(M, mgr_queue_put(q, &item, -1));
  mgr_value arr = ARR(I(1), mgr_float(2.5), NIL);
  assert_ok(M, mgr_queue_put(q, &arr, 0));
  assert_ok(M, mgr_queue_full(q, &b));
  assert_true(b);
  mgr_value three = I(3);
  assert_rc(M, mgr_queue_put(q, &three, 0), MGR_EFULL);
  assert_string_equal(mgr_errmsg(M), "queue.Full");
  /* A wait in the manager that ends at its deadline. */
  int64_t t0 = mono_ms();
  assert_rc(M, mgr_queue_put(q, &three, 30), MGR_EFULL);
  assert_true(mono_ms() - t0 >= 29);
  assert_ok(M, mgr_queue_get(q, -1, &got));
  assert_repr(got, "'hello'");
  assert_ok(M, mgr_queue_get(q, 1500, &got));
  assert_repr(got, "[1, 2.5, None]");
  assert_rc(M, mgr_queue_get(q, 0, &got), MGR_EEMPTY);
  assert_int_equal(got.type, MGR_T_NIL);
  t0 = mono_ms();
  assert_rc(M, mgr_queue_get(q, 30, &got), MGR_EEMPTY);
  assert_true(mono_ms() - t0 >= 29);
  /* A plain Queue has no task_done or join. */
  assert_rc(M, mgr_queue_task_done(q), MGR_EBADOP);
  assert_rc(M, mgr_queue_join(q, -1, &b), MGR_EBADOP);
  /* JoinableQueue. */
  assert_ok(M, mgr_joinable_queue_new(M, 0, &j));
  assert_int_equal(mgr_proxy_kind(j), MGR_K_JQUEUE);
  assert_rc(M, mgr_queue_task_done(j), MGR_EVALUE);
  assert_string_equal(mgr_errmsg(M),
                      "ValueError: task_done() called too many times");
  b = false;
  assert_ok(M, mgr_queue_join(j, -1, &b));
  assert_true(b);
  assert_ok(M, mgr_queue_put(j, &three, -1));
  assert_ok(M, mgr_queue_full(j, &b));
  assert_false(b);
  assert_ok(M, mgr_queue_join(j, 0, &b));
  assert_false(b);
  assert_ok(M, mgr_queue_join(j, 20, &b));
  assert_false(b);
  assert_ok(M, mgr_queue_get(j, 0, &got));
  assert_int_equal(got.u.i, 3);
  assert_ok(M, mgr_queue_task_done(j));
  assert_ok(M, mgr_queue_join(j, 1500, &b));
  assert_true(b);
  assert_ok(M, mgr_queue_join(j, -1, NULL));
  /* NULL arguments: nothing sent. */
  assert_int_equal(mgr_queue_new(NULL, 0, &q), MGR_EINVAL);
  assert_int_equal(mgr_queue_new(M, 0, NULL), MGR_EINVAL);
  assert_int_equal(mgr_joinable_queue_new(M, 0, NULL), MGR_EINVAL);
  assert_int_equal(mgr_queue_put(NULL, &item, 0), MGR_EINVAL);
  assert_int_equal(mgr_queue_put(q, NULL, 0), MGR_EINVAL);
  assert_int_equal(mgr_queue_get(NULL, 0, &got), MGR_EINVAL);
  assert_int_equal(mgr_queue_get(q, 0, NULL), MGR_EINVAL);
  assert_int_equal(mgr_queue_qsize(q, NULL), MGR_EINVAL);
  assert_int_equal(mgr_queue_qsize(NULL, &n), MGR_EINVAL);
  assert_int_equal(mgr_queue_empty(q, NULL), MGR_EINVAL);
  assert_int_equal(mgr_queue_full(q, NULL), MGR_EINVAL);
  assert_int_equal(mgr_queue_task_done(NULL), MGR_EINVAL);
  assert_int_equal(mgr_queue_join(NULL, 0, &b), MGR_EINVAL);
  /* A proxy of another kind: BADOP from the manager. */
  mgr_proxy *d = NULL;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  assert_rc(M, mgr_queue_put(d, &item, 0), MGR_EBADOP);
  assert_rc(M, mgr_queue_get(d, -1, &got), MGR_EBADOP);
  /* A ref to a dead object inside an item. */
  mgr_value dead = mgr_proxy_value(d);
  assert_ok(M, mgr_release(d));
  assert_rc(M, mgr_queue_put(q, &dead, 0), MGR_ENOTFOUND);
  /* mgr_open: one named queue, two proxies. */
  mgr_proxy *n1 = NULL, *n2 = NULL;
  bool created = false;
  mgr_value one = I(1);
  assert_ok(M, mgr_open(M, "test-queue-named", MGR_K_QUEUE, &one, true, &n1,
                        &created));
  assert_true(created);
  assert_ok(M, mgr_open(M, "test-queue-named", MGR_K_QUEUE, NULL, true, &n2,
                        &created));
  assert_false(created);
  assert_ok(M, mgr_queue_put(n1, &item, 0));
  assert_ok(M, mgr_queue_full(n2, &b));
  assert_true(b);
  assert_ok(M, mgr_queue_get(n2, 0, &got));
  assert_repr(got, "'hello'");
  assert_ok(M, mgr_unlink(M, "test-queue-named"));
  assert_ok(M, mgr_release(n1));
  assert_ok(M, mgr_release(n2));
  assert_ok(M, mgr_release(q));
  assert_ok(M, mgr_release(j));
}

#define NPROD 3
#define NCONS 3
#define PER_PROD 300

/* NPROD forked producers put PER_PROD distinct items each into a small
 * JoinableQueue (so they wait for room), NCONS forked consumers get until a
 * None and mark each item done, appending what they got to a shared list.
 * The parent joins the queue once the producers are done, then sends one
 * None per consumer: every item was consumed exactly once. */
static void test_fork_producers_consumers(void **state) {
  (void)state;
  mgr_proxy *q = NULL, *seen = NULL;
  assert_ok(M, mgr_joinable_queue_new(M, 4, &q));
  assert_ok(M, mgr_list_new(M, NULL, &seen));
  pid_t cons[NCONS], prod[NPROD];
  for (int i = 0; i < NCONS; i++) {
    cons[i] = fork_flushed();
    if (cons[i] == 0) {
      for (;;) {
        mgr_value v;
        CU_CHECK(1, mgr_queue_get(q, -1, &v) == MGR_OK);
        if (v.type == MGR_T_NIL) {
          CU_CHECK(2, mgr_queue_task_done(q) == MGR_OK);
          _exit(0);
        }
        CU_CHECK(3, v.type == MGR_T_ARRAY && v.u.a.len == 2);
        CU_CHECK(4, mgr_list_append(seen, &v) == MGR_OK);
        mgr_value_free(&v);
        CU_CHECK(5, mgr_queue_task_done(q) == MGR_OK);
      }
    }
  }
  for (int p = 0; p < NPROD; p++) {
    prod[p] = fork_flushed();
    if (prod[p] == 0) {
      for (int k = 0; k < PER_PROD; k++) {
        mgr_value v = ARR(I(p), I(k));
        /* Some puts with a timeout long enough never to pass. */
        CU_CHECK(1, mgr_queue_put(q, &v, k % 3 ? -1 : 600000) == MGR_OK);
      }
      _exit(0);
    }
  }
  for (int p = 0; p < NPROD; p++)
    assert_child_ok(prod[p]);
  bool done = false;
  assert_ok(M, mgr_queue_join(q, -1, &done));
  assert_true(done);
  size_t n = 0;
  assert_ok(M, mgr_list_len(seen, &n));
  assert_int_equal(n, NPROD * PER_PROD);
  mgr_value none = NIL;
  for (int i = 0; i < NCONS; i++)
    assert_ok(M, mgr_queue_put(q, &none, -1));
  for (int i = 0; i < NCONS; i++)
    assert_child_ok(cons[i]);
  assert_ok(M, mgr_queue_join(q, 0, &done));
  assert_true(done);
  /* Exactly once each: a count per (producer, k). */
  static int count[NPROD][PER_PROD];
  memset(count, 0, sizeof count);
  mgr_value all;
  assert_ok(M, mgr_list_copy(seen, &all));
  assert_int_equal(all.u.a.len, NPROD * PER_PROD);
  for (size_t i = 0; i < all.u.a.len; i++) {
    const mgr_value *v = &all.u.a.items[i];
    int64_t p = v->u.a.items[0].u.i, k = v->u.a.items[1].u.i;
    assert_true(p >= 0 && p < NPROD && k >= 0 && k < PER_PROD);
    count[p][k]++;
  }
  mgr_value_free(&all);
  for (int p = 0; p < NPROD; p++)
    for (int k = 0; k < PER_PROD; k++)
      assert_int_equal(count[p][k], 1);
  assert_ok(M, mgr_queue_qsize(q, &n));
  assert_int_equal(n, 0);
  assert_ok(M, mgr_release(q));
  assert_ok(M, mgr_release(seen));
}

/* Per producer, its items come out in the order it put them (FIFO), with
 * one consumer. */
static void test_fork_fifo_per_producer(void **state) {
  (void)state;
  mgr_proxy *q = NULL;
  assert_ok(M, mgr_queue_new(M, 2, &q));
  pid_t prod[NPROD];
  for (int p = 0; p < NPROD; p++) {
    prod[p] = fork_flushed();
    if (prod[p] == 0) {
      for (int k = 0; k < PER_PROD; k++) {
        mgr_value v = ARR(I(p), I(k));
        CU_CHECK(1, mgr_queue_put(q, &v, -1) == MGR_OK);
      }
      _exit(0);
    }
  }
  int64_t next[NPROD] = {0};
  for (int i = 0; i < NPROD * PER_PROD; i++) {
    mgr_value v;
    assert_ok(M, mgr_queue_get(q, -1, &v));
    int64_t p = v.u.a.items[0].u.i, k = v.u.a.items[1].u.i;
    assert_int_equal(k, next[p]);
    next[p]++;
    mgr_value_free(&v);
  }
  for (int p = 0; p < NPROD; p++)
    assert_child_ok(prod[p]);
  bool b = false;
  assert_ok(M, mgr_queue_empty(q, &b));
  assert_true(b);
  assert_ok(M, mgr_release(q));
}

/* A consumer killed while it waits for an item loses nothing: the next put
 * is stored, not handed to it; a producer killed while it waits for room
 * puts nothing. */
static void test_fork_killed_while_waiting(void **state) {
  (void)state;
  mgr_proxy *q = NULL;
  assert_ok(M, mgr_queue_new(M, 1, &q));
  pid_t doomed = fork_flushed();
  if (doomed == 0) {
    mgr_value v;
    mgr_queue_get(q, -1, &v);
    _exit(99); /* never: it is killed while waiting */
  }
  await_state(M, q, "getters", 1);
  kill(doomed, SIGKILL);
  assert_int_equal(cu_wait(doomed), 1000 + SIGKILL);
  await_state(M, q, "getters", 0);
  mgr_value item = T("kept"), got;
  assert_ok(M, mgr_queue_put(q, &item, 0));
  size_t n = 0;
  assert_ok(M, mgr_queue_qsize(q, &n));
  assert_int_equal(n, 1);
  /* A producer waiting for room, killed. */
  doomed = fork_flushed();
  if (doomed == 0) {
    mgr_value v = T("never stored");
    mgr_queue_put(q, &v, -1);
    _exit(99);
  }
  await_state(M, q, "putters", 1);
  kill(doomed, SIGKILL);
  assert_int_equal(cu_wait(doomed), 1000 + SIGKILL);
  await_state(M, q, "putters", 0);
  assert_ok(M, mgr_queue_get(q, 0, &got));
  assert_repr(got, "'kept'");
  assert_rc(M, mgr_queue_get(q, 0, &got), MGR_EEMPTY);
  assert_ok(M, mgr_release(q));
}

/* A manager shutting down answers its waiters ESHUTDOWN. */
static void test_fork_shutdown_while_waiting(void **state) {
  (void)state;
  if (getenv("MGR_TEST_ADDRESS")) skip(); /* not ours to shut down */
  mgr_client *m = cu_start();
  mgr_proxy *q = NULL;
  assert_ok(m, mgr_queue_new(m, 1, &q));
  mgr_value one = I(1);
  assert_ok(m, mgr_queue_put(q, &one, 0));
  pid_t kid = fork_flushed();
  if (kid == 0) {
    mgr_value two = I(2);
    CU_CHECK(1, mgr_queue_put(q, &two, -1) == MGR_ESHUTDOWN);
    _exit(0);
  }
  await_state(m, q, "putters", 1);
  /* The child's session holds the queue too: it stays, and so does the
   * wait. */
  assert_ok(m, mgr_release(q));
  assert_ok(m, mgr_shutdown(m));
  assert_child_ok(kid);
}

/* The late reply of a get that timed out locally (the manager stopped)
 * carries an item nobody waits for: the thread's next call puts it back at
 * the tail (mgr/sync.h). */
static atomic_int stopped_pid;

static void manager_cont(void) {
  int pid = atomic_exchange(&stopped_pid, 0);
  if (pid > 0) kill(pid, SIGCONT);
}

static void manager_stop(void) {
  pid_t pid = (pid_t)mgr_server_pid(M);
  assert_true(pid > 0);
  atomic_store(&stopped_pid, (int)pid);
  assert_int_equal(kill(pid, SIGSTOP), 0);
  int st = 0;
  pid_t r;
  while ((r = waitpid(pid, &st, WUNTRACED)) < 0 && errno == EINTR) {
  }
  assert_int_equal(r, pid);
  assert_true(WIFSTOPPED(st));
}

static int stop_teardown(void **state) {
  (void)state;
  manager_cont();
  mgr_set_timeout(M, -1);
  return 0;
}

static void test_late_get_given_back(void **state) {
  (void)state;
  if (getenv("MGR_TEST_ADDRESS")) skip(); /* not ours to stop */
  mgr_proxy *q = NULL;
  assert_ok(M, mgr_queue_new(M, 0, &q));
  mgr_value a = T("late item"), b = T("second"), got;
  assert_ok(M, mgr_queue_put(q, &a, 0));
  assert_ok(M, mgr_queue_put(q, &b, 0));
  mgr_set_timeout(M, 50);
  manager_stop();
  /* get_nowait: the manager cannot answer before the local timeout. */
  assert_rc(M, mgr_queue_get(q, 0, &got), MGR_ETIMEDOUT);
  manager_cont();
  mgr_set_timeout(M, -1);
  /* The manager ran the get ("late item" left the queue) before this
   * call; the late reply read by this call sends the item back after it. */
  size_t n = 9;
  assert_ok(M, mgr_queue_qsize(q, &n));
  assert_int_equal(n, 1);
  assert_ok(M, mgr_queue_qsize(q, &n));
  assert_int_equal(n, 2);
  assert_ok(M, mgr_queue_get(q, 0, &got));
  assert_repr(got, "'second'");
  assert_ok(M, mgr_queue_get(q, 0, &got));
  assert_repr(got, "'late item'");
  assert_ok(M, mgr_release(q));
}

int main(void) {
  const struct CMUnitTest harness[] = {
      cmocka_unit_test_setup_teardown(test_create, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_put_get_fifo, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_args, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_refs, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_getters, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_deaf_getter, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_putters, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_deaf_putter, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_ring, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_conn_closed, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_destroyed_while_parked, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_answers_parked, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_joinable, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_batch, su_setup, su_teardown),
      cmocka_unit_test_setup_teardown(test_dump_and_cost, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_memory_limit, small_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_alloc_failures, su_setup,
                                      su_teardown),
      cmocka_unit_test_setup_teardown(test_parked_limit, su_setup, su_teardown),
  };
  const struct CMUnitTest client[] = {
      cmocka_unit_test(test_client_basic),
      cmocka_unit_test(test_fork_producers_consumers),
      cmocka_unit_test(test_fork_fifo_per_producer),
      cmocka_unit_test(test_fork_killed_while_waiting),
      cmocka_unit_test(test_fork_shutdown_while_waiting),
      cmocka_unit_test_teardown(test_late_get_given_back, stop_teardown),
  };
  int rc = cmocka_run_group_tests_name("harness", harness, NULL, NULL);
  rc += cmocka_run_group_tests_name("client", client, group_setup,
                                    group_teardown);
  return rc;
}
