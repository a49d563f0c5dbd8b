/* mgr — Barrier (spec 9.13): BARRIER_WAIT parks until `parties` waits have
 * arrived, then the whole generation is answered at once, each with its
 * arrival index (threading.Barrier's: the first gets 0). A wait timing out,
 * an abort, a reset or a waiter's connection closing breaks it: every
 * waiter gets BROKEN, and so does every later wait until a reset. */
#include "../../trace/trace.h"

#include "mgr/error.h"
#include "proto/ops.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/objects.h"
#include "server/reply.h"
#include "server/wait.h"

typedef struct barst {
  int64_t parties;
  uint64_t generation; /* how many times it tripped */
  bool broken;
  /* The default of every wait, as CREATE gave it: nil, an int or a float (a
   * scalar: nothing allocated). */
  mgr_value timeout;
  /* This generation's waiters in arrival order: the i-th has index i (in
   * its data). None leaves without breaking the barrier. */
  mgri_waitq q;
} barst;

static barst *K(const mgri_obj *o) { return mgri_state(o); }

/* v read as a timeout argument (spec 9.7), by mgri_arg_timeout's own rules:
 * the barrier's default is checked and turned into a deadline exactly as a
 * wait's argument. */
static int timeout_of(mgri_octx *x, const mgr_value *v, int64_t *deadline,
                      int *what) {
  const mgr_value *args = x->args;
  size_t nargs = x->nargs;
  x->args = v;
  x->nargs = 1;
  int rc = mgri_arg_timeout(x, 0, deadline, what);
  x->args = args;
  x->nargs = nargs;
  return rc;
}

/* Answers every waiter but skip (NULL: none) BROKEN with msg, oldest
 * first. skip stays: it is the one whose connection closes (wait.c frees
 * it), and the others may be of that same connection (then their replies
 * go nowhere, and wait.c's loop no longer sees them). */
static void answer_broken(mgri_store *s, barst *k, mgri_waiter *skip,
                          const char *msg) {
  mgri_waiter *w;
  while ((w = k->q.head) && w != skip)
    mgri_wait_answer(s, w, MGR_EBROKEN, NULL, msg, MGRI_TRACE_WAIT_BROKEN);
  if (w)
    while ((w = skip->qnext))
      mgri_wait_answer(s, w, MGR_EBROKEN, NULL, msg, MGRI_TRACE_WAIT_BROKEN);
}

/* Whether a waiter's deadline has passed without the clock answering it
 * yet: it timed out before the last party came. */
static bool any_late(const barst *k, int64_t now) {
  for (const mgri_waiter *w = k->q.head; w; w = w->qnext)
    if (w->deadline <= now) return true;
  return false;
}

/* --- ops ---------------------------------------------------------------- */

/* BARRIER_WAIT [timeout?]: b.wait(timeout=None). */
static int op_wait(mgri_octx *x) {
  barst *k = K(x->o);
  int64_t deadline;
  int what;
  /* Python: None (or nothing) is the barrier's default. */
  int rc = x->nargs == 0 || x->args[0].type == MGR_T_NIL
               ? timeout_of(x, &k->timeout, &deadline, &what)
               : mgri_arg_timeout(x, 0, &deadline, &what);
  if (rc) return rc;
  if (k->broken)
    return mgri_fail(x, MGR_EBROKEN,
                     "BrokenBarrierError: the barrier is broken");
  int64_t index = (int64_t)k->q.n;
  if (index + 1 == k->parties) {
    if (any_late(k, x->now)) {
      k->broken = true;
      answer_broken(x->s, k, NULL,
                    "BrokenBarrierError: a party's wait timed out");
      return mgri_fail(x, MGR_EBROKEN,
                       "BrokenBarrierError: a party's wait timed out");
    }
    /* The last party: the generation passes. */
    mgri_waiter *w;
    while ((w = k->q.head)) {
      mgr_value r = mgr_int((int64_t)w->data);
      mgri_wait_answer(x->s, w, MGR_OK, &r, NULL, MGRI_TRACE_WAIT_GRANTED);
    }
    k->generation++;
    x->result = mgr_int(index);
    return MGR_OK;
  }
  if (what == MGRI_TIMEOUT_ZERO) {
    /* It times out at once, before the others: Python breaks the barrier
     * (wait(0) on a barrier still filling). */
    k->broken = true;
    answer_broken(x->s, k, NULL,
                  "BrokenBarrierError: a party's wait timed out");
    return mgri_fail(x, MGR_EBROKEN, "BrokenBarrierError: the wait timed out");
  }
  return mgri_wait_park(x, &k->q, deadline, (uint64_t)index);
}

/* BARRIER_RESET: the waiters get BROKEN, the barrier is whole and empty. */
static int op_reset(mgri_octx *x) {
  barst *k = K(x->o);
  answer_broken(x->s, k, NULL, "BrokenBarrierError: the barrier was reset");
  k->broken = false;
  return MGR_OK;
}

/* BARRIER_ABORT: broken until a reset. */
static int op_abort(mgri_octx *x) {
  barst *k = K(x->o);
  k->broken = true;
  answer_broken(x->s, k, NULL, "BrokenBarrierError: the barrier was aborted");
  return MGR_OK;
}

