/* mgr client: the typed proxies (dict, list, var, lock), each a few lines over
 * the one call path. Arguments follow the op table (spec, src/proto/ops.h). */
#include <stdlib.h>

#include "internal.h"
#include "mgr/error.h"


static int call(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                mgr_value *res) {
  if (!p) return MGR_EINVAL;
  return mgri_callm(p->m, op, p->id, args, n, res);
}

/* A result the caller owns (out may be NULL: not wanted). */
static int call_out(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                    mgr_value *out) {
  mgr_value res;
  if (out) *out = mgr_nil();
  int rc = call(p, op, args, n, &res);
  if (rc != MGR_OK || !out) return rc;
  return mgri_result_out(&res, out);
}

static int bad_result(mgr_proxy *p, const char *want) {
  mgri_seterr(p->m, "the manager's result is not %s", want);
  return MGR_EPROTO;
}

static int call_int(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                    int64_t *out) {
  mgr_value res;
  int rc = call(p, op, args, n, &res);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_INT) return bad_result(p, "an int");
  if (out) *out = res.u.i;
  return MGR_OK;
}

/* The *_incr_int calls: the new value must be an int. A float entry plus an
 * int delta is a float (spec 11.1): no int can say it, so MGR_ETYPE — after
 * the server applied the increment, which the message says. */
static int call_incr_int(mgr_proxy *p, uint64_t op, const mgr_value *args,
                         size_t n, int64_t *out) {
  mgr_value res;
  int rc = call(p, op, args, n, &res);
  if (rc != MGR_OK) return rc;
  if (res.type == MGR_T_FLOAT) {
    mgri_seterr(p->m,
                "the new value is a float (%.17g), not an int: the increment "
                "was applied; read it with the mgr_*_incr call",
                res.u.f);
    return MGR_ETYPE;
  }
  if (res.type != MGR_T_INT) return bad_result(p, "an int");
  if (out) *out = res.u.i;
  return MGR_OK;
}

static int call_size(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                     size_t *out) {
  int64_t v = 0;
  int rc = call_int(p, op, args, n, &v);
  if (rc != MGR_OK) return rc;
  if (v < 0) return bad_result(p, "a size");
  if (out) *out = (size_t)v;
  return MGR_OK;
}

static int call_bool(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                     bool *out) {
  mgr_value res;
  int rc = call(p, op, args, n, &res);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_BOOL) return bad_result(p, "a bool");
  if (out) *out = res.u.b;
  return MGR_OK;
}

/* [swapped, current] */
static int call_cas(mgr_proxy *p, uint64_t op, const mgr_value *args, size_t n,
                    bool *swapped, mgr_value *current) {
  mgr_value res;
  if (current) *current = mgr_nil();
  int rc = call(p, op, args, n, &res);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_ARRAY || res.u.a.len != 2 ||
      res.u.a.items[0].type != MGR_T_BOOL)
    return bad_result(p, "[swapped, current]");
  if (swapped) *swapped = res.u.a.items[0].u.b;
  return current ? mgri_result_out(&res.u.a.items[1], current) : MGR_OK;
}

/* An omitted bound is nil (Python None) on the wire; every int64 is an int. */
static mgr_value bound(mgr_bound b) { return b.given ? mgr_int(b.value) : mgr_nil(); }

/* --- dict ------------------------------------------------------------------ */

