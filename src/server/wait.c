/* mgr — parked requests (see wait.h): per-object FIFOs, per-connection
 * lists, a global list for shutdown, and a min-heap of deadlines. */
#include "server/wait.h"

#include "../trace/trace.h"
#include <math.h>
#include <string.h>

#include "mgr/error.h"
#include "server/kind.h"
#include "server/objects.h"
#include "server/reply.h"

/* --- the deadline heap ------------------------------------------------------*/

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
    if (c + 1 < s->nheap && s->heap[c + 1]->deadline < s->heap[c]->deadline)
      c++;
    if (w->deadline <= s->heap[c]->deadline) break;
    heap_set(s, i, s->heap[c]);
    i = c;
  }
  heap_set(s, i, w);
}

static int heap_reserve(mgri_store *s) {
  if (s->nheap < s->heap_cap) return MGR_OK;
  size_t cap = s->heap_cap ? s->heap_cap * 2 : 16;
  mgri_waiter **h =
      mgri_mem_realloc(&s->mem, MGRI_MEM_PARKED, s->heap, cap * sizeof *h);
  if (!h) return MGR_ENOMEM;
  s->heap = h;
  s->heap_cap = cap;
  return MGR_OK;
}

static void heap_push(mgri_store *s, mgri_waiter *w) {
  heap_set(s, s->nheap++, w);
  sift_up(s, s->nheap - 1);
}

static void heap_remove(mgri_store *s, mgri_waiter *w) {
  size_t i = w->heap_idx;
  if (i == SIZE_MAX) return;
  w->heap_idx = SIZE_MAX;
  mgri_waiter *last = s->heap[--s->nheap];
  if (s->nheap == 0) {
    /* No timed waiter left: the array goes (nothing is kept for a crowd
     * of waiters that has gone). */
    mgri_mem_free(&s->mem, MGRI_MEM_PARKED, s->heap);
    s->heap = NULL;
    s->heap_cap = 0;
    return;
  }
  if (i == s->nheap) return;
  heap_set(s, i, last);
  sift_down(s, i);
  sift_up(s, last->heap_idx);
}

int64_t mgri_store_next_deadline(const mgri_store *s) {
  return s->nheap ? s->heap[0]->deadline : INT64_MAX;
}

/* --- waiters ------------------------------------------------------------- */

int mgri_arg_timeout(mgri_octx *x, size_t i, int64_t *deadline, int *what) {
  const mgr_value *t = &x->args[i];
  double secs;
  if (t->type == MGR_T_NIL)
    secs = -1;
  else if (t->type == MGR_T_INT)
    secs = (double)t->u.i;
  else if (t->type == MGR_T_FLOAT)
    secs = t->u.f;
  else
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: timeout must be a number or None, not %s",
                     mgri_tname(t));
  if (isnan(secs) || (secs < 0 && secs != -1))
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: timeout value must be a non-negative number");
  *deadline = INT64_MAX;
  *what = secs == -1  ? MGRI_TIMEOUT_NONE
          : secs == 0 ? MGRI_TIMEOUT_ZERO
                      : MGRI_TIMEOUT_SET;
  if (secs > 0) {
    double ns = secs * 1e9;
    if (ns < (double)INT64_MAX - (double)x->now - 1e6)
      *deadline = x->now + (int64_t)ns;
  }
  return MGR_OK;
}

static void q_unlink(mgri_waiter *w) {
  mgri_waitq *q = w->q;
  if (w->qprev)
    w->qprev->qnext = w->qnext;
  else
    q->head = w->qnext;
  if (w->qnext)
    w->qnext->qprev = w->qprev;
  else
    q->tail = w->qprev;
  w->qnext = w->qprev = NULL;
  q->n--;
}

static void q_append(mgri_waitq *q, mgri_waiter *w) {
  w->q = q;
  w->qnext = NULL;
  w->qprev = q->tail;
  if (q->tail)
    q->tail->qnext = w;
  else
    q->head = w;
  q->tail = w;
  q->n++;
}

