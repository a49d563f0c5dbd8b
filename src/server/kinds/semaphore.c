/* mgr — Semaphore and BoundedSemaphore (spec 9.12): a counter that
 * SEM_ACQUIRE takes one unit from, parking in FIFO order while it is 0, and
 * SEM_RELEASE adds to, handing units to the oldest waiters first. It has no
 * owner (any connection may release, as in Python). A BoundedSemaphore
 * (kind 12) runs these ops; the handlers check which kind they run on. */
#include "../../trace/trace.h"

#include "mgr/error.h"
#include "proto/ops.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/objects.h"
#include "server/reply.h"
#include "server/wait.h"

typedef struct semst {
  int64_t value;   /* the counter: 0 whenever a waiter is parked */
  int64_t initial; /* the value it was created with (a bound for kind 12) */
  mgri_waitq q;    /* acquires waiting for a unit, oldest first */
} semst;

static semst *K(const mgri_obj *o) { return mgri_state(o); }

static bool bounded(const mgri_obj *o) {
  return o->kind->id == MGR_K_BSEMAPHORE;
}

/* --- ops ---------------------------------------------------------------- */

/* SEM_ACQUIRE [blocking?, timeout?]: threading.Semaphore.acquire(blocking=
 * True, timeout=None). */
static int op_acquire(mgri_octx *x) {
  semst *k = K(x->o);
  bool blocking = true;
  if (x->nargs > 0) {
    if (x->args[0].type != MGR_T_BOOL)
      return mgri_fail(x, MGR_ETYPE, "TypeError: blocking must be bool, not %s",
                       mgri_tname(&x->args[0]));
    blocking = x->args[0].u.b;
  }
  /* Python checks this first, and refuses any timeout but None here, -1
   * included (threading.Lock accepts -1; threading.Semaphore does not). */
  if (!blocking && x->nargs > 1 && x->args[1].type != MGR_T_NIL)
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: can't specify timeout for non-blocking "
                     "acquire");
  int64_t deadline = INT64_MAX;
  int what = MGRI_TIMEOUT_NONE;
  if (x->nargs > 1) {
    int rc = mgri_arg_timeout(x, 1, &deadline, &what);
    if (rc) return rc;
  }
  /* A positive counter means nobody waits (units go to waiters first). */
  if (k->value > 0) {
    k->value--;
    x->result = mgr_bool(true);
    return MGR_OK;
  }
  if (!blocking || what == MGRI_TIMEOUT_ZERO) {
    x->result = mgr_bool(false);
    return MGR_OK;
  }
  return mgri_wait_park(x, &k->q, deadline, 0);
}

/* SEM_RELEASE [n?]: release(n=1). */
static int op_release(mgri_octx *x) {
  semst *k = K(x->o);
  int64_t n = 1;
  if (x->nargs > 0) {
    if (x->args[0].type != MGR_T_INT)
      return mgri_fail(x, MGR_ETYPE,
                       "TypeError: '%s' object cannot be interpreted as an "
                       "integer",
                       mgri_tname(&x->args[0]));
    n = x->args[0].u.i;
  }
  if (n < 1)
    return mgri_fail(x, MGR_EVALUE, "ValueError: n must be one or more");
  /* value <= initial always holds for kind 12: no overflow below. */
  if (bounded(x->o) && n > k->initial - k->value)
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: Semaphore released too many times");
  if (n > INT64_MAX - k->value)
    return mgri_fail(x, MGR_EOVERFLOW,
                     "OverflowError: the semaphore's value would exceed "
                     "9223372036854775807 (mgr's ints are signed 64-bit)");
  /* Units go to the oldest waiters, one each. A waiter found past its
   * deadline (not yet answered by the clock) times out instead (as a lock's,
   * spec 13.3), and one whose reply cannot be delivered (its connection is
   * closing) takes nothing: both leave the unit for the next. */
  mgri_waiter *w;
  while (n > 0 && (w = k->q.head)) {
    bool late = w->deadline <= x->now;
    mgr_value r = mgr_bool(!late);
    bool sent = mgri_wait_answer(x->s, w, MGR_OK, &r, NULL,
                                 late ? MGRI_TRACE_WAIT_TIMEOUT
                                      : MGRI_TRACE_WAIT_GRANTED);
    if (!late && sent) n--;
  }
  k->value += n;
  return MGR_OK;
}

