/* mgr tests — BATCH (spec 9.6): the dispatch path without sockets (slots in
 * order, per-slot errors, forbidden sub-ops, limits, depth, frees between
 * sub-requests), then the client builder against a real manager (typed
 * adders, statuses, sticky add errors, exact counts under concurrency). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client_util.h"
#include "common/limits.h"
#include "proto/ops.h"
#include "harness.h"

#define A(...)                                                                 \
  (mgr_value[]){__VA_ARGS__},                                                  \
      sizeof((mgr_value[]){__VA_ARGS__}) / sizeof(mgr_value)
#define ARR(...)                                                               \
  mgr_array((mgr_value[]){__VA_ARGS__},                                        \
            sizeof((mgr_value[]){__VA_ARGS__}) / sizeof(mgr_value))
#define NOARGS mgr_array(NULL, 0)
/* A pointer to a temporary value. */
#define PV(x) ((mgr_value[1]){x})
/* One sub-request [op, oid, args]. */
#define SUB(op, oid, args) ARR(I(op), I((int64_t)(oid)), args)

static mgri_harness H;
static mgri_sconn *C;

static int h_setup(void **st) {
  (void)st;
  if (mgri_h_init(&H) != MGR_OK) return -1;
  C = mgri_h_conn(&H, 0);
  return C ? 0 : -1;
}

static int h_teardown(void **st) {
  (void)st;
  mgri_h_fini(&H);
  return 0;
}

/* Dispatches BATCH [subs] and returns its reply. */
static mgri_hreply *batch(mgr_value subs) {
  mgr_value a[1] = {subs};
  mgri_hreply *r = mgri_h_call(&H, C, MGRI_OP_BATCH, 0, a, 1);
  assert_non_null(r);
  return r;
}

/* Slot i of an ok batch reply: its code, result or message. */
static const mgr_value *slot(mgri_hreply *r, size_t i, int64_t code) {
  assert_int_equal(r->status, MGR_OK);
  assert_int_equal(r->result.type, MGR_T_ARRAY);
  assert_true(i < r->result.u.a.len);
  const mgr_value *s = &r->result.u.a.items[i];
  assert_int_equal(s->type, MGR_T_ARRAY);
  assert_int_equal(s->u.a.len, 2);
  assert_int_equal(s->u.a.items[0].type, MGR_T_INT);
  if (s->u.a.items[0].u.i != code)
    fail_msg("slot %zu: code %lld, want %lld (%s)", i,
             (long long)s->u.a.items[0].u.i, (long long)code,
             cu_repr(&s->u.a.items[1]));
  if (code) assert_int_equal(s->u.a.items[1].type, MGR_T_TEXT);
  return &s->u.a.items[1];
}

static void slot_int(mgri_hreply *r, size_t i, int64_t want) {
  const mgr_value *v = slot(r, i, 0);
  assert_int_equal(v->type, MGR_T_INT);
  assert_int_equal(v->u.i, want);
}

static int64_t wire(int err) { return (int64_t)mgri_err_to_wire(err); }

/* --------------------------------------------------------------- dispatch -- */

static void t_mixed_in_order(void **st) {
  (void)st;
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  uint64_t l = mgri_h_create(&H, C, MGR_K_LIST, NULL);
  assert_true(d && l);
  mgri_hreply *r = batch(ARR(SUB(MGRI_OP_DICT_SET, d, ARR(T("a"), I(1))),
                             SUB(MGRI_OP_DICT_INCR, d, ARR(T("a"), I(2))),
                             SUB(MGRI_OP_DICT_GET, d, ARR(T("b"))),
                             SUB(MGRI_OP_LIST_APPEND, l, ARR(I(5))),
                             SUB(MGRI_OP_LIST_GET, l, ARR(I(0))),
                             SUB(MGRI_OP_DICT_GET, d, ARR(T("a"))),
                             SUB(MGRI_OP_PING, 0, ARR(T("echo")))));
  assert_int_equal(r->result.u.a.len, 7);
  assert_int_equal(slot(r, 0, 0)->type, MGR_T_NIL);
  slot_int(r, 1, 3);
  assert_string_equal(slot(r, 2, wire(MGR_EKEY))->u.s.ptr, "KeyError: 'b'");
  assert_int_equal(slot(r, 3, 0)->type, MGR_T_NIL);
  slot_int(r, 4, 5);
  slot_int(r, 5, 3);
  assert_string_equal(slot(r, 6, 0)->u.s.ptr, "echo");
  /* The effects are those of the requests one by one. */
  r = mgri_h_call(&H, C, MGRI_OP_DICT_LEN, d, NULL, 0);
  assert_int_equal(r->result.u.i, 1);
}

