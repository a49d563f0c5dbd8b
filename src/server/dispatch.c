/* mgr — THE dispatch path: every request of every connection goes through
 * mgri_dispatch (handshake, op table lookup, arity and kind checks, the op's
 * cost, the op, the reply, then deferred frees and reference drops, and the
 * slow-request log); BATCH re-enters it once per sub-request. */
#include "server/dispatch.h"

#include "../trace/trace.h"
#include <stdio.h>
#include <string.h>

#include "cbor/cbor.h"
#include "mgr/error.h"
#include "server/kind.h"
#include "server/objects.h"
#include "server/reply.h"

static uint64_t sat_add(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b) {
  return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* The handler of op for an object of kind (0: the manager), or NULL. */
static const mgri_handler *handler(const mgri_store *s, uint32_t kind,
                                   uint64_t op) {
  if (kind > MGRI_KIND_MAX || op > MGRI_OP_CODE_MAX) return NULL;
  return s->ops[kind][op];
}

/* --- cost (spec 14.2): the items an op will touch, before it runs ---------- */

/* The cost of running handler h on object o (NULL for manager ops without
 * one) with args, when `grow` items may have been added to the store by
 * earlier sub-requests of the same batch (an upper bound on how much larger
 * o can be now); *adds gets the items this one may add. */
static uint64_t cost_of(const mgri_store *s, const mgri_handler *h,
                        const mgri_obj *o, const mgr_value *args, size_t nargs,
                        uint64_t grow, uint64_t *adds) {
  *adds = 0;
  if (h->cost == MGRI_COST_ONE) return 1;
  uint64_t len = o && o->kind->len ? sat_add(o->kind->len(o), grow) : grow;
  uint64_t items = 0;
  if (h->cost == MGRI_COST_ARGS || h->cost == MGRI_COST_LEN_ARGS ||
      h->cost == MGRI_COST_END_ARGS)
    for (size_t i = 0; i < nargs; i++)
      items = sat_add(items, mgri_value_items(&args[i], SIZE_MAX));
  switch (h->cost) {
  case MGRI_COST_LEN:
    return sat_add(1, len);
  case MGRI_COST_ARGS:
    *adds = items;
    return sat_add(1, items);
  case MGRI_COST_LEN_ARGS:
    *adds = items;
    return sat_add(sat_add(1, len), items);
  case MGRI_COST_SORT: {
    uint64_t lg = 0; /* ceil(log2(len)) */
    while (lg < 63 && (UINT64_C(1) << lg) < len)
      lg++;
    return sat_add(1, sat_mul(len, lg));
  }
  case MGRI_COST_IMUL: {
    uint64_t n = nargs && args[0].type == MGR_T_INT && args[0].u.i > 1
                     ? (uint64_t)args[0].u.i
                     : 1;
    *adds = sat_mul(len, n - 1);
    return sat_add(1, sat_mul(len, n));
  }
  case MGRI_COST_OBJECTS:
    return sat_add(1, sat_add(s->nobjs, grow));
  case MGRI_COST_END:
  case MGRI_COST_END_ARGS: {
    /* The items on the index's side of an end: at most what is shifted
     * (the shorter side is). Not an int: as far as the whole list. */
    uint64_t d = 1; /* omitted: -1 */
    if (nargs && args[0].type == MGR_T_INT)
      d = args[0].u.i < 0 ? (uint64_t) - (args[0].u.i + 1) + 1
                          : (uint64_t)args[0].u.i;
    else if (nargs)
      d = len;
    if (d > len) d = len;
    if (h->cost == MGRI_COST_END) return sat_add(1, d);
    *adds = items;
    return sat_add(sat_add(1, d), items);
  }
  default:
    return 1;
  }
}

/* The estimated cost of [op, oid, args] before dispatch has checked it
 * (a BATCH's sub-requests): 1 for what dispatch would refuse. */
static uint64_t estimate(const mgri_store *s, uint64_t op, uint64_t oid,
                         const mgr_value *args, size_t nargs, uint64_t grow,
                         uint64_t *adds) {
  *adds = 0;
  const mgri_opinfo *info = mgri_op_info(op);
  if (!info) return 1;
  const mgri_obj *o = NULL;
  if (info->kind || (info->flags & MGRI_OPF_O)) o = mgri_obj_find(s, oid);
  /* An object op on an id that is not (yet) live may name an object an
   * earlier sub-request creates: priced with its op kind's handler, as an
   * object that holds all the items the batch may have added. */
  uint32_t kind = info->kind ? (o ? o->kind->id : info->kind) : 0;
  const mgri_handler *h = handler(s, kind, op);
  if (!h) return 1;
  return cost_of(s, h, o, args, nargs, grow, adds);
}

/* --- the checks of spec 8.3 ------------------------------------------------- */

static int arity(mgri_octx *x, const mgri_opinfo *op) {
  size_t n = x->rq->nargs;
  if (n >= op->min_args && n <= op->max_args) return MGR_OK;
  if (op->min_args == op->max_args)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: %s takes %u argument%s (%zu given)", op->name,
                     op->min_args, op->min_args == 1 ? "" : "s", n);
  return mgri_fail(x, MGR_ETYPE,
                   "TypeError: %s takes %u to %u arguments (%zu given)",
                   op->name, op->min_args, op->max_args, n);
}

