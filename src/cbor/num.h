/* mgr — bool, int and float as one numeric domain (Python's numeric tower,
 * int64 only): exact comparisons between ints and floats. Internal to the
 * value model's files. */
#ifndef MGRI_CBOR_NUM_H
#define MGRI_CBOR_NUM_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "mgr/value.h"

typedef struct mgri_num {
  bool isf;
  int64_t i;
  double f;
} mgri_num;

static inline bool mgri_as_num(const mgr_value *v, mgri_num *n) {
  switch (v->type) {
  case MGR_T_BOOL:
    *n = (mgri_num){false, v->u.b ? 1 : 0, 0};
    return true;
  case MGR_T_INT:
    *n = (mgri_num){false, v->u.i, 0};
    return true;
  case MGR_T_FLOAT:
    *n = (mgri_num){true, 0, v->u.f};
    return true;
  default:
    return false;
  }
}

/* Exact: converting i to double would round above 2^53. d must not be NaN. */
static inline int mgri_cmp_i_d(int64_t i, double d) {
  if (d >= 0x1p63) return -1;
  if (d < -0x1p63) return 1;
  double t = trunc(d);
  int64_t ti = (int64_t)t;
  if (i != ti) return i < ti ? -1 : 1;
  return d > t ? -1 : d < t ? 1 : 0;
}

/* Total on non-NaN numbers. */
static inline int mgri_num_cmp(mgri_num a, mgri_num b) {
  if (!a.isf && !b.isf) return a.i < b.i ? -1 : a.i > b.i;
  if (a.isf && b.isf) return a.f < b.f ? -1 : a.f > b.f;
  if (!a.isf) return mgri_cmp_i_d(a.i, b.f);
  return -mgri_cmp_i_d(b.i, a.f);
}

static inline bool mgri_num_nan(mgri_num a) { return a.isf && isnan(a.f); }

#endif
