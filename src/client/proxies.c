/* mgr client: the typed proxies (dict, list, var, lock), each a few lines over
 * the one call path. Arguments follow the op table (spec, src/proto/ops.h). */
#include <stdlib.h>

#include "internal.h"
#include "pcall.h"
#include "mgr/error.h"

/* --- dict ------------------------------------------------------------------ */

int mgr_dict_get(mgr_proxy *d, const mgr_value *key, mgr_value *out) {
  if (!key) return MGR_EINVAL;
  return mgri_pcall_out(d, MGRI_OP_DICT_GET, key, 1, out);
}
int mgr_dict_get_default(mgr_proxy *d, const mgr_value *key,
                         const mgr_value *dflt, mgr_value *out) {
  if (!key) return MGR_EINVAL;
  mgr_value a[2] = {*key, dflt ? *dflt : mgr_nil()};
  return mgri_pcall_out(d, MGRI_OP_DICT_GET, a, 2, out);
}
int mgr_dict_set(mgr_proxy *d, const mgr_value *key, const mgr_value *val) {
  if (!key || !val) return MGR_EINVAL;
  mgr_value a[2] = {*key, *val};
  return mgri_pcall(d, MGRI_OP_DICT_SET, a, 2, NULL);
}
int mgr_dict_del(mgr_proxy *d, const mgr_value *key) {
  if (!key) return MGR_EINVAL;
  return mgri_pcall(d, MGRI_OP_DICT_DEL, key, 1, NULL);
}
int mgr_dict_contains(mgr_proxy *d, const mgr_value *key, bool *out) {
  if (!key) return MGR_EINVAL;
  return mgri_pcall_bool(d, MGRI_OP_DICT_CONTAINS, key, 1, out);
}
int mgr_dict_len(mgr_proxy *d, size_t *out) {
  return mgri_pcall_size(d, MGRI_OP_DICT_LEN, NULL, 0, out);
}
int mgr_dict_keys(mgr_proxy *d, mgr_value *out) {
  return mgri_pcall_out(d, MGRI_OP_DICT_KEYS, NULL, 0, out);
}
int mgr_dict_values(mgr_proxy *d, mgr_value *out) {
  return mgri_pcall_out(d, MGRI_OP_DICT_VALUES, NULL, 0, out);
}
int mgr_dict_items(mgr_proxy *d, mgr_value *out) {
  return mgri_pcall_out(d, MGRI_OP_DICT_ITEMS, NULL, 0, out);
}
int mgr_dict_pop(mgr_proxy *d, const mgr_value *key, const mgr_value *dflt,
                 mgr_value *out) {
  if (!key) return MGR_EINVAL;
  mgr_value a[2] = {*key, dflt ? *dflt : mgr_nil()};
  return mgri_pcall_out(d, MGRI_OP_DICT_POP, a, dflt ? 2 : 1, out);
}
int mgr_dict_popitem(mgr_proxy *d, mgr_value *key, mgr_value *val) {
  mgr_value res;
  if (key) *key = mgr_nil();
  if (val) *val = mgr_nil();
  int rc = mgri_pcall(d, MGRI_OP_DICT_POPITEM, NULL, 0, &res);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_ARRAY || res.u.a.len != 2)
    return mgri_pcall_bad(d, "[k, v]");
  if (key && (rc = mgri_result_out(&res.u.a.items[0], key)) != MGR_OK)
    return rc;
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
  return mgri_pcall_out(d, MGRI_OP_DICT_SETDEFAULT, a, dflt ? 2 : 1, out);
}
int mgr_dict_update(mgr_proxy *d, const mgr_value *other) {
  if (!other) return MGR_EINVAL;
  return mgri_pcall(d, MGRI_OP_DICT_UPDATE, other, 1, NULL);
}
int mgr_dict_clear(mgr_proxy *d) {
  return mgri_pcall(d, MGRI_OP_DICT_CLEAR, NULL, 0, NULL);
}
int mgr_dict_copy(mgr_proxy *d, mgr_value *out) {
  return mgri_pcall_out(d, MGRI_OP_DICT_COPY, NULL, 0, out);
}
int mgr_dict_incr(mgr_proxy *d, const mgr_value *key, const mgr_value *delta,
                  const mgr_value *dflt, mgr_value *out) {
  if (!key || !delta) return MGR_EINVAL;
  mgr_value a[3] = {*key, *delta, dflt ? *dflt : mgr_nil()};
  return mgri_pcall_out(d, MGRI_OP_DICT_INCR, a, dflt ? 3 : 2, out);
}
int mgr_dict_incr_int(mgr_proxy *d, const mgr_value *key, int64_t delta,
                      bool use_default, int64_t *out) {
  if (!key) return MGR_EINVAL;
  mgr_value a[3] = {*key, mgr_int(delta), mgr_int(0)};
  return mgri_pcall_incr_int(d, MGRI_OP_DICT_INCR, a, use_default ? 3 : 2, out);
}
int mgr_dict_cas(mgr_proxy *d, const mgr_value *key, const mgr_value *expected,
                 const mgr_value *desired, bool *swapped, mgr_value *current) {
  if (!key || !expected || !desired) return MGR_EINVAL;
  mgr_value a[3] = {*key, *expected, *desired};
  return mgri_pcall_cas(d, MGRI_OP_DICT_CAS, a, 3, swapped, current);
}

