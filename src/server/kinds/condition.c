/* mgr — Condition (spec 9.11): a FIFO of COND_WAITs over a lock, its own
 * RLock or a Lock/RLock object it shares (kept alive by a stored ref). The
 * lock is lockcore's: a waiter that is notified, or reaches its deadline,
 * moves to the lock's FIFO and is answered when the lock is granted to it
 * (lockcore.c), with its recursion count restored. */
#include "../../trace/trace.h"

#include "mgr/error.h"
#include "proto/ops.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/kinds/lockcore.h"
#include "server/objects.h"
#include "server/reply.h"
#include "server/wait.h"

typedef struct cond {
  mgri_lockst own; /* its own RLock, when lock is nil */
  mgr_value lock;  /* the ref of the Lock/RLock it shares, or nil */
  mgri_waitq q;    /* COND_WAITs not yet notified nor timed out; data: the
                      recursion count to restore */
} cond;

static cond *K(const mgri_obj *o) { return mgri_state(o); }

/* The lock object of condition o and its lock. The shared lock cannot be
 * gone while o holds its ref; only when the whole store is freed (objects
 * in id order, the lock first) is it missing: false then. */
static bool lock_of(const mgri_store *s, mgri_obj *o, mgri_obj **lo,
                    mgri_lockst **lk) {
  cond *k = K(o);
  if (k->lock.type != MGR_T_REF) {
    *lo = o;
    *lk = &k->own;
    return true;
  }
  *lo = mgri_obj_find(s, k->lock.u.ref.id);
  /* A Lock's or RLock's state is its mgri_lockst. */
  *lk = *lo ? mgri_state(*lo) : NULL;
  return *lo != NULL;
}

/* Makes w, a COND_WAIT of the condition's FIFO, a waiter of the lock
 * (granted at once when the lock is free). */
static void to_lock(mgri_store *s, mgri_obj *o, mgri_waiter *w, bool notified) {
  mgri_obj *lo;
  mgri_lockst *lk;
  if (lock_of(s, o, &lo, &lk))
    mgri_lock_enqueue(s, lo, lk, w, mgri_lock_wait_data(w->data, notified));
  else /* never while the store runs; answered all the same */
    mgri_wait_answer(s, w, MGR_ENOTFOUND, NULL,
                     "LookupError: the condition's lock is gone",
                     MGRI_TRACE_WAIT_CANCELLED);
}

/* --- ops ---------------------------------------------------------------- */

static int op_acquire(mgri_octx *x) {
  mgri_obj *lo;
  mgri_lockst *lk;
  lock_of(x->s, x->o, &lo, &lk);
  /* A parked acquire is the condition's waiter (w->obj), in the lock's
   * FIFO: cond_expired answers it at its deadline. */
  return mgri_lock_acquire(x, lo, lk);
}

static int op_release(mgri_octx *x) {
  mgri_obj *lo;
  mgri_lockst *lk;
  lock_of(x->s, x->o, &lo, &lk);
  return mgri_lock_release(x, lo, lk);
}

static int op_wait(mgri_octx *x) {
  int64_t deadline = INT64_MAX;
  int what = MGRI_TIMEOUT_NONE;
  if (x->nargs > 0) {
    int rc = mgri_arg_timeout(x, 0, &deadline, &what);
    if (rc) return rc;
  }
  mgri_obj *lo;
  mgri_lockst *lk;
  lock_of(x->s, x->o, &lo, &lk);
  if (!mgri_lock_owned(x, lo))
    return mgri_fail(x, MGR_ESTATE,
                     "RuntimeError: cannot wait on un-acquired lock");
  /* Timeout 0 times out at once: its deadline is now, so the next tick
   * (in the same turn of the loop) moves it to the lock, after the lock
   * went to whoever waited for it (as Python's wait(0) releases it). */
  if (what == MGRI_TIMEOUT_ZERO) deadline = x->now;
  /* Parked first: a refusal (LIMIT) leaves the lock held. */
  int rc = mgri_wait_park(x, &K(x->o)->q, deadline, lk->depth);
  if (rc != MGRI_PARKED) return rc;
  mgri_lock_release_all(x->s, lo, lk);
  return MGRI_PARKED;
}

/* Moves up to n of the oldest waiters to the lock (held by the caller, so
 * none is granted now). */
static int notify(mgri_octx *x, uint64_t n) {
  mgri_obj *lo;
  mgri_lockst *lk;
  lock_of(x->s, x->o, &lo, &lk);
  if (!mgri_lock_owned(x, lo))
    return mgri_fail(x, MGR_ESTATE,
                     "RuntimeError: cannot notify on un-acquired lock");
  cond *k = K(x->o);
  for (; n && k->q.head; n--)
    mgri_lock_enqueue(x->s, lo, lk, k->q.head,
                      mgri_lock_wait_data(k->q.head->data, true));
  return MGR_OK;
}

