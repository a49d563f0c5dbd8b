/* mgr client: batches (spec 9.6). The builder copies each operation's
 * arguments into its own arena as they are added, then mgr_batch_run() sends
 * them all as ONE BATCH request through the one call path (mgri_callm). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/kinds.h"
#include "internal.h"
#include "mgr/error.h"

struct mgr_batch {
  mgr_client *m;
  mgri_arena args;  /* copies of the added arguments; reset by clear */
  mgr_value *trip;  /* [op, oid, args] of each operation, 3 per entry */
  mgr_value *items; /* the entries as arrays, pointed at trip when run */
  int *status;      /* per entry, after a run */
  const char **msg; /* per entry, after a run (in out) */
  size_t n, cap;
  size_t nrun;    /* entries the last run answered; 0: no valid run */
  int err;        /* sticky add error */
  int run_err;    /* the last run's error for the batch as a whole */
  mgri_arena out; /* error messages and the results' array; reset per run */
};

/* An argument sits at depth 6 of the request: request > args > batch list >
 * entry > sub-args > argument. */
#define ARG_DEPTH 6

int mgr_batch_new(mgr_client *m, mgr_batch **out) {
  if (!m || !out) return MGR_EINVAL;
  mgr_batch *b = calloc(1, sizeof *b);
  if (!b) return MGR_ENOMEM;
  b->m = m;
  mgri_arena_init(&b->args, 0);
  mgri_arena_init(&b->out, 0);
  *out = b;
  return MGR_OK;
}

void mgr_batch_free(mgr_batch *b) {
  if (!b) return;
  mgri_arena_fini(&b->args);
  mgri_arena_fini(&b->out);
  free(b->trip);
  free(b->items);
  free(b->status);
  free(b->msg);
  free(b);
}

void mgr_batch_clear(mgr_batch *b) {
  if (!b) return;
  mgri_arena_reset(&b->args);
  mgri_arena_reset(&b->out);
  b->n = 0;
  b->nrun = 0;
  b->err = MGR_OK;
  b->run_err = MGR_OK;
}

size_t mgr_batch_len(const mgr_batch *b) { return b ? b->n : 0; }

