/* mgr — THE dispatch path: every request of every connection goes through
 * mgri_dispatch (handshake, op table lookup, arity and kind checks, the op,
 * the reply, then deferred frees and reference drops). */
#include "../trace/trace.h"
#include <stdio.h>
#include <string.h>

#include "mgr/error.h"
#include "server/obj.h"

static const mgri_op_fn handlers[] = {
#define MGRI_HANDLER_(name, code, kind, mn, mx, fl, py) [code] = mgri_op_##name,
    MGRI_OPS(MGRI_HANDLER_)
#undef MGRI_HANDLER_
};

int mgri_fail(mgri_octx *x, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->msg, sizeof x->msg, fmt, ap);
  va_end(ap);
  return code;
}

const char *mgri_repr(const mgr_value *v, char *buf, size_t cap) {
  size_t n = mgr_value_repr(v, buf, cap);
  if (n >= cap && cap >= 4) memcpy(buf + cap - 4, "...", 4);
  return buf;
}

const char *mgri_kind_name(uint32_t kind) {
  switch (kind) {
  case MGR_K_DICT:
    return "dict";
  case MGR_K_LIST:
    return "list";
  case MGR_K_VAR:
    return "Value";
  case MGR_K_LOCK:
    return "Lock";
  case MGR_K_RLOCK:
    return "RLock";
  default:
    return "object";
  }
}

const char *mgri_tname(const mgr_value *v) {
  switch (v->type) {
  case MGR_T_NIL:
    return "NoneType";
  case MGR_T_BOOL:
    return "bool";
  case MGR_T_INT:
    return "int";
  case MGR_T_FLOAT:
    return "float";
  case MGR_T_TEXT:
    return "str";
  case MGR_T_BYTES:
    return "bytes";
  case MGR_T_ARRAY:
    return "list";
  case MGR_T_MAP:
    return "dict";
  case MGR_T_REF:
    switch (v->u.ref.kind) {
    case MGR_K_DICT:
      return "DictProxy";
    case MGR_K_LIST:
      return "ListProxy";
    case MGR_K_VAR:
      return "ValueProxy";
    case MGR_K_LOCK:
      return "AcquirerProxy";
    default:
      return "AcquirerProxy";
    }
  }
  return "object";
}

mgr_value *mgri_scratch(mgri_octx *x, size_t n) {
  if (n > SIZE_MAX / sizeof(mgr_value)) {
    mgri_fail(x, MGR_ELIMIT, "MemoryError: result too large");
    return NULL;
  }
  mgr_value *p = mgri_arena_alloc(&x->s->scratch, n * sizeof(mgr_value));
  if (!p) mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
  return p;
}

int mgri_arg_int(mgri_octx *x, size_t i, const char *what, int64_t *out) {
  const mgr_value *v = &x->args[i];
  if (v->type != MGR_T_INT)
    return mgri_fail(x, MGR_ETYPE, "TypeError: %s must be int, not %s", what,
                     mgri_tname(v));
  *out = v->u.i;
  return MGR_OK;
}

void mgri_emit(mgri_store *s, mgri_sconn *c, uint64_t rid, int status,
               const mgr_value *result, const char *msg) {
  if (!s->cfg.reply) return;
  mgri_reply r;
  memset(&r, 0, sizeof r);
  r.rid = rid;
  r.status = status;
  if (status == MGR_OK) {
    r.result = result ? *result : mgr_nil();
  } else {
    const char *m = msg && *msg ? msg : mgr_strerror(status);
    r.msg = m;
    r.msglen = strlen(m);
  }
  s->cfg.reply(s->cfg.reply_ctx, c, &r);
}

static int arity(mgri_octx *x, const mgri_opinfo *op) {
  size_t n = x->rq->nargs;
  if (n >= op->min_args && n <= op->max_args) return MGR_OK;
  if (op->min_args == op->max_args)
    return mgri_fail(x, MGR_ETYPE, "TypeError: %s takes %u argument%s (%zu given)",
                     op->name, op->min_args, op->min_args == 1 ? "" : "s", n);
  return mgri_fail(x, MGR_ETYPE,
                   "TypeError: %s takes %u to %u arguments (%zu given)", op->name,
                   op->min_args, op->max_args, n);
}

