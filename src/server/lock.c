/* mgr — Lock and RLock: owner = the connection that acquired, FIFO waiters
 * parked until a grant or their deadline, owner death flagged to the next
 * owner (result 2). A min-heap orders the waiters that have deadlines. */
#include "../trace/trace.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgr/error.h"
#include "server/obj.h"

/* --- deadline heap ----------------------------------------------------------*/

static void heap_set(mgri_store *s, size_t i, mgri_waiter *w) {
  s->heap[i] = w;
  w->heap_idx = i;
}

static void sift_up(mgri_store *s, size_t i) {
  mgri_waiter *w = s->heap[i];
  while (i) {
    size_t p = (i - 1) / 2;
    if (s->heap[p]->deadline <= w->deadline) break;
    heap_set(s, i, s->heap[p]);
    i = p;
  }
  heap_set(s, i, w);
}

static void sift_down(mgri_store *s, size_t i) {
  mgri_waiter *w = s->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->nheap) break;
    if (c + 1 < s->nheap && s->heap[c + 1]->deadline < s->heap[c]->deadline) c++;
    if (w->deadline <= s->heap[c]->deadline) break;
    heap_set(s, i, s->heap[c]);
    i = c;
  }
  heap_set(s, i, w);
}

static int heap_push(mgri_store *s, mgri_waiter *w) {
  if (s->nheap == s->heap_cap) {
    size_t cap = s->heap_cap ? s->heap_cap * 2 : 16;
    mgri_waiter **h = realloc(s->heap, cap * sizeof *h);
    if (!h) return MGR_ENOMEM;
    s->heap = h;
    s->heap_cap = cap;
  }
  heap_set(s, s->nheap++, w);
  sift_up(s, s->nheap - 1);
  return MGR_OK;
}

static void heap_remove(mgri_store *s, mgri_waiter *w) {
  size_t i = w->heap_idx;
  if (i == SIZE_MAX) return;
  w->heap_idx = SIZE_MAX;
  mgri_waiter *last = s->heap[--s->nheap];
  if (i == s->nheap) return;
  heap_set(s, i, last);
  sift_down(s, i);
  sift_up(s, last->heap_idx);
}

int64_t mgri_store_next_deadline(const mgri_store *s) {
  return s->nheap ? s->heap[0]->deadline : INT64_MAX;
}

/* --- waiters ------------------------------------------------------------- */

/* Unlinks w from its lock, its connection and the heap, and frees it. */
static void waiter_free(mgri_store *s, mgri_waiter *w) {
  mgri_lock *lk = &w->lock->u.lk;
  if (w->lprev) w->lprev->lnext = w->lnext;
  else lk->head = w->lnext;
  if (w->lnext) w->lnext->lprev = w->lprev;
  else lk->tail = w->lprev;
  mgri_sconn *c = w->conn;
  if (w->cprev) w->cprev->cnext = w->cnext;
  else c->waiters = w->cnext;
  if (w->cnext) w->cnext->cprev = w->cprev;
  c->nwaiters--;
  heap_remove(s, w);
  s->nparked--;
  w->lnext = s->free_waiters;
  s->free_waiters = w;
}

static mgri_waiter *waiter_new(mgri_store *s) {
  mgri_waiter *w = s->free_waiters;
  if (w) s->free_waiters = w->lnext;
  else w = malloc(sizeof *w);
  if (w) memset(w, 0, sizeof *w);
  return w;
}

/* --- ownership ----------------------------------------------------------- */

/* Makes c the owner; returns the acquire result (2 once after owner death). */
static int64_t take(mgri_obj *o, mgri_sconn *c) {
  mgri_lock *lk = &o->u.lk;
  lk->owner = c;
  lk->depth = 1;
  lk->oprev = NULL;
  lk->onext = c->owned;
  if (c->owned) c->owned->u.lk.oprev = o;
  c->owned = o;
  int64_t r = lk->owner_dead ? 2 : 1;
  lk->owner_dead = false;
  return r;
}

