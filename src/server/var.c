/* mgr — the shared value (manager.Value), and the number rules of incr that
 * dict, list and value share: int + int checked for overflow, any float makes
 * a float, bool is not a number here. */
#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"
#include "mgr/error.h"
#include "server/obj.h"

static bool is_num(const mgr_value *v) {
  return v->type == MGR_T_INT || v->type == MGR_T_FLOAT;
}

int mgri_num_add(mgri_octx *x, const mgr_value *cur, const mgr_value *delta,
                 mgr_value *out) {
  if (!is_num(cur) || !is_num(delta))
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: unsupported operand type(s) for +=: '%s' and "
                     "'%s'",
                     mgri_tname(cur), mgri_tname(delta));
  if (cur->type == MGR_T_INT && delta->type == MGR_T_INT) {
    int64_t r;
    if (__builtin_add_overflow(cur->u.i, delta->u.i, &r))
      return mgri_fail(x, MGR_EOVERFLOW,
                       "OverflowError: %lld + %lld does not fit in 64 bits",
                       (long long)cur->u.i, (long long)delta->u.i);
    *out = mgr_int(r);
    return MGR_OK;
  }
  double a = cur->type == MGR_T_INT ? (double)cur->u.i : cur->u.f;
  double b = delta->type == MGR_T_INT ? (double)delta->u.i : delta->u.f;
  *out = mgr_float(a + b);
  return MGR_OK;
}

int mgri_op_VAR_GET(mgri_octx *x) {
  x->result = x->o->u.var;
  return MGR_OK;
}

int mgri_op_VAR_SET(mgri_octx *x) {
  mgr_value nv;
  int rc = mgri_sv_make(x, &x->args[0], &nv);
  if (rc) return rc;
  mgri_sv_drop(x->s, &x->o->u.var);
  x->o->u.var = nv;
  return MGR_OK;
}

int mgri_op_VAR_INCR(mgri_octx *x) {
  mgr_value *slot = &x->o->u.var;
  const mgr_value *base = slot;
  mgr_value nv;
  int rc;
  /* A default is type-checked even when unused (spec 11.1). */
  if (x->nargs > 1 && x->args[1].type != MGR_T_INT &&
      x->args[1].type != MGR_T_FLOAT)
    return mgri_fail(x, MGR_ETYPE, "TypeError: default must be a number, not %s",
                     mgri_tname(&x->args[1]));
  if (slot->type == MGR_T_NIL && x->nargs > 1) base = &x->args[1];
  rc = mgri_num_add(x, base, &x->args[0], &nv);
  if (rc) return rc;
  *slot = nv; /* the old value was nil or a number: nothing to free */
  x->result = nv;
  return MGR_OK;
}

int mgri_op_VAR_CAS(mgri_octx *x) {
  return mgri_cas_slot(x, &x->o->u.var, &x->args[0], &x->args[1]);
}