/* Ops a BATCH may not hold (spec 9.6): they change the connection or the
 * server rather than an object, or could park: a blocking op (flag B) whose
 * first argument, its "blocking" flag, is true. */
static bool batch_forbidden(const mgri_request *rq) {
  if (rq->op == MGRI_OP_HELLO || rq->op == MGRI_OP_BATCH ||
      rq->op == MGRI_OP_SHUTDOWN || rq->op == MGRI_OP_SHM_OPEN)
    return true;
  const mgri_opinfo *op = mgri_op_info(rq->op);
  if (!op || !(op->flags & MGRI_OPF_B)) return false;
  /* Spec 9.7: a waiting op only with its blocking argument present and
   * false. Not a bool: not forbidden here, the op answers TYPE. */
  int i = MGRI_OPF_BARG_OF(op->flags);
  if (i < 0) return true;
  if ((size_t)i >= rq->nargs) return true; /* omitted: blocking */
  return rq->args[i].type == MGR_T_BOOL && rq->args[i].u.b;
}

/* The checks of spec 8.3, in its order, then the op. sub: rq is a BATCH's
 * sub-request (spec 9.6), which must not be one of the forbidden ops. */
static int run(mgri_octx *x, bool sub) {
  const mgri_request *rq = x->rq;
  mgri_sconn *c = x->c;
  mgri_store *s = x->s;
  if (sub && batch_forbidden(rq))
    return mgri_fail(x, MGR_EVALUE, "ValueError: %s%s cannot be batched",
                     mgri_op_info(rq->op) &&
                             MGRI_OPF_BARG_OF(mgri_op_info(rq->op)->flags) >= 0
                         ? "a blocking "
                         : "",
                     mgri_op_name(rq->op));
  if (rq->op == MGRI_OP_HELLO) {
    /* Every HELLO failure closes the connection (spec 7.6). */
    x->action = MGRI_DISPATCH_CLOSE;
    if (c->hello)
      return mgri_fail(x, MGR_EPROTO, "HELLO sent twice on one connection");
    if (rq->rid != 0 || rq->oid != 0)
      return mgri_fail(x, MGR_EPROTO, "HELLO must have rid 0 and oid 0");
    int rc = arity(x, mgri_op_info(MGRI_OP_HELLO));
    return rc ? rc : handler(s, 0, MGRI_OP_HELLO)->fn(x);
  }
  if (!c->hello) {
    x->action = MGRI_DISPATCH_CLOSE;
    return mgri_fail(x, MGR_EPROTO,
                     "the first request on a connection must be HELLO, not %s",
                     mgri_op_name(rq->op));
  }
  const mgri_opinfo *op = mgri_op_info(rq->op);
  const mgri_handler *h = NULL;
  if (!op)
    return mgri_fail(x, MGR_EBADOP, "AttributeError: unknown operation %llu",
                     (unsigned long long)rq->op);
  if (op->kind == 0) {
    if (rq->oid != 0 && !(op->flags & MGRI_OPF_O))
      return mgri_fail(x, MGR_EBADOP,
                       "AttributeError: %s is a manager op: oid must be 0",
                       op->name);
    h = handler(s, 0, rq->op);
  } else {
    if (rq->oid == 0)
      return mgri_fail(x, MGR_EBADOP,
                       "AttributeError: the manager does not support %s",
                       op->name);
    mgri_obj *o = mgri_obj_find(s, rq->oid);
    if (!o)
      return mgri_fail(x, MGR_ENOTFOUND, "LookupError: no shared object #%llu",
                       (unsigned long long)rq->oid);
    h = handler(s, o->kind->id, rq->op);
    if (!h)
      return mgri_fail(x, MGR_EBADOP,
                       "AttributeError: '%s' object does not support %s",
                       mgri_kind_name(o->kind->id), op->name);
    x->o = o;
  }
  if (!h)
    return mgri_fail(x, MGR_EBADOP, "AttributeError: unknown operation %llu",
                     (unsigned long long)rq->op);
  int rc = arity(x, op);
  if (rc) return rc;
  /* The cost, before the op changes its object (spec 14.2.4). */
  uint64_t adds;
  const mgri_obj *o = x->o;
  if (!o && (op->flags & MGRI_OPF_O)) o = mgri_obj_find(s, rq->oid);
  s->cost = cost_of(s, h, o, rq->args, rq->nargs, 0, &adds);
  return h->fn(x);
}

