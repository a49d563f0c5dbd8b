/* mgr — Queue and JoinableQueue (manager.Queue(), manager.JoinableQueue(),
 * spec 9.8): a FIFO of owned items in a ring buffer, the requests waiting
 * for an item (getters), for room (putters, each holding its item in a
 * pending record until it is stored or dropped) and, for a JoinableQueue,
 * for the count of unfinished tasks to reach 0 (joiners). Invariants: a
 * getter waits only while the queue is empty, a putter only while it is
 * full, so an item is handed to the oldest getter by the put that brings
 * it, and a slot a get frees goes to the oldest putter: FIFO both ways. */
#include "../../trace/trace.h"
#include <math.h>
#include <string.h>

#include "mgr/error.h"
#include "proto/ops.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/objects.h"
#include "server/reply.h"
#include "server/wait.h"

/* Slots an empty queue keeps (spec 9.8): a queue that goes empty and fills
 * again does not allocate each time, and holds no more than this idle. A
 * ring above it is halved when a quarter full or less. */
#define QUEUE_KEEP_SLOTS 16u

/* An item a putter waits to store: owned by the object (its refs counted,
 * its bytes too) from the put until it is stored, timed out or dropped.
 * The waiter's data points here. */
typedef struct pending {
  mgr_value item;
  struct pending *prev, *next;
} pending;

typedef struct queue {
  mgr_value *v; /* the ring: owned items */
  size_t head, len, cap;
  int64_t maxsize;     /* as given; > 0 bounds the queue */
  uint64_t unfinished; /* JoinableQueue: puts not yet marked done */
  bool joinable;
  mgri_waitq getters, putters, joiners;
  pending *pend; /* every putter's item, newest first */
} queue;

static queue *Q(const mgri_obj *o) { return mgri_state(o); }

static bool bounded(const queue *q) { return q->maxsize > 0; }
static bool is_full(const queue *q) {
  return bounded(q) && q->len >= (uint64_t)q->maxsize;
}
static size_t slot(const queue *q, size_t i) {
  size_t k = q->head + i;
  return k >= q->cap ? k - q->cap : k;
}

/* --- the ring ------------------------------------------------------------- */

/* Room for one more item, checking that the growth and `extra` bytes (the
 * copy the caller makes next) fit together. */
static int reserve1(mgri_octx *x, mgri_obj *o, size_t extra) {
  queue *q = Q(o);
  if (q->len < q->cap) return mgri_need(x, extra);
  if (q->cap > SIZE_MAX / sizeof(mgr_value) / 2)
    return mgri_limit(x, MGRI_WHY_SIZE, "MemoryError: queue too large");
  size_t cap = q->cap ? q->cap * 2 : 4;
  /* A bounded queue never holds more than maxsize (not full here). */
  if (bounded(q) && (uint64_t)cap > (uint64_t)q->maxsize)
    cap = (size_t)q->maxsize;
  size_t grow = (cap - q->cap) * sizeof(mgr_value);
  int rc = mgri_need(x, extra > SIZE_MAX - grow ? SIZE_MAX : grow + extra);
  if (rc) return rc;
  mgr_value *v = mgri_obj_realloc(x->s, o, q->v, cap * sizeof *v);
  if (!v) return mgri_nomem(x);
  /* Full, so the items run from head round to head - 1: the part from
   * head to the old end moves to the new end. */
  if (q->len && q->head) {
    size_t tail = q->cap - q->head;
    memmove(v + cap - tail, v + q->head, tail * sizeof *v);
    q->head = cap - tail;
  }
  q->v = v;
  q->cap = cap;
  return MGR_OK;
}

/* Appends an owned item (room reserved). */
static void push(queue *q, mgr_value item) {
  q->v[slot(q, q->len)] = item;
  q->len++;
}

static void reverse(mgr_value *v, size_t n) {
  for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
    mgr_value t = v[i];
    v[i] = v[j - 1];
    v[j - 1] = t;
  }
}

/* No retention (spec 9.8): an empty queue keeps at most QUEUE_KEEP_SLOTS
 * slots, a larger ring a quarter full or less is halved. Never fails: a
 * shrink the allocator refuses leaves the ring as it was. */
