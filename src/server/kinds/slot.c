/* mgr — value-slot rules shared by dict, list, var, array; slices shared by
 * list and array (see slot.h). */
#include "server/kinds/slot.h"

#include "cbor/model.h"
#include "mgr/error.h"
#include "server/objects.h"
#include "server/reply.h"

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

int mgri_cas_result(mgri_octx *x, bool swapped, const mgr_value *current) {
  mgr_value *r = mgri_scratch(x, 2);
  if (!r) return MGR_ELIMIT;
  r[0] = mgr_bool(swapped);
  r[1] = *current;
  x->result = mgr_array(r, 2);
  return MGR_OK;
}

int mgri_cas_slot(mgri_octx *x, mgri_obj *o, mgr_value *slot,
                  const mgr_value *expected, const mgr_value *desired) {
  /* desired's refs are checked whether or not the swap happens (spec 11.2). */
  int rc = mgri_sv_check(x, desired);
  if (rc) return rc;
  bool swap = mgri_value_eq(slot, expected);
  /* The result's scratch first: nothing may fail after the swap. */
  mgr_value *r = mgri_scratch(x, 2);
  if (!r) return MGR_ELIMIT;
  if (swap) {
    mgr_value nv;
    rc = mgri_sv_make_checked(x, o, desired, &nv);
    if (rc) return rc;
    /* The old value is not borrowed by the result: it goes now. */
    mgri_sv_drop(x->s, o, slot);
    *slot = nv;
  }
  r[0] = mgr_bool(swap);
  r[1] = *slot;
  x->result = mgr_array(r, 2);
  return MGR_OK;
}

/* --- slices (CPython's PySlice_Unpack + PySlice_AdjustIndices) ------------ */

static int slice_part(mgri_octx *x, const mgr_value *v, int64_t dflt,
                      int64_t *out) {
  if (v->type == MGR_T_NIL)
    *out = dflt;
  else if (v->type == MGR_T_INT)
    *out = v->u.i;
  else
    return mgri_fail(
        x, MGR_ETYPE,
        "TypeError: slice indices must be integers or None, not %s",
        mgri_tname(v));
  return MGR_OK;
}

static int64_t adjust(int64_t i, int64_t len, int64_t step) {
  if (i < 0) {
    i += len;
    if (i < 0) i = step < 0 ? -1 : 0;
  } else if (i >= len) {
    i = step < 0 ? len - 1 : len;
  }
  return i;
}

int mgri_slice_of(mgri_octx *x, const mgr_value *bounds, size_t len,
                  mgri_slice *s) {
  int64_t start = 0, stop = 0, step = 1;
  int rc = slice_part(x, &bounds[2], 1, &step);
  if (rc) return rc;
  if (step == 0)
    return mgri_fail(x, MGR_EVALUE, "ValueError: slice step cannot be zero");
  if (step < -INT64_MAX) step = -INT64_MAX;
  if ((rc = slice_part(x, &bounds[0], step < 0 ? INT64_MAX : 0, &start)))
    return rc;
  if ((rc = slice_part(x, &bounds[1], step < 0 ? INT64_MIN : INT64_MAX, &stop)))
    return rc;
  start = adjust(start, (int64_t)len, step);
  stop = adjust(stop, (int64_t)len, step);
  s->start = start;
  s->step = step;
  s->n = 0;
  if (step < 0) {
    if (stop < start) s->n = (size_t)((start - stop - 1) / (-step) + 1);
  } else if (start < stop) {
    s->n = (size_t)((stop - start - 1) / step + 1);
  }
  return MGR_OK;
}