static void t_errors_do_not_stop(void **st) {
  (void)st;
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  mgri_hreply *r = batch(
      ARR(I(5),                       /* not an entry */
          ARR(I(MGRI_OP_PING), I(0)), /* 2 elements */
          SUB(MGRI_OP_PING, 0,
              ARR(I(0), I(1), I(2), I(3), I(4), I(5), I(6), I(7),
                  I(8))),                           /* 9 args */
          ARR(I(-1), I(0), NOARGS),                 /* op not a uint */
          SUB(99, d, NOARGS),                       /* unknown op */
          SUB(MGRI_OP_DICT_GET, 987654, ARR(I(1))), /* unknown oid */
          SUB(MGRI_OP_LIST_GET, d, ARR(I(0))),      /* wrong kind */
          SUB(MGRI_OP_DICT_SET, d, NOARGS),         /* arity */
          SUB(MGRI_OP_DICT_SET, d, ARR(ARR(mgr_map(NULL, 0)), I(1))), /* key */
          SUB(MGRI_OP_DICT_SET, d, ARR(T("ok"), I(7)))));
  assert_int_equal(r->result.u.a.len, 10);
  for (size_t i = 0; i < 4; i++)
    slot(r, i, wire(MGR_ETYPE));
  assert_non_null(strstr(slot(r, 0, wire(MGR_ETYPE))->u.s.ptr, "entry 0"));
  slot(r, 4, wire(MGR_EBADOP));
  assert_non_null(strstr(slot(r, 5, wire(MGR_ENOTFOUND))->u.s.ptr, "#987654"));
  slot(r, 6, wire(MGR_EBADOP));
  slot(r, 7, wire(MGR_ETYPE));
  slot(r, 8, wire(MGR_ETYPE));
  assert_int_equal(slot(r, 9, 0)->type, MGR_T_NIL);
  r = mgri_h_call(&H, C, MGRI_OP_DICT_GET, d, A(T("ok")));
  assert_int_equal(r->result.u.i, 7);
}

static void t_forbidden(void **st) {
  (void)st;
  uint64_t lk = mgri_h_create(&H, C, MGR_K_LOCK, NULL);
  mgr_value hello = ARR(I(1), I(1), I(1), I(0));
  mgri_hreply *r =
      batch(ARR(SUB(MGRI_OP_HELLO, 0, hello), SUB(MGRI_OP_SHUTDOWN, 0, NOARGS),
                SUB(MGRI_OP_BATCH, 0, ARR(ARR(SUB(MGRI_OP_PING, 0, NOARGS)))),
                SUB(MGRI_OP_LOCK_ACQUIRE, lk, ARR(mgr_bool(true), mgr_nil())),
                SUB(MGRI_OP_LOCK_ACQUIRE, lk, ARR(mgr_bool(true), I(0))),
                SUB(MGRI_OP_LOCK_ACQUIRE, lk, ARR(mgr_bool(false), mgr_nil())),
                SUB(MGRI_OP_LOCK_LOCKED, lk, NOARGS),
                SUB(MGRI_OP_LOCK_RELEASE, lk, NOARGS)));
  assert_int_equal(H.last_action, MGRI_DISPATCH_OK); /* no close, no stop */
  for (size_t i = 0; i < 5; i++)
    slot(r, i, wire(MGR_EVALUE));
  assert_string_equal(slot(r, 1, wire(MGR_EVALUE))->u.s.ptr,
                      "ValueError: SHUTDOWN cannot be batched");
  assert_non_null(strstr(slot(r, 3, wire(MGR_EVALUE))->u.s.ptr, "blocking"));
  slot_int(r, 5, 1);
  assert_true(slot(r, 6, 0)->u.b);
  assert_int_equal(slot(r, 7, 0)->type, MGR_T_NIL);
  assert_int_equal(mgri_store_parked_count(H.s), 0);
  /* The connection is still past HELLO and serving. */
  r = mgri_h_call(&H, C, MGRI_OP_PING, 0, NULL, 0);
  assert_int_equal(r->status, MGR_OK);
}