/* --- list ------------------------------------------------------------------ */

int mgr_list_get(mgr_proxy *l, int64_t index, mgr_value *out) {
  mgr_value a[1] = {mgr_int(index)};
  return mgri_pcall_out(l, MGRI_OP_LIST_GET, a, 1, out);
}
int mgr_list_set(mgr_proxy *l, int64_t index, const mgr_value *val) {
  if (!val) return MGR_EINVAL;
  mgr_value a[2] = {mgr_int(index), *val};
  return mgri_pcall(l, MGRI_OP_LIST_SET, a, 2, NULL);
}
int mgr_list_del(mgr_proxy *l, int64_t index) {
  mgr_value a[1] = {mgr_int(index)};
  return mgri_pcall(l, MGRI_OP_LIST_DEL, a, 1, NULL);
}
int mgr_list_len(mgr_proxy *l, size_t *out) {
  return mgri_pcall_size(l, MGRI_OP_LIST_LEN, NULL, 0, out);
}
int mgr_list_contains(mgr_proxy *l, const mgr_value *val, bool *out) {
  if (!val) return MGR_EINVAL;
  return mgri_pcall_bool(l, MGRI_OP_LIST_CONTAINS, val, 1, out);
}
int mgr_list_getslice(mgr_proxy *l, mgr_bound start, mgr_bound stop,
                      mgr_bound step, mgr_value *out) {
  mgr_value a[3] = {mgri_wire_bound(start), mgri_wire_bound(stop),
                    mgri_wire_bound(step)};
  return mgri_pcall_out(l, MGRI_OP_LIST_GETSLICE, a, 3, out);
}
int mgr_list_setslice(mgr_proxy *l, mgr_bound start, mgr_bound stop,
                      mgr_bound step, const mgr_value *items) {
  if (!items) return MGR_EINVAL;
  mgr_value a[4] = {mgri_wire_bound(start), mgri_wire_bound(stop),
                    mgri_wire_bound(step), *items};
  return mgri_pcall(l, MGRI_OP_LIST_SETSLICE, a, 4, NULL);
}
int mgr_list_delslice(mgr_proxy *l, mgr_bound start, mgr_bound stop,
                      mgr_bound step) {
  mgr_value a[3] = {mgri_wire_bound(start), mgri_wire_bound(stop),
                    mgri_wire_bound(step)};
  return mgri_pcall(l, MGRI_OP_LIST_DELSLICE, a, 3, NULL);
}
int mgr_list_append(mgr_proxy *l, const mgr_value *val) {
  if (!val) return MGR_EINVAL;
  return mgri_pcall(l, MGRI_OP_LIST_APPEND, val, 1, NULL);
}
int mgr_list_extend(mgr_proxy *l, const mgr_value *items) {
  if (!items) return MGR_EINVAL;
  return mgri_pcall(l, MGRI_OP_LIST_EXTEND, items, 1, NULL);
}
int mgr_list_insert(mgr_proxy *l, int64_t index, const mgr_value *val) {
  if (!val) return MGR_EINVAL;
  mgr_value a[2] = {mgr_int(index), *val};
  return mgri_pcall(l, MGRI_OP_LIST_INSERT, a, 2, NULL);
}
int mgr_list_pop(mgr_proxy *l, int64_t index, mgr_value *out) {
  mgr_value a[1] = {mgr_int(index)};
  return mgri_pcall_out(l, MGRI_OP_LIST_POP, a, 1, out);
}
int mgr_list_remove(mgr_proxy *l, const mgr_value *val) {
  if (!val) return MGR_EINVAL;
  return mgri_pcall(l, MGRI_OP_LIST_REMOVE, val, 1, NULL);
}
int mgr_list_index(mgr_proxy *l, const mgr_value *val, mgr_bound start,
                   mgr_bound stop, int64_t *out) {
  if (!val) return MGR_EINVAL;
  /* Python's list.index takes no None bounds: an omitted start is 0, an
   * omitted stop is omitted on the wire. */
  mgr_value a[3] = {*val, mgr_int(start.given ? start.value : 0),
                    mgr_int(stop.value)};
  size_t n = stop.given ? 3 : start.given ? 2 : 1;
  return mgri_pcall_int(l, MGRI_OP_LIST_INDEX, a, n, out);
}
int mgr_list_count(mgr_proxy *l, const mgr_value *val, size_t *out) {
  if (!val) return MGR_EINVAL;
  return mgri_pcall_size(l, MGRI_OP_LIST_COUNT, val, 1, out);
}
int mgr_list_reverse(mgr_proxy *l) {
  return mgri_pcall(l, MGRI_OP_LIST_REVERSE, NULL, 0, NULL);
}
int mgr_list_sort(mgr_proxy *l, bool reverse) {
  mgr_value a[1] = {mgr_bool(reverse)};
  return mgri_pcall(l, MGRI_OP_LIST_SORT, a, 1, NULL);
}
int mgr_list_clear(mgr_proxy *l) {
  return mgri_pcall(l, MGRI_OP_LIST_CLEAR, NULL, 0, NULL);
}
int mgr_list_copy(mgr_proxy *l, mgr_value *out) {
  return mgri_pcall_out(l, MGRI_OP_LIST_COPY, NULL, 0, out);
}
int mgr_list_imul(mgr_proxy *l, int64_t n) {
  mgr_value a[1] = {mgr_int(n)};
  return mgri_pcall(l, MGRI_OP_LIST_IMUL, a, 1, NULL);
}
int mgr_list_incr(mgr_proxy *l, int64_t index, const mgr_value *delta,
                  mgr_value *out) {
  if (!delta) return MGR_EINVAL;
  mgr_value a[2] = {mgr_int(index), *delta};
  return mgri_pcall_out(l, MGRI_OP_LIST_INCR, a, 2, out);
}
int mgr_list_incr_int(mgr_proxy *l, int64_t index, int64_t delta,
                      int64_t *out) {
  mgr_value a[2] = {mgr_int(index), mgr_int(delta)};
  return mgri_pcall_incr_int(l, MGRI_OP_LIST_INCR, a, 2, out);
}
int mgr_list_cas(mgr_proxy *l, int64_t index, const mgr_value *expected,
                 const mgr_value *desired, bool *swapped, mgr_value *current) {
  if (!expected || !desired) return MGR_EINVAL;
  mgr_value a[3] = {mgr_int(index), *expected, *desired};
  return mgri_pcall_cas(l, MGRI_OP_LIST_CAS, a, 3, swapped, current);
}

