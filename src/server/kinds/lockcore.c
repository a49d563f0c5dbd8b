/* mgr — the lock Lock, RLock and Condition share (see lockcore.h). */
#include "server/kinds/lockcore.h"

#include "../../trace/trace.h"

#include "mgr/error.h"
#include "proto/ops.h"
#include "server/objects.h"
#include "server/reply.h"

/* Makes c the owner with recursion count depth; returns the acquire result
 * (2 once after an owner died holding it, else 1). */
static int64_t take(mgri_obj *lo, mgri_lockst *lk, mgri_sconn *c,
                    uint64_t depth) {
  mgri_obj_own(lo, c);
  lk->depth = depth;
  int64_t r = lk->owner_dead ? 2 : 1;
  lk->owner_dead = false;
  return r;
}

/* Grants the free lock to the first waiter that still wants it: acquires
 * found past their deadline are answered 0 (spec 13.3); a Condition's
 * waiter gets its recursion count back and its COND_WAIT result. A grant
 * whose reply cannot be delivered (its connection is closing) is taken
 * back: nobody would know they hold the lock, so it passes on, and the
 * owner-died mark it cleared is kept for the next grant. */
static void grant_next(mgri_store *s, mgri_obj *lo, mgri_lockst *lk) {
  mgri_waiter *w;
  while (!lo->owner && (w = lk->q.head)) {
    bool was_dead = lk->owner_dead, granted = true;
    mgr_value res;
    int outcome;
    if (w->op == MGRI_OP_COND_WAIT) {
      bool notified = w->data & 1;
      int64_t r = take(lo, lk, w->conn, w->data >> 1);
      res = mgr_int((notified ? 1 : 0) | (r == 2 ? 2 : 0));
      outcome = r == 2     ? MGRI_TRACE_WAIT_OWNER_DEAD
                : notified ? MGRI_TRACE_WAIT_GRANTED
                           : MGRI_TRACE_WAIT_TIMEOUT;
    } else if (w->deadline <= s->now) {
      granted = false;
      res = mgr_int(0);
      outcome = MGRI_TRACE_WAIT_TIMEOUT;
    } else {
      res = mgr_int(take(lo, lk, w->conn, 1));
      outcome =
          res.u.i == 2 ? MGRI_TRACE_WAIT_OWNER_DEAD : MGRI_TRACE_WAIT_GRANTED;
    }
    if (!mgri_wait_answer(s, w, MGR_OK, &res, NULL, outcome) && granted) {
      mgri_obj_unown(lo);
      lk->depth = 0;
      lk->owner_dead = was_dead;
    }
  }
}

static void free_up(mgri_store *s, mgri_obj *lo, mgri_lockst *lk) {
  mgri_obj_unown(lo);
  lk->depth = 0;
  grant_next(s, lo, lk);
}

int mgri_lock_acquire(mgri_octx *x, mgri_obj *lo, mgri_lockst *lk) {
  if (x->args[0].type != MGR_T_BOOL)
    return mgri_fail(x, MGR_ETYPE, "TypeError: blocking must be bool, not %s",
                     mgri_tname(&x->args[0]));
  bool blocking = x->args[0].u.b;
  int64_t deadline;
  int what;
  int rc = mgri_arg_timeout(x, 1, &deadline, &what);
  if (rc) return rc;
  /* Spec 13.2: a non-blocking call takes no timeout (Python: acquire(False,
   * -1) is fine); 0 tries once. */
  if (!blocking && what != MGRI_TIMEOUT_NONE)
    return mgri_fail(
        x, MGR_EVALUE,
        "ValueError: can't specify a timeout for a non-blocking call");
  bool once = !blocking || what == MGRI_TIMEOUT_ZERO;

  if (!lo->owner) {
    x->result = mgr_int(take(lo, lk, x->c, 1));
    return MGR_OK;
  }
  if (lk->recursive && lo->owner == x->c) {
    lk->depth++;
    x->result = mgr_int(1);
    return MGR_OK;
  }
  if (once) {
    x->result = mgr_int(0);
    return MGR_OK;
  }
  if (!lk->recursive && lo->owner == x->c && deadline == INT64_MAX)
    return mgri_fail(
        x, MGR_ESTATE,
        "RuntimeError: deadlock: this connection already holds the "
        "lock and asked to wait forever");
  return mgri_wait_park(x, &lk->q, deadline, 0);
}

int mgri_lock_release(mgri_octx *x, mgri_obj *lo, mgri_lockst *lk) {
  if (lk->recursive) {
    if (lo->owner != x->c)
      return mgri_fail(x, MGR_ESTATE,
                       "RuntimeError: cannot release un-acquired lock");
    if (--lk->depth) return MGR_OK;
  } else if (!lo->owner) {
    return mgri_fail(x, MGR_ESTATE, "RuntimeError: release unlocked lock");
  }
  /* A Lock may be released by any connection, as threading.Lock by any
   * thread. */
  free_up(x->s, lo, lk);
  return MGR_OK;
}

bool mgri_lock_owned(const mgri_octx *x, const mgri_obj *lo) {
  return lo->owner == x->c;
}

uint64_t mgri_lock_release_all(mgri_store *s, mgri_obj *lo, mgri_lockst *lk) {
  uint64_t depth = lk->depth;
  free_up(s, lo, lk);
  return depth;
}

void mgri_lock_enqueue(mgri_store *s, mgri_obj *lo, mgri_lockst *lk,
                       mgri_waiter *w, uint64_t data) {
  mgri_wait_move(s, w, w->obj, &lk->q, data);
  if (!lo->owner) grant_next(s, lo, lk);
}

void mgri_lock_owner_closed(mgri_store *s, mgri_obj *lo, mgri_lockst *lk) {
  lk->owner_dead = true;
  /* The store unowned lo already (store.c); free_up unowns again, a no-op. */
  lk->depth = 0;
  grant_next(s, lo, lk);
}

void mgri_lock_expired(mgri_store *s, mgri_waiter *w) {
  mgr_value r = mgr_int(0);
  mgri_wait_answer(s, w, MGR_OK, &r, NULL, MGRI_TRACE_WAIT_TIMEOUT);
}

void mgri_lock_destroy(mgri_store *s, mgri_lockst *lk) {
  mgri_wait_cancel_all(s, &lk->q, MGR_ENOTFOUND,
                       "LookupError: the lock was destroyed while waiting");
}

void mgri_lock_dump(const mgri_obj *lo, const mgri_lockst *lk, mgr_value *kv) {
  kv[0] = mgr_text("locked");
  kv[1] = mgr_bool(lo->owner != NULL);
  kv[2] = mgr_text("owner");
  kv[3] = lo->owner ? mgr_int((int64_t)lo->owner->id) : mgr_nil();
  kv[4] = mgr_text("depth");
  kv[5] = mgr_int((int64_t)lk->depth);
  kv[6] = mgr_text("waiters");
  kv[7] = mgr_int((int64_t)lk->q.n);
  kv[8] = mgr_text("owner_died");
  kv[9] = mgr_bool(lk->owner_dead);
}