static void t_whole_batch_errors(void **st) {
  (void)st;
  mgri_hreply *r = batch(NOARGS);
  assert_int_equal(r->status, MGR_EVALUE);
  r = batch(I(1));
  assert_int_equal(r->status, MGR_ETYPE);
  mgr_value sub = SUB(MGRI_OP_PING, 0, NOARGS);
  r = mgri_h_call(&H, C, MGRI_OP_BATCH, 5, A(ARR(sub)));
  assert_int_equal(r->status, MGR_EBADOP);
  r = mgri_h_call(&H, C, MGRI_OP_BATCH, 0, A(ARR(sub), I(1)));
  assert_int_equal(r->status, MGR_ETYPE);
  /* MGRI_BATCH_MAX sub-requests run; one more is LIMIT. */
  mgr_value *subs = malloc((MGRI_BATCH_MAX + 1) * sizeof *subs);
  assert_non_null(subs);
  for (size_t i = 0; i <= MGRI_BATCH_MAX; i++)
    subs[i] = sub;
  r = batch(mgr_array(subs, MGRI_BATCH_MAX));
  assert_int_equal(r->status, MGR_OK);
  assert_int_equal(r->result.u.a.len, MGRI_BATCH_MAX);
  slot(r, MGRI_BATCH_MAX - 1, 0);
  r = batch(mgr_array(subs, MGRI_BATCH_MAX + 1));
  assert_int_equal(r->status, MGR_ELIMIT);
  free(subs);
}

/* Each sub-request is followed by what follows a request: an object whose
 * count reached 0 is gone for the next one, and a value a result borrowed
 * and the next one freed was copied first (ASan checks). */
static void t_between_subrequests(void **st) {
  (void)st;
  uint64_t d = mgri_h_create(&H, C, MGR_K_DICT, NULL);
  const char *big = "a value long enough to live on the heap, not inline";
  mgri_hreply *r = batch(ARR(
      SUB(MGRI_OP_DICT_SET, d, ARR(T("k"), T(big))),
      SUB(MGRI_OP_DICT_GET, d, ARR(T("k"))), SUB(MGRI_OP_DICT_ITEMS, d, NOARGS),
      SUB(MGRI_OP_DICT_SET, d, ARR(T("k"), I(0))),
      SUB(MGRI_OP_DICT_POP, d, ARR(T("k"))), SUB(MGRI_OP_RELEASE, d, NOARGS),
      SUB(MGRI_OP_DICT_GET, d, ARR(T("k")))));
  assert_string_equal(slot(r, 1, 0)->u.s.ptr, big);
  assert_string_equal(cu_repr(slot(r, 2, 0)),
                      "[['k', 'a value long enough to live on the heap, not "
                      "inline']]");
  slot_int(r, 4, 0);
  slot(r, 6, wire(MGR_ENOTFOUND));
  uint32_t kind;
  assert_int_equal(mgri_store_object_info(H.s, d, &kind, NULL, NULL),
                   MGR_ENOTFOUND);
}

/* A chain of n nested arrays around an int: nesting n + 1. */
static mgr_value chain(mgr_value *cells, size_t n) {
  cells[n] = I(1);
  for (size_t i = n; i > 0; i--)
    cells[i - 1] = mgr_array(&cells[i], 1);
  return cells[0];
}

static void t_deep_result(void **st) {
  (void)st;
  mgr_value cells[40];
  uint64_t v = mgri_h_create(&H, C, MGR_K_VAR, NULL);
  uint64_t w = mgri_h_create(&H, C, MGR_K_VAR, NULL);
  /* Nesting 30: fine at top level, too deep for a slot (29). */
  mgri_hreply *r = mgri_h_call(&H, C, MGRI_OP_VAR_SET, v, A(chain(cells, 29)));
  assert_int_equal(r->status, MGR_OK);
  r = mgri_h_call(&H, C, MGRI_OP_VAR_SET, w, A(chain(cells, 28)));
  assert_int_equal(r->status, MGR_OK);
  r = batch(
      ARR(SUB(MGRI_OP_VAR_GET, v, NOARGS), SUB(MGRI_OP_VAR_GET, w, NOARGS)));
  assert_non_null(strstr(slot(r, 0, wire(MGR_ELIMIT))->u.s.ptr, "nested"));
  assert_int_equal(slot(r, 1, 0)->type, MGR_T_ARRAY);
}