static void shrink(mgri_store *s, mgri_obj *o) {
  queue *q = Q(o);
  if (q->cap <= QUEUE_KEEP_SLOTS) return;
  if (!q->len) {
    mgri_obj_free(s, o, q->v);
    q->v = NULL;
    q->head = q->cap = 0;
    return;
  }
  if (q->len > q->cap / 4) return;
  if (q->head) { /* rotate left by head: the items to the front */
    reverse(q->v, q->head);
    reverse(q->v + q->head, q->cap - q->head);
    reverse(q->v, q->cap);
    q->head = 0;
  }
  size_t cap = q->cap / 2;
  mgr_value *v = mgri_obj_realloc(s, o, q->v, cap * sizeof *v);
  if (!v) return;
  q->v = v;
  q->cap = cap;
}

/* --- pending puts --------------------------------------------------------- */

static pending *pend_of(const mgri_waiter *w) {
  return (pending *)(uintptr_t)w->data;
}

/* Frees the record (its item already moved or dropped). */
static void pend_free(mgri_store *s, mgri_obj *o, pending *p) {
  queue *q = Q(o);
  if (p->prev)
    p->prev->next = p->next;
  else
    q->pend = p->next;
  if (p->next) p->next->prev = p->prev;
  mgri_obj_free(s, o, p);
}

static void pend_drop(mgri_store *s, mgri_obj *o, pending *p) {
  mgri_sv_drop(s, o, &p->item);
  pend_free(s, o, p);
}

/* --- arguments ------------------------------------------------------------ */

/* [block?, timeout?] from argument bi on, as Python's queue.Queue reads
 * them (spec 9.8): block a bool (default true); the timeout nil or a
 * number, a negative one (-1 too) or NaN VALUE when block is true, its
 * value ignored when block is false. *once: answer now, never park. */
static int block_args(mgri_octx *x, size_t bi, int64_t *deadline, bool *once) {
  bool block = true;
  *deadline = INT64_MAX;
  *once = false;
  if (x->nargs > bi) {
    if (x->args[bi].type != MGR_T_BOOL)
      return mgri_fail(x, MGR_ETYPE, "TypeError: block must be bool, not %s",
                       mgri_tname(&x->args[bi]));
    block = x->args[bi].u.b;
  }
  if (x->nargs > bi + 1) {
    const mgr_value *t = &x->args[bi + 1];
    if (t->type != MGR_T_NIL && t->type != MGR_T_INT && t->type != MGR_T_FLOAT)
      return mgri_fail(x, MGR_ETYPE,
                       "TypeError: timeout must be a number or None, not %s",
                       mgri_tname(t));
    bool neg = t->type == MGR_T_INT     ? t->u.i < 0
               : t->type == MGR_T_FLOAT ? isnan(t->u.f) || t->u.f < 0
                                        : false;
    if (block && neg)
      return mgri_fail(x, MGR_EVALUE,
                       "ValueError: 'timeout' must be a non-negative number");
    if (block) {
      int what;
      int rc = mgri_arg_timeout(x, bi + 1, deadline, &what);
      if (rc) return rc;
      *once = what == MGRI_TIMEOUT_ZERO;
    }
  }
  if (!block) *once = true;
  return MGR_OK;
}

static int full_error(mgri_octx *x) {
  return mgri_fail(x, MGR_EFULL, "queue.Full");
}

/* --- handing over --------------------------------------------------------- */

static void answer_full(mgri_store *s, mgri_waiter *w) {
  mgri_wait_answer(s, w, MGR_EFULL, NULL, "queue.Full",
                   MGRI_TRACE_WAIT_TIMEOUT);
}
static void answer_empty(mgri_store *s, mgri_waiter *w) {
  mgri_wait_answer(s, w, MGR_EEMPTY, NULL, "queue.Empty",
                   MGRI_TRACE_WAIT_TIMEOUT);
}

/* A put's item to the oldest getter that can take it: one whose deadline
 * passed before this put (the clock has not ticked it yet) timed out
 * (EMPTY); one whose reply cannot be delivered (its connection is closing)
 * is answered in vain and the item stays with the put. Whether a getter
 * took it. */
