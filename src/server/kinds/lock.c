/* mgr — Lock and RLock (spec 13): the owner is the connection that
 * acquired (mgri_obj_own), waiters park in FIFO order until a grant or their
 * deadline (wait.c), and an owner's death is told to the next owner
 * (result 2). The two kinds share the lock ops; an RLock counts recursion. */
#include "../../trace/trace.h"
#include <string.h>

#include "mgr/error.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/objects.h"
#include "server/reply.h"
#include "server/wait.h"

typedef struct lock {
  uint64_t depth;  /* rlock recursion */
  bool owner_dead; /* the next grant answers 2 */
  mgri_waitq q;
} lock;

static lock *K(const mgri_obj *o) { return mgri_state(o); }

/* Makes c the owner; returns the acquire result (2 once after owner death). */
static int64_t take(mgri_obj *o, mgri_sconn *c) {
  lock *lk = K(o);
  mgri_obj_own(o, c);
  lk->depth = 1;
  int64_t r = lk->owner_dead ? 2 : 1;
  lk->owner_dead = false;
  return r;
}

/* Frees the lock and grants it to the first waiter whose deadline has not
 * passed; waiters found expired are answered 0 (spec 13.3). */
static void free_up(mgri_store *s, mgri_obj *o) {
  lock *lk = K(o);
  mgri_obj_unown(o);
  lk->depth = 0;
  mgri_waiter *w;
  while ((w = lk->q.head)) {
    bool expired = w->deadline <= s->now;
    mgr_value r = mgr_int(expired ? 0 : take(o, w->conn));
    mgri_wait_answer(s, w, MGR_OK, &r, NULL,
                     expired       ? MGRI_TRACE_WAIT_TIMEOUT
                     : r.u.i == 2 ? MGRI_TRACE_WAIT_OWNER_DEAD
                                  : MGRI_TRACE_WAIT_GRANTED);
    if (!expired) return;
  }
}

/* --- ops ---------------------------------------------------------------- */

static int op_acquire(mgri_octx *x) {
  mgri_obj *o = x->o;
  lock *lk = K(o);
  bool rlock = o->kind->id == MGR_K_RLOCK;
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
    return mgri_fail(x, MGR_EVALUE,
                     "ValueError: can't specify a timeout for a non-blocking call");
  bool once = !blocking || what == MGRI_TIMEOUT_ZERO;

  if (!o->owner) {
    x->result = mgr_int(take(o, x->c));
    return MGR_OK;
  }
  if (rlock && o->owner == x->c) {
    lk->depth++;
    x->result = mgr_int(1);
    return MGR_OK;
  }
  if (once) {
    x->result = mgr_int(0);
    return MGR_OK;
  }
  if (!rlock && o->owner == x->c && deadline == INT64_MAX)
    return mgri_fail(x, MGR_ESTATE,
                     "RuntimeError: deadlock: this connection already holds the "
                     "lock and asked to wait forever");
  return mgri_wait_park(x, &lk->q, deadline, 0);
}

static int op_release(mgri_octx *x) {
  mgri_obj *o = x->o;
  lock *lk = K(o);
  if (o->kind->id == MGR_K_RLOCK) {
    if (o->owner != x->c)
      return mgri_fail(x, MGR_ESTATE,
                       "RuntimeError: cannot release un-acquired lock");
    if (--lk->depth) return MGR_OK;
  } else if (!o->owner) {
    return mgri_fail(x, MGR_ESTATE, "RuntimeError: release unlocked lock");
  }
  /* A Lock may be released by any connection, as threading.Lock by any
   * thread. */
  free_up(x->s, o);
  return MGR_OK;
}

static int op_locked(mgri_octx *x) {
  x->result = mgr_bool(x->o->owner != NULL);
  return MGR_OK;
}

/* --- the kind's hooks ---------------------------------------------------- */

static int lock_init_check(mgri_octx *x, uint32_t kind,
                           const mgr_value *init) {
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  return mgri_fail(x, MGR_ETYPE, "TypeError: %s() takes no initial value",
                   mgri_kind_name(kind));
}

static int lock_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  (void)x;
  (void)o;
  (void)init;
  return MGR_OK; /* unlocked, no waiters: the zeroed state */
}

static void lock_destroy(mgri_store *s, mgri_obj *o) {
  mgri_wait_cancel_all(s, &K(o)->q, MGR_ENOTFOUND,
                       "LookupError: the lock was destroyed while waiting");
}

static void lock_refs(const mgri_obj *o, void (*fn)(void *, uint64_t),
                      void *ctx) {
  (void)o;
  (void)fn;
  (void)ctx; /* a lock stores no values */
}

/* Its owner's connection closed: released (an RLock wholly) and marked, so
 * the next grant answers 2 (spec 13.4). */
static void lock_owner_closed(mgri_store *s, mgri_obj *o) {
  K(o)->owner_dead = true;
  free_up(s, o);
}

static void lock_expired(mgri_store *s, mgri_waiter *w) {
  mgr_value r = mgr_int(0);
  mgri_wait_answer(s, w, MGR_OK, &r, NULL, MGRI_TRACE_WAIT_TIMEOUT);
}

static int lock_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  const lock *lk = K(o);
  mgr_value *kv = mgri_scratch(x, 10);
  if (!kv) return MGR_ELIMIT;
  kv[0] = mgr_text("locked");
  kv[1] = mgr_bool(o->owner != NULL);
  kv[2] = mgr_text("owner");
  kv[3] = o->owner ? mgr_int((int64_t)o->owner->id) : mgr_nil();
  kv[4] = mgr_text("depth");
  kv[5] = mgr_int((int64_t)lk->depth);
  kv[6] = mgr_text("waiters");
  kv[7] = mgr_int((int64_t)lk->q.n);
  kv[8] = mgr_text("owner_died");
  kv[9] = mgr_bool(lk->owner_dead);
  *out = mgr_map(kv, 5);
  return MGR_OK;
}

static size_t lock_len(const mgri_obj *o) { return K(o)->q.n + 1; }

static const mgri_handler ops[] = {
    {MGRI_OP_LOCK_ACQUIRE, op_acquire, MGRI_COST_ONE},
    {MGRI_OP_LOCK_RELEASE, op_release, MGRI_COST_ONE},
    {MGRI_OP_LOCK_LOCKED, op_locked, MGRI_COST_ONE},
};

#define LOCK_KIND(ID)                                                          \
  {                                                                            \
    .id = ID, .state_size = sizeof(lock), .init_check = lock_init_check,      \
    .create = lock_create, .destroy = lock_destroy, .refs = lock_refs,        \
    .owner_closed = lock_owner_closed, .expired = lock_expired,               \
    .dump = lock_dump, .len = lock_len, .ops = ops,                           \
    .nops = sizeof ops / sizeof ops[0],                                       \
  }

const mgri_kind mgri_kind_lock = LOCK_KIND(MGR_K_LOCK);
const mgri_kind mgri_kind_rlock = LOCK_KIND(MGR_K_RLOCK);