/* Runs rq with its request and reply trace events (wait_begin when it
 * parks) and returns its status, the result and message left in *x. Every
 * request goes through here: top-level ones from mgri_dispatch, a BATCH's
 * sub-requests from the BATCH op (sub true). */
static int exec(mgri_store *s, mgri_sconn *c, const mgri_request *rq,
                int64_t now_ns, bool sub, mgri_octx *x) {
  x->s = s;
  x->c = c;
  x->o = NULL;
  x->rq = rq;
  x->args = rq->args;
  x->nargs = rq->nargs;
  x->now = now_ns;
  x->result = mgr_nil();
  x->result_stored = false;
  x->adopt = sub ? NULL : s->adopt;
  x->action = MGRI_DISPATCH_OK;
  x->msg[0] = '\0';
  /* The handshake is traced as conn_open, not as a call: the client cannot
   * name the connection before HELLO's reply tells it its id. */
  bool traced = rq->op != MGRI_OP_HELLO || sub;
  if (traced)
    MGRI_TRACE(request, (int64_t)c->pid, c->id, rq->rid, rq->op, rq->oid,
               mgri_trace_key(rq->op, rq->args, rq->nargs));
  int rc = run(x, sub);
  if (rc != MGRI_PARKED) {
    /* An op that failed for lack of memory reports ELIMIT: ENOMEM is local
     * only and never travels. */
    if (rc == MGR_ENOMEM) rc = MGR_ELIMIT;
    if (traced)
      MGRI_TRACE(reply, (int64_t)c->pid, c->id, rq->rid, rq->op, rc,
                 mgri_trace_value(rq->op, rq->args, rq->nargs, rc, &x->result));
  } else {
    MGRI_TRACE(wait_begin, (int64_t)c->pid, c->id, rq->rid, rq->oid);
  }
  return rc;
}

static void log_slow(mgri_store *s, mgri_sconn *c, const mgri_request *rq,
                     uint64_t ns) {
  mgri_store_stats *st = &s->st;
  mgri_slow *e = &st->slowlog[st->slow % MGRI_SLOWLOG_LEN];
  st->slow++;
  e->seq = st->slow;
  e->duration = ns;
  e->pid = c->pid;
  e->conn = c->id;
  e->rid = rq->rid;
  e->op = rq->op;
  e->oid = rq->oid;
  e->cost = s->cost;
  MGRI_TRACE(slow_request, (int64_t)c->pid, c->id, rq->rid, rq->op, rq->oid, ns,
             s->cost);
}

int mgri_dispatch(mgri_store *s, mgri_sconn *c, const mgri_request *rq,
                  int64_t now_ns) {
  mgri_octx x;
  s->now = now_ns;
  s->st.requests++;
  s->cost = 1; /* until run() knows the op */
  int rc = exec(s, c, rq, now_ns, false, &x);
  s->adopt = NULL; /* for this request only */
  if (rc != MGRI_PARKED)
    mgri_emit(s, c, rq->rid, rc, &x.result, x.msg, x.result_stored);
  if (rq->op == MGRI_OP_HELLO && rc == MGR_OK)
    MGRI_TRACE(conn_open, (int64_t)c->pid, c->id, c->sess ? c->sess->id : 0);
  mgri_store_after_reply(s);
  /* A BATCH's result lived there until its reply was encoded. */
  if (rq->op == MGRI_OP_BATCH) mgri_arena_reset(&s->batch);
  /* now_ns was read just before this request: one more reading times it. */
  if (s->cfg.clock && s->cfg.slow_ns != UINT64_MAX) {
    int64_t t1 = s->cfg.clock(s->cfg.clock_ctx);
    uint64_t ns = t1 > now_ns ? (uint64_t)(t1 - now_ns) : 0;
    if (ns >= s->cfg.slow_ns) log_slow(s, c, rq, ns);
  }
  return x.action;
}