static bool hand_to_getter(mgri_octx *x, queue *q, const mgr_value *item) {
  mgri_waiter *w;
  while ((w = q->getters.head)) {
    if (w->deadline <= x->now) {
      answer_empty(x->s, w);
      continue;
    }
    if (mgri_wait_answer(x->s, w, MGR_OK, item, NULL, MGRI_TRACE_WAIT_GRANTED))
      return true;
  }
  return false;
}

/* A get freed a slot: the oldest waiting put stores its item (at the tail,
 * after every item already queued: FIFO) and is answered nil. One whose
 * deadline passed is answered FULL, one whose reply cannot be delivered
 * behaves as if it had never waited (its item goes, spec 9.7): the next
 * one then has its turn. */
static void admit_putter(mgri_octx *x, mgri_obj *o) {
  queue *q = Q(o);
  mgri_waiter *w;
  while (!is_full(q) && q->len < q->cap && (w = q->putters.head)) {
    pending *p = pend_of(w);
    if (w->deadline <= x->now) {
      answer_full(x->s, w);
      pend_drop(x->s, o, p);
      continue;
    }
    mgr_value nil = mgr_nil();
    if (!mgri_wait_answer(x->s, w, MGR_OK, &nil, NULL,
                          MGRI_TRACE_WAIT_GRANTED)) {
      pend_drop(x->s, o, p);
      continue;
    }
    push(q, p->item);
    pend_free(x->s, o, p);
    if (q->joinable) q->unfinished++;
  }
}

/* --- ops ------------------------------------------------------------------ */

static int op_put(mgri_octx *x) {
  mgri_obj *o = x->o;
  queue *q = Q(o);
  int64_t deadline;
  bool once;
  int rc = block_args(x, 1, &deadline, &once);
  if (rc) return rc;
  const mgr_value *item = &x->args[0];
  if ((rc = mgri_sv_check(x, item))) return rc;
  if (hand_to_getter(x, q, item)) {
    if (q->joinable) q->unfinished++;
    return MGR_OK;
  }
  if (!is_full(q)) {
    if ((rc = reserve1(x, o, mgri_sv_need(item)))) return rc;
    mgr_value v;
    if ((rc = mgri_sv_make_checked(x, o, item, &v))) return rc;
    push(q, v);
    if (q->joinable) q->unfinished++;
    return MGR_OK;
  }
  if (once) return full_error(x);
  /* Wait for room, holding an owned copy of the item. */
  size_t need = mgri_sv_need(item);
  if ((rc = mgri_need(x, need > SIZE_MAX - sizeof(pending) - 16
                             ? SIZE_MAX
                             : need + sizeof(pending) + 16)))
    return rc;
  pending *p = mgri_obj_alloc(x->s, o, sizeof *p);
  if (!p) return mgri_nomem(x);
  memset(p, 0, sizeof *p);
  p->next = q->pend;
  if (q->pend) q->pend->prev = p;
  q->pend = p;
  if ((rc = mgri_sv_make_checked(x, o, item, &p->item))) {
    pend_free(x->s, o, p);
    return rc;
  }
  rc = mgri_wait_park(x, &q->putters, deadline, (uint64_t)(uintptr_t)p);
  if (rc != MGRI_PARKED) pend_drop(x->s, o, p);
  return rc;
}

static int op_get(mgri_octx *x) {
  mgri_obj *o = x->o;
  queue *q = Q(o);
  int64_t deadline;
  bool once;
  int rc = block_args(x, 0, &deadline, &once);
  if (rc) return rc;
  if (q->len) {
    /* The reply borrows the item; it is freed once the reply is sent. */
    x->result = q->v[q->head];
    mgri_sv_drop_later(x->s, o, &q->v[q->head]);
    q->head = slot(q, 1);
    q->len--;
    admit_putter(x, o);
    shrink(x->s, o);
    return MGR_OK;
  }
  if (once) return mgri_fail(x, MGR_EEMPTY, "queue.Empty");
  return mgri_wait_park(x, &q->getters, deadline, 0);
}