static int op_parties(mgri_octx *x) {
  x->result = mgr_int(K(x->o)->parties);
  return MGR_OK;
}

static int op_n_waiting(mgri_octx *x) {
  x->result = mgr_int((int64_t)K(x->o)->q.n);
  return MGR_OK;
}

static int op_broken(mgri_octx *x) {
  x->result = mgr_bool(K(x->o)->broken);
  return MGR_OK;
}

/* --- the kind's hooks ---------------------------------------------------- */

/* init: parties, or [parties, timeout]. */
static int parse_init(mgri_octx *x, const mgr_value *init, int64_t *parties,
                      mgr_value *timeout) {
  const mgr_value *p = init, *t = NULL;
  if (!init || init->type == MGR_T_NIL)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: Barrier() missing required argument: "
                     "'parties'");
  if (init->type == MGR_T_ARRAY) {
    if (init->u.a.len != 2)
      return mgri_fail(x, MGR_ETYPE,
                       "TypeError: Barrier() init must be parties or "
                       "[parties, timeout], not an array of %zu",
                       init->u.a.len);
    p = &init->u.a.items[0];
    t = &init->u.a.items[1];
  }
  if (p->type != MGR_T_INT)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: Barrier() parties must be int, not %s",
                     mgri_tname(p));
  if (p->u.i < 1)
    return mgri_fail(x, MGR_EVALUE, "ValueError: parties must be >= 1");
  *parties = p->u.i;
  *timeout = mgr_nil();
  if (t) {
    int64_t deadline;
    int what;
    int rc = timeout_of(x, t, &deadline, &what);
    if (rc) return rc;
    *timeout = *t;
  }
  return MGR_OK;
}

static int bar_init_check(mgri_octx *x, uint32_t kind, const mgr_value *init) {
  (void)kind;
  int64_t parties;
  mgr_value timeout;
  return parse_init(x, init, &parties, &timeout);
}

static int bar_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  return parse_init(x, init, &K(o)->parties, &K(o)->timeout);
}

static void bar_destroy(mgri_store *s, mgri_obj *o) {
  mgri_wait_cancel_all(s, &K(o)->q, MGR_ENOTFOUND,
                       "LookupError: the Barrier was destroyed while waiting");
}

static void bar_refs(const mgri_obj *o, void (*fn)(void *, uint64_t),
                     void *ctx) {
  (void)o;
  (void)fn;
  (void)ctx; /* a barrier stores no values */
}

/* A wait reached its deadline: the barrier breaks (Python's wait raises
 * BrokenBarrierError in that party and in every other). */
static void bar_expired(mgri_store *s, mgri_waiter *w) {
  barst *k = K(w->obj);
  k->broken = true;
  answer_broken(s, k, w, "BrokenBarrierError: a party's wait timed out");
  mgri_wait_answer(s, w, MGR_EBROKEN, NULL,
                   "BrokenBarrierError: the wait timed out",
                   MGRI_TRACE_WAIT_TIMEOUT);
}

/* A waiter's connection closed: its party can never arrive, so the barrier
 * breaks (spec 9.13) rather than leave the others waiting for ever. w
 * itself is freed by wait.c. */
static void bar_gone(mgri_store *s, mgri_waiter *w) {
  barst *k = K(w->obj);
  k->broken = true;
  answer_broken(s, k, w,
                "BrokenBarrierError: a waiting party's connection closed");
}

static int bar_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  barst *k = K(o);
  mgr_value *kv = mgri_scratch(x, 10);
  if (!kv) return MGR_ELIMIT;
  kv[0] = mgr_text("parties");
  kv[1] = mgr_int(k->parties);
  kv[2] = mgr_text("n_waiting");
  kv[3] = mgr_int((int64_t)k->q.n);
  kv[4] = mgr_text("broken");
  kv[5] = mgr_bool(k->broken);
  kv[6] = mgr_text("generation");
  kv[7] = mgr_int((int64_t)k->generation);
  kv[8] = mgr_text("timeout");
  kv[9] = k->timeout;
  *out = mgr_map(kv, 5);
  return MGR_OK;
}

/* The cost table's n for a barrier (spec 14.2.4). */
static size_t bar_len(const mgri_obj *o) { return (size_t)K(o)->parties; }

static const mgri_handler ops[] = {
    {MGRI_OP_BARRIER_WAIT, op_wait, MGRI_COST_LEN},
    {MGRI_OP_BARRIER_RESET, op_reset, MGRI_COST_LEN},
    {MGRI_OP_BARRIER_ABORT, op_abort, MGRI_COST_LEN},
    {MGRI_OP_BARRIER_PARTIES, op_parties, MGRI_COST_ONE},
    {MGRI_OP_BARRIER_N_WAITING, op_n_waiting, MGRI_COST_ONE},
    {MGRI_OP_BARRIER_BROKEN, op_broken, MGRI_COST_ONE},
};

const mgri_kind mgri_kind_barrier = {
    .id = MGR_K_BARRIER,
    .state_size = sizeof(barst),
    .init_check = bar_init_check,
    .create = bar_create,
    .destroy = bar_destroy,
    .refs = bar_refs,
    .expired = bar_expired,
    .gone = bar_gone,
    .dump = bar_dump,
    .len = bar_len,
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
};