/* ------------------------------------------------------------------ client -- */

static mgr_client *M;

static int c_setup(void **st) {
  (void)st;
  M = cu_start();
  return M ? 0 : -1;
}

static int c_teardown(void **st) {
  (void)st;
  return cu_stop(M) == MGR_OK ? 0 : -1;
}

static void t_client_mixed(void **st) {
  (void)st;
  mgr_proxy *d, *l, *v;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  assert_ok(M, mgr_list_new(M, NULL, &l));
  assert_ok(M, mgr_var_new(M, NULL, &v));
  mgr_batch *b;
  assert_ok(M, mgr_batch_new(M, &b));
  {
    /* The builder copies: these values die before the run. */
    char key[8] = "a", text[64] = "hello, batch: a text on the heap";
    mgr_value k = T(key), val = T(text), miss = T("zz"), dflt = I(-1);
    assert_ok(M, mgr_batch_dict_set(b, d, &k, &val));
    assert_ok(M, mgr_batch_dict_incr_int(b, d, &miss, 5, true));
    assert_ok(M, mgr_batch_dict_get(b, d, &k));
    assert_ok(M, mgr_batch_dict_get(b, d, PV(T("nope"))));
    assert_ok(M, mgr_batch_dict_get_default(b, d, &miss, &dflt));
    assert_ok(M, mgr_batch_dict_contains(b, d, &k));
    assert_ok(M, mgr_batch_dict_len(b, d));
    assert_ok(M, mgr_batch_list_append(b, l, &val));
    assert_ok(M, mgr_batch_list_append(b, l, PV(I(10))));
    assert_ok(M, mgr_batch_list_incr_int(b, l, 1, 5));
    assert_ok(M, mgr_batch_list_set(b, l, 0, PV(I(1))));
    assert_ok(M, mgr_batch_list_get(b, l, 7));
    assert_ok(M, mgr_batch_list_len(b, l));
    assert_ok(M, mgr_batch_var_set(b, v, PV(I(40))));
    assert_ok(M, mgr_batch_var_incr_int(b, v, 2));
    assert_ok(M, mgr_batch_var_get(b, v));
    assert_ok(M, mgr_batch_dict_del(b, d, &miss));
    memset(key, 'x', sizeof key - 1);
    memset(text, 'y', sizeof text - 1);
  }
  assert_int_equal(mgr_batch_len(b), 17);
  assert_int_equal(mgr_batch_status(b, 0), MGR_EINVAL); /* not run yet */
  mgr_value res;
  assert_ok(M, mgr_batch_run(b, &res));
  assert_string_equal(cu_repr(&res),
                      "[None, 5, 'hello, batch: a text on the heap', None, 5, "
                      "True, 2, None, None, 15, None, None, 2, None, 42, 42, "
                      "None]");
  mgr_value_free(&res);
  for (size_t i = 0; i < 17; i++) {
    int want = i == 3 ? MGR_EKEY : i == 11 ? MGR_EINDEX : MGR_OK;
    assert_int_equal(mgr_batch_status(b, i), want);
  }
  assert_string_equal(mgr_batch_errmsg(b, 3), "KeyError: 'nope'");
  assert_string_equal(mgr_batch_errmsg(b, 0), "");
  assert_int_equal(mgr_batch_status(b, 17), MGR_EINVAL);
  /* Run again without results: the ops run again. */
  assert_ok(M, mgr_batch_run(b, NULL));
  int64_t n = 0;
  assert_ok(M, mgr_var_incr_int(v, 0, &n));
  assert_int_equal(n, 42);
  size_t len = 0;
  assert_ok(M, mgr_list_len(l, &len));
  assert_int_equal(len, 4);
  /* Cleared: empty, and an empty batch is the manager's VALUE. */
  mgr_batch_clear(b);
  assert_int_equal(mgr_batch_len(b), 0);
  assert_rc(M, mgr_batch_run(b, &res), MGR_EVALUE);
  assert_int_equal(res.type, MGR_T_NIL);
  mgr_batch_free(b);
  mgr_release(d);
  mgr_release(l);
  mgr_release(v);
}