static int fail(mgr_batch *b, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(mgr_batch *b, int err, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mgri_seterr(b->m, "%s", msg);
  b->err = err;
  return err;
}

static int grow(mgr_batch *b) {
  size_t cap = b->cap ? 2 * b->cap : 16;
  if (cap > MGRI_BATCH_MAX) cap = MGRI_BATCH_MAX;
  mgr_value *trip = realloc(b->trip, 3 * cap * sizeof *trip);
  if (!trip) return MGR_ENOMEM;
  b->trip = trip;
  mgr_value *items = realloc(b->items, cap * sizeof *items);
  if (!items) return MGR_ENOMEM;
  b->items = items;
  int *status = realloc(b->status, cap * sizeof *status);
  if (!status) return MGR_ENOMEM;
  b->status = status;
  const char **msg = realloc(b->msg, cap * sizeof *msg);
  if (!msg) return MGR_ENOMEM;
  b->msg = msg;
  b->cap = cap;
  return MGR_OK;
}

/* THE adder: every typed adder ends here. */
static int add(mgr_batch *b, mgr_proxy *p, uint64_t op, const mgr_value *args,
               size_t nargs) {
  if (!b) return MGR_EINVAL;
  if (b->err) return b->err;
  const mgri_opinfo *oi = mgri_op_info(op);
  if (!oi)
    return fail(b, MGR_EINVAL, "unknown operation %llu",
                (unsigned long long)op);
  if (p && p->m != b->m)
    return fail(b, MGR_EINVAL, "the proxy belongs to another client");
  if (oi->kind != 0) {
    if (!p) return fail(b, MGR_EINVAL, "%s needs a proxy", oi->name);
    bool fits = (uint32_t)p->kind == oi->kind ||
                mgri_kind_base((uint32_t)p->kind) == oi->kind;
    if (!fits)
      return fail(b, MGR_EINVAL, "%s does not apply to this proxy's kind",
                  oi->name);
  }
  if (nargs > MGRI_ARGS_MAX || (nargs && !args))
    return fail(b, MGR_EINVAL, "%zu arguments (at most %u)", nargs,
                MGRI_ARGS_MAX);
  if (b->n == MGRI_BATCH_MAX)
    return fail(b, MGR_ELIMIT, "more than %u operations in one batch",
                MGRI_BATCH_MAX);
  /* The one validation every entry makes (mgri_value_valid): a value the
   * server would refuse fails here, not the whole batch later. */
  for (size_t i = 0; i < nargs; i++) {
    int rc = mgri_value_valid(&args[i], ARG_DEPTH);
    if (rc == MGR_ENOMEM) return fail(b, rc, "out of memory");
    if (rc)
      return fail(b, MGR_EINVAL,
                  "argument %zu is not a value the manager accepts (NULL "
                  "pointer, invalid UTF-8, bad ref, map key unhashable, NaN "
                  "or repeated, or nested deeper than %u levels inside a "
                  "batch)",
                  i, MGRI_DEPTH_MAX - ARG_DEPTH + 1);
  }
  if (b->n == b->cap && grow(b) != MGR_OK)
    return fail(b, MGR_ENOMEM, "out of memory");
  mgr_value *copy = mgri_arena_alloc(&b->args, nargs * sizeof *copy);
  if (!copy) return fail(b, MGR_ENOMEM, "out of memory");
  for (size_t i = 0; i < nargs; i++) {
    void *mem = mgri_arena_alloc(&b->args, mgri_value_size(&args[i]));
    if (!mem) return fail(b, MGR_ENOMEM, "out of memory");
    mgri_value_copy_into(&copy[i], &args[i], mem);
  }
  mgr_value *t = &b->trip[3 * b->n];
  t[0] = mgr_int((int64_t)op);
  t[1] = mgr_int(p ? (int64_t)p->id : 0);
  t[2] = mgr_array(copy, nargs);
  b->n++;
  b->nrun = 0;
  b->run_err = MGR_OK; /* the last run's status is no longer this batch's */
  return MGR_OK;
}

typedef struct byname {
  const char *name;
  uint64_t code;
} byname;

static void find_name(void *ctx, const mgri_opinfo *op) {
  byname *f = ctx;
  if (!f->code && !strcmp(op->name, f->name)) f->code = op->code;
}

int mgr_batch_add(mgr_batch *b, mgr_proxy *p, const char *op,
                  const mgr_value *args, size_t nargs) {
  if (!b) return MGR_EINVAL;
  if (b->err) return b->err;
  byname f = {op ? op : "", 0};
  mgri_op_foreach(find_name, &f);
  if (!f.code) return fail(b, MGR_EINVAL, "unknown operation '%s'", f.name);
  return add(b, p, f.code, args, nargs);
}

/* --- typed adders ------------------------------------------------------------ */

/* A NULL argument pointer: a sticky error like any other add error. */
static int null_arg(mgr_batch *b) {
  if (!b) return MGR_EINVAL;
  if (b->err) return b->err;
  return fail(b, MGR_EINVAL, "a NULL argument pointer");
}

int mgr_batch_dict_get(mgr_batch *b, mgr_proxy *d, const mgr_value *key) {
  if (!key) return null_arg(b);
  return add(b, d, MGRI_OP_DICT_GET, key, 1);
}
int mgr_batch_dict_get_default(mgr_batch *b, mgr_proxy *d, const mgr_value *key,
                               const mgr_value *dflt) {
  if (!key) return null_arg(b);
  mgr_value a[2] = {*key, dflt ? *dflt : mgr_nil()}; /* NULL: None */
  return add(b, d, MGRI_OP_DICT_GET, a, 2);
}
int mgr_batch_dict_set(mgr_batch *b, mgr_proxy *d, const mgr_value *key,
                       const mgr_value *val) {
  if (!key || !val) return null_arg(b);
  mgr_value a[2] = {*key, *val};
  return add(b, d, MGRI_OP_DICT_SET, a, 2);
}
int mgr_batch_dict_del(mgr_batch *b, mgr_proxy *d, const mgr_value *key) {
  if (!key) return null_arg(b);
  return add(b, d, MGRI_OP_DICT_DEL, key, 1);
}
int mgr_batch_dict_contains(mgr_batch *b, mgr_proxy *d, const mgr_value *key) {
  if (!key) return null_arg(b);
  return add(b, d, MGRI_OP_DICT_CONTAINS, key, 1);
}
int mgr_batch_dict_len(mgr_batch *b, mgr_proxy *d) {
  return add(b, d, MGRI_OP_DICT_LEN, NULL, 0);
}
int mgr_batch_dict_incr_int(mgr_batch *b, mgr_proxy *d, const mgr_value *key,
                            int64_t delta, bool use_default) {
  if (!key) return null_arg(b);
  mgr_value a[3] = {*key, mgr_int(delta), mgr_int(0)};
  return add(b, d, MGRI_OP_DICT_INCR, a, use_default ? 3 : 2);
}
int mgr_batch_list_get(mgr_batch *b, mgr_proxy *l, int64_t index) {
  mgr_value a = mgr_int(index);
  return add(b, l, MGRI_OP_LIST_GET, &a, 1);
}
int mgr_batch_list_set(mgr_batch *b, mgr_proxy *l, int64_t index,
                       const mgr_value *val) {
  if (!val) return null_arg(b);
  mgr_value a[2] = {mgr_int(index), *val};
  return add(b, l, MGRI_OP_LIST_SET, a, 2);
}
int mgr_batch_list_append(mgr_batch *b, mgr_proxy *l, const mgr_value *val) {
  if (!val) return null_arg(b);
  return add(b, l, MGRI_OP_LIST_APPEND, val, 1);
}
int mgr_batch_list_len(mgr_batch *b, mgr_proxy *l) {
  return add(b, l, MGRI_OP_LIST_LEN, NULL, 0);
}
int mgr_batch_list_incr_int(mgr_batch *b, mgr_proxy *l, int64_t index,
                            int64_t delta) {
  mgr_value a[2] = {mgr_int(index), mgr_int(delta)};
  return add(b, l, MGRI_OP_LIST_INCR, a, 2);
}
int mgr_batch_var_get(mgr_batch *b, mgr_proxy *v) {
  return add(b, v, MGRI_OP_VAR_GET, NULL, 0);
}
int mgr_batch_var_set(mgr_batch *b, mgr_proxy *v, const mgr_value *val) {
  if (!val) return null_arg(b);
  return add(b, v, MGRI_OP_VAR_SET, val, 1);
}
int mgr_batch_var_incr_int(mgr_batch *b, mgr_proxy *v, int64_t delta) {
  mgr_value a = mgr_int(delta);
  return add(b, v, MGRI_OP_VAR_INCR, &a, 1);
}

/* --- running ------------------------------------------------------------------ */

static int bad_reply(mgr_batch *b, const char *what) {
  mgri_seterr(b->m, "the manager's BATCH reply is malformed: %s", what);
  return b->run_err = MGR_EPROTO;
}

int mgr_batch_run(mgr_batch *b, mgr_value *results) {
  if (results) *results = mgr_nil();
  if (!b) return MGR_EINVAL;
  if (b->err) return b->err;
  mgri_arena_reset(&b->out);
  b->nrun = 0;
  b->run_err = MGR_OK;
  /* trip may have moved since the adds: point the entries at it now. */
  for (size_t i = 0; i < b->n; i++)
    b->items[i] = mgr_array(&b->trip[3 * i], 3);
  mgr_value list = mgr_array(b->items, b->n);
  mgr_value res;
  int rc = mgri_callm(b->m, MGRI_OP_BATCH, 0, &list, 1, &res);
  if (rc != MGR_OK) return b->run_err = rc;
  /* res is borrowed from the connection's arena until its next call. */
  if (res.type != MGR_T_ARRAY || res.u.a.len != b->n)
    return bad_reply(b, "not one slot per operation");
  mgr_value *vals = NULL;
  if (results) {
    vals = mgri_arena_alloc(&b->out, b->n * sizeof *vals);
    if (!vals) return b->run_err = MGR_ENOMEM;
  }
  for (size_t i = 0; i < b->n; i++) {
    const mgr_value *s = &res.u.a.items[i];
    if (s->type != MGR_T_ARRAY || s->u.a.len != 2 ||
        s->u.a.items[0].type != MGR_T_INT || s->u.a.items[0].u.i < 0)
      return bad_reply(b, "a slot is not [code, result]");
    int64_t code = s->u.a.items[0].u.i;
    const mgr_value *r = &s->u.a.items[1];
    if (code == 0) {
      b->status[i] = MGR_OK;
      b->msg[i] = "";
      if (vals) vals[i] = *r;
      continue;
    }
    if (r->type != MGR_T_TEXT) return bad_reply(b, "an error without text");
    b->status[i] = mgri_err_from_wire((uint64_t)code);
    char *m = mgri_arena_alloc(&b->out, r->u.s.len + 1);
    if (!m) return b->run_err = MGR_ENOMEM;
    memcpy(m, r->u.s.ptr, r->u.s.len);
    m[r->u.s.len] = '\0';
    b->msg[i] = m;
    if (vals) vals[i] = mgr_nil();
  }
  if (results) {
    mgr_value arr = mgr_array(vals, b->n);
    rc = mgr_value_copy(results, &arr);
    if (rc != MGR_OK) {
      *results = mgr_nil();
      return b->run_err = rc;
    }
  }
  b->nrun = b->n;
  return MGR_OK;
}

int mgr_batch_status(const mgr_batch *b, size_t i) {
  if (!b) return MGR_EINVAL;
  if (i < b->nrun) return b->status[i];
  if (b->run_err && i < b->n) return b->run_err;
  return MGR_EINVAL;
}

const char *mgr_batch_errmsg(const mgr_batch *b, size_t i) {
  if (!b || i >= b->nrun) return "";
  return b->msg[i];
}