int mgri_wait_park(mgri_octx *x, mgri_waitq *q, int64_t deadline,
                   uint64_t data) {
  mgri_store *s = x->s;
  mgri_sconn *c = x->c;
  if (c->nwaiters >= MGRI_PENDING_MAX)
    return mgri_limit(x, MGRI_WHY_PARKED,
                      "MemoryError: more than %u parked requests on one "
                      "connection",
                      MGRI_PENDING_MAX);
  if (deadline != INT64_MAX && heap_reserve(s)) return mgri_nomem(x);
  mgri_waiter *w = mgri_mem_calloc(&s->mem, MGRI_MEM_PARKED, sizeof *w);
  if (!w) return mgri_nomem(x);
  w->conn = c;
  w->obj = x->o;
  w->q = q;
  w->rid = x->rq->rid;
  w->op = x->rq->op;
  w->deadline = deadline;
  w->heap_idx = SIZE_MAX;
  w->data = data;
  if (deadline != INT64_MAX) heap_push(s, w);
  q_append(q, w);
  w->cnext = c->waiters;
  if (c->waiters) c->waiters->cprev = w;
  c->waiters = w;
  c->nwaiters++;
  w->anext = s->waiters;
  if (s->waiters) s->waiters->aprev = w;
  s->waiters = w;
  s->nparked++;
  return MGRI_PARKED;
}

void mgri_wait_move(mgri_store *s, mgri_waiter *w, mgri_obj *obj, mgri_waitq *q,
                    uint64_t data) {
  q_unlink(w);
  heap_remove(s, w);
  w->deadline = INT64_MAX;
  w->obj = obj;
  w->data = data;
  q_append(q, w);
}

/* Unlinks w from everything and frees it. */
static void waiter_free(mgri_store *s, mgri_waiter *w) {
  q_unlink(w);
  mgri_sconn *c = w->conn;
  if (w->cprev)
    w->cprev->cnext = w->cnext;
  else
    c->waiters = w->cnext;
  if (w->cnext) w->cnext->cprev = w->cprev;
  c->nwaiters--;
  if (w->aprev)
    w->aprev->anext = w->anext;
  else
    s->waiters = w->anext;
  if (w->anext) w->anext->aprev = w->aprev;
  heap_remove(s, w);
  s->nparked--;
  mgri_mem_free(&s->mem, MGRI_MEM_PARKED, w);
}

bool mgri_wait_answer(mgri_store *s, mgri_waiter *w, int status,
                      const mgr_value *result, const char *msg, int outcome) {
  mgri_sconn *c = w->conn;
  uint64_t rid = w->rid, op = w->op, oid = w->obj->id;
  MGRI_TRACE(wait_end, (int64_t)c->pid, c->id, rid, oid, outcome);
  MGRI_TRACE(reply, (int64_t)c->pid, c->id, rid, op, status, (uint64_t)0);
  waiter_free(s, w);
  (void)op;
  (void)oid;
  return mgri_emit(s, c, rid, status, result, msg, false);
}

void mgri_wait_cancel_all(mgri_store *s, mgri_waitq *q, int status,
                          const char *msg) {
  while (q->head)
    mgri_wait_answer(s, q->head, status, NULL, msg, MGRI_TRACE_WAIT_CANCELLED);
}

void mgri_wait_conn_closed(mgri_store *s, mgri_sconn *c) {
  while (c->waiters) {
    mgri_waiter *w = c->waiters;
    MGRI_TRACE(wait_end, (int64_t)c->pid, c->id, w->rid, w->obj->id,
               MGRI_TRACE_WAIT_CANCELLED);
    if (w->obj->kind->gone) w->obj->kind->gone(s, w);
    waiter_free(s, w);
  }
}

void mgri_store_tick(mgri_store *s, int64_t now_ns) {
  if (now_ns > s->now) s->now = now_ns;
  if (!s->nheap || s->heap[0]->deadline > now_ns) return;
  while (s->nheap && s->heap[0]->deadline <= now_ns) {
    mgri_waiter *w = s->heap[0];
    /* The kind answers it (and so frees it); a kind that never parks has
     * no expired hook, but a waiter is answered whatever happens. */
    if (w->obj->kind->expired) {
      w->obj->kind->expired(s, w);
    } else {
      mgr_value nil = mgr_nil();
      mgri_wait_answer(s, w, MGR_OK, &nil, NULL, MGRI_TRACE_WAIT_TIMEOUT);
    }
  }
  /* What the kinds dropped while answering (a timed-out put's item) goes
   * now, as after any reply. */
  mgri_store_after_reply(s);
}

void mgri_store_shutdown(mgri_store *s) {
  while (s->waiters)
    mgri_wait_answer(s, s->waiters, MGR_ESHUTDOWN, NULL,
                     "EOFError: the manager is shutting down",
                     MGRI_TRACE_WAIT_CANCELLED);
}