uint64_t mgri_store_last_cost(const mgri_store *s) { return s->cost; }

/* --- BATCH (spec 9.6) ------------------------------------------------------ */

/* A sub-request's rid, in its trace events and as its op sees it: bit 63
 * set (client rids never reach it), the batch's rid (low 53 bits), the
 * index in the batch (10 bits). */
_Static_assert(MGRI_BATCH_MAX <= 1024, "the sub-request index has 10 bits");
static uint64_t sub_rid(uint64_t rid, size_t i) {
  return (UINT64_C(1) << 63) | ((rid & ((UINT64_C(1) << 53) - 1)) << 10) |
         (uint64_t)i;
}

/* Nesting levels of v (a scalar is 1), counting no further than cap. */
static unsigned nesting(const mgr_value *v, unsigned cap) {
  if (cap == 0) return 1;
  if (v->type != MGR_T_ARRAY && v->type != MGR_T_MAP) return 1;
  size_t n = v->type == MGR_T_MAP ? 2 * v->u.a.len : v->u.a.len;
  const mgr_value *items = v->u.a.items;
  unsigned deepest = 0;
  for (size_t i = 0; i < n && deepest < cap - 1; i++) {
    unsigned d = nesting(&items[i], cap - 1);
    if (d > deepest) deepest = d;
  }
  return 1 + deepest;
}

static bool is_uint(const mgr_value *v) {
  return v->type == MGR_T_INT && v->u.i >= 0;
}

static bool well_formed(const mgr_value *e) {
  return e->type == MGR_T_ARRAY && e->u.a.len == 3 &&
         is_uint(&e->u.a.items[0]) && is_uint(&e->u.a.items[1]) &&
         e->u.a.items[2].type == MGR_T_ARRAY &&
         e->u.a.items[2].u.a.len <= MGRI_ARGS_MAX;
}

/* The batch being built: the reply bytes its slots may still take. */
typedef struct batch {
  size_t room; /* reply bytes left under frame_max */
  bool over;   /* the reply cannot fit in the frame */
  bool nomem;  /* the reply cannot be built for lack of memory */
} batch;

/* The bytes of the CBOR head of a uint. */
static size_t uint_len(uint64_t v) {
  mgr_value u = mgr_int(v > INT64_MAX ? INT64_MAX : (int64_t)v);
  return mgri_cbor_size(&u, SIZE_MAX);
}

/* Slot i of the batch reply: [0, result] or [code, message], copied into the
 * batch arena (the result may borrow object memory or scratch that the next
 * sub-request frees). Each slot's encoded size is counted against the frame
 * limit as it is built, exactly. Once the reply cannot be sent — too long
 * for the frame, or no memory to copy a result into it — nothing more is
 * copied, the remaining sub-requests still run, and the batch is answered
 * LIMIT as a whole (spec 9.6.5): a slot never says LIMIT for an op that took
 * effect. */
static void slot(mgri_octx *x, batch *b, mgr_value *pair, int rc,
                 const mgr_value *res, const char *msg) {
  mgri_arena *a = &x->s->batch;
  pair[0] = mgr_int(0);
  pair[1] = mgr_nil();
  if (b->over || b->nomem) return;
  /* reply(1) > results(2) > [0, result](3) > result(4): the result may nest
   * 3 levels fewer than the decoder's limit. */
  const unsigned room = MGRI_DEPTH_MAX - 3;
  if (rc == MGR_OK && nesting(res, room + 1) > room) {
    rc = MGR_ELIMIT;
    msg = "MemoryError: the result is nested too deeply for a batch reply";
  }
  if (!msg || !*msg) msg = mgr_strerror(rc);
  size_t len = rc == MGR_OK ? 0 : strlen(msg);
  /* The slot's bytes: its array head, its code, its result or message. */
  size_t size = 1 + uint_len(rc == MGR_OK ? 0 : mgri_err_to_wire(rc));
  if (size <= b->room)
    size += rc == MGR_OK ? mgri_cbor_size(res, b->room - size)
                         : uint_len(len) + len;
  if (size > b->room) {
    b->over = true;
    return;
  }
  b->room -= size;
  void *mem = mgri_arena_alloc(a, rc == MGR_OK ? mgri_value_size(res) : len);
  if (!mem) {
    b->nomem = true;
    return;
  }
  if (rc == MGR_OK) {
    mgri_value_copy_into(&pair[1], res, mem);
    return;
  }
  memcpy(mem, msg, len);
  pair[0] = mgr_int((int64_t)mgri_err_to_wire(rc));
  pair[1] = mgr_textn(mem, len);
}