/* --- var ------------------------------------------------------------------- */

int mgr_var_get(mgr_proxy *v, mgr_value *out) {
  return mgri_pcall_out(v, MGRI_OP_VAR_GET, NULL, 0, out);
}
int mgr_var_set(mgr_proxy *v, const mgr_value *val) {
  if (!val) return MGR_EINVAL;
  return mgri_pcall(v, MGRI_OP_VAR_SET, val, 1, NULL);
}
int mgr_var_incr(mgr_proxy *v, const mgr_value *delta, const mgr_value *dflt,
                 mgr_value *out) {
  if (!delta) return MGR_EINVAL;
  mgr_value a[2] = {*delta, dflt ? *dflt : mgr_nil()};
  return mgri_pcall_out(v, MGRI_OP_VAR_INCR, a, dflt ? 2 : 1, out);
}
int mgr_var_incr_int(mgr_proxy *v, int64_t delta, int64_t *out) {
  mgr_value a[1] = {mgr_int(delta)};
  return mgri_pcall_incr_int(v, MGRI_OP_VAR_INCR, a, 1, out);
}
int mgr_var_cas(mgr_proxy *v, const mgr_value *expected,
                const mgr_value *desired, bool *swapped, mgr_value *current) {
  if (!expected || !desired) return MGR_EINVAL;
  mgr_value a[2] = {*expected, *desired};
  return mgri_pcall_cas(v, MGRI_OP_VAR_CAS, a, 2, swapped, current);
}

/* --- lock and rlock ---------------------------------------------------------- */

int mgr_lock_acquire(mgr_proxy *lk, int64_t timeout_ms, bool *acquired) {
  if (acquired) *acquired = false;
  /* On the wire the timeout is in seconds (spec 13.2). */
  mgr_value a[2], res;
  mgri_wire_block(timeout_ms, a);
  int rc = mgri_pcall_wait(lk, MGRI_OP_LOCK_ACQUIRE, a, 2, &res, timeout_ms);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_INT || res.u.i < 0 || res.u.i > 2)
    return mgri_pcall_bad(lk, "0, 1 or 2");
  int64_t r = res.u.i;
  if (acquired) *acquired = r != 0;
  return r == 2 ? MGR_EOWNERDEAD : MGR_OK;
}
int mgr_lock_release(mgr_proxy *lk) {
  return mgri_pcall(lk, MGRI_OP_LOCK_RELEASE, NULL, 0, NULL);
}
int mgr_lock_locked(mgr_proxy *lk, bool *out) {
  return mgri_pcall_bool(lk, MGRI_OP_LOCK_LOCKED, NULL, 0, out);
}
