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

/* The checks of spec 8.3, in its order, then the op. */
static int run(mgri_octx *x) {
  const mgri_request *rq = x->rq;
  mgri_sconn *c = x->c;
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

int mgri_dispatch(mgri_store *s, mgri_sconn *c, const mgri_request *rq,
                  int64_t now_ns) {
  mgri_octx x;
  x.s = s;
  x.c = c;
  x.o = NULL;
  x.rq = rq;
  x.args = rq->args;
  x.nargs = rq->nargs;
  x.now = now_ns;
  x.result = mgr_nil();
  x.action = MGRI_DISPATCH_OK;
  x.msg[0] = '\0';
  s->now = now_ns;
  /* The handshake is traced as conn_open, not as a call: the client cannot
   * name the connection before HELLO's reply tells it its id. */
  bool traced = rq->op != MGRI_OP_HELLO;
  if (traced)
    MGRI_TRACE(request, (int64_t)c->pid, c->id, rq->rid, rq->op, rq->oid,
               mgri_trace_key(rq->op, rq->args, rq->nargs));
  int rc = run(&x);
  if (rc != MGRI_PARKED) {
    /* An op that failed for lack of memory reports ELIMIT: ENOMEM is local
     * only and never travels. */
    if (rc == MGR_ENOMEM) rc = MGR_ELIMIT;
    if (traced)
      MGRI_TRACE(reply, (int64_t)c->pid, c->id, rq->rid, rq->op, rc,
                 mgri_trace_value(rq->op, rq->args, rq->nargs, rc, &x.result));
    mgri_emit(s, c, rq->rid, rc, &x.result, x.msg);
  } else {
    MGRI_TRACE(wait_begin, (int64_t)c->pid, c->id, rq->rid, rq->oid);
  }
  if (!traced && rc == MGR_OK)
    MGRI_TRACE(conn_open, (int64_t)c->pid, c->id, mgri_sconn_session(c));
  mgri_store_after_reply(s);
  return x.action;
}