/* Ops a BATCH may not hold (spec 9.6): they change the connection or the
 * server rather than an object, or could park. */
static bool batch_forbidden(const mgri_request *rq) {
  return rq->op == MGRI_OP_HELLO || rq->op == MGRI_OP_BATCH ||
         rq->op == MGRI_OP_SHUTDOWN ||
         (rq->op == MGRI_OP_LOCK_ACQUIRE && rq->nargs >= 1 &&
          rq->args[0].type == MGR_T_BOOL && rq->args[0].u.b);
}

/* The checks of spec 8.3, in its order, then the op. sub: rq is a BATCH's
 * sub-request (spec 9.6), which must not be one of the forbidden ops. */
static int run(mgri_octx *x, bool sub) {
  const mgri_request *rq = x->rq;
  mgri_sconn *c = x->c;
  if (sub && batch_forbidden(rq))
    return mgri_fail(x, MGR_EVALUE, "ValueError: %s%s cannot be batched",
                     rq->op == MGRI_OP_LOCK_ACQUIRE ? "a blocking " : "",
                     mgri_op_name(rq->op));
  if (rq->op == MGRI_OP_HELLO) {
    /* Every HELLO failure closes the connection (spec 7.6). */
    x->action = MGRI_DISPATCH_CLOSE;
    if (c->hello)
      return mgri_fail(x, MGR_EPROTO, "HELLO sent twice on one connection");
    if (rq->rid != 0 || rq->oid != 0)
      return mgri_fail(x, MGR_EPROTO, "HELLO must have rid 0 and oid 0");
    int rc = arity(x, mgri_op_info(MGRI_OP_HELLO));
    return rc ? rc : mgri_op_HELLO(x);
  }
  if (!c->hello) {
    x->action = MGRI_DISPATCH_CLOSE;
    return mgri_fail(x, MGR_EPROTO,
                     "the first request on a connection must be HELLO, not %s",
                     mgri_op_name(rq->op));
  }
  const mgri_opinfo *op = mgri_op_info(rq->op);
  if (!op || op->code >= sizeof handlers / sizeof handlers[0] ||
      !handlers[op->code])
    return mgri_fail(x, MGR_EBADOP, "AttributeError: unknown operation %llu",
                     (unsigned long long)rq->op);
  if (op->kind == 0) {
    if (rq->oid != 0 && op->code != MGRI_OP_RELEASE)
      return mgri_fail(x, MGR_EBADOP,
                       "AttributeError: %s is a manager op: oid must be 0",
                       op->name);
  } else {
    if (rq->oid == 0)
      return mgri_fail(x, MGR_EBADOP,
                       "AttributeError: the manager does not support %s",
                       op->name);
    mgri_obj *o = mgri_obj_find(x->s, rq->oid);
    if (!o)
      return mgri_fail(x, MGR_ENOTFOUND, "LookupError: no shared object #%llu",
                       (unsigned long long)rq->oid);
    bool fits = o->kind == op->kind ||
                (op->kind == MGR_K_LOCK && o->kind == MGR_K_RLOCK);
    if (!fits)
      return mgri_fail(x, MGR_EBADOP,
                       "AttributeError: '%s' object does not support %s",
                       mgri_kind_name(o->kind), op->name);
    x->o = o;
  }
  int rc = arity(x, op);
  return rc ? rc : handlers[op->code](x);
}

/* Runs rq with its request and reply trace events (wait_begin when it
 * parks) and returns its status, the result and message left in *x. Every
 * request goes through here: top-level ones from mgri_dispatch, a BATCH's
 * sub-requests from mgri_op_BATCH (sub true). */
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

int mgri_dispatch(mgri_store *s, mgri_sconn *c, const mgri_request *rq,
                  int64_t now_ns) {
  mgri_octx x;
  s->now = now_ns;
  int rc = exec(s, c, rq, now_ns, false, &x);
  if (rc != MGRI_PARKED) mgri_emit(s, c, rq->rid, rc, &x.result, x.msg);
  if (rq->op == MGRI_OP_HELLO && rc == MGR_OK)
    MGRI_TRACE(conn_open, (int64_t)c->pid, c->id, mgri_sconn_session(c));
  mgri_store_after_reply(s);
  /* A BATCH's result lived there until its reply was encoded. */
  if (rq->op == MGRI_OP_BATCH) mgri_arena_reset(&s->batch);
  return x.action;
}

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