int mgr_dict_get(mgr_proxy *d, const mgr_value *key, mgr_value *out) {
  if (!key) return MGR_EINVAL;
  return call_out(d, MGRI_OP_DICT_GET, key, 1, out);
}
int mgr_dict_get_default(mgr_proxy *d, const mgr_value *key,
                         const mgr_value *dflt, mgr_value *out) {
  if (!key) return MGR_EINVAL;
  mgr_value a[2] = {*key, dflt ? *dflt : mgr_nil()};
  return call_out(d, MGRI_OP_DICT_GET, a, 2, out);
}
int mgr_dict_set(mgr_proxy *d, const mgr_value *key, const mgr_value *val) {
  if (!key || !val) return MGR_EINVAL;
  mgr_value a[2] = {*key, *val};
  return call(d, MGRI_OP_DICT_SET, a, 2, NULL);
}
int mgr_dict_del(mgr_proxy *d, const mgr_value *key) {
  if (!key) return MGR_EINVAL;
  return call(d, MGRI_OP_DICT_DEL, key, 1, NULL);
}
int mgr_dict_contains(mgr_proxy *d, const mgr_value *key, bool *out) {
  if (!key) return MGR_EINVAL;
  return call_bool(d, MGRI_OP_DICT_CONTAINS, key, 1, out);
}
int mgr_dict_len(mgr_proxy *d, size_t *out) {
  return call_size(d, MGRI_OP_DICT_LEN, NULL, 0, out);
}
int mgr_dict_keys(mgr_proxy *d, mgr_value *out) {
  return call_out(d, MGRI_OP_DICT_KEYS, NULL, 0, out);
}
int mgr_dict_values(mgr_proxy *d, mgr_value *out) {
  return call_out(d, MGRI_OP_DICT_VALUES, NULL, 0, out);
}
int mgr_dict_items(mgr_proxy *d, mgr_value *out) {
  return call_out(d, MGRI_OP_DICT_ITEMS, NULL, 0, out);
}
int mgr_dict_pop(mgr_proxy *d, const mgr_value *key, const mgr_value *dflt,
                 mgr_value *out) {
  if (!key) return MGR_EINVAL;
  mgr_value a[2] = {*key, dflt ? *dflt : mgr_nil()};
  return call_out(d, MGRI_OP_DICT_POP, a, dflt ? 2 : 1, out);
}
int mgr_dict_popitem(mgr_proxy *d, mgr_value *key, mgr_value *val) {
  mgr_value res;
  if (key) *key = mgr_nil();
  if (val) *val = mgr_nil();
  int rc = call(d, MGRI_OP_DICT_POPITEM, NULL, 0, &res);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_ARRAY || res.u.a.len != 2) return bad_result(d, "[k, v]");
  if (key && (rc = mgri_result_out(&res.u.a.items[0], key)) != MGR_OK) return rc;
  if (val && (rc = mgri_result_out(&res.u.a.items[1], val)) != MGR_OK) {
    if (key) mgr_value_free(key);
    return rc;
  }
  return MGR_OK;
}
int mgr_dict_setdefault(mgr_proxy *d, const mgr_value *key,
                        const mgr_value *dflt, mgr_value *out) {
  if (!key) return MGR_EINVAL;
  mgr_value a[2] = {*key, dflt ? *dflt : mgr_nil()};
  return call_out(d, MGRI_OP_DICT_SETDEFAULT, a, dflt ? 2 : 1, out);
}
int mgr_dict_update(mgr_proxy *d, const mgr_value *other) {
  if (!other) return MGR_EINVAL;
  return call(d, MGRI_OP_DICT_UPDATE, other, 1, NULL);
}
int mgr_dict_clear(mgr_proxy *d) {
  return call(d, MGRI_OP_DICT_CLEAR, NULL, 0, NULL);
}
int mgr_dict_copy(mgr_proxy *d, mgr_value *out) {
  return call_out(d, MGRI_OP_DICT_COPY, NULL, 0, out);
}
int mgr_dict_incr(mgr_proxy *d, const mgr_value *key, const mgr_value *delta,
                  const mgr_value *dflt, mgr_value *out) {
  if (!key || !delta) return MGR_EINVAL;
  mgr_value a[3] = {*key, *delta, dflt ? *dflt : mgr_nil()};
  return call_out(d, MGRI_OP_DICT_INCR, a, dflt ? 3 : 2, out);
}
int mgr_dict_incr_int(mgr_proxy *d, const mgr_value *key, int64_t delta,
                      bool use_default, int64_t *out) {
  if (!key) return MGR_EINVAL;
  mgr_value a[3] = {*key, mgr_int(delta), mgr_int(0)};
  return call_incr_int(d, MGRI_OP_DICT_INCR, a, use_default ? 3 : 2, out);
}
int mgr_dict_cas(mgr_proxy *d, const mgr_value *key, const mgr_value *expected,
                 const mgr_value *desired, bool *swapped, mgr_value *current) {
  if (!key || !expected || !desired) return MGR_EINVAL;
  mgr_value a[3] = {*key, *expected, *desired};
  return call_cas(d, MGRI_OP_DICT_CAS, a, 3, swapped, current);
}

/* --- list ------------------------------------------------------------------ */