static int op_notify(mgri_octx *x) {
  int64_t n = 1;
  if (x->nargs > 0) {
    int rc = mgri_arg_int(x, 0, "n", &n);
    if (rc) return rc;
    if (n < 0)
      return mgri_fail(x, MGR_EVALUE, "ValueError: n must be >= 0, not %lld",
                       (long long)n);
  }
  return notify(x, (uint64_t)n);
}

static int op_notify_all(mgri_octx *x) { return notify(x, UINT64_MAX); }

/* --- the kind's hooks ---------------------------------------------------- */

static int cond_init_check(mgri_octx *x, uint32_t kind, const mgr_value *init) {
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  if (init->type == MGR_T_REF &&
      (init->u.ref.kind == MGR_K_LOCK || init->u.ref.kind == MGR_K_RLOCK))
    return MGR_OK;
  return mgri_fail(x, MGR_ETYPE,
                   "TypeError: %s() lock must be a Lock or RLock, not %s",
                   mgri_kind_name(kind), mgri_tname(init));
}

static int cond_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  cond *k = K(o);
  k->own.recursive = true;
  k->lock = mgr_nil();
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  /* A ref is a scalar: storing it allocates nothing; it counts a
   * reference to the lock, so the lock lives as long as the condition. */
  return mgri_sv_make(x, o, init, &k->lock);
}

/* Answers NOTFOUND every waiter of the condition: those of its FIFO, and
 * its acquires and notified waiters in its lock's FIFO — which, for a
 * shared lock, outlives it (spec 12.7). */
static void cond_destroy(mgri_store *s, mgri_obj *o) {
  static const char msg[] =
      "LookupError: the condition was destroyed while waiting";
  cond *k = K(o);
  mgri_wait_cancel_all(s, &k->q, MGR_ENOTFOUND, msg);
  mgri_obj *lo;
  mgri_lockst *lk;
  if (lock_of(s, o, &lo, &lk)) {
    mgri_waiter *w = lk->q.head, *next;
    for (; w; w = next) {
      next = w->qnext;
      if (w->obj == o)
        mgri_wait_answer(s, w, MGR_ENOTFOUND, NULL, msg,
                         MGRI_TRACE_WAIT_CANCELLED);
    }
  }
  mgri_sv_drop(s, o, &k->lock);
}

static void cond_refs(const mgri_obj *o, void (*fn)(void *, uint64_t),
                      void *ctx) {
  const cond *k = K(o);
  if (k->lock.type == MGR_T_REF) fn(ctx, k->lock.u.ref.id);
}

/* Only its own lock makes the condition an owner: a shared lock's owner is
 * the lock object, whose kind handles its owner's death. */
static void cond_owner_closed(mgri_store *s, mgri_obj *o) {
  mgri_lock_owner_closed(s, o, &K(o)->own);
}

/* A COND_WAIT at its deadline goes on to wait for the lock, not notified;
 * a COND_ACQUIRE at its deadline is answered 0. */
static void cond_expired(mgri_store *s, mgri_waiter *w) {
  if (w->op == MGRI_OP_COND_WAIT)
    to_lock(s, w->obj, w, false);
  else
    mgri_lock_expired(s, w);
}

/* {"waiters": the FIFO's length, "lock": the shared lock's id or nil (its
 * own RLock), "lock_state": the lock's DUMP state (spec 9.1)}. */
static int cond_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  mgr_value *kv = mgri_scratch(x, 16);
  if (!kv) return MGR_ELIMIT;
  cond *k = K(o);
  mgri_obj *lo;
  mgri_lockst *lk;
  lock_of(x->s, o, &lo, &lk);
  kv[0] = mgr_text("waiters");
  kv[1] = mgr_int((int64_t)k->q.n);
  kv[2] = mgr_text("lock");
  kv[3] = k->lock.type == MGR_T_REF ? mgr_int((int64_t)k->lock.u.ref.id)
                                    : mgr_nil();
  kv[4] = mgr_text("lock_state");
  mgri_lock_dump(lo, lk, kv + 6);
  kv[5] = mgr_map(kv + 6, 5);
  *out = mgr_map(kv, 3);
  return MGR_OK;
}

static size_t cond_len(const mgri_obj *o) { return K(o)->q.n + 1; }

static const mgri_handler ops[] = {
    {MGRI_OP_COND_ACQUIRE, op_acquire, MGRI_COST_ONE},
    {MGRI_OP_COND_RELEASE, op_release, MGRI_COST_ONE},
    {MGRI_OP_COND_WAIT, op_wait, MGRI_COST_ONE},
    {MGRI_OP_COND_NOTIFY, op_notify, MGRI_COST_LEN},
    {MGRI_OP_COND_NOTIFY_ALL, op_notify_all, MGRI_COST_LEN},
};

const mgri_kind mgri_kind_condition = {
    .id = MGR_K_CONDITION,
    .state_size = sizeof(cond),
    .init_check = cond_init_check,
    .create = cond_create,
    .destroy = cond_destroy,
    .refs = cond_refs,
    .owner_closed = cond_owner_closed,
    .expired = cond_expired,
    .dump = cond_dump,
    .len = cond_len,
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
};