static int op_qsize(mgri_octx *x) {
  x->result = mgr_int((int64_t)Q(x->o)->len);
  return MGR_OK;
}

static int op_empty(mgri_octx *x) {
  x->result = mgr_bool(Q(x->o)->len == 0);
  return MGR_OK;
}

static int op_full(mgri_octx *x) {
  x->result = mgr_bool(is_full(Q(x->o)));
  return MGR_OK;
}

/* Every joiner: true, except one whose deadline passed before the count
 * reached 0 (the clock has not ticked it yet), which timed out. */
static void release_joiners(mgri_octx *x, queue *q) {
  mgri_waiter *w;
  while ((w = q->joiners.head)) {
    bool late = w->deadline <= x->now;
    mgr_value r = mgr_bool(!late);
    mgri_wait_answer(x->s, w, MGR_OK, &r, NULL,
                     late ? MGRI_TRACE_WAIT_TIMEOUT : MGRI_TRACE_WAIT_GRANTED);
  }
}

static int op_task_done(mgri_octx *x) {
  queue *q = Q(x->o);
  if (!q->unfinished)
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: task_done() called too many times");
  if (--q->unfinished == 0) release_joiners(x, q);
  return MGR_OK;
}

static int op_join(mgri_octx *x) {
  queue *q = Q(x->o);
  int64_t deadline = INT64_MAX;
  int what = MGRI_TIMEOUT_NONE;
  /* Beyond Python: an optional timeout with the rules of spec 9.7. */
  if (x->nargs > 0) {
    int rc = mgri_arg_timeout(x, 0, &deadline, &what);
    if (rc) return rc;
  }
  if (!q->unfinished || what == MGRI_TIMEOUT_ZERO) {
    x->result = mgr_bool(q->unfinished == 0);
    return MGR_OK;
  }
  return mgri_wait_park(x, &q->joiners, deadline, 0);
}

/* --- the kind's hooks ----------------------------------------------------- */

static int queue_init_check(mgri_octx *x, uint32_t kind,
                            const mgr_value *init) {
  if (!init || init->type == MGR_T_NIL || init->type == MGR_T_INT)
    return MGR_OK;
  return mgri_fail(x, MGR_ETYPE,
                   "TypeError: %s() maxsize must be int or None, not %s",
                   mgri_kind_name(kind), mgri_tname(init));
}

static int queue_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  (void)x;
  queue *q = Q(o);
  q->maxsize = init && init->type == MGR_T_INT ? init->u.i : 0;
  q->joinable = o->kind->id == MGR_K_JQUEUE;
  return MGR_OK; /* empty, no waiters: the zeroed state */
}

static void queue_destroy(mgri_store *s, mgri_obj *o) {
  queue *q = Q(o);
  static const char gone[] =
      "LookupError: the queue was destroyed while waiting";
  mgri_wait_cancel_all(s, &q->getters, MGR_ENOTFOUND, gone);
  mgri_wait_cancel_all(s, &q->putters, MGR_ENOTFOUND, gone);
  mgri_wait_cancel_all(s, &q->joiners, MGR_ENOTFOUND, gone);
  /* Pending items whose waiters the shutdown answered are dropped too. */
  while (q->pend)
    pend_drop(s, o, q->pend);
  for (size_t i = 0; i < q->len; i++)
    mgri_sv_drop(s, o, &q->v[slot(q, i)]);
  mgri_obj_free(s, o, q->v);
  q->v = NULL;
  q->head = q->len = q->cap = 0;
}

static void queue_refs(const mgri_obj *o, void (*fn)(void *, uint64_t),
                       void *ctx) {
  const queue *q = Q(o);
  for (size_t i = 0; i < q->len; i++)
    mgri_value_refs(&q->v[slot(q, i)], fn, ctx);
  for (const pending *p = q->pend; p; p = p->next)
    mgri_value_refs(&p->item, fn, ctx);
}

/* A waiter's deadline: a put is FULL (its item goes), a get EMPTY, a join
 * false. */