static void unown(mgri_obj *o) {
  mgri_lock *lk = &o->u.lk;
  mgri_sconn *c = lk->owner;
  if (!c) return;
  if (lk->oprev) lk->oprev->u.lk.onext = lk->onext;
  else c->owned = lk->onext;
  if (lk->onext) lk->onext->u.lk.oprev = lk->oprev;
  lk->onext = lk->oprev = NULL;
  lk->owner = NULL;
  lk->depth = 0;
}

/* Answers a parked LOCK_ACQUIRE (granted, timed out, cancelled): the one place
 * a wait ends, so it is traced here. */
static void answer(mgri_store *s, mgri_sconn *c, uint64_t rid, uint64_t oid,
                   int status, const mgr_value *r, const char *msg,
                   int outcome) {
  MGRI_TRACE(wait_end, (int64_t)c->pid, c->id, rid, oid, outcome);
  MGRI_TRACE(reply, (int64_t)c->pid, c->id, rid, MGRI_OP_LOCK_ACQUIRE, status,
             (uint64_t)0);
  mgri_emit(s, c, rid, status, r, msg);
}

/* Frees the lock and grants it to the first waiter whose deadline has not
 * passed; waiters found expired are answered 0 (spec 13.3). */
static void free_up(mgri_store *s, mgri_obj *o) {
  unown(o);
  mgri_waiter *w;
  while ((w = o->u.lk.head)) {
    mgri_sconn *c = w->conn;
    uint64_t rid = w->rid;
    bool expired = w->deadline <= s->now;
    waiter_free(s, w);
    mgr_value r = mgr_int(expired ? 0 : take(o, c));
    answer(s, c, rid, o->id, MGR_OK, &r, NULL,
           expired       ? MGRI_TRACE_WAIT_TIMEOUT
           : r.u.i == 2 ? MGRI_TRACE_WAIT_OWNER_DEAD
                        : MGRI_TRACE_WAIT_GRANTED);
    if (!expired) return;
  }
}

void mgri_lock_destroy(mgri_store *s, mgri_obj *o) {
  while (o->u.lk.head) {
    mgri_waiter *w = o->u.lk.head;
    mgri_sconn *c = w->conn;
    uint64_t rid = w->rid;
    waiter_free(s, w);
    answer(s, c, rid, o->id, MGR_ENOTFOUND, NULL,
           "LookupError: the lock was destroyed while waiting",
           MGRI_TRACE_WAIT_CANCELLED);
  }
  unown(o);
}

void mgri_store_shutdown(mgri_store *s) {
  while (s->nparked) {
    /* Any parked waiter: walk the objects for locks with waiters. */
    for (mgri_obj *o = s->first; o; o = o->next) {
      if (o->kind != MGR_K_LOCK && o->kind != MGR_K_RLOCK) continue;
      while (o->u.lk.head) {
        mgri_waiter *w = o->u.lk.head;
        mgri_sconn *c = w->conn;
        uint64_t rid = w->rid;
        waiter_free(s, w);
        answer(s, c, rid, o->id, MGR_ESHUTDOWN, NULL,
               "EOFError: the manager is shutting down",
               MGRI_TRACE_WAIT_CANCELLED);
      }
    }
  }
}

void mgri_lock_conn_close(mgri_store *s, mgri_sconn *c) {
  while (c->waiters) {
    mgri_waiter *w = c->waiters;
    MGRI_TRACE(wait_end, (int64_t)c->pid, c->id, w->rid, w->lock->id,
               MGRI_TRACE_WAIT_CANCELLED);
    waiter_free(s, w);
  }
  while (c->owned) {
    mgri_obj *o = c->owned;
    o->u.lk.owner_dead = true;
    free_up(s, o);
  }
}

void mgri_store_tick(mgri_store *s, int64_t now_ns) {
  if (now_ns > s->now) s->now = now_ns;
  while (s->nheap && s->heap[0]->deadline <= now_ns) {
    mgri_waiter *w = s->heap[0];
    mgri_sconn *c = w->conn;
    uint64_t rid = w->rid, oid = w->lock->id;
    waiter_free(s, w);
    mgr_value r = mgr_int(0);
    answer(s, c, rid, oid, MGR_OK, &r, NULL, MGRI_TRACE_WAIT_TIMEOUT);
  }
}