/* Slot i of the batch reply: [0, result] or [code, message], copied into the
 * batch arena (the result may borrow object memory or scratch that the next
 * sub-request frees). */
static int slot(mgri_octx *x, mgr_value *pair, int rc, const mgr_value *res,
                const char *msg) {
  mgri_arena *a = &x->s->batch;
  /* reply(1) > results(2) > [0, result](3) > result(4): the result may nest
   * 3 levels fewer than the decoder's limit. */
  const unsigned room = MGRI_DEPTH_MAX - 3;
  if (rc == MGR_OK && nesting(res, room + 1) > room) {
    rc = MGR_ELIMIT;
    msg = "MemoryError: the result is nested too deeply for a batch reply";
  }
  if (rc == MGR_OK) {
    void *mem = mgri_arena_alloc(a, mgri_value_size(res));
    if (mem) {
      pair[0] = mgr_int(0);
      mgri_value_copy_into(&pair[1], res, mem);
      return MGR_OK;
    }
    rc = MGR_ELIMIT;
    msg = "MemoryError: out of memory";
  }
  if (!msg || !*msg) msg = mgr_strerror(rc);
  size_t len = strlen(msg);
  char *text = mgri_arena_alloc(a, len);
  if (!text) return mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
  memcpy(text, msg, len);
  pair[0] = mgr_int((int64_t)mgri_err_to_wire(rc));
  pair[1] = mgr_textn(text, len);
  return MGR_OK;
}

int mgri_op_BATCH(mgri_octx *x) {
  const mgr_value *list = &x->args[0];
  if (list->type != MGR_T_ARRAY)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: BATCH takes an array of [op, oid, args], not %s",
                     mgri_tname(list));
  size_t n = list->u.a.len;
  if (n == 0) return mgri_fail(x, MGR_EVALUE, "ValueError: empty batch");
  if (n > MGRI_BATCH_MAX)
    return mgri_fail(x, MGR_ELIMIT,
                     "MemoryError: %zu sub-requests in one batch (limit %u)", n,
                     MGRI_BATCH_MAX);
  mgri_store *s = x->s;
  mgr_value *slots = mgri_arena_alloc(&s->batch, n * sizeof *slots);
  mgr_value *pairs = mgri_arena_alloc(&s->batch, 2 * n * sizeof *pairs);
  if (!slots || !pairs)
    return mgri_fail(x, MGR_ELIMIT, "MemoryError: out of memory");
  for (size_t i = 0; i < n; i++) {
    const mgr_value *e = &list->u.a.items[i];
    mgr_value *pair = &pairs[2 * i];
    slots[i] = mgr_array(pair, 2);
    if (e->type != MGR_T_ARRAY || e->u.a.len != 3 || !is_uint(&e->u.a.items[0]) ||
        !is_uint(&e->u.a.items[1]) || e->u.a.items[2].type != MGR_T_ARRAY ||
        e->u.a.items[2].u.a.len > MGRI_ARGS_MAX) {
      char msg[96];
      snprintf(msg, sizeof msg,
               "TypeError: batch entry %zu is not [op, oid, [args...]]", i);
      int rc = slot(x, pair, MGR_ETYPE, NULL, msg);
      if (rc) return rc;
      continue;
    }
    mgri_request rq = {.rid = sub_rid(x->rq->rid, i),
                       .op = (uint64_t)e->u.a.items[0].u.i,
                       .oid = (uint64_t)e->u.a.items[1].u.i,
                       .args = e->u.a.items[2].u.a.items,
                       .nargs = e->u.a.items[2].u.a.len};
    mgri_octx sx;
    int rc = exec(s, x->c, &rq, x->now, true, &sx);
    /* Never parks: blocking acquires are refused above. */
    rc = slot(x, pair, rc, &sx.result, sx.msg);
    /* As between two requests: deferred frees, reference drops, scratch. */
    mgri_store_after_reply(s);
    if (rc) return rc;
  }
  x->result = mgr_array(slots, n);
  return MGR_OK;
}