int mgr_list_get(mgr_proxy *l, int64_t index, mgr_value *out) {
  mgr_value a[1] = {mgr_int(index)};
  return call_out(l, MGRI_OP_LIST_GET, a, 1, out);
}
int mgr_list_set(mgr_proxy *l, int64_t index, const mgr_value *val) {
  if (!val) return MGR_EINVAL;
  mgr_value a[2] = {mgr_int(index), *val};
  return call(l, MGRI_OP_LIST_SET, a, 2, NULL);
}
int mgr_list_del(mgr_proxy *l, int64_t index) {
  mgr_value a[1] = {mgr_int(index)};
  return call(l, MGRI_OP_LIST_DEL, a, 1, NULL);
}
int mgr_list_len(mgr_proxy *l, size_t *out) {
  return call_size(l, MGRI_OP_LIST_LEN, NULL, 0, out);
}
int mgr_list_contains(mgr_proxy *l, const mgr_value *val, bool *out) {
  if (!val) return MGR_EINVAL;
  return call_bool(l, MGRI_OP_LIST_CONTAINS, val, 1, out);
}
int mgr_list_getslice(mgr_proxy *l, mgr_bound start, mgr_bound stop,
                      mgr_bound step, mgr_value *out) {
  mgr_value a[3] = {bound(start), bound(stop), bound(step)};
  return call_out(l, MGRI_OP_LIST_GETSLICE, a, 3, out);
}
int mgr_list_setslice(mgr_proxy *l, mgr_bound start, mgr_bound stop,
                      mgr_bound step, const mgr_value *items) {
  if (!items) return MGR_EINVAL;
  mgr_value a[4] = {bound(start), bound(stop), bound(step), *items};
  return call(l, MGRI_OP_LIST_SETSLICE, a, 4, NULL);
}
int mgr_list_delslice(mgr_proxy *l, mgr_bound start, mgr_bound stop,
                      mgr_bound step) {
  mgr_value a[3] = {bound(start), bound(stop), bound(step)};
  return call(l, MGRI_OP_LIST_DELSLICE, a, 3, NULL);
}
int mgr_list_append(mgr_proxy *l, const mgr_value *val) {
  if (!val) return MGR_EINVAL;
  return call(l, MGRI_OP_LIST_APPEND, val, 1, NULL);
}
int mgr_list_extend(mgr_proxy *l, const mgr_value *items) {
  if (!items) return MGR_EINVAL;
  return call(l, MGRI_OP_LIST_EXTEND, items, 1, NULL);
}
int mgr_list_insert(mgr_proxy *l, int64_t index, const mgr_value *val) {
  if (!val) return MGR_EINVAL;
  mgr_value a[2] = {mgr_int(index), *val};
  return call(l, MGRI_OP_LIST_INSERT, a, 2, NULL);
}
int mgr_list_pop(mgr_proxy *l, int64_t index, mgr_value *out) {
  mgr_value a[1] = {mgr_int(index)};
  return call_out(l, MGRI_OP_LIST_POP, a, 1, out);
}
int mgr_list_remove(mgr_proxy *l, const mgr_value *val) {
  if (!val) return MGR_EINVAL;
  return call(l, MGRI_OP_LIST_REMOVE, val, 1, NULL);
}
int mgr_list_index(mgr_proxy *l, const mgr_value *val, mgr_bound start,
                   mgr_bound stop, int64_t *out) {
  if (!val) return MGR_EINVAL;
  /* Python's list.index takes no None bounds: an omitted start is 0, an
   * omitted stop is omitted on the wire. */
  mgr_value a[3] = {*val, mgr_int(start.given ? start.value : 0),
                    mgr_int(stop.value)};
  size_t n = stop.given ? 3 : start.given ? 2 : 1;
  return call_int(l, MGRI_OP_LIST_INDEX, a, n, out);
}
int mgr_list_count(mgr_proxy *l, const mgr_value *val, size_t *out) {
  if (!val) return MGR_EINVAL;
  return call_size(l, MGRI_OP_LIST_COUNT, val, 1, out);
}
int mgr_list_reverse(mgr_proxy *l) {
  return call(l, MGRI_OP_LIST_REVERSE, NULL, 0, NULL);
}
int mgr_list_sort(mgr_proxy *l, bool reverse) {
  mgr_value a[1] = {mgr_bool(reverse)};
  return call(l, MGRI_OP_LIST_SORT, a, 1, NULL);
}
int mgr_list_clear(mgr_proxy *l) {
  return call(l, MGRI_OP_LIST_CLEAR, NULL, 0, NULL);
}
int mgr_list_copy(mgr_proxy *l, mgr_value *out) {
  return call_out(l, MGRI_OP_LIST_COPY, NULL, 0, out);
}
int mgr_list_imul(mgr_proxy *l, int64_t n) {
  mgr_value a[1] = {mgr_int(n)};
  return call(l, MGRI_OP_LIST_IMUL, a, 1, NULL);
}
int mgr_list_incr(mgr_proxy *l, int64_t index, const mgr_value *delta,
                  mgr_value *out) {
  if (!delta) return MGR_EINVAL;
  mgr_value a[2] = {mgr_int(index), *delta};
  return call_out(l, MGRI_OP_LIST_INCR, a, 2, out);
}
int mgr_list_incr_int(mgr_proxy *l, int64_t index, int64_t delta,
                      int64_t *out) {
  mgr_value a[2] = {mgr_int(index), mgr_int(delta)};
  return call_incr_int(l, MGRI_OP_LIST_INCR, a, 2, out);
}
int mgr_list_cas(mgr_proxy *l, int64_t index, const mgr_value *expected,
                 const mgr_value *desired, bool *swapped, mgr_value *current) {
  if (!expected || !desired) return MGR_EINVAL;
  mgr_value a[3] = {mgr_int(index), *expected, *desired};
  return call_cas(l, MGRI_OP_LIST_CAS, a, 3, swapped, current);
}

