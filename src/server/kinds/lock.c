/* mgr — Lock and RLock (spec 13): the owner is the connection that
 * acquired (mgri_obj_own), waiters park in FIFO order until a grant or their
 * deadline (wait.c), and an owner's death is told to the next owner
 * (result 2). The two kinds share the lock ops; an RLock counts recursion. */
#include "../../trace/trace.h"
#include <string.h>

#include "mgr/error.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/kinds/lockcore.h"
#include "server/objects.h"
#include "server/reply.h"
#include "server/wait.h"

static mgri_lockst *K(const mgri_obj *o) { return mgri_state(o); }

/* --- ops ---------------------------------------------------------------- */

static int op_acquire(mgri_octx *x) {
  return mgri_lock_acquire(x, x->o, K(x->o));
}

static int op_release(mgri_octx *x) {
  return mgri_lock_release(x, x->o, K(x->o));
}

static int op_locked(mgri_octx *x) {
  x->result = mgr_bool(x->o->owner != NULL);
  return MGR_OK;
}

/* --- the kind's hooks ---------------------------------------------------- */

static int lock_init_check(mgri_octx *x, uint32_t kind, const mgr_value *init) {
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  return mgri_fail(x, MGR_ETYPE, "TypeError: %s() takes no initial value",
                   mgri_kind_name(kind));
}

static int lock_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  (void)x;
  (void)init;
  /* Unlocked, no waiters: the zeroed state. */
  K(o)->recursive = o->kind->id == MGR_K_RLOCK;
  return MGR_OK;
}

static void lock_destroy(mgri_store *s, mgri_obj *o) {
  mgri_lock_destroy(s, K(o));
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
  mgri_lock_owner_closed(s, o, K(o));
}

static int lock_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  mgr_value *kv = mgri_scratch(x, 10);
  if (!kv) return MGR_ELIMIT;
  mgri_lock_dump(o, K(o), kv);
  *out = mgr_map(kv, 5);
  return MGR_OK;
}

static size_t lock_len(const mgri_obj *o) { return K(o)->q.n + 1; }

static const mgri_handler ops[] = {
    {MGRI_OP_LOCK_ACQUIRE, op_acquire, MGRI_COST_ONE},
    {MGRI_OP_LOCK_RELEASE, op_release, MGRI_COST_ONE},
    {MGRI_OP_LOCK_LOCKED, op_locked, MGRI_COST_ONE},
};

#define LOCK_KIND(ID, EXTENDS, OPS, NOPS)                                      \
  {                                                                            \
    .id = ID, .state_size = sizeof(mgri_lockst),                               \
    .init_check = lock_init_check, .create = lock_create,                      \
    .destroy = lock_destroy, .refs = lock_refs,                                \
    .owner_closed = lock_owner_closed, .expired = mgri_lock_expired,           \
    .dump = lock_dump, .len = lock_len, .extends = EXTENDS, .ops = OPS,        \
    .nops = NOPS,                                                              \
  }

const mgri_kind mgri_kind_lock =
    LOCK_KIND(MGR_K_LOCK, 0, ops, sizeof ops / sizeof ops[0]);
/* An RLock runs the Lock's ops (each checks which kind it runs on). */
const mgri_kind mgri_kind_rlock = LOCK_KIND(MGR_K_RLOCK, MGR_K_LOCK, NULL, 0);