static void t_client_forbidden(void **st) {
  (void)st;
  mgr_proxy *lk;
  assert_ok(M, mgr_lock_new(M, &lk));
  mgr_batch *b;
  assert_ok(M, mgr_batch_new(M, &b));
  assert_ok(M, mgr_batch_add(b, NULL, "SHUTDOWN", NULL, 0));
  assert_ok(M, mgr_batch_add(b, NULL, "HELLO", A(I(1), I(1), I(1), I(0))));
  assert_ok(M,
            mgr_batch_add(b, lk, "LOCK_ACQUIRE", A(mgr_bool(true), mgr_nil())));
  assert_ok(
      M, mgr_batch_add(b, lk, "LOCK_ACQUIRE", A(mgr_bool(false), mgr_nil())));
  assert_ok(M, mgr_batch_add(b, lk, "LOCK_RELEASE", NULL, 0));
  assert_ok(M, mgr_batch_add(b, NULL, "PING", A(I(3))));
  mgr_value res;
  assert_ok(M, mgr_batch_run(b, &res));
  assert_string_equal(cu_repr(&res), "[None, None, None, 1, None, 3]");
  mgr_value_free(&res);
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(mgr_batch_status(b, i), MGR_EVALUE);
  assert_int_equal(mgr_batch_status(b, 3), MGR_OK);
  assert_ok(M, mgr_ping(M)); /* still running */
  mgr_batch_free(b);
  mgr_release(lk);
}

static void t_client_add_errors(void **st) {
  (void)st;
  mgr_proxy *d, *l;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  assert_ok(M, mgr_list_new(M, NULL, &l));
  mgr_batch *b;
  assert_ok(M, mgr_batch_new(M, &b));
  /* Wrong kind, unknown name: refused and sticky until clear. */
  assert_rc(M, mgr_batch_list_len(b, d), MGR_EINVAL);
  assert_rc(M, mgr_batch_dict_len(b, d), MGR_EINVAL);
  assert_rc(M, mgr_batch_run(b, NULL), MGR_EINVAL);
  mgr_batch_clear(b);
  assert_rc(M, mgr_batch_add(b, d, "DICT_FROB", NULL, 0), MGR_EINVAL);
  mgr_batch_clear(b);
  assert_rc(M, mgr_batch_dict_len(b, NULL), MGR_EINVAL);
  mgr_batch_clear(b);
  /* A kind runs the ops of the kind it extends (spec 5.2): a
   * BoundedSemaphore the Semaphore's, a JoinableQueue the Queue's, an RLock
   * the Lock's; the other way round is refused. */
  {
    mgr_proxy *bs, *jq, *rl, *q;
    assert_ok(M, mgr_bounded_semaphore_new(M, 1, &bs));
    assert_ok(M, mgr_joinable_queue_new(M, 0, &jq));
    assert_ok(M, mgr_rlock_new(M, &rl));
    assert_ok(M, mgr_queue_new(M, 0, &q));
    assert_ok(M, mgr_batch_add(b, bs, "SEM_ACQUIRE", A(mgr_bool(false))));
    assert_ok(M, mgr_batch_add(b, jq, "QUEUE_PUT", A(I(5), mgr_bool(false))));
    assert_ok(M, mgr_batch_add(b, jq, "QUEUE_TASK_DONE", NULL, 0));
    assert_ok(
        M, mgr_batch_add(b, rl, "LOCK_ACQUIRE", A(mgr_bool(false), mgr_nil())));
    mgr_value res;
    assert_ok(M, mgr_batch_run(b, &res));
    assert_repr(res, "[True, None, None, 1]");
    mgr_batch_clear(b);
    assert_rc(M, mgr_batch_add(b, q, "QUEUE_TASK_DONE", NULL, 0), MGR_EINVAL);
    mgr_batch_clear(b);
    assert_ok(M, mgr_release(bs));
    assert_ok(M, mgr_release(jq));
    assert_ok(M, mgr_release(rl));
    assert_ok(M, mgr_release(q));
  }
  /* Depth: an argument may nest 27 levels inside a batch. */
  mgr_value cells[40];
  assert_rc(M, mgr_batch_list_append(b, l, PV(chain(cells, 27))), MGR_EINVAL);
  mgr_batch_clear(b);
  assert_ok(M, mgr_batch_list_append(b, l, PV(chain(cells, 26))));
  assert_ok(M, mgr_batch_run(b, NULL));
  assert_int_equal(mgr_batch_status(b, 0), MGR_OK);
  /* MGRI_BATCH_MAX operations, then LIMIT (sticky). */
  mgr_batch_clear(b);
  for (size_t i = 0; i < MGRI_BATCH_MAX; i++)
    assert_ok(M, mgr_batch_dict_incr_int(b, d, PV(I(1)), 1, true));
  assert_rc(M, mgr_batch_dict_len(b, d), MGR_ELIMIT);
  assert_rc(M, mgr_batch_run(b, NULL), MGR_ELIMIT);
  mgr_batch_clear(b);
  for (size_t i = 0; i < MGRI_BATCH_MAX; i++)
    assert_ok(M, mgr_batch_dict_incr_int(b, d, PV(I(1)), 1, true));
  mgr_value res;
  assert_ok(M, mgr_batch_run(b, &res));
  assert_int_equal(res.u.a.len, MGRI_BATCH_MAX);
  assert_int_equal(res.u.a.items[MGRI_BATCH_MAX - 1].u.i, MGRI_BATCH_MAX);
  mgr_value_free(&res);
  mgr_batch_free(b);
  mgr_release(d);
  mgr_release(l);
}