/* --- var ------------------------------------------------------------------- */

int mgr_var_get(mgr_proxy *v, mgr_value *out) {
  return call_out(v, MGRI_OP_VAR_GET, NULL, 0, out);
}
int mgr_var_set(mgr_proxy *v, const mgr_value *val) {
  if (!val) return MGR_EINVAL;
  return call(v, MGRI_OP_VAR_SET, val, 1, NULL);
}
int mgr_var_incr(mgr_proxy *v, const mgr_value *delta, const mgr_value *dflt,
                 mgr_value *out) {
  if (!delta) return MGR_EINVAL;
  mgr_value a[2] = {*delta, dflt ? *dflt : mgr_nil()};
  return call_out(v, MGRI_OP_VAR_INCR, a, dflt ? 2 : 1, out);
}
int mgr_var_incr_int(mgr_proxy *v, int64_t delta, int64_t *out) {
  mgr_value a[1] = {mgr_int(delta)};
  return call_incr_int(v, MGRI_OP_VAR_INCR, a, 1, out);
}
int mgr_var_cas(mgr_proxy *v, const mgr_value *expected,
                const mgr_value *desired, bool *swapped, mgr_value *current) {
  if (!expected || !desired) return MGR_EINVAL;
  mgr_value a[2] = {*expected, *desired};
  return call_cas(v, MGRI_OP_VAR_CAS, a, 2, swapped, current);
}

/* --- lock and rlock ---------------------------------------------------------- */

int mgr_lock_acquire(mgr_proxy *lk, int64_t timeout_ms, bool *acquired) {
  if (acquired) *acquired = false;
  /* On the wire the timeout is in seconds (spec 13.2): whole seconds as an
   * int, others as the nearest double. */
  mgr_value a[2] = {mgr_bool(timeout_ms != 0), mgr_nil()};
  if (timeout_ms > 0)
    a[1] = timeout_ms % 1000 == 0 ? mgr_int(timeout_ms / 1000)
                                   : mgr_float((double)timeout_ms / 1000.0);
  int64_t r = 0;
  int rc = call_int(lk, MGRI_OP_LOCK_ACQUIRE, a, 2, &r);
  if (rc != MGR_OK) return rc;
  if (acquired) *acquired = r != 0;
  return r == 2 ? MGR_EOWNERDEAD : MGR_OK;
}
int mgr_lock_release(mgr_proxy *lk) {
  return call(lk, MGRI_OP_LOCK_RELEASE, NULL, 0, NULL);
}
int mgr_lock_locked(mgr_proxy *lk, bool *out) {
  return call_bool(lk, MGRI_OP_LOCK_LOCKED, NULL, 0, out);
}