static void queue_expired(mgri_store *s, mgri_waiter *w) {
  mgri_obj *o = w->obj;
  queue *q = Q(o);
  if (w->q == &q->putters) {
    pending *p = pend_of(w);
    answer_full(s, w);
    pend_drop(s, o, p);
  } else if (w->q == &q->getters) {
    answer_empty(s, w);
  } else {
    mgr_value no = mgr_bool(false);
    mgri_wait_answer(s, w, MGR_OK, &no, NULL, MGRI_TRACE_WAIT_TIMEOUT);
  }
}

/* A waiter's connection closed: a put's item goes, as if it had never
 * been sent (spec 9.7); getters and joiners held nothing. */
static void queue_gone(mgri_store *s, mgri_waiter *w) {
  mgri_obj *o = w->obj;
  if (w->q == &Q(o)->putters) pend_drop(s, o, pend_of(w));
}

/* DUMP's state: {"maxsize", "size", "getters", "putters", ["unfinished",
 * "joiners"] (JoinableQueue), "contents": the items, head first}. */
static int queue_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  const queue *q = Q(o);
  size_t npairs = q->joinable ? 7 : 5;
  mgr_value *kv = mgri_scratch(x, 2 * npairs);
  if (!kv) return MGR_ELIMIT;
  mgr_value *items = mgri_scratch(x, q->len);
  if (!items) return MGR_ELIMIT;
  for (size_t i = 0; i < q->len; i++)
    items[i] = q->v[slot(q, i)];
  size_t k = 0;
  kv[k++] = mgr_text("maxsize");
  kv[k++] = mgr_int(q->maxsize);
  kv[k++] = mgr_text("size");
  kv[k++] = mgr_int((int64_t)q->len);
  kv[k++] = mgr_text("getters");
  kv[k++] = mgr_int((int64_t)q->getters.n);
  kv[k++] = mgr_text("putters");
  kv[k++] = mgr_int((int64_t)q->putters.n);
  if (q->joinable) {
    kv[k++] = mgr_text("unfinished");
    kv[k++] = mgr_int((int64_t)q->unfinished);
    kv[k++] = mgr_text("joiners");
    kv[k++] = mgr_int((int64_t)q->joiners.n);
  }
  kv[k++] = mgr_text("contents");
  kv[k++] = mgr_array(items, q->len);
  *out = mgr_map(kv, npairs);
  return MGR_OK;
}

/* The data items it holds, queued and waiting to be put (spec 14.2.4). */
static size_t queue_len(const mgri_obj *o) { return (size_t)o->items; }

static const mgri_handler queue_ops[] = {
    {MGRI_OP_QUEUE_PUT, op_put, MGRI_COST_ARGS},
    {MGRI_OP_QUEUE_GET, op_get, MGRI_COST_ONE},
    {MGRI_OP_QUEUE_QSIZE, op_qsize, MGRI_COST_ONE},
    {MGRI_OP_QUEUE_EMPTY, op_empty, MGRI_COST_ONE},
    {MGRI_OP_QUEUE_FULL, op_full, MGRI_COST_ONE},
};

static const mgri_handler jqueue_ops[] = {
    {MGRI_OP_QUEUE_TASK_DONE, op_task_done, MGRI_COST_ONE},
    {MGRI_OP_QUEUE_JOIN, op_join, MGRI_COST_ONE},
};

#define QUEUE_KIND(ID, EXTENDS, OPS)                                           \
  {                                                                            \
    .id = ID, .state_size = sizeof(queue), .init_check = queue_init_check,     \
    .create = queue_create, .destroy = queue_destroy, .refs = queue_refs,      \
    .expired = queue_expired, .gone = queue_gone, .dump = queue_dump,          \
    .len = queue_len, .extends = EXTENDS, .ops = OPS,                          \
    .nops = sizeof OPS / sizeof OPS[0],                                        \
  }

const mgri_kind mgri_kind_queue = QUEUE_KIND(MGR_K_QUEUE, 0, queue_ops);
/* A JoinableQueue runs the Queue's ops, then TASK_DONE and JOIN. */
const mgri_kind mgri_kind_jqueue =
    QUEUE_KIND(MGR_K_JQUEUE, MGR_K_QUEUE, jqueue_ops);