/* The adder's other refusals, each sticky until clear: a proxy of another
 * client (even of the same manager), an op name NULL, more arguments than
 * a request carries, arguments counted but not given. And two adders'
 * defaults: dict_get_default's NULL default is None; dict_incr_int without
 * use_default is KeyError for a missing key, that slot only. */
static void t_client_add_refusals(void **st) {
  (void)st;
  mgr_proxy *d, *d2;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  mgr_client *m2;
  assert_ok(M, mgr_connect(mgr_address(M), NULL, &m2));
  assert_ok(m2, mgr_dict_new(m2, NULL, &d2));
  mgr_batch *b;
  assert_ok(M, mgr_batch_new(M, &b));
  assert_rc(M, mgr_batch_dict_len(b, d2), MGR_EINVAL);
  assert_rc(M, mgr_batch_dict_len(b, d), MGR_EINVAL); /* sticky */
  assert_int_equal(mgr_batch_len(b), 0);
  mgr_batch_clear(b);
  assert_rc(M, mgr_batch_add(b, NULL, NULL, NULL, 0), MGR_EINVAL);
  mgr_batch_clear(b);
  mgr_value nine[MGRI_ARGS_MAX + 1];
  for (size_t i = 0; i < MGRI_ARGS_MAX + 1; i++)
    nine[i] = I((int64_t)i);
  assert_rc(M, mgr_batch_add(b, NULL, "PING", nine, MGRI_ARGS_MAX + 1),
            MGR_EINVAL);
  mgr_batch_clear(b);
  assert_rc(M, mgr_batch_add(b, d, "DICT_GET", NULL, 1), MGR_EINVAL);
  assert_int_equal(mgr_batch_len(b), 0);
  mgr_batch_clear(b);

  mgr_value miss = T("missing");
  assert_ok(M, mgr_batch_dict_get_default(b, d, &miss, NULL));
  assert_ok(M, mgr_batch_dict_incr_int(b, d, &miss, 1, false));
  assert_ok(M, mgr_batch_dict_len(b, d));
  mgr_value res;
  assert_ok(M, mgr_batch_run(b, &res));
  assert_repr(res, "[None, None, 0]");
  assert_int_equal(mgr_batch_status(b, 0), MGR_OK);
  assert_int_equal(mgr_batch_status(b, 1), MGR_EKEY);
  assert_int_equal(mgr_batch_status(b, 2), MGR_OK);
  assert_string_equal(mgr_batch_errmsg(b, 1), "KeyError: 'missing'");
  assert_string_equal(mgr_batch_errmsg(b, 3), ""); /* past the end */
  mgr_batch_free(b);
  assert_ok(m2, mgr_release(d2));
  mgr_close(m2);
  assert_ok(M, mgr_release(d));
}