static int op_value(mgri_octx *x) {
  x->result = mgr_int(K(x->o)->value);
  return MGR_OK;
}

/* --- the kind's hooks ---------------------------------------------------- */

static int sem_init_check(mgri_octx *x, uint32_t kind, const mgr_value *init) {
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  if (init->type != MGR_T_INT)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: %s() value must be int or None, not %s",
                     mgri_kind_name(kind), mgri_tname(init));
  if (init->u.i < 0)
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: semaphore initial value must be >= 0");
  return MGR_OK;
}

static int sem_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  (void)x;
  /* Checked by sem_init_check; nil or omitted is Python's default, 1. */
  K(o)->value = init && init->type == MGR_T_INT ? init->u.i : 1;
  K(o)->initial = K(o)->value;
  return MGR_OK;
}

static void sem_destroy(mgri_store *s, mgri_obj *o) {
  mgri_wait_cancel_all(s, &K(o)->q, MGR_ENOTFOUND,
                       bounded(o) ? "LookupError: the BoundedSemaphore was "
                                    "destroyed while waiting"
                                  : "LookupError: the Semaphore was destroyed "
                                    "while waiting");
}

static void sem_refs(const mgri_obj *o, void (*fn)(void *, uint64_t),
                     void *ctx) {
  (void)o;
  (void)fn;
  (void)ctx; /* a semaphore stores no values */
}

/* An acquire reached its deadline: false. */
static void sem_expired(mgri_store *s, mgri_waiter *w) {
  mgr_value r = mgr_bool(false);
  mgri_wait_answer(s, w, MGR_OK, &r, NULL, MGRI_TRACE_WAIT_TIMEOUT);
}

/* {"value", "waiters"}, and "initial" for a BoundedSemaphore (its bound). */
static int sem_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  mgr_value *kv = mgri_scratch(x, 6);
  if (!kv) return MGR_ELIMIT;
  kv[0] = mgr_text("value");
  kv[1] = mgr_int(K(o)->value);
  kv[2] = mgr_text("waiters");
  kv[3] = mgr_int((int64_t)K(o)->q.n);
  kv[4] = mgr_text("initial");
  kv[5] = mgr_int(K(o)->initial);
  *out = mgr_map(kv, bounded(o) ? 3 : 2);
  return MGR_OK;
}

static size_t sem_len(const mgri_obj *o) { return K(o)->q.n + 1; }

static const mgri_handler ops[] = {
    {MGRI_OP_SEM_ACQUIRE, op_acquire, MGRI_COST_ONE},
    {MGRI_OP_SEM_RELEASE, op_release, MGRI_COST_LEN},
    {MGRI_OP_SEM_VALUE, op_value, MGRI_COST_ONE},
};

/* A waiter that goes (its connection closed) reserved nothing: no gone
 * hook, its place in the FIFO simply goes with it. */
#define SEM_KIND(ID, EXTENDS, OPS, NOPS)                                       \
  {                                                                            \
    .id = ID, .state_size = sizeof(semst), .init_check = sem_init_check,       \
    .create = sem_create, .destroy = sem_destroy, .refs = sem_refs,            \
    .expired = sem_expired, .dump = sem_dump, .len = sem_len,                  \
    .extends = EXTENDS, .ops = OPS, .nops = NOPS,                              \
  }

const mgri_kind mgri_kind_semaphore =
    SEM_KIND(MGR_K_SEMAPHORE, 0, ops, sizeof ops / sizeof ops[0]);
/* A BoundedSemaphore runs the Semaphore's ops. */
const mgri_kind mgri_kind_bsemaphore =
    SEM_KIND(MGR_K_BSEMAPHORE, MGR_K_SEMAPHORE, NULL, 0);