/* --- ops ---------------------------------------------------------------- */

int mgri_op_LOCK_ACQUIRE(mgri_octx *x) {
  mgri_obj *o = x->o;
  mgri_lock *lk = &o->u.lk;
  bool rlock = o->kind == MGR_K_RLOCK;
  if (x->args[0].type != MGR_T_BOOL)
    return mgri_fail(x, MGR_ETYPE, "TypeError: blocking must be bool, not %s",
                     mgri_tname(&x->args[0]));
  bool blocking = x->args[0].u.b;
  const mgr_value *t = &x->args[1];
  double secs;
  if (t->type == MGR_T_NIL) secs = -1;
  else if (t->type == MGR_T_INT) secs = (double)t->u.i;
  else if (t->type == MGR_T_FLOAT) secs = t->u.f;
  else
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: timeout must be a number or None, not %s",
                     mgri_tname(t));
  /* Spec 13.2: nil or -1 wait forever; other negatives and NaN are VALUE;
   * a non-blocking call takes no timeout; 0 tries once; +inf and values too
   * large for the clock wait forever. */
  if (isnan(secs) || (secs < 0 && secs != -1))
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: timeout value must be a non-negative number");
  if (!blocking && secs != -1) /* Python: acquire(False, -1) is fine */
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: can't specify a timeout for a non-blocking call");
  bool once = !blocking || secs == 0;
  int64_t deadline = INT64_MAX;
  if (!once && secs > 0) {
    double ns = secs * 1e9;
    if (ns < (double)(INT64_MAX - x->now) - 1e6) deadline = x->now + (int64_t)ns;
  }

  if (!lk->owner) {
    x->result = mgr_int(take(o, x->c));
    return MGR_OK;
  }
  if (rlock && lk->owner == x->c) {
    lk->depth++;
    x->result = mgr_int(1);
    return MGR_OK;
  }
  if (once) {
    x->result = mgr_int(0);
    return MGR_OK;
  }
  if (!rlock && lk->owner == x->c && deadline == INT64_MAX)
    return mgri_fail(x, MGR_ESTATE,
                     "RuntimeError: deadlock: this connection already holds the "
                     "lock and asked to wait forever");
  if (x->c->nwaiters >= MGRI_PENDING_MAX)
    return mgri_fail(x, MGR_ELIMIT,
                     "MemoryError: more than %u parked requests on one "
                     "connection",
                     MGRI_PENDING_MAX);
  mgri_waiter *w = waiter_new(x->s);
  if (!w) return mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
  w->conn = x->c;
  w->lock = o;
  w->rid = x->rq->rid;
  w->deadline = deadline;
  w->heap_idx = SIZE_MAX;
  if (deadline != INT64_MAX && heap_push(x->s, w)) {
    w->lnext = x->s->free_waiters;
    x->s->free_waiters = w;
    return mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
  }
  w->lprev = lk->tail;
  if (lk->tail) lk->tail->lnext = w;
  else lk->head = w;
  lk->tail = w;
  w->cnext = x->c->waiters;
  if (x->c->waiters) x->c->waiters->cprev = w;
  x->c->waiters = w;
  x->c->nwaiters++;
  x->s->nparked++;
  return MGRI_PARKED;
}

int mgri_op_LOCK_RELEASE(mgri_octx *x) {
  mgri_obj *o = x->o;
  mgri_lock *lk = &o->u.lk;
  if (o->kind == MGR_K_RLOCK) {
    if (lk->owner != x->c)
      return mgri_fail(x, MGR_ESTATE,
                       "RuntimeError: cannot release un-acquired lock");
    if (--lk->depth) return MGR_OK;
  } else if (!lk->owner) {
    return mgri_fail(x, MGR_ESTATE, "RuntimeError: release unlocked lock");
  }
  /* A Lock may be released by any connection, as threading.Lock by any
   * thread. */
  free_up(x->s, o);
  return MGR_OK;
}

int mgri_op_LOCK_LOCKED(mgri_octx *x) {
  x->result = mgr_bool(x->o->u.lk.owner != NULL);
  return MGR_OK;
}