static int op_batch(mgri_octx *x) {
  const mgr_value *list = &x->args[0];
  if (list->type != MGR_T_ARRAY)
    return mgri_fail(
        x, MGR_ETYPE,
        "TypeError: BATCH takes an array of [op, oid, args], not %s",
        mgri_tname(list));
  size_t n = list->u.a.len;
  if (n == 0) return mgri_fail(x, MGR_EVALUE, "ValueError: empty batch");
  if (n > MGRI_BATCH_MAX)
    return mgri_limit(x, MGRI_WHY_SIZE,
                      "MemoryError: %zu sub-requests in one batch (limit %u)",
                      n, MGRI_BATCH_MAX);
  mgri_store *s = x->s;
  /* The work budget, before anything runs: each sub-request's cost is
   * estimated as if every earlier one had grown its object as much as it
   * can. */
  uint64_t budget = s->cfg.work_budget, total = 0, grow = 0;
  for (size_t i = 0; i < n; i++) {
    const mgr_value *e = &list->u.a.items[i];
    uint64_t adds = 0;
    total = sat_add(total, well_formed(e)
                               ? estimate(s, (uint64_t)e->u.a.items[0].u.i,
                                          (uint64_t)e->u.a.items[1].u.i,
                                          e->u.a.items[2].u.a.items,
                                          e->u.a.items[2].u.a.len, grow, &adds)
                               : 1);
    grow = sat_add(grow, adds);
  }
  s->cost = total;
  if (total > budget)
    return mgri_limit(x, MGRI_WHY_BUDGET,
                      "MemoryError: the batch would touch about %llu items, "
                      "over the work budget of %llu (send its large "
                      "operations on their own)",
                      (unsigned long long)total, (unsigned long long)budget);
  mgr_value *slots = mgri_arena_alloc(&s->batch, n * sizeof *slots);
  mgr_value *pairs = mgri_arena_alloc(&s->batch, 2 * n * sizeof *pairs);
  if (!slots || !pairs) return mgri_nomem(x);
  /* The reply frame's own bytes: [rid, 0, results]. */
  size_t head = 1 + uint_len(x->rq->rid) + 1 + uint_len(n);
  batch b = {s->cfg.limits.frame_max > head ? s->cfg.limits.frame_max - head
                                            : 0,
             false, false};
  for (size_t i = 0; i < n; i++) {
    const mgr_value *e = &list->u.a.items[i];
    mgr_value *pair = &pairs[2 * i];
    slots[i] = mgr_array(pair, 2);
    if (!well_formed(e)) {
      char msg[96];
      snprintf(msg, sizeof msg,
               "TypeError: batch entry %zu is not [op, oid, [args...]]", i);
      slot(x, &b, pair, MGR_ETYPE, NULL, msg);
      continue;
    }
    mgri_request rq = {.rid = sub_rid(x->rq->rid, i),
                       .op = (uint64_t)e->u.a.items[0].u.i,
                       .oid = (uint64_t)e->u.a.items[1].u.i,
                       .args = e->u.a.items[2].u.a.items,
                       .nargs = e->u.a.items[2].u.a.len};
    mgri_octx sx;
    int rc = exec(s, x->c, &rq, x->now, true, &sx);
    /* Never parks: blocking ops are refused above. */
    slot(x, &b, pair, rc, &sx.result, sx.msg);
    /* As between two requests: deferred frees, reference drops, scratch. */
    mgri_store_after_reply(s);
  }
  s->cost = total; /* the batch's, not its last sub-request's */
  if (b.over)
    return mgri_limit(x, MGRI_WHY_REPLY,
                      "MemoryError: the batch reply exceeds the frame limit "
                      "(%u bytes); its sub-requests were executed",
                      s->cfg.limits.frame_max);
  if (b.nomem)
    return mgri_limit(x, MGRI_WHY_MEMORY,
                      "MemoryError: no memory to build the batch reply; its "
                      "sub-requests were executed");
  x->result = mgr_array(slots, n);
  return MGR_OK;
}

const mgri_handler mgri_batch_op = {MGRI_OP_BATCH, op_batch, MGRI_COST_ARGS};
