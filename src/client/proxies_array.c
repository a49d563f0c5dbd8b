/* mgr client: the Array proxies (manager.Array, spec 9.14), thin over the
 * call helpers of pcall.h. */
#include "mgr/error.h"
#include "mgr/sync.h"
#include "pcall.h"
#include "proto/ops.h"

int mgr_array_new(mgr_client *m, char typecode, const mgr_value *init,
                  mgr_proxy **out) {
  if (!m || !init || !out) return MGR_EINVAL;
  /* init is [typecode, size or items]; the manager checks both. */
  mgr_value pair[2] = {mgr_textn(&typecode, 1), *init};
  mgr_value arg = mgr_array(pair, 2);
  return mgri_create(m, MGR_K_ARRAY, &arg, out);
}

int mgr_array_get(mgr_proxy *a, int64_t index, mgr_value *out) {
  if (!out) return MGR_EINVAL;
  mgr_value args[1] = {mgr_int(index)};
  return mgri_pcall_out(a, MGRI_OP_ARRAY_GET, args, 1, out);
}

int mgr_array_set(mgr_proxy *a, int64_t index, const mgr_value *val) {
  if (!val) return MGR_EINVAL;
  mgr_value args[2] = {mgr_int(index), *val};
  return mgri_pcall(a, MGRI_OP_ARRAY_SET, args, 2, NULL);
}

int mgr_array_len(mgr_proxy *a, size_t *out) {
  if (!out) return MGR_EINVAL;
  return mgri_pcall_size(a, MGRI_OP_ARRAY_LEN, NULL, 0, out);
}

int mgr_array_getslice(mgr_proxy *a, mgr_bound start, mgr_bound stop,
                       mgr_bound step, mgr_value *out) {
  if (!out) return MGR_EINVAL;
  mgr_value args[3] = {mgri_wire_bound(start), mgri_wire_bound(stop),
                       mgri_wire_bound(step)};
  return mgri_pcall_out(a, MGRI_OP_ARRAY_GETSLICE, args, 3, out);
}

int mgr_array_setslice(mgr_proxy *a, mgr_bound start, mgr_bound stop,
                       mgr_bound step, const mgr_value *items) {
  if (!items) return MGR_EINVAL;
  mgr_value args[4] = {mgri_wire_bound(start), mgri_wire_bound(stop),
                       mgri_wire_bound(step), *items};
  return mgri_pcall(a, MGRI_OP_ARRAY_SETSLICE, args, 4, NULL);
}

int mgr_array_incr(mgr_proxy *a, int64_t index, const mgr_value *delta,
                   mgr_value *out) {
  if (!delta) return MGR_EINVAL;
  mgr_value args[2] = {mgr_int(index), *delta};
  return mgri_pcall_out(a, MGRI_OP_ARRAY_INCR, args, 2, out);
}

int mgr_array_incr_int(mgr_proxy *a, int64_t index, int64_t delta,
                       int64_t *out) {
  mgr_value args[2] = {mgr_int(index), mgr_int(delta)};
  return mgri_pcall_incr_int(a, MGRI_OP_ARRAY_INCR, args, 2, out);
}

int mgr_array_cas(mgr_proxy *a, int64_t index, const mgr_value *expected,
                  const mgr_value *desired, bool *swapped, mgr_value *current) {
  if (!expected || !desired) return MGR_EINVAL;
  mgr_value args[3] = {mgr_int(index), *expected, *desired};
  return mgri_pcall_cas(a, MGRI_OP_ARRAY_CAS, args, 3, swapped, current);
}

int mgr_array_typecode(mgr_proxy *a, char *out) {
  if (!out) return MGR_EINVAL;
  mgr_value res;
  int rc = mgri_pcall(a, MGRI_OP_ARRAY_TYPECODE, NULL, 0, &res);
  if (rc != MGR_OK) return rc;
  if (res.type != MGR_T_TEXT || res.u.s.len != 1)
    return mgri_pcall_bad(a, "a one-character typecode");
  *out = res.u.s.ptr[0];
  return MGR_OK;
}
