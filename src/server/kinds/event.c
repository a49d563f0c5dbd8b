/* mgr — the Event (manager.Event(), spec 9.10): a flag and the requests
 * waiting for it. EVENT_SET answers every waiter true at once; a waiter's
 * deadline answers it false (wait.c keeps the deadlines). A waiter holds
 * nothing, so one whose connection closes just goes (no gone hook). */
#include "../../trace/trace.h"

#include "mgr/error.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/reply.h"
#include "server/wait.h"

typedef struct event {
  mgri_waitq q; /* EVENT_WAITs, oldest first */
  bool flag;
} event;

static event *E(const mgri_obj *o) { return mgri_state(o); }

/* --- ops ------------------------------------------------------------------ */

static int op_set(mgri_octx *x) {
  event *ev = E(x->o);
  ev->flag = true;
  /* Every waiter, oldest first: true, except one whose deadline passed
   * before this SET (the clock has not ticked it yet), which timed out, as
   * a lock's (spec 13.3). One whose reply cannot be delivered (its
   * connection is closing) had nothing to give back. */
  mgri_waiter *w;
  while ((w = ev->q.head)) {
    bool late = w->deadline <= x->now;
    mgr_value r = mgr_bool(!late);
    mgri_wait_answer(x->s, w, MGR_OK, &r, NULL,
                     late ? MGRI_TRACE_WAIT_TIMEOUT : MGRI_TRACE_WAIT_GRANTED);
  }
  return MGR_OK;
}

static int op_clear(mgri_octx *x) {
  E(x->o)->flag = false;
  return MGR_OK;
}

static int op_is_set(mgri_octx *x) {
  x->result = mgr_bool(E(x->o)->flag);
  return MGR_OK;
}

static int op_wait(mgri_octx *x) {
  event *ev = E(x->o);
  int64_t deadline = INT64_MAX;
  int what = MGRI_TIMEOUT_NONE;
  /* The timeout is checked even when the flag is set (spec 9.7), which
   * Python's Event.wait does not do. */
  if (x->nargs > 0) {
    int rc = mgri_arg_timeout(x, 0, &deadline, &what);
    if (rc) return rc;
  }
  if (ev->flag || what == MGRI_TIMEOUT_ZERO) {
    x->result = mgr_bool(ev->flag);
    return MGR_OK;
  }
  return mgri_wait_park(x, &ev->q, deadline, 0);
}

/* --- the kind's hooks ---------------------------------------------------- */

static int event_init_check(mgri_octx *x, uint32_t kind,
                            const mgr_value *init) {
  (void)kind;
  if (!init || init->type == MGR_T_NIL) return MGR_OK;
  return mgri_fail(x, MGR_ETYPE, "TypeError: Event() takes no initial value");
}

static int event_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  (void)x;
  (void)o;
  (void)init;
  return MGR_OK; /* not set, no waiters: the zeroed state */
}

static void event_destroy(mgri_store *s, mgri_obj *o) {
  mgri_wait_cancel_all(s, &E(o)->q, MGR_ENOTFOUND,
                       "LookupError: the event was destroyed while waiting");
}

static void event_refs(const mgri_obj *o, void (*fn)(void *, uint64_t),
                       void *ctx) {
  (void)o;
  (void)fn;
  (void)ctx; /* an event stores no values */
}

/* A waiter's deadline: the flag was not set in time. */
static void event_expired(mgri_store *s, mgri_waiter *w) {
  mgr_value no = mgr_bool(false);
  mgri_wait_answer(s, w, MGR_OK, &no, NULL, MGRI_TRACE_WAIT_TIMEOUT);
}

/* DUMP's state: {"set": bool, "waiters": uint}. */
static int event_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  mgr_value *kv = mgri_scratch(x, 4);
  if (!kv) return MGR_ELIMIT;
  kv[0] = mgr_text("set");
  kv[1] = mgr_bool(E(o)->flag);
  kv[2] = mgr_text("waiters");
  kv[3] = mgr_int((int64_t)E(o)->q.n);
  *out = mgr_map(kv, 2);
  return MGR_OK;
}

/* What EVENT_SET walks: its waiters, + 1. */
static size_t event_len(const mgri_obj *o) { return E(o)->q.n + 1; }

static const mgri_handler ops[] = {
    {MGRI_OP_EVENT_SET, op_set, MGRI_COST_LEN},
    {MGRI_OP_EVENT_CLEAR, op_clear, MGRI_COST_ONE},
    {MGRI_OP_EVENT_IS_SET, op_is_set, MGRI_COST_ONE},
    {MGRI_OP_EVENT_WAIT, op_wait, MGRI_COST_ONE},
};

const mgri_kind mgri_kind_event = {
    .id = MGR_K_EVENT,
    .state_size = sizeof(event),
    .init_check = event_init_check,
    .create = event_create,
    .destroy = event_destroy,
    .refs = event_refs,
    .expired = event_expired,
    .dump = event_dump,
    .len = event_len,
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
};
