/* mgr — the rules of a value slot that several kinds share (spec 11): the
 * numbers of atomic increment and compare-and-swap, and slices (list,
 * array), so that no kind calls another kind. */
#ifndef MGRI_SERVER_SLOT_H
#define MGRI_SERVER_SLOT_H

#include "server/core.h"

/* *out = cur + delta by the rules of spec 11.1: int + int checked for
 * overflow, any float makes a float, bool is not a number here. MGR_OK, or
 * TYPE / OVERFLOW (message set). */
int mgri_num_add(mgri_octx *x, const mgr_value *cur, const mgr_value *delta,
                 mgr_value *out);
/* Compare-and-swap of a value slot held by o (spec 11.2): x->result becomes
 * [swapped, current]. */
int mgri_cas_slot(mgri_octx *x, mgri_obj *o, mgr_value *slot,
                  const mgr_value *expected, const mgr_value *desired);
/* x->result = [swapped, current] (in scratch). */
int mgri_cas_result(mgri_octx *x, bool swapped, const mgr_value *current);

/* A slice of a sequence (spec 9.3): Python's slice.indices(), as CPython's
 * PySlice_Unpack + PySlice_AdjustIndices. */
typedef struct mgri_slice {
  int64_t start, step; /* the first index selected, the step (never 0) */
  size_t n;            /* items selected */
} mgri_slice;
/* The slice bounds[0..3) = [start, stop, step] (each an int or nil) of a
 * sequence of len items: MGR_OK, or TYPE (a bound neither) / VALUE (step
 * 0), message set. */
int mgri_slice_of(mgri_octx *x, const mgr_value *bounds, size_t len,
                  mgri_slice *out);
/* The index of the k-th item selected (k < s->n). */
static inline size_t mgri_slice_at(const mgri_slice *s, size_t k) {
  return (size_t)(s->start + (int64_t)k * s->step);
}

#endif