#define NPROC 8
#define NBATCH 40
#define K 16

struct shared {
  mgr_proxy *d, *l, *v;
};

static int worker(int i, void *ctx) {
  struct shared *s = ctx;
  mgr_batch *b;
  CU_CHECK(1, mgr_batch_new(M, &b) == MGR_OK);
  mgr_value key = T("n"), mine = I(i);
  for (int k = 0; k < K; k++) {
    CU_CHECK(2, mgr_batch_dict_incr_int(b, s->d, k & 1 ? &key : &mine, 1,
                                        true) == MGR_OK);
    CU_CHECK(3, mgr_batch_list_incr_int(b, s->l, 0, 1) == MGR_OK);
    CU_CHECK(4, mgr_batch_var_incr_int(b, s->v, 1) == MGR_OK);
  }
  for (int n = 0; n < NBATCH; n++) {
    CU_CHECK(5, mgr_batch_run(b, NULL) == MGR_OK);
    for (size_t j = 0; j < mgr_batch_len(b); j++)
      CU_CHECK(6, mgr_batch_status(b, j) == MGR_OK);
  }
  mgr_batch_free(b);
  return 0;
}

static void t_client_concurrent(void **st) {
  (void)st;
  struct shared s;
  assert_ok(M, mgr_dict_new(M, NULL, &s.d));
  mgr_value zero = I(0);
  assert_ok(M, mgr_list_new(M, PV(ARR(zero)), &s.l));
  assert_ok(M, mgr_var_new(M, &zero, &s.v));
  cu_pipe go = cu_pipe_new();
  pid_t pids[NPROC];
  fflush(stdout);
  fflush(stderr);
  for (int i = 0; i < NPROC; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      close(go.w);
      cu_waitsig(go);
      _exit(worker(i, &s));
    }
  }
  cu_pipe_close(go);
  for (int i = 0; i < NPROC; i++)
    assert_child_ok(pids[i]);
  mgr_value v;
  assert_ok(M, mgr_dict_get(s.d, PV(T("n")), &v));
  assert_int_equal(v.u.i, NPROC * NBATCH * K / 2);
  for (int i = 0; i < NPROC; i++) {
    assert_ok(M, mgr_dict_get(s.d, PV(I(i)), &v));
    assert_int_equal(v.u.i, NBATCH * K / 2);
  }
  assert_ok(M, mgr_list_get(s.l, 0, &v));
  assert_int_equal(v.u.i, NPROC * NBATCH * K);
  assert_ok(M, mgr_var_get(s.v, &v));
  assert_int_equal(v.u.i, NPROC * NBATCH * K);
  mgr_release(s.d);
  mgr_release(s.l);
  mgr_release(s.v);
}

int main(void) {
  const struct CMUnitTest dispatch[] = {
      cmocka_unit_test_setup_teardown(t_mixed_in_order, h_setup, h_teardown),
      cmocka_unit_test_setup_teardown(t_errors_do_not_stop, h_setup,
                                      h_teardown),
      cmocka_unit_test_setup_teardown(t_forbidden, h_setup, h_teardown),
      cmocka_unit_test_setup_teardown(t_whole_batch_errors, h_setup,
                                      h_teardown),
      cmocka_unit_test_setup_teardown(t_between_subrequests, h_setup,
                                      h_teardown),
      cmocka_unit_test_setup_teardown(t_deep_result, h_setup, h_teardown),
  };
  const struct CMUnitTest client[] = {
      cmocka_unit_test(t_client_mixed),
      cmocka_unit_test(t_client_forbidden),
      cmocka_unit_test(t_client_add_errors),
      cmocka_unit_test(t_client_add_refusals),
      cmocka_unit_test(t_client_concurrent),
  };
  int rc = cmocka_run_group_tests_name("batch dispatch", dispatch, NULL, NULL);
  rc |=
      cmocka_run_group_tests_name("batch client", client, c_setup, c_teardown);
  return rc;
}
